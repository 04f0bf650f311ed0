"""The fit's approximate posterior (Laplace) behind ``--uncertainty``: hand-computed cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from stackgame.environment.scenario import load

from stackgame.calibration.fit import Parameter
from stackgame.errors import UserError
from stackgame.experiments import posterior
from stackgame.experiments import uncertainty as unc
from tests.stackgame.experiments.test_uncertainty import write_stack

# A linear residual r(u) = J (u - c) + r0 in two parameters (the unit cube), J written
# down: 10 x [[4, 0], [0, 2], [2, 2]]. By hand,
#   J^T J = 100 x [[16 + 4, 4], [4, 4 + 4]] = [[2000, 400], [400, 800]],
#   J^T J + 12 I = [[2012, 400], [400, 812]],  det = 2012 * 812 - 400^2 = 1,473,744,
#   Sigma = [[812, -400], [-400, 2012]] / 1,473,744,
# so sd_1 = sqrt(812 / 1473744) = 0.02347 and sd_2 = sqrt(2012 / 1473744) = 0.03695,
# thirteen standard deviations from the bounds at c = (0.5, 0.5): no draw is redrawn.
J = 10.0 * np.array([[4.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
R0 = np.array([0.5, -1.0, 0.25])
CENTRE = np.array([0.5, 0.5])
SIGMA = np.array([[812.0, -400.0], [-400.0, 2012.0]]) / 1_473_744.0


def _linear(u: np.ndarray) -> np.ndarray:
    return J @ (u - CENTRE) + R0


def _params() -> list[Parameter]:
    # linear scale on [0, 1]: a value is its own cube coordinate; the second starts near
    # its upper bound, so its step goes backward
    return [
        Parameter("a", 0.0, 1.0, "linear", 0.5),
        Parameter("b", 0.0, 1.0, "linear", 0.98),
    ]


def test_laplace_of_a_linear_residual_is_the_hand_computed_covariance() -> None:
    params = _params()
    start = [0.5, 0.5]
    points = posterior.step_points(params, start, 0.05)
    assert [round(h, 12) for _, h in points] == [0.05, 0.05]
    moved = [_linear(np.array(values)) for values, _ in points]
    jac, flat = posterior.jacobian(_linear(CENTRE), moved, [h for _, h in points])
    assert flat == [] and jac == pytest.approx(J, abs=1e-9)  # exact: r is linear
    sigma, precision = posterior.covariance(jac)
    assert precision == pytest.approx(np.array([[2012.0, 400.0], [400.0, 812.0]]))
    assert sigma == pytest.approx(SIGMA, rel=1e-9)
    # near the upper bound the step goes backward (0.98 + 0.05 > 1)
    back = posterior.step_points(params, [0.5, 0.98], 0.05)
    assert back[1][1] == pytest.approx(-0.05) and back[1][0][1] == pytest.approx(0.93)


def test_a_failed_or_null_step_leaves_a_zero_column() -> None:
    jac, flat = posterior.jacobian(np.zeros(2), [None, np.ones(2), np.ones(2)], [0.05, 0.0, 0.05])
    assert flat == [0, 1] and jac[:, :2].tolist() == [[0, 0], [0, 0]]
    assert jac[:, 2].tolist() == [20.0, 20.0]
    # a parameter no target moves keeps the prior's spread: variance 1/12
    sigma, _ = posterior.covariance(jac)
    assert sigma[0, 0] == pytest.approx(1 / 12)


def test_draws_match_the_laplace_mean_and_covariance_to_sampling_error() -> None:
    draws, tried, sampler = posterior.draw(CENTRE, SIGMA, 4000, np.random.default_rng(7))
    assert draws.shape == (4000, 2) and tried >= 4000 and sampler == "rejection"
    # standard error of the mean: sd / sqrt(4000) = 0.00037 and 0.00058; 5 of them
    assert draws.mean(axis=0) == pytest.approx(CENTRE, abs=5 * 0.037 / math.sqrt(4000))
    # a sample covariance's relative error is about sqrt(2 / 4000) = 2%
    cov = np.cov(draws.T)
    assert np.diag(cov) == pytest.approx(np.diag(SIGMA), rel=0.1)
    assert cov[0, 1] == pytest.approx(SIGMA[0, 1], rel=0.2)
    again, _, _ = posterior.draw(CENTRE, SIGMA, 4000, np.random.default_rng(7))
    assert (again == draws).all()  # the same generator, the same draws


def test_draws_near_a_bound_are_redrawn_inside_it() -> None:
    centre = np.array([0.99, 0.5])
    sigma = np.diag([0.05**2, 0.05**2])
    draws, tried, sampler = posterior.draw(centre, sigma, 500, np.random.default_rng(1))
    assert ((draws >= 0) & (draws <= 1)).all() and len(draws) == 500
    # a normal centred 0.2 sd inside the bound falls inside it with P = Phi(0.2) = 0.579
    assert sampler == "rejection" and 0.5 < 500 / tried < 0.68


def test_a_fit_with_many_parameters_at_their_bounds_is_drawn_by_gibbs() -> None:
    """24 parameters at the upper bound, sd 0.3 each: rejection keeps 2^-24 of candidates.

    With a diagonal precision every Gibbs conditional is the coordinate's own normal
    truncated to [0, 1]: a half-normal below 1 (the lower bound is 3.3 sd away), of mean
    1 - 0.3 phi(0) / (Phi(0) - Phi(-3.33)) = 1 - 0.3 x 0.39894 / 0.49957 = 0.76043 and
    sd 0.3 sqrt(1 - 2/pi) = 0.18086 (up to the far tail).
    """
    d = 24
    centre, sigma = np.ones(d), np.eye(d) * 0.3**2
    draws, tried, sampler = posterior.draw(centre, sigma, 300, np.random.default_rng(5))
    assert sampler == "gibbs" and tried >= posterior.REJECTION_CANDIDATES
    assert draws.shape == (300, d) and ((draws >= 0) & (draws <= 1)).all()
    # 300 x 24 = 7,200 independent half-normal values: standard error 0.18 / 85 = 0.0021
    assert draws.mean() == pytest.approx(0.76043, abs=5 * 0.18086 / math.sqrt(7200))
    assert draws.std() == pytest.approx(0.18086, rel=0.05)
    again, _, _ = posterior.draw(centre, sigma, 300, np.random.default_rng(5))
    assert (again == draws).all()


def test_gibbs_keeps_the_correlation_of_a_gaussian_well_inside_the_cube() -> None:
    draws = posterior.gibbs(CENTRE, np.linalg.inv(SIGMA), 2000, np.random.default_rng(3))
    assert draws.mean(axis=0) == pytest.approx(CENTRE, abs=0.01)
    cov = np.cov(draws.T)
    assert np.diag(cov) == pytest.approx(np.diag(SIGMA), rel=0.15)
    assert cov[0, 1] == pytest.approx(SIGMA[0, 1], rel=0.3)


def test_the_proposal_density_and_weights_of_a_linear_residual_by_hand() -> None:

    lap = posterior.Laplace(
        parameters=[
            Parameter("a", 0.0, 1.0, "linear", 0.5),
            Parameter("b", 0.0, 1.0, "linear", 0.5),
        ],
        centre=CENTRE,
        jac=J,
        sigma=SIGMA,
        precision=np.linalg.inv(SIGMA),
        r0=R0,
        included=[True, True, True],
        figures=np.array([True, True, True]),
        seeds=[0],
        flat=[],
        evaluations=3,
    )
    # log q at d = (0.01, 0): -0.5 x 2012 x 0.01^2 = -0.1006
    assert lap.log_proposal(np.array([[0.51, 0.5]]))[0] == pytest.approx(-0.1006)
    # with r linear, log posterior - log q = -0.5 |r0 + J d|^2 + 0.5 d^T (J^T J + 12 I) d
    # = -0.5 |r0|^2 - r0^T J d + 6 |d|^2; at d = (0.01, 0): r0^T J = 10 x (2 + 0.5, -2 + 0.5)
    # = (25, -15), so -0.5 x 1.3125 - 0.25 + 0.0006
    d = np.array([0.01, 0.0])
    r = _linear(CENTRE + d)
    log_w = -0.5 * float(r @ r) - lap.log_proposal(CENTRE + d)[0]
    assert log_w == pytest.approx(-0.65625 - 0.25 + 0.0006)
    # sd in own units: the cube's sd times the range (1 here)
    assert lap.sd() == pytest.approx(np.sqrt(np.diag(SIGMA)).tolist())
    assert lap.describe()["pinned_most"][0] == "a"  # sd 0.023 < 0.037


def test_posterior_draws_of_the_tiny_stack_centre_on_its_values_inside_the_bounds(
    tmp_path: Path,
) -> None:
    scenario = load(write_stack(tmp_path))  # market size 50 in [20, 100], unit cost 1 in [0.5, 2]
    assert unc.choose_method(scenario, unc.parameter_space(scenario)[1], None) == "posterior"
    report = unc.analyse(scenario, draws=12, seed=3, rounds=2, method="posterior")
    assert report["method"] == "posterior" and report["seeds"] == [3, 4, 5, 6]
    assert report["posterior"]["evaluations"] == 3 and report["posterior"]["seeds"] == [3, 4, 5, 6]
    rows = {p["path"]: p for p in report["parameters"]}
    assert rows["demand.market_size"]["value"] == 50.0
    assert rows["firms.fab.ops.chips.unit_cost"]["value"] == 1.0
    for p in report["parameters"]:
        x = [d["values"][p["path"]] for d in report["per_draw"]]
        assert all(p["low"] <= v <= p["high"] for v in x)
        sd = p["laplace_sd"]
        assert 0 < sd and abs(float(np.mean(x)) - p["value"]) < 4 * sd
        assert p["laplace_sd_unit"] <= 1 / math.sqrt(12) + 1e-12  # never wider than the prior
    assert sum(d["weight"] for d in report["per_draw"]) == pytest.approx(1.0)
    json.loads(json.dumps(report, allow_nan=False))  # strict JSON


def test_a_scenario_outside_its_bounds_is_not_a_fit(tmp_path: Path) -> None:
    from stackgame.environment.scenario import apply_overrides

    scenario = apply_overrides(load(write_stack(tmp_path)), {"demand.market_size": 150.0})
    _, free = unc.parameter_space(scenario)
    assert posterior.outside_bounds(scenario, free) == ["demand.market_size"]
    assert unc.choose_method(scenario, free, None) == "ranges"
    with pytest.raises(UserError, match="not a fitted point: demand.market_size outside"):
        unc.analyse(scenario, draws=2, seed=0, rounds=1, method="posterior")
    with pytest.raises(UserError, match="'bayes' is not one of posterior, ranges"):
        unc.choose_method(scenario, free, "bayes")


def test_survival_requirements_weigh_the_draws_by_the_share_of_seeds_they_hold_on() -> None:
    """Two survival targets and a figure; draws' numbers are means over 4 seeds.

    Draw 0 keeps both on every seed: weight prop. to 1 x 1 = 1; draw 1 loses the second on
    one seed of 4: 1 x 0.75; draw 2 measures nothing for the first (counts as held) and
    holds the second on half: 0.5; draw 3 loses the first on every seed: 0. Normalised:
    1 / 2.25, 0.75 / 2.25, 0.5 / 2.25, 0; Kish's size (2.25)^2 / (1 + 0.5625 + 0.25) = 2.79.
    """
    from types import SimpleNamespace

    table = SimpleNamespace(
        targets=[
            SimpleNamespace(name="rev", kind="revenue"),
            SimpleNamespace(name="a_survival", kind="survival"),
            SimpleNamespace(name="b_survival", kind="survival"),
        ]
    )
    lap = SimpleNamespace(included=[True, True, True])
    rows = [
        {"targets": {"rev": 1.0, "a_survival": 1.0, "b_survival": 1.0}},
        {"targets": {"rev": 2.0, "a_survival": 1.0, "b_survival": 0.75}},
        {"targets": {"rev": 3.0, "a_survival": None, "b_survival": 0.5}},
        {"targets": {"rev": 4.0, "a_survival": 0.0, "b_survival": 1.0}},
    ]
    names, p = unc.survival_probabilities(rows, table, lap)
    assert names == ["a_survival", "b_survival"]
    with np.errstate(divide="ignore"):
        w = unc.normalised_weights(np.log(p).sum(axis=1))
    assert w == pytest.approx([1 / 2.25, 0.75 / 2.25, 0.5 / 2.25, 0.0])
    assert unc.effective_sample_size(w) == pytest.approx(2.25**2 / (1 + 0.5625 + 0.25))
