"""Payouts: from a round's clearing to margins, depreciation, equity stakes and cash.

The rules are written once, in :func:`stackgame.environment.round_kernel.settle_kernel`
(plain loops, compiled by numba or run as Python); :func:`settle` marshals the arrays and
moves profit along equity stakes. Per operation ``i`` in a round (dollars)::

    gross_i       = revenue_i - input_cost_i - c_i q_i
    depreciation_i = delta_i K_i + writedown_i
    operating_i   = gross_i - depreciation_i - F_i - fine_i

and per firm ``f``, with ``S[h, f]`` the share of ``f`` held by ``h``::

    profit_f = sum_{i in f} operating_i
    value_f  = (1 - sum_h S[h, f]) profit_f + sum_g S[f, g] profit_g

so that stakes move profit between firms and ``sum_f value_f = sum_i operating_i``. Cash
moves by ``value_f`` less growth capex (maintenance capex equals depreciation, so book
capital stays level unless capacity grows or a new generation writes it down).
Utilisation ``u_i = q_i / K_i`` is what makes depreciation a burden: it is fixed per
round, so idle capacity (``001_098523a2e050d583.txt``: "idle GPUs kill margins") lowers
the operating margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from stackgame.environment.jit import compiled
from stackgame.environment.market import PairMatrix, constant

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_NO_FLOATS = np.zeros(0)


@dataclass
class Payout:
    """Per-operation and per-firm results of one round (dollars unless said otherwise)."""

    gross_profit: FloatArray
    depreciation: FloatArray
    fixed_cost: FloatArray
    fines: FloatArray
    operating_profit: FloatArray
    utilisation: FloatArray
    firm_profit: FloatArray
    firm_value: FloatArray
    stake_income: FloatArray
    firm_revenue: FloatArray
    firm_gross: FloatArray


@dataclass
class Settlement:
    """Everything a round derives from its clearing, computed in one pass (:func:`settle`).

    Attributes
    ----------
    payout
        Margins, profits and the value each firm captures.
    layers
        Per-layer sums: quantity, revenue, external revenue (less self-supply at cost),
        value added (revenue less inputs), gross and operating profit, and the HHI of
        quantity shares.
    share
        Each operation's share of its layer's quantity.
    operating_margin
        Each operation's operating profit over its revenue from others (0 without any).
    posture
        1 where the operation priced above its restrain markup (extracted), else 0.
    unit_input
        Inputs per unit sold (the clearing's unit input cost where nothing was sold).
    firm_writedown
        Write-down per firm.
    firm_margin
        Per firm: operating profit over revenue from others (0 without any).
    restraining, sellers
        Per layer: active operations that restrained, and active operations.
    layer_gross_margin, layer_operating_margin, layer_price
        Per layer: gross and operating profit over revenue from others, revenue over
        quantity (each 0 where the denominator is not positive).
    mix
        Per buyer-seller pair of the clearing's flows (:class:`PairMatrix`, ``mix.dense()``
        for the matrix): the share of buyer ``b``'s purchases that came from seller ``s``.
    """

    payout: Payout
    layers: dict[str, FloatArray]
    share: FloatArray
    operating_margin: FloatArray
    posture: NDArray[np.int8]
    unit_input: FloatArray
    firm_writedown: FloatArray
    firm_margin: FloatArray
    restraining: FloatArray
    sellers: FloatArray
    layer_gross_margin: FloatArray
    layer_operating_margin: FloatArray
    layer_price: FloatArray
    mix: PairMatrix


def settle(
    layer_of: NDArray[np.int64],
    firm_of: NDArray[np.int64],
    n_layers: int,
    n_firms: int,
    revenue: FloatArray,
    input_cost: FloatArray,
    variable_cost: FloatArray,
    internal_revenue: FloatArray,
    quantity: FloatArray,
    capacity: FloatArray,
    capital: FloatArray,
    depreciation_rate: FloatArray,
    fixed_cost: FloatArray,
    writedown: FloatArray,
    fines: FloatArray,
    stakes: FloatArray | None,
    markup: FloatArray,
    restrain_markup: FloatArray,
    active: NDArray[np.bool_],
    unit_input_cost: FloatArray,
    flow: FloatArray | PairMatrix,
    jit: bool | None = None,
    wear_in_gross: FloatArray | None = None,
    payments: tuple[FloatArray, FloatArray] | None = None,
) -> Settlement:
    """The round's :class:`Settlement`: margins, profits, per-layer sums, postures, mix.

    The rule is :func:`stackgame.environment.round_kernel.settle_kernel` (compiled or
    plain: ``jit`` as in :func:`stackgame.environment.jit.compiled`); the stake transfers
    are :func:`_with_stakes`.

    Parameters
    ----------
    layer_of, firm_of
        Layer and firm index of each operation.
    internal_revenue
        Part of each operation's revenue that is self-supply to its own firm at cost; it
        is left out of the firm's external revenue.
    writedown
        One-off write-down of capital this round (a new hardware generation).
    stakes
        ``stakes[h, f]``: share of firm ``f`` held by firm ``h``; ``None`` when no firm
        holds a stake (the state knows: ``StackState.stakes_held``), which spares a pass
        over the firms x firms matrix (about 0.5 ms a round at 1,000 firms).
    markup, restrain_markup
        The markups charged and the restrain markups (an operation extracted when its
        markup exceeds its restrain markup).
    active
        Operations in business (they count as sellers of their layer).
    unit_input_cost, flow
        The clearing's unit input costs (inputs per unit where nothing was sold) and
        market flows ``flow[b, s]`` (purchase shares): the clearing's
        :attr:`~stackgame.environment.market.Clearing.flows`, or a dense matrix.
    wear_in_gross
        Per operation, 1 where the wear of its capital goods is its cost of revenue (a
        capital-goods layer, ``docs/MODEL.md`` 15.4), else 0 (default: 0 everywhere).
    payments
        ``(cum, price)``: cumulative payments per pair of ``flow`` (a :class:`PairMatrix`)
        and the sellers' prices; each pair's ``flow x price`` is added to ``cum`` in place,
        in the pass that takes the purchase shares (``History.payments_into``).
    """
    if not isinstance(flow, PairMatrix):  # (row-major: each buyer's sellers ascending)
        if payments is not None:
            raise ValueError("payments: held per pair of a PairMatrix of flows only")
        dense = np.asarray(flow, dtype=np.float64)
        nz = np.array(np.nonzero(dense), dtype=np.int64).reshape(2, -1)
        flow = PairMatrix(nz, dense[nz[0], nz[1]], dense.shape[0])
    starts, sellers = pair_layout(flow.pairs)
    kernel = compiled("settle_kernel", jit, work=layer_of.shape[0] / 4)
    per_op, posture, per_firm, lay, mix = kernel(
        layer_of, firm_of, n_layers, n_firms, revenue, input_cost, variable_cost,
        internal_revenue, quantity, capacity, capital, depreciation_rate, fixed_cost,
        writedown, fines, markup, restrain_markup, active, unit_input_cost, starts, sellers,
        flow.values, flow.n,
        constant(layer_of.shape[0], 0.0) if wear_in_gross is None else wear_in_gross,
        _NO_FLOATS if payments is None else payments[0],
        _NO_FLOATS if payments is None else payments[1],
    )  # fmt: skip
    gross, depreciation, operating, utilisation, op_margin, unit_input, share = per_op
    firm_profit, firm_revenue, firm_gross, firm_writedown, firm_margin = per_firm
    payout = _with_stakes(
        stakes, gross, depreciation, fixed_cost, fines, operating, utilisation, firm_profit,
        firm_revenue, firm_gross,
    )  # fmt: skip
    layers = {
        "quantity": lay[0],
        "revenue": lay[1],
        "external_revenue": lay[2],
        "value_added": lay[12],
        "gross_profit": lay[4],
        "operating_profit": lay[5],
        "hhi": lay[6],
    }
    return Settlement(
        payout, layers, share, op_margin, posture, unit_input, firm_writedown, firm_margin,
        lay[7], lay[8], lay[9], lay[10], lay[11], PairMatrix(flow.pairs, mix, flow.n),
    )  # fmt: skip


_LAYOUTS = 8
"""How many laid-out pair lists :func:`pair_layout` keeps (the most recent)."""
_SMALL_LAYOUT = 4096
"""Pair lists of at most this many pairs are kept besides the last (:func:`pair_layout`)."""
_LAYOUT: list[tuple[IntArray, IntArray, NDArray[np.int32]]] = []
"""The last pairs laid out by :func:`pair_layout`, with their layout (newest first)."""


def pair_layout(pairs: IntArray) -> tuple[IntArray, NDArray[np.int32]]:
    """Where each buyer's run of ``pairs`` starts (and the end), and the sellers in 32 bits.

    ``pairs`` (``[2, m]``: buyer, seller; each buyer's pairs together) is the clearing's
    pair list, the same array from round to round while the structure stands, so the
    layout of the last ones is kept: the settlement then reads 4 bytes a pair for the
    seller and none for the buyer (195,000 pairs at 1,000 firms of the all-pairs stack).
    A few are kept, not one: the pair lists of small structures are shared across models
    (:meth:`~stackgame.environment.market.Structure.pair_rows`), so the runs of a batch
    or a benchmark meet the same few lists again (before and after a failure). The pair
    lists are never changed in place, so the same array gives the same layout.
    """
    kept = list(_LAYOUT)  # (a copy: another thread may replace the entries)
    for last in kept:
        if last[0] is pairs:
            return last[1], last[2]
    buyers = pairs[0]
    m = buyers.shape[0]
    starts = np.concatenate(
        ([0], np.flatnonzero(buyers[1:] != buyers[:-1]) + 1, [m] if m else [])
    ).astype(np.int64)
    sellers = pairs[1].astype(np.int32)
    # (held: an id is not reused while it lives; of the older ones only small lists, whose
    # layouts cost little memory)
    older = [e for e in kept if e[0].shape[1] <= _SMALL_LAYOUT][: _LAYOUTS - 1]
    _LAYOUT[:] = [(pairs, starts, sellers), *older]
    return starts, sellers


def _with_stakes(
    stakes: FloatArray | None,
    gross: FloatArray,
    depreciation: FloatArray,
    fixed_cost: FloatArray,
    fines: FloatArray,
    operating: FloatArray,
    utilisation: FloatArray,
    firm_profit: FloatArray,
    firm_revenue: FloatArray,
    firm_gross: FloatArray,
) -> Payout:
    """The :class:`Payout`, with profit moved between firms by equity stakes."""
    if stakes is not None and stakes.any():
        held_by_others = np.add.reduce(stakes, axis=0)  # stakes.sum(axis=0), sans wrapper
        received = stakes @ firm_profit
    else:  # no stakes (the common case): skip two passes over a firms x firms matrix,
        # whose sums of zeros are these zeros (4.5 ms a round at 1,000 firms)
        held_by_others = received = np.zeros(firm_profit.shape[0])
    value = (1.0 - held_by_others) * firm_profit + received
    stake_income = received - held_by_others * firm_profit
    return Payout(
        gross_profit=gross,
        depreciation=depreciation,
        fixed_cost=fixed_cost.copy(),
        fines=fines,
        operating_profit=operating,
        utilisation=utilisation,
        firm_profit=firm_profit,
        firm_value=value,
        stake_income=stake_income,
        firm_revenue=firm_revenue,
        firm_gross=firm_gross,
    )
