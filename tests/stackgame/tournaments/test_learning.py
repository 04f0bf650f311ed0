"""Learning at the paper's scale: the protocol, sessions, profit gains and the report."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from stackgame.strategies.learners import QLearning

from stackgame.cli import main
from stackgame.errors import UserError
from stackgame.tournaments import learning
from stackgame.tournaments.learning import LearningProtocol
from stackgame.tournaments.matches import play_stack
from stackgame.tournaments.tournament import MatchSpec, TournamentSpec, match_seed

DUOPOLY = "logit-bertrand-duopoly"


LEARNING_SPEC = """
[tournament]
game = "stack"
scenario = "logit-bertrand-duopoly"
seats = ["firm_1", "firm_2"]
strategies = ["q_learning"]
turns = 200000
repetitions = 2
seed = 4
score_last = 100
[strategy_params.q_learning]
gamma = 0.95
[learning]
stable_periods = 1000
q_init = "uniform_rival"
alpha = [0.15, 0.3]
beta = [1e-4]
[calvano]
nash_profit = 0.2229
monopoly_profit = 0.3375
paper_profit_gain = 0.85
paper_periods = 850000
"""


def test_a_learning_spec_runs_sessions_to_convergence(tmp_path, capsys):
    spec = tmp_path / "learn.toml"
    spec.write_text(LEARNING_SPEC)
    argv = ["tournament", "--spec", str(spec), "--out", str(tmp_path / "o"), "--json"]
    assert main([*argv, "--processes", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sessions"] == 4 and out["converged"] == 4
    assert [(c["alpha"], c["beta"], c["sessions"]) for c in out["grid"]] == [
        (0.15, 1e-4, 2), (0.3, 1e-4, 2)]  # fmt: skip
    assert -1.0 < out["profit_gain"]["mean"] < 1.5
    assert out["paper"] == {"profit_gain": 0.85, "periods": 850000}
    assert (tmp_path / "o" / "heat_map.png").exists()
    rows = (tmp_path / "o" / "sessions.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith("point,session,seed,alpha,beta,periods")
    # serial play gives the same sessions
    assert main([*argv, "--out", str(tmp_path / "serial")]) == 0
    capsys.readouterr()
    assert (tmp_path / "serial" / "sessions.csv").read_text().splitlines() == rows


def test_without_the_rule_a_session_is_the_tournaments_match(tmp_path, capsys):
    spec = tmp_path / "learn.toml"
    text = LEARNING_SPEC.replace("turns = 200000", "turns = 400").replace(
        "stable_periods = 1000", "stable_periods = 0").replace(
        'q_init = "uniform_rival"', 'q_init = "first_payoff"').replace(
        "alpha = [0.15, 0.3]", "alpha = [0.3]")  # fmt: skip
    spec.write_text(text)
    assert main(["tournament", "--spec", str(spec), "--out", str(tmp_path / "o"), "--json"]) == 0
    capsys.readouterr()
    first = (tmp_path / "o" / "sessions.csv").read_text().splitlines()[1].split(",")
    tspec = TournamentSpec(("q_learning",), game="stack", scenario=DUOPOLY,
                           seats=("firm_1", "firm_2"), turns=400, repetitions=2, seed=4,
                           score_last=100,
                           strategy_params={"q_learning": {"gamma": 0.95, "alpha": 0.3,
                                                           "beta": 1e-4}})  # fmt: skip
    row = play_stack(tspec, MatchSpec(0, 0, ("q_learning", "q_learning"), match_seed(4, 0)))
    header = (tmp_path / "o" / "sessions.csv").read_text().splitlines()[0].split(",")
    got = dict(zip(header, first, strict=True))
    assert float(got["payoff_firm_1"]) == row["payoff_0"]
    assert float(got["payoff_firm_2"]) == row["payoff_1"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("stable_periods = 1000", "stable_periods = -1"), "stable_periods: must be"),
        (('q_init = "uniform_rival"', 'q_init = "zero"'), "q_init: must be one of"),
        (("beta = [1e-4]", "beta = [0.0]"), "beta: 0.0 is not in"),
        (("beta = [1e-4]", "beta = [1e-4]\ncolour = 1"), "unknown field"),
        (('strategies = ["q_learning"]', 'strategies = ["q_learning", "exp3"]'), "strategies"),
        (('seats = ["firm_1", "firm_2"]', 'seats = ["firm_1"]'), "every firm"),
        (("nash_profit = 0.2229\n", ""), "nash_profit"),
    ],
)
def test_bad_learning_specs_are_one_line_and_exit_2(tmp_path, capsys, edit, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(LEARNING_SPEC.replace(*edit))
    assert main(["tournament", "--spec", str(spec), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_protocol_points_default_to_the_strategy_parameters():
    base = QLearning(alpha=0.2, beta=1e-5)
    assert LearningProtocol().points(base) == [(0.2, 1e-5)]
    assert LearningProtocol(alpha=(0.1, 0.2), beta=(1e-6,)).points(base) == [
        (0.1, 1e-6), (0.2, 1e-6)]  # fmt: skip


def test_protocol_from_table_reads_every_field() -> None:
    p = LearningProtocol.from_table(
        {"stable_periods": 10, "q_init": "uniform_rival", "alpha": [0.1, 1], "beta": [2e-6]}
    )
    assert p == LearningProtocol(10, "uniform_rival", (0.1, 1.0), (2e-6,))
    assert LearningProtocol.from_table({}) == LearningProtocol()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"stable_periods": True}, "stable_periods: must be a non-negative integer"),
        ({"stable_periods": 1.5}, "stable_periods: must be a non-negative integer"),
        ({"alpha": 0.1}, "alpha: must be a list of numbers"),
        ({"alpha": [True]}, "alpha: must be a list of numbers"),
        ({"alpha": [1.5]}, r"alpha: 1.5 is not in \(0, 1\]"),
        ({"alpha": [0]}, r"alpha: 0 is not in \(0, 1\]"),
        ({"beta": [float("inf")]}, r"beta: inf is not in \(0, inf\)"),
        ({"beta": [1e-5, 1e-5]}, "beta: a value is listed twice"),
        ({"gamma": 0.9, "alpha": []}, r"unknown field\(s\) gamma \(known: stable_periods"),
    ],
)
def test_protocol_from_table_names_the_bad_field(table, message) -> None:
    with pytest.raises(UserError, match=r"^\[sweep\][.:] ?" + message):
        LearningProtocol.from_table(table, where="[sweep]")


def _spec(**changes):
    base = dict(game="stack", scenario=DUOPOLY, seats=("firm_1", "firm_2"), turns=10,
                repetitions=1)  # fmt: skip
    base.update(changes)
    return TournamentSpec(("q_learning",), **base)


def test_check_spec_gives_the_stage_table() -> None:
    assert tuple(learning.check_spec(_spec()).firms) == ("firm_1", "firm_2")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SimpleNamespace(is_stack=False), "game = \"stack\""),
        (SimpleNamespace(is_stack=True, strategies=("tit_for_tat",)), "must be"),
        (SimpleNamespace(is_stack=True, strategies=("q_learning",), noise=0.1, prob_end=None),
         "no noise"),
        (SimpleNamespace(is_stack=True, strategies=("q_learning",), noise=0.0, prob_end=0.5),
         "no noise"),
        (SimpleNamespace(is_stack=True, strategies=("q_learning",), noise=0.0, prob_end=None,
                         scenario=None, seats=()), "\\[learning\\]: "),
    ],
)  # fmt: skip
def test_check_spec_refuses_what_sessions_cannot_play(spec, message) -> None:
    with pytest.raises(UserError, match=message):
        learning.check_spec(spec)


def test_play_sessions_rows_per_grid_point_and_session() -> None:
    spec = _spec(seed=2, turns=30, repetitions=2,
                 strategy_params={"q_learning": {"gamma": 0.9}})  # fmt: skip
    protocol = LearningProtocol(alpha=(0.1, 0.2))
    rows = learning.play_sessions(spec, protocol)
    assert rows[["point", "session"]].values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert rows["alpha"].tolist() == [0.1, 0.1, 0.2, 0.2]
    assert (rows["beta"] == QLearning().beta).all()
    assert rows["seed"].tolist() == [match_seed(2, i) for i in range(4)]
    assert (rows["periods"] == 30).all() and not rows["converged"].any()
    assert {"payoff_firm_1", "cycle_payoff_firm_2", "cycle_length", "cpu_seconds"} <= set(rows)


def _sessions() -> pd.DataFrame:
    return pd.DataFrame({
        "point": [0, 0, 1], "alpha": [0.1, 0.1, 0.2], "beta": [1e-5, 1e-5, 1e-5],
        "converged": [True, False, True], "periods": [10, 30, 20], "cycle_length": [1, 2, 1],
        "payoff_a": [1.0, 2.0, 3.0], "payoff_b": [3.0, 2.0, 1.0],
        "cycle_payoff_a": [2.0, 2.0, 4.0], "cycle_payoff_b": [2.0, 4.0, 4.0],
    })  # fmt: skip


def test_profit_gain_is_zero_at_nash_and_one_at_monopoly() -> None:
    s = _sessions()
    learning.add_profit_gains(s, ["a", "b"], nash=2.0, monopoly=4.0)
    # greedy cycle: mean over firms 2, 3, 4 -> (x - 2) / 2
    np.testing.assert_allclose(s["profit_gain"], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(s["profit_gain_last"], [0.0, 0.0, 0.0])
    with pytest.raises(UserError, match="monopoly_profit must exceed nash_profit"):
        learning.add_profit_gains(_sessions(), ["a"], nash=2.0, monopoly=2.0)


def test_distribution_of_none_one_and_many() -> None:
    empty = learning._distribution(np.array([]))
    assert set(empty) == {"mean", "sd", "ci_low", "ci_high", "min", "p5", "p25", "median",
                          "p75", "p95", "max"} and set(empty.values()) == {None}  # fmt: skip
    one = learning._distribution(np.array([2.0]))
    assert (one["mean"], one["sd"], one["ci_low"], one["ci_high"]) == (2.0, 0.0, 2.0, 2.0)
    many = learning._distribution(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert many["mean"] == 3.0 and many["median"] == 3.0 and many["p25"] == 2.0
    assert many["sd"] == pytest.approx(np.sqrt(2.5))
    half = 2.776445105 * np.sqrt(2.5) / np.sqrt(5)  # t(0.975, 4)
    assert many["ci_high"] - 3.0 == pytest.approx(half, rel=1e-6)
    assert (many["min"], many["max"]) == (1.0, 5.0)


def test_summarise_overall_and_per_grid_point() -> None:
    s = _sessions()
    learning.add_profit_gains(s, ["a", "b"], nash=2.0, monopoly=4.0)
    out = learning.summarise(s, {"profit_gain": 0.85})
    assert out["sessions"] == 3 and out["converged"] == 2
    assert out["profit_gain"]["mean"] == pytest.approx(0.5)
    assert out["periods"]["median"] == 20.0 and out["paper"] == {"profit_gain": 0.85}
    assert out["grid"] == [
        {"point": 0, "alpha": 0.1, "beta": 1e-5, "sessions": 2, "converged": 1,
         "profit_gain": 0.25, "profit_gain_sd": pytest.approx(np.sqrt(0.125)), "periods": 20.0},
        {"point": 1, "alpha": 0.2, "beta": 1e-5, "sessions": 1, "converged": 1,
         "profit_gain": 1.0, "profit_gain_sd": 0.0, "periods": 20.0},
    ]  # fmt: skip


def test_summary_text_and_heat_map_of_a_grid(tmp_path) -> None:
    s = _sessions()
    learning.add_profit_gains(s, ["a", "b"], nash=2.0, monopoly=4.0)
    summary = learning.summarise(s, {"profit_gain": 0.85, "periods": 850000})
    text = learning.summary_text(summary, elapsed=12.4, processes=2)
    lines = text.splitlines()
    assert lines[0] == "3 sessions, 2 converged, in 12 s on 2 process(es)"
    assert lines[3].startswith("profit gain (greedy cycle)") and lines[3].endswith("   0.85")
    assert lines[4].endswith("   -")  # no paper figure for the last periods
    assert lines[5].endswith("   850,000")
    assert "mean profit gain by (alpha, beta):" in lines
    assert lines[-1].split() == ["0.200", "1.000"]
    path = learning.heat_map(summary, tmp_path / "h.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_text_of_one_point_without_sessions_shows_dashes() -> None:
    summary = learning.summarise(
        pd.DataFrame(columns=["point", "alpha", "beta", "converged", "periods",
                              "cycle_length", "profit_gain", "profit_gain_last"]),
        {},
    )  # fmt: skip
    text = learning.summary_text(summary, 0.0, 1)
    assert text.splitlines()[3].split()[-8:] == ["-"] * 8
    assert "by (alpha, beta)" not in text
