"""The antitrust regulator's rule: who gets investigated, and what the investigation ends in.

Each round, for each active operation ``i`` with no investigation open, an investigation
opens with probability (per round, a quarter; ``docs/MODEL.md`` section 12)::

    P_i = b * sigma * L((s_i - s*) / w_s) * L((m_i - m* + k_d (d_i - d*)) / w_m)

where ``L(x) = 1 / (1 + exp(-x))``, ``b`` the base rate (the hazard per round of a
dominant, plainly extracting firm under the most aggressive authority), ``sigma`` the
stance (0 lax, 1 aggressive), ``s_i`` the operation's quantity share of its layer,
``m_i`` its operating margin, ``d_i`` the operating margin of the layers downstream of
its own (what the buyers visibly earn), ``k_d`` the weight of the downstream margin in
the margin's salience, and ``s*``, ``m*``, ``d*``, ``w_s``, ``w_m`` the thresholds and
widths. The first factor is dominance (Article 102 TFEU and section 2 of the Sherman Act
reach only a dominant firm), the second the visible abuse: "outsized margin expansion
while downstream AI labs are also generating significant profits"
(`000_e3319be9a08c4b37.txt`).

The draw ``u`` is one uniform per operation from the regulator's own generator; an
investigation opens when ``u < P_i``, and then ``v = u / P_i`` (uniform on [0, 1) and
independent of the opening) picks its outcome: closed without remedy, commitments (a
markup cap), an infringement decision (a fine and a markup cap) or a structural remedy
(the fine, the cap and a divestiture), with the scenario's chances in that order.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from stackgame.environment.jit import compiled, jitable

FloatArray = NDArray[np.float64]

WIDTH = 0.05
"""Default width of the logistic steps in share and margin."""

FINE_CAP = 0.10
"""Ceiling on a fine: 10% of the firm's turnover in the preceding business year
(Council Regulation (EC) No 1/2003, art. 23(2))."""

ROUNDS_PER_YEAR = 4
"""A round is a quarter: a year's turnover is four rounds' revenue."""

NONE, CLOSED, COMMITMENTS, INFRINGEMENT, STRUCTURAL = 0, 1, 2, 3, 4
"""Outcome codes of :func:`investigate_kernel` (no investigation opened, then the four)."""

OUTCOMES = ("none", "closed", "commitments", "infringement", "structural")
"""Names of the outcome codes, in order."""

RULE_FIELDS = (
    "stance", "base_rate", "share_threshold", "margin_threshold", "share_width",
    "margin_width", "downstream_weight", "downstream_threshold", "closed_chance",
    "commitment_chance", "structural_chance",
)  # fmt: skip
"""The regulator's fields packed, in this order, into the rule array the kernels read."""


@jitable
def _logistic(x: float) -> float:
    """``1 / (1 + exp(-x))`` as ``(1 + tanh(x / 2)) / 2`` (no overflow, the C ``tanh``)."""
    return 0.5 * (1.0 + math.tanh(0.5 * x))


@jitable
def probability_at(
    share: float, operating_margin: float, downstream: float, rule: np.ndarray
) -> float:
    """``P = b sigma L((s - s*)/w_s) L((m - m* + k_d (d - d*))/w_m)``, clipped to [0, 1].

    ``rule`` holds the fields of :data:`RULE_FIELDS` in order.
    """
    stance, base_rate, s_star, m_star = rule[0], rule[1], rule[2], rule[3]
    w_s, w_m, k_d, d_star = rule[4], rule[5], rule[6], rule[7]
    a = _logistic((share - s_star) / w_s)
    salience = operating_margin - m_star
    if k_d != 0.0:
        salience += k_d * (downstream - d_star)
    b = _logistic(salience / w_m)
    p = base_rate * stance * a * b
    return min(max(p, 0.0), 1.0)


@jitable
def outcome_of(v: float, rule: np.ndarray) -> int:
    """The outcome code of an opened investigation whose uniform is ``v`` in [0, 1).

    ``v < c`` closed, ``< c + k`` commitments, ``>= 1 - s`` structural, else an
    infringement decision (``c``, ``k``, ``s`` the closed, commitment and structural
    chances).
    """
    closed, commit, structural = rule[8], rule[9], rule[10]
    if v < closed:
        return CLOSED
    if v < closed + commit:
        return COMMITMENTS
    if v >= 1.0 - structural:
        return STRUCTURAL
    return INFRINGEMENT


