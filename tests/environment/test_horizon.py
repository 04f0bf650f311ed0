"""Estimating a run before it starts: time, memory, and where growth runs away."""

from __future__ import annotations

import pytest
from stackgame.environment.horizon import estimate_run, runaway_round
from stackgame.environment.ledger import RunawayError
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import ScenarioError, apply_overrides, resolve

# (the usage channel off: its price feedback is not growth the projection compounds)
EXPLODING = {"demand.growth": 2.0, "demand.volatility": 0.0, "demand.usage_elasticity": 0.0}


def test_the_projected_runaway_round_is_where_the_model_stops():
    scenario = apply_overrides(resolve("ai-stack-2026"), EXPLODING)
    at, what = runaway_round(scenario)
    assert (at, what) == (416, "demand (market size)")
    with pytest.raises(RunawayError, match=f"round {at}: demand"):
        StackModel(scenario, 0, rounds=at + 10, collect=False).run()


def test_no_growth_never_runs_away_and_capacity_growth_is_projected():
    flat = apply_overrides(resolve("monopoly-chain"), {"demand.growth": 0.0})
    assert runaway_round(flat) == (None, None)
    assert runaway_round(resolve("ai-stack-2026"))[0] is not None  # growth 8% a quarter
    raw = resolve("monopoly-chain")
    firm = raw.firms[0]
    layer = next(iter(firm.ops))
    grown = apply_overrides(raw, {f"firms.{firm.name}.ops.{layer}.capacity_growth": 1.0})
    at, what = runaway_round(grown)
    assert what == f"capacity of {firm.name} in {layer}" and at is not None and at < 700


def test_an_estimate_scales_with_the_rounds_and_reports_the_runaway():
    short = estimate_run("monopoly-chain", 100, overrides={"demand.growth": 0.0})
    assert short.seconds > 0 and short.memory_bytes > 0 and short.runaway_round is None
    long = estimate_run("monopoly-chain", 1_000_000, overrides={"demand.growth": 0.0})
    # linear in the rounds (the build is a fixed part): a million rounds cost far more
    assert long.seconds > 100 * short.seconds and long.memory_bytes > 100 * short.memory_bytes
    doomed = estimate_run("ai-stack-2026", 20_000, sample_rounds=4)
    assert doomed.runaway_round is not None and doomed.runaway_round < 20_000
    assert doomed.as_dict()["runaway_quantity"] == doomed.runaway_quantity
    with pytest.raises(ScenarioError, match="rounds: must be at least 1"):
        estimate_run("monopoly-chain", 0)
