"""The contract between a firm and its strategy: `Observation` in, `Action` out.

A strategy never touches the Mesa model or the agent. Each round the engine hands it a
frozen :class:`Observation` and it returns an :class:`Action`. The same objects play the
AI stack and classic two-player matrix games: the observation names its counterparts
generically (suppliers, customers, rivals; in a matrix game the one opponent), so a
tit-for-tat written once reacts to "what my counterparts did last round" in both.

Conventions
-----------
* ``Posture.RESTRAIN`` is "cooperate" and ``Posture.EXTRACT`` is "defect" in the
  vocabulary of the Axelrod library.
* Randomness comes only from ``self.rng``, a ``numpy.random.Generator`` the engine injects
  through :meth:`Strategy.reset`; no strategy draws from a global generator.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np


class Posture(IntEnum):
    """Pricing posture for one layer: restrain (cooperate) or extract (defect)."""

    RESTRAIN = 0
    EXTRACT = 1

    @property
    def letter(self) -> str:
        """Axelrod's one-letter code: C for restrain, D for extract."""
        return "C" if self is Posture.RESTRAIN else "D"


RESTRAIN = Posture.RESTRAIN
EXTRACT = Posture.EXTRACT


class Move(StrEnum):
    """An integration move: stay, build into a layer, buy a firm, or take an equity stake."""

    STAY = "stay"
    BUILD = "build"
    BUY = "buy"
    STAKE = "stake"


@dataclass(frozen=True)
class Integration:
    """An integration decision.

    Parameters
    ----------
    move
        What to do. ``BUILD`` and ``BUY`` name an adjacent ``layer``; ``BUY`` and ``STAKE``
        name a ``target`` firm.
    layer
        The adjacent layer to enter (``BUILD``, ``BUY``).
    target
        The firm bought or in which a stake is taken (``BUY``, ``STAKE``).
    """

    move: Move = Move.STAY
    layer: str | None = None
    target: str | None = None


STAY = Integration()


@dataclass(frozen=True, init=False)
class Action:
    """What a firm does this round.

    Parameters
    ----------
    postures
        Pricing posture per layer the firm sells in. A layer missing here is priced with
        ``default``.
    default
        Posture for every layer not named in ``postures``.
    markups
        Explicit markups per layer (a learner on a grid); they override the posture.
    quantities
        Quantity offers per layer, used only where a layer competes in quantities
        (Cournot).
    integration
        The integration move.
    """

    postures: Mapping[str, Posture] = field(default_factory=dict)
    default: Posture = Posture.RESTRAIN
    markups: Mapping[str, float] = field(default_factory=dict)
    quantities: Mapping[str, float] = field(default_factory=dict)
    integration: Integration = STAY

    def __init__(
        self,
        postures: Mapping[str, Posture] | None = None,
        default: Posture = Posture.RESTRAIN,
        markups: Mapping[str, float] | None = None,
        quantities: Mapping[str, float] | None = None,
        integration: Integration = STAY,
    ) -> None:
        # the dataclass's own frozen __init__ sets each field through object.__setattr__;
        # strategies build an action every round, so fill the instance dict at once
        self.__dict__.update(
            postures={} if postures is None else postures,
            default=default,
            markups={} if markups is None else markups,
            quantities={} if quantities is None else quantities,
            integration=integration,
        )

    def posture(self, layer: str) -> Posture:
        """Posture chosen for ``layer``."""
        return self.postures.get(layer, self.default)

    @property
    def headline(self) -> Posture:
        """One posture that summarises the action: extract if any layer extracts."""
        if not self.postures:
            return self.default
        if any([p is Posture.EXTRACT for p in self.postures.values()]):
            return Posture.EXTRACT
        if self.postures:
            return Posture.RESTRAIN
        return self.default

    @classmethod
    def uniform(cls, posture: Posture, integration: Integration = STAY) -> Action:
        """Same posture in every layer (shared, immutable instances when staying put)."""
        if integration is STAY and cls is Action:  # IntEnum keys also match plain ints
            return _UNIFORM[posture]
        return cls(default=Posture(posture), integration=integration)


