"""Capital goods (docs/MODEL.md 15): textbook cases with closed-form numbers.

A three-layer stack (chips, cloud, apps) whose cloud layer buys chips as capital goods:
one chip maker (unit cost 1, markup 0.1: price 1.1), one cloud (unit cost 0.5, two chip
units per unit of capacity, depreciation 0.05, interest 0.02), one app company.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import ScenarioError, from_dict
from stackgame.strategies.base import (
    Action,
    CapitalPosition,
    Observation,
    Strategy,
    default_investment,
)

from tests.environment.tiny_scenario import firm, tiny

P_CHIP = 1.0 * 1.1
A = 2.0
DELTA = 0.05
R = 0.02


class FixedInvestor(Strategy):
    """Test-only: restrains, and orders the same capacity every round."""

    name = "test_fixed_investor"

    def __init__(self, units: float) -> None:
        super().__init__()
        self.units = units
        self.positions: list[Mapping[str, CapitalPosition]] = []

    def decide(self, observation: Observation) -> Action:
        """Restrain."""
        return Action()

    def invest(
        self, observation: Observation, positions: Mapping[str, CapitalPosition]
    ) -> Mapping[str, float]:
        """The fixed order, in every capital-goods layer."""
        self.positions.append(positions)
        return {layer: self.units for layer in positions}


def _raw(**cloud: Any) -> dict[str, Any]:
    raw = tiny(rounds=6)
    raw["firms"] = [f for f in raw["firms"] if f["name"] != "fab2"]
    raw["layers"][1].update({"capital_goods": True, "input_coefficient": A, **cloud})
    firm(raw, "cloudco")["ops"]["cloud"]["depreciation_rate"] = DELTA
    return raw


def _model(units: float = 3.0, raw: dict[str, Any] | None = None, **kw: Any) -> StackModel:
    model = StackModel(from_dict(raw or _raw(), "buildout"), 0, **kw)
    cloud = model.firms[model.state.firm_index["cloudco"]]
    cloud.set_strategy(FixedInvestor(units))
    return model


def _ops(model: StackModel) -> tuple[int, int]:
    st = model.state
    return st.op(st.firm_index["fab"], 0), st.op(st.firm_index["cloudco"], 1)


def test_the_buyer_prices_on_the_user_cost_of_capital() -> None:
    model = _model()
    model.step()
    chips, cloud = _ops(model)
    price = model.last_round.clearing.price
    assert price[chips] == pytest.approx(P_CHIP, abs=1e-12)
    # p = (c + a x (r + delta)) (1 + m)
    assert price[cloud] == pytest.approx((0.5 + A * P_CHIP * (R + DELTA)) * 1.1, abs=1e-12)


@pytest.mark.parametrize("market_size", [50.0, 5.0])
def test_the_supplier_is_paid_for_the_buyers_investment_not_its_use(market_size: float) -> None:
    raw = _raw()
    raw["demand"]["market_size"] = market_size
    model = _model(3.0, raw)
    model.step()
    chips, cloud = _ops(model)
    c = model.last_round.clearing
    assert c.quantity[chips] == pytest.approx(A * 3.0)
    assert c.revenue[chips] == pytest.approx(A * 3.0 * P_CHIP)
    assert c.capex[cloud] == pytest.approx(A * 3.0 * P_CHIP)
    assert c.input_cost[cloud] == 0.0  # capitalised, not an input of this round's output
    assert c.quantity[cloud] < 100.0  # the cloud's use is whatever demand asks


def test_installed_capacity_and_book_follow_the_perpetual_inventory() -> None:
    model = _model(3.0)
    _, cloud = _ops(model)
    capacity, book = 100.0, 80.0
    for _ in range(5):
        model.step()
        capex = A * 3.0 * P_CHIP
        # K' = (1 - delta) K + I (lead time 1); B' = (1 - delta) B + capex
        capacity = (1 - DELTA) * capacity + 3.0
        book = (1 - DELTA) * book + capex
        assert model.state.capacity[cloud] == pytest.approx(capacity, rel=1e-12)
        assert model.state.capital[cloud] == pytest.approx(book, rel=1e-12)


def test_units_come_online_after_the_install_lead_time() -> None:
    model = _model(4.0, _raw(install_lead_time=3))
    _, cloud = _ops(model)
    seen = []
    for _ in range(4):
        model.step()
        seen.append(float(model.state.capacity[cloud]))
    # nothing arrives for the first two rounds' ends; the first order is online after 3
    assert seen[0] == pytest.approx(100 * (1 - DELTA))
    assert seen[1] == pytest.approx(100 * (1 - DELTA) ** 2)
    assert seen[2] == pytest.approx(100 * (1 - DELTA) ** 3 + 4.0)
    assert seen[3] == pytest.approx((100 * (1 - DELTA) ** 3 + 4.0) * (1 - DELTA) + 4.0)
    positions = model.firms[model.state.firm_index["cloudco"]].strategy.positions
    assert positions[1]["cloud"].pipeline == pytest.approx(4.0)
    assert positions[2]["cloud"].pipeline == pytest.approx(8.0)
    assert positions[0]["cloud"].lead_time == 3


def test_idle_capacity_costs_the_buyer_and_the_wear_is_its_cost_of_revenue() -> None:
    raw = _raw()
    raw["demand"]["market_size"] = 5.0  # far below the cloud's 100 units
    model = _model(0.0, raw)
    model.step()
    _, cloud = _ops(model)
    st = model.state
    row = model.history.op_rows[-1]
    q = row["quantity"][cloud]
    assert row["capacity"][cloud] == 100.0 and q < 10.0
    wear = DELTA * 80.0
    assert row["depreciation"][cloud] == pytest.approx(wear)
    assert row["gross_profit"][cloud] == pytest.approx(row["revenue"][cloud] - 0.5 * q - wear)
    assert row["operating_profit"][cloud] == pytest.approx(row["gross_profit"][cloud])
    assert model.ledger.settlement.payout.utilisation[cloud] == pytest.approx(q / 100.0)
    assert st.capital[cloud] == pytest.approx(80.0 - wear)


def test_cash_pays_capex_when_it_ships_and_wear_is_not_cash() -> None:
    model = _model(3.0)
    i = model.state.firm_index["cloudco"]
    before = float(model.state.cash[i])
    model.step()
    _, cloud = _ops(model)
    row = model.history.op_rows[-1]
    value = model.history.firm_rows[-1]["value"][i]
    expected = before + value + row["depreciation"][cloud] - row["capex"][cloud]
    assert model.state.cash[i] == pytest.approx(expected, rel=1e-12)


def test_the_run_reports_the_buildout() -> None:
    model = _model(3.0)
    model.run()
    s = model.summary()
    model.release()
    cloudco = next(f for f in s["firms"] if f["name"] == "cloudco")
    assert cloudco["capex"] == pytest.approx(6 * A * 3.0 * P_CHIP)
    assert cloudco["installed_capacity"] == pytest.approx(
        100 * (1 - DELTA) ** 6 + 3.0 * sum((1 - DELTA) ** k for k in range(6))
    )
    assert 0 < cloudco["utilisation"] <= 1
    assert s["investment"] == pytest.approx(cloudco["capex"])
    flows = s["money_flows"]
    assert [f["round"] for f in flows] == list(range(6))
    assert all(f["investment"] == pytest.approx(A * 3.0 * P_CHIP) for f in flows)
    assert sum(f["final_demand"] for f in flows) == pytest.approx(s["final_spend"])
    assert sum(r["spend_share"] for r in s["layers"]) == pytest.approx(1.0, abs=1e-6)


PHI = 0.8  # infrastructure per unit of capacity (buildings, power), bought outside the stack


def test_infrastructure_is_capex_outside_the_stack_and_part_of_the_user_cost() -> None:
    # one round, 3 units of capacity ordered: the chip maker sells a * 3 = 6 chip units at
    # 1.1 (6.6, its revenue); the cloud pays that plus phi * 3 = 2.4 for the data center
    # around them: capex 9.0, all capitalised. Its price is on the user cost of the whole
    # unit: p = (0.5 + (a x + phi)(r + delta)) (1 + m) = (0.5 + (2.2 + 0.8) 0.07) 1.1.
    model = _model(3.0, _raw(infrastructure_cost=PHI))
    model.step()
    chips, cloud = _ops(model)
    c = model.last_round.clearing
    assert c.revenue[chips] == pytest.approx(A * 3.0 * P_CHIP)
    assert c.capex[cloud] == pytest.approx(A * 3.0 * P_CHIP + PHI * 3.0)
    assert c.price[cloud] == pytest.approx((0.5 + (A * P_CHIP + PHI) * (R + DELTA)) * 1.1)
    assert model.state.capital[cloud] == pytest.approx(80.0 * (1 - DELTA) + 9.0)
    assert model.history.round_rows[-1]["infrastructure"] == pytest.approx(PHI * 3.0)
    # the default rule prices a unit of capacity with its infrastructure
    seen = model.firms[model.state.firm_index["cloudco"]].strategy.positions[-1]["cloud"]
    assert seen.unit_price == pytest.approx(0.0 + PHI)  # no chip price seen before round 0


def test_builders_expect_the_trend_plus_the_premium() -> None:
    raw = _raw()
    raw["demand"].update(growth=0.03, expected_growth_premium=0.05)
    model = _model(1.0, raw)
    model.step()
    seen = model.firms[model.state.firm_index["cloudco"]].strategy.positions[-1]["cloud"]
    assert seen.growth == pytest.approx(0.03 + 0.05)


def test_infrastructure_leaves_the_stack_and_the_spend_shares_still_add_up() -> None:
    model = _model(3.0, _raw(infrastructure_cost=PHI))
    model.run()
    s = model.summary()
    model.release()
    # investment is the whole capex; the infrastructure part reaches no firm of the stack,
    # so value added sums to C + I - infrastructure and the spend shares to 1 over that
    assert s["investment"] == pytest.approx(6 * (A * 3.0 * P_CHIP + PHI * 3.0))
    assert s["infrastructure"] == pytest.approx(6 * PHI * 3.0)
    assert all(f["infrastructure"] == pytest.approx(PHI * 3.0) for f in s["money_flows"])
    assert sum(r["spend_share"] for r in s["layers"]) == pytest.approx(1.0, abs=1e-6)


def test_the_default_rule_builds_toward_forecast_demand_over_the_lead_time() -> None:
    p = CapitalPosition(
        installed=100.0, pipeline=5.0, used=90.0, retirement_rate=0.05, lead_time=1,
        unit_price=2.0, growth=0.1,
    )  # fmt: skip
    # D = 90 * 1.1^2 = 108.9; target 108.9 / 0.9 = 121; then = 100 * 0.95 + 5 = 100
    assert default_investment(p, 0.9) == pytest.approx(121.0 - 100.0)
    # building ahead two more rounds
    assert default_investment(p, 0.9, ahead=2) == pytest.approx(90 * 1.1**4 / 0.9 - 100.0)
    # contracted units above use set the forecast
    more = CapitalPosition(**{**p.__dict__, "contracted": 100.0})
    assert default_investment(more, 0.9) == pytest.approx(100 * 1.21 / 0.9 - 100.0)
    # what the funds buy caps it; a shrinking market orders nothing
    poor = CapitalPosition(**{**p.__dict__, "funds": 10.0})
    assert default_investment(poor, 0.9) == pytest.approx(5.0)
    bust = CapitalPosition(**{**p.__dict__, "growth": -0.3})
    assert default_investment(bust, 0.9) == 0.0


def test_the_default_strategy_replaces_retirements_in_a_steady_market() -> None:
    raw = _raw()
    raw["rounds"] = 30
    model = StackModel(from_dict(raw, "buildout"), 0)
    model.run()
    model.release()
    _, cloud = _ops(model)
    h = model.history
    use = h.ops_matrix("quantity")[:, cloud]
    cap = h.ops_matrix("capacity")[:, cloud]
    # with no growth the stock settles where use is 85% of capacity (the default target)
    assert use[-1] / cap[-1] == pytest.approx(0.85, abs=0.02)
    assert h.ops_matrix("capex")[-5:, cloud].min() > 0  # it keeps replacing what retires


def test_textbook_layers_without_capital_goods_buy_nothing_as_capital() -> None:
    model = StackModel(from_dict(tiny(), "tiny"), 0)
    model.run()
    model.release()
    assert not model.history.ops_matrix("capex").any()
    assert model.summary()["investment"] == 0.0


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda r: r["layers"][0].update(capital_goods=True), "layers.chips.capital_goods"),
        (lambda r: r["layers"][1].update(install_lead_time=0), "layers.cloud.install_lead_time"),
        (lambda r: firm(r, "cloudco").update(debt=-1.0), "firms.cloudco.debt"),
        (lambda r: r["layers"][1].update(infrastructure_cost=-1.0), "infrastructure_cost"),
        (
            lambda r: r["layers"][2].update(infrastructure_cost=1.0),
            "layers.apps.infrastructure_cost: only a capital-goods layer",
        ),
        (lambda r: firm(r, "cloudco").update(outside_cash_flow=float("nan")), "outside_cash_flow"),
    ],
)
def test_bad_buildout_fields_name_the_field(edit: Any, fragment: str) -> None:
    raw = _raw()
    edit(raw)
    with pytest.raises(ScenarioError, match=fragment.replace(".", r"\.")):
        from_dict(raw, "bad")


def test_a_model_run_twice_gives_the_same_buildout() -> None:
    def run() -> np.ndarray:
        model = StackModel(from_dict(_raw(), "buildout"), 7, rounds=8)
        model.run()
        model.release()
        return model.history.ops_matrix("capex")

    np.testing.assert_array_equal(run(), run())


def test_nvidia_extracting_slows_the_clouds_buildout() -> None:
    """Extraction upstream takes cash and demand from the buyers of next rounds' capacity.

    docs/MODEL.md 21.4. On the hand-set ai-stack-2026-articles (in the fitted
    ai-stack-2026 the capex and use effects hold on both seeds, the capacity effect on
    seed 1 only: 21.4), Nvidia on always_extract instead of
    always_restrain (same seed, common random numbers): the chip price the clouds pay
    rises, so they spend more on capital goods in rounds 0-4, sell less (their user cost
    of capital is in their price, 15.2) and, after the install lead time, hold less
    capacity in rounds 5-7 than when Nvidia restrains.
    """
    from stackgame.simulation.simulate import simulate

    for seed in (0, 1):
        runs = {
            s: simulate("ai-stack-2026-articles", seed=seed, strategies={"nvidia": s})
            for s in ("always_restrain", "always_extract")
        }
        k = runs["always_restrain"].layer_names.index("cloud")
        capacity = {s: r.layers["capacity"][5:8, k].sum() for s, r in runs.items()}
        capex = {s: r.layers["capex"][0:5, k].sum() for s, r in runs.items()}
        used = {s: r.layers["used"][1:5, k].sum() for s, r in runs.items()}
        assert capacity["always_extract"] < capacity["always_restrain"]
        assert capex["always_extract"] > capex["always_restrain"]
        assert used["always_extract"] < used["always_restrain"]
