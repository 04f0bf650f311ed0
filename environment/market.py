"""Market clearing: a pure function from prices, capacities and demand to flows and money.

Nothing here knows about Mesa. An *operation* is one firm in one layer; operations are
indexed ``0..n-1`` and grouped by layer (bottom of the stack, layer 0, first). The round
clears in four passes (the equations, with units, are in ``docs/MODEL.md``):

1. **Prices, bottom-up.** Each buyer's unit input cost is a blend of self-supply at cost
   (when its firm also operates in the layer below: no double marginalisation) and the
   logit-expected market price of its suppliers; its price is a markup over own unit
   cost plus input cost, ad valorem ``p = (c + a w)(1 + m)`` or per unit
   ``p = c + a w + m``.
2. **Final demand** at the top layer: logit with an outside good (Calvano et al. 2020)
   or linear inverse demand; capacity rations it and rationed consumers re-choose among
   the remaining options, outside good included (so some demand is lost).
3. **Derived demand, top-down.** Each buyer needs ``a_l`` units of input per unit of
   output; it supplies itself first, then splits its orders across sellers by a logit on
   relative price, quality and switching cost; capacity rations orders, which spill to the
   buyer's other sellers; what no seller can serve is unmet.
4. **Feasibility, bottom-up.** A seller short of input delivers less; its buyers then
   produce less, up to final consumers. Money flows down: each buyer pays each seller
   price times delivered quantity; self-supply is transferred at cost.

The clearing is repeated (at most :data:`MAX_ATTEMPTS` times in all) while it is not
self-consistent: a seller short of input gets what it could deliver as its capacity, so
that orders spill away from it (a seller rationed by its own supplier behaves like a
capacity-constrained one); and, with the default ``self_share``, a firm whose own
operation below could not supply all its input prices on the blend it actually got. On a
repeat each buyer first keeps the allocation it got (sticky allocation), so cutting its
output never shrinks its proportional ration further. Every accounting identity holds
exactly after any number of repeats (``tests/environment/test_market_properties.py``).

Internally the operations are sorted by layer so that every layer is a contiguous slice;
results are returned in the caller's order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from stackgame.environment.jit import compiled

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_EPS = 1e-12
_SHORT = 1e-9
_add = np.add.reduce
MAX_ATTEMPTS = 3
"""Most clearings per call: the first plus two self-consistency corrections."""


@dataclass
class Structure:
    """Who can sell to whom: fixed between integration moves.

    Build it with :func:`build_structure`. ``lock_in`` and ``allowed`` are read on every
    clearing and may be changed in place; the layer and firm assignment may not (build a
    new structure after an integration move).

    Attributes
    ----------
    layer_of, firm_of
        Layer and firm index of each operation.
    by_layer
        Operation indices per layer, bottom first.
    own_below
        For each operation, the same firm's operation in the layer just below (-1: none).
    input_coefficient, choice_mu
        Per layer.
    lock_in
        ``lock_in[b, s]``: switching-cost bonus in buyer ``b``'s logit for seller ``s``.
    allowed
        ``allowed[b, s]``: whether ``b`` may buy from ``s`` on the market (``s`` in the
        layer below, another firm, and not excluded by an exclusive relation).
    """

    layer_of: IntArray
    firm_of: IntArray
    by_layer: list[IntArray]
    own_below: IntArray
    input_coefficient: FloatArray
    choice_mu: FloatArray
    lock_in: FloatArray
    allowed: NDArray[np.bool_]
    _order: IntArray = field(init=False, repr=False, compare=False)
    _inverse: IntArray = field(init=False, repr=False, compare=False)
    _bounds: list[int] = field(init=False, repr=False, compare=False)
    _own_local: list[IntArray] = field(init=False, repr=False, compare=False)
    _own_mask: list[NDArray[np.bool_] | None] = field(init=False, repr=False, compare=False)
    _own_idx: list[IntArray] = field(init=False, repr=False, compare=False)
    _identity: bool = field(init=False, repr=False, compare=False)
    _own_sorted: IntArray = field(init=False, repr=False, compare=False)
    _bounds_arr: IntArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # plain lists: a rebuild (every integration move) is a few dozen operations
        order_list = [o for ops in self.by_layer for o in ops.tolist()]
        inverse_list = [0] * len(order_list)
        for pos, o in enumerate(order_list):
            inverse_list[o] = pos
        bounds = [0]
        for ops in self.by_layer:
            bounds.append(bounds[-1] + len(ops))
        own_below = self.own_below.tolist()
        own_local = [np.zeros(0, dtype=np.int64)]
        own_mask: list[NDArray[np.bool_] | None] = [None]
        own_idx = [np.zeros(0, dtype=np.int64)]
        sorted_own = [-1] * (bounds[1] - bounds[0] if len(bounds) > 1 else 0)
        for k in range(1, len(self.by_layer)):
            # the same firm's operation in the layer below, as a position in that layer
            local = [
                inverse_list[own_below[o]] - bounds[k - 1] if own_below[o] >= 0 else -1
                for o in self.by_layer[k].tolist()
            ]
            own_local.append(np.array(local, dtype=np.int64))
            has = [x >= 0 for x in local]
            own_mask.append(np.array(has, dtype=np.bool_) if any(has) else None)
            own_idx.append(np.array([x for x in local if x >= 0], dtype=np.int64))
            sorted_own += local
        self._order = np.array(order_list, dtype=np.int64)
        self._inverse = np.array(inverse_list, dtype=np.int64)
        self._bounds = bounds
        self._own_local = own_local
        # per layer: which buyers have an own operation below (None: none do), and where
        self._own_mask = own_mask
        self._own_idx = own_idx
        self._identity = order_list == list(range(len(order_list)))
        # the compiled clearing's view: own operation below per sorted position, bounds
        self._own_sorted = np.array(sorted_own, dtype=np.int64)
        self._bounds_arr = np.array(bounds, dtype=np.int64)

    @property
    def n_ops(self) -> int:
        """Number of operations."""
        return int(self.layer_of.shape[0])

    @property
    def n_layers(self) -> int:
        """Number of layers."""
        return len(self.by_layer)


def build_structure(
    layer_of: IntArray,
    firm_of: IntArray,
    n_layers: int,
    input_coefficient: FloatArray,
    choice_mu: FloatArray,
    relations: list[tuple[int, int, float, bool]] | None = None,
) -> Structure:
    """Assemble a :class:`Structure`, checking that it describes a stack.

    Parameters
    ----------
    layer_of, firm_of
        Layer (``0..n_layers-1``) and firm of each operation; a firm has at most one
        operation per layer.
    n_layers
        Number of layers.
    input_coefficient, choice_mu
        Per layer: units of input per unit of output (positive) and the buyers' logit
        scale over the layer's sellers (positive).
    relations
        ``(buyer_op, seller_op, switching_cost, exclusive)`` tuples; the seller must be in
        the layer just below the buyer. An exclusive relation limits the buyer to its
        exclusive sellers in that layer.

    Raises
    ------
    ValueError
        When the arrays disagree in length, an index is out of range, a coefficient is
        not positive and finite, or a relation does not link adjacent layers.
    """
    layer_of = np.asarray(layer_of, dtype=np.int64)
    firm_of = np.asarray(firm_of, dtype=np.int64)
    input_coefficient = np.asarray(input_coefficient, dtype=float)
    choice_mu = np.asarray(choice_mu, dtype=float)
    n = layer_of.shape[0]
    if layer_of.ndim != 1 or firm_of.shape != (n,):
        raise ValueError(
            f"layer_of and firm_of must be 1-d of equal length (got {n}, {len(firm_of)})"
        )
    if n and (layer_of.min() < 0 or layer_of.max() >= n_layers):
        raise ValueError(f"layer_of: layers must lie in 0..{n_layers - 1}")
    for name, arr in (("input_coefficient", input_coefficient), ("choice_mu", choice_mu)):
        if arr.shape != (n_layers,):
            raise ValueError(f"{name}: expected {n_layers} values, one per layer (got {arr.size})")
        if not (np.isfinite(arr).all() and (arr > 0).all()):
            raise ValueError(
                f"{name}: every value must be positive and finite (got {arr.tolist()})"
            )
    lay = layer_of.tolist()
    firms = firm_of.tolist()
    buckets: list[list[int]] = [[] for _ in range(n_layers)]
    key: dict[tuple[int, int], int] = {}
    for i, pair in enumerate(zip(firms, lay, strict=True)):
        if pair in key:
            raise ValueError(f"firm {pair[0]} has two operations in layer {pair[1]}")
        key[pair] = i
        buckets[pair[1]].append(i)
    by_layer = [np.array(b, dtype=np.int64) for b in buckets]
    own_below = np.array(
        [key.get((f, k - 1), -1) for f, k in zip(firms, lay, strict=True)], dtype=np.int64
    )
    allowed = (layer_of[None, :] == layer_of[:, None] - 1) & (firm_of[None, :] != firm_of[:, None])
    lock_in = np.zeros((n, n))
    exclusive: dict[int, list[int]] = {}
    costs: dict[tuple[int, int], float] = {}  # summed in order, then written at once
    for k, (b, s, cost, excl) in enumerate(relations or []):
        if not (0 <= b < n and 0 <= s < n):
            raise ValueError(f"relations[{k}]: operation index out of range 0..{n - 1}")
        if lay[s] != lay[b] - 1:
            raise ValueError(
                f"relations[{k}]: the seller must be in the layer just below the buyer"
            )
        if not math.isfinite(cost) or cost < 0:
            raise ValueError(f"relations[{k}]: switching cost must be finite and >= 0 (got {cost})")
        costs[b, s] = costs.get((b, s), 0.0) + cost
        if excl:
            exclusive.setdefault(b, []).append(s)
    if costs:
        pairs = np.array(list(costs), dtype=np.intp)
        lock_in[pairs[:, 0], pairs[:, 1]] = list(costs.values())
    for b, sellers in exclusive.items():
        keep = np.zeros(n, dtype=bool)
        keep[sellers] = True
        allowed[b] &= keep
    return Structure(
        layer_of=layer_of,
        firm_of=firm_of,
        by_layer=by_layer,
        own_below=own_below,
        input_coefficient=input_coefficient,
        choice_mu=choice_mu,
        lock_in=lock_in,
        allowed=allowed,
    )


@dataclass
class Demand:
    """Final demand this round (see :class:`stackgame.environment.scenario.DemandSpec`).

    Attributes
    ----------
    kind
        ``logit`` (with an outside good) or ``linear`` (inverse demand ``P = A - B Q``).
    market_size
        Consumers per round, ``M`` (logit).
    mu
        Logit scale (dollars per unit).
    outside_quality
        Quality of the outside good, ``a0`` (dollars per unit).
    intercept, slope
        ``A`` (dollars per unit) and ``B`` (dollars per unit squared) of linear demand.
    cournot
        Whether the top layer competes in quantities (linear demand only).
    """

    kind: str = "logit"
    market_size: float = 100.0
    mu: float = 0.25
    outside_quality: float = 0.0
    intercept: float = 10.0
    slope: float = 1.0
    cournot: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("logit", "linear"):
            raise ValueError(f"demand.kind must be 'logit' or 'linear' (got {self.kind!r})")
        if not self.mu > 0 or not self.slope > 0 or not self.market_size >= 0:
            raise ValueError(
                "demand: mu and slope must be positive and market_size non-negative "
                f"(got mu={self.mu}, slope={self.slope}, market_size={self.market_size})"
            )


@dataclass
class Clearing:
    """Result of one round's clearing; arrays are per operation unless said otherwise.

    Attributes
    ----------
    price
        Price per unit (dollars).
    unit_input_cost
        Input cost per unit of output used in pricing (dollars).
    quantity
        Units delivered (to buyers, to the firm itself and to consumers).
    flow
        ``flow[b, s]``: units ``s`` delivered to ``b`` on the market.
    self_supply
        Units each operation received from its own firm's operation below.
    revenue, input_cost, variable_cost, gross_profit
        Dollars. Self-supply is counted at cost on both sides.
    unmet_input
        Units of input each operation ordered but did not get.
    final_demand
        Units consumers wanted from each top-layer operation before capacity rationing
        (logit: unconstrained demand; linear: residual demand at its price level).
    internal_revenue
        Dollars of each operation's revenue that are self-supply to its own firm at cost
        (part of ``revenue``; the firm's external revenue is ``revenue - internal_revenue``).
    lost_demand
        Units consumers wanted but did not get, because of capacity or upstream
        shortages, after re-choosing (scalar). Logit: ``M = sum(quantity[top]) +
        lost_demand + M * outside_share``.
    final_spend
        Consumers' spending (scalar, dollars).
    outside_share
        Share of the market that chose the outside good at the posted prices (logit),
        before rationing; consumers pushed out by rationing are in ``lost_demand``.
    attempts
        How many clearings it took to reach a self-consistent one.
    """

    price: FloatArray
    unit_input_cost: FloatArray
    quantity: FloatArray
    flow: FloatArray
    self_supply: FloatArray
    revenue: FloatArray
    input_cost: FloatArray
    variable_cost: FloatArray
    gross_profit: FloatArray
    unmet_input: FloatArray
    final_demand: FloatArray
    internal_revenue: FloatArray
    lost_demand: float
    final_spend: float
    outside_share: float
    attempts: int = 1

    @property
    def payments(self) -> FloatArray:
        """``payments[b, s]``: dollars ``b`` paid ``s`` on the market."""
        return self.flow * self.price[None, :]


# -- supplier choice ---------------------------------------------------------------------


def _choice_block(
    price_s: FloatArray,
    quality_s: FloatArray,
    lock: FloatArray,
    allowed: NDArray[np.bool_],
    capacity_s: FloatArray,
    mu: float,
) -> FloatArray:
    """Logit weights of one layer's buyers (rows) over the sellers below (columns)."""
    live = capacity_s > _EPS
    n_live = int(np.count_nonzero(live))
    pbar = 1.0
    if n_live:
        pbar = float(_add(price_s[live])) / n_live
        if pbar <= _EPS:
            pbar = 1.0
    u = ((quality_s - price_s / pbar) + lock) / mu
    mask = allowed & live if n_live < live.shape[0] else allowed
    u[~mask] = -np.inf
    top = np.maximum.reduce(u, axis=1, keepdims=True, initial=-np.inf)
    top[~np.isfinite(top)] = 0.0
    e = np.exp(u - top)
    total = _add(e, axis=1, keepdims=True)
    total[total <= 0] = 1.0
    return e / total


def supplier_weights(
    structure: Structure, price: FloatArray, quality: FloatArray, capacity: FloatArray, layer: int
) -> FloatArray:
    """Logit choice probabilities of the buyers in ``layer`` over sellers in ``layer - 1``.

    ``w[b, s] = exp(u_bs) / sum_k exp(u_bk)`` with
    ``u_bs = (q_s + lockin_bs - p_s / pbar) / mu`` over the sellers ``b`` may buy from
    that have capacity, where ``pbar`` is the mean price of sellers with capacity in that
    layer (so price enters relative to the layer's price level, McFadden's conditional
    logit with a switching cost as in Klemperer 1995). Rows are buyers
    (``by_layer[layer]``), columns sellers (``by_layer[layer - 1]``); a buyer with no
    permitted seller has a row of zeros.
    """
    buyers = structure.by_layer[layer]
    sellers = structure.by_layer[layer - 1]
    return _choice_block(
        price[sellers],
        quality[sellers],
        structure.lock_in[np.ix_(buyers, sellers)],
        structure.allowed[np.ix_(buyers, sellers)],
        capacity[sellers],
        float(structure.choice_mu[layer - 1]),
    )


# -- internal sorted view ----------------------------------------------------------------


class _Sorted:
    """One call's inputs permuted so that each layer is a contiguous slice."""

    __slots__ = ("s", "n", "bounds", "unit_cost", "markup", "quality", "lock", "allowed", "offer")

    def __init__(
        self,
        s: Structure,
        unit_cost: FloatArray,
        markup: FloatArray,
        quality: FloatArray,
        quantity_offer: FloatArray | None,
    ) -> None:
        self.s = s
        self.n = s.n_ops
        self.bounds = s._bounds
        if s._identity:
            self.unit_cost = np.asarray(unit_cost, dtype=float)
            self.markup = np.asarray(markup, dtype=float)
            self.quality = np.asarray(quality, dtype=float)
            lock, allowed = s.lock_in, s.allowed
            self.offer = None if quantity_offer is None else np.asarray(quantity_offer, float)
        else:
            o = s._order
            self.unit_cost = np.asarray(unit_cost, dtype=float)[o]
            self.markup = np.asarray(markup, dtype=float)[o]
            self.quality = np.asarray(quality, dtype=float)[o]
            lock = s.lock_in[o][:, o]
            allowed = s.allowed[o][:, o]
            self.offer = None if quantity_offer is None else np.asarray(quantity_offer, float)[o]
        b = self.bounds
        self.lock = [lock[0:0, 0:0]] + [
            lock[b[k] : b[k + 1], b[k - 1] : b[k]] for k in range(1, s.n_layers)
        ]
        self.allowed = [allowed[0:0, 0:0]] + [
            allowed[b[k] : b[k + 1], b[k - 1] : b[k]] for k in range(1, s.n_layers)
        ]

    def sort(self, x: FloatArray) -> FloatArray:
        """Caller's order to sorted order."""
        return (
            np.asarray(x, dtype=float) if self.s._identity else np.asarray(x, float)[self.s._order]
        )

    def unsort(self, x: FloatArray) -> FloatArray:
        """Sorted order back to the caller's order."""
        return x if self.s._identity else x[self.s._inverse]


def _prices(
    z: _Sorted,
    capacity: FloatArray,
    self_share: FloatArray,
    per_unit: bool,
    fixed_top: float | None,
    mix: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, list[FloatArray]]:
    """Pass 1 in sorted coordinates: prices, unit input cost and supplier weights.

    ``mix`` (sorted coordinates), where a buyer's row is not all zero, replaces the logit
    weights in the buyer's *expected* input price: the buyer expects to source as it did
    (last round's realised purchase shares) at this round's prices. Sellers it can no
    longer buy from (not permitted, or without capacity) are dropped and the row is
    renormalised; a row with nothing left falls back to the logit weights.
    """
    s = z.s
    b = z.bounds
    price = np.zeros(z.n)
    input_unit = np.zeros(z.n)
    weights: list[FloatArray] = [np.zeros((b[1] - b[0], 0))]
    for k in range(s.n_layers):
        lo, hi = b[k], b[k + 1]
        if k > 0:
            slo = b[k - 1]
            w = _choice_block(
                price[slo:lo],
                z.quality[slo:lo],
                z.lock[k],
                z.allowed[k],
                capacity[slo:lo],
                float(s.choice_mu[k - 1]),
            )
            weights.append(w)
            market = w @ price[slo:lo]
            if mix is not None:
                # only sellers the buyer can still buy from (permitted, with capacity)
                block = mix[lo:hi, slo:lo] * (w > 0)
                total = _add(block, 1)
                known = total > _EPS
                if known.any():
                    expected = (block @ price[slo:lo]) / np.where(known, total, 1.0)
                    market = np.where(known, expected, market)
            own = s._own_local[k]
            if (own >= 0).any():
                has_own = own >= 0
                idx = np.maximum(own, 0) + slo
                own_cost = np.where(has_own, z.unit_cost[idx] + input_unit[idx], 0.0)
                has_market = _add(w, 1) > 0
                share = np.where(has_own, np.where(has_market, self_share[lo:hi], 1.0), 0.0)
                blended = share * own_cost + (1.0 - share) * market
            else:
                blended = market
            input_unit[lo:hi] = s.input_coefficient[k] * blended
        cost = z.unit_cost[lo:hi] + input_unit[lo:hi]
        if per_unit:
            price[lo:hi] = cost + z.markup[lo:hi]
        else:
            price[lo:hi] = cost * (1.0 + z.markup[lo:hi])
    if fixed_top is not None and s.n_layers:
        price[b[-2] : b[-1]] = fixed_top
    np.maximum(price, 0.0, out=price)
    return price, input_unit, weights


def _sorted_mix(structure: Structure, supplier_mix: FloatArray | None) -> FloatArray | None:
    """An expected supplier mix in the layer-sorted coordinates the passes work in."""
    if supplier_mix is None:
        return None
    mix = np.asarray(supplier_mix, dtype=float)
    if structure._identity:
        return mix
    return mix[np.ix_(structure._order, structure._order)]


def resolve_prices(
    structure: Structure,
    unit_cost: FloatArray,
    markup: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    self_share: FloatArray,
    per_unit: bool = False,
    fixed_price: FloatArray | None = None,
    supplier_mix: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, list[FloatArray]]:
    """Prices bottom-up, each a markup over this round's own and input unit cost.

    ``p_i = (c_i + a_l x_i)(1 + m_i)`` (ad valorem) or ``p_i = c_i + a_l x_i + m_i`` (per
    unit), where ``x_i = sigma_i (c_o + a_{l-1} x_o) + (1 - sigma_i) sum_s w_is p_s`` blends
    the unit cost of the firm's own operation ``o`` below (share ``sigma_i``, at cost: no
    double marginalisation) with the logit-expected price of its market suppliers.
    Negative prices are set to zero.

    Parameters
    ----------
    self_share
        Planned share of each operation's input that its own firm supplies at cost (0 when
        it has no operation below; 1 when it has no market seller).
    fixed_price
        Where finite, the price is taken as given (a Cournot layer's clearing price).
    supplier_mix
        Expected purchase shares replacing the logit weights where a row is not all zero
        (see :func:`clear`).

    Returns
    -------
    price, unit_input_cost, weights
        ``weights[l]`` is :func:`supplier_weights` for layer ``l`` (``weights[0]`` empty).
    """
    z = _Sorted(structure, unit_cost, markup, quality, None)
    price, input_unit, weights = _prices(
        z,
        z.sort(capacity),
        z.sort(self_share),
        per_unit,
        None,
        _sorted_mix(structure, supplier_mix),
    )
    if fixed_price is not None:
        price = z.unsort(price).copy()
        fixed = np.isfinite(fixed_price)
        price[fixed] = np.maximum(np.asarray(fixed_price)[fixed], 0.0)
        return price, z.unsort(input_unit), weights
    return z.unsort(price), z.unsort(input_unit), weights


# -- final demand ------------------------------------------------------------------------


def logit_demand(
    price: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    demand: Demand,
    offered: NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray, float]:
    """Logit final demand with an outside good, rationed by capacity.

    ``s_j = exp((a_j - p_j)/mu) / (sum_k exp((a_k - p_k)/mu) + exp(a0/mu))`` and
    ``Q_j = M s_j`` (Calvano, Calzolari, Denicolo and Pastorello 2020, eq. 1), over the
    options on offer (default: those with capacity). When ``Q_j`` exceeds capacity, the
    excess consumers re-choose among the options with spare capacity and the outside
    good in proportion to their logit weights (independence of irrelevant alternatives),
    so part of the excess is lost; repeated until no option is over capacity.

    Parameters
    ----------
    offered
        Options in the consumers' choice set; an option on offer with no capacity this
        round (its supplier failed it) rations all its consumers.

    Returns
    -------
    quantity, unconstrained, outside_share
        ``outside_share`` is the share choosing the outside good at these prices before
        rationing, so ``M = quantity.sum() + (unconstrained.sum() - quantity.sum()) +
        M * outside_share``.
    """
    live = capacity > _EPS if offered is None else offered
    v = (quality - price) / demand.mu
    v0 = demand.outside_quality / demand.mu
    top = max(float(v[live].max(initial=v0)), v0)
    e = np.where(live, np.exp(np.minimum(v - top, 0.0)), 0.0)
    e0 = float(np.exp(v0 - top))
    total = float(e.sum()) + e0
    want = demand.market_size * e / total
    share_out = e0 / total
    q = want.copy()
    over = q > capacity + _EPS
    if over.any():
        open_ = live.copy()
        for _ in range(len(q) + 1):
            excess = float((q[over] - capacity[over]).sum())
            q[over] = capacity[over]
            open_ &= ~over
            weight = float(e[open_].sum()) + e0
            q[open_] += excess * e[open_] / weight
            over = open_ & (q > capacity + _EPS)
            if not over.any():
                break
    return q, want, float(share_out)


def linear_demand(
    price: FloatArray,
    capacity: FloatArray,
    demand: Demand,
    offered: NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Homogeneous good with inverse demand ``P = A - B Q``, cheapest sellers first.

    Consumers buy from the lowest price; sellers at the same price share equally, with
    spillover of a capacity-constrained seller's excess (efficient rationing: the
    consumers with the highest willingness to pay are served first, Tirole 1988, ch. 5).
    Demand at price level ``p_k`` is ``max(0, (A - p_k)/B)`` less what cheaper sellers
    served. Only sellers on offer are in the market (default: those with capacity).

    Returns
    -------
    quantity, unconstrained
        ``unconstrained`` is the residual demand each seller faced at its price level,
        split equally among the sellers at that level.
    """
    n = len(price)
    q = np.zeros(n)
    want = np.zeros(n)
    live = capacity > _EPS if offered is None else offered
    served = 0.0
    for level in np.unique(price[live]):
        group = np.flatnonzero(live & (price == level))
        remaining = max(0.0, (demand.intercept - level) / demand.slope - served)
        if remaining <= 0.0:
            break
        want[group] = remaining / len(group)
        cap = capacity[group]
        alloc = np.zeros(len(group))
        left = remaining
        active = np.ones(len(group), dtype=bool)
        while left > _EPS and active.any():
            share = left / active.sum()
            take = np.where(active, np.minimum(share, cap - alloc), 0.0)
            alloc += take
            left -= float(take.sum())
            active &= alloc < cap - _EPS
        q[group] = alloc
        served += float(alloc.sum())
    return q, want


def cournot_price(offers: FloatArray, capacity: FloatArray, demand: Demand) -> float:
    """Market-clearing price ``P = max(0, A - B sum_j min(x_j, K_j))`` for quantity offers."""
    total = float(np.minimum(np.maximum(offers, 0.0), capacity).sum())
    return max(0.0, demand.intercept - demand.slope * total)


# -- rationing of intermediate orders ----------------------------------------------------


def _ration_orders(
    orders: FloatArray, weights: FloatArray, room: FloatArray, rounds: int | None
) -> tuple[FloatArray, FloatArray]:
    """Fill buyers' orders from sellers with limited room; spill what a full seller refuses.

    ``orders[b, s]`` units asked of each seller, ``weights[b, s]`` the buyer's logit
    weights (for re-splitting), ``room[s]`` capacity left. A seller asked for more than
    its room fills every order in the same proportion (proportional rationing); each buyer
    re-splits its unfilled units over its sellers that still have room, in proportion to
    its weights. Each round fills at least one more seller, so ``len(room) + 1`` rounds
    place every order that can be placed (``rounds=None``).

    Returns
    -------
    filled, unfilled
        ``filled[b, s]`` and the units each buyer could not place.
    """
    limit = room.shape[0] + 1 if rounds is None else rounds
    total = _add(orders, 0)
    if (total <= room + _EPS).all():
        return orders.copy(), np.zeros(orders.shape[0])
    filled = np.zeros_like(orders)
    room = room.copy()
    ask = orders
    short = _add(ask, 1)
    for _ in range(limit):
        total = _add(ask, 0)
        ratio = np.ones_like(room)
        np.divide(room, total, out=ratio, where=total > room)
        got = ask * ratio[None, :]
        filled += got
        room = np.maximum(room - _add(got, 0), 0.0)
        short = _add(ask - got, 1)
        if short.max(initial=0.0) <= _EPS:
            return filled, np.zeros(orders.shape[0])
        w = weights * (room > _EPS)[None, :]
        wsum = _add(w, 1)
        movable = wsum > 0
        if (short * movable).max(initial=0.0) <= _EPS:
            break
        ask = np.divide(w, wsum[:, None], out=np.zeros_like(w), where=movable[:, None])
        ask *= short[:, None]
    return filled, np.maximum(short, 0.0)


# -- the clearing ------------------------------------------------------------------------


def clear(
    structure: Structure,
    unit_cost: FloatArray,
    markup: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    demand: Demand,
    *,
    self_share: FloatArray | None = None,
    per_unit: bool = False,
    quantity_offer: FloatArray | None = None,
    spill_rounds: int | None = None,
    supplier_mix: FloatArray | None = None,
    jit: bool | None = None,
) -> Clearing:
    """Clear one round of the stack (see the module docstring for the four passes).

    Parameters
    ----------
    unit_cost, markup, quality, capacity
        Per operation: own variable cost per unit, chosen markup, quality, capacity.
    demand
        Final demand at the top layer.
    self_share
        Planned self-supply share per operation for pricing. Default: 1 where the firm's
        operation below has capacity, then lowered to the share it actually supplied
        when that capacity falls short (the price is a markup over the blended unit cost
        of what the firm actually sources). An explicit array is used as given.
    per_unit
        Markups in dollars per unit instead of ad valorem.
    quantity_offer
        Quantity offers of the top layer's operations when it competes in quantities
        (``demand.cournot``).
    spill_rounds
        How many times rationed orders are re-split over sellers with room (default:
        until every order that can be placed is placed).
    supplier_mix
        Optional ``[n, n]`` matrix: row ``b`` holds the shares in which buyer ``b``
        expects to buy from each seller (for example last round's realised purchases).
        Where a row is not all zero it replaces the logit weights in the buyer's expected
        input price, so that a buyer whose cheapest suppliers are full prices on what it
        will really pay. Orders are still split by the logit.
    jit
        Whether the compiled clearing may run (None: unless ``STACKGAME_NO_JIT`` is set).

    Notes
    -----
    The work is done by the numba-compiled
    :func:`stackgame.environment.market_kernel.clear_kernel` when numba is installed and
    the environment variable ``STACKGAME_NO_JIT`` is not set, else by the numpy
    implementation here (the reference; the two agree to rounding).

    Raises
    ------
    ValueError
        When a per-operation array does not have one entry per operation.
    """
    n = structure.n_ops
    for name, arr in (
        ("unit_cost", unit_cost),
        ("markup", markup),
        ("quality", quality),
        ("capacity", capacity),
    ):
        if _shape(arr) != (n,):
            raise ValueError(f"{name}: expected {n} values, one per operation (got {_shape(arr)})")
    if supplier_mix is not None and _shape(supplier_mix) != (n, n):
        raise ValueError(f"supplier_mix: expected shape {(n, n)} (got {np.shape(supplier_mix)})")
    kernel = _kernel(jit)
    if (
        kernel is not None
        and structure.n_layers > 0
        and n > 0
        and (self_share is None or _shape(self_share) == (n,))
        and (quantity_offer is None or _shape(quantity_offer) == (n,))
    ):
        return _clear_compiled(
            kernel,
            structure,
            unit_cost,
            markup,
            quality,
            capacity,
            demand,
            self_share,
            per_unit,
            quantity_offer,
            spill_rounds,
            supplier_mix,
        )
    return _clear_numpy(
        structure,
        unit_cost,
        markup,
        quality,
        capacity,
        demand,
        self_share=self_share,
        per_unit=per_unit,
        quantity_offer=quantity_offer,
        spill_rounds=spill_rounds,
        supplier_mix=supplier_mix,
    )


_NO_ARRAY = np.zeros(0)
_NO_MATRIX = np.zeros((0, 0))


def _kernel(jit: bool | None = None) -> Any:
    """The compiled clearing (:func:`stackgame.environment.jit.compiled`), or ``None``."""
    return compiled("clear_kernel", jit, module="market_kernel")


def _shape(x: Any) -> tuple[int, ...]:
    """``np.shape`` without its wrapper for arrays (checked on every clearing)."""
    return x.shape if isinstance(x, np.ndarray) else np.shape(x)


def _f64(x: Any) -> FloatArray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _clear_compiled(
    kernel: Any,
    structure: Structure,
    unit_cost: FloatArray,
    markup: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    demand: Demand,
    self_share: FloatArray | None,
    per_unit: bool,
    quantity_offer: FloatArray | None,
    spill_rounds: int | None,
    supplier_mix: FloatArray | None,
) -> Clearing:
    """:func:`clear` through :func:`stackgame.environment.market_kernel.clear_kernel`."""
    r = kernel(
        structure._order,
        structure._bounds_arr,
        structure._own_sorted,
        _f64(structure.input_coefficient),
        _f64(structure.choice_mu),
        _f64(unit_cost),
        _f64(markup),
        _f64(quality),
        _f64(capacity),
        _f64(structure.lock_in),
        np.ascontiguousarray(structure.allowed, dtype=np.bool_),
        self_share is not None,
        _NO_ARRAY if self_share is None else _f64(self_share),
        supplier_mix is not None,
        _NO_MATRIX if supplier_mix is None else _f64(supplier_mix),
        quantity_offer is not None,
        _NO_ARRAY if quantity_offer is None else _f64(quantity_offer),
        bool(demand.cournot),
        demand.kind == "linear",
        float(demand.market_size),
        float(demand.mu),
        float(demand.outside_quality),
        float(demand.intercept),
        float(demand.slope),
        bool(per_unit),
        -1 if spill_rounds is None else max(int(spill_rounds), 0),
        MAX_ATTEMPTS,
    )
    per_op, flow, lost, spend, outside, attempts = r
    (price, unit_input_cost, quantity, self_supply, revenue, input_cost, variable_cost,
     gross_profit, unmet_input, final_demand, internal_revenue) = per_op  # fmt: skip
    return Clearing(
        price=price,
        unit_input_cost=unit_input_cost,
        quantity=quantity,
        flow=flow,
        self_supply=self_supply,
        revenue=revenue,
        input_cost=input_cost,
        variable_cost=variable_cost,
        gross_profit=gross_profit,
        unmet_input=unmet_input,
        final_demand=final_demand,
        internal_revenue=internal_revenue,
        lost_demand=float(lost),
        final_spend=float(spend),
        outside_share=float(outside),
        attempts=int(attempts),
    )


def _clear_numpy(
    structure: Structure,
    unit_cost: FloatArray,
    markup: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    demand: Demand,
    *,
    self_share: FloatArray | None = None,
    per_unit: bool = False,
    quantity_offer: FloatArray | None = None,
    spill_rounds: int | None = None,
    supplier_mix: FloatArray | None = None,
) -> Clearing:
    """:func:`clear` in numpy: the reference implementation (inputs already checked)."""
    n = structure.n_ops
    z = _Sorted(structure, unit_cost, markup, quality, quantity_offer)
    mix = _sorted_mix(structure, supplier_mix)
    nominal = z.sort(capacity)
    effective = nominal.copy()
    auto = self_share is None
    b = z.bounds
    if auto:
        share = np.zeros(n)
        for k in range(1, structure.n_layers):
            own = structure._own_local[k]
            own_cap = effective[np.maximum(own, 0) + b[k - 1]]
            share[b[k] : b[k + 1]] = np.where((own >= 0) & (own_cap > _EPS), 1.0, 0.0)
    else:
        share = z.sort(np.asarray(self_share, dtype=float))
    attempt = 0
    reserve: FloatArray | None = None
    priced: tuple[FloatArray, FloatArray, list[FloatArray]] | None = None
    cournot = demand.cournot and z.offer is not None
    t_lo, t_hi = b[-2], b[-1]
    while True:
        attempt += 1
        if priced is None:
            fixed_top = None
            if cournot:
                assert z.offer is not None
                fixed_top = cournot_price(z.offer[t_lo:t_hi], effective[t_lo:t_hi], demand)
            priced = _prices(z, effective, share, per_unit, fixed_top, mix)
            live = effective > _EPS
        out = _clear_once(z, effective, nominal, demand, priced, spill_rounds, reserve)
        if attempt >= MAX_ATTEMPTS:
            break
        again = False
        short = out.unmet_input > _SHORT
        if short.any():
            lower = short & (out.quantity < effective - _SHORT)
            if lower.any():
                effective = np.where(lower, np.minimum(effective, out.quantity), effective)
                again = True
                # prices depend on capacity only through which sellers have any (and the
                # Cournot price): keep them unless that changed
                if cournot or not np.array_equal(effective > _EPS, live):
                    priced = None
        if auto:
            got = out.self_supply + _add(out.flow, 1)
            realized = np.divide(out.self_supply, got, out=share.copy(), where=got > _EPS)
            drop = realized < share - _SHORT
            if drop.any():
                share = np.where(drop, realized, share)
                again = True
                priced = None
        if not again:
            break
        reserve = out.flow
    out.attempts = attempt
    if structure._identity:
        return out
    inv = structure._inverse
    return Clearing(
        price=out.price[inv],
        unit_input_cost=out.unit_input_cost[inv],
        quantity=out.quantity[inv],
        flow=out.flow[np.ix_(inv, inv)],
        self_supply=out.self_supply[inv],
        revenue=out.revenue[inv],
        input_cost=out.input_cost[inv],
        variable_cost=out.variable_cost[inv],
        gross_profit=out.gross_profit[inv],
        unmet_input=out.unmet_input[inv],
        final_demand=out.final_demand[inv],
        internal_revenue=out.internal_revenue[inv],
        lost_demand=out.lost_demand,
        final_spend=out.final_spend,
        outside_share=out.outside_share,
        attempts=attempt,
    )


def _clear_once(
    z: _Sorted,
    capacity: FloatArray,
    nominal: FloatArray,
    demand: Demand,
    priced: tuple[FloatArray, FloatArray, list[FloatArray]],
    spill_rounds: int | None,
    reserve: FloatArray | None,
) -> Clearing:
    """One clearing in sorted coordinates (the four passes of the module docstring).

    ``reserve`` holds the previous attempt's delivered flows: on a re-clear each buyer
    first keeps what it was allocated then (scaled down if it now needs less), and only
    the rest is ordered anew. Without it, a buyer that cut its output because a supplier
    rationed it would order less and so receive a smaller proportional ration again.

    ``capacity`` is this attempt's effective capacity, ``nominal`` the caller's: a top
    operation with nominal capacity stays in the consumers' choice set, so consumers it
    cannot serve for lack of input count as lost demand, not as choosing the outside good.
    ``priced`` is pass 1's result (:func:`_prices`) for this attempt.
    """
    s = z.s
    n = z.n
    b = z.bounds
    n_layers = s.n_layers
    t_lo, t_hi = b[n_layers - 1], b[n_layers]
    cournot = demand.cournot and z.offer is not None
    price, input_unit, weights = priced
    price = price.copy()
    input_unit = input_unit.copy()

    # -- pass 2: final demand --------------------------------------------------------------
    final_demand = np.zeros(n)
    outside_share = 0.0
    p_top, cap_top = price[t_lo:t_hi], capacity[t_lo:t_hi]
    offered = nominal[t_lo:t_hi] > _EPS
    if cournot:
        assert z.offer is not None
        q_top = np.minimum(np.maximum(z.offer[t_lo:t_hi], 0.0), cap_top)
        want_top = np.minimum(np.maximum(z.offer[t_lo:t_hi], 0.0), nominal[t_lo:t_hi])
        wanted = float(want_top.sum())
    elif demand.kind == "linear":
        q_top, want_top = linear_demand(p_top, cap_top, demand, offered)
        p_min = float(p_top[offered].min()) if offered.any() else demand.intercept
        wanted = max(0.0, (demand.intercept - p_min) / demand.slope)
    else:
        q_top, want_top, outside_share = logit_demand(
            p_top, z.quality[t_lo:t_hi], cap_top, demand, offered
        )
        wanted = float(want_top.sum())
    final_demand[t_lo:t_hi] = want_top

    # -- pass 3: derived demand, top-down ---------------------------------------------------
    used = np.zeros(n)
    used[t_lo:t_hi] = q_top
    filled_by: list[FloatArray] = [np.zeros((0, 0))] * n_layers
    self_by: list[FloatArray] = [np.zeros(0)] * n_layers
    unmet = np.zeros(n)
    for k in range(n_layers - 1, 0, -1):
        lo, hi, slo = b[k], b[k + 1], b[k - 1]
        need = s.input_coefficient[k] * used[lo:hi]
        room = capacity[slo:lo].copy()
        has_own = s._own_mask[k]
        own_use = np.zeros(lo - slo)
        take = np.zeros(hi - lo)
        if has_own is not None:
            oi = s._own_idx[k]
            take[has_own] = np.minimum(need[has_own], room[oi])
            room[oi] -= take[has_own]
            own_use[oi] = take[has_own]
            rest = need - take
        else:
            rest = need
        w = weights[k]
        held = None
        if reserve is not None:
            held = reserve[lo:hi, slo:lo]
            got = _add(held, 1)
            held = held * np.minimum(1.0, rest / np.maximum(got, _EPS))[:, None]
            col = _add(held, 0)
            if (col > room).any():
                held = held * np.minimum(1.0, room / np.maximum(col, _EPS))[None, :]
            room = np.maximum(room - _add(held, 0), 0.0)
            rest = np.maximum(rest - _add(held, 1), 0.0)
        filled, unfilled = _ration_orders(w * rest[:, None], w, room, spill_rounds)
        unmet[lo:hi] = rest - _add(filled, 1)
        if held is not None:
            filled = filled + held
        filled_by[k] = filled
        self_by[k] = take
        used[slo:lo] = _add(filled, 0) + own_use

    # -- pass 4: feasibility, bottom-up, and money ---------------------------------------------
    flow = np.zeros((n, n))
    self_supply = np.zeros(n)
    quantity = used.copy()
    deliver = np.ones(n)  # share of planned output an operation can actually deliver
    revenue = np.zeros(n)
    internal = np.zeros(n)
    input_cost = np.zeros(n)
    transfer = z.unit_cost.copy()  # unit cost at which an operation supplies its own firm
    below_short = False  # whether any seller in the layer below delivers less than planned
    for k in range(1, n_layers):
        lo, hi, slo = b[k], b[k + 1], b[k - 1]
        block = filled_by[k] * deliver[slo:lo][None, :] if below_short else filled_by[k]
        has_own = s._own_mask[k]
        take = self_by[k]
        own_use = np.zeros(lo - slo)
        own_unit = np.zeros(hi - lo)
        if has_own is not None:
            oi = s._own_idx[k]
            if below_short:
                take = take.copy()
                take[has_own] *= deliver[slo:lo][oi]
            own_use[oi] = take[has_own]
            own_unit[has_own] = transfer[slo:lo][oi]
        quantity[slo:lo] = _add(block, 0) + own_use
        got = _add(block, 1) + take
        need = s.input_coefficient[k] * used[lo:hi]
        lacking = need > got
        below_short = bool(lacking.any())
        if below_short:
            ratio = np.ones(hi - lo)
            np.divide(got, need, out=ratio, where=lacking)
            deliver[lo:hi] = ratio
            quantity[lo:hi] = used[lo:hi] * ratio
            unmet[lo:hi] = np.maximum(need - got, 0.0)
        else:
            unmet[lo:hi] = 0.0
        flow[lo:hi, slo:lo] = block
        self_supply[lo:hi] = take
        pay = block * price[slo:lo][None, :]
        internal[slo:lo] = own_use * transfer[slo:lo]
        revenue[slo:lo] += _add(pay, 0) + internal[slo:lo]
        input_cost[lo:hi] = _add(pay, 1) + take * own_unit
        q_k = quantity[lo:hi]
        per = np.divide(input_cost[lo:hi], q_k, out=input_unit[lo:hi].copy(), where=q_k > _EPS)
        transfer[lo:hi] = z.unit_cost[lo:hi] + per
    q_final = quantity[t_lo:t_hi]
    final_spend = float((p_top * q_final).sum())
    revenue[t_lo:t_hi] += p_top * q_final
    variable_cost = z.unit_cost * quantity
    gross = revenue - input_cost - variable_cost
    lost = wanted - float(q_final.sum())
    return Clearing(
        price=price,
        unit_input_cost=input_unit,
        quantity=quantity,
        flow=flow,
        self_supply=self_supply,
        revenue=revenue,
        input_cost=input_cost,
        variable_cost=variable_cost,
        gross_profit=gross,
        unmet_input=unmet,
        final_demand=final_demand,
        internal_revenue=internal,
        lost_demand=max(lost, 0.0),
        final_spend=final_spend,
        outside_share=outside_share,
    )