_UNIFORM = {
    p: Action(postures=MappingProxyType({}), default=p, markups=MappingProxyType({}),
              quantities=MappingProxyType({}))
    for p in Posture
}  # fmt: skip


@dataclass(frozen=True)
class LayerView:
    """Last round's public market data for one layer.

    Attributes
    ----------
    price
        Quantity-weighted mean price of the layer's sales (dollars per unit).
    quantity
        Units sold by the layer.
    gross_margin, operating_margin
        Layer-level margins, fractions of layer revenue.
    hhi
        Herfindahl-Hirschman index of quantity shares, 0 to 1.
    restraint_rate
        Share of the layer's sellers that restrained.
    """

    price: float
    quantity: float
    gross_margin: float
    operating_margin: float
    hhi: float
    restraint_rate: float


@dataclass(frozen=True)
class Observation:
    """Everything a strategy may see before it decides (frozen; strategies cannot mutate).

    Attributes
    ----------
    round
        Round number, starting at 0.
    firm
        The deciding firm's name (``"player"`` in a matrix game).
    layers
        Layers the firm sells in, bottom of the stack first.
    own_postures
        The firm's headline posture in each past round, oldest first.
    own_payoffs
        The firm's payoff in each past round (operating profit in the stack, the matrix
        payoff in a matrix game), oldest first.
    own_margins
        The firm's operating margin in each past round (the payoff in a matrix game).
    counterparts
        Names of the firms it trades with or competes against (suppliers, customers,
        rivals; in a matrix game the one opponent, ``"opponent"``).
    suppliers, customers, rivals
        The counterparts split by relation (empty in a matrix game, except ``rivals``).
    counterpart_postures
        Each counterpart's past headline postures, oldest first.
    counterpart_history
        One aggregate posture per past round: ``EXTRACT`` when at least half of the
        counterparts extracted. In a matrix game this is exactly the opponent's history.
    supplier_margins
        Last round's operating margin of each supplier (empty in a matrix game).
    market
        Last round's public data per layer (empty before the first round and in a matrix
        game).
    regulator_stance
        The antitrust regulator's stance, 0 (lax) to 1 (aggressive).
    under_investigation
        Whether the firm is under an open antitrust investigation.
    triggers
        Regime-change triggers that have fired (for example ``"nvidia_value_pricing"``).
    demand_growth
        Last observed growth of final demand, per round (0 in a matrix game).
    utilisation
        The firm's last utilisation per layer (quantity over capacity).
    markup_grid
        Markups a learner may choose from, common to all its layers (empty: choose
        between the two postures).
    integrable
        Adjacent layers the firm could still build into.
    integrated
        Layers the firm has entered by integration.
    horizon
        Number of rounds, when the engine announces it (``None``: unknown or random end).
    own_markups
        The markup the firm charged in each past round (mean over its layers).
    counterpart_markups
        Each counterpart's past markups (mean over its layers), oldest first.
    stage_payoffs
        In a matrix game, the row player's payoff table ``stage_payoffs[own][other]``
        indexed by posture (restrain 0, extract 1); ``None`` in the stack, where payoffs
        must be learnt from experience.
    upstream_prices
        Under sequential timing, this round's prices already set in the layers below the
        firm's (layer name to mean price); empty under simultaneous timing.
    own_prices
        The firm's own price per layer last round (dollars per unit).
    own_unit_cost
        The firm's full unit cost per layer last round (own variable cost plus inputs).
    markup_bounds
        The restrain and extract markups the scenario gives the firm, per layer.
    """

    round: int
    firm: str
    layers: tuple[str, ...] = ()
    own_postures: tuple[Posture, ...] = ()
    own_payoffs: tuple[float, ...] = ()
    own_margins: tuple[float, ...] = ()
    counterparts: tuple[str, ...] = ()
    suppliers: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    rivals: tuple[str, ...] = ()
    counterpart_postures: Mapping[str, tuple[Posture, ...]] = field(default_factory=dict)
    counterpart_history: tuple[Posture, ...] = ()
    supplier_margins: Mapping[str, float] = field(default_factory=dict)
    market: Mapping[str, LayerView] = field(default_factory=dict)
    regulator_stance: float = 0.0
    under_investigation: bool = False
    triggers: frozenset[str] = frozenset()
    demand_growth: float = 0.0
    utilisation: Mapping[str, float] = field(default_factory=dict)
    markup_grid: tuple[float, ...] = ()
    integrable: tuple[str, ...] = ()
    integrated: tuple[str, ...] = ()
    horizon: int | None = None
    own_markups: tuple[float, ...] = ()
    counterpart_markups: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    stage_payoffs: tuple[tuple[float, float], tuple[float, float]] | None = None
    upstream_prices: Mapping[str, float] = field(default_factory=dict)
    own_prices: Mapping[str, float] = field(default_factory=dict)
    own_unit_cost: Mapping[str, float] = field(default_factory=dict)
    markup_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def last_counterpart(self) -> Posture | None:
        """The counterparts' aggregate posture last round, ``None`` in round 0."""
        return self.counterpart_history[-1] if self.counterpart_history else None

    @property
    def last_own(self) -> Posture | None:
        """The firm's own posture last round, ``None`` in round 0."""
        return self.own_postures[-1] if self.own_postures else None

    def replace(self, **changes: Any) -> Observation:
        """A copy with some fields changed (for tests and scripted rivals)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def fast(cls, **fields: Any) -> Observation:
        """Build an observation without the frozen-dataclass ``__init__`` (hot path).

        The engine builds one observation per firm per round; a frozen dataclass's
        ``__init__`` goes through ``object.__setattr__`` for each of its fields, which
        costs more than the rest of the observation. This fills the instance's
        ``__dict__`` directly from the field defaults and ``fields``; the result is equal
        to ``Observation(**fields)`` and just as frozen. Unknown names raise ``TypeError``.
        """
        if not (fields.keys() <= _OBS_FIELDS and "round" in fields and "firm" in fields):
            unknown = sorted(set(fields) - _OBS_FIELDS)
            raise TypeError(f"Observation.fast needs round and firm; unknown: {unknown}")
        obs = object.__new__(cls)
        obs.__dict__.update(_OBS_DEFAULTS)
        obs.__dict__.update(fields)
        return obs

    @classmethod
    def deferred(cls, build: Callable[..., dict[str, Any]], *args: Any) -> Observation:
        """An observation whose attributes are ``build(*args)``, computed on first read.

        The engine builds one observation per firm per round, and a strategy that never
        reads its observation (``always_restrain``) should not pay for it. Reading any
        field, comparing, printing or replacing the observation calls ``build(*args)``
        once; its result (a dict naming every field, from ``OBSERVATION_DEFAULTS`` up)
        becomes the instance's attributes and later reads are plain look-ups. ``args`` must
        be snapshots the caller will not change (the observation may be read rounds later).
        """
        obs = object.__new__(cls)
        object.__setattr__(obs, "__dict__", {_PENDING: (build, args)})
        return obs


def _field_defaults(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            # shared between instances built by ``fast``: make empty mappings read-only
            out[f.name] = MappingProxyType(value) if isinstance(value, dict) else value
    return out


_OBS_DEFAULTS = _field_defaults(Observation)
OBSERVATION_DEFAULTS: Mapping[str, Any] = MappingProxyType(_OBS_DEFAULTS)
"""Every field of :class:`Observation` with its default (read-only; see ``deferred``)."""
_OBS_FIELDS = frozenset(f.name for f in dataclasses.fields(Observation))
_PENDING = "_deferred"


class _Field:
    """A field of :class:`Observation` read through the class: only a deferred one gets here.

    A non-data descriptor, so an attribute in the instance's ``__dict__`` (every field of
    an observation built by its constructor, and of a deferred one once built) is found
    first and this is not called. On a deferred observation the first read builds all
    the fields (:meth:`Observation.deferred`); otherwise it gives the field's default, as
    the dataclass's class attribute did (an instance filled without every field).
    """

    __slots__ = ("default", "name")

    def __init__(self, name: str, default: Any) -> None:
        self.name = name
        self.default = default

    def __get__(self, obj: Observation | None, owner: type | None = None) -> Any:
        pending = None if obj is None else obj.__dict__.pop(_PENDING, None)
        if pending is None:
            if self.default is dataclasses.MISSING:
                raise AttributeError(self.name)
            return self.default
        build, args = pending
        d = obj.__dict__
        d.update(build(*args))
        return d[self.name]


for _f in dataclasses.fields(Observation):
    setattr(Observation, _f.name, _Field(_f.name, _OBS_DEFAULTS.get(_f.name, dataclasses.MISSING)))


@dataclass(frozen=True)
class Classifier:
    """What kind of strategy this is, in the manner of the Axelrod library's classifier.

    Attributes
    ----------
    memory_depth
        How many past rounds it looks at (``inf`` when unbounded).
    stochastic
        Whether it draws random numbers.
    uses_integration
        Whether it ever makes an integration move.
    learns
        Whether it adapts from payoffs (reinforcement, regret, beliefs).
    inspects_rivals
        Whether it uses more than public data and its own history.
    uses_markup_grid
        Whether it chooses explicit markups on a grid rather than postures.
    family
        One of ``fixed``, ``archetype``, ``reciprocal``, ``learner``.
    """

    memory_depth: float = 0
    stochastic: bool = False
    uses_integration: bool = False
    learns: bool = False
    inspects_rivals: bool = False
    uses_markup_grid: bool = False
    family: str = "fixed"

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary (JSON-friendly; infinite memory becomes ``"inf"``)."""
        d = dataclasses.asdict(self)
        if d["memory_depth"] == float("inf"):
            d["memory_depth"] = "inf"
        return d


