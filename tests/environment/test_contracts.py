"""Contracts (``docs/MODEL.md`` 17): the textbook chain, validation, signing, a property.

The textbook case is a two-layer chain with linear demand ``P = 10 - Q``: one maker
(unit cost 1, ad valorem markup 0.5: market price ``p_m = 1.5``) sells to one buyer (unit
cost 1, markup 0: price 2.5), so ``Q = 7.5`` units flow each round. Contracts between
them change who pays what, never the flows.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hs
from stackgame.environment import contracts as contracts_module
from stackgame.environment.contracts import ContractBook, settle_kernel
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import ScenarioError, from_dict
from stackgame.strategies.base import Action, ContractOffer, Move, Posture

from tests.environment.tiny_scenario import Scripted, run_model

P_M = 1.5  # the maker's market price
Q = 7.5  # units a round, (10 - 2.5) / 1

_CHAIN: dict[str, Any] = {
    "name": "contract-chain",
    "rounds": 4,
    "layers": [{"name": "up"}, {"name": "down"}],
    "firms": [
        {
            "name": "maker",
            "ops": {
                "up": {
                    "capacity": 100.0,
                    "unit_cost": 1.0,
                    "restrain_markup": 0.5,
                    "depreciation_rate": 0.0,
                }
            },
        },
        {
            "name": "buyer",
            "cash": 100.0,
            "ops": {
                "down": {
                    "capacity": 100.0,
                    "unit_cost": 1.0,
                    "restrain_markup": 0.0,
                    "depreciation_rate": 0.0,
                }
            },
        },
    ],
    "demand": {"kind": "linear", "intercept": 10.0, "slope": 1.0},
    "regulator": {"enabled": False},
}


def chain(*contracts: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The textbook chain with these contracts (maker sells to buyer in ``up``)."""
    raw = copy.deepcopy(_CHAIN)
    raw.update(copy.deepcopy(changes))
    raw["contracts"] = [
        {"name": "lta", "buyer": "buyer", "seller": "maker", "layer": "up", **c} for c in contracts
    ]
    return raw


def ops_column(model: StackModel, column: str, op: int) -> list[float]:
    """One operation's recorded ``column`` (``revenue``, ``input_cost``...) per round."""
    return model.history.ops_matrix(column)[:, op].tolist()


MAKER, BUYER = 0, 1  # operation (and firm) indices in the chain


def test_without_contracts_the_chain_clears_at_the_textbook_numbers() -> None:
    model = run_model(chain())
    assert ops_column(model, "quantity", MAKER) == pytest.approx([Q] * 4)
    assert ops_column(model, "revenue", MAKER) == pytest.approx([P_M * Q] * 4)
    assert ops_column(model, "input_cost", BUYER) == pytest.approx([P_M * Q] * 4)


def test_fixed_price_above_market_replaces_the_market_price() -> None:
    # q = Q: the seller's whole revenue is the contract's, p_c q = 2 x 7.5 = 15
    model = run_model(chain({"quantity": Q, "price": 2.0, "duration": 4}))
    assert ops_column(model, "revenue", MAKER) == pytest.approx([15.0] * 4, abs=1e-12)
    assert ops_column(model, "input_cost", BUYER) == pytest.approx([15.0] * 4, abs=1e-12)
    assert ops_column(model, "quantity", MAKER) == pytest.approx([Q] * 4)
    # the buyer priced on the market price: gross 18.75 - 15 - 7.5 = -3.75; the chain's
    # joint gross profit is unchanged, 3.75
    assert ops_column(model, "gross_profit", BUYER) == pytest.approx([-3.75] * 4, abs=1e-12)
    assert ops_column(model, "gross_profit", MAKER) == pytest.approx([7.5] * 4, abs=1e-12)


def test_part_of_the_flow_under_contract_blends_the_two_prices() -> None:
    # q = 5 at 2, the other 2.5 units at 1.5: 10 + 3.75 = 13.75
    model = run_model(chain({"quantity": 5.0, "price": 2.0, "duration": 2, "start": 1}))
    assert ops_column(model, "revenue", MAKER) == pytest.approx(
        [11.25, 13.75, 13.75, 11.25], abs=1e-12
    )


