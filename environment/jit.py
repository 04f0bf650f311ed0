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

  When numba's on-disk cache already holds a kernel compiled from its current source
  (:func:`cached`: found without importing numba), loading it costs about half a
  second for all of them instead of a compile: such a kernel is loaded after
  :data:`WARM_BUDGET` units instead of :data:`BUDGET`, and at once when the caller
  has said that more than :data:`WARM_BUDGET` units lie ahead (:func:`expect`: a
  2,000-round ``stackgame run`` loads them before its second round; the default
  24-round run never imports numba).

A compiled kernel inlines the :func:`jitable` helpers it calls, some of them in other
modules (:mod:`stackgame.strategies.default_rules`, the default investment and training
rules a strategy and a kernel share). numba's cache checks only the kernel's own file,
so an edited callee elsewhere would leave a stale kernel in the cache. Here every
kernel's cache entry is stamped instead with :func:`source_stamp`, a SHA-256 over the
files of every module in :data:`KERNEL_SOURCES` (the modules that hold jitable
functions): editing any of them recompiles every kernel, and :func:`cached` checks the
same stamp.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_JITABLE: dict[str, list[Callable[..., Any]]] = {}
"""Functions marked :func:`jitable`, by module name."""
_REGISTERED: set[Callable[..., Any]] = set()
"""Jitable functions registered with numba (compiled code can call them)."""
KERNEL_SOURCES: tuple[str, ...] = (
    "stackgame.environment.buildout",
    "stackgame.environment.buildout_round",
    "stackgame.environment.contracts",
    "stackgame.environment.finance",
    "stackgame.environment.lock_in",
    "stackgame.environment.market_kernel",
    "stackgame.environment.regulator",
    "stackgame.environment.round_kernel",
    "stackgame.environment.training",
    "stackgame.strategies.default_rules",
)
"""Every module holding :func:`jitable` functions, whose sources stamp every kernel.

A kernel may call a jitable function of any of them, so the cache of each kernel is
valid only for the sources of all of them (:func:`source_stamp`);
``tests/environment/test_jit.py`` checks that the list names every module that marks a
function. A fixed list, not the modules imported so far: the stamp must not depend on
what a process happened to import before it compiled."""
_COMPILED: dict[tuple[str, str], Any] = {}
"""Compiled kernels so far, by (module, name)."""

BUDGET = 60_000.0
"""Units of kernel work run uncompiled before the process compiles (about 1.5 s).

A unit is roughly the cost of clearing one operation once as plain Python (about
25 microseconds); :func:`stackgame.environment.market.clear` counts ``n_ops`` plus the
buyer-seller pairs per call, the round's bookkeeping counts ``n_ops / 4``.
"""
_spent = 0.0
WARM_BUDGET = 20_000.0
"""Units of kernel work (about 0.5 s) worth importing numba and loading a cached kernel.

What loading every kernel from a warm cache costs in a process that has not imported
numba yet: the import, numba's type registries, the linking (about 0.5 s in all).
"""
_ahead = 0.0
"""The kernel work the process expects still to do (:func:`expect`)."""
_WARM: dict[tuple[str, str], bool] = {}
"""Whether numba's cache holds a kernel for its current source, by (module, name)."""


def jitable(fn: F) -> F:
    """Mark ``fn`` as written in the compiled style; return it unchanged (plain Python).

    When a kernel of its module is compiled, numba compiles ``fn`` too, wherever a
    compiled kernel calls it (``numba.extending.register_jitable``).
    """
    marked = _JITABLE.setdefault(fn.__module__, [])
    if fn not in marked:  # (a helper of another module may be marked where it is used)
        marked.append(fn)
    return fn


def _module_path(module: str) -> str:
    """``stackgame.environment.<module>``, or ``module`` itself when it is dotted."""
    return module if "." in module else f"stackgame.environment.{module}"


_FILE_DIGESTS: dict[tuple[str, float, int], bytes] = {}
"""SHA-256 of a source file, by (path, mtime, size): read once per process per version."""


def _file_digest(path: str) -> bytes:
    import hashlib

    st = os.stat(path)
    key = (path, st.st_mtime, st.st_size)
    digest = _FILE_DIGESTS.get(key)
    if digest is None:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).digest()
        _FILE_DIGESTS[key] = digest
    return digest


