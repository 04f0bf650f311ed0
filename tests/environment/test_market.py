"""Hand-computed cases for the market clearing: prices, choice, rationing, shortages, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stackgame.environment import market

from tests.environment.conftest import BIG, chain, one_layer
from tests.environment.test_market_properties import shortage_echo_case


def _cournot(intercept: float = 100.0) -> market.Demand:
    """Linear demand with quantity offers: fixes the top layer's output by hand."""
    return market.Demand(kind="linear", intercept=intercept, slope=1.0, cournot=True)


def _two_layer(
    sellers: list[int],
    buyers: list[int],
    relations: list[tuple[int, int, float, bool]] | None = None,
) -> market.Structure:
    """Sellers (firm ids) in layer 0, buyers (firm ids) in layer 1; ops numbered in that order."""
    layer_of = np.array([0] * len(sellers) + [1] * len(buyers))
    return market.build_structure(
        layer_of, np.array(sellers + buyers), 2, np.ones(2), np.ones(2), relations
    )


# -- prices ------------------------------------------------------------------------------


def test_prices_are_markups_over_own_plus_input_cost() -> None:
    """``p_u = c_u (1 + m_u)``, ``p_d = (c_d + a p_u)(1 + m_d)``; per unit ``c_d + a p_u + m_d``."""
    s = market.build_structure(
        np.array([0, 1]), np.array([0, 1]), 2, np.array([1.0, 2.0]), np.ones(2)
    )
    cost, m = np.array([2.0, 1.0]), np.array([0.5, 0.25])
    demand = market.Demand(kind="linear", intercept=50.0)
    r = market.clear(s, cost, m, np.zeros(2), np.full(2, BIG), demand)
    assert r.price[0] == pytest.approx(3.0)
    assert r.unit_input_cost[1] == pytest.approx(6.0)
    assert r.price[1] == pytest.approx((1.0 + 2 * 3.0) * 1.25)
    r = market.clear(
        s, cost, np.array([1.0, 4.0]), np.zeros(2), np.full(2, BIG), demand, per_unit=True
    )
    assert r.price == pytest.approx([3.0, 1.0 + 2 * 3.0 + 4.0])
    # money: downstream pays 2 units of input per unit sold at the upstream price
    assert r.quantity[0] == pytest.approx(2 * r.quantity[1])
    assert r.input_cost[1] == pytest.approx(r.quantity[0] * 3.0)


def test_supplier_logit_on_relative_price_quality_and_switching_cost() -> None:
    """``w_s ∝ exp((q_s + lockin_s - p_s/pbar)/mu)``; an exclusive relation forces one seller."""
    s = _two_layer([1, 2], [0], relations=[(2, 1, 0.5, False)])
    price = np.array([1.0, 2.0, 0.0])
    quality = np.array([0.0, 0.1, 0.0])
    w = market.supplier_weights(s, price, quality, np.full(3, BIG), 1)
    mu, pbar = 1.0, 1.5
    u = np.array([-1.0 / pbar, 0.1 + 0.5 - 2.0 / pbar]) / mu
    assert w[0] == pytest.approx(np.exp(u) / np.exp(u).sum())
    exclusive = _two_layer([1, 2], [0], relations=[(2, 0, 0.0, True)])
    assert market.supplier_weights(exclusive, price, quality, np.full(3, BIG), 1)[
        0
    ] == pytest.approx([1.0, 0.0])
    # a seller without capacity is not chosen
    no_cap = np.array([BIG, 0.0, BIG])
    assert market.supplier_weights(s, price, quality, no_cap, 1)[0] == pytest.approx([1.0, 0.0])


