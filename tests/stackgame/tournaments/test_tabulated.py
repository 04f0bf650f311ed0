"""The tabulated path: learners on a stationary stage game, in a compiled loop.

The central check: a seeded session played through the model (the general path) and the
same session played on the tabulated stage game give the same prices, payoffs and Q
tables, period by period.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from stackgame.strategies.learners import QLearning

from stackgame.cli import main
from stackgame.simulation.simulate import RunResult, build
from stackgame.tournaments import tabulated
from stackgame.tournaments.learning import LearningProtocol
from stackgame.tournaments.learning_kernel import greedy_cycle, q_session
from stackgame.tournaments.matches import play_stack
from stackgame.tournaments.tabulated import (
    TabulationError,
    firm_generators,
    play_q_session,
    stage_table,
)
from stackgame.tournaments.tournament import MatchSpec, TournamentSpec, match_seed

DUOPOLY = "logit-bertrand-duopoly"
SHORT = {"alpha": 0.3, "gamma": 0.95, "beta": 5e-3}


def _general(scenario: str, seed: int, rounds: int, params: dict) -> tuple[RunResult, list]:
    model = build(scenario, rounds=rounds, seed=seed,
                  strategies={f: "q_learning" for f in stage_table(scenario).firms})  # fmt: skip
    for firm in model.firms:
        firm.set_strategy(QLearning(**params))
    try:
        model.run()
        run = RunResult.from_model(model)
        qs = [firm.strategy.q.copy() for firm in model.firms]
    finally:
        model.release()
    return run, qs


@pytest.mark.parametrize("scenario", [DUOPOLY, "monopoly-chain"])
def test_a_session_is_the_same_on_the_general_and_the_tabulated_path(scenario):
    seed, rounds = 7, 600
    run, qs = _general(scenario, seed, rounds, SHORT)
    table = stage_table(scenario)
    learners = [QLearning(**SHORT) for _ in table.firms]
    session = play_q_session(table, learners, firm_generators(seed, len(table.firms)), rounds,
                             score_last=100, trace=True)  # fmt: skip
    assert session.trace is not None
    arms = np.array([table.profile_arms(p) for p in session.trace])
    np.testing.assert_array_equal(np.asarray(table.grid)[arms], run.firms["markup"])
    np.testing.assert_array_equal(table.payoff[session.trace], run.firms["value"])
    for general, learner in zip(qs, learners, strict=True):
        np.testing.assert_array_equal(general, learner.q)
    assert session.payoffs == tuple(float(run.firms["value"][-100:, i].mean())
                                    for i in range(len(table.firms)))  # fmt: skip
    rates = [f["restraint_rate"] for f in run.summary["firms"]]
    assert [round(r, 10) for r in session.restraint] == rates
    # exploration (epsilon from 1 down to 5%) visited many profiles
    assert len(set(session.trace.tolist())) > 30


def test_the_learner_state_is_the_rivals_last_price_in_the_duopoly():
    table = stage_table(DUOPOLY)
    k = table.k
    for profile in range(k * k):
        a, b = divmod(profile, k)
        assert tuple(table.other[profile]) == (b, a)


def test_a_stack_tournament_match_plays_the_same_on_both_paths(monkeypatch):
    spec = TournamentSpec(("q_learning",), game="stack", scenario=DUOPOLY,
                          seats=("firm_2", "firm_1"), turns=300, repetitions=1, seed=3,
                          score_last=50, strategy_params={"q_learning": SHORT})  # fmt: skip
    match = MatchSpec(0, 0, ("q_learning", "q_learning"), match_seed(3, 0))
    fast = play_stack(spec, match)
    monkeypatch.setattr(tabulated, "play_stack_tabulated", lambda spec, match: None)
    slow = play_stack(spec, match)
    assert fast == slow


def test_the_kernel_runs_uncompiled_with_the_same_result():
    table = stage_table(DUOPOLY)
    out = []
    for kernel in (q_session, q_session.py_func):
        q = np.zeros((2, table.k * table.k + 1, table.k))
        trace = np.zeros(300, np.int64)
        periods, *_ = kernel(table.payoff, table.other, table.k, q, np.zeros(2, np.bool_),
                             0.3, 0.95, 1e-2, tuple(firm_generators(5, 2)), 300, 0,
                             np.zeros(10, np.int64), table.extract, trace)  # fmt: skip
        out.append((periods, q, trace))
    assert out[0][0] == out[1][0] == 300
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_array_equal(out[0][2], out[1][2])


def test_the_stopping_rule_only_stops_and_fires_when_the_greedy_strategy_held():
    table = stage_table(DUOPOLY)
    stable, cap = 2_000, 200_000
    params = {"alpha": 0.15, "gamma": 0.95, "beta": 1e-4}
    ruled = [QLearning(**params) for _ in range(2)]
    s = play_q_session(table, ruled, firm_generators(11, 2), cap, stable=stable,
                       q_init="uniform_rival")  # fmt: skip
    assert s.converged and stable <= s.periods < cap
    # the same session without the rule, stopped at the same period: the same Q tables
    free = [QLearning(**params) for _ in range(2)]
    play_q_session(table, free, firm_generators(11, 2), s.periods, q_init="uniform_rival")
    for a, b in zip(ruled, free, strict=True):
        np.testing.assert_array_equal(a.q, b.q)
    # and the greedy strategies were already those `stable` periods earlier
    before = [QLearning(**params) for _ in range(2)]
    play_q_session(table, before, firm_generators(11, 2), s.periods - stable + 1,
                   q_init="uniform_rival")  # fmt: skip
    for a, b in zip(ruled, before, strict=True):
        np.testing.assert_array_equal(a.q.argmax(axis=1), b.q.argmax(axis=1))
    # a cap below the convergence time: not converged
    capped = play_q_session(table, [QLearning(**params) for _ in range(2)],
                            firm_generators(11, 2), s.periods - 1, stable=stable,
                            q_init="uniform_rival")  # fmt: skip
    assert not capped.converged and capped.periods == s.periods - 1


def test_uniform_rival_q_is_the_papers_equation_8():
    table = stage_table(DUOPOLY)
    q = table.uniform_rival_q(0.95)
    u = table.payoff[:, 0].reshape(table.k, table.k)  # [own arm, rival arm] for firm 0
    np.testing.assert_allclose(q[0, 3], u.mean(axis=1) / 0.05)
    u1 = table.payoff[:, 1].reshape(table.k, table.k)  # [rival arm, own arm] for firm 1
    np.testing.assert_allclose(q[1, 0], u1.mean(axis=0) / 0.05)


def test_greedy_cycle_follows_argmax_play():
    table = stage_table(DUOPOLY)
    k = table.k
    q = np.zeros((2, k * k + 1, k))
    q[:, :, 4] = 1.0  # both always play arm 4: a fixed point
    out = np.zeros(k * k, np.int64)
    enter, length = greedy_cycle(q, table.other, k, 0, out)
    assert (enter, length) == (1, 1) and out[0] == 4 * k + 4


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"regulator.enabled": True}, "regulator"),
        ({"demand.growth": 0.01}, "demand grows"),
        ({"firms.firm_1.ops.market.capital": 1.0}, "capital"),
    ],
)
def test_a_non_stationary_stage_game_is_not_tabulated(change, problem):
    from stackgame.environment.scenario import apply_overrides, resolve

    with pytest.raises(TabulationError, match=problem):
        stage_table(apply_overrides(resolve(DUOPOLY), change))


def test_the_full_stack_keeps_the_general_path():
    with pytest.raises(TabulationError):
        stage_table("ai-stack-2026")
    spec = TournamentSpec(("q_learning",), game="stack", scenario="ai-stack-2026",
                          seats=("nvidia",), turns=3, repetitions=1)  # fmt: skip
    match = MatchSpec(0, 0, ("q_learning",), match_seed(0, 0))
    assert tabulated.play_stack_tabulated(spec, match) is None


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
