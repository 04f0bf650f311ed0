"""StackModel mechanics: the six-step round, seeds, accounting, stakes, timing."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from stackgame.environment.history import OP_COLUMNS
from stackgame.environment.model import StackModel, collector_paused, to_seed
from stackgame.environment.scenario import ScenarioError, apply_overrides, from_dict, resolve
from stackgame.strategies.base import Action, HistoryView, Observation, Posture

from tests.environment.tiny_scenario import Scripted, firm, run_model, tiny, tiny_scenario

SIX_STEPS = ("observe", "decide", "clear_markets", "pay_out", "regulate_and_shock", "record")
STEPS = (*SIX_STEPS, "integrate")  # integration moves take effect after the round is recorded


def test_a_round_runs_the_six_steps_in_order() -> None:
    model = StackModel(tiny_scenario(), 0)
    calls: list[str] = []
    for name in STEPS:
        original = getattr(model, name)

        def wrapped(*args: object, _name: str = name, _f: object = original) -> object:
            calls.append(_name)
            return _f(*args)  # type: ignore[operator]

        setattr(model, name, wrapped)
    assert model.round == 0 and len(model.history) == 0
    model.step()
    assert [c for c in calls if c in SIX_STEPS] == list(SIX_STEPS)
    assert calls.count("integrate") == 1 and calls.index("integrate") > calls.index("pay_out")
    assert model.round == 1
    assert len(model.history) == 1
    assert len(model.datacollector.get_model_vars_dataframe()) == 1
    model.step()
    assert len(calls) == 2 * len(STEPS) and calls[len(STEPS)] == "observe"
    assert model.round == 2 and len(model.history) == 2
    assert list(model.datacollector.get_model_vars_dataframe()["round"]) == [1, 2]
    model.release()


def test_the_model_stops_after_its_rounds() -> None:
    model = run_model(tiny(), rounds=3)
    assert model.round == 3 and not model.running and len(model.history) == 3


def _stochastic() -> dict:
    raw = tiny(regulator={"stance": 1.0, "base_rate": 0.5, "share_threshold": 0.3})
    firm(raw, "fab")["strategy"] = "random"
    firm(raw, "appco")["strategy"] = "q_learning"
    return raw


def _histories(model: StackModel) -> dict[str, np.ndarray]:
    return {c: model.history.ops_matrix(c) for c in OP_COLUMNS}


def test_same_seed_same_history_and_other_seeds_differ() -> None:
    a = _histories(run_model(_stochastic(), seed=11, rounds=8))
    b = _histories(run_model(_stochastic(), seed=11, rounds=8))
    for c in OP_COLUMNS:
        np.testing.assert_array_equal(a[c], b[c], err_msg=c)
    others = [_histories(run_model(_stochastic(), seed=s, rounds=8)) for s in (1, 2, 3)]
    assert any(not np.array_equal(a["markup"], o["markup"]) for o in others)


def test_string_and_integer_seeds_are_the_same_stream() -> None:
    assert to_seed("42") == to_seed(42) == to_seed(42.0) == 42
    a = run_model(_stochastic(), seed="42", rounds=6)
    b = run_model(_stochastic(), seed=42, rounds=6)
    assert a.seed == b.seed == 42
    np.testing.assert_array_equal(a.history.ops_matrix("markup"), b.history.ops_matrix("markup"))
    with pytest.raises(ScenarioError, match="seed: must be an integer"):
        to_seed("forty-two")
    with pytest.raises(ScenarioError, match="seed: must be a non-negative integer"):
        to_seed(-1)
    with pytest.raises(ScenarioError, match="seed"):
        to_seed(True)


def test_unseeded_model_records_the_seed_it_drew() -> None:
    model = StackModel(tiny_scenario(), None, rounds=1)
    assert not model.seeded and isinstance(model.seed, int)
    model.release()


def test_stakes_move_money_but_do_not_create_it() -> None:
    model = run_model("ai-stack-2026", seed=5, rounds=6)  # type: ignore[arg-type]
    assert model.state.stakes.sum() > 0
    value = model.history.firms_matrix("value").sum(axis=1)
    oper = model.history.ops_matrix("operating_profit").sum(axis=1)
    # (interest, with finance on, is paid out of value to lenders outside the stack)
    interest = model.history.finance_matrix("interest").sum(axis=1)
    np.testing.assert_allclose(value + interest, oper, rtol=1e-9, atol=1e-9)
    stake_income = model.history.firms_matrix("stake_income").sum(axis=1)
    np.testing.assert_allclose(stake_income, 0.0, atol=1e-9)


@pytest.mark.parametrize("capital_goods", [True, False])
def test_layer_value_added_sums_to_final_spend_plus_investment(capital_goods: bool) -> None:
    # training needs capital goods below (docs/MODEL.md 20.1): off with a flow market
    raw = resolve("ai-stack-2026").model_dump(mode="python")
    if not capital_goods:  # (and no target table: its parameters name the training)
        raw["targets"] = None
        for f in raw["firms"]:
            for op in f["ops"].values():
                op.pop("training", None)
    model = run_model(  # type: ignore[arg-type]
        apply_overrides(from_dict(raw, "ai-stack-2026"), {
            "layers.cloud.capital_goods": capital_goods,
            "layers.cloud.input_coefficient": 12.0 if capital_goods else 1.0,
            # (a flow market installs no infrastructure)
            "layers.cloud.infrastructure_cost": 8.0 if capital_goods else 0.0,
        }), seed=2, rounds=6,
    )  # fmt: skip
    va = model.history.layers_matrix("value_added").sum(axis=1)
    spend = model.history.rounds_vector("final_spend")
    investment = model.history.ops_matrix("capex").sum(axis=1)
    training = np.array([row["spend"].sum() for row in model.training.rows] or [0.0] * 6)
    assert (spend > 0).all()
    assert (investment > 0).all() if capital_goods else (investment == 0).all()
    assert (training > 0).all() if capital_goods else (training == 0).all()
    # the infrastructure around the chips is investment no firm of the stack receives (15.2)
    infrastructure = model.history.rounds_vector("infrastructure")
    assert (infrastructure > 0).all() if capital_goods else (infrastructure == 0).all()
    np.testing.assert_allclose(va, spend + investment + training - infrastructure, rtol=1e-9)


def test_an_equity_stake_passes_its_share_of_profit() -> None:
    raw = {
        "name": "two",
        "rounds": 3,
        "layers": [{"name": "chips"}, {"name": "apps"}],
        "firms": [
            {"name": "a", "ops": {"chips": {"capacity": 50.0, "unit_cost": 1.0, "capital": 10.0}}},
            {"name": "b", "ops": {"apps": {"capacity": 50.0, "unit_cost": 0.5, "quality": 4.0}}},
        ],
        "stakes": [{"holder": "b", "investee": "a", "share": 0.3}],
        "demand": {"market_size": 20.0, "mu": 1.0},
        "regulator": {"enabled": False},
    }
    model = run_model(raw, rounds=3)
    h = model.history
    profit_a = h.ops_matrix("operating_profit")[:, 0]
    profit_b = h.ops_matrix("operating_profit")[:, 1]
    assert (np.abs(profit_a) > 1e-6).all()
    value = h.firms_matrix("value")
    np.testing.assert_allclose(value[:, 0], 0.7 * profit_a)
    np.testing.assert_allclose(value[:, 1], profit_b + 0.3 * profit_a)
    np.testing.assert_allclose(h.firms_matrix("stake_income")[:, 1], 0.3 * profit_a)
    # cash accumulates the value, round by round
    np.testing.assert_allclose(h.firms_matrix("cash")[:, 0], np.cumsum(0.7 * profit_a))


def test_depreciation_is_rate_times_capital_and_utilisation_is_q_over_capacity() -> None:
    raw = tiny()
    firm(raw, "cloudco")["ops"]["cloud"]["depreciation_rate"] = 0.07
    firm(raw, "cloudco")["ops"]["cloud"]["fixed_cost"] = 1.5
    model = StackModel(from_dict(raw), 0, rounds=2)
    model.step()
    st = model.state
    h = model.history
    np.testing.assert_allclose(h.ops_matrix("depreciation")[0], st.capital * st.depreciation_rate)
    cloud = st.op(st.firm_index["cloudco"], st.layer_index["cloud"])
    assert h.ops_matrix("depreciation")[0, cloud] == pytest.approx(0.07 * 80.0)
    q = h.ops_matrix("quantity")[0]
    cap = h.ops_matrix("capacity")[0]
    assert model.last_payout is not None
    np.testing.assert_allclose(model.last_payout.utilisation, q / cap)
    assert 0 < model.last_payout.utilisation[cloud] < 1
    oper = h.ops_matrix("operating_profit")[0, cloud]
    gross = h.ops_matrix("gross_profit")[0, cloud]
    assert oper == pytest.approx(gross - 0.07 * 80.0 - 1.5)
    model.release()


def test_extract_prices_at_the_extract_markup() -> None:
    raw = tiny()
    firm(raw, "fab")["strategy"] = "always_extract"
    firm(raw, "fab")["ops"]["chips"]["extract_markup"] = 0.8
    model = run_model(raw, rounds=2)
    st = model.state
    fab = st.op(st.firm_index["fab"], st.layer_index["chips"])
    fab2 = st.op(st.firm_index["fab2"], st.layer_index["chips"])
    price = model.history.ops_matrix("price")
    assert price[0, fab] == pytest.approx(1.0 * 1.8)
    assert price[0, fab2] == pytest.approx(1.2 * 1.1)
    assert list(model.history.ops_matrix("posture")[:, fab]) == [1, 1]


def _sequential_case() -> tuple[StackModel, Scripted, Scripted]:
    model = StackModel(tiny_scenario(timing="sequential"), 0, rounds=4)
    extract = Action.uniform(Posture.EXTRACT)
    fab = Scripted([Action(), extract, Action(), extract])
    app = Scripted()
    model.firms[model.state.firm_index["fab"]].set_strategy(fab)
    model.firms[model.state.firm_index["appco"]].set_strategy(app)
    model.run()
    model.release()
    return model, fab, app


def test_sequential_timing_shows_this_rounds_upstream_prices() -> None:
    model, _, app = _sequential_case()
    st = model.state
    price = model.history.ops_matrix("price")
    chips = st.structure.by_layer[st.layer_index["chips"]]
    cloud = st.structure.by_layer[st.layer_index["cloud"]]
    assert len(app.seen) == 4
    for t, obs in enumerate(app.seen):
        assert set(obs.upstream_prices) == {"chips", "cloud"}
        assert obs.upstream_prices["chips"] == pytest.approx(price[t, chips].mean())
        assert obs.upstream_prices["cloud"] == pytest.approx(price[t, cloud].mean())
    # the chip price moves every round, so last round's would not match
    assert price[1, chips].mean() != pytest.approx(price[0, chips].mean())


def test_simultaneous_timing_shows_no_upstream_prices() -> None:
    model = StackModel(tiny_scenario(), 0, rounds=2)
    app = Scripted()
    model.firms[model.state.firm_index["appco"]].set_strategy(app)
    model.run()
    model.release()
    assert all(dict(o.upstream_prices) == {} for o in app.seen)


def test_per_unit_pricing_adds_the_markup_in_dollars() -> None:
    model = run_model(tiny(pricing="per_unit"), rounds=1)
    st = model.state
    fab = st.op(st.firm_index["fab"], st.layer_index["chips"])
    cloud = st.op(st.firm_index["cloudco"], st.layer_index["cloud"])
    price = model.history.ops_matrix("price")[0]
    assert price[fab] == pytest.approx(1.0 + 0.1)
    # the cloud's cost is its own plus its chips bought; its price adds 0.1 dollars
    unit_in = (
        model.history.ops_matrix("input_cost")[0, cloud]
        / model.history.ops_matrix("quantity")[0, cloud]
    )
    assert price[cloud] == pytest.approx(0.5 + unit_in + 0.1)


def test_capacity_growth_builds_out_and_pays_for_it() -> None:
    raw = tiny()
    firm(raw, "cloudco")["ops"]["cloud"]["capacity_growth"] = 0.1
    raw["layers"][1]["build_cost"] = 2.0
    model = run_model(raw, rounds=3)
    st = model.state
    cloud = st.op(st.firm_index["cloudco"], st.layer_index["cloud"])
    cap = model.history.ops_matrix("capacity")[:, cloud]
    np.testing.assert_allclose(cap, [100.0, 110.0, 121.0])
    assert st.capital[cloud] == pytest.approx(80.0 + 2.0 * (10.0 + 11.0 + 12.1))
    cash = model.history.firms_matrix("cash")[:, st.firm_index["cloudco"]]
    value = model.history.firms_matrix("value")[:, st.firm_index["cloudco"]]
    # each round's build-out (capacity growth times build cost) is paid at its end
    np.testing.assert_allclose(cash, np.cumsum(value) - 2.0 * np.cumsum([10.0, 11.0, 12.1]))


def test_datacollector_reports_the_summary_shares() -> None:
    model = run_model("ai-stack-2026", seed=1, rounds=4)  # type: ignore[arg-type]
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == 4
    last = frame.iloc[-1]
    for row in model.summary()["layers"]:
        assert last[f"value_share.{row['name']}"] == pytest.approx(row["value_share"], abs=1e-6)
        assert np.isfinite(last[f"operating_margin.{row['name']}"])


def test_datacollector_row_equals_each_reporter_called_alone() -> None:
    # the collector appends one precomputed row; every Mesa reporter must agree with it
    model = StackModel("ai-stack-2026", 2, rounds=6)
    dc = model.datacollector
    assert dc is not None
    seen: list[dict] = []
    original = dc.collect

    def collect(m: StackModel) -> None:  # the reporters at the moment of collection
        seen.append({var: rep(m) for var, rep in dc.model_reporters.items()})
        original(m)

    dc.collect = collect  # type: ignore[method-assign]
    for t in range(6):
        model.step()
        got = {var: values[-1] for var, values in dc.model_vars.items()}
        assert got == seen[t]
        assert all(type(got[v]) is type(seen[t][v]) for v in got)
    assert len({row["cash.nvidia"] for row in seen}) > 1  # the rows do change
    # a reporter added by a user goes through Mesa's own collect
    dc._new_model_reporter("doubled_round", lambda m: 2 * m.round)
    model.running = True
    model.rounds = 7
    model.step()
    assert dc.model_vars["doubled_round"] == [14]
    assert dc.model_vars["round"][-1] == 7
    model.release()


def test_sequential_timing_asks_a_multi_layer_firm_once_a_round() -> None:
    raw = tiny(timing="sequential")
    firm(raw, "cloudco")["ops"]["chips"] = {"capacity": 50.0, "unit_cost": 1.1}
    model = StackModel(from_dict(raw), 0, rounds=3)
    spy = Scripted([Action.uniform(Posture.EXTRACT)] * 3)
    model.firms[model.state.firm_index["cloudco"]].set_strategy(spy)
    model.run()
    model.release()
    # a learner updates on every call: two calls a round would credit one payoff twice
    assert [o.round for o in spy.seen] == [0, 1, 2]
    st = model.state
    ops = [st.op(st.firm_index["cloudco"], k) for k in (0, 1)]
    np.testing.assert_array_equal(model.history.ops_matrix("posture")[:, ops], 1)


def test_engine_observations_equal_ones_built_the_slow_way_and_are_frozen() -> None:
    # the engine adopts a prepared dict as each observation's attributes (no __init__):
    # the result must be exactly an Observation built through its constructor
    import dataclasses

    model = StackModel("ai-stack-2026", 4, rounds=6)
    for _ in range(5):
        model.step()
    observations = model.observe()
    assert len(observations) == sum(not a for a in model.state.acquired)
    for obs in observations.values():
        fields = {f.name: getattr(obs, f.name) for f in dataclasses.fields(Observation)}
        assert set(vars(obs)) == set(fields)
        assert obs == Observation(**fields)
        with pytest.raises(dataclasses.FrozenInstanceError):
            obs.round = 0  # type: ignore[misc]
    # two firms' observations do not share their own histories or per-layer views
    a, b = list(observations.values())[:2]
    assert a.firm != b.firm and vars(a) is not vars(b)
    model.release()


def test_compiled_round_preparation_equals_the_plain_kernel(monkeypatch) -> None:
    # markups (regulator caps, floors), live capacity and quality, entrants' unit costs
    # and self-supply shares: the compiled kernel and the plain one agree bit for bit
    pytest.importorskip("numba")
    monkeypatch.delenv("STACKGAME_NO_JIT", raising=False)
    monkeypatch.setenv("STACKGAME_JIT", "eager")
    seen = dict.fromkeys(("capped", "floored", "entrant", "self_supply"), False)
    # a strict regulator, and a firm pricing below the floor, at -0.0, 0 and high in turn
    strict = {"regulator.stance": 1.0, "regulator.base_rate": 0.9}
    script = [Action(markups={"cloud": m}) for m in (-2.0, -0.0, 0.0, 5.0)]
    for overrides, scripted in ((strict, "together"), ({}, None)):
        model = StackModel("ai-stack-2026-articles", 5, rounds=16, overrides=overrides)
        checked = []

        def prepare(actions: dict, model: StackModel = model, checked: list = checked) -> tuple:
            got = StackModel._prepare(model, actions)
            chosen = model._chosen_markups(actions)
            model._jit = False
            want = StackModel._prepare(model, actions)
            model._jit = True
            names = ("markup", "capacity", "quality", "cost", "share")
            for name, g, w in zip(names, got, want, strict=True):
                np.testing.assert_array_equal(g, w, name)
                assert np.signbit(g).tolist() == np.signbit(w).tolist(), name
            checked.append(model.round)
            st = model.state
            seen["capped"] |= bool((st.cap_until > model.round).any())
            seen["floored"] |= bool((np.array(chosen) < got[0]).any())
            entrant = (st.integrated_at >= 0) & (st.penalty_until > model.round)
            seen["entrant"] |= bool(entrant.any())
            seen["self_supply"] |= bool((got[4] > 0).any())
            return got

        monkeypatch.setattr(model, "_prepare", prepare)
        if scripted:
            model.firms[model.state.firm_index[scripted]].set_strategy(Scripted(script * 4))
        model.run()
        assert checked == list(range(16))
        model.release()
    assert seen == dict.fromkeys(seen, True), seen  # every branch was exercised


def test_a_model_decides_compiled_or_numpy_once_when_built(monkeypatch) -> None:
    # STACKGAME_NO_JIT is read when the model is built: that model runs the numpy
    # references throughout, and agrees with the compiled run to rounding
    from stackgame.environment import jit

    monkeypatch.setenv("STACKGAME_NO_JIT", "1")
    slow = StackModel("ai-stack-2026", 1, rounds=6)
    monkeypatch.delenv("STACKGAME_NO_JIT")
    assert slow._jit is False
    # were a kernel asked for, it would fail

    def boom(*args: object) -> None:
        raise AssertionError("a compiled kernel ran in a model built without them")

    kernels = [("round_kernel", k) for k in ("settle_kernel", "prepare_kernel")]
    kernels += [("round_kernel", "investigate_kernel"), ("market_kernel", "clear_kernel")]
    monkeypatch.setattr(jit, "_COMPILED", dict.fromkeys(kernels, boom))
    slow.run()
    monkeypatch.undo()
    monkeypatch.delenv("STACKGAME_NO_JIT", raising=False)  # (also when the suite runs under it)
    fast = StackModel("ai-stack-2026", 1, rounds=6).run()
    assert fast._jit is True
    np.testing.assert_allclose(
        slow.history.layers_matrix("operating_profit"),
        fast.history.layers_matrix("operating_profit"),
        rtol=1e-9,
        atol=1e-9,
    )
    slow.release()
    fast.release()


def test_an_observation_nobody_reads_is_never_assembled(monkeypatch) -> None:
    # always_restrain never looks at its observation; the engine makes each field of it
    # only when read (Observation.lazy_over; its structural fields from the firm's
    # known fields, the others made by _observation_field), so none of that firm's
    from stackgame.environment import model as model_module
    from stackgame.strategies.base import Observation

    built: list[str] = []
    real = model_module._observation_field

    def counting(name: str, template: dict, *args: object) -> object:
        built.append(template["firm"])
        return real(name, template, *args)  # type: ignore[arg-type]

    made: list[tuple[str, Observation]] = []
    real_lazy = Observation.lazy_over

    def keeping(known: dict, *args: object) -> Observation:
        obs = real_lazy(known, *args)
        made.append((known["firm"], obs))
        return obs

    monkeypatch.setattr(model_module, "_observation_field", counting)
    monkeypatch.setattr(Observation, "lazy_over", staticmethod(keeping))
    model = StackModel("ai-stack-2026", 0, rounds=3)
    model.run()
    idle = {f.name for f in model.firms if f.strategy.name == "always_restrain"}
    busy = {f.name for f in model.firms} - idle
    assert idle and busy
    read = {firm for firm, obs in made if set(vars(obs)) != {"_lazy"}}  # a field was made
    assert read == busy  # every other firm's strategy read its observation
    assert set(built) <= busy  # nothing made for the idle firms
    model.release()


def test_an_observation_read_rounds_later_shows_its_own_round() -> None:
    # observations are assembled when first read, from histories that keep growing: what
    # they show must still be the round they were made for
    model = StackModel("ai-stack-2026", 2, rounds=8, strategies={"nvidia": "grudger"})
    for _ in range(3):
        model.step()
    kept = model.observe()  # round 3, not read yet
    for _ in range(4):
        model.step()
    i = model.state.firm_index["nvidia"]
    obs = kept[i]
    nvidia = model.firms[i]
    assert nvidia.memory_depth is None  # (grudger remembers everything)
    assert obs.round == 3
    assert obs.own_postures == nvidia.postures[:3] and obs.own_payoffs == nvidia.payoffs[:3]
    assert obs.own_margins == nvidia.margins[:3] and obs.own_markups == nvidia.markups[:3]
    assert obs.counterpart_history == nvidia.counterpart_history[:3]
    for f in model.firms:
        assert obs.counterpart_postures[f.name] == f.postures[:3]
        assert obs.counterpart_markups[f.name] == f.markups[:3]
    assert len(nvidia.postures) == 7 and isinstance(nvidia.postures, HistoryView)
    model.release()


def test_datacollector_rows_read_late_equal_rows_read_each_round() -> None:
    # the rows are computed when model_vars is read, from snapshots of their round
    eager = StackModel("ai-stack-2026", 6, rounds=8)
    late = StackModel("ai-stack-2026", 6, rounds=8)
    assert eager.datacollector is not None and late.datacollector is not None
    frames = []
    for _ in range(8):
        eager.step()
        frames.append(dict(eager.datacollector.model_vars))  # read every round
        late.step()
    a = eager.datacollector.get_model_vars_dataframe()
    b = late.datacollector.get_model_vars_dataframe()
    assert a.equals(b) and len(b) == 8
    assert len({row for row in b["cash.nvidia"]}) > 1
    eager.release()
    late.release()


def test_a_round_holds_the_cyclic_collector_and_restores_it() -> None:
    seen: list[bool] = []

    class Watch(Scripted):
        def decide(self, observation: Observation) -> Action:
            seen.append(gc.isenabled())
            return super().decide(observation)

    assert gc.isenabled()
    model = StackModel(tiny_scenario(), 0, rounds=2)
    model.firms[0].set_strategy(Watch())
    model.run()
    assert seen == [False, False]  # held while the round ran
    assert gc.isenabled()  # and back after
    model.release()


def test_collector_paused_restores_on_error_and_leaves_a_disabled_one_alone() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a round that fails")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # the caller's choice stands
    finally:
        gc.enable()


def test_collector_paused_runs_the_deferred_collection_when_it_ends() -> None:
    gc.collect()
    threshold = gc.get_threshold()[0]
    with collector_paused():
        kept = [[] for _ in range(3 * threshold)]  # tracked objects: the count climbs
        assert gc.get_count()[0] > threshold
    # ended: the youngest generation was collected then (its count starts again)
    assert gc.get_count()[0] < threshold and len(kept) == 3 * threshold
