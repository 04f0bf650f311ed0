"""The fit of ``stackgame calibrate``: the cube, the residual, recovery of a known answer."""

from __future__ import annotations

import math

import pytest
from stackgame.environment import targets
from stackgame.environment.scenario import ScenarioError, apply_overrides, resolve
from stackgame.environment.targets import TargetSpec, TargetTable, table_from_dict

from stackgame.calibration.fit import (
    PENALTY,
    Parameter,
    fit,
    measure_scenario,
    problem,
    residual,
    seeds_of,
    value_at,
)


def _target(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "t",
        "figure": "a figure",
        "kind": "revenue",
        "layer": "downstream",
        "value": 10.0,
        "unit": "$B/quarter",
        "period": "all",
        "low": 9.0,
        "high": 11.0,
        "source": "test",
        "window": "all",
    }
    base.update(fields)
    return base


def _table(targets: list[dict[str, object]], parameters: list[dict[str, object]]) -> TargetTable:
    return table_from_dict({"name": "test", "targets": targets, "parameters": parameters})


def test_the_cube_maps_to_the_bounds_linear_log_and_whole() -> None:
    lin = Parameter("a", 2.0, 6.0, "linear", 3.0)
    log = Parameter("b", 1.0, 100.0, "log", 10.0)
    whole = Parameter("c", 1.0, 9.0, "linear", 4.0, integer=True)
    assert lin.value(0.0) == 2.0 and lin.value(1.0) == 6.0 and lin.value(0.25) == 3.0
    assert log.value(0.5) == pytest.approx(10.0) and log.value(1.0) == pytest.approx(100.0)
    assert whole.value(0.3) == 3.0  # 1 + 0.3 * 8 = 3.4, a whole number of 3
    assert lin.value(-1.0) == 2.0 and lin.value(2.0) == 6.0  # clipped
    for p in (lin, log):
        assert p.value(p.unit(p.start)) == pytest.approx(p.start)
    assert lin.unit(100.0) == 1.0  # a start outside the bounds starts at the nearest bound
    assert lin.rounded(3.14159) == 3.142 and lin.rounded(6.00004) == 6.0


def test_residual_is_in_half_ranges_scaled_by_the_weight() -> None:
    spec = TargetSpec.model_validate(_target(low=5.0, high=15.0))
    assert residual(spec, 12.0) == pytest.approx(0.4)  # 2 above, half-range 5
    heavy = TargetSpec.model_validate(_target(low=5.0, high=15.0, weight=4.0))
    assert residual(heavy, 12.0) == pytest.approx(0.8)  # scale 5 / sqrt(4)
    assert residual(spec, None) is None and residual(spec, math.nan) is None


def test_a_range_narrower_than_the_bar_counts_in_bars() -> None:
    # revenue 10, range [9, 11] (half-range 1) is narrower than the 25% bar (2.5)
    narrow = TargetSpec.model_validate(_target())
    assert residual(narrow, 12.0) == pytest.approx(2.0 / 2.5)
    # a margin of 30%, range [29%, 31%]: the bar is 5 points
    margin = TargetSpec.model_validate(
        _target(kind="operating_margin", unit="fraction", value=0.3, low=0.29, high=0.31)
    )
    assert residual(margin, 0.4) == pytest.approx(0.1 / 0.05)


def test_seeds_are_common_and_consecutive() -> None:
    assert seeds_of(5, 3) == [5, 6, 7]


@pytest.mark.parametrize(
    ("method", "budget"),
    [("least_squares", 40), ("powell", 150), ("least_squares_powell", 150)],
)
def test_the_fit_recovers_known_parameters_of_the_textbook_chain(method: str, budget: int) -> None:
    """Targets built from A = 12, c_u = 1.5; the fit starts from A = 10, c_u = 1."""
    chain = resolve("monopoly-chain")
    truth = {"demand.intercept": 12.0, "firms.upstream_monopolist.ops.upstream.unit_cost": 1.5}
    params = [
        {"path": "demand.intercept", "low": 6.0, "high": 20.0, "scale": "log"},
        {"path": "firms.upstream_monopolist.ops.upstream.unit_cost", "low": 0.5, "high": 3.0},
    ]
    specs = [
        _target(name="revenue"),
        _target(
            name="margin",
            kind="operating_margin",
            firm="upstream_monopolist",
            layer="upstream",
            unit="fraction",
            value=0.5,
            low=0.0,
            high=1.0,
        ),
    ]
    table = _table(specs, params)
    true_numbers = measure_scenario(chain, table, truth, [0])
    for spec, number in zip(specs, true_numbers, strict=True):
        assert number is not None
        spec.update(value=number, low=0.9 * number, high=1.1 * number)
    table = _table(specs, params)
    result = fit(problem(chain, table, [0]), max_evals=budget, method=method)
    fitted = result.overrides()
    assert fitted["demand.intercept"] == pytest.approx(12.0, rel=0.01)
    assert fitted["firms.upstream_monopolist.ops.upstream.unit_cost"] == pytest.approx(
        1.5, rel=0.02
    )
    assert result.objective_after < 1e-3 < result.objective_before
    report = result.to_dict()
    assert report["inside_after"] == 2 and report["inside_before"] == 0
    assert report["evaluations"] <= budget + 1  # the budget, and the rounded values on top
    assert [p["before"] for p in report["parameters"]] == [10.0, 1.0]


def test_the_budget_stops_the_fit_and_keeps_the_best_point() -> None:
    chain = resolve("monopoly-chain")
    table = _table([_target(value=30.0, low=29.0, high=31.0)], [
        {"path": "demand.intercept", "low": 6.0, "high": 20.0},
    ])  # fmt: skip
    result = fit(problem(chain, table, [0]), max_evals=3)
    assert result.problem.evaluations <= 4
    assert "budget of 3 evaluations" in result.status
    assert result.objective_after <= result.objective_before


