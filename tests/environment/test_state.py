"""StackState: operations as arrays; integration, acquisition, settings; MarketMemory."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from stackgame.environment.market import PairMatrix
from stackgame.environment.scenario import ScenarioError, from_dict
from stackgame.environment.state import INACTIVE_QUALITY, MarketMemory, StackState

from tests.environment.tiny_scenario import firm, tiny


def _state(raw: dict | None = None) -> StackState:
    return StackState(from_dict(raw or tiny(), "tiny"))


def test_operations_are_one_per_firm_and_layer_bottom_first() -> None:
    raw = tiny()
    # written top layer first: the state still orders a firm's operations bottom first
    firm(raw, "fab")["ops"] = {
        "apps": {"capacity": 5.0, "unit_cost": 0.1, "quality": 2.0},
        "chips": {"capacity": 100.0, "unit_cost": 1.0, "capital": 50.0},
    }
    st = _state(raw)
    assert st.n_ops == 5
    assert st.firm_of.tolist() == [0, 0, 1, 2, 3]
    assert st.layer_of.tolist() == [0, 2, 0, 1, 2]
    assert st.capacity.tolist() == [100.0, 5.0, 100.0, 100.0, 100.0]
    assert st.op(0, 2) == 1 and st.op(0, 1) == -1
    assert st.firm_layers(0) == ("chips", "apps")
    assert st.active.all() and (st.integrated_at == -1).all()
    np.testing.assert_array_equal(st.base_unit_cost, st.unit_cost)
    assert st.base_unit_cost is not st.unit_cost


def test_the_state_copies_the_scenario_and_never_mutates_it() -> None:
    scenario = from_dict(tiny(), "tiny")
    st = StackState(scenario)
    st.set_path("regulator.stance", 0.9)
    assert scenario.regulator.stance != 0.9
    st.cash[:] = 99.0
    assert [f.cash for f in scenario.firms] != [99.0] * 4


def test_stakes_add_up_per_holder_and_investee() -> None:
    raw = tiny(stakes=[{"holder": "appco", "investee": "fab", "share": 0.2}])
    st = _state(raw)
    assert st.stakes[3, 0] == pytest.approx(0.2)
    assert st.stakes.sum() == pytest.approx(0.2)


def test_live_capacity_is_zero_before_online_and_for_inactive_ops() -> None:
    st = _state()
    st.online_round[1] = 3
    st.active[2] = False
    np.testing.assert_array_equal(st.live_capacity(2), [100.0, 0.0, 0.0, 100.0])
    np.testing.assert_array_equal(st.live_capacity(3), [100.0, 100.0, 0.0, 100.0])
    quality = st.live_quality()
    assert quality[2] == INACTIVE_QUALITY and quality[3] == st.quality[3]


def test_rebuild_moves_the_version_and_closes_inactive_and_captive_ops() -> None:
    st = _state()
    v = st.version
    st.active[1] = False
    st.captive[0] = True
    structure = st.rebuild()
    assert st.version == v + 1 and st.structure is structure
    assert not structure.allowed[:, [0, 1]].any()  # nobody buys from them
    assert not structure.allowed[1, :].any()  # the inactive op buys nothing


def test_add_op_prices_an_entrant_like_the_layer() -> None:
    raw = tiny(allow_integration=True)
    firm(raw, "fab2")["ops"]["chips"]["quality"] = 3.0
    firm(raw, "fab")["ops"]["chips"]["quality"] = 1.0
    raw["layers"][0]["entrant_cost_penalty"] = 1.5
    raw["layers"][0]["build_cost"] = 2.0
    st = _state(raw)
    v = st.version
    new = st.add_op(firm=2, layer=0, capacity=40.0, online_round=5, penalty_rounds=3)
    assert new == 4 == st.n_ops - 1 and st.version == v + 1
    assert st.firm_of[new] == 2 and st.layer_of[new] == 0
    assert st.base_unit_cost[new] == pytest.approx(1.1)  # median of 1.0 and 1.2
    assert st.unit_cost[new] == pytest.approx(1.1 * 1.5)
    assert st.quality[new] == pytest.approx(2.0 - 1.0)  # mean less one std (population)
    assert st.capacity[new] == 0.0 + 40.0 and st.pending_capacity[new] == 40.0
    assert st.capital[new] == pytest.approx(80.0)
    assert st.online_round[new] == 5 and st.penalty_until[new] == 8
    assert st.integrated_at[new] == 5 and st.active[new] and not st.captive[new]
    # every per-operation array grew by one
    for name in ("cap_markup", "cap_until", "depreciation_rate", "restrain_markup"):
        assert getattr(st, name).shape == (5,)
    assert st.firm_layers(2) == ("chips", "cloud")


def test_add_op_into_an_empty_layer_has_neutral_defaults() -> None:
    st = _state()
    st.active[3] = False  # apps has no active operation left
    new = st.add_op(firm=2, layer=2, capacity=10.0, online_round=1)
    assert st.unit_cost[new] == 0.0 and st.quality[new] == 0.0
    assert st.depreciation_rate[new] == 0.05 and st.penalty_until[new] == 5


def test_merge_pools_shared_layers_and_takes_over_new_ones() -> None:
    raw = tiny(stakes=[{"holder": "fab2", "investee": "appco", "share": 0.1}])
    firm(raw, "fab2")["ops"]["cloud"] = {"capacity": 30.0, "unit_cost": 0.5, "capital": 8.0}
    firm(raw, "fab2")["cash"] = 7.0
    st = _state(raw)
    fab2_chips, fab2_cloud = st.op(1, 0), st.op(1, 1)
    st.merge_firm(buyer=0, target=1, round_=4)
    assert st.capacity[0] == 200.0 and st.capital[0] == 100.0  # pooled into fab's chips
    assert not st.active[fab2_chips] and st.capacity[fab2_chips] == 0.0
    assert st.firm_of[fab2_cloud] == 0 and st.integrated_at[fab2_cloud] == 4
    assert st.firm_layers(0) == ("chips", "cloud") and st.firm_layers(1) == ()
    assert st.cash[0] == 7.0 and st.cash[1] == 0.0 and st.acquired[1]
    assert st.stakes[0, 3] == pytest.approx(0.1) and st.stakes[1].sum() == 0.0


def test_merge_rewrites_relations_and_clears_stakes_in_the_target_and_itself() -> None:
    raw = tiny(
        stakes=[
            {"holder": "fab", "investee": "fab2", "share": 0.3},
            {"holder": "fab2", "investee": "fab", "share": 0.2},
        ],
        relations=[{"buyer": "cloudco", "seller": "fab2", "layer": "chips"}],
    )
    st = _state(raw)
    assert st.relations[0][:3] == (2, 1, 0)
    st.merge_firm(buyer=0, target=1)
    assert st.relations[0][:3] == (2, 0, 0)
    assert st.stakes.sum() == 0.0  # fab's own stake in itself is not kept


@pytest.mark.parametrize(
    ("path", "value", "read"),
    [
        ("firms.fab.cash", 12.0, lambda st: st.cash[0]),
        ("firms.fab.ops.chips.capacity", 7.0, lambda st: st.capacity[0]),
        ("firms.fab.ops.chips.unit_cost", 2.5, lambda st: st.base_unit_cost[0]),
        ("demand.growth", 0.03, lambda st: st.demand_growth),
        ("demand.volatility", 0.2, lambda st: st.demand_volatility),
        ("demand.market_size", 80.0, lambda st: st.demand.market_size),
        ("regulator.stance", 0.7, lambda st: st.regulator.stance),
        ("layers.cloud.build_cost", 3.0, lambda st: st.build_cost[1]),
        ("allow_integration", 1, lambda st: st.allow_integration is True),
    ],
)
def test_set_path_applies_a_setting_and_moves_the_version(path, value, read) -> None:
    st = _state()
    v = st.version
    assert st.set_path(path, value) is True
    assert read(st) == value
    assert st.version > v


def test_set_path_captive_closes_the_operation_to_buyers() -> None:
    st = _state()
    assert st.set_path("firms.fab.ops.chips.captive", True)
    assert st.captive[0] and not st.structure.allowed[:, 0].any()


def test_set_path_leaves_a_strategy_to_the_model() -> None:
    assert _state().set_path("firms.fab.strategy", "always_extract") is False


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("firms.nobody.cash", "unknown firm 'nobody'"),
        ("firms.fab.ops.apps.capacity", "fab does not operate in apps"),
        ("firms.fab.ops.nolayer.capacity", "fab does not operate in nolayer"),
        ("firms.fab.ops.chips.colour", "no operation field 'colour'"),
        ("demand.colour", "no demand field 'colour'"),
        ("regulator.colour", "no regulator field 'colour'"),
        ("layers.nolayer.build_cost", "unknown layer 'nolayer'"),
        ("layers.chips.name", "cannot be changed while the model runs"),
        ("rounds", "cannot be changed while the model runs"),
    ],
)
def test_set_path_refuses_what_it_cannot_change(path, message) -> None:
    with pytest.raises(ScenarioError, match=message):
        _state().set_path(path, 1.0)


def test_market_memory_starts_empty_and_grows_with_operations() -> None:
    st = _state()
    mem = MarketMemory(st)
    np.testing.assert_array_equal(mem.unit_cost, st.unit_cost)
    assert mem.unit_cost is not st.unit_cost
    assert mem.price.shape == (4,) and not mem.price.any()
    assert mem.mix is None and mem.mix_for(4) is None and mem.public is None
    assert len(mem.view) == 0
    mem.price = np.array([1.0, 2.0, 3.0, 4.0])
    mem.grow(6)
    np.testing.assert_array_equal(mem.price, [1, 2, 3, 4, 0, 0])
    assert mem.quantity.shape == (6,) and mem.unit_cost.shape == (6,)
    mem.grow(3)  # never shrinks
    assert mem.price.shape == (6,)


def test_mix_for_pads_operations_added_since() -> None:
    mem = MarketMemory(_state())
    # the shares are kept per pair that traded: (0, 1), (1, 0), (1, 1)
    mem.mix = PairMatrix(np.array([[0, 1, 1], [1, 0, 1]]), np.array([1.0, 0.5, 0.5]), 2)
    assert mem.mix_for(2) is mem.mix
    np.testing.assert_array_equal(mem.mix.dense(), [[0, 1], [0.5, 0.5]])
    grown = mem.mix_for(3)
    assert grown is not None and grown.n == 3
    np.testing.assert_array_equal(grown.dense(), [[0, 1, 0], [0.5, 0.5, 0], [0, 0, 0]])


def _settled() -> SimpleNamespace:
    return SimpleNamespace(
        layer_price=np.array([1.0, 2.0, 3.0]),
        layer_gross_margin=np.array([0.1, 0.2, 0.3]),
        layer_operating_margin=np.array([0.0, 0.1, 0.2]),
        restraining=np.array([1, 0, 0]),
        sellers=np.array([2, 1, 0]),
    )


def test_publish_shares_each_layer_and_the_market_size() -> None:
    st = _state()
    mem = MarketMemory(st)
    layers = {"quantity": np.array([5.0, 6.0, 7.0]), "hhi": np.array([0.5, 1.0, 0.0])}
    mem.publish(st.layer_names, layers, _settled(), 50.0, keep_public=True)
    chips = mem.view["chips"]
    assert (chips.price, chips.quantity, chips.hhi) == (1.0, 5.0, 0.5)
    assert chips.restraint_rate == 0.5  # 1 of 2 sellers restrains
    assert mem.view["apps"].restraint_rate == 1.0  # no sellers: read as all restraining
    assert mem.public is not None
    assert mem.public["cloud"] == {
        "price": 2.0, "quantity": 6.0, "gross_margin": 0.2, "operating_margin": 0.1, "hhi": 1.0,
    }  # fmt: skip
    assert mem.public["_"] == {"demand": 50.0}
    with pytest.raises(TypeError):
        mem.view["chips"] = chips  # type: ignore[index]
    mem.publish(st.layer_names, layers, _settled(), 40.0, keep_public=False)
    assert mem.public == {"_": {"demand": 40.0}}


def test_remember_keeps_the_round_results_for_the_next() -> None:
    st = _state()
    mem = MarketMemory(st)
    quantity = np.array([10.0, 0.0, 10.0, 5.0])
    flows = SimpleNamespace(clearing=SimpleNamespace(quantity=quantity, price=quantity + 1))
    payout = SimpleNamespace(firm_profit=np.arange(4.0), utilisation=quantity / 100.0)
    mix = np.eye(4)
    settled = SimpleNamespace(payout=payout, unit_input=np.full(4, 0.5), mix=mix)
    mem.remember(st, flows, settled, [0.1, 0.2, 0.3, 0.4])  # type: ignore[arg-type]
    assert mem.quantity is quantity and mem.mix is mix
    np.testing.assert_array_equal(mem.price, quantity + 1)
    np.testing.assert_array_equal(mem.unit_cost, st.unit_cost + 0.5)
    np.testing.assert_array_equal(mem.input_need, st.input_coefficient[st.layer_of] * quantity)
    assert mem.firm_margin == {"fab": 0.1, "fab2": 0.2, "cloudco": 0.3, "appco": 0.4}
