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

The whole clearing is repeated once with each short seller's capacity set to what it
could deliver, so that orders spill away from it (a seller rationed by its own supplier
behaves like a capacity-constrained one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_EPS = 1e-12


@dataclass
class Structure:
    """Who can sell to whom: fixed between integration moves.

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
    """Assemble a :class:`Structure`.

    Parameters
    ----------
    relations
        ``(buyer_op, seller_op, switching_cost, exclusive)`` tuples. An exclusive relation
        limits the buyer to its exclusive sellers in that layer.
    """
    layer_of = np.asarray(layer_of, dtype=np.int64)
    firm_of = np.asarray(firm_of, dtype=np.int64)
    n = layer_of.shape[0]
    by_layer = [np.flatnonzero(layer_of == k).astype(np.int64) for k in range(n_layers)]
    own_below = np.full(n, -1, dtype=np.int64)
    key = {(int(firm_of[i]), int(layer_of[i])): i for i in range(n)}
    for i in range(n):
        own_below[i] = key.get((int(firm_of[i]), int(layer_of[i]) - 1), -1)
    allowed = (layer_of[None, :] == layer_of[:, None] - 1) & (firm_of[None, :] != firm_of[:, None])
    lock_in = np.zeros((n, n))
    exclusive: dict[int, list[int]] = {}
    for b, s, cost, excl in relations or []:
        lock_in[b, s] += cost
        if excl:
            exclusive.setdefault(b, []).append(s)
    for b, sellers in exclusive.items():
        keep = np.zeros(n, dtype=bool)
        keep[sellers] = True
        allowed[b] &= keep
    return Structure(
        layer_of=layer_of,
        firm_of=firm_of,
        by_layer=by_layer,
        own_below=own_below,
        input_coefficient=np.asarray(input_coefficient, dtype=float),
        choice_mu=np.asarray(choice_mu, dtype=float),
        lock_in=lock_in,
        allowed=allowed,
    )


@dataclass
class Demand:
    """Final demand this round (see :class:`stackgame.environment.scenario.DemandSpec`)."""

    kind: str = "logit"
    market_size: float = 100.0
    mu: float = 0.25
    outside_quality: float = 0.0
    intercept: float = 10.0
    slope: float = 1.0
    cournot: bool = False


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
        Units consumers wanted before capacity rationing, per operation (top layer).
    lost_demand
        Units of final demand lost to rationing and upstream shortages (scalar).
    final_spend
        Consumers' spending (scalar, dollars).
    outside_share
        Share of the market choosing the outside good (logit), after rationing.
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
    lost_demand: float
    final_spend: float
    outside_share: float

    @property
    def payments(self) -> FloatArray:
        """``payments[b, s]``: dollars ``b`` paid ``s`` on the market."""
        return self.flow * self.price[None, :]


def supplier_weights(
    structure: Structure, price: FloatArray, quality: FloatArray, capacity: FloatArray, layer: int
) -> FloatArray:
    """Logit choice probabilities of the buyers in ``layer`` over sellers in ``layer - 1``.

    ``w[b, s] = exp(u_bs) / sum_k exp(u_bk)`` with
    ``u_bs = (q_s + lockin_bs - p_s / pbar) / mu`` over the sellers ``b`` may buy from,
    where ``pbar`` is the mean price of sellers with capacity in that layer. Rows are
    buyers (``by_layer[layer]``), columns sellers (``by_layer[layer - 1]``); a buyer with
    no permitted seller has a row of zeros.
    """
    buyers = structure.by_layer[layer]
    sellers = structure.by_layer[layer - 1]
    p = price[sellers]
    live = capacity[sellers] > _EPS
    pbar = float(p[live].mean()) if live.any() else 1.0
    pbar = pbar if pbar > _EPS else 1.0
    mu = structure.choice_mu[layer - 1]
    u = (quality[sellers][None, :] + structure.lock_in[np.ix_(buyers, sellers)] - p / pbar) / mu
    mask = structure.allowed[np.ix_(buyers, sellers)] & live[None, :]
    u = np.where(mask, u, -np.inf)
    top = u.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.where(mask, np.exp(u - top), 0.0)
    total = e.sum(axis=1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def resolve_prices(
    structure: Structure,
    unit_cost: FloatArray,
    markup: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    self_share: FloatArray,
    per_unit: bool = False,
    fixed_price: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, list[FloatArray]]:
    """Prices bottom-up, each a markup over this round's own and input unit cost.

    Parameters
    ----------
    self_share
        Planned share of each operation's input that its own firm supplies at cost (0 when
        it has no operation below).
    fixed_price
        Where finite, the price is taken as given (a Cournot layer's clearing price).

    Returns
    -------
    price, unit_input_cost, weights
        ``weights[l]`` is :func:`supplier_weights` for layer ``l`` (``weights[0]`` empty).
    """
    n = structure.n_ops
    price = np.zeros(n)
    input_unit = np.zeros(n)
    weights: list[FloatArray] = [np.zeros((len(structure.by_layer[0]), 0))]
    for layer, ops in enumerate(structure.by_layer):
        if layer > 0:
            w = supplier_weights(structure, price, quality, capacity, layer)
            weights.append(w)
            sellers = structure.by_layer[layer - 1]
            market = w @ price[sellers]
            has_market = w.sum(axis=1) > 0
            own = structure.own_below[ops]
            own_cost = np.where(own >= 0, unit_cost[own] + input_unit[own], 0.0)
            share = np.where(own >= 0, self_share[ops], 0.0)
            share = np.where(has_market, share, np.where(own >= 0, 1.0, 0.0))
            blended = share * own_cost + (1.0 - share) * market
            input_unit[ops] = structure.input_coefficient[layer] * blended
        cost = unit_cost[ops] + input_unit[ops]
        if per_unit:
            price[ops] = cost + markup[ops]
        else:
            price[ops] = cost * (1.0 + markup[ops])
    if fixed_price is not None:
        fixed = np.isfinite(fixed_price)
        price[fixed] = fixed_price[fixed]
    np.maximum(price, 0.0, out=price)
    return price, input_unit, weights


def logit_demand(
    price: FloatArray, quality: FloatArray, capacity: FloatArray, demand: Demand
) -> tuple[FloatArray, FloatArray, float]:
    """Logit final demand with an outside good, rationed by capacity.

    ``s_j = exp((a_j - p_j)/mu) / (sum_k exp((a_k - p_k)/mu) + exp(a0/mu))`` and
    ``Q_j = M s_j`` (Calvano, Calzolari, Denicolo and Pastorello 2020, eq. 1). When
    ``Q_j`` exceeds capacity, the excess consumers re-choose among the options with
    spare capacity and the outside good in proportion to their logit weights
    (independence of irrelevant alternatives), so part of the excess is lost.

    Returns
    -------
    quantity, unconstrained, outside_share
    """
    v = (quality - price) / demand.mu
    v0 = demand.outside_quality / demand.mu
    top = max(float(v.max(initial=v0)), v0)
    e = np.exp(v - top)
    e0 = float(np.exp(v0 - top))
    total = e.sum() + e0
    want = demand.market_size * e / total
    q = want.copy()
    outside = demand.market_size * e0 / total
    open_ = np.ones_like(q, dtype=bool)
    for _ in range(len(q) + 1):
        over = open_ & (q > capacity + _EPS)
        if not over.any():
            break
        excess = float((q[over] - capacity[over]).sum())
        q[over] = capacity[over]
        open_ &= ~over
        weight = float(e[open_].sum()) + e0
        q[open_] += excess * e[open_] / weight
        outside += excess * e0 / weight
    share_out = outside / demand.market_size if demand.market_size > 0 else 1.0
    return q, want, float(share_out)


def linear_demand(
    price: FloatArray, capacity: FloatArray, demand: Demand
) -> tuple[FloatArray, FloatArray]:
    """Homogeneous good with inverse demand ``P = A - B Q``, cheapest sellers first.

    Consumers buy from the lowest price; sellers at the same price share equally, with
    spillover of a capacity-constrained seller's excess (efficient rationing). Demand at
    price level ``p_k`` is ``max(0, (A - p_k)/B)`` less what cheaper sellers served.

    Returns
    -------
    quantity, unconstrained
    """
    n = len(price)
    q = np.zeros(n)
    want = np.zeros(n)
    served = 0.0
    for level in np.unique(price):
        group = np.flatnonzero(price == level)
        remaining = max(0.0, (demand.intercept - level) / demand.slope - served)
        want[group] = remaining / len(group)
        cap = capacity[group].copy()
        alloc = np.zeros(len(group))
        left = remaining
        active = cap > _EPS
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


def _ration_orders(
    orders: FloatArray, weights: FloatArray, room: FloatArray, rounds: int
) -> tuple[FloatArray, FloatArray]:
    """Fill buyers' orders from sellers with limited room; spill what a full seller refuses.

    ``orders[b, s]`` units asked of each seller, ``weights[b, s]`` the buyer's logit
    weights (for re-splitting), ``room[s]`` capacity left. A seller asked for more than
    its room fills each order in proportion; each buyer re-splits its unfilled units over
    its sellers that still have room, in proportion to its weights.

    Returns
    -------
    filled, unfilled
        ``filled[b, s]`` and the units each buyer could not place.
    """
    filled = np.zeros_like(orders)
    room = room.copy()
    ask = orders
    unfilled = np.zeros(orders.shape[0])
    for _ in range(rounds):
        total = ask.sum(axis=0)
        ratio = np.divide(room, total, out=np.ones_like(room), where=total > _EPS)
        ratio = np.minimum(ratio, 1.0)
        got = ask * ratio[None, :]
        filled += got
        room = np.maximum(room - got.sum(axis=0), 0.0)
        short = (ask - got).sum(axis=1)
        if short.max(initial=0.0) <= _EPS:
            unfilled = np.zeros(orders.shape[0])
            break
        w = weights * (room > _EPS)[None, :]
        wsum = w.sum(axis=1)
        unfilled = np.where(wsum > 0, 0.0, short)
        if not (wsum > 0).any() or (short * (wsum > 0)).max() <= _EPS:
            unfilled = short
            break
        ask = np.divide(w, wsum[:, None], out=np.zeros_like(w), where=wsum[:, None] > 0)
        ask = ask * short[:, None]
    else:
        unfilled = ask.sum(axis=1)
    return filled, unfilled


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
    spill_rounds: int = 4,
) -> Clearing:
    """Clear one round of the stack (see the module docstring for the four passes).

    Parameters
    ----------
    unit_cost, markup, quality, capacity
        Per operation: own variable cost per unit, chosen markup, quality, capacity.
    demand
        Final demand at the top layer.
    self_share
        Planned self-supply share per operation for pricing (default 1 where the firm
        operates in the layer below).
    per_unit
        Markups in dollars per unit instead of ad valorem.
    quantity_offer
        Quantity offers of the top layer's operations when it competes in quantities.
    spill_rounds
        How many times rationed orders are re-split over sellers with room.
    """
    n = structure.n_ops
    if self_share is None:
        self_share = np.ones(n)
    effective = capacity.astype(float).copy()
    result: Clearing | None = None
    for attempt in range(2):
        result = _clear_once(
            structure,
            unit_cost,
            markup,
            quality,
            effective,
            demand,
            self_share,
            per_unit,
            quantity_offer,
            spill_rounds,
        )
        short = result.unmet_input > 1e-9
        if attempt == 0 and short.any():
            # A seller short of input can only deliver what it got: treat that as its
            # capacity and clear again so that its buyers' orders spill elsewhere.
            delivered = result.quantity
            effective = np.where(short, np.minimum(effective, delivered), effective)
            continue
        break
    assert result is not None
    return result


def _clear_once(
    structure: Structure,
    unit_cost: FloatArray,
    markup: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    demand: Demand,
    self_share: FloatArray,
    per_unit: bool,
    quantity_offer: FloatArray | None,
    spill_rounds: int,
) -> Clearing:
    n = structure.n_ops
    top_layer = structure.n_layers - 1
    top = structure.by_layer[top_layer]
    fixed = None
    if demand.cournot and quantity_offer is not None:
        fixed = np.full(n, np.nan)
        fixed[top] = cournot_price(quantity_offer[top], capacity[top], demand)
    price, input_unit, weights = resolve_prices(
        structure, unit_cost, markup, quality, capacity, self_share, per_unit, fixed
    )

    # -- pass 2: final demand --------------------------------------------------------------
    planned = np.zeros(n)
    final_demand = np.zeros(n)
    outside_share = 0.0
    if demand.cournot and quantity_offer is not None:
        q_top = np.minimum(np.maximum(quantity_offer[top], 0.0), capacity[top])
        want_top = q_top.copy()
        outside_share = 0.0
    elif demand.kind == "linear":
        q_top, want_top = linear_demand(price[top], capacity[top], demand)
    else:
        q_top, want_top, outside_share = logit_demand(
            price[top], quality[top], capacity[top], demand
        )
    planned[top] = q_top
    final_demand[top] = want_top

    # -- pass 3: derived demand, top-down ---------------------------------------------------
    flow = np.zeros((n, n))
    self_supply = np.zeros(n)
    unmet = np.zeros(n)
    used = np.zeros(n)  # capacity used at each op, filled as the layer below is reached
    used[top] = planned[top]
    for layer in range(top_layer, 0, -1):
        buyers = structure.by_layer[layer]
        sellers = structure.by_layer[layer - 1]
        need = structure.input_coefficient[layer] * used[buyers]
        own = structure.own_below[buyers]
        room = capacity.copy()
        # self-supply first, at cost (a firm has one operation per layer, so each
        # operation below serves at most one own buyer)
        has_own = own >= 0
        take = np.where(has_own, np.minimum(need, room[np.maximum(own, 0)]), 0.0)
        self_supply[buyers] = take
        room[own[has_own]] -= take[has_own]
        rest = need - self_supply[buyers]
        w = weights[layer]
        orders = w * rest[:, None]
        no_seller = w.sum(axis=1) <= 0
        filled, unfilled = _ration_orders(orders, w, room[sellers], spill_rounds)
        unmet[buyers] = unfilled + np.where(no_seller, rest, 0.0)
        flow[np.ix_(buyers, sellers)] = filled
        own_use = np.zeros(n)
        own_valid = own >= 0
        np.add.at(own_use, own[own_valid], self_supply[buyers][own_valid])
        used[sellers] = filled.sum(axis=0) + own_use[sellers]

    # -- pass 4: feasibility, bottom-up ------------------------------------------------------
    deliver = np.ones(n)  # share of planned output an op can actually deliver
    quantity = used.copy()
    for layer in range(1, top_layer + 1):
        buyers = structure.by_layer[layer]
        sellers = structure.by_layer[layer - 1]
        block = flow[np.ix_(buyers, sellers)] * deliver[sellers][None, :]
        flow[np.ix_(buyers, sellers)] = block
        own = structure.own_below[buyers]
        own_ratio = np.where(own >= 0, deliver[np.maximum(own, 0)], 1.0)
        self_supply[buyers] *= own_ratio
        got = block.sum(axis=1) + self_supply[buyers]
        need = structure.input_coefficient[layer] * used[buyers]
        ratio = np.divide(got, need, out=np.ones_like(got), where=need > _EPS)
        ratio = np.minimum(ratio, 1.0)
        deliver[buyers] = ratio
        quantity[buyers] = used[buyers] * ratio
        # inputs not turned into output (the buyer was short of another input) are none
        # here: a single input per layer, so received input is used in full
        unmet[buyers] = np.maximum(need - got, 0.0)
    # sellers deliver to buyers exactly what the buyers received; recompute quantities
    for layer in range(0, top_layer):
        sellers = structure.by_layer[layer]
        buyers = structure.by_layer[layer + 1]
        own_use = np.zeros(n)
        own = structure.own_below[buyers]
        valid = own >= 0
        np.add.at(own_use, own[valid], self_supply[buyers][valid])
        quantity[sellers] = flow[np.ix_(buyers, sellers)].sum(axis=0) + own_use[sellers]

    # -- money ---------------------------------------------------------------------------------
    revenue = np.zeros(n)
    input_cost = np.zeros(n)
    transfer_unit = np.zeros(n)
    for layer, ops in enumerate(structure.by_layer):
        if layer > 0:
            sellers = structure.by_layer[layer - 1]
            pay = flow[np.ix_(ops, sellers)] * price[sellers][None, :]
            own = structure.own_below[ops]
            own_unit = np.where(own >= 0, transfer_unit[np.maximum(own, 0)], 0.0)
            input_cost[ops] = pay.sum(axis=1) + self_supply[ops] * own_unit
            revenue[sellers] += pay.sum(axis=0)
            valid = own >= 0
            np.add.at(revenue, own[valid], (self_supply[ops] * own_unit)[valid])
        per = np.divide(input_cost[ops], quantity[ops], out=np.zeros(len(ops)), where=quantity[ops] > _EPS)
        per = np.where(quantity[ops] > _EPS, per, input_unit[ops])
        transfer_unit[ops] = unit_cost[ops] + per
    revenue[top] += price[top] * quantity[top]
    variable_cost = unit_cost * quantity
    gross = revenue - input_cost - variable_cost
    final_spend = float((price[top] * quantity[top]).sum())
    lost = float(final_demand[top].sum() - quantity[top].sum())
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
        lost_demand=max(lost, 0.0),
        final_spend=final_spend,
        outside_share=outside_share,
    )
