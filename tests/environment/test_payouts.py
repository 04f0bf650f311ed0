"""The settlement: margins, depreciation, stakes, utilisation, layer sums, HHI."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra.numpy import arrays
from stackgame.environment.payouts import Settlement, settle


def _settle(stakes: np.ndarray | None, jit: bool | None = False, **kw: np.ndarray) -> Settlement:
    """Four operations of three firms in three layers (firm 2 self-supplies op 3)."""
    args = {
        "layer_of": np.array([0, 1, 2, 1]),
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
        "markup": np.array([0.5, 0.2, 1.0, 0.1]),
        "restrain_markup": np.array([0.5, 0.1, 0.3, 0.1]),
        "active": np.array([True, True, True, False]),
        "unit_input_cost": np.array([0.0, 1.0, 2.0, 0.7]),
        "flow": np.array(
            [[0, 0, 0, 0], [6.0, 0, 0, 0], [0, 3.0, 0, 1.0], [0, 0, 0, 0]], dtype=float
        ),
    }
    args.update(kw)
    return settle(n_layers=3, n_firms=3, stakes=stakes, jit=jit, **args)


def test_margins_depreciation_and_utilisation_by_hand() -> None:
    s = _settle(np.zeros((3, 3)))
    p = s.payout
    np.testing.assert_allclose(p.gross_profit, [6.0, 8.0, 7.0, 4.0])
    np.testing.assert_allclose(p.depreciation, [1.0, 2.0 + 4.0, 0.0, 0.0])
    np.testing.assert_allclose(p.operating_profit, [4.0, 2.0, 5.5, 3.5])
    np.testing.assert_allclose(p.utilisation, [0.5, 1.0, 0.25, 0.0])
    np.testing.assert_allclose(p.firm_profit, [4.0, 2.0, 9.0])
    np.testing.assert_allclose(p.firm_value, p.firm_profit)
    # internal (self-supplied) revenue is not the firm's external revenue
    np.testing.assert_allclose(p.firm_revenue, [10.0, 20.0, 30.0])
    np.testing.assert_allclose(p.stake_income, 0.0)
    # operating margins on external revenue; 0 where there is none (op 3 is all internal)
    np.testing.assert_allclose(s.operating_margin, [0.4, 0.1, 5.5 / 30.0, 0.0])
    np.testing.assert_allclose(s.firm_margin, [0.4, 0.1, 9.0 / 30.0])
    np.testing.assert_allclose(s.firm_writedown, [0.0, 4.0, 0.0])
    # extracted where the markup exceeds the restrain markup
    assert s.posture.tolist() == [0, 1, 1, 0]
    # inputs per unit sold; the clearing's unit input cost where nothing was sold
    np.testing.assert_allclose(s.unit_input, [0.0, 1.0, 2.0, 0.7])
    # purchase shares: each buyer's row of flows over its row sum
    np.testing.assert_allclose(s.mix.dense()[2], [0.0, 0.75, 0.0, 0.25])
    np.testing.assert_allclose(s.mix.dense()[1], [1.0, 0.0, 0.0, 0.0])
    assert s.mix.dense()[0].sum() == 0.0


def test_layer_sums_hhi_and_margins_by_hand() -> None:
    s = _settle(np.zeros((3, 3)))
    layers = s.layers
    np.testing.assert_allclose(layers["quantity"], [10.0, 10.0, 10.0])
    np.testing.assert_allclose(layers["revenue"], [10.0, 25.0, 30.0])
    np.testing.assert_allclose(layers["external_revenue"], [10.0, 20.0, 30.0])
    np.testing.assert_allclose(layers["value_added"], [10.0, 15.0, 10.0])
    np.testing.assert_allclose(layers["gross_profit"], [6.0, 12.0, 7.0])
    np.testing.assert_allclose(layers["operating_profit"], [4.0, 5.5, 5.5])
    # layer 1: quantities 10 and 0, so one firm holds the whole layer
    np.testing.assert_allclose(layers["hhi"], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(s.share, [1.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(s.layer_gross_margin, [0.6, 0.6, 7.0 / 30.0])
    np.testing.assert_allclose(s.layer_operating_margin, [0.4, 5.5 / 20.0, 5.5 / 30.0])
    np.testing.assert_allclose(s.layer_price, [1.0, 2.5, 3.0])
    # the inactive operation is no seller; the extracting ones do not restrain
    np.testing.assert_allclose(s.sellers, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(s.restraining, [1.0, 0.0, 0.0])


def test_hhi_per_layer() -> None:
    q = np.array([1.0, 1.0, 5.0, 0.0])
    s = _settle(np.zeros((3, 3)), layer_of=np.array([0, 0, 1, 2]), quantity=q)
    np.testing.assert_allclose(s.layers["hhi"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(s.share, [0.5, 0.5, 1.0, 0.0])


def test_a_stake_passes_its_share_of_profit() -> None:
    stakes = np.zeros((3, 3))
    stakes[0, 2] = 0.25  # firm 0 holds a quarter of firm 2
    stakes[1, 2] = 0.5
    p = _settle(stakes).payout
    np.testing.assert_allclose(p.firm_value, [4.0 + 0.25 * 9.0, 2.0 + 0.5 * 9.0, 0.25 * 9.0])
    np.testing.assert_allclose(p.stake_income, [2.25, 4.5, -6.75])


def test_no_stakes_settle_as_a_matrix_of_zeros() -> None:
    # stakes=None (no firm holds one: StackState.stakes_held is False) is the zero matrix:
    # value = profit and no stake income, as a stakes matrix of zeros gives
    a, b = _settle(np.zeros((3, 3))).payout, _settle(None).payout
    np.testing.assert_array_equal(b.firm_value, a.firm_value)
    np.testing.assert_array_equal(b.stake_income, a.stake_income)
    np.testing.assert_array_equal(b.firm_value, b.firm_profit)


@settings(max_examples=50, deadline=None)
@given(
    profit_scale=hst.floats(-100, 100),
    shares=arrays(np.float64, (3, 3), elements=hst.floats(0.0, 0.3)),
)
def test_stakes_never_create_money(profit_scale: float, shares: np.ndarray) -> None:
    np.fill_diagonal(shares, 0.0)
    revenue = np.array([10.0, 20.0, 30.0, 5.0]) * (1 + profit_scale / 50)
    p = _settle(shares, revenue=revenue).payout
    assert p.firm_value.sum() == pytest.approx(p.operating_profit.sum(), abs=1e-9)
    assert p.stake_income.sum() == pytest.approx(0.0, abs=1e-9)


def test_an_empty_stack_settles_to_zeros() -> None:
    none = np.zeros(0)
    s = settle(
        np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 2, 1, none, none, none,
        none, none, none, none, none, none, none, none, np.zeros((1, 1)), none, none,
        np.zeros(0, dtype=bool), none, np.zeros((0, 0)), jit=False,
    )  # fmt: skip
    np.testing.assert_array_equal(s.layers["revenue"], [0.0, 0.0])
    np.testing.assert_array_equal(s.payout.firm_value, [0.0])


# -- the settlement: compiled and plain Python give the same bits -------------------------


def _settle_inputs(rng: np.random.Generator, n: int, n_layers: int, n_firms: int) -> dict:
    def scale(x: np.ndarray) -> np.ndarray:  # tiny, ordinary and huge magnitudes, zeros
        return x * rng.choice([0.0, 1e-13, 1.0, 1e6], size=x.shape, p=[0.1, 0.1, 0.7, 0.1])

    quantity = np.abs(scale(rng.normal(size=n)))
    revenue = np.abs(scale(rng.normal(size=n)))
    restrain = rng.uniform(0, 0.5, size=n)
    stakes = np.where(rng.random((n_firms, n_firms)) < 0.2, rng.uniform(0, 0.1), 0.0)
    np.fill_diagonal(stakes, 0.0)
    return {
        "layer_of": rng.integers(0, n_layers, size=n),
        "firm_of": rng.integers(0, n_firms, size=n),
        "n_layers": n_layers,
        "n_firms": n_firms,
        "revenue": revenue,
        "input_cost": np.abs(scale(rng.normal(size=n))),
        "variable_cost": np.abs(scale(rng.normal(size=n))),
        "internal_revenue": revenue * rng.choice([0.0, 0.5, 1.0], size=n),
        "quantity": quantity,
        "capacity": quantity * rng.choice([0.0, 1.0, 2.0], size=n),
        "capital": np.abs(scale(rng.normal(size=n))),
        "depreciation_rate": rng.uniform(0, 0.3, size=n),
        "fixed_cost": np.abs(scale(rng.normal(size=n))),
        "writedown": np.where(rng.random(n) < 0.2, rng.uniform(0, 5, size=n), 0.0),
        "fines": np.where(rng.random(n) < 0.2, rng.uniform(0, 5, size=n), 0.0),
        "stakes": stakes,
        "markup": restrain + rng.choice([0.0, 1e-13, 0.3], size=n),
        "restrain_markup": restrain,
        "active": rng.random(n) < 0.9,
        "unit_input_cost": np.abs(rng.normal(size=n)),
        "flow": np.abs(scale(rng.normal(size=(n, n)))) * (rng.random((n, 1)) < 0.7),
    }


def _assert_same_settlement(a: object, b: object) -> None:
    import dataclasses

    for f in dataclasses.fields(a):  # type: ignore[arg-type]
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "payout":
            for g in dataclasses.fields(x):
                np.testing.assert_array_equal(getattr(x, g.name), getattr(y, g.name), g.name)
        elif f.name == "layers":
            assert x.keys() == y.keys()
            for k in x:
                np.testing.assert_array_equal(x[k], y[k], k)
        else:
            np.testing.assert_array_equal(x, y, f.name)
            assert np.asarray(x).dtype == np.asarray(y).dtype, f.name


def test_compiled_settlement_equals_the_plain_kernel_exactly() -> None:
    pytest.importorskip("numba")
    from stackgame.environment import jit, payouts

    fast = jit.compile_kernel("settle_kernel")
    rng = np.random.default_rng(11)
    for _ in range(60):
        n_layers = int(rng.integers(1, 6))
        n = int(rng.choice([rng.integers(1, 40), rng.integers(100, 300)]))
        kw = _settle_inputs(rng, n, n_layers, int(rng.integers(1, 12)))
        plain = payouts.settle(**kw, jit=False)
        compiled = payouts.settle(**kw, jit=True)
        assert jit.compiled("settle_kernel", True) is fast
        _assert_same_settlement(compiled, plain)


def test_settlement_of_a_model_round_is_what_the_history_records() -> None:
    from stackgame.environment.model import StackModel

    model = StackModel("ai-stack-2026", 3, rounds=8)
    for _ in range(8):
        model.step()
        s = model.ledger.settlement
        c = model.last_clearing
        assert c is not None
        layer_of = model.history.op_layer[-1]  # the assignment as recorded
        n_layers = model.state.n_layers
        for name, column in (
            ("quantity", c.quantity),
            ("revenue", c.revenue),
            ("external_revenue", c.revenue - c.internal_revenue),
            ("value_added", c.revenue - c.input_cost),
            ("operating_profit", s.payout.operating_profit),
        ):
            want = np.bincount(layer_of, weights=column, minlength=n_layers)
            np.testing.assert_allclose(s.layers[name], want, rtol=1e-12, atol=1e-9)
        np.testing.assert_array_equal(model.history.layer_rows[-1]["hhi"], s.layers["hhi"])
        assert s.posture.tolist() == model.history.op_rows[-1]["posture"].tolist()
    model.release()
