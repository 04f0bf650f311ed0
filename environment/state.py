"""The mutable state of a running stack: operations as arrays, built from a Scenario.

An *operation* is one firm in one layer. Its parameters live in parallel numpy arrays so
that clearing and payouts are vectorised; integration appends operations (indices never
change), and acquisitions deactivate the target's operations after merging them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from stackgame.environment import lock_in as dynamic_lock
from stackgame.environment.jit import compiled
from stackgame.environment.kept import bytes_key, keep
from stackgame.environment.market import (
    Clearing,
    Demand,
    PairMatrix,
    Structure,
    build_structure,
)
from stackgame.environment.scenario import LockInSpec, RegulatorSpec, Scenario, ScenarioError
from stackgame.strategies.base import EMPTY, LayerView, ReadOnlyDict
from stackgame.strategies.exact_stats import exact_mean, exact_median, exact_std

if TYPE_CHECKING:
    from stackgame.environment.payouts import Settlement

T = TypeVar("T")

_NO_GRAVITY = np.zeros((0, 0))
"""The kernels' stand-in for the data-gravity arrays where gravity is off."""
_NO_TOTAL = np.zeros(0)

_STRUCTURE_CACHE_OPS = 128
"""Structures of at most this many operations are kept (:meth:`StackState.rebuild`)."""
_STRUCTURE_CACHE_SIZE = 64
"""How many structures are kept at most (the oldest goes first)."""
_STRUCTURES: dict[tuple[Any, ...], tuple[Structure, dict[tuple[int, int], int]]] = {}
"""Structures built so far, with their :meth:`StackState.op_index`, by everything they are
built from (copies, never handed out)."""

_OP_FIELDS = (
    "capacity",
    "unit_cost",
    "quality",
    "restrain_markup",
    "extract_markup",
    "capital",
    "depreciation_rate",
    "fixed_cost",
    "capacity_growth",
)
_LAYER_FIELDS = (
    "input_coefficient",
    "choice_mu",
    "build_cost",
    "build_lead_time",
    "entrant_cost_penalty",
    "allow_negative_markup",
)
INACTIVE_QUALITY = -1e9


