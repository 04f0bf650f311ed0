"""The Mesa model of the AI stack: one ``step()`` is one round of the stage game.

``StackModel.step`` reads as the six steps of a round (``DESIGN.md``): observe, decide
(simultaneously, or layer by layer bottom-up under sequential timing), clear (a pure
function, :func:`stackgame.environment.market.clear`), pay out, regulate and shock, and
record. The model holds the state arrays and orchestrates; firms are thin agents.
"""

from __future__ import annotations

import gc
import math
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Any

import mesa
import numpy as np
from stackgame.agents.firm import FirmAgent, agent_reporters
from stackgame.environment import buildout, usage
from stackgame.environment import events as ev
from stackgame.environment import finance as fin
from stackgame.environment import regulator as reg_rule
from stackgame.environment.contracts import ContractBook
from stackgame.environment.history import History
from stackgame.environment.jit import compiled, jit_enabled
from stackgame.environment.kept import keep
from stackgame.environment.ledger import Ledger, check_finite
from stackgame.environment.market import Clearing, clear, resolve_prices
from stackgame.environment.payouts import Payout, Settlement
from stackgame.environment.regulator import downstream_margin, rule_array
from stackgame.environment.relations import Relations
from stackgame.environment.scenario import (
    TRIGGERS,
    Scenario,
    ScenarioError,
    apply_overrides,
    resolve,
)
from stackgame.environment.state import INACTIVE_QUALITY, MarketMemory, RoundFlows, StackState
from stackgame.environment.training import TrainingBook
from stackgame.strategies.base import (
    OBSERVATION_DEFAULTS,
    Action,
    CapitalPosition,
    HistoryMap,
    HistoryView,
    LatestEntries,
    Move,
    Observation,
    Posture,
    ReadOnlyDict,
    Strategy,
    TrainingPosition,
)
from stackgame.strategies.exact_stats import exact_sum
from stackgame.strategies.registry import get as get_strategy
from stackgame.strategies.registry import make

_NO_FLOATS = np.zeros(0)
"""An empty float array: a kernel's argument for "none yet" (read only)."""
_NO_MASK = np.zeros(0, dtype=np.bool_)
"""An empty mask: a kernel's argument for "no capital-goods layer" (read only)."""
_NO_PAIRS = np.zeros((2, 0), dtype=np.int64)
"""No buyer-seller pair: the purchase shares before the first round (read only)."""
_NO_ROWS = np.zeros((0, 0))
"""An empty matrix: a kernel's argument for "not used" (read only)."""
_NO_INTS = np.zeros(0, dtype=np.int64)
"""An empty integer array: a kernel's argument for "not used" (read only)."""
_NO_INT_ROWS = np.zeros((0, 0), dtype=np.int64)
"""An empty integer matrix: no contract's terms (read only)."""
_NO_PLAN = np.zeros((5, 0), dtype=np.int64)
"""No default-rule entry: an investment plan's ``entries`` before it is built (read only)."""
_NO_PLAN_VALUES = np.zeros((2, 0))
"""No default-rule entry's values: a plan's ``values`` before it is built (read only)."""
_NO_STRUCTURE = np.zeros((3, 0), dtype=np.int64)
"""No operation: a plan's ``structure`` before it is built (read only)."""
_NO_CONTRACTS = np.zeros((3, 0))
"""No contract in force: the clearing's ``contracts`` then (never written).

Writable like the columns :meth:`ContractBook.in_force` gives, so that the compiled
clearing sees one array type whether or not a contract is in force (a read-only array
is another signature: numba loads or compiles a second clearing kernel, about 0.1 s
when the last contract of a long run expires)."""

STAKE_SHARE = 0.10
"""Share of the target bought by one ``STAKE`` move (OpenAI's AMD warrant: 10%, 001)."""
VALUATION_MULTIPLE = 8.0
"""Price of a firm: book capital plus this many rounds of its last positive profit."""

PARAM_ALIASES = {
    "regulator_stance": "regulator.stance",
    "demand_growth": "demand.growth",
    "allow_integration": "allow_integration",
    "market_size": "demand.market_size",
}


@dataclass(frozen=True)
class LogEntry:
    """One line of the event log: integrations, investigations, triggers, events."""

    round: int
    kind: str
    firm: str
    text: str


def to_seed(seed: Any) -> int | None:
    """Normalise a seed: ``"42"`` (a UI text box) and ``42`` give the same stream."""
    if seed is None or seed == "":
        return None
    if isinstance(seed, bool):
        raise ScenarioError(f"seed: must be an integer (got {seed!r})")
    if isinstance(seed, float) and seed.is_integer():
        value = int(seed)
    elif isinstance(seed, int | np.integer):
        value = int(seed)
    else:
        try:
            value = int(str(seed).strip())
        except ValueError:
            raise ScenarioError(f"seed: must be an integer (got {seed!r})") from None
    if value < 0:  # numpy's own message ("expected non-negative integer") names no field
        raise ScenarioError(f"seed: must be a non-negative integer (got {seed!r})")
    return value


def params_to_overrides(params: Mapping[str, Any], scenario: Scenario) -> dict[str, Any]:
    """Translate flat keyword parameters (batch_run, SolaraViz) into dotted overrides.

    Accepted: ``regulator_stance``, ``demand_growth``, ``market_size``,
    ``allow_integration``, ``<trigger>_round`` (-1 switches the trigger off),
    ``strategy_<firm>``, and any dotted path written with ``__`` for dots
    (``firms__nvidia__ops__chips__extract_markup``).
    """
    out: dict[str, Any] = {}
    events = {e.name for e in scenario.events}
    for key, value in params.items():
        if key in PARAM_ALIASES:
            out[PARAM_ALIASES[key]] = value
        elif key.endswith("_round") and key[: -len("_round")] in (*TRIGGERS, *events):
            name = key[: -len("_round")]
            if name not in events:
                raise ScenarioError(f"{key}: scenario {scenario.name!r} has no event {name!r}")
            r = int(value)
            out[f"events.{name}.enabled"] = r >= 0
            if r >= 0:
                out[f"events.{name}.round"] = r
        elif key.startswith("strategy_"):
            out[f"firms.{key[len('strategy_') :]}.strategy"] = value
        elif "__" in key:
            out[key.replace("__", ".")] = value
        else:
            known = [*PARAM_ALIASES, "<trigger>_round", "strategy_<firm>", "a__dotted__path"]
            raise ScenarioError(f"unknown model parameter {key!r}; known: {', '.join(known)}")
    return out


def _strategy(name: str, params: Mapping[str, Any]) -> Strategy:
    """A strategy instance with its scenario parameters (when the scenario kept the name)."""
    cls = get_strategy(name)
    return cls(**params) if params else cls()


class _ScalarCollector(mesa.DataCollector):
    """Mesa's ``DataCollector``, filled from snapshots taken once a round.

    Mesa 3.3.1 calls each model reporter and deep-copies its value every round (so that a
    reporter returning a mutable object does not alias later rounds), and calls each agent
    reporter on each agent. The engine's reporters are plain numbers read from the same
    per-round arrays, so calling them one by one repeats the same lookups and the copies
    are pure overhead. With ``row`` (a callable giving a function that returns every model
    reporter's value, in the reporters' order, from a snapshot of the round) ``collect``
    keeps that function, and the rows are computed and become Mesa's columns
    (``model_vars``) when they are read; likewise with ``agent_rows`` for the agent
    reporters (Mesa's ``_agent_records``, read by ``get_agent_vars_dataframe``). The
    reporters stay in ``model_reporters`` and ``agent_reporters`` and return the same
    values when called (a test checks that). Once any reporter is added or removed,
    rounds go through Mesa's own ``collect``.
    """

    def __init__(
        self,
        model_reporters: dict[str, Any],
        row: Callable[[mesa.Model], Callable[[], list[Any]]] | None = None,
        agent_reporters: dict[str, Any] | None = None,
        agent_rows: Callable[[mesa.Model], Callable[[], list[tuple[Any, ...]]]] | None = None,
    ) -> None:
        super().__init__(model_reporters=model_reporters, agent_reporters=agent_reporters)
        self._row = row
        self._row_keys = tuple(model_reporters)
        self._agent_rows = agent_rows
        self._agent_keys = tuple(agent_reporters or ())

    _pending: list[Callable[[], list[Any]]]
    _model_vars: dict[str, list[Any]]
    _agent_pending: list[tuple[int, Callable[[], list[tuple[Any, ...]]]]]
    _agent_records_: dict[int, list[tuple[Any, ...]]]

    @property
    def model_vars(self) -> dict[str, list[Any]]:
        """Mesa's columns of model reporter values (rows collected since are added first)."""
        pending = self._pending
        if pending:
            self._pending = []
            rows = [make() for make in pending]
            for row in rows:
                if len(row) != len(self._row_keys):
                    raise ValueError(f"reporter row has {len(row)} values for {self._row_keys}")
            columns = self._model_vars
            for var, column in zip(self._row_keys, zip(*rows, strict=True), strict=True):
                columns[var].extend(column)
        return self._model_vars

    @model_vars.setter
    def model_vars(self, value: dict[str, list[Any]]) -> None:
        self._pending = []
        self._model_vars = value

    @property
    def _agent_records(self) -> dict[int, list[tuple[Any, ...]]]:
        """Mesa's agent records per step (rounds collected since are computed first)."""
        pending = self._agent_pending
        if pending:
            self._agent_pending = []
            for steps, make in pending:
                self._agent_records_[steps] = make()
        return self._agent_records_

    @_agent_records.setter
    def _agent_records(self, value: dict[int, list[tuple[Any, ...]]]) -> None:
        self._agent_pending = []
        self._agent_records_ = value

    def collect(self, model: mesa.Model) -> None:
        """Append each reporter's value (see the class docstring)."""
        row = self._row
        if (
            row is None
            or self.agenttype_reporters
            or len(self.model_reporters) != len(self._row_keys)
            or len(self.agent_reporters) != len(self._agent_keys)
        ):
            super().collect(model)  # (reads model_vars: pending rows go in first)
            return
        if not self._validated:  # what Mesa's own first collect checks
            for name, reporter in self.model_reporters.items():
                self._validate_model_reporter(name, reporter, model)
        self._pending.append(row(model))  # computed, as columns, when model_vars is read
        if self._agent_rows is not None and self._agent_keys:
            self._agent_pending.append((model.steps, self._agent_rows(model)))


def _agent_values(
    agents: Iterable[FirmAgent], steps: int, t: int, capital: np.ndarray
) -> list[tuple[Any, ...]]:
    """Mesa's agent records of one step: ``(steps, unique_id, *reporters)`` per agent."""
    return [(steps, a.unique_id, *a.outcome(t, capital)) for a in agents]


