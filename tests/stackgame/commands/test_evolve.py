"""``stackgame evolve``: a tournament's payoff matrix through Moran or replicator dynamics."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from stackgame.errors import UserError


def _cli(argv):
    from stackgame.commands import evolve

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    evolve.register(sub)
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_plays_a_tournament_then_evolves(tmp_path, capsys):
    argv = [
        "evolve",
        "--strategies",
        "always_restrain,always_extract",
        "--turns",
        "10",
        "--repetitions",
        "2",
        "--population",
        "12",
        "--seed",
        "5",
        "--json",
        "--out",
        str(tmp_path),
    ]
    assert _cli(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dynamics"] == "moran" and out["fixated"] in ("always_restrain", "always_extract")
    assert out["payoff_matrix"]["always_extract"]["always_restrain"] == 5.0
    assert (tmp_path / "population_shares.png").stat().st_size > 1000
    shares = pd.read_csv(tmp_path / "shares.csv", index_col=0)
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert _cli(argv) == 0
    assert json.loads(capsys.readouterr().out) == out


def test_cli_bad_input(tmp_path):
    with pytest.raises(UserError, match="--strategies"):
        _cli(["evolve", "--out", str(tmp_path)])
    with pytest.raises(UserError, match="not found"):
        _cli(["evolve", "--from", str(tmp_path / "nope"), "--out", str(tmp_path)])
    with pytest.raises(UserError, match="--initial"):
        _cli(
            [
                "evolve",
                "--strategies",
                "always_restrain,always_extract",
                "--turns",
                "3",
                "--repetitions",
                "1",
                "--initial",
                "1,2,3",
                "--out",
                str(tmp_path),
            ]
        )


def _tournament_folder(tmp_path, capsys):
    from stackgame.cli import main

    folder = tmp_path / "tour"
    argv = ["tournament", "--strategies", "tit_for_tat,defector,cooperator", "--turns", "20"]
    argv += ["--repetitions", "2", "--no-plots", "--json", "--out", str(folder)]
    assert main(argv) == 0
    capsys.readouterr()
    return folder


def test_replicator_from_a_tournament_folder_follows_its_payoffs(tmp_path, capsys):
    folder = _tournament_folder(tmp_path, capsys)
    data = json.loads((folder / "result.json").read_text())
    out = tmp_path / "evo"
    argv = ["evolve", "--from", str(folder), "--dynamics", "replicator", "--steps", "300"]
    assert _cli([*argv, "--json", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["source"]["from"] == str(folder)
    assert result["source"]["tournament"] == data["spec"]
    # the matrix is the tournament's, rows and columns in ranking order
    ranking = [r["strategy"] for r in data["ranking"]]
    assert list(result["payoff_matrix"]) == ranking
    for a in ranking:
        for b in ranking:
            assert result["payoff_matrix"][a][b] == pytest.approx(data["payoff_matrix"][a][b])
    shares = pd.read_csv(out / "shares.csv", index_col=0)
    assert len(shares) == 301 and np.allclose(shares.sum(axis=1), 1.0)
    # cooperators are exploited by the defector: their share falls from the uniform start
    assert shares["cooperator"].iloc[-1] < shares["cooperator"].iloc[0]
    assert (out / "manifest.json").exists() and (out / "evolution.json").exists()


def test_text_output_names_every_strategy_and_the_fixation(tmp_path, capsys):
    folder = _tournament_folder(tmp_path, capsys)
    argv = ["evolve", "--from", str(folder), "--population", "9", "--seed", "2"]
    assert _cli([*argv, "--out", str(tmp_path / "evo")]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("Moran process, N=9, w=")
    assert text[0].endswith("seed 2")
    assert {line.split()[0] for line in text[1:4]} == {"tit_for_tat", "defector", "cooperator"}
    assert text[-1] == f"wrote {tmp_path / 'evo'}"


def test_initial_counts_are_used(tmp_path, capsys):
    folder = _tournament_folder(tmp_path, capsys)
    argv = ["evolve", "--from", str(folder), "--initial", "1,1,4", "--steps", "5", "--json"]
    assert _cli([*argv, "--out", str(tmp_path / "evo")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["params"]["initial"] == [1, 1, 4]
    assert result["params"]["population"] == 6


def test_a_folder_without_a_payoff_matrix_is_one_clear_error(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "result.json").write_text('{"ranking": []}')
    with pytest.raises(UserError, match="no readable payoff_matrix"):
        _cli(["evolve", "--from", str(folder), "--out", str(tmp_path / "o")])


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--initial", "1,x"], "--initial: expected comma-separated numbers"),
        (["--strategies", "defector"], "at least two strategies"),
    ],
)
def test_bad_numbers_and_too_few_strategies(tmp_path, extra, match):
    argv = ["evolve", "--strategies", "defector,cooperator", "--turns", "3"]
    argv += ["--repetitions", "1", "--out", str(tmp_path)]
    with pytest.raises(UserError, match=match):
        _cli([*argv, *extra])
