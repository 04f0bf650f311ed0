"""Calibration: fit a scenario's free parameters to its target table (``stackgame calibrate``).

:mod:`.fit` holds the objective (weighted least squares over the targets, on common random
numbers) and the fit; :mod:`.output` renders the residual table and writes the calibrated
scenario as TOML (``docs/MODEL.md`` 19.2).
"""
