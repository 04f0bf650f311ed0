"""Edges of the clearing kernel's rationing (``market_kernel._ration_orders``)."""

from __future__ import annotations

import numpy as np
import pytest
from stackgame.environment.market_kernel import _ration_orders


@pytest.mark.parametrize("orders", [[[0.0, 0.0]], [[2.0, 1.0]]])
def test_a_seller_with_negative_room_sells_nothing_and_nothing_breaks(orders: list) -> None:
    # seller 0's contracts and reserved training took more than its capacity (room -0.5);
    # seller 1 has room 0.6: a buyer asking 2 and 1 gets nothing and 0.6, and then the
    # 2 it could not place at seller 0 re-split to seller 1, which is full
    ask = np.array(orders)
    weights = np.array([[0.5, 0.5]])
    filled = np.zeros_like(ask)
    with np.errstate(all="raise"):
        _ration_orders(ask, weights, np.array([-0.5, 0.6]), 3, filled)
    assert np.isfinite(filled).all()
    assert filled[0, 0] == 0.0
    assert filled[0, 1] == pytest.approx(min(0.6, ask[0, 1] + ask[0, 0]) if ask.sum() else 0.0)
