from __future__ import annotations

import numpy as np
import pytest
from stackgame.strategies import EXTRACT, RESTRAIN, Action, make
from stackgame.strategies.fixed import Random
from stackgame.strategies.reciprocal import GenerousTitForTat, MarginWinStayLoseShift, generosity

from tests.strategies.scripted_matches import (
    COORDINATION,
    PD,
    RESTRAIN_DOMINANT,
    make_obs,
    moves,
    play_matrix,
    play_stack,
    stack_obs,
    view,
)


def versus(name: str, opponent: str) -> str:
    strategy = make(name)
    strategy.reset(np.random.default_rng(0))
    return play_matrix(strategy, opponent)[0]


@pytest.mark.parametrize(
    ("name", "opponent", "expected"),
    [
        ("cooperator", "DDCDC", "CCCCC"),
        ("defector", "CCCDC", "DDDDD"),
        ("alternator", "DDDDDD", "CDCDCD"),
        ("tit_for_tat", "CDDCDC", "CCDDCD"),
        ("tit_for_tat", "DDDDD", "CDDDD"),
        ("suspicious_tit_for_tat", "CCCC", "DCCC"),
        ("suspicious_tit_for_tat", "DCDD", "DDCD"),
        ("tit_for_two_tats", "DDDCDDC", "CCDDCCD"),
        ("tit_for_two_tats", "DCDCDC", "CCCCCC"),
        # Axelrod's TestTitFor2Tats: punishes two defections in a row, forgives one.
        ("tit_for_two_tats", "DDDCCD", "CCDDCC"),
        ("two_tits_for_tat", "DCCCDC", "CDDCCD"),
        ("grudger", "CCDCCC", "CCCDDD"),
        ("grudger", "CCCCC", "CCCCC"),
        ("win_stay_lose_shift", "CDCDD", "CCDDC"),
        ("win_stay_lose_shift", "DDDDDD", "CDCDCD"),
        ("margin_win_stay_lose_shift", "CDCDD", "CCDDC"),
        ("margin_win_stay_lose_shift", "DDDDDD", "CDCDCD"),
        ("generous_tit_for_tat", "CCCCC", "CCCCC"),
    ],
)
def test_versus_scripted_opponent(name, opponent, expected):
    assert versus(name, opponent) == expected


@pytest.mark.parametrize(
    ("name", "opponent", "expected", "theirs"),
    [
        # Axelrod's TestTitForTat: versus Alternator.
        ("tit_for_tat", "alternator", "CCDCDC", "CDCDCD"),
        ("tit_for_tat", "suspicious_tit_for_tat", "CDCDCD", "DCDCDC"),
        ("win_stay_lose_shift", "tit_for_tat", "CCCCC", "CCCCC"),
        # Axelrod's TestWinStayLoseShift: versus Alternator.
        ("win_stay_lose_shift", "alternator", "CCDDC", "CDCDC"),
        ("generous_tit_for_tat", "cooperator", "CCCC", "CCCC"),
        ("grudger", "alternator", "CCDDDD", "CDCDCD"),
        ("suspicious_tit_for_tat", "defector", "DDDD", "DDDD"),
    ],
)
def test_versus_strategy(name, opponent, expected, theirs):
    mine, other = play_matrix(make(name), make(opponent), rounds=len(expected))
    assert (mine, other) == (expected, theirs)


def test_classics_react_to_the_counterparts_aggregate_in_the_stack():
    after_extract = stack_obs(round=2, own_postures=moves("CC"), counterpart_history=moves("CD"))
    after_restrain = after_extract.replace(counterpart_history=moves("DC"))
    assert make("tit_for_tat").decide(after_extract).headline is EXTRACT
    assert make("tit_for_tat").decide(after_restrain).headline is RESTRAIN
    assert make("grudger").decide(after_restrain).headline is EXTRACT
    assert make("tit_for_two_tats").decide(after_extract).headline is RESTRAIN


def test_generosity_follows_axelrod_gtft_default():
    assert generosity(PD) == pytest.approx(1 / 3)
    assert generosity(None) == pytest.approx(1 / 3)
    # R=4, S=0, T=5, P=1: min(1 - 1/4, 3/4) = 0.75
    assert generosity(((4.0, 0.0), (5.0, 1.0))) == pytest.approx(0.75)
    # Restraint dominant: the formula exceeds 1, so always forgive.
    assert generosity(RESTRAIN_DOMINANT) == 1.0
    # R <= S (anti-coordination): the formula is undefined; the default game is used.
    assert generosity(((0.0, 1.0), (1.0, 0.0))) == pytest.approx(1 / 3)


def test_generous_tit_for_tat_forgives_a_third_of_extractions():
    strategy = make("generous_tit_for_tat")
    strategy.reset(np.random.default_rng(42))
    after_extraction = make_obs("C", "D")
    replies = [strategy.decide(after_extraction).headline for _ in range(3000)]
    assert replies.count(RESTRAIN) / 3000 == pytest.approx(1 / 3, abs=0.03)
    assert play_matrix(strategy, "D")[0] == "C"


@pytest.mark.parametrize(("p", "expected"), [(0.0, "CCDDCD"), (1.0, "CCCCCC")])
def test_generous_tit_for_tat_extremes(p, expected):
    assert play_matrix(GenerousTitForTat(p=p), "CDDCDC")[0] == expected


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_probabilities_are_validated(bad):
    with pytest.raises(ValueError, match="must be"):
        Random(p=bad)
    with pytest.raises(ValueError, match="generous_tit_for_tat: p"):
        GenerousTitForTat(p=bad)


def test_margin_win_stay_lose_shift_aspires_to_its_layer_in_the_stack():
    base = stack_obs(round=1, own_postures=moves("D"), own_margins=(0.3,))
    good_layer = base.replace(market={"chips": view(operating_margin=0.2)})
    bad_layer = base.replace(market={"chips": view(operating_margin=0.5)})
    strategy = make("margin_win_stay_lose_shift")
    assert strategy.decide(good_layer).headline is EXTRACT  # 0.3 >= 0.2: stay
    assert strategy.decide(bad_layer).headline is RESTRAIN  # 0.3 < 0.5: shift
    fixed = MarginWinStayLoseShift(aspiration=0.25)
    assert fixed.decide(bad_layer).headline is EXTRACT
    without_market = base.replace(own_margins=(0.1, 0.3), own_postures=moves("CD"), round=2)
    assert strategy.decide(without_market).headline is EXTRACT  # 0.3 >= mean 0.2


def test_margin_win_stay_lose_shift_rejects_infinite_aspiration():
    with pytest.raises(ValueError, match="aspiration"):
        MarginWinStayLoseShift(aspiration=float("inf"))


def test_win_stay_lose_shift_in_a_coordination_game_settles():
    mine, other = play_matrix(
        make("win_stay_lose_shift"), make("win_stay_lose_shift"), 6, table=COORDINATION
    )
    assert mine == other == "CCCCCC"


def test_stack_run_gives_uniform_actions():
    for name in ("tit_for_tat", "grudger", "win_stay_lose_shift"):
        for _, action in play_stack(make(name), 20):
            assert isinstance(action, Action) and not action.postures and not action.markups
    assert make_obs("C", "D").counterpart_history == moves("D")
