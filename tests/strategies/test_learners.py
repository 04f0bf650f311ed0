"""Learners against fixed opponents: they find the dominant action in a few hundred rounds."""

from __future__ import annotations

import numpy as np
import pytest
from stackgame.strategies import EXTRACT, RESTRAIN, make
from stackgame.strategies.learners import (
    Exp3,
    Hedge,
    QLearning,
    best_response,
    counterpart_arm,
    markup_action,
    payoff_table,
)

from tests.strategies.scripted_matches import (
    COORDINATION,
    GRID,
    PD,
    RESTRAIN_DOMINANT,
    make_obs,
    moves,
    play_matrix,
    stack_obs,
)

ROUNDS = 400


def late_share(strategy, opponent: str, letter: str, **kwargs) -> float:
    """Share of ``letter`` in the last 100 of ``ROUNDS`` rounds against a fixed opponent."""
    mine, _ = play_matrix(strategy, make(opponent), ROUNDS, **kwargs)
    return mine[-100:].count(letter) / 100


def seeded(name: str, seed: int = 0):
    strategy = make(name)
    strategy.reset(np.random.default_rng(seed))
    return strategy


# -- Q-learning -----------------------------------------------------------------------------
@pytest.mark.parametrize("show_table", [True, False])
def test_q_learning_learns_to_defect_against_always_extract(show_table):
    """From the paper's initial Q (table shown) the values need ~2,000 rounds to settle at
    alpha = 0.15, gamma = 0.95: Q*(., D) = 1 / (1 - gamma) = 20 against Q*(., C) = 19."""
    strategy = seeded("q_learning", 1)
    mine, _ = play_matrix(strategy, "D" * 2000, show_table=show_table)
    assert mine[-200:].count("D") / 200 >= 0.95
    state = 1 * 2 + 1  # last round (own D, counterpart D)
    assert np.argmax(strategy.q[state]) == 1
    assert strategy.q[state, 1] == pytest.approx(20.0, abs=1.0)


def test_q_learning_with_a_faster_rate_learns_within_a_few_hundred_rounds():
    strategy = QLearning(alpha=0.5)
    strategy.reset(np.random.default_rng(1))
    assert late_share(strategy, "always_extract", "D") >= 0.9


def test_q_learning_learns_restraint_where_restraint_dominates():
    """Without the table Q starts flat, so choosing restraint here is learnt, not assumed."""
    strategy = seeded("q_learning", 2)
    assert (
        late_share(strategy, "always_extract", "C", table=RESTRAIN_DOMINANT, show_table=False)
        >= 0.9
    )


def test_q_learning_initialises_q_as_in_calvano_et_al():
    strategy = QLearning(gamma=0.95)
    strategy.decide(make_obs())
    # Q0(s, a) = mean_j u(a, j) / (1 - gamma): restrain (3 + 0) / 2, extract (5 + 1) / 2.
    np.testing.assert_allclose(strategy.q[:, 0], 1.5 / 0.05)
    np.testing.assert_allclose(strategy.q[:, 1], 3.0 / 0.05)
    hidden = QLearning(gamma=0.5)
    hidden.decide(make_obs(table=None))
    hidden.decide(make_obs("C", "C", table=None, payoffs=[2.0]))
    assert hidden.initialised and hidden.q.max() == pytest.approx(4.0)


def test_q_learning_explores_less_as_epsilon_decays():
    strategy = seeded("q_learning", 3)
    mine, _ = play_matrix(strategy, make("always_restrain"), 300)
    assert mine[:50].count("C") > mine[-50:].count("C")


def test_q_learning_on_a_markup_grid_returns_grid_markups():
    strategy = seeded("q_learning")
    action = strategy.decide(stack_obs(markup_grid=GRID))
    assert set(action.markups) == {"chips", "cloud"}
    assert set(action.markups.values()) <= set(GRID)
    assert strategy.q.shape == (len(GRID) ** 2 + 1, len(GRID))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"gamma": 1.0}, "gamma"),
        ({"beta": -1.0}, "beta"),
        ({"beta": float("nan")}, "beta"),
    ],
)
def test_q_learning_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=f"q_learning: {message}"):
        QLearning(**kwargs)


# -- Hedge and EXP3 -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["hedge", "exp3"])
@pytest.mark.parametrize("show_table", [True, False])
@pytest.mark.parametrize(
    ("table", "opponent", "dominant"),
    [
        (PD, "always_restrain", "D"),
        (PD, "always_extract", "D"),
        (RESTRAIN_DOMINANT, "always_extract", "C"),
    ],
)
def test_no_regret_learners_converge_to_the_dominant_action(
    name, show_table, table, opponent, dominant
):
    strategy = seeded(name, 4)
    assert late_share(strategy, opponent, dominant, table=table, show_table=show_table) >= 0.85


