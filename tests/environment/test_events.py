"""Scheduled and conditional events: generations, cost declines, shocks, triggers, sets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from stackgame.environment.events import condition_met
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import EventSpec, from_dict

from tests.environment.tiny_scenario import Scripted, run_model, tiny


def _model(events: list[dict[str, Any]], rounds: int = 5, **changes: Any) -> StackModel:
    return StackModel(from_dict(tiny(events=events, **changes)), 0, rounds=rounds)


def _op(model: StackModel, firm: str, layer: str) -> int:
    st = model.state
    return st.op(st.firm_index[firm], st.layer_index[layer])


def test_new_generation_writes_down_the_layer_above_once() -> None:
    ev = {"kind": "new_generation", "round": 2, "layer": "chips", "writedown": 0.5, "factor": 2.0}
    model = _model([ev], rounds=5)
    cloud = _op(model, "cloudco", "cloud")
    fab = _op(model, "fab", "chips")
    rate = float(model.state.depreciation_rate[cloud])
    k0 = float(model.state.capital[cloud])
    model.run()
    model.release()
    dep = model.history.ops_matrix("depreciation")[:, cloud]
    # round 2 charges the write-down once; depreciation then runs on the lower book value
    expected = [rate * k0, rate * k0, rate * k0 / 2 + k0 / 2, rate * k0 / 2, rate * k0 / 2]
    np.testing.assert_allclose(dep, expected)
    # the chips' own capital is not written down, but their unit cost halves from round 2
    np.testing.assert_allclose(
        model.history.ops_matrix("depreciation")[:, fab], 0.05 * 50.0, rtol=1e-12
    )
    unit = (
        model.history.ops_matrix("variable_cost")[:, fab]
        / model.history.ops_matrix("quantity")[:, fab]
    )
    assert unit[1] == pytest.approx(1.0) and unit[2] == pytest.approx(0.5)
    assert len([e for e in model.log if e.kind == "event"]) == 1


def test_new_generation_lowers_book_capital_of_the_layer_above() -> None:
    ev = {"kind": "new_generation", "round": 2, "layer": "chips", "writedown": 0.5}
    model = _model([ev], rounds=4)
    cloud = _op(model, "cloudco", "cloud")
    capital0 = float(model.state.capital[cloud])
    model.run()
    model.release()
    assert model.state.capital[cloud] == pytest.approx(0.5 * capital0)
    rate = float(model.state.depreciation_rate[cloud])
    dep = model.history.ops_matrix("depreciation")[:, cloud]
    assert dep[3] == pytest.approx(rate * 0.5 * capital0)


def test_cost_decline_is_geometric_over_its_span() -> None:
    ev = {"kind": "cost_decline", "round": 1, "layer": "cloud", "factor": 8.0, "span": 3}
    model = _model([ev], rounds=7)
    cloud = _op(model, "cloudco", "cloud")
    fab = _op(model, "fab", "chips")
    costs = []
    for _ in range(7):
        costs.append((float(model.state.unit_cost[cloud]), float(model.state.unit_cost[fab])))
        model.step()
    model.release()
    cloud_cost = np.array([c[0] for c in costs])
    ratios = cloud_cost[1:] / cloud_cost[:-1]
    falling = ratios[ratios < 1 - 1e-12]
    assert falling.size == 3
    np.testing.assert_allclose(falling, 0.5)  # 8 ** (-1/3) per round
    assert cloud_cost[-1] == pytest.approx(0.5 / 8.0)
    assert {c[1] for c in costs} == {1.0}  # other layers untouched


def test_cost_decline_of_input_coefficient() -> None:
    ev = {"kind": "cost_decline", "round": 0, "target": "input_coefficient", "factor": 4.0,
          "span": 2, "layer": "apps"}  # fmt: skip
    model = _model([ev], rounds=4)
    model.run()
    model.release()
    assert model.state.input_coefficient[2] == pytest.approx(0.25)
    assert model.state.input_coefficient[1] == pytest.approx(1.0)


def test_demand_shock_scales_market_size_and_sets_growth() -> None:
    ev = {"kind": "demand_shock", "round": 2, "factor": 0.5, "growth": 0.1}
    model = _model([ev], rounds=4)
    model.run()
    model.release()
    size = model.history.rounds_vector("market_size")  # the size each round cleared at
    np.testing.assert_allclose(size, [50.0, 50.0, 25.0, 27.5])
    q = model.history.layers_matrix("quantity")[:, 2]
    assert q[2] < q[1]
    # consumers: bought + lost + outside good = market size, in every round
    lost = model.history.rounds_vector("lost_demand")
    outside = model.history.rounds_vector("outside_share")
    np.testing.assert_allclose(q + lost + size * outside, size, rtol=1e-9)


def test_trigger_appears_in_observations_from_its_round_and_applies_its_set() -> None:
    ev = {"kind": "trigger", "name": "custom_silicon_sale", "round": 2,
          "set": {"firms.fab.ops.chips.restrain_markup": 0.5}}  # fmt: skip
    model = _model([ev], rounds=4)
    spy = Scripted()
    model.firms[model.state.firm_index["cloudco"]].set_strategy(spy)
    fab = _op(model, "fab", "chips")
    model.run()
    model.release()
    assert [("custom_silicon_sale" in o.triggers) for o in spy.seen] == [False, False, True, True]
    markup = model.history.ops_matrix("markup")[:, fab]
    np.testing.assert_allclose(markup, [0.1, 0.1, 0.5, 0.5])
    assert [e.round for e in model.log if e.kind == "trigger"] == [2]


def test_conditional_event_fires_once_when_its_condition_holds() -> None:
    ev = {"kind": "demand_shock", "round": 1, "factor": 2.0,
          "when": {"metric": "demand", "above": 60.0}}  # fmt: skip
    model = _model([ev], rounds=8, demand={"market_size": 50.0, "mu": 1.0, "growth": 0.1})
    model.run()
    model.release()
    size = model.history.rounds_vector("market_size")
    growth = size[1:] / size[:-1]
    jumps = np.flatnonzero(growth > 1.5)
    assert jumps.size == 1  # once, although the condition keeps holding
    # round 2 clears at 50 * 1.1**2 = 60.5 > 60, so the shock doubles round 3
    assert size[2] == pytest.approx(60.5) and jumps[0] + 1 == 3
    assert size[3] == pytest.approx(2 * 60.5 * 1.1)
    assert len([e for e in model.log if e.kind == "event"]) == 1


def test_conditional_event_never_fires_when_the_condition_fails() -> None:
    ev = {"kind": "demand_shock", "round": 0, "factor": 2.0,
          "when": {"metric": "price", "layer": "apps", "above": 1e6}}  # fmt: skip
    model = _model([ev], rounds=3)
    model.run()
    model.release()
    assert not [e for e in model.log if e.kind == "event"]


def test_set_event_swaps_a_firms_strategy() -> None:
    ev = {"kind": "set", "name": "fab_turns", "round": 2,
          "set": {"firms.fab.strategy": "always_extract"}}  # fmt: skip
    model = _model([ev], rounds=4)
    fab = _op(model, "fab", "chips")
    assert model.firms[0].strategy.name == "always_restrain"
    model.run()
    model.release()
    assert model.firms[0].strategy.name == "always_extract"
    assert list(model.history.ops_matrix("posture")[:, fab]) == [0, 0, 1, 1]


def test_disabled_event_does_nothing() -> None:
    ev = {"kind": "demand_shock", "round": 1, "factor": 3.0, "enabled": False}
    model = run_model(tiny(events=[ev]), rounds=3)
    np.testing.assert_allclose(model.history.rounds_vector("market_size"), 50.0)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ({"metric": "hhi", "layer": "apps", "above": 0.5}, True),
        ({"metric": "hhi", "layer": "apps", "below": 0.5}, False),
        ({"metric": "price", "layer": "apps", "above": 1.0, "below": 3.0}, True),
        ({"metric": "price", "layer": "apps", "above": 1.0, "below": 1.5}, False),
        ({"metric": "demand", "below": 100.0}, True),
        ({"metric": "gross_margin", "layer": "chips", "above": 0.0}, False),
    ],
)
def test_condition_met_reads_last_rounds_public_data(when: dict[str, Any], expected: bool) -> None:
    last = {"apps": {"hhi": 1.0, "price": 2.0}, "_": {"demand": 50.0}}
    event = EventSpec(kind="demand_shock", when=when)
    assert condition_met(event, last) is expected
    assert condition_met(event, None) is False


def test_every_builtin_event_fires_and_the_books_still_balance() -> None:
    names = ("nvidia_value_pricing", "tsmc_long_term_agreements", "custom_silicon_sale")
    overrides: dict[str, Any] = {f"events.{n}.enabled": True for n in names}
    overrides |= {"events.demand_bust.enabled": True, "events.demand_bust.round": 22}
    model = StackModel("ai-stack-2026", 1, rounds=24, overrides=overrides)
    st = model.state
    google_chips = st.op(st.firm_index["google"], st.layer_index["chips"])
    assert st.captive[google_chips]
    model.run()
    model.release()
    fired = [e for e in model.log if e.kind in ("trigger", "event")]
    assert {e.round for e in fired if e.kind == "trigger"} == {12, 16, 20}
    assert model.triggers == set(names)
    assert any(e.round == 22 and "demand shock" in e.text for e in fired)
    google_chips = model.state.op(
        model.state.firm_index["google"], model.state.layer_index["chips"]
    )
    assert not model.state.captive[google_chips]  # the TPU is sold outside after round 20
    h = model.history
    value = h.firms_matrix("value").sum(axis=1) + h.finance_matrix("interest").sum(axis=1)
    np.testing.assert_allclose(value, h.ops_matrix("operating_profit").sum(axis=1), atol=1e-9)
    # value added sums to final demand plus investment (Y = C + I): capital goods bought
    # by a capital-goods layer are not an input of its output; nor is training compute,
    # which the clouds sell to the labs (docs/MODEL.md 20.4)
    training = np.array([row["spend"].sum() for row in model.training.rows])
    assert training.shape == (24,) and training.min() > 0
    spend = h.rounds_vector("final_spend") + h.ops_matrix("capex").sum(axis=1) + training
    np.testing.assert_allclose(h.layers_matrix("value_added").sum(axis=1), spend, rtol=1e-9)
