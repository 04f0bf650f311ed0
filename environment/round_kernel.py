"""The round's bookkeeping around the clearing, written once (compiled by numba or not).

Before the clearing a round turns the firms' markups and the state into the clearing's
inputs (capped and floored markups, live capacity and quality, effective unit costs,
planned self-supply shares): :func:`prepare_kernel`. After it, a round turns revenues and
costs into margins and profits, sums them per firm and per layer, and derives what the
regulator and the next round read: :func:`settle_kernel` (``docs/MODEL.md`` 10 and 14).
As in :mod:`stackgame.environment.market_kernel`, each function is plain loops over arrays
marked :func:`stackgame.environment.jit.jitable`: ordinary Python as written (the
reference the tests run), compiled by :func:`stackgame.environment.jit.compiled`.

The purchase shares divide by row sums added as numpy adds the dense rows (pairwise:
:func:`row_sums`; over the pairs that traded only, :func:`pairwise_sum_pairs`), and
:func:`_maximum`/:func:`_minimum` follow numpy's rules for ties and NaN, so that results
are those the earlier numpy implementation gave, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
from stackgame.environment.jit import jitable

_EPS = 1e-12


@jitable
def _maximum(a: float, b: float) -> float:
    """``np.maximum`` on two floats: NaN wins, a tie gives the second (as numpy's loop)."""
    return a if a > b or math.isnan(a) else b


@jitable
def _minimum(a: float, b: float) -> float:
    """``np.minimum`` on two floats: NaN wins, a tie gives the second (as numpy's loop)."""
    return a if a < b or math.isnan(a) else b


@jitable
def prepare_kernel(
    round_: int,
    chosen: np.ndarray,
    cap_until: np.ndarray,
    cap_markup: np.ndarray,
    floor: np.ndarray,
    online_round: np.ndarray,
    active: np.ndarray,
    capacity: np.ndarray,
    quality: np.ndarray,
    inactive_quality: float,
    penalty_until: np.ndarray,
    integrated_at: np.ndarray,
    unit_cost: np.ndarray,
    base_unit_cost: np.ndarray,
    own_below: np.ndarray,
    last_need: np.ndarray,
    input_coefficient: np.ndarray,
    layer_of: np.ndarray,
) -> np.ndarray:
    """Rows: markups, live capacity and quality, unit costs, self-supply shares."""
    n = chosen.shape[0]
    out = np.zeros((5, n))  # one matrix: each returned array costs a boxing
    markup = out[0]
    live_cap = out[1]
    live_quality = out[2]
    cost = out[3]
    share = out[4]
    for i in range(n):
        m = chosen[i]
        if cap_until[i] > round_:
            m = _minimum(m, cap_markup[i])
        markup[i] = _maximum(m, floor[i])
        live_cap[i] = capacity[i] if online_round[i] <= round_ and active[i] else 0.0
        live_quality[i] = quality[i] if active[i] else inactive_quality
        if penalty_until[i] > round_ or integrated_at[i] < 0:
            cost[i] = unit_cost[i]
        else:
            cost[i] = base_unit_cost[i]
    for i in range(n):
        own = own_below[i]
        if own < 0:
            continue
        need = last_need[i]
        if round_ == 0:  # no history yet: expect to run at full capacity
            need = input_coefficient[layer_of[i]] * live_cap[i]
        avail = live_cap[own]
        s = 1.0
        if need > _EPS:
            s = _minimum(1.0, avail / _maximum(need, _EPS))
        share[i] = s if avail > _EPS else 0.0
    return out


@jitable
def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    """``a[lo:lo + n].sum()`` for ``n <= 128`` as numpy adds it.

    Below eight terms a plain loop; else eight running sums combined pairwise, then the
    tail (``pairwise_sum`` in numpy's ``loops_utils``).
    """
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@jitable
def _pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """``a[lo:lo + n].sum()`` as numpy adds it (``pairwise_sum`` in its ``loops_utils``).

    Up to 128 terms :func:`_block_sum`; above, the sum of the two halves (the first
    rounded down to a multiple of eight), each summed the same way. The recursion runs on
    an explicit stack (compiled helpers do not recurse): a task is a segment to sum or,
    with ``n = -1``, the addition of the last two partial sums.
    ``tests/environment/test_round_kernel.py`` checks the result against ``numpy.sum``.
    """
    if n <= 128:
        return _block_sum(a, lo, n)
    task_lo = np.empty(192, dtype=np.int64)
    task_n = np.empty(192, dtype=np.int64)
    partial = np.empty(96)
    tasks = 1
    sums = 0
    task_lo[0] = lo
    task_n[0] = n
    while tasks > 0:
        tasks -= 1
        t_lo = task_lo[tasks]
        t_n = task_n[tasks]
        if t_n < 0:  # both halves summed: add them, left first
            sums -= 1
            partial[sums - 1] = partial[sums - 1] + partial[sums]
        elif t_n <= 128:
            partial[sums] = _block_sum(a, t_lo, t_n)
            sums += 1
        else:
            half = t_n // 2
            half -= half % 8
            task_n[tasks] = -1  # then add, after the right half, after the left half
            task_lo[tasks + 1] = t_lo + half
            task_n[tasks + 1] = t_n - half
            task_lo[tasks + 2] = t_lo
            task_n[tasks + 2] = half
            tasks += 3
    return partial[0]


@jitable
def _sum_plan(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairwise summation numpy makes of a length-``n`` row, laid out once for all rows.

    :func:`_pairwise_sum` splits ``0:n`` the same way whatever the entries: into halves
    (the first rounded down to a multiple of eight) until a segment has at most 128
    terms (a leaf, summed by :func:`_block_sum`), then adds the halves' sums, left first.
    Returns the leaves, left to right (``[2, k]``: start and length; each start a
    multiple of eight), and those additions as a postfix program over the leaves' sums
    (``c >= 0``: push leaf ``c``'s sum; ``-1``: replace the last two sums by their sum).
    """
    most = n // 64 + 2  # (a leaf above 128 terms' halving has at least 64)
    leaves = np.empty((2, most), dtype=np.int64)
    prog = np.empty(2 * most, dtype=np.int64)
    if n <= 128:
        leaves[0, 0] = 0
        leaves[1, 0] = n
        prog[0] = 0
        return leaves[:, :1], prog[:1]
    task_lo = np.empty(192, dtype=np.int64)
    task_n = np.empty(192, dtype=np.int64)
    tasks = 1
    task_lo[0] = 0
    task_n[0] = n
    k = 0
    c = 0
    while tasks > 0:  # (the walk of _pairwise_sum: left half, right half, then add)
        tasks -= 1
        t_lo = task_lo[tasks]
        t_n = task_n[tasks]
        if t_n < 0:
            prog[c] = -1
            c += 1
        elif t_n <= 128:
            leaves[0, k] = t_lo
            leaves[1, k] = t_n
            prog[c] = k
            k += 1
            c += 1
        else:
            half = t_n // 2
            half -= half % 8
            task_n[tasks] = -1
            task_lo[tasks + 1] = t_lo + half
            task_n[tasks + 1] = t_n - half
            task_lo[tasks + 2] = t_lo
            task_n[tasks + 2] = half
            tasks += 3
    return leaves[:, :k], prog[:c]


@jitable
def _planned_sum_pairs(
    pos: np.ndarray,
    vals: np.ndarray,
    pa: int,
    pb: int,
    leaves: np.ndarray,
    prog: np.ndarray,
    part: np.ndarray,
    r: np.ndarray,
) -> float:
    """The pairwise sum of a row that is zero but at ``pos[pa:pb]``, by :func:`_sum_plan`.

    ``pos`` ascending (column indices), ``vals`` the entries there. Each leaf of eight
    terms or more adds its entries into eight running sums by column modulo eight (the
    leaf starts at a multiple of eight), combines them as :func:`_block_sum` does, then
    adds the entries of its tail (the last ``length % 8`` columns) one by one; a shorter
    leaf adds its entries in order; a leaf without entries sums to zero. The additions of
    exact zeros that the dense row would make are left out (``x + 0.0 == x`` for every
    ``x`` these running sums can hold: they start at ``+0.0``, so none is ``-0.0``), so
    the result is ``row.sum()`` bit for bit at the cost of the entries and the leaves.
    ``part`` (a float per leaf, twice: the leaves' sums then the program's stack) and
    ``r`` (8 floats) are scratch.
    """
    k = leaves.shape[1]
    t = pa
    for c in range(k):
        lo = leaves[0, c]
        size = leaves[1, c]
        end = lo + size
        if t >= pb or pos[t] >= end:
            part[c] = 0.0
            continue
        if size < 8:
            res = 0.0
            while t < pb and pos[t] < end:
                res += vals[t]
                t += 1
            part[c] = res
            continue
        for q in range(8):
            r[q] = 0.0
        body = end - size % 8
        while t < pb and pos[t] < body:
            r[(pos[t] - lo) & 7] += vals[t]
            t += 1
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while t < pb and pos[t] < end:
            res += vals[t]
            t += 1
        part[c] = res
    top = k  # (the program's stack, above the leaves' sums)
    for c in range(prog.shape[0]):
        x = prog[c]
        if x >= 0:
            part[top] = part[x]
            top += 1
        else:
            top -= 1
            part[top - 1] = part[top - 1] + part[top]
    return float(part[k])


@jitable
def pairwise_sum_pairs(pos: np.ndarray, vals: np.ndarray, pa: int, pb: int, n: int) -> float:
    """:func:`_pairwise_sum` of a length-``n`` row that is zero but at ``pos[pa:pb]``.

    ``pos`` ascending (column indices), ``vals`` the entries there: numpy's pairwise
    summation of the dense row (the same halves, the same eight-way blocks), visiting only
    the entries and the leaves (:func:`_sum_plan`, :func:`_planned_sum_pairs`), so bit for
    bit ``row.sum()`` (``tests/environment/test_round_kernel.py``).
    """
    if pb <= pa:
        return 0.0
    leaves, prog = _sum_plan(n)
    return _planned_sum_pairs(
        pos, vals, pa, pb, leaves, prog, np.empty(2 * leaves.shape[1] + 1), np.empty(8)
    )


@jitable
def add_pair_payments(
    cum: np.ndarray, pairs: np.ndarray, flow: np.ndarray, price: np.ndarray
) -> None:
    """``cum[b, s] += flow_p * price[s]`` for each pair ``p = (b, s)``.

    :func:`add_payments` over a flow matrix that is zero outside the pairs: the same two
    roundings per entry, and the entries outside would add exact zeros.
    """
    for p in range(flow.shape[0]):
        s = pairs[1, p]
        cum[pairs[0, p], s] += flow[p] * price[s]


@jitable
def add_pair_values(
    cum: np.ndarray, sellers: np.ndarray, flow: np.ndarray, price: np.ndarray
) -> None:
    """``cum[p] += flow[p] * price[sellers[p]]`` for each pair ``p``: payments held per pair.

    :func:`add_pair_payments` with the cumulative matrix held at the pairs (``cum[p]`` is
    the entry of pair ``p``): the same two roundings per entry, read and written in the
    pairs' order rather than scattered over an ``[n, n]`` matrix.
    """
    for p in range(flow.shape[0]):
        cum[p] += flow[p] * price[sellers[p]]


@jitable
def add_payments(cum: np.ndarray, flow: np.ndarray, price: np.ndarray) -> None:
    """``cum += flow * price[None, :]`` in place, in one pass and without a temporary.

    The same two roundings per element as numpy's multiply then add (no fused
    multiply-add: the kernels compile without fast-math), so bit for bit the same; at
    1,000 firms it saves a 10 MB ``[n, n]`` temporary and two of three passes a round.
    """
    n_b = flow.shape[0]
    n_s = flow.shape[1]
    for b in range(n_b):
        row = cum[b]
        f = flow[b]
        for s in range(n_s):
            row[s] += f[s] * price[s]


@jitable
def row_sums(m: np.ndarray) -> np.ndarray:
    """``m.sum(axis=1)`` for a C-contiguous matrix, bit for bit as numpy sums."""
    out = np.empty(m.shape[0])
    flat = m.ravel()
    for b in range(m.shape[0]):
        out[b] = _pairwise_sum(flat, b * m.shape[1], m.shape[1])
    return out


@jitable
def settle_kernel(
    layer_of: np.ndarray,
    firm_of: np.ndarray,
    n_layers: int,
    n_firms: int,
    revenue: np.ndarray,
    input_cost: np.ndarray,
    variable_cost: np.ndarray,
    internal_revenue: np.ndarray,
    quantity: np.ndarray,
    capacity: np.ndarray,
    capital: np.ndarray,
    depreciation_rate: np.ndarray,
    fixed_cost: np.ndarray,
    writedown: np.ndarray,
    fines: np.ndarray,
    markup: np.ndarray,
    restrain_markup: np.ndarray,
    active: np.ndarray,
    unit_input_cost: np.ndarray,
    starts: np.ndarray,
    sellers: np.ndarray,
    flow: np.ndarray,
    flow_n: int,
    wear_in_gross: np.ndarray,
    cum: np.ndarray,
    price: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Per-operation, per-firm and per-layer results, postures and purchase shares.

    ``flow`` (``[m]``) are the market flows per buyer-seller pair of an ``[flow_n, flow_n]``
    matrix (zero elsewhere), each buyer's pairs together: the pairs ``starts[b]:starts[b +
    1]`` are one buyer's, ``sellers`` their sellers (ascending within a buyer's run; 32-bit,
    :func:`~stackgame.environment.payouts.pair_layout`); the purchase shares come back per
    pair.
    ``cum`` (per pair, or empty: not asked) gains each pair's payment ``flow x price`` of
    its seller (:func:`add_pair_values`, in the same pass over the pairs).

    ``wear_in_gross`` (1 in a capital-goods layer, else 0): the share of the wear
    ``K_i delta_i`` counted in gross profit, as the capital goods' cost of revenue (a flow
    buyer's inputs are in it); operating profit is the same either way.
    """
    n = layer_of.shape[0]
    # results come back in a few matrices (each returned array costs a boxing): rows of
    # per_op are gross, depreciation, operating, utilisation, operating margin, inputs
    # per unit, share of the layer's quantity; rows of per_firm are profit, revenue from
    # others, gross profit, write-down, margin
    per_op = np.zeros((7, n))
    gross = per_op[0]
    depreciation = per_op[1]
    operating = per_op[2]
    utilisation = per_op[3]
    op_margin = per_op[4]
    unit_input = per_op[5]
    share = per_op[6]
    external = np.empty(n)
    posture = np.zeros(n, dtype=np.int8)
    per_firm = np.zeros((5, n_firms))
    firm_profit = per_firm[0]
    firm_revenue = per_firm[1]
    firm_gross = per_firm[2]
    firm_writedown = per_firm[3]
    firm_margin = per_firm[4]
    # rows: quantity, revenue, external revenue, input cost, gross, operating, hhi,
    # restraining sellers, active sellers, gross margin, operating margin, mean price,
    # value added (revenue less inputs)
    lay = np.zeros((13, n_layers))
    for i in range(n):
        w = capital[i] * depreciation_rate[i] * wear_in_gross[i]
        g = revenue[i] - input_cost[i] - variable_cost[i] - w
        d = capital[i] * depreciation_rate[i] + writedown[i]
        o = g + w - d - fixed_cost[i] - fines[i]
        e = revenue[i] - internal_revenue[i]
        gross[i] = g
        depreciation[i] = d
        operating[i] = o
        external[i] = e
        q = quantity[i]
        if capacity[i] > _EPS:
            utilisation[i] = q / capacity[i]
        if e > _EPS:
            op_margin[i] = o / e
        up = markup[i] > restrain_markup[i] + _EPS
        if up:
            posture[i] = 1
        unit_input[i] = input_cost[i] / q if q > _EPS else unit_input_cost[i]
        k = layer_of[i]
        f = firm_of[i]
        firm_profit[f] += o
        firm_revenue[f] += e
        firm_gross[f] += g
        firm_writedown[f] += writedown[i]
        lay[0, k] += q
        lay[1, k] += revenue[i]
        lay[2, k] += e
        lay[3, k] += input_cost[i]
        lay[4, k] += g
        lay[5, k] += o
        a = 1.0 if active[i] else 0.0
        lay[7, k] += (0.0 if up else 1.0) * a
        lay[8, k] += a
    for i in range(n):
        total = lay[0, layer_of[i]]
        if total > _EPS:
            share[i] = quantity[i] / total
        lay[6, layer_of[i]] += share[i] * share[i]
    for k in range(n_layers):
        lay[12, k] = lay[1, k] - lay[3, k]
        if lay[2, k] > _EPS:
            lay[9, k] = lay[4, k] / lay[2, k]
            lay[10, k] = lay[5, k] / lay[2, k]
        if lay[0, k] > _EPS:
            lay[11, k] = lay[1, k] / lay[0, k]
    for f in range(n_firms):
        if firm_revenue[f] > _EPS:
            firm_margin[f] = firm_profit[f] / firm_revenue[f]
    # purchase shares: each buyer's flows over its row sum of the dense flow matrix,
    # summed as numpy sums that row (pairwise_sum_pairs: its plan made once for all rows);
    # a pair that did not trade keeps the zero (0 / bought is that zero). Every share is
    # written in the pass (no zeroed array first: the passes over the pairs are bound by
    # the bytes they move)
    m = flow.shape[0]
    mix = np.empty(m)
    leaves, prog = _sum_plan(flow_n)
    part = np.empty(2 * leaves.shape[1] + 1)
    r = np.empty(8)
    add = cum.shape[0] == m and m > 0
    for b in range(starts.shape[0] - 1):
        p = starts[b]
        q = starts[b + 1]
        d = _planned_sum_pairs(sellers, flow, p, q, leaves, prog, part, r)
        if d > _EPS:
            for t in range(p, q):
                x = flow[t]
                mix[t] = x / d if x != 0.0 else 0.0
        else:
            for t in range(p, q):
                mix[t] = 0.0
        if add:  # (add_pair_values on the row just read)
            for t in range(p, q):
                cum[t] += flow[t] * price[sellers[t]]
    return per_op, posture, per_firm, lay, mix
