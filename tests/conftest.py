"""Hypothesis profiles: deterministic by default (CI), random and longer on request.

* ``ci`` (the default): ``derandomize=True``, so each property test draws the same
  examples on every run and machine (a seed derived from the test's name), and no example
  database, so a failure seen once locally cannot change what CI runs. A red run is a
  real regression, never an unlucky draw.
* ``explore``: random draws, the database on, and 25 times the examples where a module
  scales its example count by ``EXAMPLE_SCALE`` (the market properties do). Run it to
  look for new failures: ``python -m pytest tests/environment
  --hypothesis-profile=explore``. Add each failure found as an explicit ``@example``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile(
    "explore",
    derandomize=False,
    deadline=None,
    max_examples=2500,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")