def source_stamp(fn: Callable[..., Any]) -> bytes:
    """The stamp a kernel's cache entry is valid for: its sources and its callees'.

    SHA-256 over the SHA-256 of ``fn``'s own file and of each module's file in
    :data:`KERNEL_SOURCES`, in that order (each file once). Found without importing
    numba or those modules (``importlib.util.find_spec`` imports only their packages).
    """
    import hashlib
    import inspect
    from importlib.util import find_spec

    paths = [os.path.abspath(inspect.getfile(fn))]
    for name in KERNEL_SOURCES:
        spec = find_spec(name)
        if spec is None or spec.origin is None:
            raise ImportError(f"no source for {name}")
        path = os.path.abspath(spec.origin)
        if path not in paths:
            paths.append(path)
    outer = hashlib.sha256()
    for path in paths:
        outer.update(_file_digest(path))
    return outer.digest()


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

    (``module`` may also be a dotted module path.)

    ``jit=False``, or ``jit=None`` with ``STACKGAME_NO_JIT`` set, gives the plain Python
    function. Otherwise the compiled kernel once the process has spent :data:`BUDGET`
    units of work uncompiled (or at once under ``STACKGAME_JIT=eager``, or when this
    kernel is compiled already); before that, the plain function, and ``work`` (the
    caller's estimate of the call's size) is counted against the budget. (A model reads
    the environment once, when it is built, and passes ``jit``.)
    """
    global _spent, _ahead
    if not (jit_enabled() if jit is None else jit):
        return plain(name, module)
    fast = _COMPILED.get((module, name))
    if fast is not None:
        return fast
    if _spent < BUDGET and not _eager() and not _load_now(name, module):
        _spent += work
        _ahead = max(_ahead - work, 0.0)
        return plain(name, module)
    return compile_kernel(name, module)


def _load_now(name: str, module: str) -> bool:
    """Whether to load the kernel from numba's warm cache before :data:`BUDGET` is spent."""
    if _spent < WARM_BUDGET and _ahead <= WARM_BUDGET:
        return False
    key = (module, name)
    if key not in _WARM:
        _WARM[key] = cached(name, module)
    return _WARM[key]


def expect(work: float) -> None:
    """Say that about ``work`` units of kernel work lie ahead in this process.

    A front door that knows its horizon (``stackgame run`` after its first round: that
    round's work times the rounds left) calls it; with more than :data:`WARM_BUDGET`
    ahead, kernels found in numba's cache (:func:`cached`) are loaded at their next
    call. A cold cache is left to :data:`BUDGET`: compiling costs tens of seconds.
    """
    global _ahead
    _ahead = float(work)


def spent() -> float:
    """Units of kernel work this process has run uncompiled so far."""
    return _spent


def cached(name: str, module: str = "round_kernel") -> bool:
    """Whether numba's on-disk cache holds the kernel, compiled from its current source.

    Found without importing numba, the way numba's cache locators look (numba 0.6x):
    ``$NUMBA_CACHE_DIR/<folder>_<sha1 of the folder>/`` when that is set, else the
    ``__pycache__`` beside the module if it can be written, else the user's cache
    folder; in it the index ``<module>.<function>-<first line>.py<major><minor>.nbi``,
    which starts with numba's version and holds the stamp of the sources it was
    compiled from (:func:`source_stamp`: its own and every kernel module's, as
    :func:`compile_kernel` stamps it). (Which signatures and CPU it holds is not
    checked: a miss there only means numba compiles, as it would have.)
    """
    import hashlib
    import inspect
    import pickle
    import sys
    from importlib import metadata

    if os.environ.get("NUMBA_CACHE_LOCATOR_CLASSES") or os.environ.get("NUMBA_DISABLE_JIT"):
        return False
    try:
        fn = getattr(importlib.import_module(_module_path(module)), name)
        source = os.path.abspath(inspect.getfile(fn))
        folder = os.path.dirname(source)
        user_dir = os.environ.get("NUMBA_CACHE_DIR", "")
        in_tree = os.path.join(folder, "__pycache__")
        if user_dir or not os.access(in_tree if os.path.isdir(in_tree) else folder, os.W_OK):
            base = user_dir or os.path.join(
                os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "numba"
            )
            digest = hashlib.sha1(folder.encode()).hexdigest()
            path = os.path.join(base, f"{os.path.basename(folder)}_{digest}")
        else:
            path = in_tree
        stem = os.path.splitext(os.path.basename(source))[0]
        line = fn.__code__.co_firstlineno
        version = f"py{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
        with open(os.path.join(path, f"{stem}.{fn.__qualname__}-{line}.{version}.nbi"), "rb") as f:
            if pickle.load(f) != metadata.version("numba"):
                return False
            index = f.read()
        stamp = source_stamp(fn)
    except Exception:  # noqa: BLE001 - unreadable, broken, or not numba's: not cached
        return False
    return stamp in index


