"""The Mesa model of the AI stack: one ``step()`` is one round of the stage game.

``StackModel.step`` reads as the six steps of a round (``DESIGN.md``): observe, decide
(simultaneously, or layer by layer bottom-up under sequential timing), clear (a pure
function, :func:`stackgame.environment.market.clear`), pay out, regulate and shock, and
record. The model holds the state arrays and orchestrates; firms are thin agents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import mesa
import numpy as np
from stackgame.agents.firm import FirmAgent
from stackgame.environment import events as ev
from stackgame.environment.history import History
from stackgame.environment.jit import compiled, jit_enabled
from stackgame.environment.market import Clearing, clear, resolve_prices
from stackgame.environment.payouts import Payout, Settlement, settle
from stackgame.environment.regulator import open_investigations
from stackgame.environment.scenario import (
    TRIGGERS,
    Scenario,
    ScenarioError,
    apply_overrides,
    resolve,
)
from stackgame.environment.state import INACTIVE_QUALITY, StackState
from stackgame.strategies.base import (
    OBSERVATION_DEFAULTS,
    Action,
    LayerView,
    Move,
    Observation,
    Posture,
    Strategy,
)
from stackgame.strategies.exact_stats import exact_sum
from stackgame.strategies.registry import get as get_strategy
from stackgame.strategies.registry import make

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


def _union(in_layer: list[list[int]], layers: list[int], exclude: int) -> list[int]:
    """Firms with an operation in any of ``layers``, ascending, without ``exclude``."""
    out: set[int] = set()
    for k in layers:
        out.update(in_layer[k])
    out.discard(exclude)
    return sorted(out)


class _ScalarCollector(mesa.DataCollector):
    """Mesa's ``DataCollector``, filled from one row computed once a round.

    Mesa 3.3.1 calls each model reporter and deep-copies its value every round (so that a
    reporter returning a mutable object does not alias later rounds). The engine's
    reporters are all plain numbers read from the same per-layer arrays, so calling them
    one by one repeats the same lookups two dozen times and the copies are pure overhead.
    With ``row`` (a callable giving a function that returns every reporter's value, in the
    reporters' order, from a snapshot of the round) ``collect`` keeps that function, and
    the rows are computed and become Mesa's columns (``model_vars``) when they are read;
    the reporters stay in ``model_reporters`` and return the same values when called (a
    test checks that). The first round, agent reporters, or any reporter added later go
    through Mesa's own ``collect``.
    """

    def __init__(
        self,
        model_reporters: dict[str, Any],
        row: Callable[[mesa.Model], Callable[[], list[Any]]] | None = None,
    ) -> None:
        super().__init__(model_reporters=model_reporters)
        self._row = row
        self._row_keys = tuple(model_reporters)

    _pending: list[Callable[[], list[Any]]]
    _model_vars: dict[str, list[Any]]

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

    def collect(self, model: mesa.Model) -> None:
        """Append each model reporter's value (see the class docstring)."""
        row = self._row
        if (
            row is None
            or self.agent_reporters
            or self.agenttype_reporters
            or not self._validated
            or len(self.model_reporters) != len(self._row_keys)
        ):
            super().collect(model)  # (reads model_vars: pending rows go in first)
            return
        self._pending.append(row(model))  # computed, as columns, when model_vars is read


def _reporter_values(snapshot: tuple[Any, ...], n: int, named: list[int]) -> list[Any]:
    """One DataCollector row from a snapshot (see ``StackModel._reporter_row``)."""
    round_, cum, settled, hhi, cash = snapshot
    total = exact_sum(cum)  # float(cum.sum()), bit for bit
    share = [c / total for c in cum] if abs(total) > 1e-12 else [0.0] * n
    if settled is not None:  # the round's layer margins, computed once
        gross = settled.layer_gross_margin.tolist()
        oper = settled.layer_operating_margin.tolist()
        conc = hhi.tolist()
    else:
        gross = oper = conc = [0.0] * n
    out: list[Any] = [round_]
    for k in range(n):
        out += (share[k], gross[k], oper[k], conc[k])
    out += [cash[i] for i in named]
    return out


def _upto(values: list[Any], r: int) -> tuple[Any, ...]:
    """The first ``r`` entries of a history list, as a tuple (the list as of round ``r``)."""
    return tuple(values) if len(values) <= r else tuple(values[:r])


class _RoundShared:
    """What every observation of a round shares, assembled once, when first read.

    Histories are lists appended once a round, so their first ``round`` entries are
    their state when the round was observed, however late the observation is read.
    """

    __slots__ = ("_common", "fields", "histories", "names", "round")

    def __init__(
        self,
        round_: int,
        names: list[str],
        histories: list[tuple[list[Any], ...]],
        fields: dict[str, Any],
    ) -> None:
        self.round = round_
        self.names = names
        self.histories = histories
        self.fields = fields
        self._common: dict[str, Any] | None = None

    def common(self) -> dict[str, Any]:
        """The shared fields, with every firm's past postures and markups."""
        if self._common is None:
            r = self.round
            c = dict(self.fields)
            c["counterpart_postures"] = {
                n: _upto(h[0], r) for n, h in zip(self.names, self.histories, strict=True)
            }
            c["counterpart_markups"] = {
                n: _upto(h[3], r) for n, h in zip(self.names, self.histories, strict=True)
            }
            self._common = c
        return self._common


def _observation_fields(
    template: dict[str, Any],
    shared: _RoundShared,
    own: tuple[list[Any], ...],
    counterpart_history: list[Posture],
    suppliers: tuple[str, ...],
    firm_margin: dict[str, float],
    capped: list[bool] | None,
    ops: list[int],
    pairs: tuple[tuple[str, int], ...],
    util: list[float],
    price: list[float],
    unit: list[float],
    seen: bool,
) -> dict[str, Any]:
    """Every field of one firm's observation (see ``StackModel.observe``)."""
    r = shared.round
    fields = template.copy()
    fields.update(shared.common())
    fields["own_postures"] = _upto(own[0], r)
    fields["own_payoffs"] = _upto(own[1], r)
    fields["own_margins"] = _upto(own[2], r)
    fields["own_markups"] = _upto(own[3], r)
    fields["counterpart_history"] = _upto(counterpart_history, r)
    fields["supplier_margins"] = {s: firm_margin.get(s, 0.0) for s in suppliers}
    fields["under_investigation"] = capped is not None and any([capped[o] for o in ops])
    if not seen:
        fields["utilisation"] = {}
        fields["own_prices"] = {}
        fields["own_unit_cost"] = {}
    else:
        fields["utilisation"] = {layer: util[o] for layer, o in pairs}
        fields["own_prices"] = {layer: price[o] for layer, o in pairs}
        fields["own_unit_cost"] = {layer: unit[o] for layer, o in pairs}
    return fields


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
        # compiled kernels or numpy (STACKGAME_NO_JIT), decided once for the model's life
        self._jit = jit_enabled()
        self.layer_names = self.state.layer_names
        self._firm_names = list(self.scenario.firm_names)
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
        self.round = 0
        self.log: list[LogEntry] = []
        self.triggers: set[str] = set()
        self._declines: list[ev.Decline] = []
        self._pending_events = [e for e in self.scenario.events if e.enabled]
        # whether any event waits on a condition over last round's public data
        self._conditional = any(e.when is not None for e in self._pending_events)
        self._mix: np.ndarray | None = None
        self._event_round = 0
        self._writedown = np.zeros(self.state.n_ops)
        self._fines = np.zeros(self.state.n_ops)
        self._last_need = np.zeros(self.state.n_ops)
        self._last_public: dict[str, dict[str, float]] | None = None
        self._market_view: dict[str, LayerView] = {}
        self._utilisation = np.zeros(self.state.n_ops)
        self._unit_full = self.state.unit_cost.copy()
        self._price = np.zeros(self.state.n_ops)
        self.last_clearing: Clearing | None = None
        self.last_payout: Payout | None = None
        self._settled: Settlement | None = None
        self.history = History(self.state)
        self._firm_margin: dict[str, float] = {}
        self._static_version = -1
        # per firm: observation template, operations, their layers, suppliers, (layer, op)
        self._static: list[
            tuple[
                dict[str, Any], list[int], tuple[str, ...], tuple[str, ...],
                tuple[tuple[str, int], ...],
            ]
        ] = []  # fmt: skip
        self._relations_cache()
        self._apply_due_events(0)
        self.datacollector: mesa.DataCollector | None = (
            _ScalarCollector(self._reporters(), type(self)._reporter_row) if collect else None
        )

    # -- the round -------------------------------------------------------------------------
    def step(self) -> None:
        """One round: observe, decide, clear, pay out, regulate and shock, record."""
        observations = self.observe()
        actions = self.decide(observations)
        clearing = self.clear_markets(actions)
        payout = self.pay_out(clearing)
        self.regulate_and_shock(clearing, payout)
        self.record(actions, clearing, payout)
        # integration moves decided this round take effect from the next one
        self.integrate(actions)

    # 1. observe ---------------------------------------------------------------------------
    def observe(self) -> dict[int, Observation]:
        """A frozen observation per active firm (shared pieces are built once)."""
        st = self.state
        if self._static_version != st.version:
            self._static_views()
        firms = self.firms
        # the pieces every observation of this round shares (assembled when first needed)
        shared = _RoundShared(
            self.round,
            self._firm_names,
            [f.history for f in firms],
            {
                "round": self.round,
                "market": self._market_view,
                "regulator_stance": float(st.regulator.stance),
                "triggers": frozenset(self.triggers),
                "demand_growth": float(st.demand_growth),
            },
        )
        seen = self.round > 0  # no market data before the first round
        util = self._utilisation.tolist()
        price = self._price.tolist()
        unit = self._unit_full.tolist()
        capped = (st.cap_until > self.round).tolist()
        if not any(capped):
            capped = None
        acquired = st.acquired.tolist()  # FirmAgent.active, for all firms at once
        fm = self._firm_margin
        history = self._counterpart_history
        deferred = Observation.deferred
        obs: dict[int, Observation] = {}
        # each observation is assembled when its strategy first reads it (from snapshots:
        # every argument below is replaced, never changed, by later rounds)
        for f, (template, ops, _, sups, pairs) in zip(firms, self._static, strict=True):
            i = f.index
            if acquired[i]:
                continue
            obs[i] = deferred(
                _observation_fields, template, shared, f.history, history[i], sups, fm, capped,
                ops, pairs, util, price, unit, seen,
            )  # fmt: skip
        return obs

    def _static_views(self) -> None:
        """Per-firm pieces of the observation that change only with the structure.

        For each firm: a template of its observation (the field defaults and the fields
        that change only with the structure), its active operations, their layer names and
        its suppliers.
        """
        st = self.state
        names = self.layer_names
        layer_of = st.layer_of.tolist()
        integrated_at = st.integrated_at.tolist()
        restrain = st.restrain_markup.tolist()
        extract = st.extract_markup.tolist()
        pending: list[set[int]] = [set() for _ in range(st.n_firms)]  # all ops, any state
        for o, firm in enumerate(st.firm_of.tolist()):
            pending[firm].add(layer_of[o])
        self._static = []
        for f in self.firms:
            i = f.index
            ops = self._ops_list[i]
            rel = self._relations[i]
            lnames = tuple([names[layer_of[o]] for o in ops])
            integrable = self._integrable(i, {layer_of[o] for o in ops}, pending[i])
            template = {
                **OBSERVATION_DEFAULTS,
                "firm": f.name,
                "layers": lnames,
                "counterparts": rel[0],
                "suppliers": rel[1],
                "customers": rel[2],
                "rivals": rel[3],
                "markup_grid": st.markup_grid,
                "integrable": integrable,
                "integrated": tuple([names[layer_of[o]] for o in ops if integrated_at[o] >= 0]),
                "horizon": self.rounds,
                "markup_bounds": {names[layer_of[o]]: (restrain[o], extract[o]) for o in ops},
            }
            pairs = tuple(zip(lnames, ops, strict=True))
            self._static.append((template, ops, lnames, rel[1], pairs))
        self._markup_floor = np.where(st.allow_negative_markup[st.layer_of], -0.95, 0.0)
        self._static_version = st.version

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
                m = self._markups_from(actions)
                price, _, _ = resolve_prices(
                    st.structure, st.unit_cost, m, st.quality, st.live_capacity(self.round),
                    self._self_share(), st.per_unit, None, self._mix_for(st.n_ops),
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

    def _markups_from(self, actions: Mapping[int, Action]) -> np.ndarray:
        """Markup per operation from the actions, capped by the regulator and floored."""
        return self._cap_and_floor(self._chosen_markups(actions))

    def _chosen_markups(self, actions: Mapping[int, Action]) -> list[float]:
        """Markup per operation as the actions chose it (restrain where none acted)."""
        st = self.state
        if self._static_version != st.version:
            self._static_views()
        # plain lists in the loop (numpy item assignment costs more than the rest)
        chosen = st.restrain_markup.tolist()
        extract = st.extract_markup.tolist()
        static = self._static
        for i, a in actions.items():
            _, ops, _, _, pairs = static[i]
            markups = a.markups
            postures = a.postures
            default = a.default
            if not markups and not postures:  # one posture for every layer
                if default is Posture.EXTRACT:
                    for o in ops:
                        chosen[o] = extract[o]
                continue
            for layer, o in pairs:
                if layer in markups:
                    chosen[o] = float(markups[layer])
                elif postures.get(layer, default) is Posture.EXTRACT:  # Action.posture
                    chosen[o] = extract[o]
        return chosen

    def _cap_and_floor(self, chosen: list[float]) -> np.ndarray:
        """The regulator's markup caps, then the floor (-0.95 or 0 by layer)."""
        st = self.state
        m = np.array(chosen, dtype=float)
        capped = st.cap_until > self.round
        if capped.any():
            m = np.where(capped, np.minimum(m, st.cap_markup), m)
        return np.maximum(m, self._markup_floor)

    def _prepare(
        self, actions: Mapping[int, Action]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The clearing's inputs: markups, live capacity and quality, costs, self-supply.

        One compiled call (:func:`stackgame.environment.round_kernel.prepare_kernel`), or
        :meth:`_prepare_numpy`, the reference it equals bit for bit.
        """
        chosen = self._chosen_markups(actions)
        kernel = compiled("prepare_kernel", self._jit)
        if kernel is None:
            return self._prepare_numpy(chosen)
        st = self.state
        markup, capacity, quality, cost, share = kernel(
            self.round, np.array(chosen, dtype=float), st.cap_until, st.cap_markup,
            self._markup_floor, st.online_round, st.active, st.capacity, st.quality,
            INACTIVE_QUALITY, st.penalty_until, st.integrated_at, st.unit_cost,
            st.base_unit_cost, st.structure.own_below, self._last_need, st.input_coefficient,
            st.layer_of,
        )  # fmt: skip
        return markup, capacity, quality, cost, share

    def _prepare_numpy(
        self, chosen: list[float]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        st = self.state
        capacity = st.live_capacity(self.round)
        # an entrant pays its cost penalty until it runs out; other operations never do
        unit_cost = np.where(
            (st.penalty_until > self.round) | (st.integrated_at < 0),
            st.unit_cost,
            st.base_unit_cost,
        )
        return (
            self._cap_and_floor(chosen),
            capacity,
            st.live_quality(),
            unit_cost,
            self._self_share(capacity),
        )

    def _self_share(self, capacity: np.ndarray | None = None) -> np.ndarray:
        """Planned self-supply share: own capacity below over last round's input need.

        ``capacity``: this round's live capacity, when the caller has it already.
        """
        st = self.state
        own = st.structure.own_below
        cap = st.live_capacity(self.round) if capacity is None else capacity
        share = np.zeros(st.n_ops)
        has = own >= 0
        if not has.any():
            return share
        need = self._last_need[has]
        if self.round == 0:  # no history yet: expect to run at full capacity
            need = (st.input_coefficient[st.layer_of] * cap)[has]
        avail = cap[own[has]]
        share[has] = np.where(need > 1e-12, np.minimum(1.0, avail / np.maximum(need, 1e-12)), 1.0)
        share[has] = np.where(avail > 1e-12, share[has], 0.0)
        return share

    # 3. clear -----------------------------------------------------------------------------
    def clear_markets(self, actions: Mapping[int, Action]) -> Clearing:
        """Markups from the actions, then the pure clearing function."""
        st = self.state
        markup, capacity, quality, unit_cost, self_share = self._prepare(actions)
        offers = None
        if st.cournot:
            offers = capacity.copy()
            top = self.layer_names[-1]
            for i, a in actions.items():
                if top in a.quantities:
                    o = st.op(i, st.n_layers - 1)
                    if o >= 0:
                        offers[o] = max(0.0, float(a.quantities[top]))
        clearing = clear(
            st.structure,
            unit_cost,
            markup,
            quality,
            capacity,
            st.demand,
            self_share=self_share,
            per_unit=st.per_unit,
            quantity_offer=offers,
            supplier_mix=self._mix_for(st.n_ops),
            jit=self._jit,
        )
        self._markup = markup
        self._capacity = capacity
        self._market_size = float(st.demand.market_size)  # before growth and shocks
        self.last_clearing = clearing
        return clearing

    def _mix_for(self, n: int) -> np.ndarray | None:
        """Last round's realised purchase shares: what buyers expect to pay this round."""
        mix = self._mix
        if mix is None:
            return None
        if mix.shape[0] < n:  # operations added by integration since
            grown = np.zeros((n, n))
            grown[: mix.shape[0], : mix.shape[0]] = mix
            return grown
        return mix

    # 4. pay out ---------------------------------------------------------------------------
    def pay_out(self, clearing: Clearing) -> Payout:
        """Margins, depreciation, stakes and cash (:func:`payouts.settle`).

        The same pass derives what regulate_and_shock and record read (per-layer sums,
        quantity shares, margins on external sales, postures, inputs per unit).
        """
        st = self.state
        internal = clearing.internal_revenue  # self-supply at cost, as the clearing priced it
        settled = settle(
            st.layer_of, st.firm_of, st.n_layers, st.n_firms, clearing.revenue,
            clearing.input_cost, clearing.variable_cost, internal, clearing.quantity,
            self._capacity, st.capital, st.depreciation_rate, st.fixed_cost, self._writedown,
            self._fines, st.stakes, self._markup, st.restrain_markup, st.active,
            clearing.unit_input_cost, clearing.flow, jit=self._jit,
        )  # fmt: skip
        payout = settled.payout
        self._settled = settled
        self._internal = internal
        # a write-down is a non-cash charge: it cuts profit and book capital, not cash
        st.cash += payout.firm_value + settled.firm_writedown
        self.last_payout = payout
        return payout

    def integrate(self, actions: Mapping[int, Action]) -> None:
        """Carry out integration moves: build (capex, lead time), buy, take a stake."""
        st = self.state
        for i in sorted(actions):
            move = actions[i].integration
            if move.move is Move.STAY or st.acquired[i]:
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
        if layer not in self._integrable(i):
            return
        k = st.layer_index[layer]
        ops = self._ops_list[i]
        ref = 0.0
        for o in ops:
            if st.layer_of[o] == k + 1:  # upstream: supply own input need
                ref = max(ref, st.input_coefficient[k + 1] * float(self._quantity_last[o]))
            elif st.layer_of[o] == k - 1:  # downstream: an outlet for own output
                ref = max(ref, float(self._quantity_last[o]))
        layer_cap = float(st.capacity[(st.layer_of == k) & st.active].sum())
        capacity = max(ref, 0.05 * layer_cap)
        capex = capacity * st.build_cost[k]
        if st.cash[i] < capex:
            self._log("integration", name, f"cannot afford to build into {layer} ({capex:.1f})")
            return
        st.cash[i] -= capex
        st.add_op(i, k, capacity, self.round + int(st.build_lead_time[k]))
        self._grow_arrays()
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
        if st.acquired[t]:
            return
        profit = float(self._firm_profit_last[t]) if self._firm_profit_last.size else 0.0
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
            self._grow_arrays()
            self._log("integration", name, f"buys {target} for {value:.1f}")
            return
        share = min(STAKE_SHARE, 1.0 - float(st.stakes[:, t].sum()))
        price = share * value
        if share <= 1e-9 or st.cash[i] < price:
            return
        st.cash[i] -= price
        st.cash[t] += price
        st.stakes[i, t] += share
        for o in self._ops_list[i]:  # the stake locks in supply between adjacent layers
            for p in self._ops_list[t]:
                if abs(int(st.layer_of[o]) - int(st.layer_of[p])) == 1:
                    lo, hi = sorted((int(st.layer_of[o]), int(st.layer_of[p])))
                    buyer, seller = (i, t) if st.layer_of[o] == hi else (t, i)
                    if (buyer, seller, lo, 0.5, False) not in st.relations:
                        st.relations.append((buyer, seller, lo, 0.5, False))
        st.rebuild()
        self._relations_cache()
        self._log("integration", name, f"takes a {share:.0%} stake in {target} for {price:.1f}")

    # 5. regulate and shock -----------------------------------------------------------------
    def regulate_and_shock(self, clearing: Clearing, payout: Payout) -> None:
        """Antitrust draws on this round's shares and margins; then next round's events."""
        st = self.state
        reg = st.regulator
        # this round's postures and per-layer sums, read here and by record()
        settled = self._settled  # computed with the payout, from the same clearing
        assert settled is not None, "pay_out runs before regulate_and_shock"
        self._posture = settled.posture
        self._layers = settled.layers
        share = settled.share
        self._fines = np.zeros(st.n_ops)
        self._writedown = np.zeros(st.n_ops)
        if reg.enabled and reg.stance > 0:
            # margins on sales to others: self-supply at cost is not a market position
            op_margin = settled.operating_margin
            draws = self.regulator_rng.random(st.n_ops)
            opened = open_investigations(
                share, op_margin, reg.stance, reg.base_rate, reg.share_threshold,
                reg.margin_threshold, draws, st.cap_until, self.round, st.active, self._jit,
            )  # fmt: skip
            for o in np.flatnonzero(opened).tolist() if np.count_nonzero(opened) else ():
                st.cap_until[o] = self.round + 1 + reg.cap_rounds
                st.cap_markup[o] = reg.cap_markup
                self._fines[o] = reg.fine_rate * clearing.revenue[o]
                firm = self.firms[int(st.firm_of[o])].name
                layer = self.layer_names[st.layer_of[o]]
                self._log(
                    "investigation", firm,
                    f"investigated in {layer} (share {share[o]:.0%}, margin {op_margin[o]:.0%}): "
                    f"fine {self._fines[o]:.2f}, markup capped at {reg.cap_markup:g} for "
                    f"{reg.cap_rounds} rounds",
                )  # fmt: skip
        # demand grows; capacity builds out; cost declines run; events due next round fire
        st.demand.market_size *= 1.0 + st.demand_growth
        sigma = st.demand_volatility
        if sigma > 0:  # a mean-one log-normal demand shock, an explicit chance outcome
            st.demand.market_size *= float(
                np.exp(sigma * self.shock_rng.standard_normal() - 0.5 * sigma * sigma)
            )
        if np.count_nonzero(st.capacity_growth):  # (adding zeros would change nothing)
            grow = st.capacity_growth * st.capacity
            st.cash -= np.bincount(
                st.firm_of, weights=grow * st.build_cost[st.layer_of], minlength=st.n_firms
            )
            st.capital += grow * st.build_cost[st.layer_of]
            st.capacity += grow
        if self._declines:
            ev.advance_declines(st, self._declines)
        # conditions of next round's events read this round's public data
        self._public_view(self._layers, settled)
        self._apply_due_events(self.round + 1)

    def _apply_due_events(self, round_: int) -> None:
        due = [e for e in self._pending_events if self._is_due(e, round_)]
        self._event_round = round_
        for e in due:
            self._pending_events.remove(e)
            text = ev.apply_event(e, self.state, self.triggers, self._declines, self._set_strategy)
            charge = ev.writedown_charge(e, self.state)
            self._writedown += charge
            self.state.capital -= charge  # the written-down book value is gone for good
            self._log("trigger" if e.kind == "trigger" else "event", "", text, round_)
        # events scheduled before now that never fired (conditional ones wait; scheduled
        # ones in the past were either applied or belong to round 0)
        self._pending_events = [
            e for e in self._pending_events if e.when is not None or e.round > round_
        ]

    def _is_due(self, event: ev.EventSpec, round_: int) -> bool:
        if event.when is None:
            return event.round == round_
        return event.round <= round_ and ev.condition_met(event, self._last_public)

    def _set_strategy(self, firm: str, strategy: str) -> None:
        i = self.state.firm_index[firm]
        self.firms[i].set_strategy(make(strategy))
        self._log("event", firm, f"{firm} switches to {strategy}", self._event_round)

    # 6. record ----------------------------------------------------------------------------
    def record(self, actions: Mapping[int, Action], clearing: Clearing, payout: Payout) -> None:
        """Per-round arrays, the public market view, firm histories, the DataCollector."""
        st = self.state
        posture = self._posture
        settled = self._settled
        assert settled is not None, "pay_out runs before record"
        self.history.append(self.round, st, clearing, payout, self._markup, posture,
                            self._capacity, self._internal, self._layers,
                            self._market_size)  # fmt: skip
        self._quantity_last = clearing.quantity  # (results: never changed in place)
        self._firm_profit_last = payout.firm_profit
        self._utilisation = payout.utilisation
        self._price = clearing.price
        # (after this round's events: cost declines change unit costs and coefficients)
        self._unit_full = st.unit_cost + settled.unit_input
        self._last_need = st.input_coefficient[st.layer_of] * clearing.quantity
        self._mix = settled.mix  # last round's purchase shares, for next round's prices
        # (the public market view was built in regulate_and_shock, from the same data)
        firm_margin = settled.firm_margin.tolist()
        values = payout.firm_value.tolist()
        markups = self._markup.tolist()
        postures = posture.tolist()
        self._firm_margin = dict(zip(self._firm_names, firm_margin, strict=True))
        acquired = st.acquired.tolist()  # FirmAgent.active, for all firms at once
        restrain, extract = Posture.RESTRAIN, Posture.EXTRACT
        last = []  # each firm's last headline posture (-1: none yet), for the vote below
        for i, ops, (h_posture, h_payoff, h_margin, h_markup) in self._record_plan:
            if acquired[i]:
                last.append(int(h_posture[-1]) if h_posture else -1)
                continue
            a = actions.get(i)
            if a is None:
                head = restrain
            elif not a.postures:  # one posture for all layers, or explicit markups
                head = Posture(max(postures[o] for o in ops)) if a.markups and ops else a.default
            else:  # Action.headline with postures: extract if any layer extracts
                head = extract if any([p is extract for p in a.postures.values()]) else restrain
            if len(ops) == 1:
                mean_markup = 0.0 + markups[ops[0]]  # what sum([...]) / 1 gives, -0.0 included
            else:
                mean_markup = sum([markups[o] for o in ops]) / len(ops) if ops else 0.0
            # FirmAgent.remember, inlined: this loop runs for every firm every round
            h_posture.append(head)
            h_payoff.append(values[i])
            h_margin.append(firm_margin[i])
            h_markup.append(mean_markup)
            last.append(1 if head == 1 else 0)  # int(head)
        self._update_counterpart_history(last)
        self.round += 1
        if self.datacollector is not None:
            self.datacollector.collect(self)
        if self.round >= self.rounds:
            self.running = False

    def _public_view(self, layers: dict[str, np.ndarray], settled: Settlement) -> None:
        q = layers["quantity"].tolist()
        conc = layers["hhi"].tolist()
        prices = settled.layer_price.tolist()
        gms = settled.layer_gross_margin.tolist()
        oms = settled.layer_operating_margin.tolist()
        restr = settled.restraining.tolist()
        count = settled.sellers.tolist()
        view: dict[str, LayerView] = {}
        public: dict[str, dict[str, float]] = {}
        keep = self._conditional  # (only conditional events read the public dictionaries)
        new_view = object.__new__
        for k, name in enumerate(self.layer_names):
            rr = restr[k] / count[k] if count[k] > 0 else 1.0
            fields = {
                "price": prices[k], "quantity": q[k], "gross_margin": gms[k],
                "operating_margin": oms[k], "hhi": conc[k],
            }  # fmt: skip
            if keep:
                public[name] = fields.copy()
            fields["restraint_rate"] = rr
            lv = new_view(LayerView)  # LayerView(**fields) without the frozen __init__
            object.__setattr__(lv, "__dict__", fields)
            view[name] = lv
        public["_"] = {"demand": self._market_size}
        self._market_view = view
        self._last_public = public

    # -- relations -----------------------------------------------------------------------------
    def _relations_cache(self) -> None:
        """Suppliers, customers, rivals and counterparts of each firm (after rebuilds)."""
        st = self.state
        # active operations per firm, ascending (as np.flatnonzero per firm would give)
        groups: list[list[int]] = [[] for _ in range(st.n_firms)]
        firm_of = st.firm_of.tolist()
        for o in np.flatnonzero(st.active).tolist():
            groups[firm_of[o]].append(o)
        self._ops_list = groups
        # what record() walks every round: each firm's index, operations and history lists
        self._record_plan = [(f.index, groups[f.index], f.history) for f in self.firms]
        # each firm's layers as a bit mask
        layer_of = st.layer_of.tolist()
        masks = [sum({1 << layer_of[o] for o in g}) for g in groups]
        acquired = st.acquired.tolist()
        names = [f.name for f in self.firms]
        n_layers = st.n_layers
        # firms (active, ascending) with an operation in each layer, and their names: j
        # supplies i when j is in a layer just below one of i's, buys from i when just
        # above, and rivals i when they share a layer
        in_layer = [
            [j for j, m in enumerate(masks) if (m >> k) & 1 and not acquired[j]]
            for k in range(n_layers)
        ]
        named = [tuple([names[j] for j in firms]) for firms in in_layer]
        none: list[int] = []
        rels = []
        cp_index = []
        for i, mine in enumerate(masks):
            mine_layers = [k for k in range(n_layers) if (mine >> k) & 1]
            if len(mine_layers) == 1:  # the common case: lists as they are, less i itself
                k = mine_layers[0]
                sup = in_layer[k - 1] if k > 0 else none
                cus = in_layer[k + 1] if k + 1 < n_layers else none
                riv = [j for j in in_layer[k] if j != i]
                sup_names = named[k - 1] if k > 0 else ()
                cus_names = named[k + 1] if k + 1 < n_layers else ()
            else:
                sup = _union(in_layer, [k - 1 for k in mine_layers if k > 0], i)
                cus = _union(in_layer, [k + 1 for k in mine_layers if k + 1 < n_layers], i)
                riv = _union(in_layer, mine_layers, i)
                sup_names = tuple([names[j] for j in sup])
                cus_names = tuple([names[j] for j in cus])
            cps = tuple(dict.fromkeys(sup + cus))
            cp_index.append(cps)
            rels.append(
                (
                    tuple([names[j] for j in cps]),
                    sup_names,
                    cus_names,
                    tuple([names[j] for j in riv]),
                )
            )
        self._relations = rels
        # for the majority vote of the counterpart history: lists, and a 0/1 matrix
        self._cp_index = cp_index
        self._cp_sizes = [len(c) for c in cp_index]
        n = st.n_firms
        cp_matrix = np.zeros(n * n, dtype=np.int64)
        cp_matrix[np.array([i * n + j for i, c in enumerate(cp_index) for j in c], np.intp)] = 1
        self._cp_matrix = cp_matrix.reshape(n, n)
        self._static_version = -1
        if not hasattr(self, "_counterpart_history"):
            self._counterpart_history: list[list[Posture]] = [[] for _ in range(st.n_firms)]
            self._firm_margin = {}
            self._quantity_last = np.zeros(st.n_ops)
            self._firm_profit_last = np.zeros(st.n_firms)

    def _update_counterpart_history(self, last: list[int]) -> None:
        # majority of the counterparts' last postures (ties extract), counting only those
        # with a history (``last``: -1 without): integer counts, so exactly the per-firm vote
        hist = self._counterpart_history
        extract, restrain = Posture.EXTRACT, Posture.RESTRAIN
        if min(last, default=0) >= 0:  # every firm has a history (after round 0)
            n_seen = self._cp_sizes
            n_extract = (self._cp_matrix @ np.array(last, dtype=np.int64)).tolist()
        else:
            seen = [[last[j] for j in cps if last[j] >= 0] for cps in self._cp_index]
            n_seen = [len(x) for x in seen]
            n_extract = [sum(x) for x in seen]
        for i, (n, e) in enumerate(zip(n_seen, n_extract, strict=True)):
            hist[i].append(extract if n and 2 * e >= n else restrain)

    def _integrable(
        self, i: int, mine: set[int] | None = None, pending: set[int] | None = None
    ) -> tuple[str, ...]:
        """Layers firm ``i`` may build into (``mine``: its active layers, ``pending``: all)."""
        st = self.state
        if not (st.allow_integration and st.can_integrate[i]) or st.acquired[i]:
            return ()
        if mine is None:
            mine = set(st.layer_of[self._ops_list[i]].tolist())
        if pending is None:
            pending = set(st.layer_of[(st.firm_of == i)].tolist())
        out = {k + d for k in mine for d in (-1, 1)} - pending
        return tuple([self.layer_names[k] for k in sorted(out) if 0 <= k < st.n_layers])

    def _grow_arrays(self) -> None:
        """Resize per-operation scratch arrays after an operation is added."""
        n = self.state.n_ops
        for name in ("_writedown", "_fines", "_last_need", "_utilisation", "_unit_full",
                     "_price", "_quantity_last"):  # fmt: skip
            arr = getattr(self, name)
            if arr.shape[0] < n:
                setattr(self, name, np.concatenate([arr, np.zeros(n - arr.shape[0])]))
        self._relations_cache()

    def _log(self, kind: str, firm: str, text: str, round_: int | None = None) -> None:
        if round_ is None:  # integration runs after the round counter moved on
            round_ = self.round - 1 if kind == "integration" else self.round
        self.log.append(LogEntry(round_, kind, firm, text))

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
        self._named_index = [f.index for f in self.firms if self.state.named[f.index]]
        for i in self._named_index:
            rep[f"cash.{self.firms[i].name}"] = lambda m, i=i: float(m.state.cash[i])
        return rep

    def _reporter_row(self) -> Callable[[], list[Any]]:
        """Every reporter of :meth:`_reporters`, in its order, when the rows are read.

        Snapshots what the values are computed from (copies of what changes in place),
        so the row is the same whenever it is computed.
        """
        h = self.history
        settled = self._settled if h.layer_rows else None
        snapshot = (
            self.round,
            h.cum_layer_profit.tolist(),
            settled,
            h.layer_rows[-1]["hhi"] if settled is not None else None,
            self.state.cash.tolist(),
        )
        return partial(_reporter_values, snapshot, self.state.n_layers, self._named_index)

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
        """Free this model from Mesa 3.3.1's global agent-id registry (fixed in 3.4.2).

        Anything that builds many models (tournaments, batches) calls this after a run so
        that memory stays flat.
        """
        ids = getattr(mesa.Agent, "_ids", None)
        if isinstance(ids, dict):
            ids.pop(self, None)
