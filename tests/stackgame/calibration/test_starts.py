"""``stackgame calibrate --starts K``: the design, one start as today, two basins, conflicts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from stackgame.environment.scenario import Scenario, resolve
from stackgame.environment.targets import TargetTable, table_from_dict

from stackgame.calibration import fit as fit_module
from stackgame.calibration.fit import fit, fit_starts, problem, start_design, start_point
from stackgame.experiments.executor import map_blocks

# one parameter, demand.intercept of monopoly-chain: 10 in the scenario, bounds [6, 20]
# (linear: cube point u is 6 + 14 u; the scenario's 10 is u0 = 4/14 = 0.286)
PARAMETERS = [{"path": "demand.intercept", "low": 6.0, "high": 20.0}]


def _target(name: str, value: float, low: float, high: float) -> dict[str, object]:
    return {
        "name": name,
        "figure": f"figure {name}",
        "kind": "revenue",
        "layer": "downstream",
        "value": value,
        "unit": "$B/quarter",
        "period": "all",
        "low": low,
        "high": high,
        "source": "test",
        "window": "all",
    }


def _table(*targets: dict[str, object]) -> TargetTable:
    return table_from_dict({"name": "test", "targets": list(targets), "parameters": PARAMETERS})


def _two_basins(x: float) -> float:
    """The stub's model number at intercept ``x``: a local basin at 9, the global one at 17.

    ``10 + min(3 + (x - 9)^2, 2 (x - 17)^2)``: at 9 the number is 13 (3 above the
    target of 10), at 17 it is 10 exactly. The branches meet where
    ``3 + (x - 9)^2 = 2 (x - 17)^2``, i.e. ``x^2 - 50 x + 494 = 0``, ``x = 13.55``
    (cube 0.539): a start below that slides to 9, one above it to 17.
    """
    return 10.0 + min(3.0 + (x - 9.0) ** 2, 2.0 * (x - 17.0) ** 2)


def _stub(
    scenario: Scenario, table: TargetTable, overrides: Mapping[str, Any], seeds: Sequence[int]
) -> list[float | None]:
    x = float(overrides["demand.intercept"])
    # the second target: a number no intercept brings into [1, 2] (always 5)
    return [_two_basins(x), 5.0]


@pytest.fixture
def two_basins(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A problem whose objective has two basins (the measurement stubbed: no runs)."""
    monkeypatch.setattr(fit_module, "measure_scenario", _stub)
    table = _table(_target("basins", 10.0, 9.0, 11.0), _target("apart", 1.5, 1.0, 2.0))
    return problem(resolve("monopoly-chain"), table, [0])


def test_the_design_is_seeded_prefix_stable_and_inside_the_cube() -> None:
    a = start_design(5, 4, seed=0)
    assert a.shape == (3, 5) and ((a >= 0.0) & (a <= 1.0)).all()
    assert np.array_equal(a, start_design(5, 4, seed=0))  # the same seed, the same starts
    assert not np.array_equal(a, start_design(5, 4, seed=1))  # another seed, others
    assert np.array_equal(a, start_design(5, 9, seed=0)[:3])  # --starts 9 begins the same
    assert start_design(5, 1, seed=0).shape == (0, 5)  # one start: the scenario's alone
    assert start_point(5, 0, seed=0) is None
    assert start_point(5, 2, seed=0) == pytest.approx(list(a[1]))
    # a scrambled Sobol net: of 4 points in one dimension, one in each quarter
    quarter = np.sort(np.floor(start_design(1, 5, seed=3)[:, 0] * 4))
    assert list(quarter) == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="starts: must be at least 1"):
        start_design(5, 0, seed=0)


