"""Discounted payoffs (docs/MODEL.md 21): hand-computed present values and their per-round form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stackgame.environment import discounting


def test_present_value_by_hand() -> None:
    # payoffs 30, 7.5, 7.5 at r = 0.5: delta = 2/3, V = 30 + 7.5 (2/3) + 7.5 (4/9)
    #   = 30 + 5 + 3.3333 = 38.3333; A_3 = 1 + 2/3 + 4/9 = 19/9, v = V / A_3 = 18.1579
    values = np.array([30.0, 7.5, 7.5])
    assert discounting.present_value(values, 0.5) == pytest.approx(30 + 5 + 10 / 3)
    assert discounting.per_round_equivalent(values, 0.5) == pytest.approx((115 / 3) / (19 / 9))


def test_rate_zero_is_the_plain_sum_and_mean() -> None:
    values = np.array([[1.0, 4.0], [2.0, 0.0], [3.0, 1.0]])
    assert discounting.present_value(values, 0.0).tolist() == [6.0, 5.0]
    assert discounting.per_round_equivalent(values, 0.0).tolist() == pytest.approx([2.0, 5 / 3])


def test_over_a_fixed_horizon_the_per_round_form_ranks_as_the_present_value() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(12, 6))
    for rate in (0.0, 0.024, 0.3, 2.0):
        pv = discounting.present_value(values, rate)
        eq = discounting.per_round_equivalent(values, rate)
        assert np.argsort(pv).tolist() == np.argsort(eq).tolist()


def test_a_high_rate_weights_the_first_round_and_a_low_one_the_horizon() -> None:
    # a front-loaded stream (30 then 7.5) against a flat 10 over 20 rounds:
    # V(flat) - V(front) = 10 A - 30 - 7.5 (A - 1) = 2.5 (A - 1) - 20: > 0 iff A - 1 > 8
    front = np.array([30.0] + [7.5] * 19)
    flat = np.full(20, 10.0)
    for rate, flat_wins in ((0.0, True), (0.024, True), (0.5, False), (5.0, False)):
        a = discounting.discount_factors(20, rate).sum()
        gap = discounting.present_value(flat, rate) - discounting.present_value(front, rate)
        assert gap == pytest.approx(2.5 * (a - 1) - 20)
        assert bool(gap > 0) is flat_wins


@pytest.mark.parametrize("rate", [-0.1, math.nan, math.inf])
def test_a_bad_rate_is_one_clear_error(rate: float) -> None:
    with pytest.raises(ValueError, match="discount_rate: must be a finite number >= 0"):
        discounting.present_value(np.ones(3), rate)
