import argparse
import json

import numpy as np
import pandas as pd
import pytest
from stackgame.strategies import all_strategies
from stackgame.strategies.registry import CLASSIC as CLASSIC_STRATEGIES

from stackgame.errors import UserError
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
    match_seed,
    match_seeds,
    play_tournament,
    schedule,
)

CLASSIC = list(CLASSIC_STRATEGIES)


def _have(*names):
    known = all_strategies()
    missing = [n for n in names if n not in known]
    if missing:
        pytest.skip(f"strategies not registered yet: {missing}")


def test_fixed_strategies_give_textbook_payoffs():
    r = play_tournament(["always_restrain", "always_extract"], turns=20, repetitions=3, seed=4)
    m = r.payoff_matrix
    assert m.loc["always_restrain", "always_restrain"] == 3.0
    assert m.loc["always_restrain", "always_extract"] == 0.0
    assert m.loc["always_extract", "always_restrain"] == 5.0
    assert m.loc["always_extract", "always_extract"] == 1.0
    # self-play excluded from the ranking scores, as in Axelrod
    top = r.ranking.iloc[0]
    assert top["strategy"] == "always_extract"
    assert top["median_score"] == 5.0 and top["wins"] == 3
    assert r.ranking.iloc[1]["median_score"] == 0.0
    assert r.ranking.iloc[1]["restraint_rate"] == 1.0
    assert r.ranking.iloc[0]["value_share"] == 1.0


def test_classic_tournament_ranks_as_axelrod():
    _have(*CLASSIC)
    r = play_tournament(CLASSIC, turns=200, repetitions=5, seed=1)
    # Axelrod 4.14, same ten strategies, 200 turns: this order (seed-independent at the
    # top); the ranks of the noisy-scoring tail may swap with the seed.
    assert list(r.ranking["strategy"][:5]) == [
        "tit_for_tat",
        "grudger",
        "generous_tit_for_tat",
        "tit_for_two_tats",
        "win_stay_lose_shift",
    ]
    m = r.payoff_matrix
    assert m.loc["tit_for_tat", "defector"] == pytest.approx(0.995)
    assert m.loc["cooperator", "suspicious_tit_for_tat"] == pytest.approx(2.985)
    assert m.loc["tit_for_tat", "tit_for_tat"] == 3.0
    assert m.loc["alternator", "alternator"] == 2.0
    assert r.ranking.set_index("strategy").loc["defector", "wins"] == 5 * 8
    lo, hi = r.ranking.iloc[0][["ci_low", "ci_high"]]
    assert lo <= r.ranking.iloc[0]["mean_score"] <= hi


def test_same_seed_same_result_serial_or_parallel():
    _have("random", "generous_tit_for_tat", "tit_for_tat")
    names = ["random", "generous_tit_for_tat", "tit_for_tat", "always_extract"]
    spec = TournamentSpec(tuple(names), turns=30, repetitions=4, noise=0.05, seed=9)
    serial = Tournament(spec).play()
    parallel = Tournament(spec).play(processes=2)
    cols = [c for c in serial.matches.columns if c != "elapsed_seconds"]
    pd.testing.assert_frame_equal(serial.matches[cols], parallel.matches[cols])
    a, b = serial.to_dict(), parallel.to_dict()
    a.pop("elapsed_seconds"), b.pop("elapsed_seconds")
    assert a == b
    other = Tournament(TournamentSpec(tuple(names), turns=30, repetitions=4, noise=0.05, seed=10))
    assert not other.play().matches["score_0"].equals(serial.matches["score_0"])


def test_schedule_is_stable_and_seeds_are_per_match():
    spec = TournamentSpec(("always_restrain", "always_extract"), repetitions=3, seed=5)
    s = schedule(spec)
    assert s.profiles_total == 3 and len(s.matches) == 9
    assert [m.profile for m in s.matches[:3]] == [("always_restrain", "always_restrain")] * 3
    assert s.matches[4].seed == match_seed(5, 4) == match_seeds(5, 100)[4]
    assert len({m.seed for m in s.matches}) == 9
    assert s.matches[4].run_id == "m0000004"
    # a longer tournament keeps the seeds of the matches it shares
    more = schedule(TournamentSpec(("always_restrain", "always_extract"), repetitions=3, seed=5))
    assert more.matches[8].seed == s.matches[8].seed


