"""Scheduled and conditional events: regime-change triggers, shocks, cost declines.

An event takes effect from its ``round`` on: the model applies, at the end of round
``t``, every event due in round ``t + 1`` (events due in round 0 apply when the model is
built). A conditional event (``when``) fires once, at the first round from ``round`` on
whose previous round satisfies the condition. The three regime-change triggers of
`000_e3319be9a08c4b37.txt` are ``trigger`` events: they raise a flag that every strategy
sees in ``Observation.triggers`` and apply their ``set`` table (for example Nvidia's
value-based markup, TSMC's long-term-agreement price, Google's TPU sold outside).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from stackgame.environment.scenario import EventSpec
from stackgame.environment.state import StackState


@dataclass
class Decline:
    """A cost decline in progress: ``per_round`` multiplier, ``left`` rounds to go."""

    layer: int | None
    per_round: float
    left: int
    target: str


def condition_met(event: EventSpec, last: Mapping[str, Mapping[str, float]] | None) -> bool:
    """Whether a conditional event's condition holds on last round's per-layer data.

    ``last[layer][metric]`` holds the public data; ``last["_"]["demand"]`` the market
    size. With no data yet (round 0) a condition never holds.
    """
    cond = event.when
    if cond is None:
        return True
    if last is None:
        return False
    key = "_" if cond.metric == "demand" else (cond.layer or "_")
    value = last.get(key, {}).get(cond.metric)
    if value is None:
        return False
    if cond.above is not None and not value > cond.above:
        return False
    return not (cond.below is not None and not value < cond.below)


def apply_event(
    event: EventSpec,
    state: StackState,
    triggers: set[str],
    declines: list[Decline],
    on_strategy: Callable[[str, str], None],
) -> str:
    """Apply one event to the running state; return a one-line description for the log.

    ``on_strategy(firm, strategy)`` is called for ``firms.<firm>.strategy`` settings,
    which the model (not the state) must carry out.
    """
    layer = state.layer_index[event.layer] if event.layer is not None else None
    text = event.name
    if event.kind == "trigger":
        triggers.add(event.name)
        text = f"trigger {event.name} fired"
    elif event.kind == "demand_shock":
        state.demand.market_size *= event.factor
        if event.growth is not None:
            state.demand_growth = event.growth
        text = f"demand shock: market size x{event.factor:g}"
        if event.growth is not None:
            text += f", growth {event.growth:+.1%}/round"
    elif event.kind == "cost_decline":
        per_round = event.factor ** (-1.0 / event.span)
        declines.append(Decline(layer, per_round, event.span, event.target))
        where = event.layer or "all layers"
        what = event.target.replace("_", " ")
        text = f"{what} in {where} falls {event.factor:g}x over {event.span} rounds"
    elif event.kind == "new_generation":
        if layer is not None:
            mask = state.layer_of == layer
            state.unit_cost[mask] /= event.factor
            state.base_unit_cost[mask] /= event.factor
        text = f"new hardware generation in {event.layer}: unit cost /{event.factor:g}"
        if event.writedown > 0:
            text += f", capital above written down {event.writedown:.0%}"
    for path, value in event.set.items():
        if not state.set_path(path, value):
            on_strategy(path.split(".")[1], str(value))
    return text


def writedown_charge(event: EventSpec, state: StackState) -> np.ndarray:
    """One-off write-down per operation from a new-generation event.

    The generation makes the old hardware held by the layer above ``event.layer`` (the
    clouds, when chips get a new generation) worth less: ``writedown * capital`` is charged
    as depreciation this round (`001_098523a2e050d583.txt`: "every new generation
    devalues the last").
    """
    charge = np.zeros(state.n_ops)
    if event.kind != "new_generation" or event.writedown <= 0 or event.layer is None:
        return charge
    above = state.layer_index[event.layer] + 1
    if above < state.n_layers:
        mask = (state.layer_of == above) & state.active
        charge[mask] = event.writedown * state.capital[mask]
    return charge


def advance_declines(state: StackState, declines: list[Decline]) -> None:
    """Apply one round of every cost decline in progress and drop finished ones."""
    for d in declines:
        if d.left <= 0:
            continue
        if d.target == "input_coefficient":
            if d.layer is None:
                state.input_coefficient *= d.per_round
            else:
                state.input_coefficient[d.layer] *= d.per_round
            state.structure.input_coefficient = state.input_coefficient
            goods = state.capital_goods
            if goods[d.layer] if d.layer is not None else goods.any():
                # a_l of a capital-goods layer: what is kept per structure version reads
                # it (the capital-goods layout, the investment plan), so the version moves
                state.version += 1
        else:
            mask = (
                np.ones(state.n_ops, dtype=bool) if d.layer is None else state.layer_of == d.layer
            )
            state.unit_cost[mask] *= d.per_round
            state.base_unit_cost[mask] *= d.per_round
        d.left -= 1
    declines[:] = [d for d in declines if d.left > 0]


class EventSchedule:
    """The events still to come, the cost declines in progress and the triggers fired.

    Parameters
    ----------
    events
        The scenario's events; only enabled ones are scheduled.

    Attributes
    ----------
    pending
        Enabled events not yet applied, in the scenario's order.
    conditional
        Whether any event waits on a condition over last round's public data.
    declines
        Cost declines in progress.
    triggers
        Names of the triggers that have fired.
    round
        The round whose events are being (or were last) applied, for the log.
    """

    def __init__(self, events: list[EventSpec]) -> None:
        self.pending = [e for e in events if e.enabled]
        self.conditional = any(e.when is not None for e in self.pending)
        self.declines: list[Decline] = []
        self.triggers: set[str] = set()
        self.round = 0

    def is_due(
        self, event: EventSpec, round_: int, public: Mapping[str, Mapping[str, float]] | None
    ) -> bool:
        """Whether ``event`` applies at the start of ``round_``."""
        if event.when is None:
            return event.round == round_
        return event.round <= round_ and condition_met(event, public)

    def apply_due(
        self,
        round_: int,
        state: StackState,
        public: Mapping[str, Mapping[str, float]] | None,
        on_strategy: Callable[[str, str], None],
        on_applied: Callable[[EventSpec, str, np.ndarray], None],
    ) -> None:
        """Apply every event due at the start of ``round_``.

        ``on_strategy(firm, strategy)`` carries out strategy changes; ``on_applied(event,
        text, charge)`` is called after each event with its log line and its write-down
        charge per operation (already taken off the state's book capital).
        """
        due = [e for e in self.pending if self.is_due(e, round_, public)]
        self.round = round_
        for e in due:
            self.pending.remove(e)
            text = apply_event(e, state, self.triggers, self.declines, on_strategy)
            charge = writedown_charge(e, state)
            state.capital -= charge  # the written-down book value is gone for good
            on_applied(e, text, charge)
        # events scheduled before now that never fired (conditional ones wait; scheduled
        # ones in the past were either applied or belong to round 0)
        self.pending = [e for e in self.pending if e.when is not None or e.round > round_]

    def advance(self, state: StackState) -> None:
        """One round of every cost decline in progress."""
        if self.declines:
            advance_declines(state, self.declines)