def test_take_or_pay_in_a_demand_bust_pays_for_units_not_taken() -> None:
    # from round 2 demand is P = 4 - Q: the buyer still prices at 2.5 and sells 1.5 units
    bust = [{"kind": "set", "round": 2, "set": {"demand.intercept": 4.0}}]
    full = run_model(chain({"quantity": Q, "price": 2.0, "duration": 4}, events=bust))
    assert ops_column(full, "quantity", MAKER) == pytest.approx([Q, Q, 1.5, 1.5])
    # take-or-pay 1: 7.5 units paid at 2 although 1.5 were taken (12 for nothing)
    assert ops_column(full, "revenue", MAKER) == pytest.approx([15.0] * 4, abs=1e-12)
    assert ops_column(full, "input_cost", BUYER) == pytest.approx([15.0] * 4, abs=1e-12)
    part = run_model(
        chain({"quantity": Q, "price": 2.0, "duration": 4, "take_or_pay": 0.8}, events=bust)
    )
    # take-or-pay 0.8: max(1.5, 6) = 6 units paid, 12
    assert ops_column(part, "input_cost", BUYER) == pytest.approx(
        [15.0, 15.0, 12.0, 12.0], abs=1e-12
    )
    none = run_model(
        chain({"quantity": Q, "price": 2.0, "duration": 4, "take_or_pay": 0.0}, events=bust)
    )
    assert ops_column(none, "input_cost", BUYER) == pytest.approx([15.0, 15.0, 3.0, 3.0], abs=1e-12)
    # the seller's backlog and the buyer's obligations count the rounds still to come
    assert full.contracts.backlog(full.state, full.memory.price, 2).tolist() == [30.0, 0.0]
    assert full.contracts.obligations(full.state, full.memory.price, 2).tolist() == [0.0, 30.0]
    assert part.contracts.obligations(part.state, part.memory.price, 3)[BUYER] == pytest.approx(
        12.0
    )
    assert full.backlog() == {"maker": 0.0, "buyer": 0.0}  # (after the last round)


def test_indexed_price_follows_the_market() -> None:
    # the maker's unit cost doubles from round 2: p_m = 3, the buyer prices at 4, Q = 6
    dearer = [{"kind": "set", "round": 2, "set": {"firms.maker.ops.up.unit_cost": 2.0}}]
    model = run_model(
        chain({"quantity": Q, "premium": 0.1, "duration": 4, "take_or_pay": 0.0}, events=dearer)
    )
    assert ops_column(model, "price", MAKER) == pytest.approx([1.5, 1.5, 3.0, 3.0])
    assert ops_column(model, "quantity", MAKER) == pytest.approx([Q, Q, 6.0, 6.0])
    # p_c = 1.1 p_m on the units delivered: 1.65 x 7.5, then 3.3 x 6
    assert ops_column(model, "revenue", MAKER) == pytest.approx(
        [12.375, 12.375, 19.8, 19.8], abs=1e-12
    )


def _cash_less_value(model: StackModel, firm: int) -> list[float]:
    """Per round, the firm's cash less its starting cash and the value it accrued so far."""
    h = model.history
    cash = h.firms_matrix("cash")[:, firm]
    value = np.cumsum(h.firms_matrix("value")[:, firm])
    start = model.scenario.firms[firm].cash
    return (cash - start - value).tolist()


@pytest.mark.parametrize(
    ("prepayment", "credit"),
    [(20.0, [5.0, 0.0, 0.0, 0.0]), (50.0, [35.0, 20.0, 0.0, 0.0])],
    ids=["drawn", "refunded"],
)
def test_prepayment_moves_cash_at_the_start_and_nets_to_the_accrual(
    prepayment: float, credit: list[float]
) -> None:
    # payments are 15 a round for rounds 0-2; the prepayment is paid in round 0 and drawn
    # first; what is left after round 2 (50 - 45 = 5) is refunded
    model = run_model(chain({"quantity": Q, "price": 2.0, "duration": 3, "prepayment": prepayment}))
    gap = _cash_less_value(model, BUYER)
    assert gap == pytest.approx([-c for c in credit], abs=1e-9)
    assert _cash_less_value(model, MAKER) == pytest.approx(credit, abs=1e-9)
    assert model.contracts.credit.tolist() == [0.0]


