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
    held_by_others = stakes.sum(axis=0)
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

    def per_layer(x: FloatArray) -> FloatArray:
        return np.bincount(layer_of, weights=x, minlength=n_layers).astype(float)

    revenue_l = per_layer(revenue)
    return {
        "quantity": per_layer(quantity),
        "revenue": revenue_l,
        "external_revenue": per_layer(revenue - internal_revenue),
        "value_added": revenue_l - per_layer(input_cost),
        "gross_profit": per_layer(gross_profit),
        "operating_profit": per_layer(operating_profit),
        "hhi": hhi(quantity, layer_of, n_layers),
    }