def test_supplier_mix_sets_the_expected_input_price() -> None:
    """A buyer that expects to buy 20/80 from sellers priced 1 and 2 prices on 1.8 per unit
    of input; a seller that has since lost its capacity drops out of the expected mix."""
    s = _two_layer([1, 2], [0])
    cost, m = np.array([1.0, 2.0, 0.0]), np.zeros(3)
    mix = np.zeros((3, 3))
    mix[2, :2] = [0.2, 0.8]
    d = market.Demand(kind="linear", intercept=50.0)
    r = market.clear(s, cost, m, np.zeros(3), np.full(3, BIG), d, supplier_mix=mix)
    assert r.unit_input_cost[2] == pytest.approx(0.2 * 1.0 + 0.8 * 2.0)
    gone = market.clear(s, cost, m, np.zeros(3), np.array([BIG, 0.0, BIG]), d, supplier_mix=mix)
    assert gone.unit_input_cost[2] == pytest.approx(1.0)
    logit = market.clear(s, cost, m, np.zeros(3), np.full(3, BIG), d)
    w = market.supplier_weights(s, logit.price, np.zeros(3), np.full(3, BIG), 1)[0]
    assert logit.unit_input_cost[2] == pytest.approx(w @ logit.price[:2])
    with pytest.raises(ValueError, match="supplier_mix: expected shape"):
        market.clear(s, cost, m, np.zeros(3), np.full(3, BIG), d, supplier_mix=np.zeros((2, 2)))


def test_a_markup_withholds_output_in_a_cournot_layer() -> None:
    # capacity 6 each, offers 5 and 2: firm 0's markup 1 caps its offer at 6 / 2 = 3,
    # firm 1's markup 1 caps 6 / 2 = 3 above its offer 2; P = 10 - (3 + 2) = 5
    d = market.Demand(kind="linear", intercept=10.0, slope=1.0, cournot=True)
    s = one_layer(2)
    r = market.clear(
        s, np.ones(2), np.array([1.0, 1.0]), np.zeros(2), np.full(2, 6.0), d,
        quantity_offer=np.array([5.0, 2.0]),
    )  # fmt: skip
    assert r.quantity.tolist() == [3.0, 2.0] and r.price[0] == 5.0
    # markup 0 (restrain) offers what is named, up to capacity
    r = market.clear(
        s, np.ones(2), np.zeros(2), np.zeros(2), np.full(2, 6.0), d,
        quantity_offer=np.array([9.0, 2.0]),
    )  # fmt: skip
    assert r.quantity.tolist() == [6.0, 2.0] and r.price[0] == 2.0


def test_cournot_price_uses_offers_capped_by_capacity() -> None:
    """``P = A - B sum_j min(x_j, K_j)``, floored at zero."""
    d = market.Demand(kind="linear", intercept=10.0, slope=2.0, cournot=True)
    assert market.cournot_price(np.array([1.0, 3.0]), np.array([5.0, 2.0]), d) == pytest.approx(4.0)
    assert market.cournot_price(np.array([9.0, 9.0]), np.full(2, BIG), d) == 0.0


# -- final demand ------------------------------------------------------------------------


def test_logit_rationing_by_hand() -> None:
    """Two identical apps (a=2, p=1, mu=1), outside a0=0, M=100; app 0 can serve 20.

    Unconstrained shares ``e/(2e+1)`` each; app 0's excess re-chooses app 1 or the outside
    good in the ratio ``e : 1`` (IIA), so ``lost = excess/(e+1)``.
    """
    d = market.Demand(kind="logit", market_size=100.0, mu=1.0, outside_quality=0.0)
    r = market.clear(
        one_layer(2), np.ones(2), np.zeros(2), np.full(2, 2.0), np.array([20.0, BIG]), d
    )
    e = math.e
    want = 100 * e / (2 * e + 1)
    excess = want - 20
    assert r.final_demand == pytest.approx([want, want])
    assert r.quantity == pytest.approx([20.0, want + excess * e / (e + 1)])
    assert r.lost_demand == pytest.approx(excess / (e + 1))
    assert r.outside_share == pytest.approx(1 / (2 * e + 1))
    assert r.quantity.sum() + r.lost_demand + 100 * r.outside_share == pytest.approx(100.0)


def test_operation_without_capacity_is_not_on_offer() -> None:
    """A top operation with no capacity (not yet built) takes no consumers and loses none."""
    d = market.Demand(kind="logit", market_size=100.0, mu=1.0)
    r = market.clear(
        one_layer(2), np.ones(2), np.zeros(2), np.full(2, 2.0), np.array([0.0, BIG]), d
    )
    assert r.quantity[0] == 0.0 and r.final_demand[0] == 0.0
    assert r.lost_demand == pytest.approx(0.0)
    assert r.outside_share == pytest.approx(1 / (math.e + 1))