def test_a_contract_whose_party_has_no_operation_is_not_in_force() -> None:
    raw = chain({"quantity": Q, "price": 2.0, "duration": 4})
    model = StackModel(from_dict(raw), 0)
    st = model.state
    assert model.contracts.in_force(0, st).tolist() == [[BUYER], [MAKER], [Q]]
    assert model.contracts.in_force(4, st) is None  # after its last round
    st.active[MAKER] = False
    st.rebuild()
    assert model.contracts.in_force(0, st) is None
    model.release()


def test_terminate_ends_a_firms_contracts_and_logs_it() -> None:
    model = StackModel(from_dict(chain({"quantity": Q, "price": 2.0, "duration": 4})), 0)
    model.step()
    assert model.contracts.terminate(BUYER, 0) == [0]
    model.run()
    model.release()
    # from round 1 the market price again
    assert ops_column(model, "revenue", MAKER) == pytest.approx([15.0] + [P_M * Q] * 3)
    entries = [e for e in model.log if e.kind == "contract"]
    assert len(entries) == 1 and "lta with maker ends after round 0" in entries[0].text


def test_packed_terms_are_the_books_terms_and_follow_an_edit() -> None:
    """``ContractBook.packed``: rows ``TERM_INTS`` and ``TERM_FLOATS`` of the book's terms.

    One fixed-price contract (maker, firm and operation 0, sells to buyer, firm and
    operation 1, from round 0 for 4 rounds): ``[0, 4, 0, 1, 1, 0]`` and ``[7.5, 2.0, 0,
    0.5, 3.0]``; terminated after round 0 its end becomes 1 at the next look.
    """
    model = StackModel(
        from_dict(
            chain({"quantity": Q, "price": 2.0, "duration": 4, "take_or_pay": 0.5,
                   "prepayment": 3.0})
        ),
        0,
    )  # fmt: skip
    book, st = model.contracts, model.state
    ints, floats = book.packed(st)
    assert contracts_module.TERM_INTS == ("start", "end", "s_op", "b_op", "buyer", "seller")
    assert ints.tolist() == [[0], [4], [MAKER], [BUYER], [BUYER], [MAKER]]
    assert floats.tolist() == [[Q], [2.0], [0.0], [0.5], [3.0]]
    assert book.packed(st)[0] is ints  # (kept while nothing changes)
    book.terminate(BUYER, 0)
    assert book.packed(st)[0][1].tolist() == [1]
    model.release()


def test_no_contracts_clears_exactly_as_before() -> None:
    raw = chain()
    del raw["contracts"]
    plain = run_model(raw)
    empty = run_model(chain())
    for column in ("revenue", "input_cost", "gross_profit", "quantity"):
        assert (
            plain.history.ops_matrix(column).tolist() == empty.history.ops_matrix(column).tolist()
        )
    assert empty.contracts.in_force(0, empty.state) is None


# -- the kernel ------------------------------------------------------------------------------


def _kernel_case(capital: bool, take_or_pay: float) -> tuple[np.ndarray, ...]:
    flow = np.zeros((2, 2))
    flow[1, 0] = 4.0  # op 1 buys 4 units from op 0
    revenue, input_cost, capex, gross = np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2)
    revenue[0] = 4.0 * P_M
    if capital:
        capex[1] = 4.0 * P_M
    else:
        input_cost[1] = 4.0 * P_M
    cash = np.zeros(2)
    out = settle_kernel(
        0, np.array([1]), np.array([0]), np.array([1]), np.array([0]), np.array([10.0]),
        np.array([2.0]), np.array([False]), np.array([0.0]), np.array([take_or_pay]),
        np.array([5]), np.array([0.0]), np.array([True]), np.zeros(1),
        np.array([False, capital]), flow, np.array([P_M, 0.0]), revenue, input_cost, capex,
        gross, cash,
    )  # fmt: skip
    return out, revenue, input_cost, capex, gross


