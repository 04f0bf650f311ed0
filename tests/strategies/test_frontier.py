"""The frontier lab's sticky price: the markup keeps the opening price as costs fall."""

from __future__ import annotations

import numpy as np
import pytest
from stackgame.strategies import make
from stackgame.strategies.frontier import StickyFrontierPrice

from tests.strategies.scripted_matches import stack_obs

BOUNDS = {"chips": (0.2, 2.0), "cloud": (0.1, 1.0)}


def obs(prices, costs, **fields):
    return stack_obs(markup_bounds=BOUNDS, own_prices=prices, own_unit_cost=costs, **fields)


def test_round_zero_prices_at_the_restrain_markup():
    action = StickyFrontierPrice().decide(obs({}, {"chips": 1.0, "cloud": 2.0}))
    assert action.markups == {"chips": 0.2, "cloud": 0.1}


def test_the_price_is_held_as_unit_cost_falls():
    s = StickyFrontierPrice()
    # charged 1.5 on chips at a cost of 1.0; the cost falls to 0.75: holding 1.5 is a
    # markup of 1.5 / 0.75 - 1 = 1.0
    action = s.decide(obs({"chips": 1.5, "cloud": 1.1}, {"chips": 0.75, "cloud": 1.0}))
    assert action.markups["chips"] == pytest.approx(1.0)
    assert action.markups["cloud"] == pytest.approx(0.1)


def test_the_markup_is_clipped_to_the_scenarios_bounds():
    s = StickyFrontierPrice()
    action = s.decide(obs({"chips": 10.0, "cloud": 1.0}, {"chips": 1.0, "cloud": 2.0}))
    assert action.markups == {"chips": 2.0, "cloud": 0.1}


def test_it_never_cuts_the_anchor_price():
    s = StickyFrontierPrice()
    s.decide(obs({"chips": 2.0}, {"chips": 1.0}))
    # a lower observed price (the clip bound bit) does not lower the anchor
    action = s.decide(obs({"chips": 1.2}, {"chips": 1.0}))
    assert action.markups["chips"] == pytest.approx(1.0)
    assert s.anchor["chips"] == 2.0


def test_reset_forgets_the_anchor():
    s = make("sticky_frontier_price")
    s.decide(obs({"chips": 2.0}, {"chips": 1.0}))
    s.reset(np.random.default_rng(0))
    assert s.anchor == {}
    assert s.decide(obs({}, {"chips": 1.0})).markups["chips"] == 0.2


def test_gross_margin_climbs_toward_extract_as_costs_fall():
    s = StickyFrontierPrice()
    price, margins = 1.2, []
    for cost in (1.0, 0.8, 0.6, 0.4, 0.3):
        markup = s.decide(obs({"chips": price}, {"chips": cost})).markups["chips"]
        price = cost * (1 + markup)
        margins.append(markup / (1 + markup))
    assert margins == sorted(margins)
    assert margins[-1] == pytest.approx(2.0 / 3.0)  # the extract bound: markup 2.0


def test_a_cost_spike_is_passed_on_and_the_anchor_stays():
    s = StickyFrontierPrice()
    # opening price 1.5 at cost 1.0 (markup 0.5)
    assert s.decide(obs({"chips": 1.5}, {"chips": 1.0})).markups["chips"] == pytest.approx(0.5)
    # the cost of compute spikes to 2.0: 1.5 is below cost, so the restrain markup (0.2)
    # passes it on (a price of 2.4)
    assert s.decide(obs({"chips": 1.5}, {"chips": 2.0})).markups["chips"] == pytest.approx(0.2)
    # the cost falls back to 1.0: the price returns to the anchor 1.5, not to 2.4
    action = s.decide(obs({"chips": 2.4}, {"chips": 1.0}))
    assert action.markups["chips"] == pytest.approx(0.5)
    assert s.anchor["chips"] == 1.5
