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

import numpy as np
from numpy.typing import NDArray
from stackgame.environment.jit import compiled

FloatArray = NDArray[np.float64]


def _logistic(x: FloatArray) -> FloatArray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def investigation_probability(
    share: FloatArray,
    operating_margin: FloatArray,
    stance: float,
    base_rate: float,
    share_threshold: float,
    margin_threshold: float,
) -> FloatArray:
    """Probability that each operation is investigated this round (see module docstring)."""
    p = (
        base_rate
        * stance
        * _logistic((share - share_threshold) / 0.05)
        * _logistic((operating_margin - margin_threshold) / 0.05)
    )
    return np.clip(p, 0.0, 1.0)


def investigate(
    probability: FloatArray, open_: NDArray[np.bool_], draws: FloatArray
) -> NDArray[np.bool_]:
    """Which operations open an investigation, given uniform ``draws`` in [0, 1).

    Operations with an investigation already open (``open_``) are not investigated again.
    """
    return (draws < probability) & ~open_


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

    Exactly ``investigate(investigation_probability(...), cap_until > round_, draws) &
    active``. With numba, one compiled pass decides every operation whose draw is not
    within ``1e-12`` of its probability (numba's ``tanh`` may differ from numpy's in the
    last bit); the rare others are settled with numpy's probability. ``jit`` as in
    :func:`stackgame.environment.jit.compiled`.
    """
    kernel = compiled("investigate_kernel", jit)
    if kernel is None:
        prob = investigation_probability(
            share, operating_margin, stance, base_rate, share_threshold, margin_threshold
        )
        return investigate(prob, cap_until > round_, draws) & active
    verdict, n_close = kernel(
        share, operating_margin, stance, base_rate, share_threshold, margin_threshold, draws,
        cap_until, round_, active,
    )  # fmt: skip
    opened = verdict == 1
    if n_close:
        close = np.flatnonzero(verdict == 2)
        prob = investigation_probability(
            share[close], operating_margin[close], stance, base_rate, share_threshold,
            margin_threshold,
        )  # fmt: skip
        opened[close] = draws[close] < prob
    return opened