def test_kernel_capital_goods_buyer_capitalises_the_price_and_expenses_the_shortfall() -> None:
    # 4 units delivered of 10, take-or-pay 0.6: 6 paid at 2 = 12, of which 4 x 2 = 8
    # bought goods (capex) and 2 x 2 = 4 paid for nothing (a cost)
    out, revenue, input_cost, capex, gross = _kernel_case(True, 0.6)
    assert out[:, 0].tolist() == [4.0, 6.0, 12.0, 2.0]
    assert revenue[0] == 12.0 and gross[0] == 12.0 - 4.0 * P_M
    assert capex[1] == 8.0 and input_cost[1] == 4.0 and gross[1] == -4.0
    out, revenue, input_cost, capex, gross = _kernel_case(False, 0.6)
    assert input_cost[1] == 12.0 and capex[1] == 0.0 and gross[1] == -(12.0 - 4.0 * P_M)


def test_kernel_compiled_equals_plain() -> None:
    pytest.importorskip("numba")
    from stackgame.environment.jit import compile_kernel

    fast = compile_kernel("settle_kernel", "contracts")
    assert fast.py_func is contracts_module.settle_kernel
    args = _kernel_args(np.random.default_rng(3), 6)
    plain_args = copy.deepcopy(args)
    got = fast(*args)
    want = settle_kernel(*plain_args)
    assert got.tolist() == want.tolist()
    for a, b in zip(args, plain_args, strict=True):
        if isinstance(a, np.ndarray):
            assert a.tolist() == b.tolist()


def _kernel_args(rng: np.random.Generator, m: int) -> list[Any]:
    """Random contracts between 4 operations (2 sellers 0-1, 2 buyers 2-3) of 4 firms."""
    b_op = rng.choice(np.array([-1, 2, 3]), m)
    s_op = np.where(b_op >= 0, rng.integers(0, 2, m), -1)
    flow = np.zeros((4, 4))
    flow[2:, :2] = rng.uniform(0, 5, (2, 2))
    return [
        1, b_op.astype(np.int64), s_op.astype(np.int64), np.maximum(b_op, 0).astype(np.int64),
        np.maximum(s_op, 0).astype(np.int64), rng.uniform(0.5, 4, m), rng.uniform(0, 3, m),
        rng.random(m) < 0.5, rng.uniform(-0.5, 0.5, m), rng.random(m),
        rng.integers(1, 4, m).astype(np.int64), rng.uniform(0, 10, m), rng.random(m) < 0.5,
        rng.uniform(0, 5, m), np.array([False, False, True, False]), flow,
        rng.uniform(0.5, 3, 4), rng.uniform(0, 9, 4), rng.uniform(0, 9, 4), np.zeros(4),
        np.zeros(4), rng.uniform(-5, 5, 4),
    ]  # fmt: skip


@given(hs.integers(0, 2**32 - 1), hs.integers(1, 8))
def test_property_money_is_only_moved_between_the_parties(seed: int, m: int) -> None:
    """Every contract moves as much to the seller as it takes from the buyer."""
    args = _kernel_args(np.random.default_rng(seed), m)
    revenue0, input0, capex0, gross0, cash0 = (a.copy() for a in args[-5:])
    credit0 = args[13].copy()
    settle_kernel(*args)
    revenue, input_cost, capex, gross, cash = args[-5:]
    # what sellers gained in revenue, buyers paid in input cost and capex
    gained = float((revenue - revenue0).sum())
    assert math.isclose(
        gained, float((input_cost - input0).sum() + (capex - capex0).sum()), abs_tol=1e-9
    )
    # gross profit: the sellers' gain less the buyers' expensed part
    assert math.isclose(float((gross - gross0).sum()), float((capex - capex0).sum()), abs_tol=1e-9)
    # cash moves between parties and the credit only: cash + credit is conserved
    assert math.isclose(float(cash.sum()), float(cash0.sum()), abs_tol=1e-9)
    assert (args[13] >= -1e-12).all() and (args[13] <= credit0 + args[11] + 1e-9).all()


# -- validation ------------------------------------------------------------------------------

