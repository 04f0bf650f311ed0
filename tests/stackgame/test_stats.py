import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackgame import stats


def test_mean_ci_uses_student_t():
    out = stats.mean_ci([1.0, 2.0, 3.0])
    assert out["mean"] == pytest.approx(2.0)
    assert out["se"] == pytest.approx(1 / np.sqrt(3))
    assert out["n"] == 3
    # t(0.975, 2 df) = 4.302653
    assert out["ci"][1] - 2.0 == pytest.approx(4.302653 / np.sqrt(3), rel=1e-5)
    assert 2.0 - out["ci"][0] == pytest.approx(out["ci"][1] - 2.0)


def test_t_quantile_textbook_values_and_too_few_observations():
    # Student-t table: t(0.975, 9 df) = 2.262157, t(0.95, 9 df) = 1.833113
    assert stats.t_quantile(10) == pytest.approx(2.262157, rel=1e-6)
    assert stats.t_quantile(10, level=0.90) == pytest.approx(1.833113, rel=1e-6)
    assert math.isnan(stats.t_quantile(1))
    assert math.isnan(stats.t_quantile(0))


@pytest.mark.parametrize("values", [[], [4.0]])
def test_intervals_of_fewer_than_two_values_are_nan(values):
    lo, hi = stats.t_interval(np.array(values))
    assert math.isnan(lo) and math.isnan(hi)
    out = stats.mean_ci(values)
    assert out["n"] == len(values)
    assert math.isnan(out["se"])
    assert (values == [] and math.isnan(out["mean"])) or out["mean"] == 4.0


def test_t_interval_is_the_mean_ci_interval_and_narrows_with_level():
    x = np.array([0.2, 0.9, 0.4, 0.7, 0.5])
    assert stats.t_interval(x) == tuple(stats.mean_ci(x)["ci"])
    lo95, hi95 = stats.t_interval(x)
    lo80, hi80 = stats.t_interval(x, level=0.80)
    assert lo95 < lo80 < x.mean() < hi80 < hi95


def test_constant_sample_has_a_point_interval():
    assert stats.t_interval(np.full(5, 3.0)) == (3.0, 3.0)


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=30))
def test_interval_holds_the_mean_and_is_symmetric(values):
    out = stats.mean_ci(values)
    lo, hi = out["ci"]
    assert lo <= out["mean"] + 1e-9 * (1 + abs(out["mean"]))
    assert hi >= out["mean"] - 1e-9 * (1 + abs(out["mean"]))
    assert (hi - out["mean"]) == pytest.approx(out["mean"] - lo, rel=1e-9, abs=1e-6)


def test_fermi_fixation_probability_limits():
    m = 10
    assert stats.fermi_fixation_probability(0.0, 1.0, m) == pytest.approx(1 / m)
    assert stats.fermi_fixation_probability(1.0, 1000.0, m) == pytest.approx(1.0)
    tiny = float(stats.fermi_fixation_probability(-1.0, 1000.0, m))
    assert 0 <= tiny < 1e-300 or tiny == 0.0
    # Closed form at moderate values.
    x = 0.3
    expected = (1 - np.exp(-x)) / (1 - np.exp(-m * x))
    assert stats.fermi_fixation_probability(1.0, x, m) == pytest.approx(expected)
    assert stats.fermi_fixation_probability(-1.0, x, m) == pytest.approx(
        (1 - np.exp(x)) / (1 - np.exp(m * x))
    )


def test_fixation_probability_of_neutral_drift_is_one_over_n():
    for n in (2, 5, 40):
        assert stats.fixation_probability(np.zeros(n - 1)) == pytest.approx(1 / n)


def test_fixation_probability_of_a_two_state_chain():
    # N = 2: one step; rho = 1 / (1 + T-/T+) = T+ / (T+ + T-)
    assert stats.fixation_probability([np.log(3.0)]) == pytest.approx(0.25)


@given(st.lists(st.floats(-3, 3), min_size=1, max_size=20))
def test_log_space_sum_is_the_product_formula(log_ratios):
    direct = 1.0 / (1.0 + np.sum(np.cumprod(np.exp(log_ratios))))
    assert stats.fixation_probability(log_ratios) == pytest.approx(direct, rel=1e-12)


def test_strong_selection_neither_overflows_nor_underflows():
    assert stats.fixation_probability(np.full(50, 800.0)) == 0.0
    assert stats.fixation_probability(np.full(50, -800.0)) == pytest.approx(1.0)
    tiny = stats.fixation_probability(np.full(9, 40.0))
    assert 0.0 < tiny < 1e-150


def test_a_mutant_that_cannot_reproduce_never_fixates_and_nan_is_refused():
    assert stats.fixation_probability([0.0, np.inf, 0.0]) == 0.0
    assert stats.fixation_probability([]) == 1.0
    with pytest.raises(ValueError, match="undefined"):
        stats.fixation_probability([0.0, np.nan])


@pytest.mark.parametrize("delta", [-2.0, -0.3, 0.0, 0.05, 0.7, 4.0])
@pytest.mark.parametrize("m", [2, 7, 30])
def test_fermi_closed_form_is_the_general_formula_with_constant_ratios(delta, m):
    alpha = 1.3
    general = stats.fixation_probability(np.full(m - 1, -alpha * delta))
    assert float(stats.fermi_fixation_probability(delta, alpha, m)) == pytest.approx(
        general, rel=1e-9
    )


def test_fermi_fixation_probability_is_elementwise():
    deltas = np.array([[-1.0, 0.0], [0.5, 2.0]])
    out = stats.fermi_fixation_probability(deltas, 0.8, 6)
    assert out.shape == deltas.shape
    for idx in np.ndindex(deltas.shape):
        assert out[idx] == float(stats.fermi_fixation_probability(deltas[idx], 0.8, 6))
    assert np.all(np.diff(out.ravel()) > 0)  # increasing in the advantage


def test_standard_error_and_half_width_along_an_axis_match_the_one_sample_functions():
    rng = np.random.default_rng(4)
    samples = rng.normal(size=(3, 4, 7))
    se = stats.standard_error(samples, axis=-1)
    half = stats.t_half_width(samples, axis=-1)
    assert se.shape == half.shape == (3, 4)
    for idx in np.ndindex(3, 4):
        one = stats.mean_ci(samples[idx])
        assert se[idx] == one["se"]
        assert one["ci"][1] == one["mean"] + half[idx]


def test_standard_error_of_one_repetition_is_nan():
    assert np.isnan(stats.standard_error(np.ones((2, 3, 1)))).all()
    assert np.isnan(stats.standard_error([5.0]))


def test_t_quantile_table_is_scipys_own_floats():
    from scipy import stats as scipy_stats

    from stackgame import stats

    for n in range(2, stats.T_975_MAX + 1):
        assert stats.t_quantile(n) == float(scipy_stats.t.ppf(0.975, n - 1)), n
    n = stats.T_975_MAX + 1  # beyond the table: SciPy, computed
    assert stats.t_quantile(n) == float(scipy_stats.t.ppf(0.975, n - 1))
    assert stats.t_quantile(5, 0.9) == float(scipy_stats.t.ppf(0.95, 4))  # another level
