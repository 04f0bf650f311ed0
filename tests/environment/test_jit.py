"""Which implementation runs: the plain kernels, or their compilation, and when."""

from __future__ import annotations

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