GOOD = {"quantity": 5.0, "price": 2.0, "duration": 4}


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"quantity": 0.0}, ("contracts.lta.quantity", "greater than 0")),
        ({"quantity": math.inf}, ("contracts.lta.quantity", "finite")),
        ({"price": -1.0}, ("contracts.lta.price", "greater than or equal to 0")),
        ({"premium": -1.0}, ("contracts.lta.premium", "greater than -1")),
        ({"duration": 0}, ("contracts.lta.duration", "greater than or equal to 1")),
        ({"duration": None}, ("contracts.lta.duration", "required field is missing")),
        ({"start": -1}, ("contracts.lta.start", "greater than or equal to 0")),
        ({"prepayment": -5.0}, ("contracts.lta.prepayment", "greater than or equal to 0")),
        ({"take_or_pay": 1.5}, ("contracts.lta.take_or_pay", "less than or equal to 1")),
        ({"volume": 3.0}, ("contracts.lta.volume", "unknown field")),
        ({"buyer": "nobody"}, ("contracts.lta.buyer", "unknown firm 'nobody'")),
        ({"seller": "buyer"}, ("contracts.lta.seller", "buyer does not operate in up")),
        ({"layer": "down"}, ("contracts.lta.seller", "maker does not operate in down")),
        ({"layer": "gpus"}, ("contracts.lta.layer", "unknown layer 'gpus'")),
    ],
    ids=lambda x: "-".join(map(str, x)) if isinstance(x, dict) else None,
)
def test_each_bad_field_names_the_contract_and_the_field(
    change: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    terms = {**GOOD, **change}
    raw = chain({k: v for k, v in terms.items() if v is not None})
    with pytest.raises(ScenarioError) as err:
        from_dict(raw, "bad.toml")
    message = str(err.value)
    assert message.startswith("bad.toml: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_an_unnamed_contract_is_named_buyer_seller_layer_in_errors() -> None:
    raw = chain({**GOOD, "quantity": -2.0})
    del raw["contracts"][0]["name"]
    with pytest.raises(ScenarioError, match=r"contracts\.buyer-maker-up\.quantity"):
        from_dict(raw)


def test_a_firm_cannot_contract_with_itself() -> None:
    raw = chain()
    raw["firms"][0]["ops"]["down"] = dict(raw["firms"][1]["ops"]["down"])
    raw["contracts"] = [{"name": "x", "buyer": "maker", "seller": "maker", "layer": "up", **GOOD}]
    with pytest.raises(ScenarioError, match=r"contracts\.x\.seller: a firm cannot contract"):
        from_dict(raw)


# -- contracts a strategy signs ----------------------------------------------------------------


def _scripted(offers: tuple[ContractOffer, ...]) -> StackModel:
    model = StackModel(from_dict(chain()), 0)
    model.firms[BUYER].set_strategy(Scripted([Action(default=Posture.RESTRAIN, contracts=offers)]))
    model.run()
    model.release()
    return model


def test_a_strategy_signs_a_contract_at_the_sellers_price() -> None:
    model = _scripted((ContractOffer("maker", "up", Q, 2, take_or_pay=1.0),))
    # offered in round 0, in force in rounds 1-2 at round 0's price 1.5
    assert model.contracts.names == ["buyer-maker-up-r1"]
    assert model.contracts.start.tolist() == [1] and model.contracts.end.tolist() == [3]
    assert model.contracts.price.tolist() == [P_M]
    assert ops_column(model, "revenue", MAKER) == pytest.approx([P_M * Q] * 4, abs=1e-12)
    (entry,) = [e for e in model.log if e.kind == "contract"]
    assert entry.round == 0 and entry.firm == "buyer" and "signs buyer-maker-up-r1" in entry.text


def test_a_fixed_price_offer_changes_the_sellers_revenue() -> None:
    model = _scripted((ContractOffer("maker", "up", Q, 2, price=2.0),))
    assert ops_column(model, "revenue", MAKER) == pytest.approx(
        [P_M * Q, 15.0, 15.0, P_M * Q], abs=1e-12
    )


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        (ContractOffer("maker", "up", 101.0, 2), "exceeds maker's capacity not already"),
        (ContractOffer("nobody", "up", 1.0, 2), "unknown firm 'nobody'"),
        (ContractOffer("maker", "gpus", 1.0, 2), "unknown layer 'gpus'"),
        (ContractOffer("maker", "down", 1.0, 2), "buyer does not buy from down"),
        (ContractOffer("buyer", "up", 1.0, 2), "a firm cannot contract with itself"),
        (ContractOffer("maker", "up", 1.0, 0), "duration must be at least 1"),
        (ContractOffer("maker", "up", 1.0, 2.5), "duration must be a whole number"),  # type: ignore[arg-type]
        (ContractOffer("maker", "up", -1.0, 2), "quantity must be a finite number"),
        (ContractOffer("maker", "up", 1.0, 2, price=math.nan), "price must be a finite"),
        (ContractOffer("maker", "up", 1.0, 2, take_or_pay=2.0), "take_or_pay must be"),
        (ContractOffer("maker", "up", 1.0, 2, prepayment=-1.0), "prepayment must be"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_an_offer_that_cannot_be_signed_is_refused_and_logged(
    offer: ContractOffer, reason: str
) -> None:
    model = _scripted((offer,))
    assert model.contracts.m == 0
    (entry,) = [e for e in model.log if e.kind == "contract"]
    assert "refused" in entry.text and reason in entry.text, entry.text


@pytest.mark.parametrize(
    ("change", "reason"),
    [("captive", "maker does not sell to buyer in up"), ("gone", "no active operation in up")],
)
def test_an_offer_to_a_seller_that_cannot_sell_is_refused(change: str, reason: str) -> None:
    model = StackModel(from_dict(chain()), 0)
    model.firms[BUYER].set_strategy(
        Scripted([Action(contracts=(ContractOffer("maker", "up", 1.0, 2),))])
    )
    model.step()
    st = model.state
    if change == "captive":
        st.captive[MAKER] = True
    else:
        st.active[MAKER] = False
    st.rebuild()
    assert (
        model.contracts.sign(0, st, {BUYER: model.firms[BUYER].strategy.actions[0]}, np.ones(2))
        == []
    )
    assert reason in model.log[-1].text
    model.release()


def test_capacity_already_contracted_is_not_sold_twice() -> None:
    model = _scripted(
        (ContractOffer("maker", "up", 60.0, 3), ContractOffer("maker", "up", 60.0, 3))
    )
    assert model.contracts.m == 1
    texts = [e.text for e in model.log if e.kind == "contract"]
    assert "signs" in texts[0] and "capacity not already contracted (40)" in texts[1]


def test_an_acquired_firms_contracts_pass_to_its_buyer() -> None:
    raw = chain({"quantity": 2.0, "price": 2.0, "duration": 4})
    raw["firms"].append(
        {"name": "holding", "cash": 1e6, "ops": {"down": {"capacity": 10.0, "unit_cost": 1.0}}}
    )
    model = StackModel(from_dict(raw), 0)
    st = model.state
    model.round = 1
    model._buy_or_stake(2, "holding", Move.BUY, "buyer")
    assert model.contracts.buyer.tolist() == [2]
    # the holding's own op in "down" took over the buyer's capacity: still in force
    assert model.contracts.in_force(1, st).tolist() == [[2.0], [0.0], [2.0]]
    assert any("passes from buyer to holding" in e.text for e in model.log)
    model.release()


def test_a_contract_between_buyer_and_seller_ends_when_one_buys_the_other() -> None:
    book = ContractBook(from_dict(chain({**GOOD})), StackModel(from_dict(chain()), 0).state)
    book.transfer(MAKER, BUYER, 1)
    assert book.end.tolist() == [2]


def test_sold_forward_counts_units_per_selling_operation() -> None:
    model = StackModel(from_dict(chain({**GOOD}, {**GOOD, "name": "two", "start": 2})), 0)
    assert model.contracts.sold_forward(0, model.state).tolist() == [5.0, 0.0]
    assert model.contracts.sold_forward(2, model.state).tolist() == [10.0, 0.0]
    model.release()


def test_a_lab_that_secures_supply_early_signs_with_its_supplier_in_a_run() -> None:
    from tests.environment.tiny_scenario import firm, tiny

    raw = tiny(rounds=5)
    firm(raw, "appco")["strategy"] = "secures_supply_early"
    model = run_model(raw, seed=2)
    (entry,) = [e for e in model.log if e.kind == "contract"]
    assert entry.round == 1 and entry.firm == "appco" and "from cloudco" in entry.text
    c = model.contracts
    need = model.history.ops_matrix("quantity")[1, 3]  # appco's round-1 output, a = 1
    assert c.quantity.tolist() == pytest.approx([0.5 * need])
    assert c.price.tolist() == [model.history.ops_matrix("price")[1, 2]]
    assert (c.start.tolist(), c.end.tolist()) == ([2], [14])
    # in force from round 2: settled at the fixed price
    assert c.last is not None and c.last[3].tolist() == c.price.tolist()
    assert model.backlog()["cloudco"] == pytest.approx(9 * c.quantity[0] * c.price[0])


# contracts an event signs and ends (trigger 2 of 000: long-term agreements) -------------


def _lta_events(renege: bool) -> dict[str, Any]:
    """The chain over 5 rounds; an event signs the agreement from round 1, one may end it."""
    lta = {"name": "lta", "buyer": "buyer", "seller": "maker", "layer": "up", "quantity": Q,
           "price": 2.0, "duration": 3, "prepayment": 50.0, "take_or_pay": 1.0}  # fmt: skip
    events: list[dict[str, Any]] = [
        {"kind": "trigger", "name": "agreements", "round": 1, "contracts": [lta]}
    ]
    if renege:
        events.append({"kind": "set", "name": "renege", "round": 3, "end_contracts": ["lta"]})
    return chain(rounds=5, events=events)


def test_an_event_signs_long_term_agreements_from_its_round() -> None:
    # signed by the event due in round 1, in force rounds 1-3: the maker sells Q = 7.5 at
    # p_c = 2 (15 a round) instead of p_m = 1.5 (11.25); the prepayment 50 is paid in
    # round 1 and drawn 15 a round: credit 35, 20, then 5, refunded in round 3, its last (0)
    model = run_model(_lta_events(renege=False))
    assert ops_column(model, "revenue", MAKER) == pytest.approx([11.25, 15, 15, 15, 11.25])
    assert _cash_less_value(model, MAKER) == pytest.approx([0, 35, 20, 0, 0], abs=1e-9)
    assert _cash_less_value(model, BUYER) == pytest.approx([0, -35, -20, 0, 0], abs=1e-9)
    assert [e.text for e in model.log if e.kind == "contract"][0].startswith(
        "lta: buyer signs for 7.5 units of up a round from round 1 for 3 rounds"
    )


def test_an_event_ends_the_agreements_early_and_the_credit_lapses_to_the_seller() -> None:
    # the renege event due in round 3 ends the agreement after round 2: round 3 trades at
    # the market price again (11.25); the credit left after round 2, 50 - 2 x 15 = 20,
    # lapses: the maker keeps 20 of cash it never earns, the buyer is 20 short for good
    model = run_model(_lta_events(renege=True))
    assert ops_column(model, "revenue", MAKER) == pytest.approx([11.25, 15, 15, 11.25, 11.25])
    assert _cash_less_value(model, MAKER) == pytest.approx([0, 35, 20, 20, 20], abs=1e-9)
    assert _cash_less_value(model, BUYER) == pytest.approx([0, -35, -20, -20, -20], abs=1e-9)
    assert any("lapses" in e.text for e in model.log if e.kind == "contract")


def test_an_event_can_end_only_a_contract_it_knows() -> None:
    raw = _lta_events(renege=True)
    raw["events"][1]["end_contracts"] = ["nosuch"]
    with pytest.raises(
        ScenarioError, match=r"events.renege.end_contracts: unknown contract 'nosuch'"
    ):
        from_dict(raw)
    raw = _lta_events(renege=False)
    raw["events"][0]["contracts"][0]["seller"] = "buyer"
    with pytest.raises(ScenarioError, match=r"events.agreements.contracts.lta.seller"):
        from_dict(raw)


def test_the_clearing_sees_one_array_type_before_and_after_the_contracts_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # numba compiles (or loads) one clearing per argument type: a read-only "no
    # contracts" array once the last contract ended would be a second kernel mid-run.
    # The model passes writable float arrays of shape [3, m] in every round.
    from stackgame.environment import model as model_module

    seen = []
    real = model_module.clear

    def spy(*args: Any, **kwargs: Any) -> Any:
        c = kwargs["contracts"]
        seen.append((c.dtype, c.ndim, c.shape[0], c.flags.writeable, c.flags.c_contiguous))
        return real(*args, **kwargs)

    monkeypatch.setattr(model_module, "clear", spy)
    model = StackModel(from_dict(chain({"quantity": Q, "price": 2.0, "duration": 2})), 0)
    model.rounds = 4
    model.run()
    model.release()
    assert len(seen) == 4
    assert set(seen) == {(np.dtype(float), 2, 3, True, True)}  # (in force in 0-1, not 2-3)
