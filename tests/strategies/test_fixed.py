"""The fixed strategies: unconditional, periodic and random play (Axelrod's names)."""

from __future__ import annotations

import numpy as np
import pytest
from stackgame.strategies import EXTRACT, RESTRAIN, make
from stackgame.strategies.fixed import Random

from tests.strategies.scripted_matches import (
    make_obs,
    moves,
    play_matrix,
    stack_obs,
)


def test_random_draws_with_probability_p():
    strategy = make("random")
    strategy.reset(np.random.default_rng(3))
    draws = [strategy.decide(make_obs("C", "C")).headline for _ in range(2000)]
    assert draws.count(RESTRAIN) / 2000 == pytest.approx(0.5, abs=0.04)
    assert play_matrix(Random(p=1.0), "DDDD")[0] == "CCCC"
    assert play_matrix(Random(p=0.0), "CCCC")[0] == "DDDD"


@pytest.mark.parametrize(
    ("name", "posture"),
    [
        ("always_restrain", RESTRAIN),
        ("always_extract", EXTRACT),
        ("cooperator", RESTRAIN),
        ("defector", EXTRACT),
    ],
)
def test_unconditional_strategies_set_every_layer_whatever_they_see(name, posture):
    strategy = make(name)
    strategy.reset(np.random.default_rng(0))
    for o in (stack_obs(), stack_obs(round=5, own_postures=moves("DCDCD")), make_obs("DD", "CC")):
        action = strategy.decide(o)
        assert action.default is posture
        assert action.headline is posture
        assert all(p is posture for p in action.postures.values())
    assert strategy.classifier.memory_depth == 0 and not strategy.classifier.stochastic


def test_alternator_flips_its_own_last_posture_not_the_opponents():
    s = make("alternator")
    assert s.decide(make_obs()).headline is RESTRAIN
    assert s.decide(make_obs("C", "D")).headline is EXTRACT
    assert s.decide(make_obs("CD", "CC")).headline is RESTRAIN
    assert s.classifier.memory_depth == 1


def test_random_plan_draws_what_decide_draws():
    a, b = Random(p=0.3), Random(p=0.3)
    a.reset(np.random.default_rng(11))
    b.reset(np.random.default_rng(11))
    planned = a.plan(200)
    decided = [b.decide(make_obs()).headline for _ in range(200)]
    assert planned == decided
    assert Random.classifier.stochastic
