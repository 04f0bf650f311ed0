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

import copy
import dataclasses
import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
from stackgame.strategies.default_rules import investment_units, training_units


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


@dataclass(frozen=True)
class ContractOffer:
    """An offer to sign a supply contract with a seller (``docs/MODEL.md`` 17).

    The firm offers to buy from ``seller``'s operation in ``layer`` (the layer just below
    one of its own) ``quantity`` units a round for ``duration`` rounds, from the next
    round. The engine signs it after the round when the seller is active, operates in
    ``layer``, and has that much capacity not already contracted; signed or refused, the
    offer is logged.

    Parameters
    ----------
    seller
        The seller's firm name.
    layer
        The seller's layer.
    quantity
        Units a round.
    duration
        Rounds.
    price
        Fixed price per unit; ``None`` fixes it at the seller's price of the round the
        offer is signed in.
    take_or_pay
        Share of ``quantity`` paid for each round whether taken or not.
    prepayment
        Paid to the seller in the first round, credited against the payments that follow.
    """

    seller: str
    layer: str
    quantity: float
    duration: int
    price: float | None = None
    take_or_pay: float = 1.0
    prepayment: float = 0.0


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
    contracts
        Supply contracts the firm offers to sign this round, as buyer
        (:class:`ContractOffer`; none by default).
    """

    postures: Mapping[str, Posture] = field(default_factory=dict)
    default: Posture = Posture.RESTRAIN
    markups: Mapping[str, float] = field(default_factory=dict)
    quantities: Mapping[str, float] = field(default_factory=dict)
    integration: Integration = STAY
    contracts: tuple[ContractOffer, ...] = ()

    def __init__(
        self,
        postures: Mapping[str, Posture] | None = None,
        default: Posture = Posture.RESTRAIN,
        markups: Mapping[str, float] | None = None,
        quantities: Mapping[str, float] | None = None,
        integration: Integration = STAY,
        contracts: tuple[ContractOffer, ...] = (),
    ) -> None:
        # the dataclass's own frozen __init__ sets each field through object.__setattr__;
        # strategies build an action every round, so fill the instance dict at once
        self.__dict__.update(
            postures={} if postures is None else postures,
            default=default,
            markups={} if markups is None else markups,
            quantities={} if quantities is None else quantities,
            integration=integration,
            contracts=contracts,
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


class ReadOnlyDict(dict[Any, Any]):
    """A dictionary that cannot be changed: the mappings inside an :class:`Observation`.

    A ``dict`` (so it reads, compares, iterates and serialises as one, at dictionary
    speed) whose mutating methods raise ``TypeError``. Unlike ``types.MappingProxyType``
    it can be copied, deep-copied and pickled, and ``dataclasses.asdict`` rebuilds it;
    the copy is read-only too.
    """

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("an observation's mappings are read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> ReadOnlyDict:
        return self  # immutable: a copy may be the same object

    def __deepcopy__(self, memo: dict[int, Any]) -> ReadOnlyDict:
        return type(self)({copy.deepcopy(k, memo): copy.deepcopy(v, memo) for k, v in self.items()})

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return dict.__repr__(self)


EMPTY: Mapping[Any, Any] = ReadOnlyDict()
"""The empty read-only mapping (every mapping field's default)."""


class HistoryView(Sequence[Any]):
    """A read-only view of a history list: its entries ``start`` to ``stop``, never copied.

    The engine appends one entry per round to each firm's history lists; an observation
    of round ``t`` holds views with ``stop = t``, so it keeps showing the history as it
    was when the round was observed however long it is kept, and building it costs the
    same in round 20,000 as in round 2. A strategy that declares a finite memory depth
    gets a window (``start = stop - depth``). A view indexes, slices (a slice is a tuple
    of just that part), iterates, tests membership, converts with ``numpy.asarray`` and
    compares equal to a tuple or list with the same entries, like the tuple it replaces.
    Copying or pickling one copies only the entries it shows.

    Parameters
    ----------
    items
        A list (or tuple) that is only ever appended to.
    stop
        Entries shown end before this index (default, or negative: the current length).
    start
        The first entry shown (default 0).
    """

    __slots__ = ("_items", "_start", "_stop")

    def __init__(self, items: Sequence[Any] = (), stop: int = -1, start: int = 0) -> None:
        self._items = items
        self._stop = len(items) if stop < 0 else stop
        self._start = start

    def __len__(self) -> int:
        return self._stop - self._start

    def __bool__(self) -> bool:
        return self._stop > self._start

    def __getitem__(self, index: Any) -> Any:
        if type(index) is int:  # (the common read, ``view[-1]``, first)
            i = index
        elif isinstance(index, slice):
            span = range(self._start, self._stop)[index]
            if span.step == 1:
                return tuple(self._items[span.start : span.stop])
            return tuple([self._items[i] for i in span])
        else:
            i = operator.index(index)
        n = self._stop - self._start
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("history index out of range")
        return self._items[self._start + i]

    def __iter__(self) -> Iterator[Any]:
        if self._start == 0:
            return itertools.islice(self._items, self._stop)
        return map(self._items.__getitem__, range(self._start, self._stop))

    def __reversed__(self) -> Iterator[Any]:
        return map(self._items.__getitem__, range(self._stop - 1, self._start - 1, -1))

    def __contains__(self, value: object) -> bool:
        try:
            self._items.index(value, self._start, self._stop)
        except ValueError:
            return False
        return True

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.asarray(self._items[self._start : self._stop], dtype=dtype)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HistoryView | tuple | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __add__(self, other: object) -> tuple[Any, ...]:
        if isinstance(other, HistoryView | tuple | list):
            return (*self, *other)
        return NotImplemented

    def __radd__(self, other: object) -> tuple[Any, ...]:
        if isinstance(other, HistoryView | tuple | list):
            return (*other, *self)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(tuple(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))


def _last_entry(history: Sequence[Any]) -> Any:
    """``history[-1] if history else None``; a :class:`HistoryView` read in place.

    What tit-for-tat and its kin read every round: a view's last entry without its
    ``__bool__`` and ``__getitem__`` calls (the same entry, ``None`` when it shows none).
    """
    if type(history) is HistoryView:
        stop = history._stop
        return history._items[stop - 1] if stop > history._start else None
    return history[-1] if history else None


_NO_MEAN = object()
"""What :meth:`HistoryMap._latest_mean` gives when it cannot answer (the general path does)."""


class LatestEntries:
    """The latest entry of every history of a mapping, as one array (engine's helper).

    The engine keeps one per run over the firms' markup histories and hands it to each
    round's :class:`HistoryMap` of them: the name-to-position table and each tuple of
    names' positions (kept by the tuple's identity, the tuples the engine hands out being
    the same objects round after round) are computed once, and a map gathers the latest
    entries once (:meth:`snapshot`), so a mean over hundreds of counterparts costs a
    numpy gather, not a Python loop over them.

    Parameters
    ----------
    histories
        Name to history list (only ever appended to; no name added or removed later).
    """

    __slots__ = ("_histories", "_index", "_pos")

    def __init__(self, histories: Mapping[str, Sequence[Any]]) -> None:
        self._histories = histories
        self._pos = {name: i for i, name in enumerate(histories)}
        self._index: dict[int, tuple[tuple[str, ...], np.ndarray]] = {}

    def positions(self, names: tuple[str, ...]) -> np.ndarray | None:
        """Each name's position (``len(histories)`` for a name not there); ``None``: changed."""
        if len(self._pos) != len(self._histories):
            return None  # (names were added: the table is not the mapping's any more)
        known = self._index.get(id(names))
        if known is not None and known[0] is names:
            return known[1]
        missing = len(self._pos)
        index = np.fromiter(
            map(self._pos.get, names, itertools.repeat(missing)), dtype=np.intp, count=len(names)
        )
        self._index[id(names)] = (names, index)
        return index

    def snapshot(self, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Per history, the last entry a view ending at ``stop`` shows, and whether it has one.

        Both arrays have one more slot (no entry) for the names not in the mapping. The
        entries are float64 when all are floats, else kept as objects (the caller then
        takes the general path).
        """
        lists = list(self._histories.values())
        lengths = list(map(len, lists))
        if lengths and 0 < min(lengths) and max(lengths) <= stop:
            # the engine's round: every list has entries, none past ``stop`` (C loops)
            values: list[Any] = list(map(operator.itemgetter(-1), lists))
            has = np.ones(len(lists) + 1, dtype=bool)
            has[-1] = False
        else:
            # a view ends at min(len, stop)
            values = [
                (v[-1] if n <= stop else v[stop - 1]) if n else 0.0
                for v, n in zip(lists, lengths, strict=True)
            ]
            has = np.array([*lengths, 0], dtype=np.intp) > 0
        floats = set(map(type, values)) <= _FLOAT_TYPES
        out = np.array(values + [0.0], dtype=np.float64 if floats else object)
        return out, has


_FLOAT_TYPES = {float, np.float64}


class HistoryMap(Mapping[str, HistoryView]):
    """A read-only mapping of names to :class:`HistoryView`, each made when looked up.

    What an observation shows of every firm's past postures or markups: the engine hands
    the same lists to every observation of a round, so a view is made only for a firm
    whose history a strategy actually reads. Compares equal to a ``dict`` with the same
    views; copies, deep copies and pickles as a :class:`ReadOnlyDict` of them.

    Parameters
    ----------
    histories
        Name to history list (only ever appended to).
    stop
        The round: each view shows at most the first ``stop`` entries.
    depth
        Show only the last ``depth`` of those (``None``: all).
    """

    __slots__ = (
        "_depth", "_equal", "_histories", "_last", "_latest", "_means", "_snapshot", "_stop",
    )  # fmt: skip

    def __init__(
        self,
        histories: Mapping[str, Sequence[Any]],
        stop: int,
        depth: int | None = None,
        latest: LatestEntries | None = None,
    ) -> None:
        self._histories = histories
        self._stop = stop
        self._depth = depth
        self._last: dict[tuple[str, ...], list[Any]] = {}
        # kept by the tuple's identity (a long tuple's hash walks it): (names, mean)
        self._means: dict[int, tuple[tuple[str, ...], Any]] = {}
        self._equal: dict[tuple[str, ...], Any] = {}  # (then by value, once per tuple seen)
        self._latest = latest  # (the engine's, over the same histories: see mean_of_last)
        self._snapshot: tuple[np.ndarray, np.ndarray] | None = None

    def __getitem__(self, name: str) -> HistoryView:
        values = self._histories[name]
        stop = min(len(values), self._stop)
        return HistoryView(values, stop, 0 if self._depth is None else max(0, stop - self._depth))

    def last_of(self, names: Iterable[str]) -> list[Any]:
        """The latest entry of each named history that has one, in ``names`` order.

        What ``[self[c][-1] for c in names if self.get(c)]`` gives, without making a view
        per name (a learner reads this of every counterpart, every round). The answer for
        a tuple of names is kept: the entries a view shows never change (the lists are
        only appended to), and the engine hands one map to all the round's observations,
        whose firms in a layer share their counterparts.
        """
        if self._depth is not None and self._depth <= 0:
            return []  # every view is empty
        stop = self._stop
        if stop <= 0:
            return []
        key = names if type(names) is tuple else None
        if key is not None:
            known = self._last.get(key)
            if known is not None:
                return known.copy()
        get = self._histories.get
        # a view ends at min(len(values), stop)
        out = [v[-1] if len(v) <= stop else v[stop - 1] for v in map(get, names) if v]
        if key is not None:
            self._last[key] = out.copy()
        return out

    def mean_of_last(self, names: Iterable[str]) -> Any:
        """``np.mean(self.last_of(names))``, or ``None`` when no named history has an entry.

        Kept per tuple of names (by identity: the engine hands the firms of a layer one
        tuple of counterparts), as :meth:`last_of` is: the firms of a layer share their
        counterparts, so a round computes each mean once rather than once per firm (the
        mean over a layer's worth of firms, for every firm, grew with the square of the
        stack). Built with a :class:`LatestEntries` (as the engine builds it), the latest
        entries of all histories are gathered once per map into one array and each
        tuple's mean is numpy's mean of its entries taken from it: the same floats in
        the same order as the list :meth:`last_of` gives, so the same bits.
        """
        if type(names) is not tuple:
            last = self.last_of(names)
            return np.mean(last) if last else None
        known = self._means.get(id(names))
        if known is not None and known[0] is names:
            return known[1]
        # from the latest entries first: the same mean as an equal tuple's (the same
        # positions), without hashing a tuple of hundreds of names twice a round
        mean = self._latest_mean(names) if self._latest is not None else _NO_MEAN
        if mean is _NO_MEAN:
            mean = self._equal.get(names, _NO_MEAN)  # (an equal tuple seen already)
            if mean is _NO_MEAN:
                last = self.last_of(names)
                mean = np.mean(last) if last else None
            self._equal[names] = mean
        self._means[id(names)] = (names, mean)
        return mean

    def _latest_mean(self, names: tuple[str, ...]) -> Any:
        """:meth:`mean_of_last` from the latest entries as one array (``_NO_MEAN``: cannot).

        Falls back (``_NO_MEAN``) when an entry is not a float: numpy's mean of a list of
        other numbers (integers) would not be the mean of float64 entries.
        """
        latest = self._latest
        assert latest is not None
        if (self._depth is not None and self._depth <= 0) or self._stop <= 0:
            return None
        index = latest.positions(names)
        if index is None:
            return _NO_MEAN
        if self._snapshot is None:
            self._snapshot = latest.snapshot(self._stop)
        values, has = self._snapshot
        if values.dtype != np.float64:
            return _NO_MEAN
        taken = index[has[index]]
        if not taken.shape[0]:
            return None
        # ndarray.mean's float64 sum over the count, without its Python wrapper (the
        # same reduction and division, so the same bits)
        return np.add.reduce(values[taken]) / taken.shape[0]

    def get(self, name: str, default: Any = None) -> Any:
        """The view of ``name``'s history, or ``default`` (one lookup, no exception)."""
        values = self._histories.get(name)
        if values is None:
            return default
        stop = min(len(values), self._stop)
        return HistoryView(values, stop, 0 if self._depth is None else max(0, stop - self._depth))

    def __iter__(self) -> Iterator[str]:
        return iter(self._histories)

    def __len__(self) -> int:
        return len(self._histories)

    def __contains__(self, name: object) -> bool:
        return name in self._histories

    def __hash__(self) -> int:
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return repr(dict(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (ReadOnlyDict, (dict(self),))

    def __copy__(self) -> HistoryMap:
        return self  # read-only: a copy may be the same object

    def __deepcopy__(self, memo: dict[int, Any]) -> ReadOnlyDict:
        return ReadOnlyDict({k: copy.deepcopy(v, memo) for k, v in self.items()})


def _layer_view_init(
    self: LayerView,
    price: float,
    quantity: float,
    gross_margin: float,
    operating_margin: float,
    hhi: float,
    restraint_rate: float,
) -> None:
    # the frozen dataclass's own __init__ sets each field through object.__setattr__;
    # the engine builds one view per layer per round, so fill the instance dict at once
    self.__dict__.update(
        price=price, quantity=quantity, gross_margin=gross_margin,
        operating_margin=operating_margin, hhi=hhi, restraint_rate=restraint_rate,
    )  # fmt: skip


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

    __init__ = _layer_view_init


def _capital_position_init(
    self: CapitalPosition,
    installed: float,
    pipeline: float,
    used: float,
    retirement_rate: float,
    lead_time: int,
    contracted: float = 0.0,
    unit_price: float = 0.0,
    funds: float = float("inf"),
    growth: float = 0.0,
) -> None:
    # (as LayerView: the engine builds these every round, so fill the instance dict at once)
    self.__dict__.update(
        installed=installed, pipeline=pipeline, used=used, retirement_rate=retirement_rate,
        lead_time=lead_time, contracted=contracted, unit_price=unit_price, funds=funds,
        growth=growth,
    )  # fmt: skip


@dataclass(frozen=True)
class CapitalPosition:
    """A firm's capital goods in one capital-goods layer, for its investment decision.

    Units are units of the layer's capacity (output a round); money is dollars.

    Attributes
    ----------
    installed
        Capacity in force now.
    pipeline
        Capacity shipped and paid for, not yet online (it comes online within
        ``lead_time`` rounds).
    used
        Output last round (before the first round: the installed capacity).
    retirement_rate
        Share of installed capacity that retires each round (``1 / life``).
    lead_time
        Rounds from an order's shipment to its first output.
    contracted
        Units a round it has sold forward under contracts still running.
    unit_price
        What one unit of capacity cost last round (the capital goods it needs at their
        price; the expected price of this round's order).
    funds
        What it can spend now: cash above its buffer, debt room and equity room
        (``inf`` when financing is off).
    growth
        Final demand's expected growth a round: the scenario's trend (as events change
        it) plus the builders' ``demand.expected_growth_premium``.
    """

    installed: float
    pipeline: float
    used: float
    retirement_rate: float
    lead_time: int
    contracted: float = 0.0
    unit_price: float = 0.0
    funds: float = float("inf")
    growth: float = 0.0

    __init__ = _capital_position_init


def default_investment(
    position: CapitalPosition,
    target_utilisation: float = 0.85,
    ahead: int = 0,
) -> float:
    """Units of capacity to order: toward forecast demand plus backlog, over the lead time.

    ``docs/MODEL.md`` 15.3. The forecast is last round's use (or the contracted units,
    if more) grown at the expected demand growth ``g`` a round until the order comes
    online, plus ``ahead`` rounds more (building ahead); the target is that forecast at
    ``target_utilisation``; the order is the gap between the target and what will be
    installed then (installed capacity less retirements, plus the pipeline), never
    negative and never more than the funds buy::

        D  = max(used, contracted) (1 + g)^(L + 1 + ahead)
        I  = max(0, D / u* - (installed (1 - delta)^L + pipeline))
        I <= funds / unit_price

    (``used`` is last round's, ``L + 1`` rounds before the order's first output; the
    installed units retire ``L`` times before then, once at the end of each round.)

    The expressions are :func:`~stackgame.strategies.default_rules.investment_units`,
    which the engine's kernel calls too.
    """
    p = position
    return investment_units(
        p.used, p.contracted, p.growth, p.lead_time, ahead, p.installed, p.retirement_rate,
        p.pipeline, target_utilisation, p.unit_price, p.funds,
    )  # fmt: skip


@dataclass(frozen=True)
class TrainingPosition:
    """A lab's model and means, for its training decision (``docs/MODEL.md`` 20.2).

    Money is dollars; compute is in units of the layer below (a unit of cloud output).

    Attributes
    ----------
    stock
        Its model stock now (the capitalised training, after amortisation and
        write-downs so far).
    amortisation_rate
        Share of the stock that amortises each round (``1 / life``).
    revenue
        Its firm's revenue from others last round (0 before the first round).
    ratio
        The scenario's training spend over revenue for this operation.
    unit_price
        What a unit of its training compute cost last round (before it has trained:
        the layer below's mean price last round).
    funds
        What it can spend now: cash above its buffer, debt room and equity room
        (``inf`` when financing is off).
    """

    stock: float
    amortisation_rate: float
    revenue: float
    ratio: float
    unit_price: float
    funds: float = float("inf")


def default_training(position: TrainingPosition) -> float:
    """Units of training compute to buy: a ratio of revenue, within the funds.

    ``docs/MODEL.md`` 20.2. The budget is the scenario's ratio of training to revenue
    times last round's revenue from others; before the first round, when there is no
    revenue yet, it replaces what the initial stock amortises; never more than the funds
    (cash, debt and the equity investors will put up), so that the budget grows with
    revenue and with the equity available::

        B = ratio * R               (R > 0)
        B = rho * S                 (R = 0)
        T = min(B, funds) / unit price

    The expressions are :func:`~stackgame.strategies.default_rules.training_units`,
    which the engine's kernel calls too.
    """
    p = position
    return training_units(p.revenue, p.ratio, p.amortisation_rate, p.stock, p.funds, p.unit_price)


@dataclass(frozen=True, init=False)
class Observation:
    """Everything a strategy may see before it decides (frozen; strategies cannot mutate).

    Built one way, ``Observation(round=..., firm=..., **fields)`` (or the same, postponed
    until first read: :meth:`deferred`); a field left out has its default. The engine's
    observations are read-only throughout: histories are :class:`HistoryView` (views of
    the engine's growing lists, never copied per round), mappings :class:`ReadOnlyDict`
    or :class:`HistoryMap`, and so are the defaults (fields given to the constructor are
    kept as given). Any observation can be copied, deep-copied, pickled and turned into
    a dictionary with ``dataclasses.asdict``.

    Attributes
    ----------
    round
        Round number, starting at 0.
    firm
        The deciding firm's name (``"player"`` in a matrix game).
    layers
        Layers the firm sells in, bottom of the stack first.
    own_postures
        The firm's headline posture in each past round, oldest first (the last
        ``memory_depth`` rounds when its strategy declares a finite memory).
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
    suppliers_by_layer
        ``suppliers`` by the layer they sell in (each a layer just below one of the
        firm's): layer name to firm names.
    input_need
        Per layer the firm sells in, the units of the layer below its output needed last
        round (its input coefficient times its output; empty before the first round).
    hike_memory
        Per layer the firm sells in, its buyers' memory of its price hikes, ``h_s``
        (utility, ``docs/MODEL.md`` 5.4; empty before the first round, where lock-in is
        off, or for a strategy that does not set ``reads_lock_in``): read-only, the
        engine's state after last round. The next two fields likewise.
    customer_gravity
        Per layer the firm sells in, its customers' data gravity at it, ``g_bs``
        averaged over its buyers with weights the units it delivered to each last round
        (utility, 5.4; 0 where gravity is off or it sold nothing; empty before the first
        round).
    contract_backlog
        The firm's contracted sales still to come, as seller (dollars, ``MODEL.md`` 17:
        its long-term agreements' remaining rounds x quantity x price; 0 with none).
    """

    round: int
    firm: str
    layers: tuple[str, ...] = ()
    own_postures: Sequence[Posture] = ()
    own_payoffs: Sequence[float] = ()
    own_margins: Sequence[float] = ()
    counterparts: tuple[str, ...] = ()
    suppliers: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    rivals: tuple[str, ...] = ()
    counterpart_postures: Mapping[str, Sequence[Posture]] = EMPTY
    counterpart_history: Sequence[Posture] = ()
    supplier_margins: Mapping[str, float] = EMPTY
    market: Mapping[str, LayerView] = EMPTY
    regulator_stance: float = 0.0
    under_investigation: bool = False
    triggers: frozenset[str] = frozenset()
    demand_growth: float = 0.0
    utilisation: Mapping[str, float] = EMPTY
    markup_grid: tuple[float, ...] = ()
    integrable: tuple[str, ...] = ()
    integrated: tuple[str, ...] = ()
    horizon: int | None = None
    own_markups: Sequence[float] = ()
    counterpart_markups: Mapping[str, Sequence[float]] = EMPTY
    stage_payoffs: tuple[tuple[float, float], tuple[float, float]] | None = None
    upstream_prices: Mapping[str, float] = EMPTY
    own_prices: Mapping[str, float] = EMPTY
    own_unit_cost: Mapping[str, float] = EMPTY
    markup_bounds: Mapping[str, tuple[float, float]] = EMPTY
    suppliers_by_layer: Mapping[str, tuple[str, ...]] = EMPTY
    input_need: Mapping[str, float] = EMPTY
    hike_memory: Mapping[str, float] = EMPTY
    customer_gravity: Mapping[str, float] = EMPTY
    contract_backlog: float = 0.0

    def __init__(self, round: int, firm: str, **fields: Any) -> None:  # noqa: A002
        fields["round"] = round
        fields["firm"] = firm
        _fill(self, fields)

    @property
    def last_counterpart(self) -> Posture | None:
        """The counterparts' aggregate posture last round, ``None`` in round 0."""
        return _last_entry(self.counterpart_history)

    @property
    def last_own(self) -> Posture | None:
        """The firm's own posture last round, ``None`` in round 0."""
        return _last_entry(self.own_postures)

    def replace(self, **changes: Any) -> Observation:
        """A copy with some fields changed (for tests and scripted rivals)."""
        return dataclasses.replace(self, **changes)

    def __getstate__(self) -> dict[str, Any]:
        # copy, deepcopy and pickle take the fields (a deferred observation is built first)
        _complete(self)
        return dict(self.__dict__)

    @classmethod
    def deferred(cls, build: Callable[..., dict[str, Any]], *args: Any) -> Observation:
        """``Observation(**build(*args))``, constructed when a field is first read.

        The same construction as the constructor's, postponed: the engine makes one
        observation per firm per round, and a strategy that never reads its observation
        (``always_restrain``) should not pay for it. Reading any field, comparing,
        printing, copying or pickling it runs the constructor's body on ``build(*args)``
        once; later reads are plain look-ups. ``args`` must be
        snapshots the caller will not change (the observation may be read rounds later).
        """
        obs = object.__new__(cls)
        object.__setattr__(obs, "__dict__", {_PENDING: (build, args)})
        return obs

    @classmethod
    def lazy(cls, field: Callable[..., Any], *args: Any) -> Observation:
        """An observation whose every field is ``field(name, *args)``, each made when first read.

        :meth:`deferred` field by field: the engine makes one observation per firm per
        round, and most strategies read a few of its fields (``tit_for_tat``: the
        counterparts' last posture), so each field is made on its first read and kept
        (later reads are plain look-ups). Comparing, printing, copying, pickling or
        :meth:`replace` reads every field. ``field`` must give every field of the class
        (``round`` and ``firm`` included); ``args`` must be snapshots the caller will not
        change (the observation may be read rounds later).
        """
        obs = object.__new__(cls)
        object.__setattr__(obs, "__dict__", {_LAZY: (field, args, EMPTY)})
        return obs

    @classmethod
    def lazy_over(
        cls, known: Mapping[str, Any], field: Callable[..., Any], *args: Any
    ) -> Observation:
        """:meth:`lazy`, with the fields in ``known`` read from it rather than made.

        ``known[name]`` must be what ``field(name, *args)`` gives (the engine hands each
        firm's fields that change only with the structure: its layers, counterparts,
        grid), and ``known`` must not change later: a read of one of them is then one
        look-up, not a call.
        """
        obs = object.__new__(cls)
        object.__setattr__(obs, "__dict__", {_LAZY: (field, args, known)})
        return obs


_OBS_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(Observation) if f.name not in ("round", "firm")
}
OBSERVATION_DEFAULTS: Mapping[str, Any] = ReadOnlyDict(_OBS_DEFAULTS)
"""Every field of :class:`Observation` but ``round`` and ``firm``, with its default."""
_OBS_FIELDS = frozenset(_OBS_DEFAULTS)
_N_FIELDS = len(_OBS_DEFAULTS) + 2
_ALL_FIELDS = _OBS_FIELDS | {"round", "firm"}
_PENDING = "_deferred"
_LAZY = "_lazy"
_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Observation))


def _complete(obs: Observation) -> None:
    """Make every field of a deferred or lazy observation that is not made yet."""
    d = obs.__dict__
    lazy = d.pop(_LAZY, None)
    if lazy is not None:
        field, args, known = lazy
        for name in _FIELD_NAMES:
            if name not in d:
                d[name] = known[name] if name in known else field(name, *args)
    elif _PENDING in d:
        _ = obs.round


def _fill(obs: Observation, fields: dict[str, Any]) -> None:
    """The constructor's body: every field from ``fields``, else from its default.

    ``fields`` (a dict the caller hands over) becomes the instance's attributes.
    """
    # the frozen dataclass's own __init__ sets each field through object.__setattr__;
    # the engine builds one observation per firm per round, so adopt the dict at once
    if len(fields) != _N_FIELDS:
        fields = {**_OBS_DEFAULTS, **fields}
    if fields.keys() != _ALL_FIELDS:
        unknown = sorted(set(fields) - _ALL_FIELDS)
        raise TypeError(f"Observation: unknown field(s) {unknown}")
    object.__setattr__(obs, "__dict__", fields)


class _Field:
    """A field of :class:`Observation` read through the class: only a deferred one gets here.

    A non-data descriptor, so an attribute in the instance's ``__dict__`` (every field of
    a constructed observation) is found first and this is not called. On a deferred
    observation the first read constructs it (:meth:`Observation.deferred`), on a lazy one
    the field read (:meth:`Observation.lazy`); read on the class it gives the field's
    default.
    """

    __slots__ = ("default", "name")

    def __init__(self, name: str, default: Any) -> None:
        self.name = name
        self.default = default

    def __get__(self, obj: Observation | None, owner: type | None = None) -> Any:
        if obj is None:
            pending = None
        else:
            d = obj.__dict__
            lazy = d.get(_LAZY)
            if lazy is not None:  # (Observation.lazy: this field alone, kept)
                field, args, known = lazy
                name = self.name
                value = d[name] = known[name] if name in known else field(name, *args)
                if len(d) > _N_FIELDS:  # every field made: the maker is done
                    del d[_LAZY]
                return value
            pending = d.pop(_PENDING, None)
        if pending is None:
            if self.default is dataclasses.MISSING:
                raise AttributeError(self.name)
            return self.default
        build, args = pending
        _fill(obj, build(*args))  # type: ignore[arg-type]
        return obj.__dict__[self.name]


for _f in dataclasses.fields(Observation):
    setattr(Observation, _f.name, _Field(_f.name, _f.default))


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

    A subclass that reads the lock-in state of its observation (``hike_memory``,
    ``customer_gravity``, ``contract_backlog``) sets ``reads_lock_in = True``: the engine
    fills those fields only for such strategies (as it cuts histories to a declared
    ``memory_depth``), so runs without one pay nothing for them.
    """

    name: ClassVar[str] = ""
    classifier: ClassVar[Classifier] = Classifier()
    reads_lock_in: ClassVar[bool] = False

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

    target_utilisation: ClassVar[float] = 0.85
    """Utilisation the default investment rule builds toward (headroom below 1)."""
    builds_ahead: ClassVar[int] = 0
    """Rounds of demand growth beyond the lead time the default rule builds for."""

    def invest(
        self, observation: Observation, positions: Mapping[str, CapitalPosition]
    ) -> Mapping[str, float]:
        """Units of capacity to order in each capital-goods layer this round.

        The investment decision beside posture and integration (``docs/MODEL.md`` 15.3),
        asked only of firms that operate in a capital-goods layer, after :meth:`decide`.
        The default, :func:`default_investment` per layer with this class's
        ``target_utilisation`` and ``builds_ahead``, toward forecast demand plus backlog
        (it reads only the positions: the observation stays unassembled for a strategy
        that never reads it).
        """
        return {
            layer: default_investment(p, self.target_utilisation, self.builds_ahead)
            for layer, p in positions.items()
        }

    def train(self, observation: Observation, position: TrainingPosition) -> float:
        """Units of training compute to buy this round (``docs/MODEL.md`` 20.2).

        Asked only of firms whose operation trains (a ``training`` table), after
        :meth:`invest`. The default, :func:`default_training`: a ratio of last round's
        revenue, within the funds.
        """
        return default_training(position)

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
