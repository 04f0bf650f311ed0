"""Tournaments as batches (resume, time limits) and on the stack."""

import argparse
import json

import numpy as np
import pytest
from stackgame.strategies import Action, Observation, Posture, all_strategies

from stackgame.errors import UserError
from stackgame.experiments.executor import ResultStore, execute
from stackgame.tournaments.matches import NoisyStrategy, play_task
from stackgame.tournaments.tournament import Tournament, TournamentSpec


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


def test_noisy_strategy_flips_postures_at_the_rate_asked():
    inner = all_strategies()["always_restrain"]()
    noisy = NoisyStrategy(inner, 0.2)
    noisy.reset(np.random.default_rng(1))
    obs = Observation(round=0, firm="x")
    moves = [noisy.decide(obs).default for _ in range(5000)]
    assert abs(np.mean([m == Posture.EXTRACT for m in moves]) - 0.2) < 0.02
    assert noisy.name == "always_restrain" and noisy.classifier.stochastic
    two_layers = Action(postures={"a": Posture.RESTRAIN, "b": Posture.EXTRACT})

    class Fixed(type(inner)):
        def decide(self, observation):
            return two_layers

    n2 = NoisyStrategy(Fixed(), 1.0)
    n2.reset(np.random.default_rng(0))
    flipped = n2.decide(obs)
    assert dict(flipped.postures) == {"a": Posture.EXTRACT, "b": Posture.RESTRAIN}


def _cli(argv):
    from stackgame.commands import tournament

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    tournament.register(sub)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_stack_tournament_end_to_end(tmp_path, capsys):
    argv = [
        "tournament",
        "--scenario",
        "ai-stack-2026",
        "--seats",
        "nvidia,openai",
        "--strategies",
        "always_restrain,always_extract",
        "--rounds",
        "4",
        "--repetitions",
        "1",
        "--seed",
        "3",
        "--out",
        str(tmp_path),
        "--json",
        "--no-plots",
    ]
    assert _cli(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["game"] == "stack" and out["profiles_total"] == 4 and out["matches"] == 4
    rank = {r["strategy"]: r for r in out["ranking"]}
    for r in rank.values():
        assert 0.0 <= r["mean_score"] <= 1.0
        assert 0.0 <= r["value_share"] <= 1.0
    assert rank["always_restrain"]["restraint_rate"] > rank["always_extract"]["restraint_rate"]
    seats = {(r["seat"], r["strategy"]) for r in out["per_seat"]}
    assert ("nvidia", "always_extract") in seats and ("openai", "always_restrain") in seats
    # each seat's normalised scores span [0, 1]
    for seat in ("nvidia", "openai"):
        scores = [r["score"] for r in out["per_seat"] if r["seat"] == seat]
        assert min(scores) < max(scores)
    assert (tmp_path / "per_seat.csv").exists()
    # rerun on the same folder: everything already recorded, nothing replayed
    assert _cli(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["ranking"] == out["ranking"]
    assert any("4 already recorded" in n for n in again["notes"])


def test_stack_seats_must_be_firms(tmp_path):
    with pytest.raises(UserError, match="not a firm"):
        _cli(
            [
                "tournament",
                "--seats",
                "nvidia,acme",
                "--strategies",
                "always_extract",
                "--out",
                str(tmp_path),
            ]
        )


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


def test_spec_file_with_calvano_profit_gain(tmp_path, capsys):
    spec = tmp_path / "cal.toml"
    spec.write_text(
        """
[tournament]
game = "stack"
scenario = "logit-bertrand-duopoly"
seats = ["firm_1", "firm_2"]
strategies = ["always_restrain", "always_extract"]
turns = 6
repetitions = 1
seed = 1
score_last = 3

[calvano]
nash_profit = 0.2229
monopoly_profit = 0.3375
paper_profit_gain = 0.85
"""
    )
    assert (
        _cli(
            [
                "tournament",
                "--spec",
                str(spec),
                "--out",
                str(tmp_path / "o"),
                "--json",
                "--no-plots",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    gain = out["calvano"]
    # four profiles: (N, N) gives 0, (M, M) gives 1, the mixed ones lie in between
    per = gain["per_match"]
    assert per[0] == pytest.approx(0.0, abs=1e-3) and per[3] == pytest.approx(1.0, abs=1e-3)
    assert gain["paper_profit_gain"] == 0.85
    bad = tmp_path / "bad.toml"
    bad.write_text("[tournament]\nstrategies = ['always_extract']\ncolour = 3\n")
    with pytest.raises(UserError, match="colour"):
        _cli(["tournament", "--spec", str(bad), "--out", str(tmp_path / "b")])
    with pytest.raises(UserError, match="no such file"):
        _cli(["tournament", "--spec", str(tmp_path / "none.toml"), "--out", str(tmp_path)])


def test_events_do_not_replace_a_contested_seats_strategy():
    from stackgame.tournaments.matches import play_stack
    from stackgame.tournaments.tournament import MatchSpec

    spec = TournamentSpec(
        ("always_restrain",), game="stack", seats=("nvidia",), turns=6, repetitions=1
    )
    # the built-in scenario's (disabled) trigger sets nvidia's strategy; enable it early
    from stackgame.simulation import simulate as sim

    build = sim.build

    def enabled(*a, **kw):
        kw["overrides"] = {
            "events.nvidia_value_pricing.enabled": True,
            "events.nvidia_value_pricing.round": 1,
        }
        return build(*a, **kw)

    sim.build = enabled
    try:
        row = play_stack(spec, MatchSpec(0, 0, ("always_restrain",), 1))
    finally:
        sim.build = build
    assert row["restraint_0"] == 1.0
