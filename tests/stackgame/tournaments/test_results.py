"""What a tournament produced: ranking, payoff matrix, intervals, pairwise tests, files."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def small():
    spec = TournamentSpec(("tit_for_tat", "defector", "cooperator"), turns=10, repetitions=3)
    return Tournament(spec).play()


def test_write_csv_and_parquet_hold_the_same_tables(small, tmp_path):
    csv = small.write(tmp_path / "csv")
    pq = small.write(tmp_path / "pq", fmt="parquet")
    assert [p.name for p in csv][-1] == "result.json"
    assert [p.stem for p in csv] == [p.stem for p in pq]
    for a, b in zip(csv[:-1], pq[:-1], strict=True):
        keep = a.stem in ("payoff_matrix", "scores")
        left = pd.read_csv(a, index_col=0 if keep else None)
        right = pd.read_parquet(b)
        left.columns = [str(c) for c in left.columns]
        right.columns = [str(c) for c in right.columns]
        pd.testing.assert_frame_equal(  # CSV reads a missing error back as NaN, not None
            left.reset_index(drop=True).fillna(-1),
            right.reset_index(drop=True).fillna(-1),
            check_dtype=False,
        )
    assert (tmp_path / "csv" / "result.json").read_text() == small.to_json() + "\n"
    assert "per_seat" not in {p.stem for p in csv}  # matrix games have no seats


def test_write_refuses_an_unknown_format(small, tmp_path):
    from stackgame.errors import UserError

    with pytest.raises(UserError, match="format: use csv or parquet, not 'xlsx'"):
        small.write(tmp_path, fmt="xlsx")
    assert not any(tmp_path.iterdir())


def test_json_is_strict_nan_becomes_null():
    import json

    spec = TournamentSpec(("tit_for_tat", "defector"), turns=5, repetitions=1)
    result = Tournament(spec).play()  # one repetition: no interval, NaN bounds
    text = result.to_json()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert all(r["ci_low"] is None and r["ci_high"] is None for r in data["ranking"])


def test_summary_text_lists_the_ranking(small):
    text = small.summary_text()
    for name in small.ranking["strategy"]:
        assert name in text
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if "defector" in line or "tit_for_tat" in line)
    assert lines[first].split()[1] == small.ranking["strategy"].iloc[0]


def test_best_in_repetition_marks_only_a_strict_single_best():
    from stackgame.tournaments.results import _best_in_repetition

    ok = pd.DataFrame(
        {"repetition": [0, 0, 0, 1, 1, 2], "payoff_0": [1.0, 3.0, 2.0, 5.0, 5.0, 9.0]}
    )
    # repetition 0: match 1 is best; repetition 1: a tie, no winner; repetition 2: alone
    assert _best_in_repetition(ok, "payoff_0").tolist() == [0, 1, 0, 0, 0, 0]


def _stack_like(payoffs):
    """A stand-in TournamentResult for profit_gain: two seats, the given payoffs."""
    from types import SimpleNamespace

    rows = [{"status": "ok", "payoff_0": a, "payoff_1": b} for a, b in payoffs] + [
        {"status": "error", "payoff_0": np.nan, "payoff_1": np.nan}
    ]
    spec = SimpleNamespace(seats=("a", "b"))
    return SimpleNamespace(matches=pd.DataFrame(rows), spec=spec)


def test_profit_gain_is_calvanos_delta_with_a_t_interval():
    from stackgame.tournaments.results import profit_gain

    # Nash 1, monopoly 3: payoffs 1 -> 0, 3 -> 1, 2 -> 0.5; failed matches are left out
    out = profit_gain(_stack_like([(1.0, 3.0), (2.0, 2.0), (3.0, 3.0)]), 1.0, 3.0)
    assert out["per_match"] == [0.5, 0.5, 1.0]
    assert out["profit_gain"] == pytest.approx(2 / 3)
    from stackgame.stats import t_interval

    assert (out["ci_low"], out["ci_high"]) == t_interval(np.array([0.5, 0.5, 1.0]))
    assert out["nash_profit"] == 1.0 and out["monopoly_profit"] == 3.0


def test_profit_gain_needs_monopoly_above_nash():
    from stackgame.errors import UserError
    from stackgame.tournaments.results import profit_gain

    with pytest.raises(UserError, match="monopoly_profit must exceed nash_profit"):
        profit_gain(_stack_like([(1.0, 1.0)]), 2.0, 2.0)
