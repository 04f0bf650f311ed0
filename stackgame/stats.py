"""Statistics shared by the capabilities: Student-t intervals and fixation probabilities.

Student-t intervals
    For a sample ``x_1 .. x_n``, the two-sided interval for the mean at confidence
    ``level`` is ``mean +/- t_{(1 + level) / 2, n - 1} * s / sqrt(n)``, with ``s`` the
    sample standard deviation (``ddof=1``). Tournaments put it on per-repetition scores,
    the empirical game on payoffs, theses on paired differences.
Fixation probabilities
    In a birth-death process on ``0 .. N`` mutants with transition probabilities
    ``T+_i`` (one more mutant) and ``T-_i`` (one fewer), one mutant takes over with
    probability ``rho = 1 / (1 + sum_{k=1}^{N-1} prod_{i=1}^{k} T-_i / T+_i)``
    (Nowak 2006, eq. 6.9; Nowak et al. 2004, eq. 1): :func:`fixation_probability` takes
    the log ratios ``log(T-_i / T+_i)``. Under the Fermi rule with a constant payoff advantage
    ``delta`` every ratio is ``exp(-alpha delta)`` and the sum is geometric:
    :func:`fermi_fixation_probability` is that closed form, computed in log space.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


@functools.lru_cache(maxsize=256)
def t_quantile(n: int, level: float = 0.95) -> float:
    """Two-sided Student-t quantile for ``n`` observations (``n - 1`` degrees of freedom).

    NaN for fewer than two observations.
    """
    if n < 2:
        return float("nan")
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, n - 1))


def standard_error(samples: ArrayLike, axis: int = -1) -> Any:
    """Standard error of the mean along ``axis``: ``s / sqrt(n)`` (NaN for ``n < 2``)."""
    x = np.asarray(samples, dtype=float)
    n = x.shape[axis]
    if n < 2:
        return np.full(np.mean(x, axis=axis).shape, np.nan) if x.ndim > 1 else float("nan")
    return np.std(x, axis=axis, ddof=1) / math.sqrt(n)


def t_half_width(samples: ArrayLike, level: float = 0.95, axis: int = -1) -> Any:
    """Half-width of the Student-t interval of the mean along ``axis``: ``t * s / sqrt(n)``."""
    x = np.asarray(samples, dtype=float)
    return t_quantile(x.shape[axis], level) * standard_error(x, axis)


def t_interval(x: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval for the mean of ``x`` (NaN for fewer than 2 values)."""
    lo, hi = mean_ci(x, level)["ci"]
    return (lo, hi)


def mean_ci(values: Sequence[float] | ArrayLike, level: float = 0.95) -> dict[str, Any]:
    """Mean, standard error and Student-t confidence interval of a sample.

    Returns
    -------
    dict
        ``mean``, ``se`` (``s / sqrt(n)``), ``ci`` (a pair, NaN for fewer than two values)
        and ``n``.

    Examples
    --------
    >>> out = mean_ci([1.0, 2.0, 3.0])
    >>> out["mean"], round(out["ci"][1], 4)
    (2.0, 4.4841)
    """
    x = np.asarray(values, dtype=float).ravel()
    n = int(x.size)
    mean = float(x.mean()) if n else float("nan")
    se = float(standard_error(x)) if n > 1 else float("nan")
    half = t_quantile(n, level) * se if n > 1 else float("nan")
    return {"mean": mean, "se": se, "ci": [mean - half, mean + half], "n": n}


def fixation_probability(log_ratios: ArrayLike) -> float:
    """Probability that one mutant takes over, given ``log(T-_i / T+_i)`` for ``i = 1 .. N-1``.

    ``rho = 1 / (1 + sum_k prod_{i <= k} T-_i / T+_i)`` (Nowak 2006, eq. 6.9), summed in
    log space (log-sum-exp), so that strong selection neither overflows nor loses the tiny
    probabilities of disadvantageous mutants. Neutral drift (every log ratio 0) gives
    ``1 / N``; a ratio of ``+inf`` (a mutant that cannot reproduce) gives 0.

    Raises
    ------
    ValueError
        If a log ratio is NaN (a transition probability that is negative, or 0 / 0).
    """
    logs = np.cumsum(np.asarray(log_ratios, dtype=float))
    if np.isnan(logs).any():
        raise ValueError("fixation probability: a transition ratio is undefined (NaN)")
    if logs.size == 0:
        return 1.0
    if np.isposinf(logs[-1]):
        return 0.0
    top = max(0.0, float(logs.max()))
    log_sum = top + np.log(np.exp(-top) + np.exp(logs - top).sum())
    return float(np.exp(-log_sum))


def fermi_fixation_probability(delta: ArrayLike, alpha: float, m: int) -> FloatArray:
    """:func:`fixation_probability` under the Fermi rule with a constant advantage ``delta``.

    Every ratio is ``exp(-alpha delta)`` (Traulsen et al. 2006, used in the Methods of
    Omidshafiei et al. 2019's alpha-Rank), so, in a population of ``m``::

        rho(delta) = (1 - exp(-alpha delta)) / (1 - exp(-m alpha delta))   (delta != 0)
        rho(0)     = 1 / m                                                  (neutral drift)

    Elementwise over ``delta``; computed in log space, so that large ``alpha |delta|``
    neither overflows nor loses the tiny probabilities of disadvantageous mutants.
    """
    d = np.asarray(delta, dtype=float)
    x = alpha * d
    out = np.full(d.shape, 1.0 / m)
    pos = x > 1e-12
    neg = x < -1e-12
    xp = x[pos]
    # rho = -expm1(-x) / -expm1(-m x): both terms in (0, 1], no overflow.
    out[pos] = np.expm1(-xp) / np.expm1(-m * xp)
    yn = -x[neg]  # > 0; rho = expm1(y) / expm1(m y), in logs
    out[neg] = np.exp(_log_expm1(yn) - _log_expm1(m * yn))
    return out


def _log_expm1(y: FloatArray) -> FloatArray:
    """``log(exp(y) - 1)`` for ``y > 0`` without overflow."""
    return np.where(
        y > 30, y + np.log1p(-np.exp(-np.minimum(y, 700))), np.log(np.expm1(np.minimum(y, 30)))
    )


__all__ = [
    "fermi_fixation_probability",
    "fixation_probability",
    "mean_ci",
    "standard_error",
    "t_half_width",
    "t_interval",
    "t_quantile",
]