def test_linear_rationing_counts_each_lost_consumer_once() -> None:
    """Efficient rationing, A=10, B=1: the seller at 2 serves its capacity 4 of D(2)=8; the
    seller at 4 serves the residual D(4) - 4 = 2; lost demand is D(2) - 6 = 2."""
    d = market.Demand(kind="linear", intercept=10.0, slope=1.0)
    r = market.clear(
        one_layer(2), np.array([2.0, 4.0]), np.zeros(2), np.zeros(2), np.array([4.0, BIG]), d
    )
    assert r.quantity == pytest.approx([4.0, 2.0])
    assert r.final_demand == pytest.approx([8.0, 2.0])
    assert r.lost_demand == pytest.approx(2.0)
    assert r.final_spend == pytest.approx(4 * 2.0 + 2 * 4.0)


def test_linear_demand_splits_equally_at_equal_prices_with_spillover() -> None:
    d = market.Demand(kind="linear", intercept=10.0, slope=1.0)
    r = market.clear(
        one_layer(3), np.full(3, 2.0), np.zeros(3), np.zeros(3), np.array([1.0, BIG, BIG]), d
    )
    assert r.quantity == pytest.approx([1.0, 3.5, 3.5])
    assert r.lost_demand == pytest.approx(0.0)


# -- intermediate rationing --------------------------------------------------------------


def test_intermediate_rationing_spills_to_the_other_seller() -> None:
    """A buyer needing 10 splits 5/5 over two identical sellers; seller 0 can make 2, so 3
    units spill to seller 1, which delivers 8; nothing is unmet."""
    s = _two_layer([1, 2], [0])
    r = market.clear(
        s, np.ones(3), np.zeros(3), np.zeros(3), np.array([2.0, BIG, BIG]), _cournot(),
        quantity_offer=np.array([0.0, 0.0, 10.0]),
    )  # fmt: skip
    assert r.flow[2, :2] == pytest.approx([2.0, 8.0])
    assert r.quantity == pytest.approx([2.0, 8.0, 10.0])
    assert r.unmet_input[2] == pytest.approx(0.0)
    assert r.input_cost[2] == pytest.approx(2 * r.price[0] + 8 * r.price[1])


def test_proportional_rationing_treats_identical_buyers_alike() -> None:
    """One seller with capacity 6, two buyers needing 6 and 3: each gets 2/3 of its order
    (4 and 2), sells that much, and the 3 units consumers wanted are lost."""
    s = _two_layer([2], [0, 1])
    r = market.clear(
        s, np.ones(3), np.zeros(3), np.zeros(3), np.array([6.0, BIG, BIG]), _cournot(),
        quantity_offer=np.array([0.0, 6.0, 3.0]),
    )  # fmt: skip
    assert r.flow[1:, 0] == pytest.approx([4.0, 2.0])
    assert r.quantity == pytest.approx([6.0, 4.0, 2.0])
    assert r.unmet_input[1:] == pytest.approx([0.0, 0.0])
    assert r.lost_demand == pytest.approx(3.0)


def test_buyer_rationed_by_its_only_seller_keeps_its_ration_on_the_reclear() -> None:
    """Seller S (capacity 4) and S2 (ample); B1 needs 6 split 3/3, B2 needs 3 and buys only
    from S (exclusive). S rations 4 in proportion 3:3, B1 spills 1 to S2: B1 gets 6, B2 gets 2.

    The clearing is then repeated with B2 able to sell only 2. Before the fix B2 ordered
    just 2 there and its proportional ration shrank again (to 1.6); now each buyer first
    keeps its allocation, so B2 still gets 2."""
    s = _two_layer([2, 3], [0, 1], relations=[(3, 0, 0.0, True)])
    r = market.clear(
        s, np.ones(4), np.zeros(4), np.zeros(4), np.array([4.0, BIG, BIG, BIG]), _cournot(),
        quantity_offer=np.array([0.0, 0.0, 6.0, 3.0]),
    )  # fmt: skip
    assert r.quantity == pytest.approx([4.0, 4.0, 6.0, 2.0])
    assert r.flow[2, :2] == pytest.approx([2.0, 4.0])
    assert r.flow[3, :2] == pytest.approx([2.0, 0.0])
    assert r.lost_demand == pytest.approx(1.0)


