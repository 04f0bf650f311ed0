"""The clearing kernel, compiled by numba and run as plain Python, gives the same bits.

The economics is written once (:mod:`stackgame.environment.market_kernel`); the plain
Python run is the readable reference (and what coverage measures), the compiled one what
long runs use. Every ``Clearing`` field must be equal, bit for bit, between the two on:
every round of a whole run of the built-in scenarios (the inputs of each ``clear`` call
captured from the model), hypothesis-generated random stacks (integrated firms, exclusive
relations, binding and zero capacities, per-unit markups, supplier mixes, logit, linear
and Cournot demand, explicit self shares and spill rounds), and the smaller kernels.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stackgame.environment import jit, market, market_kernel
from stackgame.environment import model as model_module
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import resolve

from tests.environment.test_market_properties import Case, cases

pytest.importorskip("numba")

ARRAYS = (
    "price",
    "unit_input_cost",
    "quantity",
    "flow",
    "self_supply",
    "revenue",
    "input_cost",
    "variable_cost",
    "gross_profit",
    "unmet_input",
    "final_demand",
    "internal_revenue",
)
SCALARS = ("lost_demand", "final_spend", "outside_share")


@pytest.fixture(autouse=True, scope="module")
def _compiled() -> None:
    for name in KERNELS:
        jit.compile_kernel(name, module="market_kernel")


KERNELS = (
    "clear_kernel",
    "resolve_prices_kernel",
    "choice_weights",
    "logit_demand_kernel",
    "linear_demand_kernel",
    "cournot_price_kernel",
)


def _kernel_and_plain(*args: Any, **kwargs: Any) -> tuple[market.Clearing, market.Clearing]:
    kwargs.pop("jit", None)  # (the model passes its choice; here both, always)
    fast = market.clear(*args, jit=True, **kwargs)
    return fast, market.clear(*args, jit=False, **kwargs)


def _assert_same(fast: market.Clearing, ref: market.Clearing, where: str) -> None:
    for name in ARRAYS:
        a, b = getattr(fast, name), getattr(ref, name)
        assert a.shape == b.shape, f"{where}: {name} shape {a.shape} != {b.shape}"
        np.testing.assert_array_equal(a, b, f"{where}: {name}")
        assert np.signbit(a).tolist() == np.signbit(b).tolist(), f"{where}: {name} sign"
    for name in SCALARS:
        a, b = getattr(fast, name), getattr(ref, name)
        assert a == b or (a != a and b != b), f"{where}: {name} {a!r} != {b!r}"
    assert fast.attempts == ref.attempts, f"{where}: attempts {fast.attempts} != {ref.attempts}"


def _captured_calls(scenario: str, seed: int) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The inputs of every ``clear`` call of one whole run (deep copies: the model mutates)."""
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    real = model_module.clear

    def spy(*args: Any, **kwargs: Any) -> market.Clearing:
        calls.append((copy.deepcopy(args), copy.deepcopy(kwargs)))
        return real(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(model_module, "clear", spy)
    try:
        model = StackModel(resolve(scenario), seed)
        model.run()
        model.release()
    finally:
        mp.undo()
    return calls


@pytest.mark.parametrize(
    "scenario",
    ["ai-stack-2026", "monopoly-chain", "logit-bertrand-duopoly", "cournot-duopoly"],
)
def test_compiled_equals_plain_on_every_round_of_a_builtin_run(scenario: str) -> None:
    calls = _captured_calls(scenario, seed=0)
    assert len(calls) >= 2
    for r, (args, kwargs) in enumerate(calls):
        fast, ref = _kernel_and_plain(*args, **kwargs)
        _assert_same(fast, ref, f"{scenario} call {r}")


def test_compiled_equals_plain_when_shortages_force_reclears() -> None:
    # a thin foundry starves both chip makers; the integrated app firm's own chips
    # operation falls short, so the clearing repeats
    s = market.build_structure(
        np.array([0, 1, 1, 2, 2]),
        np.array([0, 1, 2, 3, 2]),
        3,
        np.ones(3),
        np.full(3, 0.5),
    )
    args = (
        s,
        np.full(5, 0.5),
        np.full(5, 0.4),
        np.array([0.0, 0.0, 0.1, 5.0, 5.2]),
        np.array([5.0, 100.0, 100.0, 100.0, 100.0]),
        market.Demand(market_size=100.0, mu=1.0),
    )
    fast, ref = _kernel_and_plain(*args)
    assert ref.attempts >= 2
    assert ref.lost_demand > 1.0
    _assert_same(fast, ref, "shortage")
    fast, ref = _kernel_and_plain(*args, spill_rounds=0)
    _assert_same(fast, ref, "shortage, no spill")


@settings(max_examples=150, deadline=None)
@given(case=cases(), explicit_share=st.booleans(), spill=st.sampled_from([None, 0, 1, 3]))
def test_compiled_equals_plain_on_random_stacks(
    case: Case, explicit_share: bool, spill: int | None
) -> None:
    share = None
    if explicit_share:
        share = np.random.default_rng(case.n).random(case.n)
    args = (
        case.structure(),
        case.unit_cost,
        case.markup,
        case.quality,
        case.capacity,
        case.demand,
    )
    kwargs: dict[str, Any] = {
        "per_unit": case.per_unit,
        "quantity_offer": case.offer,
        "supplier_mix": case.mix,
        "self_share": share,
        "spill_rounds": spill,
    }
    fast, ref = _kernel_and_plain(*args, **kwargs)
    _assert_same(fast, ref, "random stack")


def test_unsorted_operations_come_back_in_the_callers_order() -> None:
    # operations listed top layer first, an integrated firm, an exclusive relation
    layer_of = np.array([2, 1, 0, 1, 0, 2])
    firm_of = np.array([0, 1, 2, 0, 3, 4])
    s = market.build_structure(
        layer_of,
        firm_of,
        3,
        np.array([1.0, 1.5, 1.0]),
        np.array([0.3, 0.3, 0.3]),
        relations=[(1, 4, 0.5, True), (5, 1, 0.2, False)],
    )
    assert s._order.tolist() != list(range(6))
    n = 6
    fast, ref = _kernel_and_plain(
        s,
        np.linspace(0.2, 1.0, n),
        np.full(n, 0.3),
        np.array([3.0, 0.1, 0.0, -0.2, 0.3, 2.5]),
        np.array([40.0, 10.0, 8.0, 30.0, 100.0, 50.0]),
        market.Demand(market_size=60.0, mu=0.5),
    )
    _assert_same(fast, ref, "unsorted")
    assert fast.flow[1, 4] > 0 and fast.flow[1, 2] == 0.0  # exclusive: buys only from 4


def test_no_jit_variable_selects_the_plain_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKGAME_NO_JIT", "1")
    assert market._kernel("clear_kernel") is market_kernel.clear_kernel
    monkeypatch.setenv("STACKGAME_NO_JIT", "0")
    assert market._kernel("clear_kernel") is jit.compile_kernel("clear_kernel", "market_kernel")


def test_the_smaller_kernels_agree_compiled_and_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    s = market.build_structure(
        np.array([0, 0, 0, 1, 1]), np.array([0, 1, 2, 0, 3]), 2, np.ones(2), np.full(2, 0.4),
        relations=[(4, 1, 0.3, False)],
    )  # fmt: skip
    for _ in range(20):
        cost, markup = rng.uniform(0, 2, 5), rng.uniform(0, 1, 5)
        quality, cap = rng.normal(size=5), rng.choice([0.0, 5.0, 100.0], 5)
        mix = rng.random((5, 5)) * (rng.random((5, 1)) < 0.5)
        d = market.Demand(market_size=50.0, mu=0.5, intercept=8.0, slope=1.5)
        half = np.full(5, 0.5)
        got = {}
        for env in ("1", "0"):  # plain Python, then compiled
            monkeypatch.setenv("STACKGAME_NO_JIT", env)
            got[env] = (
                market.resolve_prices(s, cost, markup, quality, cap, half, supplier_mix=mix),
                market.supplier_weights(s, cost, quality, cap, 1),
                market.logit_demand(markup * 3, quality, cap, d),
                market.linear_demand(np.round(markup * 3, 1), cap, d),
                market.cournot_price(markup * 5, cap, d),
            )  # fmt: skip
        plain, fast = got["1"], got["0"]
        for a, b in zip(plain[0][:2], fast[0][:2], strict=True):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(plain[0][2], fast[0][2], strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(plain[1], fast[1])
        for a, b in zip(plain[2] + plain[3], fast[2] + fast[3], strict=True):
            np.testing.assert_array_equal(a, b)
        assert plain[4] == fast[4]


def test_bad_supplier_mix_is_rejected_on_the_kernel_path() -> None:
    s = market.build_structure(np.array([0, 1]), np.array([0, 1]), 2, np.ones(2), np.full(2, 0.3))
    with pytest.raises(ValueError, match="supplier_mix: expected shape"):
        market.clear(
            s,
            np.ones(2),
            np.zeros(2),
            np.zeros(2),
            np.ones(2),
            market.Demand(),
            supplier_mix=np.ones((3, 3)),
        )


@pytest.mark.parametrize("layers", [[0, 0, 2, 2], [0, 1, 1], [1, 1, 2]])
def test_compiled_equals_plain_with_an_empty_layer(layers: list[int]) -> None:
    lay = np.array(layers)
    n = len(lay)
    s = market.build_structure(lay, np.arange(n), 3, np.ones(3), np.full(3, 0.5))
    fast, ref = _kernel_and_plain(
        s, np.ones(n), np.full(n, 0.2), np.zeros(n), np.full(n, 10.0), market.Demand()
    )
    _assert_same(fast, ref, f"layers {layers}")


@pytest.mark.parametrize("compiled", [False, True])
def test_choice_weights_of_buyers_on_the_same_terms_are_copied_exactly(compiled: bool) -> None:
    # by hand: two sellers at price 1 and quality 0 (the layer's mean price 1), mu = 1:
    # u = 0 - 1/1 = -1 for both, weights 1/2 and 1/2. Buyers 0, 1 and 3 face them so; buyer
    # 2 has a switching cost ln 3 toward seller 0: u = -1 + ln 3 and -1, weights 3/4, 1/4.
    # Buyer 1's row is a copy of buyer 0's; buyer 3 follows a different buyer and is
    # computed again; a buyer barred from seller 1 puts all its weight on seller 0.
    if compiled:
        pytest.importorskip("numba")
    kernel = jit.compiled("choice_weights", compiled, module="market_kernel")
    n = 7  # sellers at sorted positions 0-1, buyers at 2-6, caller's order the same
    price = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    quality = np.zeros(n)
    cap = np.ones(n)
    lock = np.zeros((n, n))
    lock[4, 0] = np.log(3.0)
    allowed = np.ones((n, n), dtype=np.bool_)
    allowed[6, 1] = False
    w = np.empty((5, 2))
    kernel(price, quality, cap, lock, allowed, np.arange(n), 2, 7, 0, 1.0, w)
    np.testing.assert_allclose(w, [[0.5, 0.5]] * 2 + [[0.75, 0.25], [0.5, 0.5], [1.0, 0.0]])
    assert np.array_equal(w[1], w[0]) and np.array_equal(w[3], w[0])
    # each row as computed alone (one buyer per call): the same bits
    for i in range(5):
        alone = np.empty((1, 2))
        order = np.arange(n)
        order[2], order[2 + i] = 2 + i, 2  # buyer i at the first buyer's sorted position
        kernel(price, quality, cap, lock, allowed, order, 2, 3, 0, 1.0, alone)
        assert np.array_equal(alone[0], w[i])
