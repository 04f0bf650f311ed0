"""Market clearing, written once: plain loops over arrays, compiled by numba or not.

Every rule of the clearing (``docs/MODEL.md`` sections 4 to 8) is one function here:
supplier choice (:func:`choice_weights`), prices bottom-up (:func:`_prices`, entry
:func:`resolve_prices_kernel`), final demand (:func:`logit_demand_kernel`,
:func:`linear_demand_kernel`, :func:`cournot_price_kernel`), rationing of orders with
spillover (:func:`_ration_orders`), one clearing's four passes (:func:`_clear_once`), and
the self-consistency re-clears around it (:func:`clear_kernel`). They are written in the
subset of Python numba compiles (no Python objects, plain loops: per-layer work on small
matrices, where numpy's per-call overhead would dominate the arithmetic) and marked
:func:`stackgame.environment.jit.jitable`: as written they are ordinary Python, the
readable reference the tests run; :func:`stackgame.environment.jit.compiled` runs them
compiled. :mod:`stackgame.environment.market` holds the data types and the wrappers.

Coordinates: operations are sorted by layer (``Structure._order``: sorted position to
caller's index) so that layer ``k`` is the slice ``bounds[k]:bounds[k + 1]``; the entry
points take and return arrays in the caller's order. ``own_local[i]`` is sorted
operation ``i``'s own firm's operation in the layer below, as a position local to that
layer (``-1``: none).
"""

from __future__ import annotations

import math

import numpy as np
from stackgame.environment.jit import jitable

_EPS = 1e-12
_SHORT = 1e-9


@jitable
def pair_weights(
    price: np.ndarray,
    quality: np.ndarray,
    cap: np.ndarray,
    lockp: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    r0: int,
    r1: int,
    slo: int,
    ns: int,
    mu: float,
    w: np.ndarray,
    copied: np.ndarray,
    rep: np.ndarray,
    src: np.ndarray,
    lay_out: bool,
) -> None:
    """Supplier choice: logit weights of buyers ``r0:r1`` over their permitted sellers.

    ``w_bs = exp(u_bs) / sum_k exp(u_bk)`` with
    ``u_bs = (q_s + lock_bs - p_s / pbar) / mu`` over the sellers ``b`` may buy from that
    have capacity, where ``pbar`` is the mean price of the ``ns`` sellers ``slo:slo + ns``
    with capacity: price enters relative to the layer's price level (McFadden's
    conditional logit, with a switching cost as in Klemperer 1995; ``docs/MODEL.md`` 5.1).
    ``price``, ``quality``, ``cap`` are in sorted coordinates. The pairs are held per
    buyer (compressed rows): buyer ``r``'s permitted sellers are ``slo + cols[p]`` for
    ``p`` in ``rows[r]:rows[r + 1]``, in increasing order, with the switching cost
    ``lockp[p]``; its weights go to ``w[p]``. A permitted seller without capacity gets
    weight 0; a buyer with none with capacity gets zeros. Each sum runs over a buyer's
    sellers in increasing order, as over a dense row (the pairs left out would add exact
    zeros), so the weights are those of the dense rule bit for bit. ``copied[r - r0]`` is
    set where buyer ``r``'s sellers and utilities are those of the last buyer whose
    weights were computed (its weights are a copy of them), else cleared. ``rep`` (per
    buyer, or empty: not known) flags the buyers whose sellers and switching costs are
    those of the buyer just before them in the layer (:func:`repeat_rows`): their
    utilities are the same numbers made the same way, so their weights are copied from
    that buyer's without a utility made; without the flag a buyer's pairs are compared
    with the last computed buyer's, seller and switching cost, and a utility is made
    only from the first pair that differs (a copied weight is the one that computing it
    again would give: the same utilities in, the same weights out). ``src[r - r0]`` is
    the first pair of the row that holds buyer ``r``'s weights: its own, or the last
    computed buyer's when copied. Without ``lay_out`` a copied row's weights are not
    written at its own pairs (its readers take them at ``src``: on the all-pairs stack
    nearly every buyer of a layer is a copy, and writing and reading the copies moved
    3 MB a round at 1,000 firms for nothing).
    """
    n_live = 0
    psum = 0.0
    for j in range(ns):
        if cap[slo + j] > _EPS:
            n_live += 1
            psum += price[slo + j]
    pbar = 1.0
    if n_live > 0:
        pbar = psum / n_live
        if pbar <= _EPS:
            pbar = 1.0
    # a buyer whose sellers and utilities equal the last computed buyer's gets its weights
    # copied: the same numbers in, the same out (most buyers of a layer face the same
    # sellers on the same terms; the exponentials are most of the cost)
    last_u = np.empty(max(ns, 1))
    base = np.empty(max(ns, 1))  # (each seller's q_s - p_s / pbar, the same for every buyer)
    for j in range(ns):
        base[j] = quality[slo + j] - price[slo + j] / pbar
    last_a = -1
    last_len = -1
    known = rep.shape[0] > 0
    for r in range(r0, r1):
        a = rows[r]
        b = rows[r + 1]
        if known and r > r0 and last_a >= 0 and rep[r]:  # the buyer before's weights
            if lay_out:
                d = a - rows[r - 1]
                for p in range(a, b):
                    w[p] = w[p - d]
            copied[r - r0] = True
            src[r - r0] = last_a  # (the buyer before's are the last computed buyer's)
            continue
        top = -np.inf
        same = last_a >= 0 and b - a == last_len
        # one pass: while the row's sellers and switching costs match the last computed
        # row's (so do its utilities), its weights are copied as they come; at the first
        # difference the utilities copied so far (that row's) are laid out and the rest
        # of the row computed
        for p in range(a, b):
            j = cols[p]
            if same:
                q0 = last_a + p - a
                if cols[q0] == j and lockp[p] == lockp[q0]:
                    if lay_out:
                        w[p] = w[q0]
                    continue
            if cap[slo + j] > _EPS:
                u = (base[j] + lockp[p]) / mu
            else:
                u = -np.inf
            if same:
                if cols[last_a + p - a] == j and u == last_u[p - a]:
                    if lay_out:
                        w[p] = w[last_a + p - a]
                    continue
                same = False
                for q in range(a, p):
                    x = last_u[q - a]
                    w[q] = x
                    if x > top:
                        top = x
            if u > top:
                top = u
            w[p] = u
        copied[r - r0] = same
        if same:
            src[r - r0] = last_a
            continue
        src[r - r0] = a
        for p in range(a, b):
            last_u[p - a] = w[p]
        last_a = a
        last_len = b - a
        if not math.isfinite(top):
            top = 0.0
        total = 0.0
        for p in range(a, b):
            e = math.exp(w[p] - top)
            w[p] = e
            total += e
        if total <= 0:
            total = 1.0
        for p in range(a, b):
            w[p] = w[p] / total


@jitable
def block_pairs(
    allowed: np.ndarray, order: np.ndarray, lo: int, hi: int, slo: int
) -> tuple[np.ndarray, np.ndarray]:
    """The permitted pairs of buyers ``lo:hi`` over sellers ``slo:lo`` as compressed rows.

    ``allowed`` in the caller's coordinates (``order``: sorted position to caller's index).
    Returns ``rows`` (``nb + 1``: buyer ``i``'s pairs are ``rows[i]:rows[i + 1]``) and
    ``cols`` (each pair's seller as a position local to the sellers' layer, increasing
    within a row): the order in which a dense loop over the block meets them.
    """
    nb = hi - lo
    ns = lo - slo
    rows = np.zeros(nb + 1, dtype=np.int64)
    count = 0
    for i in range(nb):
        ob = order[lo + i]
        for j in range(ns):
            if allowed[ob, order[slo + j]]:
                count += 1
        rows[i + 1] = count
    cols = np.empty(count, dtype=np.int64)
    p = 0
    for i in range(nb):
        ob = order[lo + i]
        for j in range(ns):
            if allowed[ob, order[slo + j]]:
                cols[p] = j
                p += 1
    return rows, cols


@jitable
def _row_repeats(cols: np.ndarray, lockp: np.ndarray, a: int, b: int, d: int) -> bool:
    """Whether pairs ``a..b`` repeat the ``d`` pairs before them: same sellers, equal costs."""
    for p in range(a, b):
        if cols[p] != cols[p - d] or not lockp[p] == lockp[p - d]:
            return False
    return True