def test_a_point_the_scenario_refuses_counts_as_a_failure_not_a_crash() -> None:
    chain = resolve("monopoly-chain")
    path = "firms.upstream_monopolist.ops.upstream.capacity"
    table = _table([_target()], [{"path": path, "low": -5.0, "high": 200.0}])
    pb = problem(chain, table, [0])
    assert pb.measure([-5.0], tolerate=True) is None
    assert pb.failures == 1 and pb.evaluations == 1
    assert pb.measure([-5.0], tolerate=True) is None and pb.evaluations == 1  # not rerun
    with pytest.raises(ScenarioError, match="capacity"):
        pb.measure([-5.0])
    assert PENALTY > 1


def test_problem_refuses_bad_paths_fields_and_empty_tables() -> None:
    chain = resolve("monopoly-chain")
    with pytest.raises(ValueError, match=r"src: parameters\.demand\.nope: .*no field 'nope'"):
        problem(
            chain, _table([_target()], [{"path": "demand.nope", "low": 0, "high": 1}]), [0], "src"
        )
    with pytest.raises(ValueError, match="not a number"):
        problem(chain, _table([_target()], [{"path": "timing", "low": 0, "high": 1}]), [0])
    with pytest.raises(ValueError, match=r"no \[\[parameters\]\]"):
        problem(chain, _table([_target()], []), [0])
    with pytest.raises(ValueError, match="at least one seed"):
        problem(chain, _table([_target()], [{"path": "demand.slope", "low": 0.5, "high": 2}]), [])
    assert value_at(chain, "firms.downstream_monopolist.ops.downstream.unit_cost") == 1.0
    assert value_at(apply_overrides(chain, {"rounds": 3}), "rounds") == 3


def test_a_target_the_run_cannot_measure_is_left_out_with_a_note() -> None:
    stack = apply_overrides(resolve("ai-stack-2026"), {"rounds": 4})
    table = _table(
        [
            _target(name="in_2025", firm="nvidia", layer="chips", window="2025", value=48.0,
                    low=40.0, high=56.0),
            _target(name="in_2026", firm="nvidia", layer="chips", window="2026Q2", value=48.0,
                    low=40.0, high=56.0),
        ],
        [{"path": "demand.growth", "low": 0.02, "high": 0.25}],
    )  # fmt: skip
    report = fit(problem(stack, table, [0]), max_evals=3).to_dict()
    rows = {r["name"]: r for r in report["targets"]}
    assert rows["in_2025"]["fitted"] and rows["in_2025"]["model_before"] is not None
    assert not rows["in_2026"]["fitted"] and rows["in_2026"]["model_after"] is None
    assert "left out" in rows["in_2026"]["note"]
    assert report["measured"] == 1


def test_the_same_short_fit_twice_gives_the_same_result() -> None:
    stack = apply_overrides(resolve("ai-stack-2026"), {"rounds": 4})
    full = targets.resolve(stack)
    assert full is not None
    stack_table = full.model_copy(update={"parameters": full.parameters[:2]})
    runs = []
    for _ in range(2):
        report = fit(problem(stack, stack_table, [0, 1]), max_evals=6).to_dict()
        report.pop("seconds")
        runs.append(report)
    assert runs[0] == runs[1]
    assert runs[0]["evaluations"] >= 3


def test_an_unknown_method_is_refused() -> None:
    chain = resolve("monopoly-chain")
    table = _table([_target()], [{"path": "demand.intercept", "low": 6.0, "high": 20.0}])
    with pytest.raises(
        ValueError, match="method: 'newton' is not one of least_squares, powell, least_squares_p"
    ):
        fit(problem(chain, table, [0]), max_evals=3, method="newton")


def test_the_cycles_hand_each_stage_the_best_point_and_keep_to_the_budget() -> None:
    """``least_squares_powell``: least squares on 40% of the budget left, then Powell.

    With a budget of 10 on one parameter least squares stops when it has spent its
    share, 4 evaluations; Powell then runs from its best point and spends the rest, so
    the fit stops inside its first cycle, says so, and keeps to the budget (plus the
    evaluation of the rounded values).
    """
    chain = resolve("monopoly-chain")
    params = [{"path": "demand.intercept", "low": 6.0, "high": 20.0, "scale": "log"}]
    table = _table([_target(name="revenue")], params)
    result = fit(problem(chain, table, [0]), max_evals=10, method="least_squares_powell")
    assert result.status.startswith("cycle 1 of least squares then Powell: stopped: the budget")
    assert result.problem.evaluations <= 11
    assert result.objective_after <= result.objective_before


def test_a_restraint_markup_may_not_be_fitted_above_the_extraction_markup() -> None:
    """The monopolist's extract markup is 2.6667: a bound at it is fine, above it not.

    A fit from eight starts once priced TSMC's "restraint" at 2.0 against its extraction
    at 1.6 (and Together's and Anthropic's likewise): the postures then mean the opposite.
    A what-if may still move the extract markup (a batch over it): only the fit refuses.
    """
    chain = resolve("monopoly-chain")
    path = "firms.downstream_monopolist.ops.downstream.restrain_markup"
    ok = {"path": path, "low": 0.5, "high": 2.6667}
    assert problem(chain, _table([_target()], [ok]), [0]).parameters[0].high == 2.6667
    with pytest.raises(ValueError, match=r"high 3 is above the operation's extract_markup 2\.6667"):
        problem(chain, _table([_target()], [{**ok, "high": 3.0}]), [0], "src")