def _reporter_values(snapshot: tuple[Any, ...], n: int, named: list[int]) -> list[Any]:
    """One DataCollector row from a snapshot (see ``StackModel._reporter_row``)."""
    round_, cum, margins, hhi, cash = snapshot
    total = abs(exact_sum(cum))  # float(cum.sum()), bit for bit; a loss: of its size
    share = [c / total for c in cum] if total > 1e-12 else [0.0] * n
    if margins is not None:  # the round's layer margins, computed once
        gross = margins[0].tolist()
        oper = margins[1].tolist()
        conc = hhi.tolist()
    else:
        gross = oper = conc = [0.0] * n
    out: list[Any] = [round_]
    for k in range(n):
        out += (share[k], gross[k], oper[k], conc[k])
    out += [cash[i] for i in named]
    return out


class _RoundShared:
    """What every observation of a round shares, assembled once, when first read.

    Histories are lists appended once a round, so their first ``round`` entries are
    their state when the round was observed, however late the observation is read.
    """

    __slots__ = (
        "_by_depth", "_margins", "fields", "firm_margin", "latest", "markups", "postures", "round",
    )  # fmt: skip

    def __init__(
        self,
        round_: int,
        postures: dict[str, list[Posture]],
        markups: dict[str, list[float]],
        fields: dict[str, Any],
        firm_margin: dict[str, float],
        latest: LatestEntries | None = None,
    ) -> None:
        self.round = round_
        self.postures = postures
        self.markups = markups
        self.fields = fields
        self.firm_margin = firm_margin
        self.latest = latest  # (the run's, over ``markups``: HistoryMap.mean_of_last)
        self._by_depth: dict[int | None, dict[str, Any]] = {}
        # kept by the tuple's identity (hashing a tuple of hundreds of names walks it)
        self._margins: dict[int, tuple[tuple[str, ...], ReadOnlyDict]] = {}

    def common(self, depth: int | None) -> dict[str, Any]:
        """The shared fields, with every firm's past postures and markups (as views).

        ``depth``: the memory depth of the strategy that reads them (``None``: all).
        """
        common = self._by_depth.get(depth)
        if common is None:
            common = self._by_depth[depth] = dict(self.fields)
            common["counterpart_postures"] = HistoryMap(self.postures, self.round, depth)
            common["counterpart_markups"] = HistoryMap(self.markups, self.round, depth, self.latest)
        return common

    def supplier_margins(self, suppliers: tuple[str, ...]) -> ReadOnlyDict:
        """Last round's operating margin of each of ``suppliers`` (0 for one not seen).

        One read-only mapping per supplier list and round, shared by every observation
        with that list (the firms of a layer share their suppliers; 200 firms, ~25 lists).
        """
        known = self._margins.get(id(suppliers))
        if known is not None and known[0] is suppliers:
            return known[1]
        get = self.firm_margin.get
        margins = ReadOnlyDict(zip(suppliers, map(get, suppliers, repeat(0.0)), strict=True))
        self._margins[id(suppliers)] = (suppliers, margins)
        return margins


def _observation_fields(
    template: dict[str, Any],
    shared: _RoundShared,
    *rest: Any,
) -> dict[str, Any]:
    """Every field of one firm's observation at once (see ``StackModel.observe``).

    The whole build that :meth:`Observation.deferred
    <stackgame.strategies.base.Observation.deferred>` runs: each field made now by
    :func:`_observation_field`, which the engine's lazy observations call on a field's
    first read (the fields are written once, there). ``rest``: ``history`` (the firm's
    lists, :attr:`FirmAgent.history`), ``depth`` (its strategy's memory depth, ``None``:
    unbounded), ``suppliers``, ``ops``, ``pairs``, ``market`` (the round's ``(capped,
    util, price, unit, seen, need)``, one tuple shared by every firm: fewer arguments
    per call), ``lock`` (per operation the hike memory and the
    customers' gravity; ``None``: lock-in off, not shown) and ``backlog`` (the firm's
    contract backlog as seller). A test runs the two and compares every observation.
    """
    return {name: _observation_field(name, template, shared, *rest) for name in _FIELD_NAMES}


def _deferred(known: Any, build: Callable[..., Any], *args: Any) -> Observation:
    """``Observation.deferred(build, *args)``, called as ``Observation.lazy_over`` is."""
    return Observation.deferred(build, *args)


_HISTORY_FIELDS = {
    "own_postures": 0, "own_payoffs": 1, "own_margins": 2, "own_markups": 3,
    "counterpart_history": 4,
}  # fmt: skip
"""The observation fields that view one of the firm's five history lists (its index)."""
_SEEN_FIELDS = {"utilisation": 0, "own_prices": 1, "own_unit_cost": 2, "input_need": 3}
"""The fields per operation of the firm shown once there is market data (list index)."""
_FIELD_NAMES = ("round", "firm", *OBSERVATION_DEFAULTS)
"""Every field of :class:`~stackgame.strategies.base.Observation`."""
_DYNAMIC_FIELDS = frozenset(
    [*_HISTORY_FIELDS, *_SEEN_FIELDS, "supplier_margins", "under_investigation",
     "hike_memory", "customer_gravity", "contract_backlog"]
)  # fmt: skip


def _observation_field(
    name: str,
    template: dict[str, Any],
    shared: _RoundShared,
    history: tuple[list[Any], ...],
    depth: int | None,
    suppliers: tuple[str, ...],
    ops: list[int],
    pairs: tuple[tuple[str, int], ...],
    market: tuple[list[bool] | None, list[float], list[float], list[float], bool, list[float]],
    lock: tuple[list[float], list[float]] | None = None,
    backlog: float = 0.0,
) -> Any:
    """The field ``name`` of a firm's observation (the one place the fields are made).

    What :meth:`Observation.lazy <stackgame.strategies.base.Observation.lazy>` calls on a
    field's first read, and :func:`_observation_fields` for every field at once (the
    arguments are described there). Histories are views of the firm's lists, the rest
    read-only mappings of the round's snapshots, never copies the caller will change.
    """
    if name not in _DYNAMIC_FIELDS:
        common = shared.common(depth)
        return common[name] if name in common else template[name]
    k = _HISTORY_FIELDS.get(name)
    if k is not None:  # the firm's five lists grow together: one stop and start for all
        stop = min(len(history[0]), shared.round)
        start = 0 if depth is None else max(0, stop - depth)
        return HistoryView(history[k], stop, start)
    if name == "supplier_margins":
        return shared.supplier_margins(suppliers)
    if name == "under_investigation":
        capped = market[0]
        return capped is not None and any([capped[o] for o in ops])
    if name == "contract_backlog":
        return backlog
    if not market[4]:  # (seen: market data shown from round 1)
        return template[name]
    k = _SEEN_FIELDS.get(name)
    if k is not None:
        _, util, price, unit, _, need = market
        values = (util, price, unit, need)[k]
        return ReadOnlyDict({layer: values[o] for layer, o in pairs})
    if lock is None:
        return template[name]
    values = lock[0] if name == "hike_memory" else lock[1]
    return ReadOnlyDict({layer: values[o] for layer, o in pairs})


_SAME_ENTRIES_SIZE = 16
"""How many comparisons of two capital plans :func:`_same_entries` keeps (the oldest goes
first)."""
_SAME_ENTRIES: dict[tuple[int, int], tuple[buildout.CapitalPlan, buildout.CapitalPlan, bool]] = {}
""":func:`_same_entries`' answers, by the two plans' ids (the plans held)."""


def _same_entries(old: buildout.CapitalPlan, new: buildout.CapitalPlan) -> bool:
    """Whether two capital plans have the same entries: firms, operations, lead times, ``a_l``.

    ``by_firm`` equal and ``a`` equal bit for bit. The plans are read only and a small
    stack's are shared across models (:func:`~stackgame.environment.buildout.capital_plan`):
    the runs of a batch or a benchmark compare the same two (the structures before and
    after the same failure) again and again, so the answer is kept by the pair (held:
    an id is not reused while its object lives).
    """
    key = (id(old), id(new))
    kept = _SAME_ENTRIES.get(key)
    if kept is not None and kept[0] is old and kept[1] is new:
        return kept[2]
    same = old.by_firm == new.by_firm and old.a.tobytes() == new.a.tobytes()
    keep(_SAME_ENTRIES, key, (old, new, same), _SAME_ENTRIES_SIZE)
    return same