class StackState:
    """Arrays describing every operation, plus firm-level cash and stakes.

    Parameters
    ----------
    scenario
        A validated scenario; the state copies what it needs and never mutates it.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.layer_names = scenario.layer_names
        self.n_layers = len(self.layer_names)
        self.firm_names = scenario.firm_names
        self.firm_labels = [f.label for f in scenario.firms]
        self.n_firms = len(self.firm_names)
        self.firm_index = {name: i for i, name in enumerate(self.firm_names)}
        self.layer_index = {name: i for i, name in enumerate(self.layer_names)}
        self.per_unit = scenario.pricing == "per_unit"
        self.sequential = scenario.timing == "sequential"
        self.allow_integration = scenario.allow_integration
        self.can_integrate = np.array([f.can_integrate for f in scenario.firms])
        self.named = np.array([f.named for f in scenario.firms])
        self.acquired = np.zeros(self.n_firms, dtype=bool)
        self.cash = np.array([f.cash for f in scenario.firms], dtype=float)
        self.markup_grid = tuple(float(m) for m in scenario.markup_grid)

        layers = scenario.layers
        self.input_coefficient = np.array([ly.input_coefficient for ly in layers], dtype=float)
        self.choice_mu = np.array([ly.choice_mu for ly in layers], dtype=float)
        self.build_cost = np.array([ly.build_cost for ly in layers], dtype=float)
        self.build_lead_time = np.array([ly.build_lead_time for ly in layers], dtype=np.int64)
        self.entrant_cost_penalty = np.array([ly.entrant_cost_penalty for ly in layers])
        self.allow_negative_markup = np.array([ly.allow_negative_markup for ly in layers])
        self.cournot = layers[-1].competition == "cournot"
        # the buildout (docs/MODEL.md 15-17): capital-goods layers, financing, contracts
        self.capital_goods = np.array([ly.capital_goods for ly in layers], dtype=np.bool_)
        self.install_lead_time = np.array([ly.install_lead_time for ly in layers], dtype=np.int64)
        self.infrastructure_cost = np.array([ly.infrastructure_cost for ly in layers], dtype=float)
        self.has_capital_goods = bool(self.capital_goods.any())
        self.finance = scenario.finance.model_copy()
        self.debt = np.array([f.debt for f in scenario.firms], dtype=float)
        self.outside_cash_flow = np.array(
            [f.outside_cash_flow for f in scenario.firms], dtype=float
        )
        self.raises_equity = np.array([f.raises_equity for f in scenario.firms], dtype=np.bool_)
        self.appetite = np.ones(self.n_firms)
        self.failed_round = np.full(self.n_firms, -1, dtype=np.int64)
        # revenue from others in the last round: what a lab raises equity on
        self.last_revenue = np.zeros(self.n_firms)

        d = scenario.demand
        self.demand = Demand(
            kind=d.kind,
            market_size=d.market_size,
            mu=d.mu,
            outside_quality=d.outside_quality,
            intercept=d.intercept,
            slope=d.slope,
            cournot=self.cournot,
        )
        self.demand_growth = d.growth
        self.expected_growth_premium = d.expected_growth_premium
        self.demand_volatility = d.volatility
        # the usage channel (docs/MODEL.md 6.5; environment/usage.py)
        self.usage_elasticity = d.usage_elasticity
        self.usage_reference_ratio = d.usage_reference_ratio
        self.usage_adjustment = d.usage_adjustment
        self.log_usage = 0.0
        self.regulator: RegulatorSpec = scenario.regulator.model_copy()

        firm_of: list[int] = []
        layer_of: list[int] = []
        columns: dict[str, list[float]] = {k: [] for k in _OP_FIELDS}
        captive: list[bool] = []
        for fi, firm in enumerate(scenario.firms):
            for layer_name, op in sorted(firm.ops.items(), key=lambda kv: self.layer_index[kv[0]]):
                firm_of.append(fi)
                layer_of.append(self.layer_index[layer_name])
                for k in _OP_FIELDS:
                    columns[k].append(float(getattr(op, k)))
                captive.append(op.captive)
        self.firm_of = np.array(firm_of, dtype=np.int64)
        self.layer_of = np.array(layer_of, dtype=np.int64)
        self.capacity = np.array(columns["capacity"])
        self.unit_cost = np.array(columns["unit_cost"])
        self.quality = np.array(columns["quality"])
        self.restrain_markup = np.array(columns["restrain_markup"])
        self.extract_markup = np.array(columns["extract_markup"])
        self.capital = np.array(columns["capital"])
        self.depreciation_rate = np.array(columns["depreciation_rate"])
        self.fixed_cost = np.array(columns["fixed_cost"])
        self.capacity_growth = np.array(columns["capacity_growth"])
        self.captive = np.array(captive, dtype=bool)
        n = len(firm_of)
        self.active = np.ones(n, dtype=bool)
        self.online_round = np.zeros(n, dtype=np.int64)
        self.pending_capacity = np.zeros(n)
        self.penalty_until = np.full(n, -1, dtype=np.int64)
        self.base_unit_cost = self.unit_cost.copy()
        self.cap_markup = np.full(n, np.inf)
        self.cap_until = np.full(n, -1, dtype=np.int64)
        self.integrated_at = np.full(n, -1, dtype=np.int64)
        # capital goods ordered and shipped, not yet online: column j arrives in j + 1 rounds
        self.pipeline = np.zeros((n, int(self.install_lead_time.max()) + 1))
        # switching costs that move with the play (docs/MODEL.md 5.4): each seller's
        # buyers' memory of its price hikes, each buyer's data gravity at each seller
        self.lock_in_spec: LockInSpec = scenario.lock_in.model_copy()
        self.hike_memory = np.zeros(n)
        self.gravity: np.ndarray | None = None
        self._lock_in_changed()
        # values derived from the structure, each with the version it was built on
        self._derived: dict[str, tuple[int, Any]] = {}
        self._price_basis: tuple[int, float, np.ndarray | None, np.ndarray] = (
            -1, 0.0, None, np.zeros(0),
        )  # fmt: skip

        self.relations: list[tuple[int, int, int, float, bool]] = [
            (self.firm_index[r.buyer], self.firm_index[r.seller], self.layer_index[r.layer],
             r.switching_cost, r.exclusive)
            for r in scenario.relations
        ]  # fmt: skip
        self.stakes = np.zeros((self.n_firms, self.n_firms))
        for s in scenario.stakes:
            self.stakes[self.firm_index[s.holder], self.firm_index[s.investee]] += s.share
        # whether any stake may be held: set by the scenario's stakes and by a stake taken
        # (``StackModel.integrate``); acquisitions and failures only move or clear them.
        # While it is False the settlement skips the firms x firms matrix (issue 14)
        self.stakes_held = bool(scenario.stakes)
        self.structure: Structure = self.rebuild()

    # -- indices -------------------------------------------------------------------------
    @property
    def n_ops(self) -> int:
        """Number of operations (active or not)."""
        return int(self.firm_of.shape[0])

    def op(self, firm: int, layer: int) -> int:
        """Index of ``firm``'s active operation in ``layer``, or -1."""
        hit = np.flatnonzero((self.firm_of == firm) & (self.layer_of == layer) & self.active)
        return int(hit[0]) if hit.size else -1

    def derived(
        self,
        name: str,
        build: Callable[..., T],
        *args: Any,
        renew: Callable[..., T] | None = None,
    ) -> T:
        """The value ``build(*args)`` gives, built once per structure version under ``name``.

        Every change of the operations' firms, layers or activity ends in :meth:`rebuild`
        (a fire sale's, once the round's failures are done), which moves ``version``; so
        read derived values only where the structure is settled. A reader on the round's
        path passes a module-level ``build`` and its ``args`` rather than a closure made
        at each read. ``renew(value, *args)``, where given, makes the same value as
        ``build(*args)`` from ``value``, the one built on an earlier version (keeping what
        a change elsewhere in the structure left as it was).
        """
        hit = self._derived.get(name)
        if hit is not None and hit[0] == self.version:
            return cast(T, hit[1])
        value = build(*args) if hit is None or renew is None else renew(hit[1], *args)
        self._derived[name] = (self.version, value)
        return value

    def op_index(self) -> dict[tuple[int, int], int]:
        """``(firm, layer)`` to the firm's first active operation there (as :meth:`op`).

        Kept until the structure changes (:meth:`derived`); :meth:`rebuild` sets it.
        """
        return self.derived("op_index", self._first_ops)

    def _first_ops(self) -> dict[tuple[int, int], int]:
        first: dict[tuple[int, int], int] = {}
        for o, (f, k, on) in enumerate(
            zip(self.firm_of.tolist(), self.layer_of.tolist(), self.active.tolist(), strict=True)
        ):
            if on and (f, k) not in first:
                first[(f, k)] = o
        return first

    def firm_layers(self, firm: int) -> tuple[str, ...]:
        """Names of the layers in which ``firm`` has an active operation, bottom first."""
        mask = (self.firm_of == firm) & self.active
        return tuple(self.layer_names[k] for k in sorted(set(self.layer_of[mask].tolist())))

    def rebuild(self) -> Structure:
        """Recompute who may sell to whom after operations or relations change."""
        # the same inputs build the same structure: a small one is kept across states (the
        # runs of a batch or a benchmark meet the same integration moves and failures
        # again and again), keyed on the inputs as they are (the relations between firms,
        # the arrays' bytes), so that a structure kept is found without a pass over the
        # operations or the relations
        key = None
        if self.n_ops <= _STRUCTURE_CACHE_OPS:
            lay, firm, coef = self.layer_of, self.firm_of, self.input_coefficient
            mu, cap, on = self.choice_mu, self.captive, self.active
            key = (self.n_layers, tuple(self.relations)) + bytes_key(lay, firm, coef, mu, cap, on)
            kept = _STRUCTURES.get(key)
            if kept is not None:  # (the arrays as build_structure takes them: as they are
                # where their dtypes are its; the ones fixed with the assignment shared:
                # nothing changes them in place)
                structure = kept[0].copy_for(
                    np.asarray(lay, dtype=np.int64),
                    np.asarray(firm, dtype=np.int64),
                    np.asarray(coef, dtype=float),
                    np.asarray(mu, dtype=float),
                    share_fixed=True,
                )
                return self._rebuilt(structure, dict(kept[1]))
        rel: list[tuple[int, int, float, bool]] = []
        # (firm, layer) -> first active operation, as op() finds it
        first: dict[tuple[int, int], int] = {}
        for o, (f, k, on) in enumerate(
            zip(self.firm_of.tolist(), self.layer_of.tolist(), self.active.tolist(), strict=True)
        ):
            if on and (f, k) not in first:
                first[(f, k)] = o
        for buyer, seller, layer, cost, excl in self.relations:
            b = first.get((buyer, layer + 1), -1) if layer + 1 < self.n_layers else -1
            s = first.get((seller, layer), -1)
            if b >= 0 and s >= 0:
                rel.append((b, s, cost, excl))
        structure = build_structure(
            self.layer_of,
            self.firm_of,
            self.n_layers,
            self.input_coefficient,
            self.choice_mu,
            rel,
        )
        structure.allowed[:, self.captive | ~self.active] = False
        structure.allowed[~self.active, :] = False
        if key is not None:
            kept_structure = structure.copy_for(
                structure.layer_of.copy(), structure.firm_of.copy(),
                structure.input_coefficient.copy(), structure.choice_mu.copy(),
            )  # fmt: skip
            keep(_STRUCTURES, key, (kept_structure, dict(first)), _STRUCTURE_CACHE_SIZE)
        return self._rebuilt(structure, first)

    def _rebuilt(self, structure: Structure, first: dict[tuple[int, int], int]) -> Structure:
        """Take ``structure`` (the state's own) and ``first`` (:meth:`op_index`, its own)."""
        self.structure = structure
        self.version = getattr(self, "version", 0) + 1
        self._derived["op_index"] = (self.version, first)
        return structure

    # -- switching costs that move with the play (docs/MODEL.md 5.4) ------------------------
    def _lock_in_changed(self) -> None:
        """After the lock-in parameters change: which parts run, and their arrays."""
        spec = self.lock_in_spec
        self.dynamic_lock_in = spec.enabled
        self.remembers_hikes = spec.hike_memory > 0 and spec.hike_cap > 0
        self.gravity_layer = np.array([k in spec.gravity_layers for k in self.layer_names])
        gravitates = spec.gravity > 0 and spec.gravity_cap > 0 and bool(self.gravity_layer.any())
        if gravitates and self.gravity is None:
            self.gravity = np.zeros((self.n_ops, self.n_ops))
        self.gathers_gravity = gravitates

    def lock_in_now(self) -> np.ndarray:
        """The switching costs the supplier logit reads this round, ``[n, n]``.

        The structure's static ``lock_in`` when the dynamic parts are off (no copy);
        otherwise :func:`~stackgame.environment.lock_in.effective_lock_in`.
        """
        static = self.structure.lock_in
        if not self.dynamic_lock_in:
            return static
        return dynamic_lock.effective_lock_in(
            static,
            self.hike_memory if self.remembers_hikes else None,
            self.gravity if self.gathers_gravity else None,
        )

    def lock_in_parts(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The dynamic parts of :meth:`lock_in_now`: ``(gravity, hike memory)``, each or ``None``.

        What :func:`~stackgame.environment.market.clear` adds to the static switching
        costs at the permitted pairs (``lock_parts``): the same numbers as
        :meth:`lock_in_now` read there.
        """
        return (
            self.gravity if self.gathers_gravity else None,
            self.hike_memory if self.remembers_hikes else None,
        )

    def remember_relations(
        self, markup: np.ndarray, clearing: Clearing, jit: bool | None = None
    ) -> None:
        """Update the buyers' memory of hikes and their data gravity after a clearing.

        ``markup``: per operation, as charged this round (after the regulator's caps).
        :func:`~stackgame.environment.lock_in.hike`, ``update_memory`` and
        ``update_gravity`` in one call of
        :func:`~stackgame.environment.lock_in.remember_kernel` (compiled or plain, ``jit``
        as in :func:`~stackgame.environment.jit.compiled`).
        """
        spec = self.lock_in_spec
        hikes = bool(self.remembers_hikes)
        gathers = bool(self.gathers_gravity) and self.gravity is not None
        if not (hikes or gathers):
            return
        flow = clearing.flow
        gravity = self.gravity if gathers else _NO_GRAVITY
        kernel = compiled("remember_kernel", jit, module="lock_in", work=self.n_ops / 4)
        kernel(
            np.ascontiguousarray(markup, dtype=np.float64), self.restrain_markup,
            clearing.price, bool(self.per_unit), self.hike_memory, 1.0 - spec.hike_recovery,
            float(spec.hike_memory), float(spec.hike_cap), hikes, gravity,
            flow if gathers else _NO_GRAVITY, flow.sum(axis=1) if gathers else _NO_TOTAL,
            self.gravity_layer[self.layer_of], 1.0 - spec.gravity_decay, float(spec.gravity),
            float(spec.gravity_cap), gathers,
        )  # fmt: skip

    def live_capacity(self, round_: int) -> np.ndarray:
        """Capacity in force this round: zero before a built operation comes online."""
        online = (self.online_round <= round_) & self.active
        return np.where(online, self.capacity, 0.0)

    def live_quality(self) -> np.ndarray:
        """Quality, with inactive operations made unchoosable in the consumers' logit."""
        return np.where(self.active, self.quality, INACTIVE_QUALITY)

    # -- integration -------------------------------------------------------------------------
    def add_op(
        self,
        firm: int,
        layer: int,
        capacity: float,
        online_round: int,
        penalty_rounds: int = 4,
    ) -> int:
        """Append an operation for ``firm`` in ``layer``, priced and costed like the layer.

        The entrant's unit cost is the layer's median times the layer's entrant penalty
        until ``penalty_rounds`` after it comes online; its quality is the layer's mean
        less one standard deviation; its markups are the layer's medians.
        """
        peers = np.flatnonzero((self.layer_of == layer) & self.active).tolist()
        med = lambda a: exact_median(a[peers].tolist()) if peers else 0.0  # noqa: E731
        quality = 0.0
        if peers:
            peer_quality = self.quality[peers].tolist()
            quality = exact_mean(peer_quality) - exact_std(peer_quality)
        base_cost = med(self.base_unit_cost)
        values = {
            "firm_of": firm,
            "layer_of": layer,
            "capacity": 0.0,
            "unit_cost": base_cost * self.entrant_cost_penalty[layer],
            "quality": quality,
            "restrain_markup": med(self.restrain_markup),
            "extract_markup": med(self.extract_markup),
            "capital": capacity * self.build_cost[layer],
            "depreciation_rate": med(self.depreciation_rate) if peers else 0.05,
            "fixed_cost": 0.0,
            "capacity_growth": 0.0,
            "captive": False,
            "active": True,
            "online_round": online_round,
            "pending_capacity": capacity,
            "penalty_until": online_round + penalty_rounds,
            "base_unit_cost": base_cost,
            "cap_markup": np.inf,
            "cap_until": -1,
            "integrated_at": online_round,
            "hike_memory": 0.0,
        }
        concatenate = np.concatenate  # (np.append of one value, without its checks)
        for name, value in values.items():
            arr = getattr(self, name)
            setattr(self, name, concatenate((arr, np.array([value], dtype=arr.dtype))))
        self.capacity[-1] = capacity
        width = self.pipeline.shape[1]
        self.pipeline = concatenate((self.pipeline, np.zeros((1, width))))
        if self.gravity is not None:  # a new operation has no history with anyone
            self.gravity = np.pad(self.gravity, ((0, 1), (0, 1)))
        self.rebuild()
        return self.n_ops - 1

    def merge_firm(self, buyer: int, target: int, round_: int = 0) -> None:
        """``buyer`` acquires ``target``: operations, cash, debt and stakes pass to the buyer.

        Where both operate in a layer, capacity and capital are pooled into the buyer's
        operation and the target's is deactivated; an operation in a layer new to the
        buyer counts as integrated from ``round_``.
        """
        for i in np.flatnonzero((self.firm_of == target) & self.active):
            mine = self.op(buyer, int(self.layer_of[i]))
            if mine < 0:
                self.integrated_at[i] = round_
            if mine >= 0:
                self.capacity[mine] += self.capacity[i]
                self.capital[mine] += self.capital[i]
                self.active[i] = False
                self.capacity[i] = 0.0
            else:
                self.firm_of[i] = buyer
        self.stakes[buyer] += self.stakes[target]
        self.stakes[target] = 0.0
        self.stakes[:, target] = 0.0
        self.stakes[buyer, buyer] = 0.0
        self.cash[buyer] += self.cash[target]
        self.cash[target] = 0.0
        # the buyer takes on the target's debt and its businesses outside the stack
        self.debt[buyer] += self.debt[target]
        self.debt[target] = 0.0
        self.outside_cash_flow[buyer] += self.outside_cash_flow[target]
        self.outside_cash_flow[target] = 0.0
        self.acquired[target] = True
        self.relations = [
            (buyer if b == target else b, buyer if s == target else s, lay, c, e)
            for b, s, lay, c, e in self.relations
        ]
        self.rebuild()

    # -- dotted-path settings (events' `set` tables) ---------------------------------------
    def set_path(self, path: str, value: Any) -> bool:
        """Apply one dotted-path setting to the running state.

        Returns ``False`` for paths the model itself must handle (a firm's strategy).
        """
        keys = path.split(".")
        self.version = getattr(self, "version", 0) + 1
        if keys[0] == "firms" and len(keys) >= 3:
            if keys[1] not in self.firm_index:
                raise ScenarioError(f"{path}: unknown firm {keys[1]!r}")
            f = self.firm_index[keys[1]]
            if keys[2] == "strategy":
                return False
            if keys[2] == "cash":
                self.cash[f] = float(value)
                return True
            if keys[2] == "ops" and len(keys) == 5:
                i = self.op(f, self.layer_index.get(keys[3], -1))
                if i < 0:
                    raise ScenarioError(f"{path}: {keys[1]} does not operate in {keys[3]}")
                if keys[4] == "captive":
                    self.captive[i] = bool(value)
                    self.rebuild()
                elif keys[4] in _OP_FIELDS:
                    getattr(self, keys[4])[i] = float(value)
                    if keys[4] == "unit_cost":
                        self.base_unit_cost[i] = float(value)
                else:
                    raise ScenarioError(f"{path}: no operation field {keys[4]!r}")
                return True
        if keys[0] == "demand" and len(keys) == 2:
            if keys[1] == "growth":
                self.demand_growth = float(value)
            elif keys[1] == "volatility":
                self.demand_volatility = float(value)
            elif keys[1] in ("usage_elasticity", "usage_reference_ratio", "usage_adjustment"):
                setattr(self, keys[1], float(value))
            elif hasattr(self.demand, keys[1]):
                setattr(self.demand, keys[1], value)
            else:
                raise ScenarioError(f"{path}: no demand field {keys[1]!r}")
            return True
        if keys[0] == "regulator" and len(keys) == 2:
            if keys[1] not in RegulatorSpec.model_fields:
                raise ScenarioError(f"{path}: no regulator field {keys[1]!r}")
            try:  # checked as the scenario is (range, finite, the chances' sum)
                self.regulator = RegulatorSpec.model_validate(
                    self.regulator.model_dump() | {keys[1]: value}
                )
            except ValueError as err:
                raise ScenarioError(f"{path}: {err}") from err
            return True
        if keys[0] == "layers" and len(keys) == 3 and keys[2] in _LAYER_FIELDS:
            k = self.layer_index.get(keys[1], -1)
            if k < 0:
                raise ScenarioError(f"{path}: unknown layer {keys[1]!r}")
            getattr(self, keys[2])[k] = value
            self.rebuild()
            return True
        if keys[0] == "lock_in" and len(keys) == 2:
            if keys[1] not in LockInSpec.model_fields:
                raise ScenarioError(f"{path}: no lock_in field {keys[1]!r}")
            setattr(self.lock_in_spec, keys[1], value)
            self._lock_in_changed()
            return True
        if keys == ["allow_integration"]:
            self.allow_integration = bool(value)
            return True
        raise ScenarioError(f"{path}: cannot be changed while the model runs")


@dataclass
class RoundFlows:
    """One round's prices and flows: what the clearing was given and what it gave.

    Attributes
    ----------
    round
        The round.
    markup
        Markup per operation as charged (after the regulator's caps and the floor).
    capacity
        Capacity in force per operation.
    market_size
        Final demand's market size the round cleared at (before growth and shocks).
    clearing
        The clearing's result (prices, quantities, flows, payments).
    cost_price
        Per operation, the price this round's costs give with every markup zero (the
        usage channel's ``c_t``, ``docs/MODEL.md`` 6.5); ``None`` when the channel is off.
    """

    round: int
    markup: np.ndarray
    capacity: np.ndarray
    market_size: float
    clearing: Clearing
    cost_price: np.ndarray | None = None


class MarketMemory:
    """What the next round knows of the last one: public market data, own results.

    Per operation (zeros before the first round): ``price``, ``utilisation``,
    ``unit_cost`` (full: own variable cost plus inputs per unit, after the round's
    events), ``input_need`` (input units its output needed) and ``quantity``; per firm
    ``firm_profit`` and ``firm_margin`` (by name); ``mix``, the purchase shares buyers
    expect to pay again (``None`` before the first round); ``view``, each layer's
    :class:`~stackgame.strategies.base.LayerView`; ``public``, the same as plain numbers
    with the market size, for events' conditions (``None`` before the first round, and
    kept only when some event waits on a condition).
    """

    def __init__(self, state: StackState) -> None:
        n = state.n_ops
        self.price = np.zeros(n)
        self.utilisation = np.zeros(n)
        self.unit_cost = state.unit_cost.copy()
        self.input_need = np.zeros(n)
        self.quantity = np.zeros(n)
        self.firm_profit = np.zeros(state.n_firms)
        self.firm_margin: dict[str, float] = {}
        self.mix: PairMatrix | None = None
        self.view: Mapping[str, LayerView] = EMPTY
        self.public: dict[str, dict[str, float]] | None = None

    def publish(
        self,
        layer_names: list[str],
        layers: dict[str, np.ndarray],
        settled: Settlement,
        market_size: float,
        keep_public: bool,
    ) -> None:
        """The round's public data per layer (``layers``: its per-layer sums)."""
        q = layers["quantity"].tolist()
        conc = layers["hhi"].tolist()
        prices = settled.layer_price.tolist()
        gms = settled.layer_gross_margin.tolist()
        oms = settled.layer_operating_margin.tolist()
        restr = settled.restraining.tolist()
        count = settled.sellers.tolist()
        view: dict[str, LayerView] = {}
        public: dict[str, dict[str, float]] = {}
        for k, name in enumerate(layer_names):
            rr = restr[k] / count[k] if count[k] > 0 else 1.0
            if keep_public:
                public[name] = {
                    "price": prices[k], "quantity": q[k], "gross_margin": gms[k],
                    "operating_margin": oms[k], "hhi": conc[k],
                }  # fmt: skip
            view[name] = LayerView(prices[k], q[k], gms[k], oms[k], conc[k], rr)
        public["_"] = {"demand": market_size}
        self.view = ReadOnlyDict(view)
        self.public = public

    def remember(
        self, state: StackState, flows: RoundFlows, settled: Settlement, firm_margin: list[float]
    ) -> None:
        """Each operation's and firm's results of the round, for the next one.

        ``firm_margin``: ``settled.firm_margin`` as a list (the caller has it).
        """
        st = state
        clearing = flows.clearing
        payout = settled.payout
        self.quantity = clearing.quantity  # (results: never changed in place)
        self.firm_profit = payout.firm_profit
        self.utilisation = payout.utilisation
        self.price = clearing.price
        # (after this round's events: cost declines change unit costs and coefficients)
        self.unit_cost = st.unit_cost + settled.unit_input
        self.input_need = st.input_coefficient[st.layer_of] * clearing.quantity
        self.mix = settled.mix  # last round's purchase shares, for next round's prices
        self.firm_margin = dict(zip(state.firm_names, firm_margin, strict=True))

    def mix_for(self, n: int) -> PairMatrix | None:
        """Last round's purchase shares, per pair that traded; over ``n`` operations.

        Operations added by integration since buy nothing (``mix.dense(n)`` lays the
        matrix out over all ``n``; the clearing reads the pairs as they are).
        """
        mix = self.mix
        if mix is None or mix.n >= n:
            return mix
        return PairMatrix(mix.pairs, mix.values, n)

    def grow(self, n_ops: int) -> None:
        """Extend the per-operation arrays to operations added since (zeros)."""
        for name in ("input_need", "utilisation", "unit_cost", "price", "quantity"):
            arr = getattr(self, name)
            if arr.shape[0] < n_ops:
                setattr(self, name, np.concatenate([arr, np.zeros(n_ops - arr.shape[0])]))
