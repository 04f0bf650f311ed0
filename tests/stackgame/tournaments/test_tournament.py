import json

import pandas as pd
import pytest
from stackgame.strategies import all_strategies
from stackgame.strategies.registry import CLASSIC as CLASSIC_STRATEGIES

from stackgame.errors import UserError
from stackgame.experiments.executor import ResultStore, execute
from stackgame.tournaments.matches import play_task
from stackgame.tournaments.tournament import (
    Tournament,
    TournamentSpec,
    play_tournament,
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
    play_chunk = tournament_matches.play_chunk

    def failing_in_children(args):
        if os.getpid() != parent:
            raise ValueError("broken strategy in a worker")
        time.sleep(0.02)  # leave the child blocks to take
        return play_chunk(args)

    monkeypatch.setattr(tournament_matches, "play_chunk", failing_in_children)
    names = ("random", "tit_for_tat", "defector", "grudger")
    spec = TournamentSpec(names, turns=2000, repetitions=4, seed=1)
    with pytest.raises(ValueError, match="broken strategy in a worker"):
        Tournament(spec).play(processes=2)


def test_pool_play_where_fork_is_unavailable_gives_the_serial_rows(monkeypatch):
    from stackgame.experiments import executor

    monkeypatch.setattr(executor, "can_fork", lambda: False)
    names = ("random", "generous_tit_for_tat", "tit_for_tat")
    spec = TournamentSpec(names, turns=20, repetitions=3, seed=6, noise=0.02)
    serial = Tournament(spec).play()
    pooled = Tournament(spec).play(processes=2)
    cols = [c for c in serial.matches.columns if c != "elapsed_seconds"]
    pd.testing.assert_frame_equal(serial.matches[cols], pooled.matches[cols])


def _spec(**kw):
    names = [
        n for n in ("random", "generous_tit_for_tat", "always_extract") if n in all_strategies()
    ]
    return TournamentSpec(tuple(names), **{"turns": 30, "repetitions": 3, "seed": 2, **kw})


def test_resume_plays_only_unfinished_matches_and_gives_the_same_result(tmp_path):
    spec = _spec()
    t = Tournament(spec)
    store = ResultStore(tmp_path / "matches")
    execute(t.tasks()[:5], play_task, store=store, progress=False)  # "killed" after five
    before = store.read().set_index("run_id")["elapsed_seconds"]
    result = t.play(store=store)
    assert t.execution.done_before == 5 and t.execution.ran == len(t.tasks()) - 5
    after = result.matches.set_index("run_id")["elapsed_seconds"]
    assert (after[before.index] == before).all()  # the first five were not replayed
    memory = Tournament(spec).play()
    assert result.to_dict()["ranking"] == memory.to_dict()["ranking"]
    assert result.to_dict()["payoff_matrix"] == memory.to_dict()["payoff_matrix"]
    # every match row records its seed and configuration
    row = result.matches.iloc[0]
    assert row["seed"] == t.schedule.matches[0].seed
    assert json.loads(row["spec"])["seed"] == 2 and row["strategy_0"] == spec.strategies[0]


def test_a_hanging_match_is_stopped_and_recorded(tmp_path):
    spec = TournamentSpec(("always_restrain", "always_extract"), turns=5_000_000, repetitions=1)
    t = Tournament(spec)
    result = t.play(store=ResultStore(tmp_path / "m"), timeout=0.5)
    assert set(result.matches["status"]) == {"timeout"}
    assert any("timeout" in n for n in result.notes)
    assert t.execution.timed_out == 3


def test_strategy_params_reach_the_strategies_and_are_validated():
    if "generous_tit_for_tat" not in all_strategies():
        pytest.skip("generous_tit_for_tat not registered")
    names = ("generous_tit_for_tat", "always_extract")
    never = TournamentSpec(
        names, turns=50, repetitions=2, strategy_params={"generous_tit_for_tat": {"p": 0.0}}
    )
    always = TournamentSpec(
        names, turns=50, repetitions=2, strategy_params={"generous_tit_for_tat": {"p": 1.0}}
    )
    m0 = Tournament(never).play().payoff_matrix
    m1 = Tournament(always).play().payoff_matrix
    # forgiving never is tit-for-tat against a defector; forgiving always is a cooperator
    assert m0.loc["generous_tit_for_tat", "always_extract"] == pytest.approx(49 / 50)
    assert m1.loc["generous_tit_for_tat", "always_extract"] == 0.0
    with pytest.raises(UserError, match="p must be"):
        TournamentSpec(names, strategy_params={"generous_tit_for_tat": {"p": 2.0}})
    with pytest.raises(UserError, match="not one of the strategies"):
        TournamentSpec(names, strategy_params={"tit_for_tat": {}})
    with pytest.raises(UserError, match="unexpected keyword"):
        TournamentSpec(names, strategy_params={"always_extract": {"colour": 1}})