def test_hedge_weights_are_exponential_in_cumulative_payoff():
    hedge = Hedge(eta=0.1)
    p = hedge.probabilities(PD, moves("C" * 10))
    # Scaled table /5: restrain earns 10 * 3/5 = 6, extract 10 * 5/5 = 10.
    expected = np.exp([0.6, 1.0]) / np.exp([0.6, 1.0]).sum()
    np.testing.assert_allclose(p, expected)
    np.testing.assert_allclose(hedge.probabilities(PD, ()), [0.5, 0.5])


def test_exp3_finds_the_best_markup_on_a_grid():
    """Profit m (2 - m) on the grid peaks at m = 1; EXP3 sees only its own profit."""
    strategy = seeded("exp3", 5)
    payoffs: list[float] = []
    chosen: list[float] = []
    for t in range(600):
        action = strategy.decide(stack_obs(round=t, markup_grid=GRID, own_payoffs=tuple(payoffs)))
        m = action.markups["cloud"]
        chosen.append(m)
        payoffs.append(m * (2 - m))
    late = chosen[-200:]
    assert max(set(late), key=late.count) == 1.0
    assert late.count(1.0) / 200 >= 0.5


@pytest.mark.parametrize(
    ("cls", "kwargs"), [(Exp3, {"gamma": 0.0}), (Hedge, {"eta": 0.0}), (Hedge, {"gamma": 2.0})]
)
def test_bandits_reject_bad_parameters(cls, kwargs):
    with pytest.raises(ValueError, match="must be in"):
        cls(**kwargs)


# -- fictitious play and best response -----------------------------------------------------
def test_fictitious_play_best_responds_to_empirical_frequencies():
    # Coordination: restrain is the best response while the opponent extracts < 2/3 of the time.
    assert play_matrix(make("fictitious_play"), "DDDCCCCC", table=COORDINATION)[0] == "CDDDDCCC"


def test_fictitious_play_defects_in_the_prisoners_dilemma():
    assert play_matrix(make("fictitious_play"), "CCDCDC")[0] == "CDDDDD"


def test_fictitious_play_learns_payoffs_when_the_table_is_hidden():
    strategy = make("fictitious_play")
    assert (
        late_share(strategy, "always_extract", "C", table=RESTRAIN_DOMINANT, show_table=False)
        == 1.0
    )
    assert late_share(make("fictitious_play"), "always_restrain", "D", show_table=False) == 1.0


def test_myopic_best_response_replies_to_the_last_move():
    assert play_matrix(make("myopic_best_response"), "DCDDCC", table=COORDINATION)[0] == "CDCDDC"
    assert play_matrix(make("myopic_best_response"), "CCDC")[0] == "CDDD"


def test_payoff_table_is_empirical_and_optimistic_when_hidden():
    obs = make_obs("CCD", "CDD", table=None, payoffs=[3.0, 1.0, 2.0])
    table = payoff_table(obs)
    assert table[0, 0] == 3.0 and table[0, 1] == 1.0 and table[1, 1] == 2.0
    assert table[1, 0] == np.inf
    assert best_response(table, np.array([1.0, 0.0])) == 1  # untried pair gets tried
    assert best_response(table, np.array([0.0, 1.0])) == 1  # 2 > 1 against extract


def test_counterpart_arm_reads_only_the_counterparts_markups():
    obs = stack_obs(
        round=1,
        markup_grid=GRID,
        counterpart_history=moves("C"),
        counterpart_markups={"azure": (0.9,), "tsmc": (1.1,), "aws": (0.0,)},
    )
    assert GRID[counterpart_arm(obs)] == 1.0  # mean 1.0 of azure and tsmc; aws is the firm itself
    assert counterpart_arm(obs.replace(counterpart_markups={})) == 0
    assert counterpart_arm(make_obs("C", "D")) == 1


def test_markup_action_headline_follows_the_grid_median():
    assert markup_action(stack_obs(markup_grid=GRID), 1.0).headline is EXTRACT
    assert markup_action(stack_obs(markup_grid=GRID), 0.1).headline is RESTRAIN
    assert markup_action(stack_obs(markup_grid=GRID), 0.1).markups == {"chips": 0.1, "cloud": 0.1}