def test_foundry_shortage_shrinks_the_apps_sales() -> None:
    """Foundry capacity 10, chips need 2 wafers each: at most 5 chips, so at most 5 app units.

    Two apps (logit, M=100) want far more; both are rationed in proportion to what they
    wanted, and the consumers they could not serve are lost, not counted as choosing the
    outside good: delivered + lost + outside = M.
    """
    s = market.build_structure(
        np.array([0, 1, 2, 2]), np.array([0, 1, 2, 3]), 3, np.array([1.0, 2.0, 1.0]), np.ones(3)
    )
    d = market.Demand(kind="logit", market_size=100.0, mu=1.0)
    quality = np.array([0.0, 0.0, 6.0, 5.0])
    cap = np.array([10.0, BIG, BIG, BIG])
    r = market.clear(s, np.full(4, 0.5), np.full(4, 0.2), quality, cap, d)
    assert r.quantity[0] == pytest.approx(10.0)
    assert r.quantity[1] == pytest.approx(5.0)
    assert r.quantity[2:].sum() == pytest.approx(5.0)
    assert r.quantity[2] / r.quantity[3] == pytest.approx(r.final_demand[2] / r.final_demand[3])
    assert r.lost_demand == pytest.approx(r.final_demand.sum() - 5.0)
    assert 5.0 + r.lost_demand + 100 * r.outside_share == pytest.approx(100.0)
    slack = market.clear(s, np.full(4, 0.5), np.full(4, 0.2), quality, np.full(4, BIG), d)
    assert slack.quantity[2:].sum() > 50  # the constraint, not demand, binds


# -- self-supply -------------------------------------------------------------------------


def test_integrated_firm_supplies_itself_first_at_cost() -> None:
    """Firm 0 runs the only upstream operation (capacity 10) and one downstream operation.

    Each downstream operation wants 8: firm 0 takes its 8 at cost first and sells the
    remaining 2 to its rival, whose other 6 are unmet; the upstream operation earns its
    markup only on the 2 units it sells on the market."""
    s = _two_layer([0], [0, 1])
    cost, m = np.array([1.0, 0.0, 0.0]), np.array([0.5, 0.0, 0.0])
    r = market.clear(
        s, cost, m, np.zeros(3), np.array([10.0, BIG, BIG]), _cournot(),
        quantity_offer=np.array([0.0, 8.0, 8.0]),
    )  # fmt: skip
    assert r.self_supply[1] == pytest.approx(8.0)
    assert r.flow[2, 0] == pytest.approx(2.0)
    assert r.quantity == pytest.approx([10.0, 8.0, 2.0])
    assert r.unit_input_cost[1] == pytest.approx(1.0)  # at cost, no markup
    assert r.input_cost[1] == pytest.approx(8.0)
    assert r.internal_revenue == pytest.approx([8.0, 0.0, 0.0])
    assert r.gross_profit[0] == pytest.approx(2 * (1.5 - 1.0))


