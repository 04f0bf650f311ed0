"""Which implementation runs: the plain kernels, or their compilation, and when."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from stackgame.environment import jit, market_kernel


def test_jitable_returns_the_function_unchanged_and_registers_it() -> None:
    assert market_kernel.clear_kernel in jit._JITABLE["stackgame.environment.market_kernel"]
    # as written, a kernel is plain Python: callable without numba
    assert not hasattr(market_kernel.cournot_price_kernel, "py_func")
    offer, cap = np.array([1.0, 3.0]), np.array([5.0, 2.0])
    assert market_kernel.cournot_price_kernel(offer, cap, 0, 2, 10.0, 2.0) == 4.0


def test_no_jit_gives_the_plain_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKGAME_NO_JIT", "1")
    assert not jit.jit_enabled()
    got = jit.compiled("cournot_price_kernel", module="market_kernel")
    assert got is market_kernel.cournot_price_kernel
    monkeypatch.setenv("STACKGAME_NO_JIT", "0")
    assert jit.jit_enabled()
    # an explicit jit=False wins over the environment
    assert jit.compiled("cournot_price_kernel", False, "market_kernel") is got


def test_plain_until_the_budget_is_spent_then_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numba")
    monkeypatch.delenv("STACKGAME_NO_JIT", raising=False)
    monkeypatch.delenv("STACKGAME_JIT", raising=False)
    monkeypatch.setattr(jit, "_COMPILED", {})
    monkeypatch.setattr(jit, "_spent", 0.0)
    monkeypatch.setattr(jit, "BUDGET", 10.0)
    monkeypatch.setattr(jit, "_ahead", 0.0)
    plain = market_kernel.cournot_price_kernel
    assert jit.compiled("cournot_price_kernel", True, "market_kernel", work=6.0) is plain
    assert jit.compiled("cournot_price_kernel", None, "market_kernel", work=6.0) is plain
    assert jit._spent == 12.0
    fast = jit.compiled("cournot_price_kernel", True, "market_kernel")
    assert fast is not plain and fast.py_func is plain
    # compiled once, then reused; the same number either way
    assert jit.compiled("cournot_price_kernel", None, "market_kernel") is fast
    offer, cap = np.array([1.0, 3.0]), np.array([5.0, 2.0])
    assert fast(offer, cap, 0, 2, 10.0, 2.0) == plain(offer, cap, 0, 2, 10.0, 2.0)


def test_eager_compiles_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numba")
    monkeypatch.delenv("STACKGAME_NO_JIT", raising=False)
    monkeypatch.setenv("STACKGAME_JIT", "eager")
    monkeypatch.setattr(jit, "_COMPILED", {})
    monkeypatch.setattr(jit, "_spent", 0.0)
    fast = jit.compiled("cournot_price_kernel", None, "market_kernel")
    assert fast.py_func is market_kernel.cournot_price_kernel
    assert jit._spent == 0.0


def test_cached_finds_numba_s_index_for_the_current_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    config = pytest.importorskip("numba.core.config")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(jit, "_COMPILED", {})
    assert not jit.cached("cournot_price_kernel", "market_kernel")  # an empty cache
    config.reload_config()  # numba reads NUMBA_CACHE_DIR when imported
    try:
        fast = jit.compile_kernel("cournot_price_kernel", "market_kernel")
        offer, cap = np.array([1.0, 3.0]), np.array([5.0, 2.0])
        fast(offer, cap, 0, 2, 10.0, 2.0)  # compiles (or loads), and writes numba's cache here
    finally:
        monkeypatch.delenv("NUMBA_CACHE_DIR")
        config.reload_config()
        monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert jit.cached("cournot_price_kernel", "market_kernel")
    (index,) = tmp_path.rglob("market_kernel.cournot_price_kernel-*.nbi")
    with index.open("rb") as f:
        version = pickle.load(f)
    index.write_bytes(pickle.dumps(version) + pickle.dumps((b"another source", {})))
    assert not jit.cached("cournot_price_kernel", "market_kernel")
    index.write_bytes(b"\x80\x05\x95 broken")
    assert not jit.cached("cournot_price_kernel", "market_kernel")
    assert not jit.cached("no_such_kernel", "market_kernel")
    monkeypatch.setenv("NUMBA_CACHE_LOCATOR_CLASSES", "InTreeCacheLocator")
    assert not jit.cached("cournot_price_kernel", "market_kernel")  # a locator we do not follow


def test_a_cached_kernel_loads_at_once_when_a_long_horizon_is_expected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STACKGAME_NO_JIT", raising=False)
    monkeypatch.delenv("STACKGAME_JIT", raising=False)
    monkeypatch.setattr(jit, "_COMPILED", {})
    monkeypatch.setattr(jit, "_WARM", {})
    monkeypatch.setattr(jit, "_spent", 0.0)
    monkeypatch.setattr(jit, "_ahead", 0.0)
    monkeypatch.setattr(jit, "compile_kernel", lambda name, module: ("compiled", name))
    warm = {"cournot_price_kernel": True, "linear_demand_kernel": False}
    monkeypatch.setattr(jit, "cached", lambda name, module: warm[name])
    plain = market_kernel.cournot_price_kernel
    assert jit.compiled("cournot_price_kernel", None, "market_kernel", work=5.0) is plain
    jit.expect(jit.WARM_BUDGET / 2)  # too short to pay for loading numba
    assert jit.compiled("cournot_price_kernel", None, "market_kernel", work=5.0) is plain
    assert jit.spent() == 10.0
    jit.expect(10 * jit.WARM_BUDGET)
    assert jit.compiled("cournot_price_kernel", None, "market_kernel") == (
        "compiled",
        "cournot_price_kernel",
    )
    # a kernel not in the cache waits for the budget (compiling it costs seconds)
    got = jit.compiled("linear_demand_kernel", None, "market_kernel", work=5.0)
    assert got is market_kernel.linear_demand_kernel
    assert jit._ahead == 10 * jit.WARM_BUDGET - 5.0
    # without a horizon, a cached kernel loads once WARM_BUDGET units have run plain
    monkeypatch.setattr(jit, "_ahead", 0.0)
    monkeypatch.setattr(jit, "_spent", jit.WARM_BUDGET)
    monkeypatch.setattr(jit, "_WARM", {})
    assert jit.compiled("cournot_price_kernel", None, "market_kernel")[0] == "compiled"


KERNEL_MODULES = (
    "buildout", "buildout_round", "contracts", "finance", "lock_in", "market_kernel", "regulator",
    "round_kernel", "training",
)  # fmt: skip
BLAS_CALLS = ("np.dot", "np.vdot", "np.inner", "np.outer", "np.matmul", "np.linalg", "np.cov",
              "np.corrcoef", " @ ", ".dot(")  # fmt: skip


def test_no_kernel_calls_blas() -> None:
    """numba is imported with its BLAS check answered "no" (:func:`jit._import_numba`).

    That is free only while no compiled code needs BLAS: every jitable function's source
    is free of the calls numba routes through it.
    """
    import importlib
    import inspect

    for name in KERNEL_MODULES:
        importlib.import_module(f"stackgame.environment.{name}")
    seen = 0
    for module, fns in jit._JITABLE.items():
        if not module.startswith("stackgame."):
            continue
        for fn in fns:
            source = inspect.getsource(fn)
            body = "\n".join(
                line.split("#")[0] for line in source.splitlines() if '"""' not in line
            )
            hits = [call for call in BLAS_CALLS if call in body]
            assert not hits, f"{module}.{fn.__name__} calls {hits}: drop jit._import_numba's stub"
            seen += 1
    assert seen > 20  # the kernels were found


