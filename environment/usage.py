"""The usage channel: the price of capability today sets how far usage expands tomorrow.

``001_098523a2e050d583.txt``: "10x capability drives 20x usage". Usage responds to the
price of a unit of capability with a lag (new uses are adopted, workflows rebuilt), so a
firm that extracts, by raising the price at the top of the stack, lowers the market it
sells into in the rounds that follow (``docs/MODEL.md`` 6.5).

The channel reads the price of capability *relative to what the stack spends to make
it*, ``rho_t = p_t / c_t``: ``p_t`` the top layer's average price, ``c_t`` the price the
same round's costs would give with every markup zero (the engine's own price rule,
:func:`stackgame.environment.market.resolve_prices`). Falling costs lower ``p_t`` and
``c_t`` alike, so the trend they drive stays in the scenario's ``demand.growth`` and is
not counted twice; the channel carries the rent: what the firms of the stack add on top
of cost. A usage index ``U`` (``U_0 = 1``) follows the constant-elasticity level
``(rho_ref / rho_t)^epsilon`` by partial adjustment:

    log U_{t+1} = (1 - lambda) log U_t + lambda epsilon log(rho_ref / rho_t)
    M_{t+1} = M_t (1 + g) (U_{t+1} / U_t)  [times the volatility shock, section 6.1]

``epsilon`` is the elasticity of usage to capability per dollar, ``lambda`` the share of
the gap closed in one round, ``rho_ref`` the price-to-cost ratio at which usage is at
its trend (``U = 1``).
"""

from __future__ import annotations

import math

import numpy as np


def average_price(revenue: np.ndarray, quantity: np.ndarray, price: np.ndarray) -> float:
    """The top layer's average price: ``sum_j R_j / sum_j q_j`` (posted prices' mean if none sold).

    Applied to the round's prices it gives ``p_t``; to the zero-markup prices weighted by
    the same quantities, ``c_t`` (:func:`price_to_cost`). ``nan`` when nothing is on offer.

    Examples
    --------
    >>> average_price(np.array([6.0, 2.0]), np.array([2.0, 2.0]), np.array([3.0, 1.0]))
    2.0
    """
    sold = float(quantity.sum())
    if sold > 0:
        return float(revenue.sum()) / sold
    return float(price.mean()) if price.size else math.nan


def price_to_cost(price: np.ndarray, cost_price: np.ndarray, quantity: np.ndarray) -> float:
    """``rho_t = p_t / c_t`` over the top layer's operations, weighted by what each sold.

    Examples
    --------
    Two sellers at 4 and 2 over a cost of 1 each, selling 1 and 3 units:
    ``(4 + 6) / (1 + 3) = 2.5``.

    >>> price_to_cost(np.array([4.0, 2.0]), np.ones(2), np.array([1.0, 3.0]))
    2.5
    """
    p = average_price(price * quantity, quantity, price)
    c = average_price(cost_price * quantity, quantity, cost_price)
    return p / c if c > 0 else math.nan


def usage_step(
    log_usage: float, ratio: float, reference: float, elasticity: float, adjustment: float
) -> tuple[float, float]:
    """Next round's log usage index and the factor the market size moves by.

    Parameters
    ----------
    log_usage
        ``log U_t``.
    ratio
        ``rho_t``, the price of capability over its cost this round
        (:func:`price_to_cost`); a non-positive or ``nan`` ratio leaves usage where it is.
    reference, elasticity, adjustment
        ``rho_ref``, ``epsilon`` and ``lambda`` (per round).

    Returns
    -------
    tuple
        ``(log U_{t+1}, U_{t+1} / U_t)``.

    Examples
    --------
    A price-to-cost ratio twice the reference, elasticity 2, full adjustment: usage falls
    to ``2^-2 = 1/4`` of its trend.

    >>> log_u, factor = usage_step(0.0, 4.0, 2.0, 2.0, 1.0)
    >>> factor
    0.25
    """
    if not ratio > 0:
        return log_usage, 1.0
    target = elasticity * math.log(reference / ratio)
    new = (1.0 - adjustment) * log_usage + adjustment * target
    return new, math.exp(new - log_usage)