def test_price_is_a_markup_over_the_blend_when_own_capacity_is_short() -> None:
    """Firm 0's own upstream can make 4 at cost 1; the rest comes from firm 1 at 2.

    With the old default (price as if all input were self-supplied at cost) firm 0 priced
    at 1.1 and lost money on every unit bought at 2. Now the planned self-supply share is
    lowered to what own capacity actually supplied, so the price is at least the markup
    over the realised average input cost and the gross profit is positive."""
    s = market.build_structure(np.array([0, 0, 1]), np.array([0, 1, 0]), 2, np.ones(2), np.ones(2))
    cost, m = np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.1])
    cap = np.array([4.0, BIG, BIG])
    d = market.Demand(kind="linear", intercept=10.0, slope=1.0)
    old = market.clear(s, cost, m, np.zeros(3), cap, d, self_share=np.ones(3))
    assert old.price[2] == pytest.approx(1.1)
    assert old.gross_profit[2] < 0
    r = market.clear(s, cost, m, np.zeros(3), cap, d)
    assert r.attempts == 2
    assert r.self_supply[2] == pytest.approx(4.0)
    average_input = r.input_cost[2] / r.quantity[2]
    assert r.price[2] >= average_input * 1.1 - 1e-9
    assert r.gross_profit[2] > 0
    share = 4.0 / 8.9  # realised in the first pass (demand 10 - 1.1)
    assert r.unit_input_cost[2] == pytest.approx(share * 1.0 + (1 - share) * 2.0)


def test_a_buyer_whose_own_supplier_fails_buys_on_the_market() -> None:
    # issue 15 (test_market_properties.shortage_echo_case): firm 0's chain is cut at the
    # bottom (its layer-1 operation may buy only from an empty foundry); its layer-2
    # operation must not be written off with it, but buy from firms 1-3's layer-1
    # operations on the re-clear. All prices at layers 0-2 are zero, so the cheapest apps
    # (price 0) serve the whole demand A / B = 5, and nobody is left short.
    case = shortage_echo_case()
    r = case.clear()
    assert r.unmet_input.max() <= 1e-9
    assert r.lost_demand == pytest.approx(0.0, abs=1e-9)
    assert r.quantity[11:14].sum() == pytest.approx(5.0)
    assert r.quantity[4] == 0.0 and r.quantity[8] == pytest.approx(5.0)
    assert r.self_supply[8] == 0.0  # op 8 bought everything on the market
    assert r.flow[8, 5:8].sum() == pytest.approx(5.0)


def test_settling_spills_orders_off_a_seller_short_of_input() -> None:
    # found by the random search: after the three clearings that may re-price, a seller
    # whose input an integrated rival takes first (op 1 feeds firm 2's own op 4 before
    # the exclusive buyer op 3) still held orders; the clearing now goes on (prices
    # fixed) until no buyer is short while a source could deliver
    layer_of = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    s = market.build_structure(
        layer_of, np.array([4, 2, 1, 3, 2, 4, 4, 1]), 3,
        np.array([0.90623515, 1.11498723, 0.74613172]),
        np.array([0.36812625, 0.05427313, 0.20781459]),
        [(3, 1, 0.021931019696413534, True), (5, 1, 0.2574128237882496, True),
         (6, 4, 1.7968768497083818, True)],
    )  # fmt: skip
    markup = np.array([1.51477235, 0.20552995, 1.09595493, 1.73337137, 1.60697602,
                       0.99051557, 0.06450436, 0.08921734])  # fmt: skip
    quality = np.array([0.35862793, -0.61059584, -0.78618502, 0.20978387, 0.40925247,
                        -0.38188933, 8.86531011, 8.92022911])  # fmt: skip
    capacity = np.array([9.126, 1.8544, BIG, BIG, 15.935, 0.0, 26.299, BIG])
    d = market.Demand(kind="linear", intercept=11.957586604992123, slope=1.5551569799607976)
    r = market.clear(s, np.zeros(8), markup, quality, capacity, d, per_unit=True)
    assert r.attempts > market.MAX_ATTEMPTS
    assert r.unmet_input.max() <= 1e-6
    assert r.quantity[3] == 0.0  # the starved exclusive buyer sells nothing
    assert r.flow[7, 3] == 0.0 and r.flow[7, 4] > 0  # its buyer went to op 4 instead