def plain(name: str, module: str = "round_kernel") -> Any:
    """The plain Python kernel ``name`` of ``stackgame.environment.<module>``."""
    return getattr(importlib.import_module(_module_path(module)), name)


_BLAS_CHECK = "scipy.linalg.cython_blas"
"""The module numba imports, when first imported, only to see whether BLAS exists."""


def _import_numba() -> None:
    """Import numba without the import of ``scipy.linalg`` its BLAS check makes.

    numba's ``numba.np.arraymath`` runs ``_check_blas()`` as it is imported (by the first
    kernel loaded or compiled): it imports ``scipy.linalg.cython_blas``, which brings in
    ``scipy.linalg`` (about 0.15 s of a long ``stackgame run``). No kernel here calls
    BLAS (no ``np.dot``, ``@``, ``np.linalg``, ``np.cov``: ``tests/environment/test_jit.py``
    checks their sources), so the check is answered "no BLAS" while numba is imported:
    numba then only takes its own loop for ``np.cov``'s inner products, which no kernel
    uses, and still imports scipy's BLAS when something compiles ``np.dot`` later. Does
    nothing once numba is imported, or when scipy's BLAS already is (the check is free).
    """
    import sys

    if "numba" in sys.modules or _BLAS_CHECK in sys.modules:
        return
    sys.modules[_BLAS_CHECK] = None  # type: ignore[assignment]  # import fails at once
    try:
        import numba.np.arraymath  # noqa: F401 - the check runs here
    finally:
        if sys.modules.get(_BLAS_CHECK, 0) is None:
            del sys.modules[_BLAS_CHECK]


def compile_kernel(name: str, module: str = "round_kernel") -> Any:
    """The kernel ``name`` compiled now (numba, cached on disk), whatever the budget.

    Registers every :func:`jitable` helper with numba first (those of other modules
    too), so that compiled code can call them; and stamps the kernel's cache entry with
    :func:`source_stamp` instead of numba's stamp of its own file alone, so that an edit
    of a callee in another module recompiles it.
    """
    _import_numba()
    from numba import njit
    from numba.extending import register_jitable

    key = (module, name)
    if key in _COMPILED:
        return _COMPILED[key]
    kernels = importlib.import_module(_module_path(module))
    for fns in list(_JITABLE.values()):
        for fn in fns:
            if fn not in _REGISTERED:
                register_jitable(fn)
                _REGISTERED.add(fn)
    fast = njit(cache=True)(getattr(kernels, name))
    _stamp_cache(fast)
    _COMPILED[key] = fast
    return fast


def _stamp_cache(dispatcher: Any) -> None:
    """Make ``dispatcher``'s on-disk cache valid only for :func:`source_stamp`.

    numba (0.6x) keeps the stamp its index is checked against on the cache's index file
    (``dispatcher._cache._cache_file._source_stamp``: the SHA-256 of the kernel's file);
    it is replaced by the stamp over every kernel module. Where numba keeps it elsewhere
    (another version), or a kernel module's source cannot be read, the kernel is
    compiled without its cache rather than risk loading a kernel compiled against an
    older callee.
    """
    try:
        index = dispatcher._cache._cache_file
        if not isinstance(index._source_stamp, bytes):
            raise AttributeError("_source_stamp")
        index._source_stamp = source_stamp(dispatcher.py_func)
    except (AttributeError, ImportError, OSError, TypeError):
        from numba.core.caching import NullCache

        dispatcher._cache = NullCache()