@jitable
def probability_kernel(
    share: np.ndarray, operating_margin: np.ndarray, downstream: np.ndarray, rule: np.ndarray
) -> np.ndarray:
    """:func:`probability_at` for every operation."""
    out = np.empty(share.shape[0])
    for i in range(share.shape[0]):
        out[i] = probability_at(share[i], operating_margin[i], downstream[i], rule)
    return out


@jitable
def investigate_kernel(
    share: np.ndarray,
    operating_margin: np.ndarray,
    downstream: np.ndarray,
    rule: np.ndarray,
    draws: np.ndarray,
    cap_until: np.ndarray,
    round_: int,
    active: np.ndarray,
    hazard: np.ndarray,
) -> np.ndarray:
    """Outcome code per operation: :data:`NONE` unless its draw opens an investigation.

    An operation can be investigated when active with none open (``cap_until <=
    round_``); then its hazard ``P`` (:func:`probability_at`) is written to ``hazard``
    (0 otherwise), an investigation opens when ``draws[i] < P`` and ``draws[i] / P``
    picks the outcome (:func:`outcome_of`). ``draws`` are uniform on [0, 1), one per
    operation, from the regulator's own generator.
    """
    n = share.shape[0]
    out = np.zeros(n, dtype=np.int8)
    for i in range(n):
        hazard[i] = 0.0
        if cap_until[i] > round_ or not active[i]:
            continue
        p = probability_at(share[i], operating_margin[i], downstream[i], rule)
        hazard[i] = p
        if draws[i] < p:  # (then p > 0 for a draw on [0, 1))
            out[i] = outcome_of(draws[i] / p if p > 0.0 else 0.0, rule)
    return out


@jitable
def regulate_kernel(
    layer_operating_profit: np.ndarray,
    layer_revenue: np.ndarray,
    layer_of: np.ndarray,
    share: np.ndarray,
    operating_margin: np.ndarray,
    rule: np.ndarray,
    draws: np.ndarray,
    cap_until: np.ndarray,
    round_: int,
    active: np.ndarray,
    hazard: np.ndarray,
) -> np.ndarray:
    """:func:`downstream_margin` per layer, then :func:`investigate_kernel`, in one call.

    Each operation faces the downstream margin of its layer (``layer_of``); the same
    floats as the two steps apart (the sums over the layers above in the same order).
    """
    n = layer_operating_profit.shape[0]
    above = np.zeros(n)
    above_p = 0.0
    above_r = 0.0
    for k in range(n - 1, 0, -1):  # above[k - 1]: the layers k and above
        above_p = layer_operating_profit[k] if k == n - 1 else above_p + layer_operating_profit[k]
        above_r = layer_revenue[k] if k == n - 1 else above_r + layer_revenue[k]
        above[k - 1] = above_p / above_r if above_r > 0.0 else 0.0
    m = share.shape[0]
    downstream = np.empty(m)
    for i in range(m):
        downstream[i] = above[layer_of[i]]
    return investigate_kernel(
        share, operating_margin, downstream, rule, draws, cap_until, round_, active, hazard
    )


def rule_array(spec: object) -> FloatArray:
    """The fields of :data:`RULE_FIELDS` read off a regulator spec, as the kernels' array."""
    return np.array([float(getattr(spec, name)) for name in RULE_FIELDS])


def downstream_margin(layer_operating_profit: FloatArray, layer_revenue: FloatArray) -> FloatArray:
    """Per layer ``k``: operating profit over revenue from others of the layers above ``k``.

    ``d_k = sum_{l > k} operating_l / sum_{l > k} external revenue_l`` (0 for the top
    layer, or where the layers above sell nothing). Layers are ordered bottom (foundry)
    to top (final demand).
    """
    # (a loop over the few layers: np.cumsum's sums in its order, numpy's floats, without
    # its five temporary arrays)
    profit = np.asarray(layer_operating_profit, dtype=np.float64).tolist()
    revenue = np.asarray(layer_revenue, dtype=np.float64).tolist()
    n = len(profit)
    out = [0.0] * n
    above_p = above_r = 0.0
    for k in range(n - 1, 0, -1):  # out[k - 1]: the layers k and above
        above_p = profit[k] if k == n - 1 else above_p + profit[k]
        above_r = revenue[k] if k == n - 1 else above_r + revenue[k]
        out[k - 1] = above_p / above_r if above_r > 0.0 else 0.0
    return np.array(out)