@jitable
def pair_rows_kernel(
    order: np.ndarray, bounds: np.ndarray, allowed: np.ndarray, lock: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every layer's permitted pairs as compressed rows (``Structure.pair_rows``).

    ``allowed`` and ``lock`` ``[n, n]`` in the caller's coordinates, ``order`` sorted
    position to caller's index, layer ``k`` at sorted positions ``bounds[k]:bounds[k + 1]``.
    Returns ``rows`` (``n + 1``: the buyer at sorted position ``i`` has pairs
    ``rows[i]:rows[i + 1]``, none in layer 0), ``cols`` (each pair's seller local to the
    layer below, ascending within a row; 32-bit: every pass over the pairs reads them),
    ``pairs`` (``[2, m]``: buyer and seller, caller's indices), each pair's ``lock``, and
    :func:`repeat_rows` of them, each row compared with the one before as it is written
    (not in a pass of its own over the pairs).
    """
    n = order.shape[0]
    rows = np.zeros(n + 1, dtype=np.int64)
    count = 0
    for k in range(bounds.shape[0] - 1):
        for i in range(bounds[k], bounds[k + 1]):
            if k > 0:
                ob = order[i]
                for j in range(bounds[k - 1], bounds[k]):
                    if allowed[ob, order[j]]:
                        count += 1
            rows[i + 1] = count
    cols = np.empty(count, dtype=np.int32)  # (half the bytes a pass over the pairs reads)
    pairs = np.empty((2, count), dtype=np.int64)
    lockp = np.empty(count)
    rep = np.zeros(n, dtype=np.bool_)
    p = 0
    for k in range(1, bounds.shape[0] - 1):
        slo = bounds[k - 1]
        for i in range(bounds[k], bounds[k + 1]):
            ob = order[i]
            for j in range(slo, bounds[k]):
                os_ = order[j]
                if allowed[ob, os_]:
                    cols[p] = j - slo
                    pairs[0, p] = ob
                    pairs[1, p] = os_
                    lockp[p] = lock[ob, os_]
                    p += 1
            # repeat_rows's test, on the row just written and the one before
            a = rows[i]
            d = a - rows[i - 1]
            if i > bounds[k] and p - a == d:
                rep[i] = _row_repeats(cols, lockp, a, p, d)
    return rows, cols, pairs, lockp, rep


@jitable
def repeat_rows(
    bounds: np.ndarray, rows: np.ndarray, cols: np.ndarray, lockp: np.ndarray
) -> np.ndarray:
    """Per sorted position, whether that buyer's pairs repeat the buyer's just before it.

    ``rows``, ``cols``, ``lockp`` as in :func:`pair_weights`. Set where the buyer at
    position ``i`` and the one at ``i - 1`` are in the same layer (above the first) and
    have as many pairs, with the same sellers and equal switching costs (``==``) pair by
    pair: their utilities are then the same numbers (:func:`pair_weights` copies the
    weights). On the all-pairs stack of the benchmark most buyers of a layer repeat.
    """
    n = rows.shape[0] - 1
    rep = np.zeros(n, dtype=np.bool_)
    for k in range(1, bounds.shape[0] - 1):
        for i in range(bounds[k] + 1, bounds[k + 1]):
            a = rows[i]
            b = rows[i + 1]
            d = a - rows[i - 1]
            if b - a != d:
                continue
            rep[i] = _row_repeats(cols, lockp, a, b, d)
    return rep


@jitable
def choice_weights(
    price: np.ndarray,
    quality: np.ndarray,
    cap: np.ndarray,
    lock: np.ndarray,
    allowed: np.ndarray,
    order: np.ndarray,
    lo: int,
    hi: int,
    slo: int,
    mu: float,
    w: np.ndarray,
) -> None:
    """Supplier choice as a dense block: weights of buyers ``lo:hi`` over sellers ``slo:lo``.

    The rule is :func:`pair_weights`, over the pairs ``allowed`` permits
    (:func:`block_pairs`); ``w[b, s]`` is 0 where ``b`` may not buy from ``s``.
    ``price``, ``quality``, ``cap`` are in sorted coordinates, ``lock`` and ``allowed`` in
    the caller's (``order`` maps one to the other).
    """
    nb = hi - lo
    ns = lo - slo
    rows, cols = block_pairs(allowed, order, lo, hi, slo)
    lockp = np.empty(cols.shape[0])
    for i in range(nb):
        ob = order[lo + i]
        for p in range(rows[i], rows[i + 1]):
            lockp[p] = lock[ob, order[slo + cols[p]]]
    wp = np.empty(cols.shape[0])
    copied = np.empty(nb, dtype=np.bool_)
    pair_weights(
        price, quality, cap, lockp, rows, cols, 0, nb, slo, ns, mu, wp, copied,
        np.zeros(0, dtype=np.bool_), np.empty(nb, dtype=np.int64), True,
    )  # fmt: skip
    for i in range(nb):
        for j in range(ns):
            w[i, j] = 0.0
        for p in range(rows[i], rows[i + 1]):
            w[i, cols[p]] = wp[p]


@jitable
def _prices(
    n_layers: int,
    bounds: np.ndarray,
    own_local: np.ndarray,
    coef: np.ndarray,
    choice_mu: np.ndarray,
    unit_cost: np.ndarray,
    markup: np.ndarray,
    quality: np.ndarray,
    lockp: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    capacity: np.ndarray,
    share: np.ndarray,
    per_unit: bool,
    has_fixed: bool,
    fixed_top: float,
    mixp: np.ndarray,
    has_mix: bool,
    wp: np.ndarray,
    price: np.ndarray,
    input_unit: np.ndarray,
    basis: np.ndarray,
    infra: np.ndarray,
    same: np.ndarray,
    rep: np.ndarray,
    src: np.ndarray,
    lay_out: bool,
) -> None:
    """Pass 1, bottom-up: prices and unit input costs; supplier weights into ``wp``.

    Per operation ``i`` in layer ``l`` (``docs/MODEL.md`` 4.2-4.3)::

        x_i = sigma_i (c_o + a_{l-1} x_o) + (1 - sigma_i) sum_s w_is p_s
        p_i = (c_i + a_l x_i)(1 + m_i)     (ad valorem)
        p_i =  c_i + a_l x_i + m_i         (per unit)

    floored at zero, where ``o`` is the firm's own operation below (self-supply at cost,
    share ``sigma_i = share[i]``; 1 when the buyer has no market seller) and ``w_is`` the
    :func:`pair_weights`. The buyer-seller pairs are compressed rows in sorted
    coordinates (``rows``, ``cols`` as in :func:`pair_weights`: buyer ``i``'s permitted
    sellers are ``slo + cols[p]`` for ``p`` in ``rows[i]:rows[i + 1]``); ``lockp``,
    ``mixp`` and the weights ``wp`` are per pair. With ``has_mix``, a buyer's expected
    purchase shares ``mixp`` restricted to the sellers it can still use replace ``w_is`` in
    the expected price where they are not all zero. With ``has_fixed`` the top layer's
    price is ``fixed_top`` (a Cournot market-clearing price). ``basis[i]``
    scales the input cost in the price (1 in a flow market; in a capital-goods layer the
    user cost of capital ``r + delta_i``: ``x_i`` there is the capital good's price, per
    unit of capacity, and ``a_l x_i basis_i`` its cost per round of use, ``docs/MODEL.md``
    15.2). ``infra[i]`` is the capital-goods layer's infrastructure cost per unit of
    capacity (bought outside the stack), added to ``a_l x_i`` before the basis: the user
    cost is ``(a_l x_i + phi_l) basis_i`` (0 in a flow market). ``same[i]`` is set where
    buyer ``i``'s weights were copied from the last buyer of its layer computed before it
    (:func:`pair_weights`' ``copied``; cleared elsewhere), for the rationing's sums.
    ``rep``: :func:`pair_weights`' (the buyers repeating the one before, or empty).
    ``src[i]``: the first pair of the row holding buyer ``i``'s weights (:func:`pair_weights`,
    which writes a copied row's weights at its own pairs only with ``lay_out``).
    """
    n = price.shape[0]
    for i in range(n):
        price[i] = 0.0
        input_unit[i] = 0.0
        same[i] = False
    for k in range(n_layers):
        lo = bounds[k]
        hi = bounds[k + 1]
        if k > 0:
            slo = bounds[k - 1]
            nb = hi - lo
            ns = lo - slo
            copied = np.empty(nb, dtype=np.bool_)
            held = np.empty(nb, dtype=np.int64)
            pair_weights(
                price, quality, capacity, lockp, rows, cols, lo, hi, slo, ns, choice_mu[k - 1],
                wp, copied, rep, held, lay_out,
            )  # fmt: skip
            market_last = 0.0
            wrow_last = 0.0
            stashed = False  # (the next buyer's mix sums, made with this one's)
            total2 = 0.0
            dot2 = 0.0
            for i in range(nb):
                same[lo + i] = copied[i]
                src[lo + i] = held[i]
                if copied[i]:  # the same weights on the same sellers: the same sums
                    market = market_last
                    wrow = wrow_last
                else:
                    market = 0.0
                    wrow = 0.0
                    for p in range(rows[lo + i], rows[lo + i + 1]):
                        market += wp[p] * price[slo + cols[p]]
                        wrow += wp[p]
                    market_last = market
                    wrow_last = wrow
                if has_mix and stashed:
                    total = total2
                    dot = dot2
                    stashed = False
                elif has_mix:
                    total = 0.0
                    dot = 0.0
                    a0 = rows[lo + i]
                    b0 = rows[lo + i + 1]
                    off = held[i] - a0  # (the weights' row: its own or copied)
                    if i + 1 < nb and copied[i + 1] and rows[lo + i + 2] - b0 == b0 - a0:
                        # the next buyer has these weights on these sellers: both buyers'
                        # sums side by side, each in its own order (as _ration_pairs' fill)
                        d = b0 - a0
                        total2 = 0.0
                        dot2 = 0.0
                        for p in range(a0, b0):
                            if wp[p + off] > 0:
                                pr = price[slo + cols[p]]
                                m = mixp[p]
                                m2 = mixp[p + d]
                                total += m
                                dot += m * pr
                                total2 += m2
                                dot2 += m2 * pr
                        stashed = True
                    else:
                        for p in range(a0, b0):
                            if wp[p + off] > 0:
                                m = mixp[p]
                                total += m
                                dot += m * price[slo + cols[p]]
                if has_mix:
                    if total > _EPS:
                        market = dot / total
                own = own_local[lo + i]
                if own >= 0:
                    idx = own + slo
                    own_cost = unit_cost[idx] + input_unit[idx]
                    s = share[lo + i] if wrow > 0 else 1.0
                    blended = s * own_cost + (1.0 - s) * market
                else:
                    blended = market
                input_unit[lo + i] = (coef[k] * blended + infra[lo + i]) * basis[lo + i]
        for i in range(lo, hi):
            cost = unit_cost[i] + input_unit[i]
            if per_unit:
                price[i] = cost + markup[i]
            else:
                price[i] = cost * (1.0 + markup[i])
    if has_fixed and n_layers > 0:
        for i in range(bounds[n_layers - 1], bounds[n_layers]):
            price[i] = fixed_top
    for i in range(n):
        if price[i] < 0.0:
            price[i] = 0.0


@jitable
def logit_demand_kernel(
    price: np.ndarray,
    quality: np.ndarray,
    capacity: np.ndarray,
    live: np.ndarray,
    market_size: float,
    mu: float,
    outside_quality: float,
    q: np.ndarray,
    want: np.ndarray,
) -> float:
    """Logit final demand with an outside good, rationed by capacity; the outside share.

    ``s_j = exp((a_j - p_j)/mu) / (sum_k exp((a_k - p_k)/mu) + exp(a0/mu))`` and
    ``want_j = M s_j`` over the options on offer (``live``) (Calvano, Calzolari, Denicolo
    and Pastorello 2020, eq. 1; ``docs/MODEL.md`` 6.1). When ``want_j`` exceeds capacity
    the excess consumers re-choose among the options with spare capacity and the outside
    good in proportion to their logit weights (independence of irrelevant alternatives),
    so part of the excess is lost; repeated until no option is over capacity (6.4). An
    option on offer with no capacity rations all its consumers. Writes the served
    quantities into ``q``, the unconstrained demand into ``want``; returns the share
    choosing the outside good at these prices, before rationing.
    """
    m = price.shape[0]
    v0 = outside_quality / mu
    top = v0
    v = np.empty(m)
    for j in range(m):
        v[j] = (quality[j] - price[j]) / mu
        if live[j] and v[j] > top:
            top = v[j]
    e = np.zeros(m)
    total = 0.0
    for j in range(m):
        if live[j]:
            e[j] = math.exp(min(v[j] - top, 0.0))
        total += e[j]
    e0 = math.exp(v0 - top)
    total = total + e0
    any_over = False
    over = np.zeros(m, dtype=np.bool_)
    for j in range(m):
        want[j] = market_size * e[j] / total
        q[j] = want[j]
        if q[j] > capacity[j] + _EPS:
            over[j] = True
            any_over = True
    if any_over:
        open_ = live.copy()
        for _ in range(m + 1):
            excess = 0.0
            for j in range(m):
                if over[j]:
                    excess += q[j] - capacity[j]
                    q[j] = capacity[j]
                    open_[j] = False
            weight = 0.0
            for j in range(m):
                if open_[j]:
                    weight += e[j]
            weight += e0
            any_over = False
            for j in range(m):
                over[j] = False
                if open_[j]:
                    q[j] += excess * e[j] / weight
                    if q[j] > capacity[j] + _EPS:
                        over[j] = True
                        any_over = True
            if not any_over:
                break
    return e0 / total


@jitable
def linear_demand_kernel(
    price: np.ndarray,
    capacity: np.ndarray,
    live: np.ndarray,
    intercept: float,
    slope: float,
    q: np.ndarray,
    want: np.ndarray,
) -> None:
    """Homogeneous good with inverse demand ``P = A - B Q``, cheapest sellers first.

    Consumers buy from the lowest price; sellers at the same price share equally, with
    spillover of a capacity-constrained seller's excess (efficient rationing: consumers
    with the highest willingness to pay are served first, Tirole 1988, ch. 5). Demand at
    price level ``p_k`` is ``max(0, (A - p_k)/B)`` less what cheaper sellers served
    (``docs/MODEL.md`` 6.2). Only sellers on offer (``live``) are in the market. Writes the
    served quantities into ``q`` and into ``want`` the residual demand each seller faced at
    its price level, split equally among the sellers at that level.
    """
    m = price.shape[0]
    for j in range(m):
        q[j] = 0.0
        want[j] = 0.0
    n_live = 0
    for j in range(m):
        if live[j]:
            n_live += 1
    levels = np.empty(n_live)
    c = 0
    for j in range(m):
        if live[j]:
            levels[c] = price[j]
            c += 1
    levels = np.unique(levels)
    served = 0.0
    for level in levels:
        g = 0
        for j in range(m):
            if live[j] and price[j] == level:
                g += 1
        group = np.empty(g, dtype=np.int64)
        c = 0
        for j in range(m):
            if live[j] and price[j] == level:
                group[c] = j
                c += 1
        remaining = max(0.0, (intercept - level) / slope - served)
        if remaining <= 0.0:
            break
        alloc = np.zeros(g)
        active = np.ones(g, dtype=np.bool_)
        for t in range(g):
            want[group[t]] = remaining / g
        left = remaining
        n_active = g
        while left > _EPS and n_active > 0:
            share = left / n_active
            took = 0.0
            for t in range(g):
                if active[t]:
                    take = min(share, capacity[group[t]] - alloc[t])
                    alloc[t] += take
                    took += take
            left -= took
            n_active = 0
            for t in range(g):
                active[t] = active[t] and alloc[t] < capacity[group[t]] - _EPS
                if active[t]:
                    n_active += 1
        total = 0.0
        for t in range(g):
            q[group[t]] = alloc[t]
            total += alloc[t]
        served += total


@jitable
def cournot_price_kernel(
    offer: np.ndarray, capacity: np.ndarray, lo: int, hi: int, intercept: float, slope: float
) -> float:
    """Cournot market-clearing price of offers ``lo:hi``: ``P = max(0, A - B sum_j x_j)``.

    Each seller's quantity ``x_j = min(max(offer_j, 0), K_j)`` is its offer capped by its
    capacity (``docs/MODEL.md`` 6.3); every seller sells ``x_j`` at ``P``.
    """
    total = 0.0
    for j in range(lo, hi):
        total += min(max(offer[j], 0.0), capacity[j])
    return max(0.0, intercept - slope * total)


@jitable
def _ration_pairs(
    orders: np.ndarray,
    weights: np.ndarray,
    room_in: np.ndarray,
    limit: int,
    filled: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    r0: int,
    r1: int,
    same: np.ndarray,
    asked: np.ndarray,
) -> None:
    """Fill buyers' orders from sellers with limited room; spill what a full seller refuses.

    Buyers ``r0:r1`` with their pairs as compressed rows (``rows``, ``cols`` as in
    :func:`pair_weights`, sellers local to ``room_in``): ``orders[p]`` units asked of the
    pair's seller, ``weights[p]`` the buyer's logit weight (for re-splitting),
    ``room_in[s]`` capacity left. A seller asked for more than its room fills every order
    in the same proportion (proportional rationing); each buyer re-splits its unfilled
    units over its sellers that still have room, in proportion to its weights
    (``docs/MODEL.md`` 5.3). Each round fills at least one more seller, so ``ns + 1``
    rounds (``limit``) place every order that can be placed. Writes ``filled[p]``; what a
    buyer could not place is its row's shortfall. A seller's column sums run over its
    buyers in increasing order, a buyer's over its sellers in increasing order, as over a
    dense block (the pairs left out would add exact zeros). ``same[r - r0]``: buyer
    ``r``'s sellers and weights are those of the last buyer before it without the flag
    (:func:`pair_weights`' ``copied``), so its re-split's weight sum is that buyer's (the
    same additions). ``orders`` may be ``filled`` itself (it is read before it is written).
    ``asked``: each seller's total order (the column sums of ``orders``, over its buyers
    ascending) when the caller has it, else empty (summed here).
    """
    ns = room_in.shape[0]
    p0 = rows[r0]
    p1 = rows[r1]
    # a precondition, not a case: no room is zero room (a negative one would divide a
    # zero order by itself; the model never passes one, a hand-built call may)
    room = room_in.copy()
    for j in range(ns):
        if room[j] < 0.0:
            room[j] = 0.0
    if asked.shape[0] == ns:
        t = asked.copy()
    else:
        t = np.zeros(ns)
        for p in range(p0, p1):
            t[cols[p]] += orders[p]
    fits = True
    for j in range(ns):
        if not t[j] <= room[j] + _EPS:
            fits = False
    if fits:
        for p in range(p0, p1):
            filled[p] = orders[p]
        return
    ask = np.empty(p1 - p0)  # (what is asked after the first round: the re-split)
    frac = np.empty(ns)  # (the last computed row's re-split shares, per pair of the row)
    ratio = np.empty(ns)
    short = np.empty(r1 - r0)
    col = np.empty(ns)
    # each round: the sellers' rationing ratios from ``t``, the column sums of what is
    # asked (at first the orders' sums above, then those of the re-split, added as it is
    # made); one pass fills, sums each seller's deliveries and each buyer's shortfall;
    # one pass re-splits. (Each sum in the order of the separate passes over a dense
    # block: a seller's over buyers ascending, a buyer's over sellers ascending.) The
    # first round reads the orders as they are and fills from zero (``0.0 + got``: what
    # adding to a cleared entry gives), before it writes over them.
    first = True
    for _ in range(limit):
        for j in range(ns):
            ratio[j] = room[j] / t[j] if t[j] > room[j] else 1.0
            col[j] = 0.0
        worst = 0.0
        r = r0
        while r < r1:
            a0 = rows[r]
            b0 = rows[r + 1]
            if r + 1 < r1 and same[r + 1 - r0] and rows[r + 2] - b0 == b0 - a0:
                # two buyers on the same sellers (the second's weights copied), side by
                # side: each shortfall is its own sum in its own order, and each
                # seller's column takes the first buyer's units, then the second's (two
                # running sums at once: the additions' latency, not the bytes, bounds it)
                d = b0 - a0
                s = 0.0
                s2 = 0.0
                if first:
                    for p in range(a0, b0):
                        j = cols[p]
                        x = ratio[j]
                        a = orders[p]
                        a2 = orders[p + d]
                        got = a * x
                        got2 = a2 * x
                        filled[p] = 0.0 + got
                        filled[p + d] = 0.0 + got2
                        col[j] += got
                        col[j] += got2
                        s += a - got
                        s2 += a2 - got2
                else:
                    for p in range(a0, b0):
                        j = cols[p]
                        x = ratio[j]
                        a = ask[p - p0]
                        a2 = ask[p + d - p0]
                        got = a * x
                        got2 = a2 * x
                        filled[p] += got
                        filled[p + d] += got2
                        col[j] += got
                        col[j] += got2
                        s += a - got
                        s2 += a2 - got2
                short[r - r0] = s
                short[r + 1 - r0] = s2
                if s > worst:
                    worst = s
                if s2 > worst:
                    worst = s2
                r += 2
                continue
            s = 0.0
            if first:
                for p in range(a0, b0):
                    a = orders[p]
                    got = a * ratio[cols[p]]
                    filled[p] = 0.0 + got
                    col[cols[p]] += got
                    s += a - got
            else:
                for p in range(a0, b0):
                    a = ask[p - p0]
                    got = a * ratio[cols[p]]
                    filled[p] += got
                    col[cols[p]] += got
                    s += a - got
            short[r - r0] = s
            if s > worst:
                worst = s
            r += 1
        first = False
        for j in range(ns):
            room[j] = max(room[j] - col[j], 0.0)
        if worst <= _EPS:
            return
        worst = 0.0
        for j in range(ns):
            t[j] = 0.0
        wsum = 0.0
        for r in range(r0, r1):
            copy = same[r - r0]  # (a copied row's sum is the last computed row's)
            if not copy:
                wsum = 0.0
                for p in range(rows[r], rows[r + 1]):
                    if room[cols[p]] > _EPS:
                        wsum += weights[p]
            if wsum > 0:
                sh = short[r - r0]
                if sh > worst:
                    worst = sh
                a0 = rows[r]
                if copy:  # the same weights, room and sum: the last computed row's shares
                    for p in range(a0, rows[r + 1]):
                        a = frac[p - a0] * sh
                        ask[p - p0] = a
                        t[cols[p]] += a
                else:  # ``wij / wsum * short``, the share ``wij / wsum`` kept for copies
                    for p in range(a0, rows[r + 1]):
                        wij = weights[p] if room[cols[p]] > _EPS else 0.0
                        f = wij / wsum
                        frac[p - a0] = f
                        a = f * sh
                        ask[p - p0] = a
                        t[cols[p]] += a
            else:
                for p in range(rows[r], rows[r + 1]):
                    ask[p - p0] = 0.0
        if worst <= _EPS:
            break


@jitable
def _ration_orders(
    orders: np.ndarray, weights: np.ndarray, room_in: np.ndarray, limit: int, filled: np.ndarray
) -> None:
    """:func:`_ration_pairs` over a dense block: every buyer ``b`` may order from every ``s``.

    ``orders[b, s]``, ``weights[b, s]``, ``filled[b, s]``; ``room_in[s]``.
    """
    nb, ns = orders.shape
    rows = np.empty(nb + 1, dtype=np.int64)
    cols = np.empty(nb * ns, dtype=np.int64)
    for i in range(nb + 1):
        rows[i] = i * ns
    for i in range(nb):
        for j in range(ns):
            cols[i * ns + j] = j
    flat = np.empty(nb * ns)
    _ration_pairs(
        np.ascontiguousarray(orders).reshape(nb * ns),
        np.ascontiguousarray(weights).reshape(nb * ns),
        room_in, limit, flat, rows, cols, 0, nb, np.zeros(nb, dtype=np.bool_), np.zeros(0),
    )  # fmt: skip
    for i in range(nb):
        for j in range(ns):
            filled[i, j] = flat[i * ns + j]


@jitable
def _clear_once(
    n_layers: int,
    bounds: np.ndarray,
    own_local: np.ndarray,
    coef: np.ndarray,
    unit_cost: np.ndarray,
    quality: np.ndarray,
    offer: np.ndarray,
    capacity: np.ndarray,
    nominal: np.ndarray,
    cournot: bool,
    linear: bool,
    market_size: float,
    mu: float,
    outside_quality: float,
    intercept: float,
    slope: float,
    price: np.ndarray,
    input_unit: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    wp: np.ndarray,
    limit_given: int,
    has_reserve: bool,
    reserve: np.ndarray,
    fp: np.ndarray,
    self_supply: np.ndarray,
    quantity: np.ndarray,
    revenue: np.ndarray,
    input_cost: np.ndarray,
    unmet: np.ndarray,
    final_demand: np.ndarray,
    internal: np.ndarray,
    take_all: np.ndarray,
    capital_layer: np.ndarray,
    invest: np.ndarray,
    cp: np.ndarray,
    capex: np.ndarray,
    infra: np.ndarray,
    same: np.ndarray,
    src: np.ndarray,
) -> tuple[float, float, float]:
    """One clearing in sorted coordinates: final demand, derived demand, feasibility, money.

    Pass 2 (final demand at the top layer: Cournot offers, :func:`linear_demand_kernel`
    or :func:`logit_demand_kernel`), pass 3 (derived demand top-down: each buyer needs
    ``a_l`` units of input per unit of output, supplies itself first from its own
    operation below, keeps its ``reserve`` allocation on a re-clear, and splits the rest
    over its sellers by the weights, :func:`_ration_orders`), pass 4 (feasibility
    bottom-up: a seller short of input delivers the share ``r = received / needed`` of
    its plan; money: ``payments[b, s] = flow[b, s] p_s``, self-supply transferred at the
    supplier's unit cost) (``docs/MODEL.md`` 5-7). The buyer-seller pairs are compressed
    rows (``rows``, ``cols`` as in :func:`pair_weights`); weights ``wp`` and flows ``fp``
    are per pair.

    ``capacity`` is this attempt's effective capacity, ``nominal`` the caller's: a top
    operation with nominal capacity stays in the consumers' choice set, so consumers it
    cannot serve for lack of input count as lost demand, not as choosing the outside good.

    The buildout (``docs/MODEL.md`` 15, 17): in a layer with ``capital_layer[k]`` a
    buyer's need is its capital-goods orders ``invest`` (units), not its use; what it buys is
    its ``capex`` (not an input cost), and a shortfall leaves orders unfilled without
    cutting its output. ``cp`` (per pair, as ``fp``; empty when no contract delivers) holds
    contracted units a round: on a first attempt a buyer's orders go to its contracted
    sellers first, up to the contract, after its own operation below.

    Returns ``(lost_demand, final_spend, outside_share)``; ``reserve`` is the previous
    attempt's ``fp``; ``same`` flags the buyers whose weights :func:`_prices` copied from
    the last buyer computed before them (for the rationing's weight sums), ``src`` the
    first pair of the row holding each buyer's weights (a copied buyer's need not be
    written at its own pairs; the rationing reads a copied row's weights not at all).
    """
    n = price.shape[0]
    t_lo = bounds[n_layers - 1]
    t_hi = bounds[n_layers]
    m = t_hi - t_lo
    for i in range(n):
        final_demand[i] = 0.0
        unmet[i] = 0.0
        self_supply[i] = 0.0
        revenue[i] = 0.0
        internal[i] = 0.0
        input_cost[i] = 0.0
        capex[i] = 0.0
    outside_share = 0.0
    # -- pass 2: final demand
    p_top = price[t_lo:t_hi]
    cap_top = capacity[t_lo:t_hi]
    offered = np.empty(m, dtype=np.bool_)
    any_offered = False
    for j in range(m):
        offered[j] = nominal[t_lo + j] > _EPS
        any_offered = any_offered or offered[j]
    q_top = np.zeros(m)
    want_top = np.zeros(m)
    wanted = 0.0
    if cournot:
        for j in range(m):
            x = max(offer[t_lo + j], 0.0)
            q_top[j] = min(x, cap_top[j])
            want_top[j] = min(x, nominal[t_lo + j])
            wanted += want_top[j]
    elif linear:
        linear_demand_kernel(p_top, cap_top, offered, intercept, slope, q_top, want_top)
        p_min = intercept
        if any_offered:
            p_min = np.inf
            for j in range(m):
                if offered[j] and p_top[j] < p_min:
                    p_min = p_top[j]
        wanted = max(0.0, (intercept - p_min) / slope)
    else:
        outside_share = logit_demand_kernel(
            p_top,
            quality[t_lo:t_hi],
            cap_top,
            offered,
            market_size,
            mu,
            outside_quality,
            q_top,
            want_top,
        )
        for j in range(m):
            wanted += want_top[j]
    for j in range(m):
        final_demand[t_lo + j] = want_top[j]
    # -- pass 3: derived demand, top-down
    used = np.zeros(n)
    for j in range(m):
        used[t_lo + j] = q_top[j]
    for i in range(n):
        take_all[i] = 0.0  # self-supply planned per buyer
    for k in range(n_layers - 1, 0, -1):
        lo = bounds[k]
        hi = bounds[k + 1]
        slo = bounds[k - 1]
        nb = hi - lo
        ns = lo - slo
        p0 = rows[lo]
        p1 = rows[hi]
        need = np.empty(nb)
        capital = capital_layer[k]
        for i in range(nb):
            need[i] = invest[lo + i] if capital else coef[k] * used[lo + i]
        room = capacity[slo:lo].copy()
        own_use = np.zeros(ns)
        rest = np.empty(nb)
        for i in range(nb):
            own = own_local[lo + i]
            if own >= 0:
                t = min(need[i], room[own])
                take_all[lo + i] = t
                room[own] -= t
                own_use[own] = t
                rest[i] = need[i] - t
            else:
                rest[i] = need[i]
        # per pair of the layer (held[p - p0]); every sum in the order of a dense block's
        # (only with a reserve or contracts: otherwise nothing is held)
        held = np.zeros(p1 - p0 if has_reserve or cp.shape[0] > 0 else 0)
        has_contract = False
        if not has_reserve and cp.shape[0] > 0:
            for i in range(nb):
                for p in range(rows[lo + i], rows[lo + i + 1]):
                    c = cp[p]
                    if c > 0.0:
                        j = cols[p]
                        t = min(c, rest[i], room[j])
                        if t > 0.0:
                            held[p - p0] = t
                            room[j] -= t
                            rest[i] -= t
                            has_contract = True
        if has_reserve:
            for i in range(nb):
                got = 0.0
                for p in range(rows[lo + i], rows[lo + i + 1]):
                    got += reserve[p]
                f = min(1.0, rest[i] / max(got, _EPS))
                for p in range(rows[lo + i], rows[lo + i + 1]):
                    held[p - p0] = reserve[p] * f
            col = np.zeros(ns)
            over = False
            for p in range(p0, p1):
                col[cols[p]] += held[p - p0]
            for j in range(ns):
                if col[j] > room[j]:
                    over = True
            if over:
                scale = np.empty(ns)
                for j in range(ns):
                    scale[j] = min(1.0, room[j] / max(col[j], _EPS))
                for p in range(p0, p1):
                    held[p - p0] = held[p - p0] * scale[cols[p]]
            for j in range(ns):
                col[j] = 0.0
            for p in range(p0, p1):
                col[cols[p]] += held[p - p0]
            for j in range(ns):
                room[j] = max(room[j] - col[j], 0.0)
            for i in range(nb):
                r = 0.0
                for p in range(rows[lo + i], rows[lo + i + 1]):
                    r += held[p - p0]
                rest[i] = max(rest[i] - r, 0.0)
        # the orders split by the weights, written where the flows go, with each seller's
        # total asked (over its buyers ascending, as _ration_pairs sums them) and each
        # buyer's total (over its sellers ascending, as the pass below sums its flows)
        t = np.zeros(ns)
        i = 0
        while i < nb:
            a0 = rows[lo + i]
            b0 = rows[lo + i + 1]
            off = src[lo + i] - a0  # (the weights' row: its own or copied)
            r = 0.0
            if i + 1 < nb and same[lo + i + 1] and rows[lo + i + 2] - b0 == b0 - a0:
                # two buyers on the same weights side by side (as _ration_pairs' fill)
                d = b0 - a0
                r2 = 0.0
                for p in range(a0, b0):
                    w = wp[p + off]
                    j = cols[p]
                    x = w * rest[i]
                    x2 = w * rest[i + 1]
                    fp[p] = x
                    fp[p + d] = x2
                    t[j] += x
                    t[j] += x2
                    r += x
                    r2 += x2
                unmet[lo + i] = rest[i] - r
                unmet[lo + i + 1] = rest[i + 1] - r2
                i += 2
                continue
            for p in range(a0, b0):
                x = wp[p + off] * rest[i]
                fp[p] = x
                t[cols[p]] += x
                r += x
            unmet[lo + i] = rest[i] - r
            i += 1
        fits = True
        for j in range(ns):
            if not t[j] <= (0.0 if room[j] < 0.0 else room[j]) + _EPS:
                fits = False
        add_held = has_reserve or has_contract
        if fits and not add_held:
            # every order fills as split (what _ration_pairs does when all fit): the
            # flows are the orders, each seller's units the total asked of it
            for j in range(ns):
                used[slo + j] = t[j] + own_use[j]
            continue
        if not fits:
            limit = ns + 1 if limit_given < 0 else limit_given
            _ration_pairs(
                fp[p0:p1], wp[p0:p1], room, limit, fp[p0:p1], rows[lo : hi + 1] - p0,
                cols[p0:p1], 0, nb, same[lo:hi], t,
            )  # fmt: skip
        col = np.zeros(ns)
        for i in range(nb):  # (one pass: the rationed units, then with what was held)
            r = 0.0
            for p in range(rows[lo + i], rows[lo + i + 1]):
                f = fp[p]
                r += f
                if add_held:
                    f = f + held[p - p0]
                    fp[p] = f
                col[cols[p]] += f
            unmet[lo + i] = rest[i] - r
        for j in range(ns):
            used[slo + j] = col[j] + own_use[j]
    # -- pass 4: feasibility, bottom-up, and money
    for i in range(n):
        quantity[i] = used[i]
    deliver = np.ones(n)
    transfer = unit_cost.copy()
    below_short = False
    for k in range(1, n_layers):
        lo = bounds[k]
        hi = bounds[k + 1]
        slo = bounds[k - 1]
        nb = hi - lo
        ns = lo - slo
        # one pass over the pairs: scaled by what their sellers could deliver, then each
        # seller's units and dollars (over its buyers ascending) and each buyer's (over
        # its sellers ascending), as the separate passes over a dense block added them
        col = np.zeros(ns)
        col_pay = np.zeros(ns)
        row_got = np.zeros(nb)
        row_pay = np.zeros(nb)
        i = 0
        while i < nb:
            a0 = rows[lo + i]
            b0 = rows[lo + i + 1]
            got = 0.0
            pay = 0.0
            if i + 1 < nb and same[lo + i + 1] and rows[lo + i + 2] - b0 == b0 - a0:
                # two buyers on the same sellers side by side (as in _ration_pairs' fill):
                # each row's sums in its own order, each seller's the first buyer's first
                d = b0 - a0
                got2 = 0.0
                pay2 = 0.0
                for p in range(a0, b0):
                    j = cols[p]
                    f = fp[p]
                    f2 = fp[p + d]
                    if below_short:
                        f = f * deliver[slo + j]
                        f2 = f2 * deliver[slo + j]
                        fp[p] = f
                        fp[p + d] = f2
                    x = f * price[slo + j]
                    x2 = f2 * price[slo + j]
                    col[j] += f
                    col[j] += f2
                    col_pay[j] += x
                    col_pay[j] += x2
                    got += f
                    pay += x
                    got2 += f2
                    pay2 += x2
                row_got[i] = got
                row_pay[i] = pay
                row_got[i + 1] = got2
                row_pay[i + 1] = pay2
                i += 2
                continue
            for p in range(a0, b0):
                j = cols[p]
                f = fp[p]
                if below_short:
                    f = f * deliver[slo + j]
                    fp[p] = f
                x = f * price[slo + j]
                col[j] += f
                col_pay[j] += x
                got += f
                pay += x
            row_got[i] = got
            row_pay[i] = pay
            i += 1
        own_use = np.zeros(ns)
        take = np.zeros(nb)
        own_unit = np.zeros(nb)
        for i in range(nb):
            own = own_local[lo + i]
            take[i] = take_all[lo + i]
            if own >= 0:
                if below_short:
                    take[i] *= deliver[slo + own]
                own_use[own] = take[i]
                own_unit[i] = transfer[slo + own]
        for j in range(ns):
            quantity[slo + j] = col[j] + own_use[j]
        below_short = False
        capital = capital_layer[k]
        for i in range(nb):
            got = row_got[i] + take[i]
            if capital:  # unfilled capital-goods orders do not cut this round's output
                unmet[lo + i] = max(invest[lo + i] - got, 0.0)
                continue
            need = coef[k] * used[lo + i]
            if need > got:
                below_short = True
        if capital:
            pass
        elif below_short:
            for i in range(nb):
                got = row_got[i] + take[i]
                need = coef[k] * used[lo + i]
                ratio = got / need if need > got else 1.0
                deliver[lo + i] = ratio
                quantity[lo + i] = used[lo + i] * ratio
                unmet[lo + i] = max(need - got, 0.0)
        else:
            for i in range(nb):
                unmet[lo + i] = 0.0
        for i in range(nb):
            self_supply[lo + i] = take[i]
        for j in range(ns):
            internal[slo + j] = own_use[j] * transfer[slo + j]
            revenue[slo + j] += col_pay[j] + internal[slo + j]
        for i in range(nb):
            r = row_pay[i]
            if capital:  # capital goods bought: capitalised, priced at their user cost
                # plus the infrastructure bought outside the stack with the units received
                got = take[i]
                for p in range(rows[lo + i], rows[lo + i + 1]):
                    got += fp[p]
                capex[lo + i] = r + take[i] * own_unit[i] + infra[lo + i] * got / coef[k]
                transfer[lo + i] = unit_cost[lo + i] + input_unit[lo + i]
                continue
            input_cost[lo + i] = r + take[i] * own_unit[i]
            q_k = quantity[lo + i]
            per = input_cost[lo + i] / q_k if q_k > _EPS else input_unit[lo + i]
            transfer[lo + i] = unit_cost[lo + i] + per
    final_spend = 0.0
    q_sum = 0.0
    for j in range(m):
        x = p_top[j] * quantity[t_lo + j]
        final_spend += x
        revenue[t_lo + j] += x
        q_sum += quantity[t_lo + j]
    lost = wanted - q_sum
    return max(lost, 0.0), final_spend, outside_share


@jitable
def _gather(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` in the kernel's layer-sorted order: ``out[i] = values[order[i]]``."""
    out = np.empty(order.shape[0])
    for i in range(order.shape[0]):
        out[i] = values[order[i]]
    return out


@jitable
def _pair_index(rows: np.ndarray, cols: np.ndarray, b: int, j: int) -> int:
    """The pair of buyer ``b`` (sorted position) and seller ``j`` (local), or -1: none."""
    for p in range(rows[b], rows[b + 1]):
        if cols[p] == j:
            return p
        if cols[p] > j:
            return -1
    return -1


@jitable
def _add_pairs(
    rows: np.ndarray, cols: np.ndarray, eb: np.ndarray, ej: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rows``, ``cols`` with the pairs ``(eb[c], ej[c])`` added (``eb[c] < 0``: none).

    Each row stays in increasing seller order; a pair given twice, or present already, is
    held once. The third array maps each pair out to its pair in (-1: added).
    """
    n = rows.shape[0] - 1
    m = eb.shape[0]
    keys = np.empty(m, dtype=np.int64)
    c = 0
    for e in range(m):
        if eb[e] >= 0 and _pair_index(rows, cols, eb[e], ej[e]) < 0:
            keys[c] = eb[e] * (n + 1) + ej[e]
            c += 1
    keys = np.unique(keys[:c])
    out_rows = np.zeros(n + 1, dtype=np.int64)
    out_cols = np.empty(cols.shape[0] + keys.shape[0], dtype=cols.dtype)
    src = np.empty(cols.shape[0] + keys.shape[0], dtype=np.int64)
    e = 0
    q = 0
    for b in range(n):
        p = rows[b]
        while True:
            extra = e < keys.shape[0] and keys[e] // (n + 1) == b
            have = p < rows[b + 1]
            if not (extra or have):
                break
            if extra and (not have or keys[e] % (n + 1) < cols[p]):
                out_cols[q] = keys[e] % (n + 1)
                src[q] = -1
                e += 1
            else:
                out_cols[q] = cols[p]
                src[q] = p
                p += 1
            q += 1
        out_rows[b + 1] = q
    return out_rows, out_cols, src


@jitable
def contract_pairs(
    order: np.ndarray, bounds: np.ndarray, rows: np.ndarray, cols: np.ndarray, contracts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each contract's buyer (sorted position) and seller (local to its layer) as a pair.

    ``cb[c] = -1`` for a contract whose seller is not in the layer just below its buyer
    (it delivers nothing); the flag says whether some contract's pair is not among the
    pairs ``rows``, ``cols`` (then :func:`_add_pairs` adds it).
    """
    n = order.shape[0]
    n_layers = bounds.shape[0] - 1
    n_con = contracts.shape[1]
    cb = np.empty(n_con, dtype=np.int64)
    cj = np.empty(n_con, dtype=np.int64)
    missing = False
    if n_con == 0:
        return cb, cj, missing
    pos = np.empty(n, dtype=np.int64)  # caller's index to sorted position
    for i in range(n):
        pos[order[i]] = i
    for c in range(n_con):
        b = pos[int(contracts[0, c])]
        s = pos[int(contracts[1, c])]
        cb[c] = -1
        for k in range(1, n_layers):
            if bounds[k] <= b < bounds[k + 1] and bounds[k - 1] <= s < bounds[k]:
                cb[c] = b
                cj[c] = s - bounds[k - 1]
                if _pair_index(rows, cols, b, cj[c]) < 0:
                    missing = True
    return cb, cj, missing


@jitable
def _pair_values(
    matrix: np.ndarray, order: np.ndarray, bounds: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """Per pair, ``matrix[buyer, seller]`` of a caller's-order ``[n, n]`` matrix."""
    out = np.empty(cols.shape[0])
    for k in range(1, bounds.shape[0] - 1):
        slo = bounds[k - 1]
        for i in range(bounds[k], bounds[k + 1]):
            ob = order[i]
            for p in range(rows[i], rows[i + 1]):
                out[p] = matrix[ob, order[slo + cols[p]]]
    return out


@jitable
def _pair_lock(
    lock_in: np.ndarray,
    has_gravity: bool,
    gravity: np.ndarray,
    has_memory: bool,
    memory: np.ndarray,
    order: np.ndarray,
    bounds: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> np.ndarray:
    """Per pair, ``(lock_in[p] + gravity[b, s]) - memory[s]`` (each part where given).

    The switching costs of :func:`~stackgame.environment.lock_in.effective_lock_in` (the
    static part plus data gravity, less the memory of hikes, in that order) at the pairs
    only; ``gravity`` and ``memory`` in the caller's order.
    """
    out = lock_in.copy()
    for k in range(1, bounds.shape[0] - 1):
        slo = bounds[k - 1]
        for i in range(bounds[k], bounds[k + 1]):
            ob = order[i]
            for p in range(rows[i], rows[i + 1]):
                s = order[slo + cols[p]]
                if has_gravity:
                    out[p] = out[p] + gravity[ob, s]
                if has_memory:
                    out[p] = out[p] - memory[s]
    return out


@jitable
def resolve_prices_kernel(
    order: np.ndarray,
    bounds: np.ndarray,
    own_local: np.ndarray,
    coef: np.ndarray,
    choice_mu: np.ndarray,
    unit_cost_in: np.ndarray,
    markup_in: np.ndarray,
    quality_in: np.ndarray,
    capacity_in: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    lockp: np.ndarray,
    has_lock: bool,
    lock_now: np.ndarray,
    share_in: np.ndarray,
    has_mix: bool,
    mixp: np.ndarray,
    per_unit: bool,
    basis_in: np.ndarray,
    infra_in: np.ndarray,
    rep: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pass 1 alone (:func:`_prices`), in and out in the caller's order.

    ``rows``, ``cols``, ``lockp``, ``mixp``: the permitted buyer-seller pairs and their
    switching costs and expected purchase shares, as in :func:`_prices`; with
    ``has_lock``, the switching costs are ``lock_now`` (``[n, n]``) read at the pairs. Returns a
    ``[2, n]`` matrix (prices, unit input costs) and the supplier weights per pair.
    ``rep``: :func:`repeat_rows` of ``rows``, ``cols``, ``lockp`` (or empty: not known;
    made here with ``has_lock``).
    """
    n = order.shape[0]
    n_layers = bounds.shape[0] - 1
    unit_cost = _gather(order, unit_cost_in)
    markup = _gather(order, markup_in)
    quality = _gather(order, quality_in)
    capacity = _gather(order, capacity_in)
    share = _gather(order, share_in)
    basis = _gather(order, basis_in)
    infra = _gather(order, infra_in)
    if has_lock:
        lockp = _pair_values(lock_now, order, bounds, rows, cols)
        rep = repeat_rows(bounds, rows, cols, lockp)
    wp = np.zeros(cols.shape[0])
    price = np.zeros(n)
    input_unit = np.zeros(n)
    _prices(
        n_layers, bounds, own_local, coef, choice_mu, unit_cost, markup, quality, lockp,
        rows, cols, capacity, share, per_unit, False, 0.0, mixp, has_mix, wp, price,
        input_unit, basis, infra, np.zeros(n, dtype=np.bool_), rep,
        np.empty(n, dtype=np.int64), True,
    )  # fmt: skip
    out = np.empty((2, n))
    for i in range(n):
        out[0, order[i]] = price[i]
        out[1, order[i]] = input_unit[i]
    return out, wp


@jitable
def clear_kernel(
    order: np.ndarray,
    bounds: np.ndarray,
    own_local: np.ndarray,
    coef: np.ndarray,
    choice_mu: np.ndarray,
    unit_cost_in: np.ndarray,
    markup_in: np.ndarray,
    quality_in: np.ndarray,
    capacity_in: np.ndarray,
    rows_in: np.ndarray,
    cols_in: np.ndarray,
    lock_in: np.ndarray,
    has_lock: bool,
    lock_now: np.ndarray,
    has_share: bool,
    share_in: np.ndarray,
    has_mix: bool,
    mix_in: np.ndarray,
    has_offer: bool,
    offer_in: np.ndarray,
    cournot_flag: bool,
    linear: bool,
    market_size: float,
    mu: float,
    outside_quality: float,
    intercept: float,
    slope: float,
    per_unit: bool,
    spill_rounds: int,
    max_attempts: int,
    max_settle: int,
    capital_layer: np.ndarray,
    orders_in: np.ndarray,
    basis_in: np.ndarray,
    infra_in: np.ndarray,
    contracts: np.ndarray,
    scratch: np.ndarray,
    want_cost: bool,
    cost_capacity_in: np.ndarray,
    has_gravity: bool,
    lock_gravity: np.ndarray,
    has_memory: bool,
    lock_memory: np.ndarray,
    rep_in: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, bool, float, float, float, int]:
    """The round's clearing over plain arrays, in and out in the caller's order.

    Prices (:func:`_prices`), then one clearing (:func:`_clear_once`), repeated (at most
    ``max_attempts`` clearings) while it is not self-consistent (``docs/MODEL.md`` 8): an
    operation short of input gets what it could deliver as its capacity, so its buyers'
    orders spill elsewhere; with the default self-supply shares (``has_share`` false:
    1 where the own operation below has capacity) an operation whose own supplier covered
    less than planned re-prices on the share it actually got; and on a repeat each buyer
    first keeps the allocation it received (sticky allocation).

    Parameters
    ----------
    order
        Sorted position to caller's index (``Structure._order``).
    bounds
        Layer ``k`` is sorted positions ``bounds[k]:bounds[k + 1]``.
    own_local
        Per sorted position: the firm's operation in the layer below as an index local to
        that layer, ``-1`` for none (and for layer 0).
    coef, choice_mu
        Per layer, as in :class:`~stackgame.environment.market.Structure`.
    unit_cost_in, markup_in, quality_in, capacity_in
        Per operation, caller's order.
    rows_in, cols_in
        The pairs a buyer may buy from (``Structure.allowed``) as compressed rows in sorted
        coordinates: buyer at sorted position ``i`` may buy from the sellers
        ``bounds[k - 1] + cols_in[p]`` for ``p`` in ``rows_in[i]:rows_in[i + 1]``, in
        increasing order (``Structure.pair_rows``).
    lock_in
        Per pair, the switching cost (``Structure.lock_in`` at the pair).
    has_lock, lock_now
        Whether this round's switching costs ``lock_now`` (``[n, n]``, caller's order)
        replace ``lock_in`` (read at the pairs).
    has_share, share_in
        Whether an explicit ``self_share`` was given (caller's order).
    has_mix, mix_in
        Whether a ``supplier_mix`` was given; per pair, its share.
    has_offer, offer_in
        Whether ``quantity_offer`` was given (caller's order). In a Cournot layer a
        positive markup ``m`` withholds output: the offer is capped at ``K / (1 + m)``
        (``docs/MODEL.md`` 6.3).
    cournot_flag, linear, market_size, mu, outside_quality, intercept, slope
        The :class:`~stackgame.environment.market.Demand` fields.
    per_unit
        Per-unit markups.
    spill_rounds
        ``-1`` for the default (until every order that can be placed is placed).
    max_attempts
        :data:`~stackgame.environment.market.MAX_ATTEMPTS`.
    capital_layer, orders_in, basis_in
        The buildout: per layer, whether it buys capital goods; per operation (caller's
        order), its capital-goods orders (units) and its price basis (:func:`_prices`).
    contracts
        ``[3, m]``: buyer and seller operation (caller's indices, as floats) and
        contracted units a round, one column per contract in force. A contract between
        a pair not permitted (a relation changed since it was signed) joins the pairs for
        its deliveries, with a switching cost of ``-inf``: no weight in the logit.
    scratch
        A work array for the supplier weights per pair, used when it has room for them
        (else one is made): written before it is read, never returned, so what it holds
        in and out does not matter (the caller reuses one across clearings).
    want_cost, cost_capacity_in
        With ``want_cost`` (and ``has_share``), also the prices every markup zero: pass 1
        alone (:func:`_prices`, as :func:`resolve_prices_kernel` runs it) on the static
        switching costs ``lock_in``, the pairs in, no infrastructure cost and the
        capacities ``cost_capacity_in`` (caller's order), before the clearing: the
        round's cost of capability (``docs/MODEL.md`` 6.5) without a second call.
    has_gravity, lock_gravity, has_memory, lock_memory
        Without ``has_lock``: this round's switching costs made at the pairs from their
        parts, ``(lock_in + g_bs) - h_s`` with the data gravity ``lock_gravity``
        (``[n, n]``) and the memory of hikes ``lock_memory`` (``[n]``, caller's order)
        where given (:func:`~stackgame.environment.lock_in.effective_lock_in`'s floats,
        without laying out the ``[n, n]`` sum).
    rep_in
        :func:`repeat_rows` of ``rows_in``, ``cols_in``, ``lock_in`` (``Structure.repeat_rows``:
        made once per structure), or empty; made here for the switching costs of this
        round where they are not ``lock_in`` (or a contract added pairs).

    Returns
    -------
    tuple
        ``price, unit_input_cost, quantity, flow, self_supply, revenue, input_cost,
        variable_cost, gross_profit, unmet_input, final_demand, internal_revenue, capex``
        (rows of the first matrix; with ``want_cost`` a last row, the prices every
        markup zero), the ``flow`` per pair (the pairs in, and any a
        contract added: whether one did is the third value, :func:`contract_pairs`),
        ``lost_demand, final_spend, outside_share, attempts`` as in
        :class:`~stackgame.environment.market.Clearing`.
    """
    n = order.shape[0]
    n_layers = bounds.shape[0] - 1
    unit_cost = _gather(order, unit_cost_in)
    markup = _gather(order, markup_in)
    quality = _gather(order, quality_in)
    nominal = _gather(order, capacity_in)
    invest = _gather(order, orders_in)
    basis = _gather(order, basis_in)
    infra = _gather(order, infra_in)
    offer = np.zeros(n)
    share = np.zeros(n)
    for i in range(n):
        o = order[i]
        if has_offer:
            x = offer_in[o]
            if cournot_flag and markup_in[o] > 0.0:  # a markup withholds output
                x = min(x, capacity_in[o] / (1.0 + markup_in[o]))
            offer[i] = x
        if has_share:
            share[i] = share_in[o]
    cost_price = np.zeros(0)
    if want_cost:  # (the weights' work array is written before read, here and below)
        n_in = cols_in.shape[0]
        cost_wp = scratch[:n_in] if scratch.shape[0] >= n_in else np.empty(n_in)
        cost_price = np.zeros(n)
        _prices(
            n_layers, bounds, own_local, coef, choice_mu, unit_cost, np.zeros(n), quality,
            lock_in, rows_in, cols_in, _gather(order, cost_capacity_in), share, per_unit,
            False, 0.0, mix_in, has_mix, cost_wp, cost_price, np.zeros(n), basis,
            np.zeros(n), np.zeros(n, dtype=np.bool_), rep_in, np.empty(n, dtype=np.int64),
            False,
        )  # fmt: skip
    effective = nominal.copy()
    auto = not has_share
    if auto:
        for k in range(1, n_layers):
            for i in range(bounds[k], bounds[k + 1]):
                own = own_local[i]
                share[i] = 1.0 if own >= 0 and effective[own + bounds[k - 1]] > _EPS else 0.0
    rows = rows_in
    cols = cols_in
    if has_lock:
        lockp = _pair_values(lock_now, order, bounds, rows_in, cols_in)
    elif has_gravity or has_memory:
        lockp = _pair_lock(
            lock_in, has_gravity, lock_gravity, has_memory, lock_memory, order, bounds,
            rows_in, cols_in,
        )  # fmt: skip
    else:
        lockp = lock_in
    base_lock = lockp
    mixp = mix_in
    n_con = contracts.shape[1]
    cb, cj, missing = contract_pairs(order, bounds, rows, cols, contracts)
    if missing:
        rows, cols, src = _add_pairs(rows_in, cols_in, cb, cj)
        lockp = np.empty(cols.shape[0])
        mixp = np.zeros(cols.shape[0] if has_mix else 0)
        for p in range(cols.shape[0]):
            q = src[p]
            lockp[p] = base_lock[q] if q >= 0 else -np.inf
            if has_mix and q >= 0:
                mixp[p] = mix_in[q]
    rep = rep_in
    if missing or has_lock or has_gravity or has_memory:
        rep = repeat_rows(bounds, rows, cols, lockp)
    n_pairs = cols.shape[0]
    # (every pair's weight is written by _prices before it is read)
    wp = scratch[:n_pairs] if scratch.shape[0] >= n_pairs else np.empty(n_pairs)
    fp = np.empty(n_pairs)  # (every pair's flow is written by each clearing's split)
    reserve = np.zeros(0)  # (laid out at the first re-clear)
    delivers = False
    for c in range(n_con):
        if cb[c] >= 0:
            delivers = True
    cp = np.zeros(n_pairs if delivers else 0)  # (empty: no contract delivers)
    for c in range(n_con):
        if cb[c] >= 0:
            cp[_pair_index(rows, cols, cb[c], cj[c])] += contracts[2, c]
    capex = np.zeros(n)
    price = np.zeros(n)
    input_unit = np.zeros(n)
    self_supply = np.zeros(n)
    quantity = np.zeros(n)
    revenue = np.zeros(n)
    input_cost = np.zeros(n)
    unmet = np.zeros(n)
    final_demand = np.zeros(n)
    internal = np.zeros(n)
    planned_self = np.zeros(n)
    live = np.zeros(n, dtype=np.bool_)
    same = np.zeros(n, dtype=np.bool_)  # (buyers whose weights are the last buyer's)
    src = np.zeros(n, dtype=np.int64)  # (the first pair of the row holding each buyer's)
    cournot = cournot_flag and has_offer
    t_lo = bounds[n_layers - 1]
    t_hi = bounds[n_layers]
    attempt = 0
    has_reserve = False
    need_prices = True
    lost = 0.0
    spend = 0.0
    outside = 0.0
    while True:
        attempt += 1
        if need_prices:
            fixed_top = 0.0
            if cournot:
                fixed_top = cournot_price_kernel(offer, effective, t_lo, t_hi, intercept, slope)
            _prices(
                n_layers,
                bounds,
                own_local,
                coef,
                choice_mu,
                unit_cost,
                markup,
                quality,
                lockp,
                rows,
                cols,
                effective,
                share,
                per_unit,
                cournot,
                fixed_top,
                mixp,
                has_mix,
                wp,
                price,
                input_unit,
                basis,
                infra,
                same,
                rep,
                src,
                False,
            )
            for i in range(n):
                live[i] = effective[i] > _EPS
            need_prices = False
        if has_reserve:
            if reserve.shape[0] != n_pairs:
                reserve = np.empty(n_pairs)
            reserve[:] = fp
        lost, spend, outside = _clear_once(
            n_layers,
            bounds,
            own_local,
            coef,
            unit_cost,
            quality,
            offer,
            effective,
            nominal,
            cournot,
            linear,
            market_size,
            mu,
            outside_quality,
            intercept,
            slope,
            price,
            input_unit,
            rows,
            cols,
            wp,
            spill_rounds,
            has_reserve,
            reserve,
            fp,
            self_supply,
            quantity,
            revenue,
            input_cost,
            unmet,
            final_demand,
            internal,
            planned_self,
            capital_layer,
            invest,
            cp,
            capex,
            infra,
            same,
            src,
        )
        if attempt >= max_attempts + max_settle:
            break
        again = False
        lowered = False
        # an operation short of input gets what it could deliver as its capacity, unless
        # its whole shortfall is its own operation below falling short: that one is
        # lowered, and on the re-clear the buyer takes the rest from the market
        for k in range(n_layers):
            if capital_layer[k]:  # unfilled capital-goods orders leave output as it is
                continue
            for i in range(bounds[k], bounds[k + 1]):
                if unmet[i] > _SHORT and quantity[i] < effective[i] - _SHORT:
                    own = own_local[i]
                    if (
                        own >= 0
                        and unmet[own + bounds[k - 1]] > _SHORT
                        and unmet[i] <= planned_self[i] - self_supply[i] + _SHORT
                    ):
                        continue
                    lowered = True
                    effective[i] = min(effective[i], quantity[i])
        if attempt >= max_attempts:
            # prices are settled: only spill orders off sellers still short of input,
            # until none is (a buyer never stays short while a source could deliver)
            if not lowered:
                break
            has_reserve = True
            continue
        if lowered:
            again = True
            changed = False
            for i in range(n):
                if (effective[i] > _EPS) != live[i]:
                    changed = True
            if cournot or changed:
                need_prices = True
        if auto:
            dropped = False
            for k in range(1, n_layers):
                lo = bounds[k]
                hi = bounds[k + 1]
                for i in range(hi - lo):
                    got = 0.0
                    for p in range(rows[lo + i], rows[lo + i + 1]):
                        got += fp[p]
                    got = self_supply[lo + i] + got
                    if got > _EPS:
                        realized = self_supply[lo + i] / got
                        if realized < share[lo + i] - _SHORT:
                            share[lo + i] = realized
                            dropped = True
            if dropped:
                again = True
                need_prices = True
        if not again:
            break
        has_reserve = True
    # back to the caller's order
    # one matrix for the per-operation results (each returned array costs a boxing),
    # rows in the order of Clearing's fields
    out = np.empty((13 if want_cost else 12, n))
    out_price = out[0]
    out_input_unit = out[1]
    out_quantity = out[2]
    out_self = out[3]
    out_revenue = out[4]
    out_input_cost = out[5]
    out_variable = out[6]
    out_gross = out[7]
    out_unmet = out[8]
    out_final = out[9]
    out_internal = out[10]
    for i in range(n):
        o = order[i]
        variable = unit_cost[i] * quantity[i]
        out_price[o] = price[i]
        out_input_unit[o] = input_unit[i]
        out_quantity[o] = quantity[i]
        out_self[o] = self_supply[i]
        out_revenue[o] = revenue[i]
        out_input_cost[o] = input_cost[i]
        out_variable[o] = variable
        out_gross[o] = revenue[i] - input_cost[i] - variable
        out_unmet[o] = unmet[i]
        out_final[o] = final_demand[i]
        out_internal[o] = internal[i]
        out[11, o] = capex[i]
        if want_cost:
            out[12, o] = cost_price[i]
    return out, fp, missing, lost, spend, outside, attempt