def test_chain_integration_has_no_double_marginalisation() -> None:
    s = chain([0, 0])
    d = market.Demand(kind="linear", intercept=10.0)
    r = market.clear(s, np.array([1.0, 1.0]), np.array([3.0, 0.5]), np.zeros(2), np.full(2, BIG), d)
    assert r.price[1] == pytest.approx((1.0 + 1.0) * 1.5)  # upstream markup ignored
    assert r.gross_profit[0] == pytest.approx(0.0, abs=1e-12)


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"firm_of": np.array([0])}, "equal length"),
        ({"layer_of": np.array([0, 2])}, "layers must lie in 0..1"),
        ({"input_coefficient": np.array([1.0, 0.0])}, "input_coefficient: every value"),
        ({"choice_mu": np.array([1.0])}, "choice_mu: expected 2 values"),
        ({"firm_of": np.array([0, 0]), "layer_of": np.array([1, 1])}, "two operations in layer 1"),
        ({"relations": [(0, 1, 0.0, False)]}, "relations[0]: the seller must be"),
        ({"relations": [(1, 0, -1.0, False)]}, "relations[0]: switching cost"),
        ({"relations": [(1, 5, 0.0, False)]}, "relations[0]: operation index"),
    ],
)
def test_build_structure_rejects_bad_input(kwargs: dict, message: str) -> None:
    args = {
        "layer_of": np.array([0, 1]),
        "firm_of": np.array([0, 1]),
        "n_layers": 2,
        "input_coefficient": np.ones(2),
        "choice_mu": np.ones(2),
    } | kwargs
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(".", r"\.")):
        market.build_structure(**args)


def test_demand_and_clear_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="demand.kind must be 'logit' or 'linear'"):
        market.Demand(kind="probit")
    with pytest.raises(ValueError, match="mu and slope must be positive"):
        market.Demand(mu=0.0)
    with pytest.raises(ValueError, match=r"capacity: expected 2 values"):
        market.clear(chain([0, 1]), np.ones(2), np.ones(2), np.ones(2), np.ones(3), market.Demand())


def test_resolve_prices_takes_fixed_prices_and_floors_at_zero() -> None:
    s = chain([0, 1])
    # per unit: the upstream markup -3 would price below zero; the floor is 0
    price, unit_input, weights = market.resolve_prices(
        s, np.ones(2), np.array([-3.0, 0.5]), np.zeros(2), np.full(2, BIG), np.zeros(2),
        per_unit=True,
    )  # fmt: skip
    assert price[0] == 0.0 and unit_input[0] == 0.0
    assert weights[1].tolist() == [[1.0]]
    # a finite fixed price (a Cournot layer's) replaces the resolved one, floored at zero
    fixed, _, _ = market.resolve_prices(
        s, np.ones(2), np.zeros(2), np.zeros(2), np.full(2, BIG), np.zeros(2),
        fixed_price=np.array([np.nan, -2.0]),
    )  # fmt: skip
    assert fixed.tolist() == [1.0, 0.0]


def test_clear_rejects_optional_arrays_of_the_wrong_length() -> None:
    s = chain([0, 1])
    args = (s, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), market.Demand())
    with pytest.raises(ValueError, match="self_share: expected 2 values"):
        market.clear(*args, self_share=np.ones(3))
    with pytest.raises(ValueError, match="quantity_offer: expected 2 values"):
        market.clear(*args, quantity_offer=np.ones(1))


