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
