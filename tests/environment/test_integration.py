"""Vertical integration: BUILD (capex, lead time, self-supply at cost), STAKE and BUY.

The integrating firm plays a test-only scripted strategy (``core_fixtures.Scripted``,
never registered), installed on the built model with ``FirmAgent.set_strategy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import from_dict
from stackgame.strategies.base import Action, Integration, Move

from tests.environment.tiny_scenario import Scripted, firm, tiny

ROUNDS = 6


def _raw(**changes: Any) -> dict[str, Any]:
    """Apps firm rich enough to integrate; the cloud extracts a fat markup; no entrant penalty."""
    raw = tiny(rounds=ROUNDS, **changes)
    raw["layers"][1].update(build_lead_time=1, build_cost=2.0, entrant_cost_penalty=1.0)
    firm(raw, "appco")["cash"] = 1000.0
    firm(raw, "cloudco")["strategy"] = "always_extract"
    firm(raw, "cloudco")["ops"]["cloud"]["extract_markup"] = 1.0
    return raw


def _play(raw: dict[str, Any], script: list[Action], who: str = "appco") -> StackModel:
    model = StackModel(from_dict(raw), 0)
    model.firms[model.state.firm_index[who]].set_strategy(Scripted(script))
    model.run()
    model.release()
    return model


def _move(move: Move, **kw: Any) -> Action:
    return Action(integration=Integration(move, **kw))


BUILD = [Action(), _move(Move.BUILD, layer="cloud")]


def test_build_adds_an_operation_after_the_lead_time_and_pays_capex() -> None:
    model = _play(_raw(), BUILD)
    st = model.state
    app = st.firm_index["appco"]
    assert st.n_ops == 5
    new = 4
    assert st.firm_of[new] == app and st.layer_names[st.layer_of[new]] == "cloud"
    assert st.firm_layers(app) == ("cloud", "apps")
    # decided in round 1, carried out after it, online lead time (1) later: round 3
    assert st.online_round[new] == 3
    q = model.history.ops_matrix("quantity")[:, new]
    np.testing.assert_allclose(q[:3], 0.0)
    assert (q[3:] > 0).all()
    # capex = capacity * build cost, paid from cash in the round after the decision
    capex = float(st.capacity[new]) * 2.0
    assert float(st.capital[new]) == pytest.approx(capex)
    cash = model.history.firms_matrix("cash")[:, app]
    value = model.history.firms_matrix("value")[:, app]
    assert cash[2] - cash[1] == pytest.approx(value[2] - capex)
    assert cash[1] - cash[0] == pytest.approx(value[1])
    assert any(e.kind == "integration" and e.firm == "appco" for e in model.log)


def test_build_supplies_itself_at_cost_and_its_price_falls() -> None:
    built = _play(_raw(), BUILD)
    stayed = _play(_raw(), [])
    st = built.state
    app_op = st.op(st.firm_index["appco"], st.layer_index["apps"])
    own = 4
    p_built = built.history.ops_matrix("price")[:, app_op]
    p_stayed = stayed.history.ops_matrix("price")[:, app_op]
    np.testing.assert_allclose(p_built[:3], p_stayed[:3])
    # no double marginalisation: the cloud's markup is gone from the app's input cost
    assert (p_built[3:] < 0.8 * p_stayed[3:]).all()
    assert built.last_clearing is not None
    assert built.last_clearing.self_supply[app_op] > 0
    # self-supply is internal: at cost, and not counted in the firm's external revenue
    internal = built.history.ops_matrix("internal_revenue")[-1, own]
    q_own = built.history.ops_matrix("quantity")[-1, own]
    unit = float(st.unit_cost[own])
    chips_price = built.history.ops_matrix("price")[-1, :2]
    assert internal > 0
    assert internal / q_own <= unit + chips_price.max() + 1e-9
    row = next(f for f in built.summary()["firms"] if f["name"] == "appco")
    assert row["integrated"] == ["cloud"]
    assert row["layers"] == ["cloud", "apps"]
    assert next(f for f in stayed.summary()["firms"] if f["name"] == "appco")["integrated"] == []


def test_stake_adds_a_stake_and_a_lock_in_relation() -> None:
    assert not _play(_raw(), []).state.stakes_held  # (none in the scenario)
    model = _play(_raw(), [_move(Move.STAKE, target="cloudco")])
    st = model.state
    assert st.stakes_held  # (the settlement reads the stakes from now on)
    app, cloud = st.firm_index["appco"], st.firm_index["cloudco"]
    assert st.stakes[app, cloud] == pytest.approx(0.10)
    assert (app, cloud, st.layer_index["cloud"], 0.5, False) in st.relations
    h = model.history
    profit = h.firms_matrix("profit")
    value = h.firms_matrix("value")
    # from the next round on, a tenth of the cloud's profit is the app firm's
    np.testing.assert_allclose(value[2:, cloud], 0.9 * profit[2:, cloud])
    np.testing.assert_allclose(value[2:, app], profit[2:, app] + 0.1 * profit[2:, cloud])
    np.testing.assert_allclose(value[0, cloud], profit[0, cloud])
    # the price of the stake moved from buyer to investee
    cash = h.firms_matrix("cash")
    paid = (cash[1, app] - cash[0, app]) - value[1, app]
    got = (cash[1, cloud] - cash[0, cloud]) - value[1, cloud]
    assert paid < 0 and got == pytest.approx(-paid)


def test_buy_merges_the_target() -> None:
    model = _play(_raw(), [Action(), _move(Move.BUY, target="cloudco")])
    st = model.state
    app, cloud = st.firm_index["appco"], st.firm_index["cloudco"]
    assert st.acquired[cloud]
    assert not model.firms[cloud].active
    assert st.firm_layers(app) == ("cloud", "apps")
    assert st.firm_of[st.op(app, st.layer_index["cloud"])] == app
    summary = model.summary()
    rows = {f["name"]: f for f in summary["firms"]}
    assert rows["cloudco"]["acquired"] and rows["cloudco"]["layers"] == []
    assert rows["appco"]["layers"] == ["cloud", "apps"]
    assert sum(r["value_share"] for r in summary["firms"]) == pytest.approx(1.0, abs=1e-5)
    assert sum(r["value_share"] for r in summary["layers"]) == pytest.approx(1.0, abs=1e-5)
    value = model.history.firms_matrix("value")
    profit = model.history.ops_matrix("operating_profit")
    np.testing.assert_allclose(value.sum(axis=1), profit.sum(axis=1))
    np.testing.assert_allclose(value[3:, cloud], 0.0)


def test_a_firm_without_the_cash_cannot_buy() -> None:
    raw = _raw()
    firm(raw, "appco")["cash"] = 0.0
    model = _play(raw, [Action(), _move(Move.BUY, target="cloudco")])
    assert not model.state.acquired.any()
    assert any("cannot afford" in e.text for e in model.log)


@pytest.mark.parametrize(
    "script",
    [BUILD, [_move(Move.STAKE, target="cloudco")], [Action(), _move(Move.BUY, target="cloudco")]],
    ids=["build", "stake", "buy"],
)
def test_allow_integration_false_blocks_every_move(script: list[Action]) -> None:
    blocked = _play(_raw(allow_integration=False), script)
    st = blocked.state
    assert st.n_ops == 4
    assert st.stakes.sum() == 0 and not st.acquired.any()
    assert len(st.relations) == 0
    assert not [e for e in blocked.log if e.kind == "integration"]
    assert all(r["integrated"] == [] for r in blocked.summary()["firms"])
    # the same script with integration allowed does change the stack (so this can fail)
    allowed = _play(_raw(), script)
    a = allowed.state
    assert a.n_ops == 5 or a.stakes.sum() > 0 or a.acquired.any()


def test_the_buyer_pays_the_price_and_gets_the_targets_cash() -> None:
    model = _play(_raw(), [Action(), _move(Move.BUY, target="cloudco")])
    st = model.state
    app, cloud = st.firm_index["appco"], st.firm_index["cloudco"]
    entry = next(e for e in model.log if e.kind == "integration")
    price = float(entry.text.rsplit(" ", 1)[1])
    cash = model.history.firms_matrix("cash")
    value = model.history.firms_matrix("value")
    # decided in round 1, carried out after it: shows in round 2's cash
    change = cash[2, app] - cash[1, app] - value[2, app]
    assert price > 0
    assert change == pytest.approx(cash[1, cloud] - price, abs=0.05)
    assert cash[2:, cloud].max() == 0.0


def test_buying_a_rival_pools_capacity_in_one_operation() -> None:
    raw = _raw()
    firm(raw, "fab")["cash"] = 1000.0
    model = _play(raw, [_move(Move.BUY, target="fab2")], who="fab")
    st = model.state
    fab = st.op(st.firm_index["fab"], st.layer_index["chips"])
    assert st.acquired[st.firm_index["fab2"]]
    assert st.capacity[fab] == pytest.approx(200.0) and st.capital[fab] == pytest.approx(100.0)
    assert int(st.active.sum()) == 3
    q = model.history.ops_matrix("quantity")
    assert q[-1, 1] == 0.0 and q[-1, fab] > 0
    value = model.history.firms_matrix("value")
    np.testing.assert_allclose(
        value.sum(axis=1), model.history.ops_matrix("operating_profit").sum(axis=1)
    )


def test_build_downstream_opens_an_outlet() -> None:
    raw = _raw()
    firm(raw, "fab")["cash"] = 1000.0
    model = _play(raw, [Action(), _move(Move.BUILD, layer="cloud")], who="fab")
    st = model.state
    assert st.firm_layers(st.firm_index["fab"]) == ("chips", "cloud")
    new = st.n_ops - 1
    q = model.history.ops_matrix("quantity")[:, new]
    assert q[:3].sum() == 0 and (q[3:] > 0).all()
