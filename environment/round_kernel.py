"""Numba-compiled per-round bookkeeping around the clearing, in two calls.

Before the clearing a round turns the firms' markups and the state into the clearing's
inputs (capped and floored markups, live capacity and quality, effective unit costs,
planned self-supply shares): :func:`prepare_kernel`. After it, a round turns revenues and
costs into margins and profits, sums them per firm and per layer, and derives what the
regulator and the next round read: :func:`settle_kernel`. In numpy each is a few dozen
calls on arrays of a few dozen entries, each costing about a microsecond of overhead.

The numpy code stays the reference (``StackModel._prepare_numpy``, and
:func:`stackgame.environment.payouts.settle` with ``jit=False``) and these kernels give
*exactly* its numbers: every element-wise expression keeps numpy's order of operations
(and its ``minimum``/``maximum`` rules for ties and NaN), every sum is a ``bincount``
(each bin's terms added in index order, as the loops here do) or numpy's pairwise row
sum (:func:`row_sums`). ``tests/environment/test_payouts.py`` and
``tests/environment/test_model.py`` check bit-for-bit equality. The stake transfers (a
small matrix product) stay in numpy.

Imported on first use (:func:`stackgame.environment.jit.compiled`; numba compiles on
the first call or loads its on-disk cache), unless ``STACKGAME_NO_JIT`` is set or numba
is not installed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_EPS = 1e-12


@njit(cache=True)
def _maximum(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``np.maximum`` on two floats: NaN wins, a tie gives the second (as numpy's loop)."""
    return a if a > b or np.isnan(a) else b


@njit(cache=True)
def _minimum(a: float, b: float) -> float:  # pragma: no cover - compiled
    """``np.minimum`` on two floats: NaN wins, a tie gives the second (as numpy's loop)."""
    return a if a < b or np.isnan(a) else b


@njit(cache=True)
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
) -> np.ndarray:  # pragma: no cover - compiled
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


@njit(cache=True)
def _pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:  # pragma: no cover - compiled
    """``a[lo:lo + n].sum()`` as numpy adds it (``pairwise_sum`` in its loops_utils).

    Below eight terms a plain loop; up to 128, eight running sums combined pairwise, then
    the tail; above, the two halves recursively. ``tests/environment/test_payouts.py``
    checks the result against ``numpy.sum`` bit for bit.
    """
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= 128:
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
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a, lo, half) + _pairwise_sum(a, lo + half, n - half)


@njit(cache=True)
def row_sums(m: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``m.sum(axis=1)`` for a C-contiguous matrix, bit for bit as numpy sums."""
    out = np.empty(m.shape[0])
    flat = m.ravel()
    for b in range(m.shape[0]):
        out[b] = _pairwise_sum(flat, b * m.shape[1], m.shape[1])
    return out


@njit(cache=True)
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
    flow: np.ndarray,
) -> tuple[np.ndarray, ...]:  # pragma: no cover - compiled
    """Per-operation, per-firm and per-layer results, postures and purchase shares."""
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
        g = revenue[i] - input_cost[i] - variable_cost[i]
        d = capital[i] * depreciation_rate[i] + writedown[i]
        o = g - d - fixed_cost[i] - fines[i]
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
    # purchase shares: each buyer's row of the flow matrix over its row sum
    bought = row_sums(flow)
    mix = np.zeros_like(flow)
    for b in range(flow.shape[0]):
        if bought[b] > _EPS:
            for j in range(flow.shape[1]):
                mix[b, j] = flow[b, j] / bought[b]
    return per_op, posture, per_firm, lay, mix


@njit(cache=True)
def investigate_kernel(
    share: np.ndarray,
    margin: np.ndarray,
    stance: float,
    base_rate: float,
    share_threshold: float,
    margin_threshold: float,
    draws: np.ndarray,
    cap_until: np.ndarray,
    round_: int,
    active: np.ndarray,
) -> tuple[np.ndarray, int]:  # pragma: no cover - compiled
    """Which operations the regulator investigates: 0 no, 1 yes, 2 too close to call.

    The probability is :func:`stackgame.environment.regulator.investigation_probability`
    with this library's ``tanh``, which may differ from numpy's in the last bit (so does
    the probability, by far less than ``1e-12``). A draw within ``1e-12`` of it is
    returned as 2, for the caller to settle with numpy's own probability, so that the
    outcome is always numpy's. Also returns how many are 2.
    """
    n = share.shape[0]
    out = np.zeros(n, dtype=np.int8)
    scale = base_rate * stance
    close = 0
    for i in range(n):
        if cap_until[i] > round_ or not active[i]:
            continue
        a = 0.5 * (1.0 + np.tanh(0.5 * ((share[i] - share_threshold) / 0.05)))
        b = 0.5 * (1.0 + np.tanh(0.5 * ((margin[i] - margin_threshold) / 0.05)))
        p = scale * a * b
        if np.isnan(p) or abs(draws[i] - p) <= 1e-12:
            out[i] = 2
            close += 1
        elif draws[i] < p:
            out[i] = 1
    return out, close
