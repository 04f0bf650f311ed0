"""The buildout's fused kernels give what their parts give, one after another, bit for bit.

:mod:`stackgame.environment.buildout_round` runs several of the buildout's step
functions in one compiled call (issue 12's speed target). Each test here runs a fused
kernel, plain and compiled, on seeded random arrays, and the same steps one by one as
the model ran them before the fusion (the step functions of ``buildout``, ``contracts``,
``finance`` and ``training``, and the numpy expressions between them), and asks for the
same numbers to the last bit (``np.array_equal`` on every output and every array changed
in place).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from stackgame.environment import buildout_round as br
from stackgame.environment.buildout import (
    default_orders_kernel,
    install_age_kernel,
    round_cash_kernel,
)
from stackgame.environment.contracts import TERM_FLOATS, TERM_INTS, backlog_kernel
from stackgame.environment.contracts import settle_round_kernel as contract_settle
from stackgame.environment.finance import finance_step_kernel, funds_kernel
from stackgame.environment.training import (
    prepare_training_kernel,
    settle_training_kernel,
    training_orders_kernel,
)

N_OPS, N_FIRMS, N_LAYERS, M = 12, 6, 3, 5


def _fused(name: str) -> list[Callable[..., Any]]:
    """The fused kernel ``name``: plain, and compiled when numba is installed."""
    out: list[Callable[..., Any]] = [getattr(br, name)]
    try:
        import numba  # noqa: F401
    except ImportError:
        return out
    from stackgame.environment import jit

    out.append(jit.compile_kernel(name, "buildout_round"))
    return out


def _same(a: Any, b: Any) -> None:
    assert np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def _copies(arrays: dict[str, Any]) -> dict[str, Any]:
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in arrays.items()}


def _world(seed: int) -> dict[str, Any]:
    """Seeded arrays of a small stack: 12 operations, 6 firms, 3 layers, 5 contracts."""
    rng = np.random.default_rng(seed)
    layer_of = np.sort(rng.integers(0, N_LAYERS, N_OPS))
    firm_of = rng.integers(0, N_FIRMS, N_OPS)
    s_op = rng.integers(-1, N_OPS, M)
    b_op = rng.integers(-1, N_OPS, M)
    flow = rng.uniform(0.0, 3.0, (N_OPS, N_OPS)) * (rng.random((N_OPS, N_OPS)) < 0.4)
    return {
        "layer_of": layer_of,
        "firm_of": firm_of,
        "active": rng.random(N_OPS) < 0.9,
        "capital_op": layer_of == 1,
        "c_start": rng.integers(0, 3, M),
        "c_end": rng.integers(2, 8, M),
        "c_quantity": rng.uniform(0.1, 2.0, M),
        "c_seller": firm_of[np.maximum(s_op, 0)],
        "c_buyer": firm_of[np.maximum(b_op, 0)],
        "c_price": rng.uniform(0.5, 2.0, M),
        "c_indexed": rng.random(M) < 0.4,
        "c_premium": rng.uniform(-0.1, 0.2, M),
        "c_take_or_pay": rng.uniform(0.0, 1.0, M),
        "c_prepayment": rng.uniform(0.0, 2.0, M) * (rng.random(M) < 0.5),
        "c_prepaid": rng.random(M) < 0.5,
        "c_credit": rng.uniform(0.0, 1.0, M),
        "c_last_price": rng.uniform(0.5, 2.0, M),
        "c_s_op": s_op,
        "c_b_op": b_op,
        "flow": flow,
        "price": rng.uniform(0.5, 3.0, N_OPS),
        "cash": rng.normal(5.0, 10.0, N_FIRMS),
        "debt": rng.uniform(0.0, 20.0, N_FIRMS),
        "appetite": rng.uniform(0.2, 1.0, N_FIRMS),
        "raises_equity": rng.random(N_FIRMS) < 0.5,
        "last_revenue": rng.normal(5.0, 5.0, N_FIRMS),
        "acquired": rng.random(N_FIRMS) < 0.1,
        "failed_round": np.where(rng.random(N_FIRMS) < 0.1, 1, -1),
        "capital": rng.uniform(0.0, 30.0, N_OPS),
        "capacity": rng.uniform(1.0, 10.0, N_OPS),
        "pipeline": rng.uniform(0.0, 2.0, (N_OPS, 3)),
        "rate": rng.uniform(0.02, 0.1, N_OPS),
        "value": rng.normal(1.0, 5.0, N_FIRMS),
        "revenue": rng.uniform(0.0, 20.0, N_FIRMS),
        "stock": rng.uniform(0.0, 5.0, N_OPS),
        "trains": (layer_of == 2) & (rng.random(N_OPS) < 0.7),
    }


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("financing", [True, False])
def test_invest_kernels_are_backlog_funds_sold_pipeline_orders_and_training(
    seed: int, financing: bool
) -> None:
    w = _world(seed)
    rng = np.random.default_rng(100 + seed)
    r = int(rng.integers(0, 4))
    ops = np.flatnonzero(w["capital_op"] & w["active"])
    lead = rng.integers(1, 3, ops.shape[0])
    a = rng.uniform(0.5, 2.0, ops.shape[0])
    target = np.where(rng.random(N_FIRMS) < 0.7, rng.uniform(0.6, 0.9, N_FIRMS), 0.0)
    ahead = rng.integers(0, 3, N_FIRMS)
    used = rng.uniform(0.0, 9.0, N_OPS - 1)  # (one operation added since: used 0 there)
    layer_price = rng.uniform(0.5, 3.0, N_LAYERS)
    infra = rng.uniform(0.0, 0.5, N_LAYERS)
    ask = np.where(w["trains"], rng.integers(0, 3, N_OPS), 0)
    paid_units = rng.uniform(0.0, 2.0, N_OPS) * (rng.random(N_OPS) < 0.5)
    paid_spend = paid_units * 1.7
    t_rate, ratio = rng.uniform(0.1, 0.3, N_OPS), rng.uniform(0.1, 0.6, N_OPS)
    growth, ltv, floor, multiple, drop = 0.03, 0.6, 1.0, 2.0, 0.3

    # one step after another, as the model ran them
    want_firm = np.zeros((4, N_FIRMS))
    if financing:
        owed = backlog_kernel(
            r, w["c_start"], w["c_end"], w["c_quantity"], w["c_seller"], w["c_price"],
            w["c_indexed"], w["c_premium"], w["c_s_op"], w["c_last_price"], w["price"], N_FIRMS,
        )  # fmt: skip
        funds = funds_kernel(
            w["cash"], w["debt"], w["appetite"], w["raises_equity"], w["last_revenue"],
            w["acquired"], w["failed_round"], w["firm_of"], w["active"], w["capital"], owed[0],
            ltv, floor, multiple,
        )  # fmt: skip
        want_firm[1:3] = owed
    else:
        funds = np.full(N_FIRMS, np.inf)
    want_firm[0] = funds
    sold: dict[int, float] = {}
    for c in range(M):
        b, s = int(w["c_b_op"][c]), int(w["c_s_op"][c])
        if s >= 0 and b >= 0 and w["c_start"][c] <= r < w["c_end"][c]:
            sold[s] = sold.get(s, 0.0) + float(w["c_quantity"][c])
    sold_forward = np.zeros(N_OPS)
    for o, units in sold.items():
        sold_forward[o] = units
    pipe = w["pipeline"].sum(axis=1)
    orders = np.zeros(N_OPS)
    below = np.array([0.0, *layer_price[:-1].tolist()])
    default_orders_kernel(
        ops, lead, a, w["layer_of"][ops], w["firm_of"][ops], target, ahead, w["capacity"],
        pipe, used, w["rate"], sold_forward, below, infra, funds, growth, orders,
    )  # fmt: skip
    t_orders = np.zeros(N_OPS)
    fallback = np.array([layer_price[k - 1] for k in range(N_LAYERS)])
    t_price, t_funds = training_orders_kernel(
        ask, w["firm_of"], w["layer_of"], w["stock"], t_rate, ratio, w["revenue"], funds,
        financing, w["appetite"], w["last_revenue"], w["raises_equity"], drop, multiple,
        paid_units, paid_spend, fallback, t_orders,
    )  # fmt: skip
    want_firm[3] = t_funds

    # the packed arguments: the contracts' terms, the operations' firms, layers and
    # activity, and the default rule's entries (each carries its firm's target and
    # rounds built ahead)
    terms = np.array(
        [w["c_start"], w["c_end"], w["c_s_op"], w["c_b_op"], w["c_buyer"], w["c_seller"]],
        dtype=np.int64,
    )  # (rows as contracts.TERM_INTS, TERM_FLOATS)
    amounts = np.array(
        [w["c_quantity"], w["c_price"], w["c_premium"], w["c_take_or_pay"], w["c_prepayment"]]
    )
    structure = np.array([w["firm_of"], w["layer_of"], w["active"]], dtype=np.int64)
    firm = w["firm_of"][ops]
    entries = np.array([ops, lead, w["layer_of"][ops], firm, ahead[firm]], dtype=np.int64)
    values = np.array([a, target[firm]])
    invest_args = (
        r, terms, amounts, w["c_indexed"], w["c_last_price"], w["price"], financing,
        w["cash"], w["debt"], w["appetite"], w["raises_equity"], w["last_revenue"],
        w["acquired"], w["failed_round"], structure, w["capital"], ltv, floor, multiple,
        entries, values, w["capacity"], w["pipeline"], used, w["rate"], layer_price, infra,
        growth,
    )  # fmt: skip
    for kernel in _fused("invest_and_train_kernel"):
        per_op, per_firm = kernel(
            *invest_args, True, ask, w["stock"], t_rate, ratio, w["revenue"], drop, paid_units,
            paid_spend,
        )  # fmt: skip
        for got, want in zip(per_op, (orders, pipe, sold_forward, t_orders, t_price), strict=True):
            _same(got, want)
        _same(per_firm, want_firm)
    # without training: the first three steps alone, the training's rows zeros
    zeros = np.zeros(N_OPS)
    want_firm[3] = 0.0
    none = np.zeros(0)
    for kernel in _fused("invest_and_train_kernel"):
        per_op, per_firm = kernel(
            *invest_args, False, np.zeros(0, dtype=np.int64), w["stock"], t_rate, ratio, none,
            drop, none, none,
        )  # fmt: skip
        for got, want in zip(per_op, (orders, pipe, sold_forward, zeros, zeros), strict=True):
            _same(got, want)
        _same(per_firm, want_firm)
    for kernel in _fused("invest_kernel"):
        per_op, per_firm = kernel(*invest_args)
        for got, want in zip(per_op, (orders, pipe, sold_forward, zeros, zeros), strict=True):
            _same(got, want)
        _same(per_firm, want_firm)


@pytest.mark.parametrize("seed", range(6))
def test_pay_and_finance_kernel_is_round_cash_then_finance_step(seed: int) -> None:
    w = _world(seed)
    rng = np.random.default_rng(200 + seed)
    spend = rng.uniform(0.0, 3.0, N_OPS)
    depreciation = rng.uniform(0.0, 2.0, N_OPS)
    writedown = rng.uniform(0.0, 0.5, N_OPS)
    capex = rng.uniform(0.0, 4.0, N_OPS)
    backlog = rng.uniform(0.0, 10.0, N_FIRMS)
    terms = (0.02, 0.6, 1.0, 2.0, 0.3, 0.1)
    state = {k: w[k] for k in ("cash", "debt", "appetite")}

    want = _copies(state)
    want_out = np.empty((8, N_FIRMS))
    round_cash_kernel(
        want["cash"], w["firm_of"], spend, w["capital_op"], depreciation, writedown, capex
    )
    want_failing = finance_step_kernel(
        want["cash"], want["debt"], want["appetite"], w["acquired"], w["failed_round"],
        w["revenue"] * 0.1, w["raises_equity"], w["value"], w["revenue"], w["firm_of"],
        w["active"], w["capital"], w["capital_op"], capex, backlog, *terms, want_out,
    )  # fmt: skip
    # (what History.append_finance summed: net financing and interest over firms)
    want_financing = float((want_out[1] + want_out[2] - want_out[3]).sum())
    want_interest = float(want_out[0].sum())
    for kernel in _fused("pay_and_finance_kernel"):
        got = _copies(state)
        out = np.empty((10, N_FIRMS))
        failing, financing, interest = kernel(
            got["cash"], w["firm_of"], spend, w["capital_op"], depreciation, writedown, capex,
            got["debt"], got["appetite"], w["acquired"], w["failed_round"], w["revenue"] * 0.1,
            w["raises_equity"], w["value"], w["revenue"], w["active"], w["capital"], backlog,
            *terms, out,
        )  # fmt: skip
        assert failing == want_failing
        _same(out[:8], want_out)
        _same(out[8], want["debt"])
        _same(out[9], want_out[1] + want_out[2] - want_out[3])
        assert (financing, interest) == (want_financing, want_interest)
        for k in state:
            _same(got[k], want[k])


@pytest.mark.parametrize("seed", range(6))
def test_install_round_kernel_is_received_units_then_install_and_age(seed: int) -> None:
    w = _world(seed)
    rng = np.random.default_rng(300 + seed)
    ops = np.flatnonzero(w["capital_op"])
    lead = rng.integers(1, 3, ops.shape[0])
    coefficient = rng.uniform(0.5, 2.0, N_LAYERS)
    a = coefficient[w["layer_of"]][ops]  # (each operation's a_l: its layer's coefficient)
    self_supply = rng.uniform(0.0, 1.0, N_OPS) * (rng.random(N_OPS) < 0.3)
    capex = rng.uniform(0.0, 4.0, N_OPS)
    depreciation = rng.uniform(0.0, 2.0, N_OPS)
    writedown, charge = rng.uniform(0.0, 0.3, N_OPS), rng.uniform(0.0, 0.3, N_OPS)
    state = {k: w[k] for k in ("pipeline", "capital", "capacity")}

    want = _copies(state)
    received = w["flow"].sum(axis=1)
    want_units = (received + self_supply) / coefficient[w["layer_of"]]
    install_age_kernel(
        ops, lead, a, w["active"], received, self_supply, capex, want["pipeline"],
        want["capital"], want["capacity"], w["rate"], depreciation, writedown, charge,
    )  # fmt: skip
    for kernel in _fused("install_round_kernel"):
        got = _copies(state)
        units = kernel(
            np.array([ops, lead], dtype=np.int64), w["active"], w["flow"], self_supply, capex,
            got["pipeline"], got["capital"], got["capacity"], w["rate"], depreciation,
            writedown, charge, coefficient[w["layer_of"]],
        )  # fmt: skip
        _same(units, want_units)
        for k in state:
            _same(got[k], want[k])


@pytest.mark.parametrize("seed", range(6))
def test_prepare_training_round_kernel_is_prepare_then_the_market_s_capacity(seed: int) -> None:
    w = _world(seed)
    rng = np.random.default_rng(400 + seed)
    quality = rng.normal(0.0, 1.0, N_OPS)
    initial, weight = rng.uniform(0.0, 3.0, N_OPS), rng.uniform(0.0, 1.0, N_OPS)
    scale = rng.uniform(0.5, 2.0, N_OPS)
    order = np.where(w["trains"], rng.uniform(0.0, 6.0, N_OPS), 0.0)
    own_below = np.where(rng.random(N_OPS) < 0.3, rng.integers(0, N_OPS, N_OPS), -1)
    allowed = w["layer_of"][None, :] == w["layer_of"][:, None] - 1
    pairs = np.array(np.nonzero(w["flow"]), dtype=np.int64).reshape(2, -1)
    values = rng.uniform(0.0, 1.0, pairs.shape[1])
    mix = np.zeros((N_OPS, N_OPS))
    mix[pairs[0], pairs[1]] = values
    cap = rng.uniform(0.2, 1.0, N_OPS)
    q, own, units, reserved = prepare_training_kernel(
        quality, w["stock"], initial, weight, scale, w["trains"], order, own_below, allowed,
        mix, w["capacity"], cap,
    )  # fmt: skip
    market = np.maximum(w["capacity"] - reserved, 0.0)
    for kernel in _fused("prepare_training_round_kernel"):
        block, got_units = kernel(
            quality, w["stock"], initial, weight, scale, w["trains"], order, own_below,
            allowed, pairs, values, w["capacity"], cap,
        )  # fmt: skip
        _same(block, np.array([q, own, market]))
        _same(got_units, units)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("contracts", "training"), [(True, True), (True, False), (False, True)])
def test_settle_round_kernel_is_the_contracts_then_the_training(
    seed: int, contracts: bool, training: bool
) -> None:
    w = _world(seed)
    rng = np.random.default_rng(500 + seed)
    r = int(rng.integers(0, 5))
    own = rng.uniform(0.0, 1.0, N_OPS) * w["trains"]
    units = rng.uniform(0.0, 1.0, (N_OPS, N_OPS)) * (rng.random((N_OPS, N_OPS)) < 0.3)
    own_below = np.where(rng.random(N_OPS) < 0.3, rng.integers(0, N_OPS, N_OPS), -1)
    cost = rng.uniform(0.1, 1.0, N_OPS)
    book = {
        "rate": rng.uniform(0.1, 0.3, N_OPS),
        "omega": rng.uniform(0.0, 0.5, N_OPS),
        "expense": (rng.random(N_OPS) < 0.3) * 1.0,
    }
    money = {
        "revenue": rng.uniform(0.0, 10.0, N_OPS),
        "input_cost": rng.uniform(0.0, 5.0, N_OPS),
        "capex": rng.uniform(0.0, 3.0, N_OPS),
        "gross": rng.normal(1.0, 3.0, N_OPS),
        "cash": w["cash"],
        "prepaid": w["c_prepaid"],
        "credit": w["c_credit"],
        "last_price": w["c_last_price"],
        "quantity": rng.uniform(0.0, 8.0, N_OPS),
        "unit_input_cost": rng.uniform(0.1, 1.0, N_OPS),
        "internal_revenue": rng.uniform(0.0, 1.0, N_OPS),
        "variable_cost": rng.uniform(0.0, 3.0, N_OPS),
        "stock": w["stock"],
    }

    want = _copies(money)
    want_out = np.empty((11, N_OPS))
    want_passer = np.empty(N_OPS, dtype=np.int64)
    want_settled = np.zeros((4, 0))
    if contracts:  # ContractBook.resolve, then its settle
        live = (w["c_s_op"] >= 0) & (w["c_b_op"] >= 0)
        live &= (w["c_start"] <= r) & (r < w["c_end"])
        want_settled = contract_settle(
            r, np.where(live, w["c_b_op"], -1), np.where(live, w["c_s_op"], -1),
            w["c_buyer"], w["c_seller"], w["c_quantity"], w["c_price"], w["c_indexed"],
            w["c_premium"], w["c_take_or_pay"], w["c_end"], w["c_prepayment"], want["prepaid"],
            want["credit"], w["capital_op"], w["flow"], w["price"], want["revenue"],
            want["input_cost"], want["capex"], want["gross"], want["cash"], want["last_price"],
        )  # fmt: skip
    want_written = False
    if training:  # TrainingBook.settle
        want_written = settle_training_kernel(
            own, units, own_below, w["price"], cost, want["input_cost"], want["quantity"],
            want["unit_input_cost"], w["capital_op"], want["revenue"], want["internal_revenue"],
            want["variable_cost"], want["stock"], book["rate"], book["omega"], book["expense"],
            w["trains"], w["layer_of"], want_out, want_passer,
        )  # fmt: skip
        want_out[10] = own + np.add.reduce(units, axis=1)

    # the terms as ContractBook.packed lays them out (rows TERM_INTS, TERM_FLOATS)
    ints = np.array([w["c_" + k] for k in TERM_INTS], dtype=np.int64)
    floats = np.array([w["c_" + k] for k in TERM_FLOATS])
    for kernel in _fused("settle_round_kernel"):
        got = _copies(money)
        out = np.empty((11, N_OPS))
        passer = np.empty(N_OPS, dtype=np.int64)
        settled, written = kernel(
            r, contracts, ints, floats, w["c_indexed"], got["prepaid"], got["credit"],
            got["last_price"], w["capital_op"], w["flow"], w["price"], got["revenue"],
            got["input_cost"], got["capex"], got["gross"], got["cash"], training, own, units,
            own_below, cost, got["quantity"], got["unit_input_cost"], got["internal_revenue"],
            got["variable_cost"], got["stock"], book["rate"], book["omega"], book["expense"],
            w["trains"], w["layer_of"], out, passer,
        )  # fmt: skip
        assert written == want_written
        _same(settled, want_settled)
        if training:
            _same(out, want_out)
            _same(passer, want_passer)
        for k in money:
            _same(got[k], want[k])
    if contracts and not training:  # (a round without training calls the first part alone)
        for kernel in _fused("settle_contracts_round_kernel"):
            got = _copies(money)
            settled = kernel(
                r, ints, floats, w["c_indexed"], got["prepaid"], got["credit"],
                got["last_price"], w["capital_op"], w["flow"], w["price"], got["revenue"],
                got["input_cost"], got["capex"], got["gross"], got["cash"],
            )  # fmt: skip
            _same(settled, want_settled)
            for k in money:
                _same(got[k], want[k])


def _recorded(model: Any) -> list[bytes]:
    """Every array the run recorded, and its log, as bytes."""
    h = model.history
    out = [
        np.asarray(v).tobytes()
        for rows in (h.op_rows, h.firm_rows, h.layer_rows, h.finance_rows, model.training.rows)
        for row in rows
        for v in row.values()
    ]
    out += [
        repr(h.round_rows).encode(),
        repr([tuple(e.__dict__.values()) for e in model.log]).encode(),
    ]
    st = model.state
    out += [a.tobytes() for a in (st.cash, st.debt, st.capacity, st.capital, st.pipeline)]
    out += [model.contracts.credit.tobytes(), model.contracts.last_price.tobytes()]
    return out


@pytest.mark.parametrize("seed", [0, 3])
def test_a_model_settles_as_the_books_own_methods_would(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """The model's fused settlement is :meth:`ContractBook.settle` then :meth:`TrainingBook.settle`.

    Run ``ai-stack-2026`` (contracts in force, labs that train, a model written down)
    once as shipped and once with the settlement done by the books' own methods, one
    after the other: every recorded number the same.
    """
    from stackgame.environment.model import StackModel

    shipped = StackModel("ai-stack-2026", seed, rounds=10, collect=False).run()

    def by_the_books(
        self: StackModel,
        clearing: Any,
        cost: np.ndarray,
        training: np.ndarray | None,
        own: np.ndarray,
        units: np.ndarray,
    ) -> dict[str, np.ndarray] | None:
        self.contracts.settle(self.round, self.state, clearing, self._jit)
        if training is None:
            return None
        row = self.training.settle(self.state, clearing, cost, own, units, self._jit)
        if self.training.written_down:
            self._log_writedowns(row)
        return row

    monkeypatch.setattr(StackModel, "_settle_buildout", by_the_books)
    books = StackModel("ai-stack-2026", seed, rounds=10, collect=False).run()
    assert any(e.kind == "training" for e in books.log) or seed != 0
    assert _recorded(books) == _recorded(shipped)
