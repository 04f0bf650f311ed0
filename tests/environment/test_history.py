"""History: rows per round, matrices padded for ops added later, cheap running reporters."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from stackgame.environment.history import FIRM_COLUMNS, OP_COLUMNS, ROUND_COLUMNS, History


def _state(n_ops: int = 2, version: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        n_layers=2,
        layer_names=["chips", "apps"],
        n_ops=n_ops,
        firm_of=np.arange(n_ops),
        layer_of=np.arange(n_ops) % 2,
        version=version,
        cash=np.array([1.0, 2.0]),
        demand=SimpleNamespace(market_size=40.0),
    )


def _clearing(m: int, scale: float = 1.0) -> SimpleNamespace:
    v = scale * np.arange(1.0, m + 1)
    return SimpleNamespace(
        price=v,
        quantity=2 * v,
        revenue=3 * v,
        input_cost=v / 2,
        variable_cost=v / 4,
        final_spend=10.0 * scale,
        lost_demand=1.0,
        outside_share=0.25,
        flow=np.zeros((m, m)),
        payments=np.full((m, m), scale),
        capex=v / 8,
    )


def _payout(m: int) -> SimpleNamespace:
    ops = np.ones(m)
    firms = np.array([5.0, 6.0])
    return SimpleNamespace(
        gross_profit=ops,
        depreciation=ops,
        fixed_cost=ops,
        fines=ops,
        operating_profit=ops,
        firm_profit=firms,
        firm_value=firms,
        stake_income=firms,
        firm_revenue=firms,
        firm_gross=firms,
    )


def _layers(op_profit, gross=(1.0, 1.0), external=(10.0, 4.0), hhi=(0.5, 1.0)) -> dict:
    return {
        "operating_profit": np.array(op_profit, dtype=float),
        "gross_profit": np.array(gross, dtype=float),
        "external_revenue": np.array(external, dtype=float),
        "hhi": np.array(hhi, dtype=float),
    }


def _append(h: History, state, m: int, layers: dict, scale: float = 1.0, **kw) -> None:
    z = np.zeros(m)
    h.append(0, state, _clearing(m, scale), _payout(m), z, z, z + 9, z, layers, **kw)


def test_empty_history_reads_as_zeros() -> None:
    h = History(_state())
    assert len(h) == 0
    assert h.ops_matrix("price").shape == (0, 0)
    assert h.layer_value_share("chips") == 0.0
    assert h.layer_margin("chips", "gross") == 0.0
    assert h.layer_hhi("apps") == 0.0


def test_one_row_per_round_with_every_column() -> None:
    state = _state()
    h = History(state)
    _append(h, state, 2, _layers([3.0, 1.0]))
    _append(h, state, 2, _layers([1.0, 3.0]), scale=2.0, market_size=55.0)
    assert len(h) == 2
    assert set(h.op_rows[0]) == set(OP_COLUMNS)
    assert set(h.firm_rows[0]) == set(FIRM_COLUMNS)
    assert set(h.round_rows[0]) == set(ROUND_COLUMNS)
    np.testing.assert_array_equal(h.ops_matrix("price"), [[1.0, 2.0], [2.0, 4.0]])
    np.testing.assert_array_equal(h.ops_matrix("capacity"), [[9.0, 9.0], [9.0, 9.0]])
    np.testing.assert_array_equal(h.firms_matrix("value"), [[5.0, 6.0], [5.0, 6.0]])
    np.testing.assert_array_equal(h.layers_matrix("operating_profit"), [[3, 1], [1, 3]])
    np.testing.assert_array_equal(h.rounds_vector("final_spend"), [10.0, 20.0])
    # the market size is the state's unless the round cleared at another
    np.testing.assert_array_equal(h.rounds_vector("market_size"), [40.0, 55.0])
    np.testing.assert_array_equal(h.cum_payments, np.full((2, 2), 3.0))


def test_cash_is_copied_so_later_changes_do_not_rewrite_the_past() -> None:
    state = _state()
    h = History(state)
    _append(h, state, 2, _layers([1.0, 1.0]))
    state.cash += 100.0
    _append(h, state, 2, _layers([1.0, 1.0]))
    np.testing.assert_array_equal(h.firms_matrix("cash"), [[1.0, 2.0], [101.0, 102.0]])


def test_ops_added_later_read_as_zeros_before_they_existed() -> None:
    state = _state(2)
    h = History(state)
    _append(h, state, 2, _layers([1.0, 1.0]))
    grown = _state(3, version=1)
    _append(h, grown, 3, _layers([1.0, 1.0]))
    np.testing.assert_array_equal(h.ops_matrix("price"), [[1.0, 2.0, 0.0], [1.0, 2.0, 3.0]])
    # the cumulative payments grow with the ops: old cells keep their sums
    np.testing.assert_array_equal(h.cum_payments, [[2, 2, 1], [2, 2, 1], [1, 1, 1]])
    assert [len(a) for a in h.op_firm] == [2, 3]


def test_payments_of_fewer_ops_add_into_the_top_left_corner() -> None:
    state = _state(3)
    h = History(state)
    _append(h, state, 3, _layers([1.0, 1.0]))
    _append(h, state, 2, _layers([1.0, 1.0]))
    np.testing.assert_array_equal(h.cum_payments, [[2, 2, 1], [2, 2, 1], [1, 1, 1]])


def test_assignment_is_shared_until_the_structure_changes() -> None:
    state = _state()
    h = History(state)
    _append(h, state, 2, _layers([1.0, 1.0]))
    _append(h, state, 2, _layers([1.0, 1.0]))
    assert h.op_firm[0] is h.op_firm[1]
    assert h.op_firm[0] is not state.firm_of  # a copy: the state may change in place
    state.version = 1
    state.firm_of = np.array([1, 0])
    _append(h, state, 2, _layers([1.0, 1.0]))
    assert h.op_firm[2] is not h.op_firm[1]
    np.testing.assert_array_equal(h.op_firm[1], [0, 1])
    np.testing.assert_array_equal(h.op_firm[2], [1, 0])


def test_value_share_is_cumulative_and_margins_read_the_last_round() -> None:
    state = _state()
    h = History(state)
    _append(h, state, 2, _layers([3.0, 1.0], gross=(5.0, 2.0)))
    _append(h, state, 2, _layers([3.0, 5.0], gross=(4.0, 3.0), hhi=(0.6, 1.0)))
    assert h.layer_value_share("chips") == pytest.approx(6.0 / 12.0)
    assert h.layer_value_share("apps") == pytest.approx(6.0 / 12.0)
    assert h.layer_margin("chips", "gross") == pytest.approx(4.0 / 10.0)
    assert h.layer_margin("apps", "operating") == pytest.approx(5.0 / 4.0)
    assert h.layer_hhi("chips") == pytest.approx(0.6)
    with pytest.raises(ValueError):
        h.layer_hhi("nonexistent")


def test_value_share_and_margin_are_zero_when_undefined() -> None:
    state = _state()
    h = History(state)
    _append(h, state, 2, _layers([2.0, -2.0], external=(0.0, 4.0)))
    assert h.layer_value_share("chips") == 0.0  # total profit is zero
    assert h.layer_margin("chips", "gross") == 0.0  # no external revenue
