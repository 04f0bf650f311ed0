"""Firm and regulator agents: state plus the call to a strategy.

Agents are thin, as in Mesa's examples: the rules of the market live in
``stackgame.environment`` and the decision rules in ``stackgame.strategies``. A firm
agent holds its name, its strategy (with the generator the model injected) and its
per-round histories, and turns an :class:`~stackgame.strategies.base.Observation` into an
:class:`~stackgame.strategies.base.Action`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
from stackgame.strategies.base import Action, Observation, Posture, Strategy

if TYPE_CHECKING:
    from stackgame.environment.model import StackModel


class FirmAgent(mesa.Agent):
    """A firm in the stack.

    Attributes
    ----------
    name, label
        Identifier and display name.
    index
        Position in the model's firm arrays.
    strategy
        The decision rule; it sees only the frozen observation.
    postures, payoffs, margins, markups
        The firm's history, one entry per round, as tuples. The engine appends to lists
        (``history``: a tuple concatenated every round cost O(rounds) per entry); each
        property gives a tuple made when first read after a round.
    """

    model: StackModel

    def __init__(
        self,
        model: StackModel,
        name: str,
        label: str,
        index: int,
        strategy: Strategy,
        rng: np.random.Generator,
    ) -> None:
        super().__init__(model)
        self.name = name
        self.label = label
        self.index = index
        self.strategy_rng = rng
        self.strategy = strategy
        self.strategy.reset(rng)
        # postures, payoffs, margins, markups: appended once a round (see remember)
        self.history: tuple[list[Posture], list[float], list[float], list[float]] = (
            [],
            [],
            [],
            [],
        )
        self._tuples: dict[int, tuple[int, tuple[Any, ...]]] = {}

    def set_strategy(self, strategy: Strategy) -> None:
        """Replace the strategy mid-run (an event); it keeps the firm's generator."""
        self.strategy = strategy
        self.strategy.reset(self.strategy_rng)

    @property
    def layers(self) -> tuple[str, ...]:
        """Layers the firm operates in now (integrations included), bottom first."""
        return self.model.state.firm_layers(self.index)

    @property
    def cash(self) -> float:
        """Cash, dollars."""
        return float(self.model.state.cash[self.index])

    @property
    def active(self) -> bool:
        """False once acquired by another firm."""
        return not bool(self.model.state.acquired[self.index])

    def decide(self, observation: Observation) -> Action:
        """Ask the strategy for this round's action."""
        return self.strategy.decide(observation)

    def remember(self, posture: Posture, payoff: float, margin: float, markup: float) -> None:
        """Append this round's outcome to the firm's history."""
        postures, payoffs, margins, markups = self.history
        postures.append(posture)
        payoffs.append(payoff)
        margins.append(margin)
        markups.append(markup)

    def _tuple(self, k: int) -> tuple[Any, ...]:
        values = self.history[k]
        cached = self._tuples.get(k)
        if cached is None or cached[0] != len(values):
            cached = self._tuples[k] = (len(values), tuple(values))
        return cached[1]

    @property
    def postures(self) -> tuple[Posture, ...]:
        """Headline posture in each past round, oldest first."""
        return self._tuple(0)

    @property
    def payoffs(self) -> tuple[float, ...]:
        """Payoff (value captured) in each past round, oldest first."""
        return self._tuple(1)

    @property
    def margins(self) -> tuple[float, ...]:
        """Operating margin in each past round, oldest first."""
        return self._tuple(2)

    @property
    def markups(self) -> tuple[float, ...]:
        """Mean markup over its layers in each past round, oldest first."""
        return self._tuple(3)