class Strategy:
    """Base class: one small subclass per strategy.

    A subclass sets ``name`` (the registry key, snake case), ``classifier``, a docstring
    that says what it does and cites its source, and implements :meth:`decide`. State
    lives on the instance and :meth:`reset` clears it; a subclass with state overrides
    :meth:`reset` and calls ``super().reset(rng)``.
    """

    name: ClassVar[str] = ""
    classifier: ClassVar[Classifier] = Classifier()

    def __init__(self) -> None:
        """Nothing to set up here: the generator is made on first use (see ``rng``)."""

    @functools.cached_property
    def rng(self) -> np.random.Generator:
        """The injected generator; before any :meth:`reset`, one seeded with 0.

        Created on first use only (a generator costs more than most strategies' whole
        construction, and the engine replaces it in :meth:`reset` before play). The
        assignment in :meth:`reset` lands in the instance's ``__dict__``, so later reads
        are plain attribute look-ups.
        """
        return np.random.default_rng(0)

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Forget everything and take a new random generator from the engine."""
        if rng is not None:
            self.rng = rng

    def decide(self, observation: Observation) -> Action:
        """Return this round's action."""
        raise NotImplementedError

    def plan(self, rounds: int) -> list[Posture] | None:
        """The postures of the next ``rounds`` decisions, all drawn now; ``None`` if not.

        An optional shortcut for strategies of memory depth 0 whose decisions ignore the
        observation altogether (Axelrod's ``Random``). A strategy that overrides it
        promises that the result is exactly the headline postures of ``rounds``
        successive calls of :meth:`decide`, drawing the same numbers from ``self.rng`` in
        the same order and leaving the strategy as those calls would; the conformance
        tests hold it to that. The matrix-game engine (with its decision cache) then
        plays those moves instead of building an observation every turn. The default,
        ``None``: ask :meth:`decide` every round.
        """
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
