"""Discounted payoffs: what a stream of per-round payoffs is worth to a firm today.

A firm that discounts at the rate ``r`` per round values the payoffs ``pi_0, pi_1, ...,
pi_{T-1}`` of a run of ``T`` rounds at their present value (``docs/MODEL.md`` 21)

    V = sum_{t=0}^{T-1} delta^t pi_t,    delta = 1 / (1 + r),

and its per-round equivalent (the constant payoff with the same present value, the
annuity that V buys over the horizon)

    v = V / A_T,    A_T = sum_{t=0}^{T-1} delta^t.

Over a fixed horizon ``v`` ranks streams as ``V`` does (``A_T`` is the same for every
stream), and with ``r = 0`` it is the plain mean per round, so the textbook tables keep
their numbers. Tournaments, equilibria and theses score strategies by ``v``.
"""

from __future__ import annotations

import math

import numpy as np


def check_rate(rate: float, where: str = "discount_rate") -> float:
    """``rate`` as a float, or a ``ValueError`` naming ``where`` if it is negative or not finite."""
    value = float(rate)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: must be a finite number >= 0 (got {rate})")
    return value


def discount_factors(rounds: int, rate: float) -> np.ndarray:
    """``delta^t`` for ``t = 0 .. rounds - 1``, ``delta = 1 / (1 + rate)``.

    Examples
    --------
    >>> discount_factors(3, 1.0).tolist()
    [1.0, 0.5, 0.25]
    """
    return np.power(1.0 / (1.0 + check_rate(rate)), np.arange(rounds, dtype=float))


def present_value(values: np.ndarray, rate: float) -> np.ndarray:
    """``V = sum_t delta^t pi_t`` down the first axis of ``values`` (rounds first).

    Examples
    --------
    Payoffs 4, 2, 1 at 100% a round: ``4 + 2/2 + 1/4 = 5.25``.

    >>> float(present_value(np.array([4.0, 2.0, 1.0]), 1.0))
    5.25
    """
    v = np.asarray(values, dtype=float)
    return np.asarray(np.tensordot(discount_factors(v.shape[0], rate), v, axes=1))


def per_round_equivalent(values: np.ndarray, rate: float) -> np.ndarray:
    """``v = V / A_T``: the constant payoff per round with the same present value.

    With ``rate = 0`` the mean per round.

    Examples
    --------
    >>> float(per_round_equivalent(np.array([4.0, 2.0, 1.0]), 1.0))
    3.0
    >>> float(per_round_equivalent(np.array([4.0, 2.0, 1.0]), 0.0))
    2.3333333333333335
    """
    v = np.asarray(values, dtype=float)
    if check_rate(rate) == 0.0:
        return np.asarray(v.mean(axis=0))
    weights = discount_factors(v.shape[0], rate)
    return np.asarray(np.tensordot(weights, v, axes=1) / weights.sum())
