import argparse
import json

import numpy as np
import pandas as pd
import pytest

from stackgame.errors import UserError
from stackgame.evolution.dynamics import (
    fixation_probability,
    moran_process,
    replicator,
    simulated_fixation,
)

PD = pd.DataFrame([[3.0, 0.0], [5.0, 1.0]], index=["c", "d"], columns=["c", "d"])
# 2x2 coordination game, action 0 payoff-dominant (stag hunt)
STAG = pd.DataFrame([[4.0, 0.0], [3.0, 2.0]], index=["stag", "hare"], columns=["stag", "hare"])


def test_neutral_drift_fixation_is_one_over_n():
    assert fixation_probability(PD, 0, 1, 10, intensity=0.0) == pytest.approx(0.1)


def test_moran_simulation_matches_nowak_formula():
    exact = fixation_probability(PD, 1, 0, 8, intensity=0.5)
    runs = 600
    sim = simulated_fixation(PD, 1, 0, 8, runs=runs, intensity=0.5, seed=4)
    se = np.sqrt(exact * (1 - exact) / runs)
    assert abs(sim - exact) < 4 * se
    # defection is favoured in the PD: a defector mutant beats neutral, a cooperator doesn't
    assert exact > 1 / 8 > fixation_probability(PD, 0, 1, 8, intensity=0.5)


def test_moran_is_seeded_and_stops_at_fixation():
    a = moran_process(PD, [5, 5], steps=100_000, seed=3)
    b = moran_process(PD, [5, 5], steps=100_000, seed=3)
    assert np.array_equal(a.counts, b.counts)
    assert a.fixated in ("c", "d") and a.fixation_step == len(a.counts) - 1
    assert (a.counts.sum(axis=1) == 10).all()
    assert a.shares.iloc[-1][a.fixated] == 1.0
    c = moran_process(PD, [5, 5], steps=100_000, seed=4)
    assert not np.array_equal(a.counts, c.counts) or a.fixated != c.fixated


def test_moran_with_mutation_keeps_running():
    r = moran_process(PD, [10, 0], steps=2000, mutation=0.05, seed=1)
    assert r.fixated is None and len(r.counts) == 2001
    assert r.counts[:, 1].max() > 0  # mutants appeared
    assert r.to_dict()["final_counts"]["c"] + r.to_dict()["final_counts"]["d"] == 10


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(initial=[1, 0]), "at least 2"),
        (dict(initial=[5, 5, 5]), "2 non-negative counts"),
        (dict(initial=[5, 5], intensity=2.0), "intensity"),
        (dict(initial=[5, 5], mutation=-0.1), "mutation"),
    ],
)
def test_moran_bad_input(kwargs, message):
    with pytest.raises(UserError, match=message):
        moran_process(PD, **kwargs)


def test_bad_matrices():
    with pytest.raises(UserError, match="square"):
        replicator(np.ones((2, 3)))
    with pytest.raises(UserError, match="non-finite"):
        replicator(pd.DataFrame([[1, np.nan], [0, 1]], index=["a", "b"], columns=["a", "b"]))


def test_replicator_pd_goes_to_defection_and_stag_hunt_to_the_basin():
    r = replicator(PD, [0.99, 0.01], steps=300)
    assert r.shares.iloc[-1]["d"] > 0.999
    assert np.allclose(r.shares.sum(axis=1), 1.0)
    # the mixed rest point of the stag hunt is x_stag = 2/3: above it, stag takes over
    up = replicator(STAG, [0.7, 0.3], steps=300).shares.iloc[-1]
    down = replicator(STAG, [0.6, 0.4], steps=300).shares.iloc[-1]
    assert up["stag"] > 0.999 and down["hare"] > 0.999
    # the interior rest point stays put
    rest = replicator(STAG, [2 / 3, 1 / 3], steps=50).shares.iloc[-1]
    assert rest["stag"] == pytest.approx(2 / 3)


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
