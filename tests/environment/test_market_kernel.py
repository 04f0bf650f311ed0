"""The numba-compiled clearing agrees with the numpy reference on every Clearing field.

``market.clear`` dispatches to :mod:`stackgame.environment.market_kernel` when numba is
installed (and ``STACKGAME_NO_JIT`` is not set); ``market._clear_numpy`` is the reference
implementation. Cases: every round of a whole run of the built-in scenarios (the inputs
of each ``clear`` call captured from the model), and hypothesis-generated random stacks
(integrated firms, exclusive relations, binding and zero capacities, per-unit markups,
supplier mixes, logit, linear and Cournot demand, explicit self shares and spill rounds).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stackgame.environment import market
from stackgame.environment import model as model_module
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import resolve

from tests.environment.test_market_properties import Case, cases

pytest.importorskip("numba")

TOL = 1e-9
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


@pytest.fixture(autouse=True)
def _jit_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STACKGAME_NO_JIT", raising=False)


def _kernel_and_numpy(*args: Any, **kwargs: Any) -> tuple[market.Clearing, market.Clearing]:
    assert market._kernel() is not None, "numba is installed: clear() must use the kernel"
    kwargs.pop("jit", None)  # (the model passes its choice; here the kernel, always)
    return market.clear(*args, jit=True, **kwargs), market._clear_numpy(*args, **kwargs)


def _assert_same(fast: market.Clearing, ref: market.Clearing, where: str) -> None:
    for name in ARRAYS:
        a, b = getattr(fast, name), getattr(ref, name)
        assert a.shape == b.shape, f"{where}: {name} shape {a.shape} != {b.shape}"
        scale = 1.0 + np.abs(b)
        err = float(np.max(np.abs(a - b) / scale, initial=0.0))
        assert err <= TOL, f"{where}: {name} differs by {err:.3g} (relative)"
    for name in SCALARS:
        a, b = getattr(fast, name), getattr(ref, name)
        assert abs(a - b) <= TOL * (1.0 + abs(b)), f"{where}: {name} {a!r} != {b!r}"
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
def test_kernel_matches_numpy_on_every_round_of_a_builtin_run(scenario: str) -> None:
    calls = _captured_calls(scenario, seed=0)
    assert len(calls) >= 2
    for r, (args, kwargs) in enumerate(calls):
        fast, ref = _kernel_and_numpy(*args, **kwargs)
        _assert_same(fast, ref, f"{scenario} call {r}")


def test_kernel_matches_numpy_when_shortages_force_reclears() -> None:
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
    fast, ref = _kernel_and_numpy(*args)
    assert ref.attempts >= 2
    assert ref.lost_demand > 1.0
    _assert_same(fast, ref, "shortage")
    fast, ref = _kernel_and_numpy(*args, spill_rounds=0)
    _assert_same(fast, ref, "shortage, no spill")


@settings(max_examples=150, deadline=None)
@given(case=cases(), explicit_share=st.booleans(), spill=st.sampled_from([None, 0, 1, 3]))
def test_kernel_matches_numpy_on_random_stacks(
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
    fast, ref = _kernel_and_numpy(*args, **kwargs)
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
    assert not s._identity
    n = 6
    fast, ref = _kernel_and_numpy(
        s,
        np.linspace(0.2, 1.0, n),
        np.full(n, 0.3),
        np.array([3.0, 0.1, 0.0, -0.2, 0.3, 2.5]),
        np.array([40.0, 10.0, 8.0, 30.0, 100.0, 50.0]),
        market.Demand(market_size=60.0, mu=0.5),
    )
    _assert_same(fast, ref, "unsorted")
    assert fast.flow[1, 4] > 0 and fast.flow[1, 2] == 0.0  # exclusive: buys only from 4


def test_no_jit_variable_selects_the_numpy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKGAME_NO_JIT", "1")
    assert market._kernel() is None
    monkeypatch.setenv("STACKGAME_NO_JIT", "0")
    assert market._kernel() is not None


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
def test_kernel_matches_numpy_with_an_empty_layer(layers: list[int]) -> None:
    lay = np.array(layers)
    n = len(lay)
    s = market.build_structure(lay, np.arange(n), 3, np.ones(3), np.full(3, 0.5))
    fast, ref = _kernel_and_numpy(
        s, np.ones(n), np.full(n, 0.2), np.zeros(n), np.full(n, 10.0), market.Demand()
    )
    _assert_same(fast, ref, f"layers {layers}")
