"""Solvers against textbook games with known equilibria and alpha-Rank scores."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stackgame.equilibria import solvers

# Prisoner's dilemma, index 0 = cooperate (restrain), 1 = defect (extract); T > R > P > S.
PD = np.array([[[3, 0], [5, 1]], [[3, 5], [0, 1]]], dtype=float)
# Battle of the sexes: row prefers (0, 0), column prefers (1, 1).
BOS = np.array([[[3, 0], [0, 2]], [[2, 0], [0, 3]]], dtype=float)
# Matching pennies: row wants to match, column to mismatch.
MP = np.array([[[1, -1], [-1, 1]], [[-1, 1], [1, -1]]], dtype=float)
# Rock-paper-scissors, row's payoff A[r, s]; the column's is A[s, r] = -A[r, s].
RPS_A = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=float)
RPS = np.stack([RPS_A, RPS_A.T])


def three_player(payoff) -> np.ndarray:
    """Payoff array of a 3-player 2-action game from ``payoff(k, profile)``."""
    out = np.zeros((3, 2, 2, 2))
    for profile in np.ndindex(2, 2, 2):
        for k in range(3):
            out[(k, *profile)] = payoff(k, profile)
    return out


def minority(k, profile):
    """Minority game (Challet and Zhang 1997): 1 for being on the smaller side."""
    mine = sum(1 for a in profile if a == profile[k])
    return 1.0 if mine < len(profile) - mine else 0.0


def public_goods(k, profile):
    """Linear public-goods game: contribute 1 (action 0) or not; pot x1.5 shared by 3."""
    contributions = sum(1 for a in profile if a == 0)
    return 1.5 * contributions / 3 - (1.0 if profile[k] == 0 else 0.0)


def test_prisoners_dilemma_unique_pure_equilibrium_is_mutual_defection():
    assert solvers.pure_equilibria(PD) == [(1, 1)]
    r = solvers.regret(PD)
    # (C, C): each gains T - R = 2 by defecting; (C, D): row gains P - S = 1.
    np.testing.assert_allclose(r, [[2, 1], [1, 0]])
    mixed = solvers.mixed_equilibria(PD)
    assert len(mixed) == 1
    np.testing.assert_allclose(mixed[0][0], [0, 1])
    np.testing.assert_allclose(mixed[0][1], [0, 1])


def test_prisoners_dilemma_alpha_rank_concentrates_on_defection():
    result = solvers.alpha_rank(PD, alpha=10, m=50)
    assert result.ranking[0] == (1, 1)
    assert result.pi[1, 1] > 0.99
    assert result.pi.sum() == pytest.approx(1)
    low = solvers.alpha_rank(PD, alpha=0.0, m=50)
    np.testing.assert_allclose(low.pi, 0.25)  # no selection: neutral drift, uniform


def test_battle_of_the_sexes_two_pure_and_one_mixed():
    assert solvers.pure_equilibria(BOS) == [(0, 0), (1, 1)]
    for method in ("support_enumeration", "vertex_enumeration"):
        eqs = solvers.mixed_equilibria(BOS, method=method)
        assert len(eqs) == 3, method
        interior = [eq for eq in eqs if 0 < eq[0][0] < 1]
        assert len(interior) == 1
        np.testing.assert_allclose(interior[0][0], [3 / 5, 2 / 5])
        np.testing.assert_allclose(interior[0][1], [2 / 5, 3 / 5])
        for eq in eqs:
            assert solvers.mixed_regret(BOS, list(eq)) == pytest.approx(0, abs=1e-9)
    lh = solvers.mixed_equilibria(BOS, method="lemke_howson")
    assert 1 <= len(lh) <= 3


def test_battle_of_the_sexes_alpha_rank_splits_between_the_equilibria():
    result = solvers.alpha_rank(BOS, alpha=5, m=20)
    assert set(result.ranking[:2]) == {(0, 0), (1, 1)}
    assert result.pi[0, 0] + result.pi[1, 1] > 0.95
    # The game is symmetric under swapping players and actions: equal mass.
    assert result.pi[0, 0] == pytest.approx(result.pi[1, 1], rel=1e-6)


def test_matching_pennies_no_pure_equilibrium_mixed_half_and_uniform_alpha_rank():
    assert solvers.pure_equilibria(MP) == []
    eqs = solvers.mixed_equilibria(MP)
    assert len(eqs) == 1
    np.testing.assert_allclose(eqs[0][0], [0.5, 0.5])
    np.testing.assert_allclose(eqs[0][1], [0.5, 0.5])
    for alpha in (0.1, 1.0, 10.0, 100.0):
        np.testing.assert_allclose(solvers.alpha_rank(MP, alpha=alpha, m=10).pi, 0.25, atol=1e-9)


def test_three_player_minority_game_pure_equilibria_are_the_two_one_splits():
    game = three_player(minority)
    eqs = solvers.pure_equilibria(game)
    expected = sorted(p for p in np.ndindex(2, 2, 2) if len(set(p)) == 2)
    assert eqs == expected
    assert len(eqs) == 6
    assert solvers.regret(game)[0, 0, 0] == 1.0


def test_three_player_public_goods_game_only_equilibrium_is_no_one_contributes():
    game = three_player(public_goods)
    assert solvers.pure_equilibria(game) == [(1, 1, 1)]
    # Each contributor gains 1 - 1.5/3 = 0.5 by free-riding.
    assert solvers.regret(game)[0, 0, 0] == pytest.approx(0.5)
    result = solvers.alpha_rank(game, alpha=20, m=20)
    assert result.ranking[0] == (1, 1, 1)
    assert result.pi[1, 1, 1] > 0.99
    for marginal in result.marginals():
        assert marginal[1] > 0.99


def test_rock_paper_scissors_uniform_alpha_rank_and_replicator():
    assert solvers.pure_equilibria(RPS) == []
    single = solvers.alpha_rank_single_population(RPS_A, alpha=5, m=20)
    np.testing.assert_allclose(single.pi, 1 / 3, atol=1e-9)
    multi = solvers.alpha_rank(RPS, alpha=5, m=20)
    for marginal in multi.marginals():
        np.testing.assert_allclose(marginal, 1 / 3, atol=1e-9)
    ranking = solvers.replicator_ranking(
        RPS, np.random.default_rng(1), starts=4, steps=3000, dt=0.05
    )
    for scores in ranking:
        np.testing.assert_allclose(scores, 1 / 3, atol=0.05)
    (eq,) = solvers.mixed_equilibria(RPS)
    np.testing.assert_allclose(eq[0], 1 / 3)


def test_single_population_alpha_rank_of_symmetric_pd_picks_defection():
    result = solvers.alpha_rank_single_population(PD[0], alpha=10, m=20)
    assert result.ranking[0] == (1,)
    assert result.pi[1] > 0.99


def test_replicator_dynamics_leaves_dominated_strategy():
    traj = solvers.replicator_dynamics(PD, [np.array([0.9, 0.1]), np.array([0.9, 0.1])])
    assert traj[0][-1][1] > 0.99 and traj[1][-1][1] > 0.99
    # Rest point: a pure profile does not move.
    still = solvers.replicator_dynamics(PD, [np.array([1.0, 0.0]), np.array([1.0, 0.0])])
    np.testing.assert_allclose(still[0][-1], [1, 0])


def test_replicator_ranking_is_seeded():
    a = solvers.replicator_ranking(BOS, np.random.default_rng(7), starts=3, steps=200)
    b = solvers.replicator_ranking(BOS, np.random.default_rng(7), starts=3, steps=200)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_fixation_probability_limits():
    m = 10
    assert solvers.fixation_probability(0.0, 1.0, m) == pytest.approx(1 / m)
    assert solvers.fixation_probability(1.0, 1000.0, m) == pytest.approx(1.0)
    tiny = float(solvers.fixation_probability(-1.0, 1000.0, m))
    assert 0 <= tiny < 1e-300 or tiny == 0.0
    # Closed form at moderate values.
    x = 0.3
    expected = (1 - np.exp(-x)) / (1 - np.exp(-m * x))
    assert solvers.fixation_probability(1.0, x, m) == pytest.approx(expected)
    assert solvers.fixation_probability(-1.0, x, m) == pytest.approx(
        (1 - np.exp(x)) / (1 - np.exp(m * x))
    )


def test_infinite_alpha_matches_large_alpha_ranking():
    inf = solvers.alpha_rank(PD, use_inf_alpha=True, inf_alpha_eps=1e-6)
    assert inf.ranking[0] == (1, 1)
    assert inf.pi[1, 1] > 0.99


def test_strategy_values_and_expected_payoffs_three_players():
    game = three_player(public_goods)
    half = [np.array([0.5, 0.5])] * 3
    v = solvers.strategy_values(game, half, 0)
    # Contributing costs 1 and returns 0.5 to oneself whatever the others do.
    assert v[1] - v[0] == pytest.approx(0.5)
    pay = solvers.expected_payoffs(game, half)
    assert pay.shape == (3,)
    assert np.allclose(pay, pay[0])


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 2)), "first axis"),
        (np.zeros(3), "need shape"),
        (np.full((2, 2, 2), np.nan), "finite"),
        (np.zeros((2, 0, 2)), "at least one strategy"),
    ],
)
def test_bad_payoffs_raise_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        solvers.pure_equilibria(bad)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="two players only"):
        solvers.mixed_equilibria(three_player(minority))
    with pytest.raises(ValueError, match="alpha"):
        solvers.alpha_rank(PD, alpha=-1)
    with pytest.raises(ValueError, match="population size"):
        solvers.alpha_rank(PD, m=1)
    with pytest.raises(ValueError, match="unknown"):
        solvers.mixed_equilibria(PD, method="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="probability vector"):
        solvers.mixed_regret(PD, [np.array([0.7, 0.7]), np.array([0.5, 0.5])])


@pytest.mark.skipif(importlib.util.find_spec("pygambit") is not None, reason="pygambit installed")
def test_gambit_is_optional_and_says_how_to_get_it():
    with pytest.raises(ImportError, match="pip install pygambit"):
        solvers.gambit_equilibria(three_player(minority))


@pytest.mark.skipif(importlib.util.find_spec("pygambit") is None, reason="pygambit not installed")
def test_gambit_finds_an_equilibrium_of_a_three_player_game():
    game = three_player(public_goods)
    eqs = solvers.gambit_equilibria(game)
    assert eqs
    for eq in eqs:
        assert solvers.mixed_regret(game, list(eq)) < 1e-4
    bos = solvers.gambit_equilibria(BOS, method="enummixed")
    assert len(bos) == 3
    np.testing.assert_allclose(bos[1][0], [3 / 5, 2 / 5], atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (2, 3, 2), elements=st.integers(-5, 5).map(float)))
def test_pure_equilibria_are_mutual_best_responses(game):
    for a, b in solvers.pure_equilibria(game):
        assert game[0][a, b] >= game[0][:, b].max()
        assert game[1][a, b] >= game[1][a, :].max()
    r = solvers.regret(game)
    assert np.all(r >= 0)
    pi = solvers.alpha_rank(game, alpha=1.0, m=5).pi
    assert pi.sum() == pytest.approx(1) and np.all(pi >= 0)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (2, 2, 2), elements=st.integers(-5, 5).map(float)))
def test_every_generic_2x2_game_has_an_equilibrium_with_zero_regret(game):
    eqs = solvers.mixed_equilibria(game)
    if eqs:
        for eq in eqs:
            assert solvers.mixed_regret(game, list(eq)) == pytest.approx(0, abs=1e-7)


def test_one_player_game_is_a_decision_problem():
    game = np.array([[1.0, 3.0, 2.0]])
    assert solvers.pure_equilibria(game) == [(1,)]
    np.testing.assert_allclose(solvers.regret(game), [2, 0, 1])
    (ranking,) = solvers.replicator_ranking(game, np.random.default_rng(0), starts=2, steps=400)
    assert ranking.argmax() == 1
    assert solvers.alpha_rank(game, alpha=10).ranking[0] == (1,)
