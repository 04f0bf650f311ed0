import numpy as np
import pandas as pd
import pytest

from stackgame.tournaments.results import (
    BOOTSTRAP_RESAMPLES,
    bootstrap_median_interval,
    bootstrap_median_intervals,
    holm,
    pairwise_tests,
)
from stackgame.tournaments.tournament import (
    Tournament,
    TournamentSpec,
)


def _slow_bootstrap_median_interval(x, rng, level=0.95):
    """The textbook loop: resample with rng.choice, median of each, percentiles."""
    if len(x) < 2:
        return (float("nan"), float("nan"))
    medians = np.median(rng.choice(x, size=(BOOTSTRAP_RESAMPLES, len(x)), replace=True), axis=1)
    lo, hi = np.quantile(medians, [0.5 - level / 2, 0.5 + level / 2])
    return (float(lo), float(hi))


def test_holm_adjustment():
    p = np.array([0.01, 0.04, 0.03, np.nan])
    out = holm(p)
    assert out[0] == pytest.approx(0.03)
    assert out[2] == pytest.approx(0.06) and out[1] == pytest.approx(0.06)
    assert np.isnan(out[3])


def test_pairwise_tests_detect_a_real_difference():
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(
        [rng.normal(3, 0.1, 30), rng.normal(3, 0.1, 30), rng.normal(2, 0.1, 30)],
        index=["a", "b", "c"],
    )
    t = pairwise_tests(scores).set_index(["strategy_a", "strategy_b"])
    assert t.loc[("a", "c"), "t_pvalue_holm"] < 1e-6
    assert t.loc[("a", "c"), "ks_pvalue"] < 1e-6
    assert t.loc[("a", "b"), "t_pvalue"] > 0.01
    const = pairwise_tests(pd.DataFrame([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]], index=list("xyz")))
    c = const.set_index(["strategy_a", "strategy_b"])
    assert c.loc[("x", "y"), "t_pvalue"] == 1.0 and c.loc[("x", "z"), "t_pvalue"] == 0.0


def test_batched_bootstrap_draws_and_computes_as_the_one_sample_loop():
    data = np.random.default_rng(4)
    samples = [
        data.normal(size=10),
        data.integers(0, 3, size=10).astype(float),  # ties
        data.normal(size=7),  # odd size
        np.array([2.5]),  # too short: NaN, draws nothing
        data.normal(size=10),
        np.array([1.0, 1.0]),
        data.normal(size=2),
    ]
    fast = bootstrap_median_intervals(samples, np.random.default_rng(9), level=0.9)
    slow_rng = np.random.default_rng(9)
    slow = [_slow_bootstrap_median_interval(x, slow_rng, level=0.9) for x in samples]
    np.testing.assert_array_equal(np.array(fast), np.array(slow))
    for x, (lo, hi) in zip(samples, fast, strict=True):
        if len(x) >= 2:
            assert lo <= np.median(x) <= hi
    assert bootstrap_median_interval(samples[0], np.random.default_rng(9), 0.9) == fast[0]


def test_plays_interleaved_equal_the_concatenated_and_sorted_plays():
    from stackgame.tournaments.results import _matrix_plays, _matrix_plays_sorted

    spec = TournamentSpec(("random", "tit_for_tat", "defector"), turns=20, repetitions=3, seed=2)
    ok = Tournament(spec).play().matches
    pd.testing.assert_frame_equal(_matrix_plays(ok), _matrix_plays_sorted(ok), check_exact=True)
    shuffled = ok.sample(frac=1.0, random_state=0)  # not in index order: the sorting path
    pd.testing.assert_frame_equal(
        _matrix_plays(shuffled), _matrix_plays_sorted(ok), check_exact=True
    )


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful:RuntimeWarning")
def test_ks_rows_give_scipys_statistic_and_p_value_for_every_row():
    from scipy import stats

    from stackgame.tournaments.results import ks_2samp_rows

    data = np.random.default_rng(6)
    for n in (2, 5, 10):
        x = np.vstack([data.normal(size=(20, n)), data.integers(0, 3, size=(20, n)), np.ones(n)])
        y = np.vstack([data.normal(size=(20, n)), data.integers(0, 3, size=(20, n)), np.ones(n)])
        y[:5] += 2.0  # some clearly different rows
        d, p = ks_2samp_rows(x, y)
        for k in range(len(x)):
            expected = stats.ks_2samp(x[k], y[k])
            assert d[k] == expected.statistic and p[k] == expected.pvalue, (n, k)


@pytest.mark.parametrize(
    "names", [("random",), ("random", "defector", "tit_for_tat"), ("always_extract", "random")]
)
def test_wins_table_equals_the_grouped_sum(names):
    from stackgame.tournaments.results import _wins

    result = Tournament(TournamentSpec(names, turns=20, repetitions=3, seed=8)).play()
    ranked = result.plays[~result.plays["self_play"]]
    expected = (
        ranked.groupby(["strategy", "repetition"])["win"]
        .sum()
        .unstack()
        .reindex(index=list(names), columns=[0, 1, 2])
        .fillna(0)
        .astype(float)
    )
    got = _wins(ranked, list(names), [0, 1, 2])
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    pd.testing.assert_frame_equal(result.wins_by_repetition, got)
    ranking = result.ranking
    keys = list(
        zip(
            -ranking["median_score"].fillna(-np.inf),
            -ranking["mean_score"].fillna(-np.inf),
            ranking["strategy"],
            strict=True,
        )
    )
    assert keys == sorted(keys) and list(ranking["rank"]) == list(range(1, len(names) + 1))