class _InvestPlan:
    """Who the investment stage asks and how, for one structure and one set of strategies.

    ``checks``: per firm concerned (an active capital-goods operation, or an operation
    that trains), its agent, its strategy object as built (``None``: not in the
    observations) and that object's class; ``asked``: the firms whose strategy
    has its own investment rule, with their capital-goods entries
    (:func:`~stackgame.environment.buildout.capital_ops_by_firm`); ``defaults``: whether
    any firm invests by the default rule; ``entries`` and ``values``: the default rule's
    entries packed for :func:`~stackgame.environment.buildout_round.invest_kernel`
    (operation, lead time, layer, firm, rounds built ahead; ``a_l``, target utilisation,
    0 where the firm is not asked by the default rule); ``ask`` and ``own_rule``: how
    each operation's training is decided (:meth:`StackModel._training_asked`),
    ``trains`` whether any is asked; ``no_price``: zeros per layer (the layers' prices
    before the first round); ``structure``: each operation's firm, layer and activity
    (0/1), as ``[3, n_ops]`` integers (they change only with the structure version);
    ``capital``: the :class:`~stackgame.environment.buildout.CapitalPlan` it read
    (``None``: no capital goods; a plan carried over by :meth:`carried` keeps the one it
    came from, whose entries it holds, but whose ``structure`` is an earlier version's:
    the plan's own is read); ``layout``: the capital-goods layout's ``ops``, ``firm``
    and ``a`` on the version it was made on (:meth:`carried`). Read only: a new plan
    replaces it.
    """

    __slots__ = (
        "asked", "ask", "capital", "checks", "defaults", "entries", "layout", "no_price",
        "own_rule", "structure", "trains", "values", "version", "work",
    )  # fmt: skip

    def __init__(self) -> None:
        self.version = -1
        self.checks: list[tuple[FirmAgent, Strategy | None, type]] = []
        self.asked: list[tuple[int, list[tuple[str, int, int, float, int]]]] = []
        self.defaults = False
        self.entries: np.ndarray = _NO_PLAN
        self.values: np.ndarray = _NO_PLAN_VALUES
        self.work = 0.0
        self.ask = _NO_INTS
        self.own_rule: list[int] = []
        self.trains = False
        self.no_price = _NO_FLOATS
        self.structure: np.ndarray = _NO_STRUCTURE
        self.capital: buildout.CapitalPlan | None = None  # (what it read of the structure)
        # the capital-goods layout of the version it was made on (its ops, firms and a_l)
        self.layout: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def holds(self, version: int, observations: Mapping[int, Any]) -> bool:
        """Whether the plan still fits: same structure, strategy objects and classes, firms."""
        if version != self.version:
            return False
        return self._same_firms(observations)

    def _same_firms(self, observations: Mapping[int, Any]) -> bool:
        """Whether each firm concerned has the same strategy object and class, and is seen."""
        for agent, s, kind in self.checks:
            now = agent.strategy if agent.index in observations else None
            if now is not s or now.__class__ is not kind:
                return False
        return True

    def moved(
        self, capital: buildout.CapitalPlan, version: int, observations: Mapping[int, Any]
    ) -> _InvestPlan | None:
        """The plan moved to structure ``version``, where only the structure array changed.

        A plan without training, whose capital-goods entries are those of ``capital``
        (the new structure's: the same firms, operations, lead times, layers and ``a_l``,
        bit for bit) and whose firms concerned keep their strategies (as :meth:`holds`),
        is what :meth:`build` would make there but for ``structure``: a failure outside
        the capital-goods layers (a foundry's, whose capacity goes to a rival) leaves
        them so. ``None`` otherwise (build it).
        """
        old = self.capital
        if old is None or self.ask is not _NO_INTS:  # (no capital goods, or training)
            return None
        if old is not capital and not _same_entries(old, capital):
            return None
        if not self._same_firms(observations):
            return None
        return self._carry(version, capital.structure, capital, None)

    def carried(self, state: StackState, observations: Mapping[int, Any]) -> _InvestPlan | None:
        """:meth:`moved` found on the capital-goods layout, without the new capital plan.

        The layout of the state's version (:func:`~stackgame.environment.buildout._layout`,
        renewed from the last version's: its ``ops`` and ``firm`` are the same objects
        where the capital-goods operations, their firms, layers and lead times are as
        they were) with the same ``ops``, ``firm`` and ``a`` (bit for bit) as the plan's
        holds the same entries as :meth:`moved`'s ``capital`` would: the plan is carried
        over with the state's structure array, as :class:`~stackgame.environment.
        buildout.CapitalPlan` makes it (the capital plan, a key of every array it is
        made from, costs more: nothing else reads it). ``None`` otherwise (the caller
        tries :meth:`moved`).
        """
        kept = self.layout
        if kept is None or self.capital is None or self.ask is not _NO_INTS:
            return None
        lay = buildout._layout(state)
        if lay.ops is not kept[0] or lay.firm is not kept[1]:
            return None
        if lay.a is not kept[2] and lay.a.tobytes() != kept[2].tobytes():
            return None
        if not self._same_firms(observations):
            return None
        structure = np.array([state.firm_of, state.layer_of, state.active], dtype=np.int64)
        return self._carry(state.version, structure, self.capital, (lay.ops, lay.firm, lay.a))

    def _carry(
        self,
        version: int,
        structure: np.ndarray,
        capital: buildout.CapitalPlan,
        layout: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> _InvestPlan:
        """The plan on structure ``version``: its entries and firms, the given structure."""
        plan = _InvestPlan()
        plan.version = version
        plan.structure = structure
        plan.capital = capital
        plan.layout = layout
        plan.checks, plan.asked, plan.defaults = self.checks, self.asked, self.defaults
        plan.entries, plan.values, plan.work = self.entries, self.values, self.work
        plan.no_price = self.no_price
        return plan

    @classmethod
    def build(cls, model: StackModel, observations: Mapping[int, Any]) -> _InvestPlan:
        """The plan of ``model``'s state now, asking each firm concerned through its agent."""
        st = model.state
        firms = model.firms
        plan = cls()
        plan.version = st.version
        plan.no_price = np.zeros(st.n_layers)
        concerned: set[int] = set()
        target = [0.0] * st.n_firms  # per firm asked by the default rule: u* (0: not so)
        ahead = [0] * st.n_firms
        if st.has_capital_goods:
            # (what it reads of the structure: kept, across models for a small stack)
            capital = buildout.capital_plan(st, model.layer_names)
            plan.structure = capital.structure
            plan.capital = capital
            lay = buildout._layout(st)  # (the same entries as capital's: the same version)
            plan.layout = (lay.ops, lay.firm, lay.a)
            for i, ops in capital.by_firm:
                concerned.add(i)
                if i not in observations:
                    continue
                rule = firms[i].default_investment()
                if rule is None:
                    plan.asked.append((i, ops))
                else:
                    target[i], ahead[i] = rule
                    plan.defaults = True
            plan.entries, plan.values = capital.rule_arrays(target, ahead)
            plan.work = float(plan.entries.shape[1])
        else:
            plan.structure = np.array([st.firm_of, st.layer_of, st.active], dtype=np.int64)
        book = model.training
        if book.enabled:
            ask = [0] * st.n_ops
            firm_of = st.firm_of.tolist()
            for o in book.live_now(st)[1]:
                f = firm_of[o]
                concerned.add(f)
                if f in observations:
                    if firms[f].trains_by_default():
                        ask[o] = 1
                    else:
                        ask[o] = 2
                        plan.own_rule.append(o)
            plan.ask = np.array(ask, dtype=np.int64)
            plan.trains = bool(plan.own_rule) or bool(plan.ask.any())
        for i in sorted(concerned):
            s = firms[i].strategy if i in observations else None
            plan.checks.append((firms[i], s, type(s)))
        return plan


class collector_paused:  # noqa: N801 (used as a function: ``with collector_paused():``)
    """Hold Python's cyclic garbage collector for the block; restore it after.

    A round allocates a few containers per firm (observations, views, actions) that live
    until the round ends. Collected mid-round, the survivors are promoted to the oldest
    generation, and enough of them trigger a full collection, which walks every object
    of the process (some 200,000 once numba, scipy and Mesa are loaded: about 200 ms).
    At 1,000 firms that happened every ten rounds or so, a fifth of the run's time
    (``docs/DECISIONS.md``, large stacks). Held for the round, they are freed by
    reference counting when it ends, and the collector's next pass finds little. Nothing
    is computed differently. A collector already disabled (by the caller, or by an
    enclosing round) stays so; the collector is restored however the block ends, and
    what it deferred runs at once.
    """

    __slots__ = ("_paused",)

    def __enter__(self) -> None:
        self._paused = gc.isenabled()
        if self._paused:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._paused:
            gc.enable()
            # one tracked allocation: the collections the block deferred run now, of the
            # generations CPython's own thresholds choose (enabling alone runs none)
            _deferred: list[None] = []  # noqa: F841


class StackModel(mesa.Model):
    """The AI stack as a Mesa model.

    Parameters
    ----------
    scenario
        A built-in scenario name, a path to a TOML file, or a
        :class:`~stackgame.environment.scenario.Scenario`.
    seed
        Root seed (``"42"`` and ``42`` are the same). ``None`` draws one from the OS and
        records it in ``self.seed`` (an unseeded run says so: ``self.seeded`` is False).
    rounds
        Rounds to run before ``running`` turns False (default: the scenario's).
    strategies
        Firm name to registry strategy name, replacing the scenario's strategies.
    overrides
        Dotted scenario paths to values (``{"regulator.stance": 0.9}``).
    collect
        Feed Mesa's ``DataCollector`` each round (``False`` skips it: the run's arrays
        are in ``history`` either way; :func:`stackgame.simulation.simulate.simulate` turns it off).
    **kwargs
        Flat aliases for Mesa's ``batch_run`` and SolaraViz, see
        :func:`params_to_overrides` (Mesa 3.3's SolaraViz passes its controls only
        through a catch-all literally named ``kwargs``).

    Attributes
    ----------
    state
        The operations' and firms' arrays (:class:`~stackgame.environment.state.StackState`).
    firms
        The firm agents: each firm's strategy and histories, read and written through them.
    relations
        Who supplies, buys from and rivals whom
        (:class:`~stackgame.environment.relations.Relations`).
    memory
        What the next round knows of the last (:class:`~.state.MarketMemory`).
    ledger
        The settlement and the charges waiting for the next payout
        (:class:`~stackgame.environment.ledger.Ledger`).
    events
        Events to come, cost declines in progress, triggers fired
        (:class:`~stackgame.environment.events.EventSchedule`).
    history
        Per-round arrays (:class:`~stackgame.environment.history.History`).
    posture_histories, markup_histories
        Each firm's headline postures and mean markups so far, by name (the lists its
        agent keeps; observations show them as views).
    last_round
        The last round's prices and flows (:class:`~.state.RoundFlows`).
    log
        The event log.
    """

    def __init__(
        self,
        scenario: str | Path | Scenario = "ai-stack-2026",
        seed: Any = None,
        *,
        rounds: int | None = None,
        strategies: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        collect: bool = True,
        **kwargs: Any,
    ) -> None:
        base = resolve(scenario)
        changes = dict(overrides or {})
        changes.update(params_to_overrides(kwargs, base))
        for firm, strategy in (strategies or {}).items():
            base.firm(firm)
            changes[f"firms.{firm}.strategy"] = strategy
        self.scenario = apply_overrides(base, changes) if changes else base
        root = to_seed(seed)
        self.seeded = root is not None
        if root is None:
            root = int(np.random.SeedSequence().generate_state(2, np.uint64)[0] >> np.uint64(1))
        self.seed = root
        super().__init__(rng=root)
        self.rounds = int(rounds) if rounds is not None else self.scenario.rounds
        if self.rounds < 1:
            raise ScenarioError(f"rounds: must be at least 1 (got {self.rounds})")
        children = np.random.SeedSequence(root).spawn(2 + len(self.scenario.firms))
        self.regulator_rng = np.random.default_rng(children[0])
        self.shock_rng = np.random.default_rng(children[1])
        self.state = StackState(self.scenario)
        # per firm, sum over rounds of log(1 - hazard): the regulator's closed form
        self.regulator_log_survival = np.zeros(self.state.n_firms)
        self.remedies = dict.fromkeys(reg_rule.OUTCOMES[1:], 0)
        # compiled kernels or numpy (STACKGAME_NO_JIT), decided once for the model's life
        self._jit = jit_enabled()
        self.layer_names = self.state.layer_names
        self.firms: list[FirmAgent] = [
            FirmAgent(
                self,
                f.name,
                f.label,
                i,
                _strategy(f.strategy, f.strategy_params),
                np.random.default_rng(children[2 + i]),
            )
            for i, f in enumerate(self.scenario.firms)
        ]  # fmt: skip
        # each firm's posture and markup history (the agents' own lists), by name
        self.posture_histories = {f.name: f.history[0] for f in self.firms}
        self.markup_histories = {f.name: f.history[3] for f in self.firms}
        # their latest entries as one array a round, for the learners' mean counterpart
        # markup (HistoryMap.mean_of_last: a gather, not a loop over hundreds of names)
        self._latest_markups: LatestEntries | None = LatestEntries(self.markup_histories)
        # observations made field by field as read (False: whole, the general path)
        self._lazy_observations = True
        self.round = 0
        self.log: list[LogEntry] = []
        self.events = ev.EventSchedule(self.scenario.events)
        self.triggers = self.events.triggers  # (the same set)
        self.ledger = Ledger(self.state.n_ops)
        self.memory = MarketMemory(self.state)
        self.history = History(self.state)
        self.relations = Relations(self.state, [f.name for f in self.firms], self.rounds)
        self.contracts = ContractBook(self.scenario, self.state, self._log)
        self.training = TrainingBook(self.scenario, self.state)
        self._trained: dict[str, np.ndarray] | None = None  # this round's training row
        self._funds_of: tuple[int, np.ndarray] = (-1, np.zeros(0))  # (round, funds) this round
        # the default rule's training orders, computed with the investment: (round,
        # orders, prices, funds, the operations whose strategy is asked)
        self._training_orders: tuple[int, np.ndarray, np.ndarray, np.ndarray, list[int]] | None
        self._training_orders = None
        # who the investment and the training orders ask, and how (StackModel._invest_plan)
        self._plan: _InvestPlan | None = None
        self.last_round: RoundFlows | None = None
        self._financing = bool(self.state.finance.enabled)  # (no event changes it)
        # the last round's financing: its rows (pay_and_finance_kernel's), net financing
        # and interest
        self._financed: tuple[np.ndarray, float, float]
        self._financed = (np.zeros((10, self.state.n_firms)), 0.0, 0.0)
        self._apply_due_events(0)
        self.datacollector: mesa.DataCollector | None = (
            _ScalarCollector(
                self._reporters(),
                type(self)._reporter_row,
                agent_reporters(),
                type(self)._agent_rows,
            )
            if collect
            else None
        )

    # -- the round -------------------------------------------------------------------------
    def step(self) -> None:
        """One round: observe, decide, clear, pay out, finance, regulate and shock, record.

        The contracts offered and the integration moves decided this round are carried
        out after the record (the round is recorded on the structure it was played on)
        and count from the next. Financing runs only when the scenario enables it.
        Python's cyclic garbage collector waits while the round runs
        (:func:`collector_paused`).
        """
        with collector_paused():
            observations = self.observe()
            actions = self.decide(observations)
            orders = self.invest(observations)
            prepared = training = None
            if self.training.enabled:  # (the clearing's inputs, read by the first prices)
                prepared = self._prepare(actions)
                training = self.train(observations, prepared)
            flows = self.clear_markets(actions, orders, training, prepared)
            settlement = self.pay_out(flows)
            if self._financing:
                self.finance(flows, settlement)
            self.regulate_and_shock(flows, settlement)
            self.record(actions, flows, settlement)
            self.contracts.sign(self.round - 1, self.state, actions, flows.clearing.price)
            self.integrate(actions)

    # 1. observe ---------------------------------------------------------------------------
    def observe(self) -> dict[int, Observation]:
        """A frozen observation per active firm, each field made when its strategy reads it.

        Shared pieces are assembled once a round; histories are views of the firms' lists
        (the last ``memory_depth`` rounds for a strategy that declares one), never copied.
        A field is made on its first read (:meth:`Observation.lazy
        <stackgame.strategies.base.Observation.lazy>`, :func:`_observation_field`): a
        strategy pays for what it reads (``tit_for_tat`` one view), not for the whole
        observation (at 1,000 firms about 9 us a firm a round).
        """
        st = self.state
        rel = self.relations
        rel.refresh_views(st)
        memory = self.memory
        firms = self.firms
        # the pieces every observation of this round shares (assembled when first needed)
        shared = _RoundShared(
            self.round,
            self.posture_histories,
            self.markup_histories,
            {
                "round": self.round,
                "market": memory.view,
                "regulator_stance": float(st.regulator.stance),
                "triggers": frozenset(self.events.triggers),
                "demand_growth": float(st.demand_growth),
            },
            memory.firm_margin,
            self._latest_markups,
        )
        seen = self.round > 0  # no market data before the first round
        util = memory.utilisation.tolist()
        price = memory.price.tolist()
        unit = memory.unit_cost.tolist()
        need = memory.input_need.tolist()
        capped = (st.cap_until > self.round).tolist()
        if not any(capped):
            capped = None
        # the lock-in state, for the strategies that read it (Strategy.reads_lock_in):
        # made for the first active firm whose strategy does, below (none: not made)
        lock = backlog = None
        lock_made = False
        # each field made when the strategy first reads it (lazy), or all at once (the
        # general path, Observation.deferred: the tests compare the two)
        # (lazy: the firm's own structural fields, rel.known, read without a call)
        make, build = (
            (Observation.lazy_over, _observation_field)
            if self._lazy_observations
            else (_deferred, _observation_fields)
        )
        market = (capped, util, price, unit, seen, need)
        obs: dict[int, Observation] = {}
        # every argument below is replaced, never changed, by later rounds; a lazy
        # observation reads its known fields from rel.known before it makes a field, so
        # what it reads of a template is a default: its known fields serve as one
        # (Relations.KnownFields; no template is made for it)
        observed = (
            zip(rel.known, rel.suppliers, rel.ops, rel.pairs, strict=True)
            if self._lazy_observations
            else rel.observed
        )
        for f, (template, suppliers, ops, pairs), known in zip(
            firms, observed, rel.known, strict=True
        ):
            if not f.active:
                continue
            if not f.strategy.reads_lock_in:  # (lock-in and backlog: the defaults)
                obs[f.index] = make(
                    known, build, template, shared, f.history, f.memory_depth, suppliers,
                    ops, pairs, market,
                )  # fmt: skip
                continue
            if not lock_made:
                lock = self._lock_in_seen() if seen else None
                if self.contracts.m:
                    backlog = self.contracts.backlog(st, memory.price).tolist()
                lock_made = True
            obs[f.index] = make(
                known, build, template, shared, f.history, f.memory_depth, suppliers,
                ops, pairs, market, lock,
                float(backlog[f.index]) if backlog is not None else 0.0,
            )  # fmt: skip
        return obs

    def _lock_in_seen(self) -> tuple[list[float], list[float]] | None:
        """Per operation, the hike memory and its customers' gravity (MODEL.md 5.4), as lists.

        Copies of the state after last round (read-only for the strategies): ``h_s``, and
        ``sum_b f_bs g_bs / sum_b f_bs`` with ``f`` last round's market flows (0 where the
        operation sold nothing or gravity is off). ``None`` when lock-in is off.
        """
        st = self.state
        if not st.dynamic_lock_in or self.last_round is None:
            return None
        hike = st.hike_memory.tolist()
        if not st.gathers_gravity or st.gravity is None:
            return hike, [0.0] * st.n_ops
        flow = self.last_round.clearing.flow
        n = min(flow.shape[0], st.gravity.shape[0])
        sold = flow[:n, :n].sum(axis=0)
        held = (flow[:n, :n] * st.gravity[:n, :n]).sum(axis=0)
        gravity = np.zeros(st.n_ops)
        gravity[:n] = np.divide(held, sold, out=np.zeros(n), where=sold > 0)
        return hike, gravity.tolist()

    # 2. decide ----------------------------------------------------------------------------
    def decide(self, observations: dict[int, Observation]) -> dict[int, Action]:
        """Every active firm's action; bottom-up by layer under sequential timing."""
        if not self.state.sequential:
            return {i: self.firms[i].decide(o) for i, o in observations.items()}
        st = self.state
        actions: dict[int, Action] = {}
        for k, layer in enumerate(self.layer_names):
            upstream: dict[str, float] = {}
            if k > 0:
                markup, capacity, _, _, self_share = self._prepare(actions)
                price, _, _ = resolve_prices(
                    st.structure, st.unit_cost, markup, st.quality, capacity, self_share,
                    st.per_unit, None, self.memory.mix_for(st.n_ops), buildout.price_basis(st),
                    lock_in=st.lock_in_now() if st.dynamic_lock_in else None,  # (None: static)
                    infrastructure=buildout.infrastructure(st),
                )  # fmt: skip
                for j in range(k):
                    ops = st.structure.by_layer[j]
                    upstream[self.layer_names[j]] = float(price[ops].mean()) if ops.size else 0.0
            for i, o in observations.items():
                # a firm decides once a round, at its lowest layer, for all its layers (a
                # second call would make a learner credit one round's payoff twice)
                if layer not in o.layers or i in actions:
                    continue
                actions[i] = self.firms[i].decide(o.replace(upstream_prices=upstream))
        return actions

    # 2b. invest ----------------------------------------------------------------------------
    def invest(self, observations: dict[int, Observation]) -> np.ndarray | None:
        """Capital-goods orders per operation, in units of the layer below (``None``: none).

        Each active firm with an operation in a capital-goods layer is asked, through its
        agent, how much capacity to order there (:meth:`FirmAgent.invest`), given its
        :class:`~stackgame.strategies.base.CapitalPosition`; orders are clipped at zero
        and converted to units of the input (``a_l`` per unit of capacity). A firm whose
        strategy invests by the default rule (:meth:`FirmAgent.default_investment`) is not
        asked one by one: the rule runs for all of them in one kernel
        (:func:`~stackgame.environment.buildout.default_orders_kernel`), with the same
        numbers the strategy would give. Who is asked how is kept while the structure and
        the firms' strategies stay (:meth:`_invest_plan`).
        """
        st = self.state
        if not st.has_capital_goods:
            return None
        plan = self._invest_plan(observations)
        asked = plan.asked
        if not asked and not plan.defaults:
            return np.zeros(st.n_ops)
        memory = self.memory
        # output last round (before the first, the installed capacity: no history yet)
        used = memory.quantity if self.round > 0 else st.capacity
        # per layer, last round's mean price (the layers' views; zeros before the first)
        settled = self.ledger.settlement
        layer_price = settled.layer_price if memory.view and settled is not None else None
        growth = float(st.demand_growth + st.expected_growth_premium)  # what builders expect
        # the backlog, the funds, the units sold forward and in the pipelines, the default
        # rule's orders (and after the first round the training's): one call
        # (buildout_round.invest_kernel, invest_and_train_kernel)
        contracts = self.contracts
        terms, amounts = contracts.packed(st)
        fs = st.finance
        # after the first round, the default training orders too (train reads them)
        book = self.training
        training = layer_price is not None and book.enabled and plan.trains
        before = (
            self.round, terms, amounts, contracts.indexed, contracts.last_price, memory.price,
            self._financing,
            st.cash, st.debt, st.appetite, st.raises_equity, st.last_revenue, st.acquired,
            st.failed_round, plan.structure, st.capital, fs.loan_to_value, fs.min_cash,
            fs.equity_multiple, plan.entries, plan.values, st.capacity, st.pipeline, used,
            st.depreciation_rate, plan.no_price if layer_price is None else layer_price,
            st.infrastructure_cost, growth,
        )  # fmt: skip
        if book.enabled:  # (one kernel a run: with training from the second round)
            paid = book.rows[-1] if training and book.rows else None
            per_op, per_firm = compiled(
                "invest_and_train_kernel", self._jit, module="buildout_round", work=plan.work
            )(
                *before, training, plan.ask if training else _NO_INTS, book.stock, book.rate,
                book.ratio, settled.payout.firm_revenue if training else _NO_FLOATS,
                fs.appetite_drop, _NO_FLOATS if paid is None else paid["units"],
                _NO_FLOATS if paid is None else paid["spend"],
            )  # fmt: skip
        else:
            per_op, per_firm = compiled(
                "invest_kernel", self._jit, module="buildout_round", work=plan.work
            )(*before)
        orders = per_op[0]
        funds = per_firm[0]
        if self._financing:  # (finance reads the backlog from the next round)
            contracts.keep_backlog(self.round, st, memory.price, per_firm[2])
        self._funds_of = (self.round, funds)
        self._training_orders = (
            (self.round, per_op[3], per_op[4], per_firm[3], plan.own_rule) if training else None
        )
        if not asked:
            return orders
        n_used = used.shape[0]
        used_l, capacity, rate = used.tolist(), st.capacity.tolist(), st.depreciation_rate.tolist()
        pipe_l, sold_l, cash_l = per_op[1].tolist(), per_op[2].tolist(), funds.tolist()
        infra = st.infrastructure_cost.tolist()
        below = [0.0] * st.n_layers  # the mean price of the layer below, 0 for the bottom
        if layer_price is not None:
            below[1:] = layer_price[:-1].tolist()
        for i, ops_i in asked:
            positions = {}
            for layer_name, o, n_lead, a_l, k in ops_i:
                positions[layer_name] = CapitalPosition(
                    capacity[o], pipe_l[o], used_l[o] if o < n_used else 0.0, rate[o], n_lead,
                    sold_l[o], a_l * below[k] + infra[k], cash_l[i], growth,
                )  # fmt: skip
            chosen = self.firms[i].invest(observations[i], positions)
            for layer_name, o, _, a_l, _ in ops_i:
                units = float(chosen.get(layer_name, 0.0))
                if units > 0.0:  # (not nan)
                    orders[o] = units * a_l
        return orders

    def _invest_plan(self, observations: dict[int, Observation]) -> _InvestPlan:
        """Who the investment and the training orders ask, and how (kept, read only).

        Rebuilt when the structure changes (``state.version``) or a firm concerned (one
        with an active capital-goods operation, or one that trains) has another strategy
        object or comes into or out of the observations (:meth:`_InvestPlan.holds`):
        the default rules' parameters are the strategy's (class constants,
        :meth:`FirmAgent.default_investment`), so the same object gives the same rule.
        A structure change that leaves the capital-goods entries as they were (and no
        training) moves the plan to the new structure instead: found on the capital-goods
        layout where it can be (:meth:`_InvestPlan.carried`), else on the new capital plan
        (:meth:`_InvestPlan.moved`).
        """
        st = self.state
        plan = self._plan
        if plan is not None and plan.holds(st.version, observations):
            return plan
        if plan is not None and st.has_capital_goods and not self.training.enabled:
            # (the structure changed outside the capital-goods entries: the same plan on it)
            carried = plan.carried(st, observations)
            if carried is not None:
                self._plan = carried
                return carried
            capital = buildout.capital_plan(st, self.layer_names)
            moved = plan.moved(capital, st.version, observations)
            if moved is not None:
                lay = buildout._layout(st)  # (for the next change: carried)
                moved.layout = (lay.ops, lay.firm, lay.a)
                self._plan = moved
                return moved
        plan = self._plan = _InvestPlan.build(self, observations)
        return plan

    # 2c. train -----------------------------------------------------------------------------
    def train(
        self,
        observations: dict[int, Observation],
        prepared: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ) -> np.ndarray:
        """Training compute per operation, in units of the layer below (``MODEL.md`` 20.2).

        Each active firm with an operation that trains is asked, through its agent
        (:meth:`FirmAgent.train`), given its
        :class:`~stackgame.strategies.base.TrainingPosition`: its model stock, last
        round's revenue from others, the scenario's ratio, last round's price of a unit of
        compute (what its training cost a unit last round; before it has trained, the
        layer below's mean price last round, or in the first round this round's, from
        the clearing's inputs ``prepared``, :meth:`_prepare`) and its funds. Negative or
        non-finite answers buy nothing.
        """
        kept = self._training_orders  # (the default rule's, computed with the investment)
        if kept is not None and kept[0] == self.round and not kept[4]:
            return kept[1]  # (kept only where some lab trains; none to ask one by one)
        st = self.state
        book = self.training
        if not book.live_now(st)[1]:
            return np.zeros(st.n_ops)
        if kept is not None and kept[0] == self.round:
            _, orders, price, funds, own_rule = kept
        else:
            orders, price, funds, own_rule = self._default_training(observations, prepared)
        if not own_rule:  # (every lab trains by the default rule: nothing to ask)
            return orders
        settled = self.ledger.settlement
        revenue = settled.payout.firm_revenue if settled is not None else _NO_FLOATS
        firm_of = st.firm_of.tolist()
        for o in own_rule:
            f = firm_of[o]
            position = TrainingPosition(
                float(book.stock[o]), float(book.rate[o]),
                float(revenue[f]) if f < revenue.shape[0] else 0.0, float(book.ratio[o]),
                float(price[o]), float(funds[f]),
            )  # fmt: skip
            units = float(self.firms[f].train(observations[f], position))
            if units > 0.0 and math.isfinite(units):
                orders[o] = units
        return orders

    def _training_asked(self, observations: dict[int, Observation]) -> tuple[np.ndarray, list[int]]:
        """Per operation, how its training is decided; the operations asked one by one.

        1: the default rule, 2: its strategy's own (in the list), 0: not asked (it does
        not train, or its firm is not in business). Kept with the investment's plan
        (:meth:`_invest_plan`): read only.
        """
        plan = self._invest_plan(observations)
        return plan.ask, plan.own_rule

    def _default_training(
        self,
        observations: dict[int, Observation],
        prepared: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
        """The default rule's training orders, their prices, the funds; those asked.

        :func:`~stackgame.environment.training.training_orders_kernel` (``MODEL.md``
        20.2) when the investment step did not compute them (the first round, whose
        prices come from the clearing's inputs ``prepared``; a stack without
        capital-goods orders).
        """
        st = self.state
        book = self.training
        orders = np.zeros(st.n_ops)
        settled = self.ledger.settlement
        revenue = settled.payout.firm_revenue if settled is not None else _NO_FLOATS
        view = self.memory.view
        paid = book.rows[-1] if book.rows else None
        # funds less the equity room lost at the appetite after a losing round: a lab that
        # trains expects to lose money this round, and investors then offer less
        # (docs/MODEL.md 16, 20.2; the kernel subtracts it when finance is on)
        fs = st.finance
        funds = self._funds_array()
        # per layer, the price of a unit of compute from the layer below for a lab that
        # has not trained yet: its mean price last round, or in the first round this
        # round's (from the clearing's inputs ``prepared``), 0 without sellers
        names = self.layer_names
        if view and settled is not None:  # (every layer's view: its mean price, published)
            last = settled.layer_price.tolist()
            fallback = [last[k - 1] for k in range(len(names))]
        else:
            fallback = [0.0] * len(names)
            markup, capacity, _, _, self_share = prepared
            now, _, _ = resolve_prices(
                st.structure, st.unit_cost, markup, st.quality, capacity, self_share,
                st.per_unit, None, self.memory.mix_for(st.n_ops), buildout.price_basis(st),
                with_weights=False,
            )  # fmt: skip
            for k in range(len(names)):
                if names[k - 1] in view:
                    fallback[k] = view[names[k - 1]].price
                elif st.structure.by_layer[k - 1].size:
                    fallback[k] = float(now[st.structure.by_layer[k - 1]].mean())
        paid_units = paid["units"] if paid is not None else _NO_FLOATS
        paid_spend = paid["spend"] if paid is not None else _NO_FLOATS
        ask, own_rule = self._training_asked(observations)
        price, funds = compiled("training_orders_kernel", self._jit, module="training")(
            ask, st.firm_of, st.layer_of, book.stock, book.rate,
            book.ratio, revenue, funds, self._financing, st.appetite, st.last_revenue,
            st.raises_equity, fs.appetite_drop, fs.equity_multiple, paid_units, paid_spend,
            np.array(fallback), orders,
        )  # fmt: skip
        return orders, price, funds, own_rule

    def _funds(self) -> list[float] | None:
        """What each firm can spend on capital goods now (``None``: no limit, finance off).

        :func:`stackgame.environment.finance.available_funds`: cash above the floor, room
        under the debt limit, equity room. Computed once a round (investment and training
        read the same funds; nothing moves cash between the two decisions).
        """
        if not self._financing:
            return None
        return self._funds_array().tolist()

    def _funds_array(self) -> np.ndarray:
        """:meth:`_funds` as an array (``inf`` for every firm when finance is off)."""
        if self._funds_of[0] == self.round:
            return self._funds_of[1]
        if not self._financing:
            funds = np.full(self.state.n_firms, math.inf)
        else:
            owed = self.contracts.backlog(self.state, self.memory.price, jit=self._jit)
            funds = fin.available_funds(self.state, owed, self._jit)
        self._funds_of = (self.round, funds)
        return funds

    def _chosen_markups(self, actions: Mapping[int, Action]) -> list[float]:
        """Markup per operation as the actions chose it (restrain where none acted)."""
        st = self.state
        rel = self.relations
        rel.refresh_views(st)
        # plain lists in the loop (numpy item assignment costs more than the rest)
        chosen = st.restrain_markup.tolist()
        extract = st.extract_markup.tolist()
        for i, a in actions.items():
            markups = a.markups
            postures = a.postures
            default = a.default
            if not markups and not postures:  # one posture for every layer
                if default is Posture.EXTRACT:
                    for o in rel.ops[i]:
                        chosen[o] = extract[o]
                continue
            for layer, o in rel.pairs[i]:
                if layer in markups:
                    chosen[o] = float(markups[layer])
                elif postures.get(layer, default) is Posture.EXTRACT:  # Action.posture
                    chosen[o] = extract[o]
        return chosen

    def _prepare(
        self, actions: Mapping[int, Action]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The clearing's inputs: markups, live capacity and quality, costs, self-supply.

        One call of :func:`stackgame.environment.round_kernel.prepare_kernel` (the
        regulator's caps and the markup floor, capacity and quality in force, entrants'
        cost penalties, planned self-supply), compiled or plain.
        """
        chosen = self._chosen_markups(actions)
        kernel = compiled("prepare_kernel", self._jit)
        st = self.state
        markup, capacity, quality, cost, share = kernel(
            self.round, np.array(chosen, dtype=float), st.cap_until, st.cap_markup,
            self.relations.markup_floor, st.online_round, st.active, st.capacity, st.quality,
            INACTIVE_QUALITY, st.penalty_until, st.integrated_at, st.unit_cost,
            st.base_unit_cost, st.structure.own_below, self.memory.input_need,
            st.input_coefficient, st.layer_of,
        )  # fmt: skip
        return markup, capacity, quality, cost, share

    # 3. clear -----------------------------------------------------------------------------
    def clear_markets(
        self,
        actions: Mapping[int, Action],
        orders: np.ndarray | None = None,
        training: np.ndarray | None = None,
        prepared: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> RoundFlows:
        """Markups from the actions, then the pure clearing function: the round's flows.

        ``orders``: capital-goods orders per operation (:meth:`invest`); the units shipped
        join the buyers' pipelines (:func:`~stackgame.environment.buildout.install_and_age`).
        The supplier logit reads this round's switching costs (:meth:`StackState.lock_in_now`);
        after the clearing the buyers remember its hikes and purchases for the next round
        (:meth:`StackState.remember_relations`, ``docs/MODEL.md`` 5.4).
        ``training``: training compute per operation (:meth:`train`): it takes its
        sellers' capacity before the market clears, the model stocks set the labs'
        quality, and the sellers are paid after the clearing (``docs/MODEL.md`` 20).
        ``prepared``: :meth:`_prepare`'s result for ``actions`` when the caller has it.
        """
        st = self.state
        if prepared is None:
            prepared = self._prepare(actions)
        markup, capacity, quality, unit_cost, self_share = prepared
        market_capacity = capacity
        own, units = _NO_FLOATS, _NO_ROWS  # training: units on own operations, and rented
        if training is not None:
            # TrainingBook.prepare and the capacity it leaves to the market (never below
            # zero: what training reserves can pass the capacity by a rounding residue,
            # which the rationing would divide by), in one call
            book = self.training
            mix = self.memory.mix
            block, units = compiled(
                "prepare_training_round_kernel", self._jit, module="buildout_round"
            )(
                quality, book.stock, book.initial, book.weight, book.scale,
                book.live_now(st)[0], training, st.structure.own_below, st.structure.allowed,
                _NO_PAIRS if mix is None else mix.pairs, _NO_FLOATS if mix is None else mix.values,
                capacity, book.cap,
            )  # fmt: skip
            quality, own, market_capacity = block
        offers = None
        if st.cournot:
            offers = capacity.copy()
            top = self.layer_names[-1]
            for i, a in actions.items():
                if top in a.quantities:
                    o = st.op(i, st.n_layers - 1)
                    if o >= 0:
                        offers[o] = max(0.0, float(a.quantities[top]))
        in_force = self.contracts.in_force(self.round, st)
        clearing = clear(
            st.structure,
            unit_cost,
            markup,
            quality,
            market_capacity,
            st.demand,
            self_share=self_share,
            per_unit=st.per_unit,
            quantity_offer=offers,
            supplier_mix=self.memory.mix_for(st.n_ops),
            jit=self._jit,
            capital_goods=st.capital_goods if st.has_capital_goods else None,
            orders=orders,
            basis=buildout.price_basis(st),
            contracts=in_force if in_force is not None else _NO_CONTRACTS,
            # this round's switching costs, made at the pairs (None: static)
            lock_parts=st.lock_in_parts() if st.dynamic_lock_in else None,
            infrastructure=buildout.infrastructure(st),
            # what the round's capability cost, every markup zero (the usage channel):
            # computed in the same call, on the capacities before training reserves
            cost_capacity=capacity if st.usage_elasticity > 0 else None,
        )  # fmt: skip
        if st.dynamic_lock_in:  # buyers remember this round's hikes and purchases (5.4)
            st.remember_relations(markup, clearing, self._jit)
        # the contracts, then the training, settled before the payout (one call)
        self._trained = None
        if training is not None or self.contracts.m:
            self._trained = self._settle_buildout(clearing, unit_cost, training, own, units)
        else:
            self.contracts.next_round = self.round + 1
        # the market size it cleared at: before this round's growth and shocks
        flows = RoundFlows(self.round, markup, capacity, float(st.demand.market_size), clearing)
        if clearing.cost_price is not None:  # (the usage channel's, from the clearing)
            flows.cost_price = clearing.cost_price
        self.last_round = flows
        return flows

    def _settle_buildout(
        self,
        clearing: Clearing,
        cost: np.ndarray,
        training: np.ndarray | None,
        own: np.ndarray,
        units: np.ndarray,
    ) -> dict[str, np.ndarray] | None:
        """:meth:`ContractBook.settle` then :meth:`TrainingBook.settle`, in one call.

        :func:`~stackgame.environment.buildout_round.settle_round_kernel`: the contracts
        in force on the clearing's money and the firms' cash, then the training's
        payments, the sellers' side and the model stocks; without training (called then
        only with contracts) its contracts' part alone,
        :func:`~stackgame.environment.buildout_round.settle_contracts_round_kernel`.
        Returns the training's row (``None`` without training), logs the models written
        down.
        """
        st = self.state
        c = clearing
        contracts = self.contracts
        contracts.next_round = self.round + 1
        if training is None:  # (the contracts alone, called only with some: half the arrays)
            contracts.last = compiled(
                "settle_contracts_round_kernel", self._jit, module="buildout_round"
            )(
                self.round, *contracts.settle_args(st), c.flow, c.price, c.revenue,
                c.input_cost, c.capex, c.gross_profit, st.cash,
            )  # fmt: skip
            return None
        has = contracts.m > 0
        ints, floats = contracts.packed(st) if has else (_NO_INT_ROWS, _NO_ROWS)
        book = self.training
        n = st.n_ops
        out = np.empty((11, n))  # (made anew: the book keeps its rows)
        passer = np.empty(n, dtype=np.int64)
        settled, written = compiled("settle_round_kernel", self._jit, module="buildout_round")(
            self.round, has, ints, floats, contracts.indexed, contracts.prepaid,
            contracts.credit, contracts.last_price, buildout.capital_ops(st),
            c.flow if has else _NO_ROWS, c.price, c.revenue, c.input_cost, c.capex,
            c.gross_profit, st.cash, True, own, units, st.structure.own_below, cost,
            c.quantity, c.unit_input_cost, c.internal_revenue, c.variable_cost, book.stock,
            book.rate, book.omega, book.expense, book.live_now(st)[0], st.layer_of, out, passer,
        )  # fmt: skip
        if has:
            contracts.last = settled
        # (TrainingBook.settle's bookkeeping, on the kernel's rows)
        spend, c.revenue, c.internal_revenue, c.quantity, c.variable_cost = out[:5]
        book.stock = out[5]
        book.written_down = written
        row = {
            "spend": spend, "units": out[10], "charge": out[8], "writedown": out[7],
            "amortisation": out[6], "stock": out[9], "passer": passer,
        }  # fmt: skip
        book.rows.append(row)
        if written:
            self._log_writedowns(row)
        return row

    # 4. pay out ---------------------------------------------------------------------------
    def pay_out(self, flows: RoundFlows) -> Settlement:
        """Margins, depreciation, stakes and cash, in the ledger (:func:`payouts.settle`).

        The same pass derives what regulate_and_shock and record read (per-layer sums,
        quantity shares, margins on external sales, postures, inputs per unit).
        """
        # (with financing, the buildout's cash moves in the financing's call: finance);
        # the round's payments join the history's cumulative ones in the settlement's
        # pass over the pairs (History.payments_into: record then adds none)
        return self.ledger.pay_out(
            self.state, flows, self._jit, self._trained, buildout_cash=not self._financing,
            payments=self.history.payments_into(flows.clearing),
        )  # fmt: skip

    def _log_writedowns(self, row: dict[str, np.ndarray]) -> None:
        """One log line per model written down by a rival's release (kind ``training``)."""
        if not row["writedown"].any():
            return
        st = self.state
        labels = [f.label for f in self.firms]
        for o in np.flatnonzero(row["writedown"]).tolist():
            j = int(row["passer"][o])
            before = float(row["stock"][o] + row["writedown"][o])
            self._log(
                "training", self.firms[int(st.firm_of[o])].name,
                f"{labels[int(st.firm_of[o])]}'s model written down by "
                f"{row['writedown'][o]:.2f} ({self.training.omega[o]:.0%} of {before:.2f}): "
                f"{labels[int(st.firm_of[j])]}'s model stock {row['stock'][j]:.2f} passes it",
            )  # fmt: skip

    # 4b. finance -----------------------------------------------------------------------------
    def finance(self, flows: RoundFlows, settled: Settlement) -> np.ndarray:
        """Interest, outside cash flows, borrowing, equity, repayment; failures.

        :func:`stackgame.environment.finance.finance_round` on the round's value and
        revenue, with the contracted revenue still to come (:meth:`backlog`) counting
        toward the debt limit; interest is a cost in each firm's value (its payoff) this
        round. Capital goods bought this round count in the book (paid for now, they join
        it when installed after the round). A firm still short of cash fails: its
        capacity is sold to its layers' survivors
        (:func:`~stackgame.environment.finance.fail`), its agent stops, its contracts
        end, and the log says why. Returns the financing rows (the record step keeps
        them in the history).
        """
        st = self.state
        payout = settled.payout
        owed = self.contracts.backlog(st, self.memory.price, jit=self._jit)
        # the buildout's cash first (what the payout left to this call), then
        # fin.finance_step's kernel: one call (buildout_round.pay_and_finance_kernel)
        spec = st.finance
        trained = self._trained
        block = np.empty((10, st.n_firms))  # (made anew: the history keeps its rows)
        kernel = compiled("pay_and_finance_kernel", self._jit, module="buildout_round")
        failing, financing, interest = kernel(
            st.cash, st.firm_of, _NO_FLOATS if trained is None else trained["spend"],
            buildout.capital_ops(st) if st.has_capital_goods else _NO_MASK,
            payout.depreciation, self.ledger.writedown, flows.clearing.capex, st.debt,
            st.appetite, st.acquired, st.failed_round, st.outside_cash_flow, st.raises_equity,
            payout.firm_value, payout.firm_revenue, st.active, st.capital,
            np.asarray(owed, dtype=float), spec.interest_rate, spec.loan_to_value,
            spec.min_cash, spec.equity_multiple, spec.appetite_drop, spec.appetite_recovery,
            block,
        )  # fmt: skip
        st.last_revenue = block[7]
        out = block[:5]
        payout.firm_value = block[6]  # (less interest: the same numbers where none is paid)
        self._financed = (block, financing, interest)
        if not failing:
            return out
        failing = np.flatnonzero(out[4]).tolist()
        book = block[5]
        names = st.firm_names  # (the agents' names, in their order)
        for f in failing:  # (all of them out of business before any sale: no failing buyer)
            st.failed_round[f] = self.round
        for f in failing:
            cash, debt = float(st.cash[f]), float(st.debt[f])
            limit = st.finance.loan_to_value * float(book[f] + owed[f])
            sales = fin.fail(st, f, self.round, self._jit)
            self.firms[f].active = False
            self.contracts.terminate(f, self.round)
            reason = fin.failure_reason(st, f, cash, debt, limit, float(out[2, f]), sales, names)
            self._log("failure", names[f], reason)
        block[8] = st.debt  # (the debt recorded: a failed firm's is written off)
        st.rebuild()
        self._structure_changed()
        return out

    # 5. regulate and shock -----------------------------------------------------------------
    def regulate_and_shock(self, flows: RoundFlows, settled: Settlement) -> None:
        """Antitrust draws on this round's shares and margins; then next round's events."""
        st = self.state
        reg = st.regulator
        ledger = self.ledger
        # the book's wear this round: the payout's depreciation less the write-downs (they
        # left the book already) and the training charge (not the book's wear), taken by
        # install_and_age below
        writedown = ledger.writedown
        ledger.open_charges(st.n_ops)  # (this round's were paid)
        if reg.enabled and reg.stance > 0:
            self._regulate(flows, settled)
        # demand grows; capacity builds out; cost declines run; events due next round fire
        st.demand.market_size *= 1.0 + st.demand_growth
        if st.usage_elasticity > 0:  # today's price of capability moves tomorrow's usage
            self._expand_usage(flows)
        sigma = st.demand_volatility
        if sigma > 0:  # a mean-one log-normal demand shock, an explicit chance outcome
            st.demand.market_size *= float(
                np.exp(sigma * self.shock_rng.standard_normal() - 0.5 * sigma * sigma)
            )
        if st.has_capital_goods:  # shipped capital goods join the books; units retire
            charge = self._trained["charge"] if self._trained is not None else None
            buildout.install_and_age(
                st, flows.clearing, settled.payout.depreciation, self._jit, writedown, charge
            )
        if np.count_nonzero(st.capacity_growth):  # (adding zeros would change nothing)
            grow = st.capacity_growth * st.capacity
            if st.has_capital_goods:  # (capital-goods layers grow by investment only)
                grow[buildout.capital_index(st)] = 0.0
            spent = grow * st.build_cost[st.layer_of]
            st.cash -= np.bincount(st.firm_of, weights=spent, minlength=st.n_firms)
            st.capital += spent
            st.capacity += grow
        self.events.advance(st)
        # conditions of next round's events read this round's public data
        self.memory.publish(
            self.layer_names, settled.layers, settled, flows.market_size, self.events.conditional
        )
        self._apply_due_events(self.round + 1)

    def _regulate(self, flows: RoundFlows, settled: Settlement) -> None:
        """Antitrust draws on this round's shares and margins; the remedies (MODEL.md 12)."""
        st = self.state
        reg = st.regulator
        share = settled.share
        # margins on sales to others: self-supply at cost is not a market position
        op_margin = settled.operating_margin
        lay = settled.layers
        draws = self.regulator_rng.random(st.n_ops)
        # (each operation faces the margin of the layers above its own: one kernel call)
        outcome, hazard = reg_rule.regulate(
            lay["operating_profit"], lay["external_revenue"], st.layer_of, share, op_margin,
            rule_array(reg), draws, st.cap_until, self.round, st.active, self._jit,
        )  # fmt: skip
        # sum over rounds of log(1 - P) per firm: the closed form 1 - prod(1 - P_t)
        self.regulator_log_survival += np.bincount(
            st.firm_of, weights=np.log1p(-np.minimum(hazard, 1.0 - 1e-16)),
            minlength=st.n_firms,
        )  # fmt: skip
        if not np.count_nonzero(outcome):
            return
        revenue = flows.clearing.revenue
        firm_revenue = settled.payout.firm_revenue
        above = downstream_margin(lay["operating_profit"], lay["external_revenue"])
        for o in np.flatnonzero(outcome).tolist():
            kind = int(outcome[o])
            f = int(st.firm_of[o])
            firm, layer = self.firms[f].name, self.layer_names[st.layer_of[o]]
            st.cap_until[o] = self.round + 1 + reg.cap_rounds  # open for cap_rounds rounds
            cap = reg_rule.cap_for(reg.cap_markup, reg.cap_fraction, float(st.restrain_markup[o]))
            st.cap_markup[o] = np.inf if kind == reg_rule.CLOSED else cap
            self.remedies[reg_rule.OUTCOMES[kind]] += 1
            parts = []
            if kind in (reg_rule.INFRINGEMENT, reg_rule.STRUCTURAL):
                fine = reg_rule.fine_amount(
                    reg.fine_rate, reg.fine_rounds, float(revenue[o]), float(firm_revenue[f])
                )
                self.ledger.fines[o] = fine
                parts.append(f"fine {fine:.2f}")
            if kind != reg_rule.CLOSED:
                parts.append(f"markup capped at {cap:g} for {reg.cap_rounds} rounds")
            if kind == reg_rule.STRUCTURAL:
                parts.append(self._divest(o, reg.divest_share))
            verdict = {
                reg_rule.CLOSED: "closed without remedy",
                reg_rule.COMMITMENTS: "commitments",
                reg_rule.INFRINGEMENT: "infringement decision",
                reg_rule.STRUCTURAL: "structural remedy",
            }[kind]
            self._log(
                "investigation", firm,
                f"investigated in {layer} (share {share[o]:.0%}, margin {op_margin[o]:.0%}, "
                f"downstream margin {above[st.layer_of[o]]:.0%}, hazard {hazard[o]:.1%}): {verdict}"
                + (": " + ", ".join(parts) if parts else ""),
            )  # fmt: skip

    def _divest(self, o: int, share: float) -> str:
        """Sell ``share`` of operation ``o``'s capacity to its rivals (:func:`fin.divest`)."""
        sale = fin.divest(self.state, o, share)
        if not sale.buyers:
            return "divestiture ordered but no rival in the layer to buy"
        names = ", ".join(f"{self.firms[j].name} {s:.0%}" for j, s in sale.buyers.items())
        return f"divests {sale.capacity:.2f} of capacity at book {sale.price:.2f} to {names}"

    def _expand_usage(self, flows: RoundFlows) -> None:
        """The usage channel (:mod:`stackgame.environment.usage`, ``docs/MODEL.md`` 6.5)."""
        st = self.state
        top = np.flatnonzero((st.layer_of == st.n_layers - 1) & st.active)
        clearing = flows.clearing
        ratio = usage.price_to_cost(
            clearing.price[top], flows.cost_price[top], clearing.quantity[top]
        )
        st.log_usage, factor = usage.usage_step(
            st.log_usage, ratio, st.usage_reference_ratio, st.usage_elasticity,
            st.usage_adjustment,
        )  # fmt: skip
        st.demand.market_size *= factor

    def _apply_due_events(self, round_: int) -> None:
        self.events.apply_due(
            round_, self.state, self.memory.public, self._set_strategy, self._event_applied
        )

    def _event_applied(self, event: ev.EventSpec, text: str, charge: np.ndarray) -> None:
        self.ledger.writedown += charge  # charged at the next payout
        kind = "trigger" if event.kind == "trigger" else "event"
        self._log(kind, "", text, self.events.round)
        start = self.events.round  # the event's round: its contracts start from it
        if event.end_contracts:  # the buyers renege: last round in force the one before
            self.contracts.end_named(event.end_contracts, start - 1, f"ended by {event.name}")
        for spec in event.contracts:
            self.contracts.add(spec.model_copy(update={"start": start + spec.start}), self.state)
            self._log(
                "contract", spec.seller,
                f"{spec.name}: {spec.buyer} signs for {spec.quantity:g} units of {spec.layer} a "
                f"round from round {start + spec.start} for {spec.duration} rounds "
                f"(take-or-pay {spec.take_or_pay:g}, prepayment {spec.prepayment:g}; {event.name})",
                start,
            )  # fmt: skip

    def _set_strategy(self, firm: str, strategy: str) -> None:
        i = self.state.firm_index[firm]
        self.firms[i].set_strategy(make(strategy))
        self._log("event", firm, f"{firm} switches to {strategy}", self.events.round)

    # 6. record ----------------------------------------------------------------------------
    def record(self, actions: Mapping[int, Action], flows: RoundFlows, settled: Settlement) -> None:
        """Per-round arrays, what the next round knows, firm histories, the DataCollector.

        Stops the run with a :class:`~stackgame.environment.ledger.RunawayError` (before
        recording anything) when a quantity ran away: nothing non-finite is recorded.
        """
        st = self.state
        clearing = flows.clearing
        payout = settled.payout
        # what compounds: the market size and capacity; and cash, which every other money
        # flow reaches within the round (value captured, capacity bought at build cost)
        check_finite(
            self.round,
            {"capacity": st.capacity, "cash": st.cash},
            {"demand (market size)": st.demand.market_size},
        )
        self.history.append(self.round, st, clearing, payout, flows.markup, settled.posture,
                            flows.capacity, clearing.internal_revenue, settled.layers,
                            flows.market_size, jit=self._jit)  # fmt: skip
        if self._financing:
            self.history.append_finance(*self._financed)
        firm_margin = settled.firm_margin.tolist()
        self.memory.remember(st, flows, settled, firm_margin)
        values = payout.firm_value.tolist()
        markups = flows.markup.tolist()
        postures = settled.posture.tolist()
        ops_of = self.relations.ops
        restrain, extract = Posture.RESTRAIN, Posture.EXTRACT
        # each active firm's outcome appended to its history as FirmAgent.remember does,
        # its counterparts' vote (which needs every firm's posture) once all have played
        voted = []  # the active firms' counterpart-posture lists
        last = []  # each firm's headline posture this round (-1: none ever), for the vote
        for f, ops in zip(self.firms, ops_of, strict=True):
            postures_seen, payoffs_seen, margins_seen, markups_seen, cps_seen = f.history
            if not f.active:
                last.append(int(postures_seen[-1]) if postures_seen else -1)
                continue
            i = f.index
            a = actions.get(i)
            if a is None:
                head = restrain
            elif not a.postures:  # one posture for all layers, or explicit markups
                head = Posture(max(postures[o] for o in ops)) if a.markups and ops else a.default
            else:  # Action.headline with postures: extract if any layer extracts
                head = extract if any([p is extract for p in a.postures.values()]) else restrain
            postures_seen.append(head)
            payoffs_seen.append(values[i])
            margins_seen.append(firm_margin[i])
            if len(ops) == 1:
                markups_seen.append(0.0 + markups[ops[0]])  # what sum([...]) / 1 gives, -0.0 too
            else:
                markups_seen.append(sum([markups[o] for o in ops]) / len(ops) if ops else 0.0)
            voted.append(cps_seen)
            last.append(1 if head == 1 else 0)  # int(head)
        votes = self.relations.counterpart_votes(last)
        if len(voted) < len(votes):  # (firms acquired: only the active ones vote)
            votes = [v for v, f in zip(votes, self.firms, strict=True) if f.active]
        deque(map(list.append, voted, votes), maxlen=0)
        self.round += 1
        if self.datacollector is not None:
            self.datacollector.collect(self)
        if self.round >= self.rounds:
            self.running = False

    # integration moves, after the record ----------------------------------------------------
    def integrate(self, actions: Mapping[int, Action]) -> None:
        """Carry out integration moves: build (capex, lead time), buy, take a stake."""
        st = self.state
        stay = Move.STAY
        # (the firms that move, in index order: most stay, and are not looked at twice)
        for i in sorted([i for i, a in actions.items() if a.integration.move is not stay]):
            move = actions[i].integration
            if not self.firms[i].active:
                continue
            name = self.firms[i].name
            if not (st.allow_integration and st.can_integrate[i]):
                continue
            if move.move is Move.BUILD:
                self._build(i, name, move.layer)
            elif move.move in (Move.BUY, Move.STAKE):
                self._buy_or_stake(i, name, move.move, move.target)

    def _build(self, i: int, name: str, layer: str | None) -> None:
        st = self.state
        if layer not in self.relations.integrable(st, i):
            return
        k = st.layer_index[layer]
        ref = 0.0
        quantity = self.memory.quantity  # this round's, just recorded
        for o in self.relations.ops[i]:
            if st.layer_of[o] == k + 1:  # upstream: supply own input need
                ref = max(ref, st.input_coefficient[k + 1] * float(quantity[o]))
            elif st.layer_of[o] == k - 1:  # downstream: an outlet for own output
                ref = max(ref, float(quantity[o]))
        layer_cap = float(st.capacity[(st.layer_of == k) & st.active].sum())
        capacity = max(ref, 0.05 * layer_cap)
        capex = capacity * st.build_cost[k]
        if st.cash[i] < capex:
            self._log("integration", name, f"cannot afford to build into {layer} ({capex:.1f})")
            return
        st.cash[i] -= capex
        st.add_op(i, k, capacity, self.round + int(st.build_lead_time[k]))
        self._structure_changed()
        self._log(
            "integration", name,
            f"builds into {layer}: capacity {capacity:.1f}, capex {capex:.1f}, online in "
            f"round {self.round + int(st.build_lead_time[k])}",
        )  # fmt: skip

    def _buy_or_stake(self, i: int, name: str, move: Move, target: str | None) -> None:
        st = self.state
        if target not in st.firm_index or target == name:
            return
        t = st.firm_index[target]
        if not self.firms[t].active:
            return
        profits = self.memory.firm_profit  # this round's, just recorded
        profit = float(profits[t]) if profits.size else 0.0
        value = float(st.capital[(st.firm_of == t) & st.active].sum()) + VALUATION_MULTIPLE * max(
            profit, 0.0
        )
        if move is Move.BUY:
            if st.cash[i] < value:
                self._log("integration", name, f"cannot afford to buy {target} ({value:.1f})")
                return
            st.cash[i] -= value  # paid to the target's owners, outside the stack; crediting
            st.merge_firm(
                i, t, self.round
            )  # the target would hand the price back to the buyer on merging
            self.contracts.transfer(t, i, self.round - 1)
            self.firms[t].active = False
            self._structure_changed()
            self._log("integration", name, f"buys {target} for {value:.1f}")
            return
        share = min(STAKE_SHARE, 1.0 - float(st.stakes[:, t].sum()))
        price = share * value
        if share <= 1e-9 or st.cash[i] < price:
            return
        st.cash[i] -= price
        st.cash[t] += price
        st.stakes[i, t] += share
        st.stakes_held = True
        ops = self.relations.ops
        for o in ops[i]:  # the stake locks in supply between adjacent layers
            for p in ops[t]:
                if abs(int(st.layer_of[o]) - int(st.layer_of[p])) == 1:
                    lo, hi = sorted((int(st.layer_of[o]), int(st.layer_of[p])))
                    buyer, seller = (i, t) if st.layer_of[o] == hi else (t, i)
                    if (buyer, seller, lo, 0.5, False) not in st.relations:
                        st.relations.append((buyer, seller, lo, 0.5, False))
        st.rebuild()
        self.relations.rebuild(st)
        self._log("integration", name, f"takes a {share:.0%} stake in {target} for {price:.1f}")

    def _structure_changed(self) -> None:
        """After an operation is added or a firm bought: extend the arrays, new relations."""
        n = self.state.n_ops
        self.ledger.grow(n)
        self.memory.grow(n)
        self.relations.rebuild(self.state)

    def _log(self, kind: str, firm: str, text: str, round_: int | None = None) -> None:
        if round_ is None:  # integration runs after the round counter moved on
            round_ = self.round - 1 if kind == "integration" else self.round
        self.log.append(LogEntry(round_, kind, firm, text))

    def backlog(self) -> dict[str, float]:
        """Each firm's contracted revenue still to come, at last round's prices (17)."""
        value = self.contracts.backlog(self.state, self.memory.price)
        return dict(zip(self.state.firm_names, value.tolist(), strict=True))

    @property
    def last_clearing(self) -> Clearing | None:
        """The last round's clearing (``None`` before the first)."""
        return None if self.last_round is None else self.last_round.clearing

    @property
    def last_payout(self) -> Payout | None:
        """The last round's payout (``None`` before the first)."""
        settled = self.ledger.settlement
        return None if settled is None else settled.payout

    # -- reporting -----------------------------------------------------------------------------
    def _reporters(self) -> dict[str, Any]:
        rep: dict[str, Any] = {"round": lambda m: m.round}
        for name in self.layer_names:
            rep[f"value_share.{name}"] = lambda m, n=name: m.history.layer_value_share(n)
            rep[f"gross_margin.{name}"] = lambda m, n=name: m.history.layer_margin(n, "gross")
            rep[f"operating_margin.{name}"] = lambda m, n=name: m.history.layer_margin(
                n, "operating"
            )
            rep[f"hhi.{name}"] = lambda m, n=name: m.history.layer_hhi(n)
        for f in self.firms:
            if self.state.named[f.index]:
                rep[f"cash.{f.name}"] = lambda m, i=f.index: float(m.state.cash[i])
        return rep

    def _reporter_row(self) -> Callable[[], list[Any]]:
        """Every reporter of :meth:`_reporters`, in its order, when the rows are read.

        Snapshots what the values are computed from (copies of what changes in place),
        so the row is the same whenever it is computed.
        """
        h = self.history
        settled = self.ledger.settlement if h.layer_rows else None
        snapshot = (
            self.round,
            h.cum_layer_profit.tolist(),
            # (the margins only: the whole settlement is large, and a row per round)
            None
            if settled is None
            else (settled.layer_gross_margin, settled.layer_operating_margin),
            h.layer_rows[-1]["hhi"] if settled is not None else None,
            self.state.cash.tolist(),
        )
        # the named firms' indices, ascending (firm i is ``self.firms[i]``): one numpy
        # pass, not a numpy item read per firm (~0.3 ms a round at 1,000 firms)
        named = np.flatnonzero(self.state.named).tolist()
        return partial(_reporter_values, snapshot, self.state.n_layers, named)

    def _agent_rows(self) -> Callable[[], list[tuple[Any, ...]]]:
        """Every agent's reporters (:func:`agent_reporters`) this round, when read.

        Snapshots the book capital of the active operations (it changes in place); the
        rest is in the history, which only grows.
        """
        st = self.state
        capital = np.where(st.active, st.capital, 0.0)
        return partial(_agent_values, self.agents, self.steps, len(self.history) - 1, capital)

    def postures(self) -> dict[str, Posture | None]:
        """Each firm's headline posture last round (``None`` before the first)."""
        return {f.name: (f.postures[-1] if f.postures else None) for f in self.firms}

    def flows(self) -> list[dict[str, Any]]:
        """Last round's market flows between firms: buyer, seller, layer, units, dollars."""
        c = self.last_clearing
        if c is None:
            return []
        st = self.state
        pay = c.payments
        out = []
        for b, s in zip(*np.nonzero(c.flow > 1e-12), strict=True):
            out.append(
                {
                    "buyer": self.firms[int(st.firm_of[b])].name,
                    "seller": self.firms[int(st.firm_of[s])].name,
                    "layer": self.layer_names[st.layer_of[s]],
                    "units": float(c.flow[b, s]),
                    "dollars": float(pay[b, s]),
                }
            )
        for b in np.flatnonzero(c.self_supply > 1e-12):
            o = int(st.structure.own_below[b])
            out.append(
                {
                    "buyer": self.firms[int(st.firm_of[b])].name,
                    "seller": self.firms[int(st.firm_of[o])].name,
                    "layer": self.layer_names[st.layer_of[o]],
                    "units": float(c.self_supply[b]),
                    "dollars": float(c.internal_revenue[o]),
                }
            )
        return out

    def summary(self) -> dict[str, Any]:
        """The JSON-ready result: value capture and margins by layer and firm, and more."""
        from stackgame.environment.summary import summarize

        return summarize(self)

    def run(self) -> StackModel:
        """Step until ``running`` is False; returns the model."""
        while self.running:
            self.step()
        return self

    def release(self) -> None:
        """Let this run's model go: it is freed as soon as its caller drops it.

        Anything that builds many models (tournaments, batches) calls this after a run so
        that memory stays flat. It frees the model from Mesa 3.3.1's global agent-id
        registry (fixed in 3.4.2), and it breaks the reference cycles through the model,
        so that reference counting frees it the moment the caller lets go, rather than
        one of the cyclic collector's later passes (over a batch's dead models such a
        pass takes 5-27 ms, inside whichever later run's round it falls): each agent
        reaches its model through a weak proxy (its state is still read through it:
        ``firm.cash``), Mesa's step wrapper stored on the instance is dropped (``step``
        is then the class's round, without Mesa's clock), and the contracts no longer
        write to the model's log. The run's results stay readable for as long as the
        caller holds the model; a released model is not stepped again.
        """
        ids = getattr(mesa.Agent, "_ids", None)
        if isinstance(ids, dict):
            ids.pop(self, None)
        proxy = weakref.proxy(self)
        for agent in list(self.agents):
            agent.model = proxy
        for name in ("step", "_user_step"):  # Mesa's bound methods on the instance
            self.__dict__.pop(name, None)
        self.contracts._log = None
