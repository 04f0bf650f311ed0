"""simulate(): build, run, release; RunResult views; flat memory over many runs."""

from __future__ import annotations

import gc
import json

import mesa
import numpy as np
import pytest
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import Scenario, from_dict

from stackgame.simulation.simulate import RunResult, build, simulate
from tests.environment.tiny_scenario import firm, tiny


@pytest.fixture(scope="module")
def small() -> Scenario:
    """The tiny scenario with a stochastic firm."""
    raw = tiny()
    firm(raw, "fab")["strategy"] = "random"
    return from_dict(raw)


def test_run_result_arrays_and_views(small: Scenario) -> None:
    r = simulate(small, rounds=3, seed=1)
    assert isinstance(r, RunResult)
    assert r.layer_names == ["chips", "cloud", "apps"]
    assert r.firm_names == ["fab", "fab2", "cloudco", "appco"]
    assert r.layers["revenue"].shape == (3, 3)
    assert r.firms["value"].shape == (3, 4)
    assert r.rounds["final_spend"].shape == (3,)
    pay = r.payoffs()
    assert pay["appco"] == pytest.approx(r.firms["value"][:, 3].mean())
    m = r.metrics()
    assert m["value_share.layer.apps"] == next(
        x["value_share"] for x in r.summary["layers"] if x["name"] == "apps"
    )
    assert m["layers.firm.appco"] == 1.0
    assert len(r.per_round()) == 3 * 3
    frame = r.per_firm_round()
    assert len(frame) == 3 * 4 and set(frame["posture"]) <= {0, 1}
    # consumers' spending on the top layer is the apps firm's revenue
    spent = sum(f["dollars"] for f in r.flows if f["buyer"] == "final demand")
    assert spent == pytest.approx(r.layers["revenue"][:, 2].sum())


def test_same_seed_same_bytes_and_seeds_differ(small: Scenario) -> None:
    a = json.dumps(simulate(small, rounds=4, seed=7).summary)
    b = json.dumps(simulate(small, rounds=4, seed=7).summary)
    assert a == b
    others = {json.dumps(simulate(small, rounds=4, seed=s).summary) for s in (1, 2, 3)}
    assert len(others | {a}) > 1


def test_simulate_takes_overrides_and_strategies(small: Scenario) -> None:
    r = simulate(small, rounds=2, strategies={"appco": "always_extract"},
                 overrides={"demand.market_size": 10.0})  # fmt: skip
    assert next(f for f in r.summary["firms"] if f["name"] == "appco")["strategy"] == (
        "always_extract"
    )
    np.testing.assert_allclose(r.rounds["market_size"], 10.0)


def test_simulate_releases_the_model(small: Scenario) -> None:
    before = len(mesa.Agent._ids)
    simulate(small, rounds=1, seed=0)
    assert len(mesa.Agent._ids) == before


def test_without_release_mesa_keeps_every_model(small: Scenario) -> None:
    before = len(mesa.Agent._ids)
    models: list[StackModel] = [build(small, rounds=1, seed=k) for k in range(5)]
    for m in models:
        m.run()
    assert len(mesa.Agent._ids) == before + 5  # Mesa 3.3.1's registry holds each model
    for m in models:
        m.release()
    assert len(mesa.Agent._ids) == before


def test_a_released_model_is_freed_without_the_cyclic_collector() -> None:
    """release() breaks the cycles through the model; its results stay readable.

    With the collector off, the model must go the moment the last reference does: before
    release() its agents (``agent.model``) and Mesa's step wrapper held it in cycles that
    only a collector pass freed.
    """
    import weakref

    model = StackModel("ai-stack-2026", 0, rounds=3).run()
    cash = [f.cash for f in model.firms]
    layers = [f.layers for f in model.firms]
    enabled = gc.isenabled()
    gc.disable()
    try:
        model.release()
        # the run's results and each firm's state, through its agent, still read
        assert [f.cash for f in model.firms] == cash
        assert [f.layers for f in model.firms] == layers
        assert model.summary()["rounds"] == 3
        model.release()  # (twice is harmless)
        gone = weakref.ref(model)
        firm = weakref.ref(model.firms[0])
        del model
        assert gone() is None and firm() is None
    finally:
        if enabled:
            gc.enable()


def test_memory_stays_flat_over_300_runs(small: Scenario) -> None:
    counts = {}
    before = len(mesa.Agent._ids)  # models other tests left alive in this process
    for k in range(300):
        simulate(small, rounds=2, seed=k)
        if k + 1 in (100, 300):
            gc.collect()
            counts[k + 1] = (len(gc.get_objects()), len(mesa.Agent._ids))
    objects_100, ids_100 = counts[100]
    objects_300, ids_300 = counts[300]
    assert ids_300 == ids_100 <= before + 1
    assert objects_300 - objects_100 < 200  # 200 more runs leave (almost) nothing behind


def test_buildout_metrics_and_per_round_arrays() -> None:
    r = simulate("ai-stack-2026", rounds=4, seed=3)
    m = r.metrics()
    s = r.summary
    assert m["investment"] == pytest.approx(s["investment"]) and s["investment"] > 0
    assert m["failures"] == 0.0
    assert m["financing"] == pytest.approx(sum(x["financing"] for x in s["money_flows"]))
    for f in s["firms"]:
        for key in ("capex", "installed_capacity", "utilisation", "debt", "cash", "backlog"):
            assert m[f"{key}.firm.{f['name']}"] == pytest.approx(f[key])
        assert m[f"failed.firm.{f['name']}"] == 0.0
    for row in s["layers"]:
        for key, value in row["buildout"].items():
            assert m[f"{key}.layer.{row['name']}"] == pytest.approx(value)
    # the per-round arrays add up to the summary's totals
    assert r.firms["capex"].sum() == pytest.approx(s["investment"])
    assert r.layers["capex"].sum(axis=0) == pytest.approx(
        [row["buildout"]["capex"] for row in s["layers"]]
    )
    assert r.rounds["investment"] == pytest.approx([x["investment"] for x in s["money_flows"]])
    last = r.firms["used"][-1] / r.firms["capacity"][-1]
    assert last == pytest.approx([f["utilisation"] for f in s["firms"]])
    frame = r.per_round()
    assert {"capex", "capacity", "utilisation"} <= set(frame.columns)
    assert frame["capex"].sum() == pytest.approx(s["investment"])
