"""The Q-learning loop on a tabulated stage game, and the greedy cycle.

Hand-worked cases run the loop uncompiled (``py_func``); one test checks the compiled
loop gives the same session.
"""

from __future__ import annotations

import numpy as np
import pytest
from stackgame.strategies.learners import QLearning

from stackgame.tournaments.learning_kernel import greedy_cycle, q_session
from stackgame.tournaments.tabulated import firm_generators, play_q_session, stage_table

DUOPOLY = "logit-bertrand-duopoly"


def _one_firm_game(payoffs: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A one-firm game with ``k = len(payoffs)`` arms: payoff, other (itself), extract."""
    k = len(payoffs)
    payoff = np.array(payoffs, dtype=float).reshape(k, 1)
    other = np.zeros((k, 1), np.int64)
    extract = (np.arange(k) == k - 1).astype(np.int64).reshape(k, 1)
    return payoff, other, extract


def _play(payoffs, periods, *, alpha=0.5, gamma=0.5, beta=50.0, q=None, init=True,
          stable=0, keep=3, seed=1):  # fmt: skip
    payoff, other, extract = _one_firm_game(payoffs)
    k = len(payoffs)
    if q is None:
        q = np.zeros((1, k * k + 1, k))
    trace = np.zeros(periods, np.int64)
    last = np.zeros(keep, np.int64)
    out = q_session.py_func(payoff, other, k, q, np.array([init]), alpha, gamma, beta,
                            (np.random.default_rng(seed),), periods, stable, last, extract,
                            trace)  # fmt: skip
    return out, q, trace, last


def test_q_update_by_hand_after_the_first_period() -> None:
    # two arms paying 1 and 3; period 0 always explores (exp(0) = 1), then greedy
    # (exp(-50 t) is below any draw): Q starts at zero, so the first greedy arm is 0
    q0 = np.zeros((1, 5, 2))
    (periods, converged, extracts, totals, prev), q, trace, last = _play([1.0, 3.0], 2, q=q0)
    a0, a1 = trace
    assert periods == 2 and not converged and prev == a1
    assert a1 == 0  # greedy on a zero row: the first arm
    # credit of period 0's payoff to (start, a0): 0 + 0.5 (r + 0.5 max Q(s) - 0) = r / 2
    r0 = [1.0, 3.0][a0]
    expected = np.zeros((5, 2))
    expected[4, a0] = 0.5 * r0
    np.testing.assert_array_equal(q[0], expected)
    # nothing else was credited: period 1's payoff waits for period 2
    assert totals[0] == r0 + 1.0 and extracts[0] == (a0 == 1) + (a1 == 1)
    np.testing.assert_array_equal(last[:2], trace)  # fewer periods than kept: oldest first


def test_the_first_credit_initialises_q_to_the_discounted_payoff() -> None:
    q = np.full((1, 5, 2), 7.0)  # to be overwritten: not initialised
    _, q, trace, _ = _play([1.0, 3.0], 2, q=q, init=False, alpha=0.0)
    # with alpha = 0 the update leaves the initial values: r / (1 - gamma) everywhere
    r0 = [1.0, 3.0][trace[0]]
    np.testing.assert_array_equal(q, np.full((1, 5, 2), r0 / 0.5))


def test_greedy_learning_settles_on_the_better_arm_and_the_rule_fires() -> None:
    (periods, converged, extracts, totals, prev), q, trace, last = _play(
        [1.0, 3.0], 500, beta=0.05, stable=50, keep=4
    )
    assert converged and periods < 500
    assert prev == 1 and (trace[periods - 4 : periods] == 1).all()
    np.testing.assert_array_equal(last, trace[periods - 4 : periods])
    assert totals[0] == pytest.approx(sum([1.0, 3.0][a] for a in trace[:periods]))
    assert extracts[0] == int((trace[:periods] == 1).sum())


def test_last_keeps_the_final_periods_in_order_and_no_trace_is_allowed() -> None:
    payoff, other, extract = _one_firm_game([1.0, 2.0, 3.0])
    q = np.zeros((1, 10, 3))
    last = np.zeros(4, np.int64)
    periods, *_ = q_session.py_func(payoff, other, 3, q, np.array([True]), 0.1, 0.9, 0.0,
                                    (np.random.default_rng(3),), 11, 0, last, extract,
                                    np.zeros(0, np.int64))  # fmt: skip
    # beta = 0: every period explores, so the sequence is the generator's
    rng = np.random.default_rng(3)
    arms = []
    for _ in range(11):
        rng.random()
        arms.append(int(rng.integers(0, 3)))
    assert periods == 11
    np.testing.assert_array_equal(last, arms[-4:])


def test_greedy_cycle_of_alternating_play() -> None:
    # one firm, two arms: after arm 0 play 1, after arm 1 play 0 (a two-cycle)
    _, other, _ = _one_firm_game([0.0, 0.0])
    q = np.zeros((1, 5, 2))
    q[0, 0, 1] = 1.0  # state of arm 0 -> arm 1
    q[0, 2, 0] = 1.0  # state of arm 1 -> arm 0
    out = np.zeros(2, np.int64)
    assert greedy_cycle.py_func(q, other, 2, 0, out) == (0, 2)
    np.testing.assert_array_equal(out, [0, 1])
    # from a profile that leads into the cycle one step later
    q[0, 0, :] = [1.0, 0.0]  # arm 0 now stays: a fixed point at 0
    out[:] = -1
    assert greedy_cycle.py_func(q, other, 2, 1, out) == (1, 1)
    assert out[0] == 0


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


def test_greedy_cycle_follows_argmax_play():
    table = stage_table(DUOPOLY)
    k = table.k
    q = np.zeros((2, k * k + 1, k))
    q[:, :, 4] = 1.0  # both always play arm 4: a fixed point
    out = np.zeros(k * k, np.int64)
    enter, length = greedy_cycle(q, table.other, k, 0, out)
    assert (enter, length) == (1, 1) and out[0] == 4 * k + 4
