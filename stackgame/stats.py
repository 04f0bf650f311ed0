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

    NaN for fewer than two observations. The 95% quantiles of up to :data:`T_975_MAX`
    observations come from a table of SciPy's own values (``scipy.stats.t.ppf``, the same
    floats; a test checks every entry), so that ``stackgame run``'s intervals over a few
    seeds do not import ``scipy.stats`` (over a second of a one-round run's start-up).
    """
    if n < 2:
        return float("nan")
    if level == 0.95 and n <= T_975_MAX:
        return _T_975[n]
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, n - 1))


T_975_MAX = 64
"""Observations up to which :func:`t_quantile` reads the 95% quantile from a table."""

_T_975: dict[int, float] = {
    2: 12.706204736174694,
    3: 4.302652729749462,
    4: 3.1824463052837078,
    5: 2.7764451051977934,
    6: 2.5705818356363146,
    7: 2.4469118511449786,
    8: 2.364624251592784,
    9: 2.306004135204166,
    10: 2.262157162798205,
    11: 2.228138851986274,
    12: 2.200985160091639,
    13: 2.1788128296672284,
    14: 2.1603686564627913,
    15: 2.144786687917804,
    16: 2.131449545559776,
    17: 2.1199052992212546,
    18: 2.1098155778333156,
    19: 2.1009220402410382,
    20: 2.0930240544083087,
    21: 2.085963447265864,
    22: 2.0796138447276795,
    23: 2.0738730679040254,
    24: 2.0686576104190486,
    25: 2.0638985616280245,
    26: 2.0595385527532972,
    27: 2.0555294386428735,
    28: 2.0518305164802846,
    29: 2.0484071417952454,
    30: 2.045229642132703,
    31: 2.0422724563012378,
    32: 2.039513446396408,
    33: 2.0369333434601016,
    34: 2.0345152974493383,
    35: 2.0322445093177186,
    36: 2.030107928250343,
    37: 2.0280940009804502,
    38: 2.0261924630291093,
    39: 2.0243941639119694,
    40: 2.022690920036761,
    41: 2.021075390306273,
    42: 2.019540970441376,
    43: 2.0180817028184443,
    44: 2.016692199227824,
    45: 2.0153675744437636,
    46: 2.014103388880846,
    47: 2.012895598919429,
    48: 2.0117405137297655,
    49: 2.010634757624232,
    50: 2.0095752371292392,
    51: 2.008559112100761,
    52: 2.007583770315836,
    53: 2.006646805061688,
    54: 2.0057459953178687,
    55: 2.0048792881880564,
    56: 2.0040447832891455,
    57: 2.003240718847872,
    58: 2.002465459291007,
    59: 2.0017174841452356,
    60: 2.000995378088267,
    61: 2.0002978220142604,
    62: 1.999623584994939,
    63: 1.9989715170333788,
    64: 1.998340542520741,
}
"""``scipy.stats.t.ppf(0.975, n - 1)`` for ``n = 2 .. T_975_MAX`` observations."""


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