def test_numba_imported_without_scipy_linalg() -> None:
    """The BLAS check's stub is gone after the import: scipy's BLAS imports as before."""
    pytest.importorskip("numba")
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from stackgame.environment import jit\n"
        "jit._import_numba()\n"
        "assert 'numba' in sys.modules and 'scipy.linalg' not in sys.modules\n"
        "assert 'scipy.linalg.cython_blas' not in sys.modules\n"
        "import scipy.linalg.cython_blas\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_kernel_sources_name_every_module_with_jitable_functions() -> None:
    """:func:`jit.source_stamp` covers every module a kernel may call into."""
    import importlib

    for name in KERNEL_MODULES:
        importlib.import_module(f"stackgame.environment.{name}")
    marked = {m for m in jit._JITABLE if m.startswith("stackgame.")}
    assert "stackgame.strategies.default_rules" in marked  # (a callee in another layer)
    assert marked == set(jit.KERNEL_SOURCES)


def test_the_stamp_follows_every_kernel_module(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # two modules: the kernel's and its callee's; the stamp changes with either file
    (tmp_path / "callee.py").write_text("X = 1\n")
    (tmp_path / "kernel.py").write_text("Y = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    kernel = importlib.import_module("kernel")
    monkeypatch.setattr(jit, "KERNEL_SOURCES", ("callee", "kernel"))

    def fn() -> None:
        pass

    fn.__module__ = "kernel"
    fn.__code__ = fn.__code__.replace(co_filename=kernel.__file__)
    before = jit.source_stamp(fn)
    assert jit.source_stamp(fn) == before
    (tmp_path / "callee.py").write_text("X = 22\n")
    assert jit.source_stamp(fn) != before


CALLEE = (
    "from stackgame.environment.jit import jitable\n\n\n@jitable\ndef rule(x):\n    return x + {}\n"
)
KERNEL = (
    "from stackgame.environment.jit import jitable\n"
    "from r12pkg.callee import rule\n\n\n"
    "@jitable\ndef kernel(x):\n    return rule(x) * 2.0\n"
)
RUN = (
    "import json, sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from stackgame.environment import jit\n"
    "jit.KERNEL_SOURCES = (*jit.KERNEL_SOURCES, 'r12pkg.callee', 'r12pkg.kernel')\n"
    "warm = jit.cached('kernel', 'r12pkg.kernel')\n"
    "fast = jit.compile_kernel('kernel', 'r12pkg.kernel')\n"
    "value = fast(1.0)\n"
    "print(json.dumps([warm, value, sum(fast.stats.cache_hits.values())]))\n"
)


def test_editing_a_callee_in_another_module_recompiles_the_kernel(tmp_path) -> None:
    """numba's own cache checks only the kernel's file: a stale kernel would survive.

    The kernel (``r12pkg/kernel.py``) calls a jitable rule of another module
    (``r12pkg/callee.py``). Compiled, cached, then the rule edited: the next process must
    recompile (the new rule's answer, not the cached one's), and :func:`jit.cached` must
    say the cache is cold before it does.
    """
    pytest.importorskip("numba")
    import json
    import os
    import subprocess
    import sys

    package = tmp_path / "src" / "r12pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "callee.py").write_text(CALLEE.format("1.0"))
    (package / "kernel.py").write_text(KERNEL)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("NUMBA_CACHE_LOCATOR_CLASSES", None)
    env.pop("NUMBA_DISABLE_JIT", None)

    def run() -> list[object]:
        out = subprocess.run(
            [sys.executable, "-c", RUN, str(tmp_path / "src")],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert run() == [False, 4.0, 0]  # compiled: (1 + 1) x 2
    assert run() == [True, 4.0, 1]  # loaded from the cache
    (package / "callee.py").write_text(CALLEE.format("10.0"))  # the rule changes
    assert run() == [False, 22.0, 0]  # recompiled: (1 + 10) x 2, not the cached 4.0
    assert run() == [True, 22.0, 1]


def test_a_kernel_whose_sources_cannot_be_stamped_runs_without_numba_s_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caching = pytest.importorskip("numba.core.caching")
    monkeypatch.setattr(jit, "_COMPILED", {})
    monkeypatch.setattr(jit, "KERNEL_SOURCES", ("stackgame.environment.no_such_module",))
    fast = jit.compile_kernel("cournot_price_kernel", "market_kernel")
    assert isinstance(fast._cache, caching.NullCache)  # (never loads a possibly stale one)
    monkeypatch.setattr(jit, "_COMPILED", {})
    monkeypatch.undo()
    fast = jit.compile_kernel("cournot_price_kernel", "market_kernel")
    assert not isinstance(fast._cache, caching.NullCache)
