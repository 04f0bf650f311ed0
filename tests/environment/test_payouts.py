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


# -- the settlement: compiled kernel against the numpy reference, bit for bit ----------------


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


def test_compiled_settlement_equals_the_numpy_reference_exactly(monkeypatch) -> None:
    pytest.importorskip("numba")
    from stackgame.environment import jit, payouts

    monkeypatch.delenv("STACKGAME_NO_JIT", raising=False)
    assert jit.compiled("settle_kernel") is not None
    rng = np.random.default_rng(11)
    for _ in range(200):
        n_layers = int(rng.integers(1, 6))
        n = int(rng.choice([rng.integers(1, 40), rng.integers(100, 300)]))
        kw = _settle_inputs(rng, n, n_layers, int(rng.integers(1, 12)))
        _assert_same_settlement(payouts.settle(**kw), payouts.settle(**kw, jit=False))


def test_settlement_agrees_with_pay_out_and_layer_totals_in_a_model_round(monkeypatch) -> None:
    from stackgame.environment import jit, payouts
    from stackgame.environment.model import StackModel

    model = StackModel("ai-stack-2026", 3, rounds=8)
    for _ in range(8):
        model.step()
        s = model.ledger.settlement
        c = model.last_clearing
        assert c is not None
        kw = dict(  # the assignment as recorded (an integration move may add one after)
            layer_of=model.history.op_layer[-1], n_layers=model.state.n_layers,
            quantity=c.quantity, revenue=c.revenue,
            internal_revenue=c.internal_revenue, input_cost=c.input_cost,
            gross_profit=s.payout.gross_profit, operating_profit=s.payout.operating_profit,
        )  # fmt: skip
        for k, v in payouts.layer_totals(**kw).items():
            np.testing.assert_array_equal(v, s.layers[k], k)
        # every layer's value shares and margins are those the history recorded
        np.testing.assert_array_equal(model.history.layer_rows[-1]["hhi"], s.layers["hhi"])
        assert s.posture.tolist() == model.history.op_rows[-1]["posture"].tolist()
    model.release()
    monkeypatch.setenv("STACKGAME_NO_JIT", "1")
    assert jit.compiled("settle_kernel") is None


def test_compiled_row_sums_add_as_numpy_does() -> None:
    # the purchase shares divide by row sums; numpy adds rows pairwise (eight running sums
    # from eight terms up): the kernel must give the same last bits
    pytest.importorskip("numba")
    from stackgame.environment.round_kernel import row_sums

    rng = np.random.default_rng(5)
    for n in [*range(1, 40), 127, 128, 129, 200, 257, 1000]:
        m = rng.normal(size=(3, n)) * rng.choice([1e-9, 1.0, 1e9], size=(1, n))
        m[rng.random(m.shape) < 0.3] = 0.0
        np.testing.assert_array_equal(row_sums(m), m.sum(axis=1))