def test_stack_schedule_plays_every_profile_or_a_seeded_sample():
    names = ("always_restrain", "always_extract")
    spec = TournamentSpec(names, game="stack", seats=("nvidia", "openai", "tsmc"), repetitions=2)
    s = schedule(spec)
    assert s.profiles_total == 8 and s.profiles_played == 8 and not s.sampled
    assert len({m.profile for m in s.matches}) == 8
    small = TournamentSpec(
        names, game="stack", seats=("nvidia", "openai", "tsmc"), max_profiles=3, seed=2
    )
    t = schedule(small)
    assert t.sampled and t.profiles_played == 3 and len(t.matches) == 30
    assert schedule(small) == t
    assert schedule(TournamentSpec(**{**small.to_dict(), "seed": 3})) != t


def test_probabilistic_end_and_noise():
    r = play_tournament(
        ["always_restrain", "always_extract"],
        turns=None,
        prob_end=0.05,
        noise=0.1,
        repetitions=10,
        seed=3,
    )
    turns = r.matches["turns"]
    assert turns.nunique() > 1 and 5 < turns.mean() < 60
    coop = r.ranking.set_index("strategy").loc["always_restrain", "restraint_rate"]
    assert 0.75 < coop < 0.97


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(strategies=("nope",)), "unknown strategy"),
        (dict(strategies=("always_extract", "always_extract")), "more than once"),
        (dict(strategies=("always_extract",), noise=2.0), "noise"),
        (dict(strategies=("always_extract",), repetitions=0), "repetitions"),
        (dict(strategies=("always_extract",), turns=0), "turns"),
        (dict(strategies=("always_extract",), prob_end=1.5), "prob_end"),
        (dict(strategies=("always_extract",), game="go"), "unknown game"),
        (dict(strategies=("always_extract",), game="stack"), "seats"),
        (dict(strategies=("always_extract",), seats=("nvidia",)), "only a stack"),
    ],
)
def test_bad_spec_is_one_clear_error(kwargs, message):
    with pytest.raises(UserError, match=message):
        TournamentSpec(**kwargs)


def test_spec_round_trips_and_rejects_unknown_fields():
    spec = TournamentSpec(("always_extract",), noise=0.1, seed=3)
    assert TournamentSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(UserError, match="colour"):
        TournamentSpec.from_dict({**spec.to_dict(), "colour": 1})


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


