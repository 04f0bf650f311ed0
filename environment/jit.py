"""One implementation of the economics, run compiled or as plain Python.

The clearing (:mod:`stackgame.environment.market_kernel`) and the round's bookkeeping
(:mod:`stackgame.environment.round_kernel`) are written once, as plain loops over arrays
in the subset of Python that numba compiles (QuantEcon's style). Each function there is
marked :func:`jitable`: as written it is ordinary Python, the readable reference that the
tests run and cover; :func:`compiled` hands back either that function or its numba
compilation (``njit(cache=True)``, the compiled code cached on disk next to the module).
Both give the same numbers, bit for bit (``tests/environment/test_jit.py``): the kernels
use ``math.exp`` and ``math.tanh`` (the C library's, in both) and no fast-math.

Which one runs (:func:`compiled`):

* ``STACKGAME_NO_JIT=1`` (or ``jit=False``): always the plain functions; numba is never
  imported.
* ``STACKGAME_JIT=eager``: compiled from the first call (benchmarks).
* otherwise (the default) the plain functions run until the process has done
  :data:`BUDGET` units of kernel work uncompiled (a unit is about one operation cleared
  once), then everything compiles. A one-round run never waits for numba (compiling the
  kernels from a cold cache takes several seconds); a long run, a tournament or a batch
  compiles once and runs at compiled speed. Results do not depend on the switch.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_JITABLE: dict[str, list[Callable[..., Any]]] = {}
"""Functions marked :func:`jitable`, by module name."""
_REGISTERED: set[str] = set()
"""Modules whose jitable functions numba can call from compiled code."""
_COMPILED: dict[tuple[str, str], Any] = {}
"""Compiled kernels so far, by (module, name)."""

BUDGET = 60_000.0
"""Units of kernel work run uncompiled before the process compiles (about 1.5 s).

A unit is roughly the cost of clearing one operation once as plain Python (about
25 microseconds); :func:`stackgame.environment.market.clear` counts ``n_ops`` plus the
buyer-seller pairs per call, the round's bookkeeping counts ``n_ops / 4``.
"""
_spent = 0.0


def jitable(fn: F) -> F:
    """Mark ``fn`` as written in the compiled style; return it unchanged (plain Python).

    When a kernel of its module is compiled, numba compiles ``fn`` too, wherever a
    compiled kernel calls it (``numba.extending.register_jitable``).
    """
    _JITABLE.setdefault(fn.__module__, []).append(fn)
    return fn


def jit_enabled() -> bool:
    """Whether the compiled kernels may run: ``STACKGAME_NO_JIT`` unset, empty or ``0``.

    Read on every call so that a test can switch paths in one process.
    """
    return os.environ.get("STACKGAME_NO_JIT", "") in ("", "0")


def _eager() -> bool:
    return os.environ.get("STACKGAME_JIT", "") == "eager"


def compiled(
    name: str, jit: bool | None = None, module: str = "round_kernel", work: float = 1.0
) -> Any:
    """The kernel ``name`` of ``stackgame.environment.<module>``: compiled or plain.

    ``jit=False``, or ``jit=None`` with ``STACKGAME_NO_JIT`` set, gives the plain Python
    function. Otherwise the compiled kernel once the process has spent :data:`BUDGET`
    units of work uncompiled (or at once under ``STACKGAME_JIT=eager``, or when this
    kernel is compiled already); before that, the plain function, and ``work`` (the
    caller's estimate of the call's size) is counted against the budget. (A model reads
    the environment once, when it is built, and passes ``jit``.)
    """
    global _spent
    if not (jit_enabled() if jit is None else jit):
        return plain(name, module)
    fast = _COMPILED.get((module, name))
    if fast is not None:
        return fast
    if _spent < BUDGET and not _eager():
        _spent += work
        return plain(name, module)
    return compile_kernel(name, module)


def plain(name: str, module: str = "round_kernel") -> Any:
    """The plain Python kernel ``name`` of ``stackgame.environment.<module>``."""
    return getattr(importlib.import_module(f"stackgame.environment.{module}"), name)


def compile_kernel(name: str, module: str = "round_kernel") -> Any:
    """The kernel ``name`` compiled now (numba, cached on disk), whatever the budget.

    Registers the module's :func:`jitable` helpers with numba first, so that compiled
    code can call them.
    """
    from numba import njit
    from numba.extending import register_jitable

    key = (module, name)
    if key in _COMPILED:
        return _COMPILED[key]
    path = f"stackgame.environment.{module}"
    kernels = importlib.import_module(path)
    if path not in _REGISTERED:
        for fn in _JITABLE.get(path, []):
            register_jitable(fn)
        _REGISTERED.add(path)
    fast = njit(cache=True)(getattr(kernels, name))
    _COMPILED[key] = fast
    return fast
