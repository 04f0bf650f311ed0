"""Financing and failure (``docs/MODEL.md`` 16): textbook cases with closed-form numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from stackgame.environment import finance as fin
from stackgame.environment import jit
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import ScenarioError, from_dict
from stackgame.environment.state import StackState

from tests.environment.tiny_scenario import firm, tiny, write_toml

ON = {"enabled": True, "interest_rate": 0.02, "loan_to_value": 0.5, "min_cash": 0.0,
      "equity_multiple": 2.0, "appetite_drop": 0.5, "appetite_recovery": 0.1,
      "fire_sale_discount": 0.5}  # fmt: skip


def _one(
    cash: float,
    debt: float = 0.0,
    value: float = 0.0,
    revenue: float = 0.0,
    book: float = 0.0,
    backlog: float = 0.0,
    appetite: float = 1.0,
    equity: bool = False,
    outside: float = 0.0,
    min_cash: float = 0.0,
) -> tuple[dict[str, float], float, float, float]:
    """One firm through the kernel at the ``ON`` rates: (flows, cash, debt, appetite)."""
    c, d, a = np.array([cash]), np.array([debt]), np.array([appetite])
    out = fin.finance_kernel(
        c, d, a, np.array([True]), np.array([outside]), np.array([equity]), np.array([value]),
        np.array([revenue]), np.array([book]), np.array([backlog]), 0.02, 0.5, min_cash, 2.0,
        0.5, 0.1,
    )  # fmt: skip
    flows = dict(zip((*fin.FLOWS, "fails"), out[:, 0].tolist(), strict=True))
    return flows, float(c[0]), float(d[0]), float(a[0])


def test_interest_is_paid_from_cash_and_the_rest_above_the_floor_repays_debt():
    # r D = 0.02 x 100 = 2; cash 10 - 2 = 8 above a floor of 3 repays 5
    flows, cash, debt, appetite = _one(10.0, debt=100.0, value=4.0, min_cash=3.0)
    assert flows["interest"] == pytest.approx(2.0)
    assert flows["repaid"] == pytest.approx(5.0) and debt == pytest.approx(95.0)
    assert cash == pytest.approx(3.0) and flows["borrowed"] == 0.0 and not flows["fails"]
    assert appetite == 1.0  # a profit (4 - 2 > 0) keeps appetite at its cap of 1


def test_outside_cash_flow_comes_in_before_the_firm_borrows():
    flows, cash, debt, _ = _one(-3.0, outside=5.0, book=100.0)
    assert flows["borrowed"] == 0.0 and cash == pytest.approx(2.0) and debt == 0.0


def test_a_firm_short_of_cash_borrows_to_its_limit_and_fails_beyond_it():
    # limit 0.5 x (20 + 4 backlog) = 12; debt 4 leaves room 8 (interest 0.08 first)
    flows, cash, debt, _ = _one(-10.0, debt=4.0, book=20.0, backlog=4.0)
    assert flows["borrowed"] == pytest.approx(8.0) and debt == pytest.approx(12.0)
    assert cash == pytest.approx(-10.0 - 0.08 + 8.0) and flows["fails"] == 1.0
    # within the room it borrows only what brings cash back to the floor
    flows, cash, debt, _ = _one(-3.0, book=20.0, min_cash=1.0)
    assert flows["borrowed"] == pytest.approx(4.0) and cash == pytest.approx(1.0)
    assert not flows["fails"]


def test_equity_after_a_loss_is_raised_at_the_lowered_appetite():
    # a loss: appetite 1 -> 0.5; the raise is capped at 0.5 x 2 x revenue 4 = 4
    flows, cash, _, appetite = _one(-10.0, value=-1.0, revenue=4.0, equity=True)
    assert appetite == pytest.approx(0.5)
    assert flows["equity"] == pytest.approx(4.0) and cash == pytest.approx(-6.0)
    assert flows["fails"] == 1.0
    # a firm that does not raise equity gets none; a profit recovers appetite by 0.1
    flows, _, _, appetite = _one(-1.0, value=1.0, revenue=4.0, appetite=0.5)
    assert flows["equity"] == 0.0 and appetite == pytest.approx(0.6)
    flows, cash, _, _ = _one(-1.0, value=1.0, revenue=4.0, appetite=0.5, equity=True)
    assert flows["equity"] == pytest.approx(1.0) and cash == pytest.approx(0.0)


def test_compiled_kernel_equals_the_plain_one():
    pytest.importorskip("numba")
    fast = jit.compile_kernel("finance_kernel", "finance")
    rng = np.random.default_rng(5)
    n = 40
    fixed = (rng.random(n) < 0.9, rng.normal(0, 1, n), rng.random(n) < 0.5, rng.normal(0, 3, n),
             rng.random(n) * 5, rng.random(n) * 30, rng.random(n) * 5)  # fmt: skip
    cash, debt, appetite = rng.normal(0, 10, n), rng.random(n) * 20, rng.random(n)
    a = (cash.copy(), debt.copy(), appetite.copy())
    b = (cash.copy(), debt.copy(), appetite.copy())
    got = fast(*a, *fixed, 0.03, 0.6, 0.5, 2.0, 0.4, 0.2)
    want = fin.finance_kernel(*b, *fixed, 0.03, 0.6, 0.5, 2.0, 0.4, 0.2)
    assert np.array_equal(got, want) and got[4].any() and got[1].any()
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


def _three_fabs(**finance: object) -> StackState:
    raw = tiny(finance={**ON, **finance})
    third = {"name": "fab3", "ops": {"chips": {"capacity": 300.0, "unit_cost": 1.1}}}
    raw["firms"].insert(2, third)
    return StackState(from_dict(raw, "tiny"))


def test_a_fire_sale_conserves_capacity_and_pays_the_discount_pro_rata():
    st = _three_fabs()
    cash = st.cash.copy()
    fab, fab2, fab3 = (st.firm_index[n] for n in ("fab", "fab2", "fab3"))
    o2, o3 = st.op(fab2, 0), st.op(fab3, 0)
    capital2, capital3 = float(st.capital[o2]), float(st.capital[o3])
    before = float(st.capacity[st.layer_of == 0].sum())
    sales = fin.fail(st, fab, 3)
    # fab's 100 units go 100:300 to fab2 and fab3 at half of its book value of 50
    assert float(st.capacity[(st.layer_of == 0) & st.active].sum()) == pytest.approx(before)
    assert st.capacity[o2] == pytest.approx(125.0) and st.capacity[o3] == pytest.approx(375.0)
    assert cash[fab2] - st.cash[fab2] == pytest.approx(0.25 * 25.0)
    assert cash[fab3] - st.cash[fab3] == pytest.approx(0.75 * 25.0)
    assert st.capital[o2] - capital2 == pytest.approx(6.25)
    assert st.capital[o3] - capital3 == pytest.approx(18.75)
    assert sales[0].price == pytest.approx(25.0) and sales[0].buyers == pytest.approx(
        {fab2: 0.25, fab3: 0.75}
    )
    assert not st.active[st.firm_of == fab].any() and st.failed_round[fab] == 3
    assert st.debt[fab] == 0.0 and st.cash[fab] == 0.0
    assert fin.available_funds(st)[fab] == 0.0


def test_the_compiled_fire_sale_equals_the_plain_one_bit_for_bit():
    # fab fails: its chips capacity, pipeline and book go to fab2 and fab3 pro rata to
    # their capacity (300 and 1/3 here, so shares that do not round evenly); the same
    # state through the plain and the compiled kernel gives the same bits and sales
    pytest.importorskip("numba")
    states = []
    for use_jit in (False, True):
        st = _three_fabs()
        fab = st.firm_index["fab"]
        st.pipeline[:] = np.arange(st.pipeline.size, dtype=float).reshape(st.pipeline.shape) / 7
        st.capacity[st.op(st.firm_index["fab3"], 0)] = 1.0 / 3.0
        sales = fin.fail(st, fab, 2, jit=use_jit)
        states.append((st, sales))
    (a, sales_a), (b, sales_b) = states
    assert sales_a == sales_b and sales_a[0].buyers and sales_a[0].price == 25.0
    for name in ("capacity", "pipeline", "capital", "cash", "fixed_cost", "capacity_growth",
                 "pending_capacity", "active", "failed_round"):  # fmt: skip
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


def test_the_compiled_failure_equals_the_plain_one_and_the_fire_sale_alone():
    # fin.fail in one call (fail_kernel): the same bits compiled and plain, stakes held and
    # given and debt cleared, and the same sales and arrays as the fire sale then the
    # clearing written out
    pytest.importorskip("numba")
    states = []
    for how in ("plain", "compiled", "fire_sale"):
        st = _three_fabs()
        fab, fab2, fab3 = (st.firm_index[n] for n in ("fab", "fab2", "fab3"))
        st.pipeline[:] = np.arange(st.pipeline.size, dtype=float).reshape(st.pipeline.shape) / 7
        st.capacity[st.op(fab3, 0)] = 1.0 / 3.0
        st.stakes[fab, fab2], st.stakes[fab2, fab], st.stakes[fab2, fab3] = 0.2, 0.1, 0.3
        st.debt[:] = np.arange(st.n_firms) + 0.5
        if how == "fire_sale":
            st.failed_round[fab] = 2
            sales = fin.fire_sale(st, fab, jit=False)
            st.debt[fab] = st.cash[fab] = 0.0
            st.stakes[fab] = 0.0
            st.stakes[:, fab] = 0.0
        else:
            sales = fin.fail(st, fab, 2, jit=how == "compiled")
        states.append((st, sales))
    (a, sales_a) = states[0]
    assert sales_a[0].buyers and sales_a[0].price == 25.0 and sales_a[0].layer == 0
    assert not a.stakes[fab].any() and not a.stakes[:, fab].any() and a.debt[fab] == 0.0
    assert a.stakes[fab2, fab3] == 0.3 and a.debt[fab2] == 1.5
    for b, sales_b in states[1:]:
        assert sales_b == sales_a
        for name in ("capacity", "pipeline", "capital", "cash", "fixed_cost", "capacity_growth",
                     "pending_capacity", "active", "failed_round", "debt", "stakes"):  # fmt: skip
            assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


def test_with_no_buyer_in_the_layer_the_capacity_is_scrapped():
    st = _three_fabs()
    app = st.firm_index["appco"]
    sales = fin.fail(st, app, 1)
    assert sales[0].buyers == {} and sales[0].price == 0.0
    assert float(st.capacity[st.layer_of == 2].sum()) == 0.0


def test_available_funds_is_cash_above_the_floor_plus_debt_and_equity_room():
    st = StackState(from_dict(tiny(), "tiny"))
    assert np.isinf(fin.available_funds(st)).all()  # finance off: no limit
    st = _three_fabs(min_cash=1.0)
    fab = st.firm_index["fab"]
    st.cash[fab], st.debt[fab] = 10.0, 5.0
    st.raises_equity[fab], st.appetite[fab], st.last_revenue[fab] = True, 0.5, 3.0
    backlog = np.zeros(st.n_firms)
    backlog[fab] = 10.0
    # (10 - 1) + (0.5 x (50 + 10) - 5) + 0.5 x 2 x 3 = 9 + 25 + 3
    assert fin.available_funds(st, backlog)[fab] == pytest.approx(37.0)


def _failing_run(rounds: int = 3) -> dict[str, object]:
    raw = tiny(finance=ON, rounds=rounds)
    loser = firm(raw, "fab2")
    loser["cash"] = 1.0
    loser["debt"] = 10.0
    # a loss of about 30 in round 0; it can borrow 0.5 x 50 - 10 = 15 of it
    loser["ops"]["chips"]["fixed_cost"] = 30.0
    return raw


def test_a_run_where_a_firm_fails_stops_it_and_hands_its_capacity_to_its_rival():
    model = StackModel(from_dict(_failing_run(), "tiny"), 0).run()
    st = model.state
    fab, fab2 = st.firm_index["fab"], st.firm_index["fab2"]
    assert st.failed_round[fab2] == 0 and not model.firms[fab2].active
    assert st.capacity[st.op(fab, 0)] == pytest.approx(200.0)  # (no growth in tiny)
    summary = model.summary()
    (failure,) = summary["failures"]
    assert failure["firm"] == "fab2" and failure["round"] == 0
    assert "fails" in failure["reason"] and "sold at 50% of book" in failure["reason"]
    rows = {f["name"]: f for f in summary["firms"]}
    assert rows["fab2"]["failed"] == 0 and rows["fab"]["failed"] is None
    assert rows["fab2"]["debt"] == 0.0 and rows["fab2"]["layers"] == []
    assert "Failed: fab2 (round 0)." in summary["verdict"]
    # the interest on its debt (0.02 x 10) is in its value and in the round's money flows
    assert model.history.finance_matrix("interest")[0, fab2] == pytest.approx(0.2)
    assert summary["money_flows"][0]["financing"] == pytest.approx(
        float(model.history.finance_matrix("borrowed")[0].sum())
    )
    value = model.history.firms_matrix("value")[0, fab2]
    profit = model.history.firms_matrix("profit")[0, fab2]
    assert value == pytest.approx(profit - 0.2)
    model.release()


def test_json_of_a_run_reports_the_failure(tmp_path, capsys):
    from stackgame.cli import main

    path = write_toml(tmp_path, _failing_run())
    assert main(["run", "--scenario", str(path), "--json", "--out", str(tmp_path / "out")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(f["firm"], f["round"]) for f in out["failures"]] == [("fab2", 0)]
    assert {f["name"]: f["failed"] for f in out["firms"]}["fab2"] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("interest_rate", 1.5),
        ("interest_rate", -0.1),
        ("loan_to_value", 2.0),
        ("min_cash", -1.0),
        ("equity_multiple", -1.0),
        ("appetite_drop", 1.5),
        ("appetite_recovery", -0.5),
        ("fire_sale_discount", 2.0),
        ("enabled", "maybe"),
        ("min_cash", float("nan")),
    ],
)
def test_each_bad_finance_field_is_named(field: str, value: object):
    with pytest.raises(ScenarioError, match=rf"finance\.{field}"):
        from_dict(tiny(finance={field: value}), "tiny")


@pytest.mark.parametrize(
    ("field", "value"), [("debt", -1.0), ("outside_cash_flow", float("inf")), ("raises_equity", 3)]
)
def test_a_bad_firm_finance_field_is_named(field: str, value: object):
    raw = tiny()
    firm(raw, "fab")[field] = value
    with pytest.raises(ScenarioError, match=rf"firms\.fab\.{field}"):
        from_dict(raw, "tiny")


def test_the_command_line_prints_one_line_and_exits_2_on_a_bad_finance_field(tmp_path, capsys):
    from stackgame.cli import main

    path = write_toml(tmp_path, tiny(finance={"loan_to_value": 3.0}), "bad.toml")
    assert main(["run", "--scenario", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "finance.loan_to_value" in err and "\n" not in err
