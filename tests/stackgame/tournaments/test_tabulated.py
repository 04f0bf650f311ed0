"""The tabulated path: learners on a stationary stage game, in a compiled loop.

The central check: a seeded session played through the model (the general path) and the
same session played on the tabulated stage game give the same prices, payoffs and Q
tables, period by period.
"""

from __future__ import annotations

import numpy as np
import pytest
from stackgame.strategies.learners import QLearning

from stackgame.simulation.simulate import RunResult, build
from stackgame.tournaments import tabulated
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


def test_uniform_rival_q_is_the_papers_equation_8():
    table = stage_table(DUOPOLY)
    q = table.uniform_rival_q(0.95)
    u = table.payoff[:, 0].reshape(table.k, table.k)  # [own arm, rival arm] for firm 0
    np.testing.assert_allclose(q[0, 3], u.mean(axis=1) / 0.05)
    u1 = table.payoff[:, 1].reshape(table.k, table.k)  # [rival arm, own arm] for firm 1
    np.testing.assert_allclose(q[1, 0], u1.mean(axis=0) / 0.05)


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