def investigation_probability(
    share: FloatArray, operating_margin: FloatArray, downstream: FloatArray, rule: FloatArray
) -> FloatArray:
    """Probability that each operation is investigated this round (:func:`probability_at`)."""
    share = np.ascontiguousarray(share, dtype=np.float64)
    kernel = compiled("probability_kernel", module="regulator", work=share.shape[0] / 4)
    return kernel(
        share, np.ascontiguousarray(operating_margin, dtype=np.float64),
        np.ascontiguousarray(downstream, dtype=np.float64),
        np.ascontiguousarray(rule, dtype=np.float64),
    )  # fmt: skip


def open_investigations(
    share: FloatArray,
    operating_margin: FloatArray,
    downstream: FloatArray,
    rule: FloatArray,
    draws: FloatArray,
    cap_until: NDArray[np.int64],
    round_: int,
    active: NDArray[np.bool_],
    jit: bool | None = None,
) -> tuple[NDArray[np.int8], FloatArray]:
    """Outcome code per operation (:data:`OUTCOMES`) and the hazard each faced this round.

    The rule is :func:`investigate_kernel`; ``jit`` as in
    :func:`stackgame.environment.jit.compiled`.
    """
    hazard = np.empty(share.shape[0])
    kernel = compiled("investigate_kernel", jit, module="regulator", work=share.shape[0] / 4)
    out = kernel(
        share, operating_margin, downstream, rule, draws, cap_until, int(round_), active,
        hazard,
    )  # fmt: skip
    return out, hazard


def regulate(
    layer_operating_profit: FloatArray,
    layer_revenue: FloatArray,
    layer_of: NDArray[np.int64],
    share: FloatArray,
    operating_margin: FloatArray,
    rule: FloatArray,
    draws: FloatArray,
    cap_until: NDArray[np.int64],
    round_: int,
    active: NDArray[np.bool_],
    jit: bool | None = None,
) -> tuple[NDArray[np.int8], FloatArray]:
    """:func:`downstream_margin` and :func:`open_investigations` in one kernel call.

    The rule is :func:`regulate_kernel` (each operation reads its layer's downstream
    margin); ``jit`` as in :func:`stackgame.environment.jit.compiled`.
    """
    hazard = np.empty(share.shape[0])
    kernel = compiled("regulate_kernel", jit, module="regulator", work=share.shape[0] / 4)
    out = kernel(
        np.ascontiguousarray(layer_operating_profit, dtype=np.float64),
        np.ascontiguousarray(layer_revenue, dtype=np.float64), layer_of, share,
        operating_margin, rule, draws, cap_until, int(round_), active, hazard,
    )  # fmt: skip
    return out, hazard


def fine_amount(fine_rate: float, fine_rounds: int, revenue: float, firm_revenue: float) -> float:
    """``min(fine_rate * fine_rounds * revenue_i, FINE_CAP * ROUNDS_PER_YEAR * firm revenue)``.

    A share of the operation's sales in its market over ``fine_rounds`` rounds, at most
    10% of the firm's turnover over a year (four rounds at this round's rate).
    """
    base = fine_rate * fine_rounds * max(revenue, 0.0)
    return min(base, FINE_CAP * ROUNDS_PER_YEAR * max(firm_revenue, 0.0))


def cap_for(cap_markup: float, cap_fraction: float | None, restrain_markup: float) -> float:
    """The markup cap of a behavioural remedy (``docs/MODEL.md`` 12).

    ``min(cap_markup, cap_fraction * restrain_markup)``: the absolute cap, or, when the
    regulator sets ``cap_fraction``, a cost-plus price cap at that fraction of the capped
    operation's own restrain markup if lower (so that an investigated extractor sells at
    or below the price it would have charged by restraining). ``None``: the absolute cap.
    """
    if cap_fraction is None:
        return cap_markup
    return min(cap_markup, cap_fraction * restrain_markup)