def test_one_start_is_the_one_start_fit_exactly() -> None:
    """``--starts 1`` is today's fit: the same report, key for key (time aside)."""
    chain = resolve("monopoly-chain")
    table = _table(_target("revenue", 30.0, 29.0, 31.0))
    one = fit(problem(chain, table, [0, 1]), max_evals=12, method="least_squares_powell")
    many = fit_starts(
        problem(chain, table, [0, 1]), starts=1, seed=0, max_evals=12, method="least_squares_powell"
    )
    assert len(many.results) == 1 and many.best == 0
    old, new = one.to_dict(), many.to_dict()
    for report in (old, new):
        report.pop("seconds")
    assert {k: v for k, v in new.items() if k in old} == old
    assert set(old) <= set(new)  # every existing key kept
    assert new["starts"][0]["point"] == "scenario" and new["starts"][0]["best"]
    assert new["starts"][0]["objective_start"] == pytest.approx(one.objective_before)


def test_the_best_start_finds_the_global_basin_one_start_does_not(two_basins: Any) -> None:
    """From the scenario's 10 least squares slides to the local basin at 9; with 5 starts
    one Sobol point lies in each quarter of the cube, so one starts above 0.75 (intercept
    16.5) and reaches 17, where the first target is met.

    Residual scales: the first target max(half-range 1, bar 25% of 10) = 2.5, the second
    max(0.5, 0.375) = 0.5. The second is (5 - 1.5) / 0.5 = 7 everywhere (49 to the
    objective); the first adds (3 / 2.5)^2 = 1.44 at 9 and 0 at 17: objectives 50.44 and 49.
    """
    # (the forward-difference step, 0.05 of the cube = 0.7 in x, shifts each minimum by
    # less than half of it: near 9 and 17, not on them)
    alone = fit(fit_module.fresh(two_basins), max_evals=60)
    assert alone.overrides()["demand.intercept"] == pytest.approx(9.0, abs=0.4)
    many = fit_starts(two_basins, starts=5, seed=0, max_evals=60, workers=1)
    best = many.results[many.best]
    assert many.best != 0 and best.overrides()["demand.intercept"] == pytest.approx(17.0, abs=0.4)
    assert best.objective_after == pytest.approx(49.0, abs=0.05)
    assert alone.objective_after == pytest.approx(50.44, abs=0.2)
    report = many.to_dict()
    assert report["best_start"] == many.best and len(report["starts"]) == 5
    assert report["evaluations"] == best.problem.evaluations
    assert report["evaluations_total"] == sum(s["evaluations"] for s in report["starts"])
    # start 0 is the one-start fit: the same final objective
    assert report["starts"][0]["objective_final"] == pytest.approx(alone.objective_after)
    # the second target (always 5 or more against [1, 2]) misses in every start: a conflict;
    # the first is met in the best start, so it is outside in some starts only
    assert [c["name"] for c in report["conflicts"]] == ["apart"]
    (apart_row,) = report["conflicts"]
    assert apart_row["outside_in"] == 5 and apart_row["side"] == "above"
    assert apart_row["model_min"] == apart_row["model_max"] == 5.0 and apart_row["low"] == 1.0
    basins = next(r for r in report["outside"] if r["name"] == "basins")
    assert 1 <= basins["outside_in"] < 5
    assert basins["model_min"] == pytest.approx(10.0, abs=0.01)


def test_the_result_does_not_depend_on_the_workers(two_basins: Any) -> None:
    def strip(report: dict[str, Any]) -> dict[str, Any]:
        report.pop("seconds")
        report.pop("wall_seconds")
        for s in report["starts"]:
            s.pop("seconds")
        return report

    here = strip(fit_starts(two_basins, starts=3, seed=4, max_evals=30, workers=1).to_dict())
    forked = fit_starts(two_basins, starts=3, seed=4, max_evals=30, workers=2, mapper=map_blocks)
    assert strip(forked.to_dict()) == here
    other = strip(fit_starts(two_basins, starts=3, seed=5, max_evals=30, workers=1).to_dict())
    assert [s["objective_start"] for s in other["starts"][1:]] != [
        s["objective_start"] for s in here["starts"][1:]
    ]
    assert all(math.isfinite(s["objective_final"]) for s in here["starts"])


def test_bad_counts_are_refused(two_basins: Any) -> None:
    with pytest.raises(ValueError, match="starts: must be at least 1"):
        fit_starts(two_basins, starts=0, seed=0)
    with pytest.raises(ValueError, match="workers: must be at least 1"):
        fit_starts(two_basins, starts=2, seed=0, workers=0)
