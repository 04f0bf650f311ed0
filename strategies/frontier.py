"""The frontier lab's pricing: hold the price while costs fall (sticky frontier quality)."""

from __future__ import annotations

import numpy as np
from stackgame.strategies.base import Action, Classifier, Observation, Strategy
from stackgame.strategies.registry import register


@register
class StickyFrontierPrice(Strategy):
    """Hold the opening price as unit cost falls, within the restrain and extract markups.

    Each layer's markup is ``m_t = clip(P / c_{t-1} - 1, m_restrain, m_extract)`` where
    ``P`` is the first price the firm charged there (its anchor: it never cuts below it).
    A cost that rises above ``P / (1 + m_restrain)`` is passed on at the restrain markup,
    and the anchor stays: when the cost comes back down, so does the price, to ``P`` (a
    price forced up by a spike in the cost of compute is not a new anchor; with the
    highest price ever charged as the anchor, one spike priced the lab out of its market
    for good). A frontier lab does not pass its cost declines on, because "frontier
    quality is sticky" and open-weight models at a fraction of the price "exert almost
    no downward pressure" (`000_e3319be9a08c4b37.txt`). As inference cost falls, its gross margin
    climbs from the restrain level toward the extract level: Anthropic's inference gross
    margin went from 38% to over 70% in a year (000). In round 0 it prices at the
    restrain markup.
    """

    name = "sticky_frontier_price"
    classifier = Classifier(memory_depth=float("inf"), family="archetype")

    def __init__(self) -> None:
        super().__init__()
        self.anchor: dict[str, float] = {}

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Forget the anchor prices."""
        super().reset(rng)
        self.anchor = {}

    def decide(self, observation: Observation) -> Action:
        """Markup that keeps last round's price, clipped to the scenario's bounds."""
        markups: dict[str, float] = {}
        for layer in observation.layers:
            low, high = observation.markup_bounds.get(layer, (0.0, 0.0))
            price = self.anchor.get(layer, 0.0)
            if price <= 0.0:  # the first price charged is the anchor
                price = observation.own_prices.get(layer, 0.0)
                self.anchor[layer] = price
            cost = observation.own_unit_cost.get(layer, 0.0)
            held = price / cost - 1.0 if price > 0 and cost > 0 else low
            markups[layer] = min(high, max(low, held))
        return Action(markups=markups)
