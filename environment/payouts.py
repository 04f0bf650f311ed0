"""Payouts: from a round's clearing to margins, depreciation, equity stakes and cash.

Pure functions over arrays. Per operation ``i`` in a round (dollars)::

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

FloatArray = NDArray[np.float64]


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


def pay_out(
    firm_of: NDArray[np.int64],
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
    stakes: FloatArray,
) -> Payout:
    """Margins, depreciation and the value each firm captures this round.

    Parameters
    ----------
    firm_of
        Firm index of each operation.
    internal_revenue
        Part of each operation's revenue that is self-supply to its own firm at cost; it
        is left out of the firm's external revenue.
    writedown
        One-off write-down of capital this round (a new hardware generation).
    stakes
        ``stakes[h, f]``: share of firm ``f`` held by firm ``h``.
    """
    gross = revenue - input_cost - variable_cost
    depreciation = capital * depreciation_rate + writedown
    operating = gross - depreciation - fixed_cost - fines
    utilisation = np.divide(quantity, capacity, out=np.zeros_like(quantity), where=capacity > 1e-12)
    firm_profit = np.bincount(firm_of, weights=operating, minlength=n_firms).astype(float)
    firm_revenue = np.bincount(
        firm_of, weights=revenue - internal_revenue, minlength=n_firms
    ).astype(float)
    firm_gross = np.bincount(firm_of, weights=gross, minlength=n_firms).astype(float)
    return _with_stakes(
        stakes, gross, depreciation, fixed_cost, fines, operating, utilisation, firm_profit,
        firm_revenue, firm_gross,
    )  # fmt: skip


def margin(numerator: FloatArray | float, revenue: FloatArray | float) -> FloatArray:
    """``numerator / revenue`` where revenue is positive, else 0 (a margin as a fraction)."""
    num = np.asarray(numerator, dtype=float)
    rev = np.asarray(revenue, dtype=float)
    return np.divide(num, rev, out=np.zeros(np.broadcast(num, rev).shape), where=rev > 1e-12)


def hhi(quantity: FloatArray, layer_of: NDArray[np.int64], n_layers: int) -> FloatArray:
    """Herfindahl-Hirschman index of quantity shares per layer, ``sum_i s_i^2`` in [0, 1]."""
    totals = np.bincount(layer_of, weights=quantity, minlength=n_layers)
    share = np.divide(
        quantity, totals[layer_of], out=np.zeros_like(quantity), where=totals[layer_of] > 1e-12
    )
    return np.bincount(layer_of, weights=share**2, minlength=n_layers).astype(float)


def layer_totals(
    layer_of: NDArray[np.int64],
    n_layers: int,
    quantity: FloatArray,
    revenue: FloatArray,
    internal_revenue: FloatArray,
    input_cost: FloatArray,
    gross_profit: FloatArray,
    operating_profit: FloatArray,
) -> dict[str, FloatArray]:
    """One round's per-layer sums: what the public market view and the history both read.

    Returns quantity, revenue, external revenue (less self-supply at cost), value added
    (revenue less inputs), gross and operating profit, and the HHI of quantity shares.
    """
    return layer_totals_and_shares(
        layer_of, n_layers, quantity, revenue, internal_revenue, input_cost, gross_profit,
        operating_profit,
    )[0]  # fmt: skip


def layer_totals_and_shares(
    layer_of: NDArray[np.int64],
    n_layers: int,
    quantity: FloatArray,
    revenue: FloatArray,
    internal_revenue: FloatArray,
    input_cost: FloatArray,
    gross_profit: FloatArray,
    operating_profit: FloatArray,
) -> tuple[dict[str, FloatArray], FloatArray]:
    """:func:`layer_totals`, and each operation's share of its layer's quantity.

    The six sums are one ``bincount`` over the six columns stacked (bin ``j * L + k`` for
    column ``j`` and layer ``k``): each bin still adds its operations in index order, so
    the sums are exactly those of six separate ``bincount`` calls.
    """
    n = layer_of.shape[0]
    bins = (layer_of[None, :] + n_layers * np.arange(6)[:, None]).ravel()
    stacked = np.concatenate(
        (quantity, revenue, revenue - internal_revenue, input_cost, gross_profit,
         operating_profit)
    ) if n else np.zeros(0)  # fmt: skip
    sums = np.bincount(bins, weights=stacked, minlength=6 * n_layers).reshape(6, n_layers)
    q_l, revenue_l, external_l, input_l, gross_l, operating_l = sums
    total = q_l[layer_of]
    share = np.divide(quantity, total, out=np.zeros_like(quantity), where=total > 1e-12)
    hhi_l = np.bincount(layer_of, weights=share * share, minlength=n_layers).astype(float)
    totals = {
        "quantity": q_l,
        "revenue": revenue_l,
        "external_revenue": external_l,
        "value_added": revenue_l - input_l,
        "gross_profit": gross_l,
        "operating_profit": operating_l,
        "hhi": hhi_l,
    }
    return totals, share


@dataclass
class Settlement:
    """Everything a round derives from its clearing, computed in one pass (:func:`settle`).

    Attributes
    ----------
    payout
        Margins, profits and the value each firm captures (:func:`pay_out`).
    layers
        Per-layer sums (:func:`layer_totals`).
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
        ``mix[b, s]``: the share of buyer ``b``'s purchases that came from seller ``s``.
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
    mix: FloatArray


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
    stakes: FloatArray,
    markup: FloatArray,
    restrain_markup: FloatArray,
    active: NDArray[np.bool_],
    unit_input_cost: FloatArray,
    flow: FloatArray,
    jit: bool | None = None,
) -> Settlement:
    """The round's :class:`Settlement`: :func:`pay_out`, :func:`layer_totals` and the rest.

    Runs the numba kernel (:mod:`stackgame.environment.round_kernel`) when the compiled
    clearing is on (see :func:`stackgame.environment.market.clear`), else the numpy
    reference here (``jit=False``); the two give identical numbers. Parameters are those of
    :func:`pay_out`, plus the markups charged and the restrain markups (postures), which
    operations are active, and the clearing's unit input costs and flows; ``jit`` as in
    :func:`stackgame.environment.jit.compiled`.
    """
    kernel = compiled("settle_kernel", jit)
    if kernel is None or layer_of.shape[0] == 0:  # the numpy reference
        payout = pay_out(
            firm_of, n_firms, revenue, input_cost, variable_cost, internal_revenue, quantity,
            capacity, capital, depreciation_rate, fixed_cost, writedown, fines, stakes,
        )  # fmt: skip
        layers, share = layer_totals_and_shares(
            layer_of, n_layers, quantity, revenue, internal_revenue, input_cost,
            payout.gross_profit, payout.operating_profit,
        )  # fmt: skip
        posture = (markup > restrain_markup + 1e-12).astype(np.int8)
        unit_input = np.divide(
            input_cost, quantity, out=unit_input_cost.copy(), where=quantity > 1e-12
        )
        on = active.astype(float)
        bought = flow.sum(axis=1, keepdims=True)
        ext = layers["external_revenue"]
        return Settlement(
            payout=payout,
            layers=layers,
            share=share,
            operating_margin=margin(payout.operating_profit, revenue - internal_revenue),
            posture=posture,
            unit_input=unit_input,
            firm_writedown=np.bincount(firm_of, weights=writedown, minlength=n_firms).astype(float),
            restraining=np.bincount(
                layer_of, weights=(1 - posture) * on, minlength=n_layers
            ).astype(float),
            sellers=np.bincount(layer_of, weights=on, minlength=n_layers).astype(float),
            firm_margin=margin(payout.firm_profit, payout.firm_revenue),
            layer_gross_margin=margin(layers["gross_profit"], ext),
            layer_operating_margin=margin(layers["operating_profit"], ext),
            layer_price=margin(layers["revenue"], layers["quantity"]),
            mix=np.divide(flow, bought, out=np.zeros_like(flow), where=bought > 1e-12),
        )
    per_op, posture, per_firm, lay, mix = kernel(
        layer_of, firm_of, n_layers, n_firms, revenue, input_cost, variable_cost,
        internal_revenue, quantity, capacity, capital, depreciation_rate, fixed_cost,
        writedown, fines, markup, restrain_markup, active, unit_input_cost, flow,
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
        lay[7], lay[8], lay[9], lay[10], lay[11], mix,
    )  # fmt: skip


def _with_stakes(
    stakes: FloatArray,
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
    held_by_others = np.add.reduce(stakes, axis=0)  # stakes.sum(axis=0), sans wrapper
    received = stakes @ firm_profit
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
