"""The ledger and its guard: a run whose numbers run away stops with one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from stackgame.environment.ledger import RUNAWAY, RunawayError, check_finite
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import ScenarioError

# demand triples every round: 1e200 is passed in round 416 (volatility off: deterministic)
# (the usage channel off: its price feedback is not growth the projection compounds)
EXPLODING = {"demand.growth": 2.0, "demand.volatility": 0.0, "demand.usage_elasticity": 0.0}


def test_a_runaway_run_stops_in_the_round_it_runs_away_with_nothing_non_finite_recorded():
    model = StackModel("ai-stack-2026", 0, rounds=5000, overrides=EXPLODING, collect=True)
    with pytest.raises(RunawayError) as caught:
        model.run()
    message = str(caught.value)
    assert message.startswith("round 416: demand (market size) ran away")
    assert "growth compounding over the horizon" in message and "\n" not in message
    assert isinstance(caught.value, ScenarioError) and isinstance(caught.value, ValueError)
    # rounds 0..415 are recorded, and every recorded number is finite
    assert len(model.history) == 416 and model.round == 416
    for column in ("revenue", "operating_profit", "price", "quantity", "capacity"):
        assert np.isfinite(model.history.ops_matrix(column)).all(), column
    for column in ("value", "cash", "profit"):
        assert np.isfinite(model.history.firms_matrix(column)).all(), column
    assert np.isfinite(model.datacollector.get_model_vars_dataframe().to_numpy(float)).all()
    json.dumps(model.summary(), allow_nan=False)  # strict JSON: no NaN, no Infinity
    model.release()


def test_the_command_line_prints_one_line_and_exits_2(capsys, tmp_path):
    from stackgame.cli import main

    argv = ["run", "--rounds", "2000", "--json", "--out", str(tmp_path / "out")]
    argv += [arg for k, v in EXPLODING.items() for arg in ("--set", f"{k}={v}")]
    assert main(argv) == 2
    # (a run longer than a second draws a progress bar first, on a loaded machine too)
    lines = capsys.readouterr().err.strip().splitlines()
    err = [line for line in lines if not line.startswith("rounds:")]
    assert len(err) == 1 and "round 416: demand (market size) ran away" in err[0]


def test_check_finite_names_the_first_quantity_beyond_the_bound_or_not_finite():
    fine = {"capacity": np.array([1.0, 2.0]), "cash": np.array([-RUNAWAY, RUNAWAY])}
    check_finite(3, fine, {"demand (market size)": 1e10})  # at the bound is fine
    with pytest.raises(RunawayError, match=r"round 7: cash ran away \(not finite"):
        check_finite(7, {"capacity": np.ones(2), "cash": np.array([0.0, np.nan])})
    with pytest.raises(RunawayError, match=r"round 1: capacity ran away \(2e\+201"):
        check_finite(1, {"capacity": np.array([2e201]), "cash": np.array([-np.inf])})
    with pytest.raises(RunawayError, match=r"round 2: demand \(market size\) ran away"):
        check_finite(2, {"cash": np.zeros(1)}, {"demand (market size)": float("inf")})
