"""The antitrust regulator's rule: who gets investigated, fined and price-capped.

Each round, for each operation ``i`` not already under investigation, an investigation
opens with probability::

    P_i = b * sigma * logistic((s_i - s*) / 0.05) * logistic((m_i - m*) / 0.05)

where ``b`` is the base rate, ``sigma`` the stance (0 lax, 1 aggressive), ``s_i`` the
operation's quantity share of its layer, ``m_i`` its operating margin, and ``s*``, ``m*``
the thresholds. The draw is an explicit chance outcome from the regulator's own
generator. An investigation fines a share of the operation's revenue and caps its markup
for a number of rounds. This is the risk Nvidia's restraint answers in
`000_e3319be9a08c4b37.txt` ("aggressively repricing ... risks drawing further attention").
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from stackgame.environment.jit import compiled, jitable

FloatArray = NDArray[np.float64]

WIDTH = 0.05
"""Width of the logistic steps in share and margin."""


@jitable
def probability_at(
    share: float,
    operating_margin: float,
    stance: float,
    base_rate: float,
    share_threshold: float,
    margin_threshold: float,
) -> float:
    """``P = b sigma logistic((s - s*)/0.05) logistic((m - m*)/0.05)``, clipped to [0, 1].

    ``logistic(x) = (1 + tanh(x / 2)) / 2`` (the C library's ``tanh``).
    """
    a = 0.5 * (1.0 + math.tanh(0.5 * ((share - share_threshold) / WIDTH)))
    b = 0.5 * (1.0 + math.tanh(0.5 * ((operating_margin - margin_threshold) / WIDTH)))
    p = base_rate * stance * a * b
    return min(max(p, 0.0), 1.0)


@jitable
def probability_kernel(
    share: np.ndarray,
    operating_margin: np.ndarray,
    stance: float,
    base_rate: float,
    share_threshold: float,
    margin_threshold: float,
) -> np.ndarray:
    """:func:`probability_at` for every operation."""
    out = np.empty(share.shape[0])
    for i in range(share.shape[0]):
        out[i] = probability_at(
            share[i], operating_margin[i], stance, base_rate, share_threshold, margin_threshold
        )
    return out


@jitable
def investigate_kernel(
    share: np.ndarray,
    operating_margin: np.ndarray,
    stance: float,
    base_rate: float,
    share_threshold: float,
    margin_threshold: float,
    draws: np.ndarray,
    cap_until: np.ndarray,
    round_: int,
    active: np.ndarray,
) -> np.ndarray:
    """Which operations open an investigation: active, none open, draw below ``P``.

    An investigation is open while ``cap_until > round_``; ``draws`` are uniform on
    [0, 1), one per operation, from the regulator's own generator.
    """
    n = share.shape[0]
    opened = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if cap_until[i] > round_ or not active[i]:
            continue
        p = probability_at(
            share[i], operating_margin[i], stance, base_rate, share_threshold, margin_threshold
        )
        opened[i] = draws[i] < p
    return opened


def investigation_probability(
    share: FloatArray,
    operating_margin: FloatArray,
    stance: float,
    base_rate: float,
    share_threshold: float,
    margin_threshold: float,
) -> FloatArray:
    """Probability that each operation is investigated this round (:func:`probability_at`)."""
    share = np.ascontiguousarray(share, dtype=np.float64)
    kernel = compiled("probability_kernel", module="regulator", work=share.shape[0] / 4)
    return kernel(
        share, np.ascontiguousarray(operating_margin, dtype=np.float64), float(stance),
        float(base_rate), float(share_threshold), float(margin_threshold),
    )  # fmt: skip


def open_investigations(
    share: FloatArray,
    operating_margin: FloatArray,
    stance: float,
    base_rate: float,
    share_threshold: float,
    margin_threshold: float,
    draws: FloatArray,
    cap_until: NDArray[np.int64],
    round_: int,
    active: NDArray[np.bool_],
    jit: bool | None = None,
) -> NDArray[np.bool_]:
    """Active operations without an open investigation whose draw opens one this round.

    The rule is :func:`investigate_kernel`; ``jit`` as in
    :func:`stackgame.environment.jit.compiled`.
    """
    kernel = compiled("investigate_kernel", jit, module="regulator", work=share.shape[0] / 4)
    return kernel(
        share, operating_margin, float(stance), float(base_rate), float(share_threshold),
        float(margin_threshold), draws, cap_until, int(round_), active,
    )  # fmt: skip