def _cli(argv):
    from stackgame.commands import tournament

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    tournament.register(sub)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_json_has_the_documented_fields(tmp_path, capsys):
    code = _cli(
        [
            "tournament",
            "--game",
            "prisoners-dilemma",
            "--strategies",
            "always_restrain,always_extract",
            "--turns",
            "10",
            "--repetitions",
            "2",
            "--seed",
            "1",
            "--json",
            "--out",
            str(tmp_path / "t"),
            "--no-plots",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["strategy"] for r in out["ranking"]] == ["always_extract", "always_restrain"]
    assert set(out["ranking"][0]) >= {"strategy", "median_score", "mean_score", "wins"}
    assert out["payoff_matrix"]["always_extract"]["always_restrain"] == 5.0
    assert out["payoff_matrix"]["always_restrain"]["always_restrain"] == 3.0
    assert out["elapsed_seconds"] >= 0
    for name in (
        "ranking.csv",
        "payoff_matrix.csv",
        "matches.csv",
        "result.json",
        "manifest.json",
        "pairwise.csv",
    ):
        assert (tmp_path / "t" / name).exists()


def test_cli_writes_plots_and_parquet(tmp_path, capsys):
    code = _cli(
        [
            "tournament",
            "--strategies",
            "always_restrain,always_extract",
            "--turns",
            "5",
            "--repetitions",
            "3",
            "--out",
            str(tmp_path),
            "--format",
            "parquet",
        ]
    )
    assert code == 0
    assert "always_extract" in capsys.readouterr().out
    for name in ("scores_boxplot", "payoff_heatmap", "wins", "value_share"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert len(pd.read_parquet(tmp_path / "matches.parquet")) == 9


def test_cli_refuses_to_mix_two_tournaments_in_one_folder(tmp_path):
    base = [
        "tournament",
        "--strategies",
        "always_restrain,always_extract",
        "--turns",
        "5",
        "--repetitions",
        "1",
        "--out",
        str(tmp_path),
        "--no-plots",
    ]
    assert _cli(base + ["--seed", "1"]) == 0
    with pytest.raises(UserError, match="different tournament"):
        _cli(base + ["--seed", "2"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategies", "always_extract,bogus"], "bogus"),
        (["--strategies", ","], "--strategies"),
        (["--strategies", "always_extract", "--processes", "0"], "--processes"),
        (["--strategies", "always_extract", "--game", "chess"], "unknown game"),
        (["--strategies", "always_extract", "--game", "chicken", "--seats", "nvidia"], "stack"),
    ],
)
def test_cli_bad_input_raises_user_error(tmp_path, argv, message):
    with pytest.raises(UserError, match=message):
        _cli(["tournament", *argv, "--out", str(tmp_path)])


def test_reusing_seed_free_matches_changes_no_result(monkeypatch):
    """A stochastic pair whose match drew nothing is played once; the tables are unchanged."""
    from stackgame.tournaments import matches as tournament_matches

    names = ("generous_tit_for_tat", "cooperator", "tit_for_tat", "random", "defector")
    spec = TournamentSpec(names, turns=40, repetitions=4, seed=3)
    tournament_matches._MATCH_CACHE.clear()
    fast = Tournament(spec).play()
    assert any(k[1].classifier.stochastic for k in tournament_matches._MATCH_CACHE)

    class NoCache(dict):
        def __setitem__(self, key, value):
            pass

    monkeypatch.setattr(tournament_matches, "_MATCH_CACHE", NoCache())
    slow = Tournament(spec).play()
    columns = [c for c in fast.matches.columns if c != "elapsed_seconds"]
    pd.testing.assert_frame_equal(fast.matches[columns], slow.matches[columns])
    pd.testing.assert_frame_equal(fast.ranking, slow.ranking)


def _slow_bootstrap_median_interval(x, rng, level=0.95):
    """The textbook loop: resample with rng.choice, median of each, percentiles."""
    if len(x) < 2:
        return (float("nan"), float("nan"))
    medians = np.median(rng.choice(x, size=(BOOTSTRAP_RESAMPLES, len(x)), replace=True), axis=1)
    lo, hi = np.quantile(medians, [0.5 - level / 2, 0.5 + level / 2])
    return (float(lo), float(hi))


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


@pytest.mark.parametrize("processes", [2, 3])
def test_forked_play_gives_the_serial_rows(processes):
    names = ("random", "generous_tit_for_tat", "grudger", "alternator", "defector")
    for extra in ({"turns": 25}, {"prob_end": 0.05, "turns": None}):
        spec = TournamentSpec(names, repetitions=3, seed=4, **extra)
        serial = Tournament(spec).play()
        forked = Tournament(spec).play(processes=processes, progress=True)
        cols = [c for c in serial.matches.columns if c != "elapsed_seconds"]
        pd.testing.assert_frame_equal(serial.matches[cols], forked.matches[cols])
        pd.testing.assert_frame_equal(serial.ranking, forked.ranking)


def test_an_error_in_a_forked_worker_reaches_the_caller(monkeypatch):
    import os
    import time

    from stackgame.tournaments import matches as tournament_matches

    parent = os.getpid()
    play_chunk = tournament_matches._play_chunk

    def failing_in_children(args):
        if os.getpid() != parent:
            raise ValueError("broken strategy in a worker")
        time.sleep(0.02)  # leave the child blocks to take
        return play_chunk(args)

    monkeypatch.setattr(tournament_matches, "_play_chunk", failing_in_children)
    names = ("random", "tit_for_tat", "defector", "grudger")
    spec = TournamentSpec(names, turns=2000, repetitions=4, seed=1)
    with pytest.raises(ValueError, match="broken strategy in a worker"):
        Tournament(spec).play(processes=2)


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


def test_pool_play_where_fork_is_unavailable_gives_the_serial_rows(monkeypatch):
    from stackgame.tournaments import tournament

    monkeypatch.setattr(tournament, "_can_fork", lambda: False)
    names = ("random", "generous_tit_for_tat", "tit_for_tat")
    spec = TournamentSpec(names, turns=20, repetitions=3, seed=6, noise=0.02)
    serial = Tournament(spec).play()
    pooled = Tournament(spec).play(processes=2)
    cols = [c for c in serial.matches.columns if c != "elapsed_seconds"]
    pd.testing.assert_frame_equal(serial.matches[cols], pooled.matches[cols])