@pytest.mark.parametrize("jit", [False, True])
def test_clear_returns_the_prices_at_cost_of_resolve_prices(
    jit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cost_capacity``: the prices every markup zero, in the clearing's own call.

    By hand on the chain ``c = (2, 1)``, ``a = (1, 2)``, markups ``(0.5, 0.25)``: at cost
    ``p_u = 2`` and ``p_d = 1 + 2 * 2 = 5`` (the clearing's own prices are 3 and 8.75,
    unchanged). On a two-seller layer with a switching cost, a supplier mix and a
    capacity for the cost prices other than the clearing's, they are
    :func:`market.resolve_prices`' with zero markups, bit for bit (compiled or plain).
    """
    if jit:
        monkeypatch.setenv("STACKGAME_JIT", "eager")  # (the compiled kernel at once)
    s = market.build_structure(
        np.array([0, 1]), np.array([0, 1]), 2, np.array([1.0, 2.0]), np.ones(2)
    )
    cost, m = np.array([2.0, 1.0]), np.array([0.5, 0.25])
    demand = market.Demand(kind="linear", intercept=50.0)
    r = market.clear(
        s, cost, m, np.zeros(2), np.full(2, BIG), demand, self_share=np.zeros(2),
        cost_capacity=np.full(2, BIG), jit=jit,
    )  # fmt: skip
    assert r.cost_price is not None and r.cost_price.tolist() == [2.0, 5.0]
    assert r.price == pytest.approx([3.0, 8.75])
    assert market.clear(s, cost, m, np.zeros(2), np.full(2, BIG), demand).cost_price is None
    with pytest.raises(ValueError, match="explicit self_share"):
        market.clear(s, cost, m, np.zeros(2), np.ones(2), demand, cost_capacity=np.ones(2))

    two = _two_layer([0, 1], [2, 3], [(2, 1, 0.3, False)])
    cost = np.array([1.0, 1.3, 0.5, 0.7])
    quality, share = np.array([0.2, 0.0, 0.1, 0.0]), np.array([0.0, 0.0, 0.0, 0.0])
    mix = np.zeros((4, 4))
    mix[2, 0], mix[2, 1] = 0.25, 0.75
    at_cost = np.array([5.0, 0.0, 3.0, 2.0])  # (seller 1 has no capacity at cost)
    r = market.clear(
        two, cost, np.full(4, 0.4), quality, np.full(4, 4.0), demand, self_share=share,
        supplier_mix=mix, cost_capacity=at_cost, jit=jit,
    )  # fmt: skip
    want, _, _ = market.resolve_prices(
        two, cost, np.zeros(4), quality, at_cost, share, supplier_mix=mix, with_weights=False
    )
    assert r.cost_price is not None and r.cost_price.tolist() == want.tolist()


@pytest.mark.parametrize("jit", [False, True])
def test_lock_parts_are_the_switching_costs_laid_out(
    jit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lock_parts=(gravity, memory)`` clears as ``lock_in=static + gravity - memory``.

    By hand, buyer 2 between sellers 0 and 1 at equal prices and qualities: gravity 0.4 at
    seller 0 and a memory of hikes 0.1 at seller 1 give the utilities' difference
    ``(0.4 + 0.1) / mu`` for seller 0, so its weight is ``1 / (1 + exp(-0.5 / mu))``.
    Every field of the clearing is bit for bit that of the laid-out ``[n, n]`` matrix
    (compiled or plain), with either part alone too.
    """
    from stackgame.environment.lock_in import effective_lock_in

    if jit:
        monkeypatch.setenv("STACKGAME_JIT", "eager")  # (the compiled kernel at once)
    two = _two_layer([0, 1], [2, 3], [(3, 1, 0.3, False)])
    gravity = np.zeros((4, 4))
    gravity[2, 0] = 0.4
    gravity[3, 1] = 0.05
    memory = np.array([0.0, 0.1, 0.0, 0.0])
    demand = market.Demand(market_size=10.0)
    args = (two, np.ones(4), np.full(4, 0.2), np.zeros(4), np.full(4, BIG), demand)
    for parts in ((gravity, memory), (gravity, None), (None, memory), (None, None)):
        laid = effective_lock_in(two.lock_in, parts[1], parts[0])
        got = market.clear(*args, lock_parts=parts, jit=jit)
        want = market.clear(*args, lock_in=laid, jit=jit)
        for name in ("price", "quantity", "revenue", "unit_input_cost", "self_supply"):
            assert getattr(got, name).tobytes() == getattr(want, name).tobytes(), name
        assert got.flows.values.tobytes() == want.flows.values.tobytes()
    got = market.clear(*args, lock_parts=(gravity, memory), jit=jit)
    flow = got.flow
    mu = float(two.choice_mu[0])
    assert flow[2, 0] / (flow[2, 0] + flow[2, 1]) == pytest.approx(1 / (1 + math.exp(-0.5 / mu)))
    with pytest.raises(ValueError, match="give this round's switching costs once"):
        market.clear(*args, lock_in=two.lock_in, lock_parts=(None, memory))
    with pytest.raises(ValueError, match="lock_parts: memory of shape"):
        market.clear(*args, lock_parts=(None, np.zeros(3)))
