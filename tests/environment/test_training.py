"""Training as the labs' investment (docs/MODEL.md 20): hand-computed cases.

The stack of ``test_buildout``: one chip maker (unit cost 1, markup 0.1: price 1.1), one
cloud buying chips as capital goods (unit cost 0.5, two chip units per unit of capacity,
depreciation 0.05, interest 0.02, restrain markup 0.1), app companies at the top. The
cloud's price is its user cost plus markup (MODEL.md 15.2)::

    p_cloud = (0.5 + 2 x 1.1 x (0.02 + 0.05)) x 1.1 = 0.654 x 1.1 = 0.7194

and its transfer price at cost (self-supply, 5.2) is 0.654 a unit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import from_dict
from stackgame.environment.training import allocate_training_kernel
from stackgame.strategies.base import (
    Action,
    Observation,
    Strategy,
    TrainingPosition,
    default_training,
)

from tests.environment.tiny_scenario import firm, tiny

COST = 0.5 + 2.0 * 1.1 * (0.02 + 0.05)  # 0.654: the cloud's unit cost with its user cost
P_CLOUD = COST * 1.1  # 0.7194
TRAINING = {"stock": 20.0, "life": 4.0, "quality_weight": 0.5, "scale": 20.0, "writedown": 0.3}


class FixedTrainer(Strategy):
    """Test-only: restrains, and buys the same training compute every round."""

    name = "test_fixed_trainer"

    def __init__(self, units: float) -> None:
        super().__init__()
        self.units = units
        self.positions: list[TrainingPosition] = []

    def decide(self, observation: Observation) -> Action:
        """Restrain."""
        return Action()

    def invest(self, observation: Observation, positions: Any) -> dict[str, float]:
        """No new capacity (the cloud's capacity stays as given)."""
        return {}

    def train(self, observation: Observation, position: TrainingPosition) -> float:
        """The fixed units."""
        self.positions.append(position)
        return self.units


def _raw(rivals: int = 0) -> dict[str, Any]:
    raw = tiny(rounds=4)
    raw["firms"] = [f for f in raw["firms"] if f["name"] != "fab2"]
    raw["layers"][1].update({"capital_goods": True, "input_coefficient": 2.0})
    firm(raw, "cloudco")["ops"]["cloud"]["depreciation_rate"] = 0.05
    firm(raw, "appco")["ops"]["apps"]["training"] = dict(TRAINING)
    for k in range(rivals):
        raw["firms"].append(
            {
                "name": f"rival{k}",
                "ops": {
                    "apps": {
                        "capacity": 100.0, "unit_cost": 0.2, "quality": 5.0,
                        "training": dict(TRAINING, stock=10.0),
                    }
                },
            }
        )  # fmt: skip
    return raw


def _model(raw: dict[str, Any], units: dict[str, float]) -> StackModel:
    model = StackModel(from_dict(raw, "training"), 0)
    for f in model.firms:
        if f.name == "cloudco" or f.name in units:
            f.set_strategy(FixedTrainer(units.get(f.name, 0.0)))
    return model


def _op(model: StackModel, name: str, layer: str) -> int:
    st = model.state
    return st.op(st.firm_index[name], st.layer_index[layer])


def test_a_lab_renting_training_compute_for_two_rounds() -> None:
    """10 units a round from the one cloud at 0.7194: spend 7.194 a round.

    Stock 20, life 4 (rate 0.25), capitalised:
      round 0: amortisation 0.25 x 20 = 5,       stock 20 - 5 + 7.194 = 22.194,  charge 5
      round 1: amortisation 0.25 x 22.194 = 5.5485, stock 22.194 - 5.5485 + 7.194 = 23.8395
    Quality after round 0: 5 + 0.5 (ln(1 + 22.194/20) - ln 2) = 5 + 0.5 ln(1.05485) = 5.026699
    The cloud sells 10 more units and earns 7.194 more than its inference sales.
    """
    model = _model(_raw(), {"appco": 10.0})
    lab, cloud = _op(model, "appco", "apps"), _op(model, "cloudco", "cloud")
    cash0 = float(model.state.cash[model.state.firm_index["appco"]])
    model.step()
    row = model.training.rows[-1]
    c = model.last_round.clearing
    assert c.price[cloud] == pytest.approx(P_CLOUD, abs=1e-12)
    assert row["spend"][lab] == pytest.approx(10 * P_CLOUD, abs=1e-12)
    assert row["units"][lab] == pytest.approx(10.0)
    assert row["stock"][lab] == pytest.approx(20 - 5 + 7.194, abs=1e-9)
    assert row["charge"][lab] == pytest.approx(5.0)
    # the cloud's side: inference (what the app bought on the market) plus training
    inference = float(c.flow[lab, cloud])
    assert c.quantity[cloud] == pytest.approx(inference + 10.0)
    assert c.revenue[cloud] == pytest.approx((inference + 10.0) * P_CLOUD)
    # the charge is in the lab's operating cost; the spend left its cash
    payout = model.ledger.settlement.payout
    assert payout.depreciation[lab] == pytest.approx(5.0)
    f = model.state.firm_index["appco"]
    assert model.state.cash[f] == pytest.approx(cash0 + payout.firm_value[f] + 5.0 - 7.194)
    quality = model.training.quality(model.state.quality, model.state.active, False)
    assert quality[lab] == pytest.approx(5.0 + 0.5 * math.log(1.05485), abs=1e-9)
    model.step()
    row = model.training.rows[-1]
    assert row["charge"][lab] == pytest.approx(0.25 * 22.194)
    assert row["stock"][lab] == pytest.approx(22.194 - 5.5485 + 7.194, abs=1e-9)


def test_a_rival_passing_writes_the_model_down() -> None:
    """The lab (stock 20) trains nothing; the rival (stock 10) rents 20 units at 0.7194.

    Round 0: the lab's stock 20 - 5 = 15; the rival's 10 - 2.5 + 14.388 = 21.888 > 15, and
    it was below (10 <= 20): the rival passes. Write-down 0.3 x 15 = 4.5, stock 10.5,
    charge 5 + 4.5 = 9.5; the rival is not written down (nobody passed it).
    """
    model = _model(_raw(rivals=1), {"appco": 0.0, "rival0": 20.0})
    lab, rival = _op(model, "appco", "apps"), _op(model, "rival0", "apps")
    model.step()
    row = model.training.rows[-1]
    assert row["stock"][rival] == pytest.approx(10 - 2.5 + 20 * P_CLOUD, abs=1e-9)
    assert row["writedown"][lab] == pytest.approx(4.5)
    assert row["stock"][lab] == pytest.approx(10.5)
    assert row["charge"][lab] == pytest.approx(9.5)
    assert row["writedown"][rival] == 0.0
    logged = [e for e in model.log if e.kind == "training"]
    assert len(logged) == 1 and logged[0].firm == "appco" and "rival0" in logged[0].text


def test_expensed_training_charges_the_spend() -> None:
    """Expensed: the charge is the spend (7.194), whatever the stock does."""
    raw = _raw()
    firm(raw, "appco")["ops"]["apps"]["training"]["accounting"] = "expense"
    model = _model(raw, {"appco": 10.0})
    model.step()
    lab = _op(model, "appco", "apps")
    assert model.training.rows[-1]["charge"][lab] == pytest.approx(10 * P_CLOUD)


def test_an_integrated_lab_trains_on_its_own_cloud_at_cost() -> None:
    """The cloud's own firm trains at the transfer price 0.654, no markup: 10 units cost 6.54.

    Internal revenue of the cloud: 6.54, left out of the firm's external revenue.
    """
    raw = _raw()
    firm(raw, "cloudco")["ops"]["apps"] = {
        "capacity": 100.0, "unit_cost": 0.2, "quality": 5.0, "training": dict(TRAINING),
    }  # fmt: skip
    del firm(raw, "appco")["ops"]["apps"]["training"]
    model = _model(raw, {"cloudco": 10.0})
    model.step()
    lab, cloud = _op(model, "cloudco", "apps"), _op(model, "cloudco", "cloud")
    row = model.training.rows[-1]
    c = model.last_round.clearing
    assert row["spend"][lab] == pytest.approx(10 * COST, abs=1e-12)
    self_supplied = float(model.last_round.clearing.self_supply[lab]) * COST
    assert c.internal_revenue[cloud] == pytest.approx(self_supplied + 10 * COST)


def test_training_takes_capacity_first_and_is_rationed_at_the_cap() -> None:
    """Two buyers, one seller; each buyer may take half of the seller's capacity.

    Capacity 10: buyer 0 wants 8 and is capped at 5, buyer 1 wants 4; asked 9 <= 10, both
    filled. Capacity 8, both want 8: each capped at 4, asked 8 <= 8, both filled at 4.
    """
    order = np.array([8.0, 4.0, 0.0])
    own = np.array([-1, -1, -1])
    allowed = np.zeros((3, 3), dtype=np.bool_)
    allowed[0, 2] = allowed[1, 2] = True
    mix = np.zeros((3, 3))
    cap = np.array([0.5, 0.5, 0.0])
    capacity = np.array([0.0, 0.0, 10.0])
    got, units, reserved = allocate_training_kernel(order, own, allowed, mix, capacity, cap)
    assert units[0, 2] == pytest.approx(5.0) and units[1, 2] == pytest.approx(4.0)
    assert reserved[2] == pytest.approx(9.0) and got.sum() == 0.0
    order[1] = 8.0
    capacity[2] = 8.0
    _, units, reserved = allocate_training_kernel(order, own, allowed, mix, capacity, cap)
    assert units[0, 2] == pytest.approx(4.0) and units[1, 2] == pytest.approx(4.0)
    assert reserved[2] == pytest.approx(8.0)


def test_the_default_rule_spends_a_ratio_of_revenue_within_the_funds() -> None:
    """ratio 2, revenue 10: budget 20 at price 2 -> 10 units; funds 6 -> 3 units; no
    revenue yet: rate 0.25 x stock 40 = 10 -> 5 units."""
    assert default_training(TrainingPosition(40.0, 0.25, 10.0, 2.0, 2.0)) == pytest.approx(10.0)
    assert default_training(TrainingPosition(40.0, 0.25, 10.0, 2.0, 2.0, 6.0)) == pytest.approx(3.0)
    assert default_training(TrainingPosition(40.0, 0.25, 0.0, 2.0, 2.0)) == pytest.approx(5.0)
