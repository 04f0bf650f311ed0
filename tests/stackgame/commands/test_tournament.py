import argparse
import json

import pandas as pd
import pytest
from stackgame.strategies import all_strategies

from stackgame.errors import UserError
from stackgame.tournaments.tournament import (
    TournamentSpec,
)


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


def _spec(**kw):
    names = [
        n for n in ("random", "generous_tit_for_tat", "always_extract") if n in all_strategies()
    ]
    return TournamentSpec(tuple(names), **{"turns": 30, "repetitions": 3, "seed": 2, **kw})


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
