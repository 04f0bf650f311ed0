"""The switch between the numba-compiled kernels and their numpy references.

Every kernel (the clearing in :mod:`stackgame.environment.market_kernel`, the round's
bookkeeping in :mod:`stackgame.environment.round_kernel`) is imported on first use through
:func:`compiled`, so that ``import stackgame`` never loads numba, and a caller runs its
numpy reference when it gets ``None`` back.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

_COMPILED: dict[tuple[str, str], Any] = {}
"""Kernels imported so far, by (module, name); ``None``: numba is not installed."""


def jit_enabled() -> bool:
    """Whether the compiled kernels may run: ``STACKGAME_NO_JIT`` unset, empty or ``0``.

    Read on every call so that a test can switch paths in one process.
    """
    return os.environ.get("STACKGAME_NO_JIT", "") in ("", "0")


def compiled(name: str, jit: bool | None = None, module: str = "round_kernel") -> Any:
    """The kernel ``name`` of ``stackgame.environment.<module>``, imported on first use.

    ``None`` when ``jit`` is False, or when ``jit`` is None and ``STACKGAME_NO_JIT`` is
    set (see :func:`jit_enabled`), or when numba is not installed: the caller then runs
    its numpy reference. (A model reads the environment once, when it is built, and
    passes ``jit``: reading it costs about a microsecond, several times a round.)
    """
    if not (jit_enabled() if jit is None else jit):
        return None
    key = (module, name)
    if key not in _COMPILED:
        try:
            kernels = importlib.import_module(f"stackgame.environment.{module}")
        except ImportError:  # numba not installed: the numpy path
            _COMPILED[key] = None
        else:
            _COMPILED[key] = getattr(kernels, name)
    return _COMPILED[key]
