"""Payouts as pure functions: margins, depreciation, stakes, utilisation, HHI."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra.numpy import arrays
from stackgame.environment.payouts import hhi, margin, pay_out


def _pay(stakes: np.ndarray, **kw: np.ndarray) -> object:
    n = 3
    args = {
        "firm_of": np.array([0, 1, 2, 2]),
        "revenue": np.array([10.0, 20.0, 30.0, 5.0]),
        "input_cost": np.array([0.0, 10.0, 20.0, 0.0]),
        "variable_cost": np.array([4.0, 2.0, 3.0, 1.0]),
        "internal_revenue": np.array([0.0, 0.0, 0.0, 5.0]),
        "quantity": np.array([10.0, 10.0, 10.0, 0.0]),
        "capacity": np.array([20.0, 10.0, 40.0, 0.0]),
        "capital": np.array([10.0, 40.0, 0.0, 0.0]),
        "depreciation_rate": np.array([0.1, 0.05, 0.1, 0.1]),
        "fixed_cost": np.array([1.0, 0.0, 0.0, 0.5]),
        "writedown": np.array([0.0, 4.0, 0.0, 0.0]),
        "fines": np.array([0.0, 0.0, 1.5, 0.0]),
    }
    args.update(kw)
    return pay_out(n_firms=n, stakes=stakes, **args)


def test_margins_depreciation_and_utilisation_by_hand() -> None:
    p = _pay(np.zeros((3, 3)))
    np.testing.assert_allclose(p.gross_profit, [6.0, 8.0, 7.0, 4.0])
    np.testing.assert_allclose(p.depreciation, [1.0, 2.0 + 4.0, 0.0, 0.0])
    np.testing.assert_allclose(p.operating_profit, [4.0, 2.0, 5.5, 3.5])
    np.testing.assert_allclose(p.utilisation, [0.5, 1.0, 0.25, 0.0])
    np.testing.assert_allclose(p.firm_profit, [4.0, 2.0, 9.0])
    np.testing.assert_allclose(p.firm_value, p.firm_profit)
    # internal (self-supplied) revenue is not the firm's external revenue
    np.testing.assert_allclose(p.firm_revenue, [10.0, 20.0, 30.0])
    np.testing.assert_allclose(p.stake_income, 0.0)


def test_a_stake_passes_its_share_of_profit() -> None:
    stakes = np.zeros((3, 3))
    stakes[0, 2] = 0.25  # firm 0 holds a quarter of firm 2
    stakes[1, 2] = 0.5
    p = _pay(stakes)
    np.testing.assert_allclose(p.firm_value, [4.0 + 0.25 * 9.0, 2.0 + 0.5 * 9.0, 0.25 * 9.0])
    np.testing.assert_allclose(p.stake_income, [2.25, 4.5, -6.75])


@settings(max_examples=50, deadline=None)
@given(
    profit_scale=hst.floats(-100, 100),
    shares=arrays(np.float64, (3, 3), elements=hst.floats(0.0, 0.3)),
)
def test_stakes_never_create_money(profit_scale: float, shares: np.ndarray) -> None:
    np.fill_diagonal(shares, 0.0)
    p = _pay(shares, revenue=np.array([10.0, 20.0, 30.0, 5.0]) * (1 + profit_scale / 50))
    assert p.firm_value.sum() == pytest.approx(p.operating_profit.sum(), abs=1e-9)
    assert p.stake_income.sum() == pytest.approx(0.0, abs=1e-9)


def test_margin_is_zero_without_revenue() -> None:
    np.testing.assert_allclose(margin(np.array([1.0, 2.0]), np.array([0.0, 4.0])), [0.0, 0.5])
    assert float(margin(3.0, 0.0)) == 0.0


def test_hhi_per_layer() -> None:
    q = np.array([1.0, 1.0, 5.0, 0.0])
    h = hhi(q, np.array([0, 0, 1, 2]), 3)
    np.testing.assert_allclose(h, [0.5, 1.0, 0.0])
