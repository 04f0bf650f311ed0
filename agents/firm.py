"""Firm and regulator agents: state plus the call to a strategy.

Agents are thin, as in Mesa's examples: the rules of the market live in
``stackgame.environment`` and the decision rules in ``stackgame.strategies``. A firm
agent holds its name, its strategy (with the generator the model injected) and its
per-round histories (which the engine writes and strategies read as views), and turns
an :class:`~stackgame.strategies.base.Observation` into an
:class:`~stackgame.strategies.base.Action`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
from stackgame.strategies.base import (
    Action,
    CapitalPosition,
    HistoryView,
    Observation,
    Posture,
    Strategy,
    TrainingPosition,
)

if TYPE_CHECKING:
    from stackgame.environment.model import StackModel

_DEFAULT_INVEST = Strategy.invest
_DEFAULT_TRAIN = Strategy.train

AGENT_REPORTERS = (
    "value",
    "revenue",
    "gross_margin",
    "operating_margin",
    "posture",
    "markup",
    "cash",
    "capacity",
    "capital",
)
"""The DataCollector's agent reporters, in the order of :meth:`FirmAgent.outcome`."""


class FirmAgent(mesa.Agent):
    """A firm in the stack.

    The engine reads and writes each firm through its agent: it asks :meth:`decide` for
    the round's action, appends the round's outcome to its :attr:`history` (what
    :meth:`remember` appends: ``StackModel.record`` does it in its pass over the firms,
    the counterparts' vote last), and skips a firm that is no longer :attr:`active`.

    Attributes
    ----------
    name, label
        Identifier and display name.
    index
        Position in the model's firm arrays.
    strategy
        The decision rule; it sees only the frozen observation.
    memory_depth
        Rounds of history its strategy declares it reads (``None``: all of them); its
        observations show that many.
    active
        False once acquired by another firm: the engine then neither asks it to decide
        nor records its outcome (set by the engine when the acquisition happens).
    history
        The firm's per-round lists, appended once a round (as by :meth:`remember`): its
        headline postures, payoffs (value captured), operating margins, mean markups, and
        its counterparts' majority posture. Read them through the properties below.
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
        self.memory_depth = _depth(strategy)
        self.active = True
        self.history: tuple[list[Posture], list[float], list[float], list[float], list[Posture]] = (
            [],
            [],
            [],
            [],
            [],
        )

    def set_strategy(self, strategy: Strategy) -> None:
        """Replace the strategy mid-run (an event); it keeps the firm's generator."""
        self.strategy = strategy
        self.strategy.reset(self.strategy_rng)
        self.memory_depth = _depth(strategy)

    @property
    def layers(self) -> tuple[str, ...]:
        """Layers the firm operates in now (integrations included), bottom first."""
        return self.model.state.firm_layers(self.index)

    @property
    def cash(self) -> float:
        """Cash, dollars."""
        return float(self.model.state.cash[self.index])

    def decide(self, observation: Observation) -> Action:
        """Ask the strategy for this round's action."""
        return self.strategy.decide(observation)

    def invest(
        self, observation: Observation, positions: Mapping[str, CapitalPosition]
    ) -> Mapping[str, float]:
        """Ask the strategy how much capacity to order in each capital-goods layer."""
        return self.strategy.invest(observation, positions)

    def train(self, observation: Observation, position: TrainingPosition) -> float:
        """Ask the strategy how much training compute to buy (units of the layer below)."""
        return self.strategy.train(observation, position)

    def default_investment(self) -> tuple[float, int] | None:
        """``(target_utilisation, builds_ahead)`` if the strategy invests by the default rule.

        ``None`` when its class overrides :meth:`Strategy.invest
        <stackgame.strategies.base.Strategy.invest>`: the engine then asks it through
        :meth:`invest`. Otherwise the engine may compute the default rule
        (:func:`~stackgame.strategies.base.default_investment`) for many firms at once,
        with the same numbers (``docs/MODEL.md`` 15.3).
        """
        s = self.strategy
        if type(s).invest is not _DEFAULT_INVEST:
            return None
        return s.target_utilisation, s.builds_ahead

    def trains_by_default(self) -> bool:
        """Whether the strategy trains by the default rule (``docs/MODEL.md`` 20.2).

        False when its class overrides :meth:`Strategy.train
        <stackgame.strategies.base.Strategy.train>` (the engine then asks it through
        :meth:`train`); when true the engine may compute
        :func:`~stackgame.strategies.base.default_training` for many operations at once.
        """
        return type(self.strategy).train is _DEFAULT_TRAIN

    def remember(
        self,
        posture: Posture,
        payoff: float,
        margin: float,
        markup: float,
        counterpart: Posture = Posture.RESTRAIN,
    ) -> None:
        """Append this round's outcome to the firm's history.

        ``counterpart``: its counterparts' majority posture this round.
        """
        postures, payoffs, margins, markups, counterparts = self.history
        postures.append(posture)
        payoffs.append(payoff)
        margins.append(margin)
        markups.append(markup)
        counterparts.append(counterpart)

    @property
    def postures(self) -> HistoryView:
        """Headline posture in each past round, oldest first (a read-only view)."""
        return HistoryView(self.history[0])

    @property
    def payoffs(self) -> HistoryView:
        """Payoff (value captured) in each past round, oldest first."""
        return HistoryView(self.history[1])

    @property
    def margins(self) -> HistoryView:
        """Operating margin in each past round, oldest first."""
        return HistoryView(self.history[2])

    @property
    def markups(self) -> HistoryView:
        """Mean markup over its layers in each past round, oldest first."""
        return HistoryView(self.history[3])

    @property
    def counterpart_history(self) -> HistoryView:
        """Its counterparts' majority posture in each past round, oldest first."""
        return HistoryView(self.history[4])

    def outcome(self, t: int | None = None, capital: np.ndarray | None = None) -> tuple[Any, ...]:
        """The firm's agent reporters (:data:`AGENT_REPORTERS`) for round ``t``.

        ``value``: value captured (dollars); ``revenue``: revenue from others (dollars);
        ``gross_margin``: gross profit over that revenue (0 without any);
        ``operating_margin``, ``posture`` (0 restrain, 1 extract) and ``markup`` (mean over
        its layers): as in its history (``None`` in a round it did not play, once
        acquired); ``cash`` (dollars) as recorded; the buildout's stocks: ``capacity``,
        the capacity in force in the round (units), and ``capital``, the book value of
        its active operations (dollars). ``t`` defaults to the last recorded round;
        ``capital`` (per operation, inactive ones at 0, as of round ``t``) to the
        state's now.
        """
        model = self.model
        history = model.history
        if t is None:
            t = len(history) - 1
        if t < 0:
            return (0.0, 0.0, 0.0, None, None, None, self.cash, 0.0, 0.0)
        row = history.firm_rows[t]
        i = self.index
        revenue = float(row["revenue"][i])
        gross = float(row["gross_profit"][i])
        postures, _, margins, markups, _ = self.history
        played = len(postures) > t
        op_firm = history.op_firm[t]
        mine = op_firm == i
        if capital is None:
            st = model.state
            capital = np.where(st.active, st.capital, 0.0)
        n = op_firm.shape[0]  # (operations added since are not the round's)
        return (
            float(row["value"][i]),
            revenue,
            gross / revenue if revenue > 1e-12 else 0.0,
            margins[t] if played else None,
            int(postures[t]) if played else None,
            markups[t] if played else None,
            float(row["cash"][i]),
            float(history.op_rows[t]["capacity"][mine].sum()),
            float(capital[:n][mine].sum()),
        )


def _depth(strategy: Strategy) -> int | None:
    depth = strategy.classifier.memory_depth
    return None if depth == float("inf") else int(depth)


def _report(k: int, agent: FirmAgent) -> Any:
    return agent.outcome()[k]


def agent_reporters() -> dict[str, Any]:
    """Mesa agent reporters, one per :data:`AGENT_REPORTERS` entry (each a callable)."""
    return {name: partial(_report, k) for k, name in enumerate(AGENT_REPORTERS)}
