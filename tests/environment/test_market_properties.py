"""Property-based tests of the clearing on random valid stacks (hypothesis).

A random case has 1-4 layers with 1-5 firms each drawn from a pool of eight, so some
firms operate in adjacent layers (integrated: they supply themselves at cost); random
capacities (some zero, some binding), costs, markups (ad valorem or per unit), quality,
relations with switching costs (some exclusive), logit, linear or Cournot demand, and
sometimes an expected supplier mix for pricing (``supplier_mix``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from stackgame.environment import market

TOL = 1e-7


@dataclass
class Case:
    layer_of: np.ndarray
    firm_of: np.ndarray
    n_layers: int
    coef: np.ndarray
    mu: np.ndarray
    relations: list[tuple[int, int, float, bool]]
    unit_cost: np.ndarray
    markup: np.ndarray
    quality: np.ndarray
    capacity: np.ndarray
    demand: market.Demand
    per_unit: bool
    offer: np.ndarray | None
    mix: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.layer_of)

    def structure(self) -> market.Structure:
        return market.build_structure(
            self.layer_of, self.firm_of, self.n_layers, self.coef, self.mu, self.relations
        )

    def clear(self) -> market.Clearing:
        return market.clear(
            self.structure(),
            self.unit_cost,
            self.markup,
            self.quality,
            self.capacity,
            self.demand,
            per_unit=self.per_unit,
            quantity_offer=self.offer,
            supplier_mix=self.mix,
        )


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n_layers = draw(st.integers(1, 4))
    layer_of: list[int] = []
    firm_of: list[int] = []
    for k in range(n_layers):
        firms = draw(st.lists(st.integers(0, 7), min_size=1, max_size=5, unique=True))
        layer_of += [k] * len(firms)
        firm_of += firms
    n = len(layer_of)
    lay = np.array(layer_of)
    relations = []
    for b in range(n):
        below = [s for s in range(n) if lay[s] == lay[b] - 1 and firm_of[s] != firm_of[b]]
        if below and draw(st.booleans()):
            s = draw(st.sampled_from(below))
            relations.append((b, s, draw(_floats(0.0, 2.0)), draw(st.booleans())))

    def per_op(lo: float, hi: float) -> np.ndarray:
        return np.array(draw(st.lists(_floats(lo, hi), min_size=n, max_size=n)))

    cap_kind = draw(st.lists(st.sampled_from(["slack", "tight", "zero"]), min_size=n, max_size=n))
    tight = per_op(0.0, 30.0)
    pick = {"slack": lambda t: 1e6, "zero": lambda t: 0.0, "tight": lambda t: t}
    capacity = np.array([pick[c](t) for c, t in zip(cap_kind, tight, strict=True)])
    per_unit = draw(st.booleans())
    quality = per_op(-1.0, 1.0)
    quality[lay == n_layers - 1] += n_layers * 3.0  # the top layer's a_j, dollars
    kind = draw(st.sampled_from(["logit", "linear", "cournot"]))
    demand = market.Demand(
        kind="logit" if kind == "logit" else "linear",
        market_size=draw(_floats(1.0, 200.0)),
        mu=draw(_floats(0.1, 2.0)),
        outside_quality=draw(_floats(-1.0, 1.0)),
        intercept=draw(_floats(5.0, 40.0)),
        slope=draw(_floats(0.1, 2.0)),
        cournot=kind == "cournot",
    )
    offer = per_op(0.0, 20.0) if kind == "cournot" else None
    mix = None
    if draw(st.booleans()):  # last round's purchase shares, any rows (normalised inside)
        mix = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).random((n, n))
    return Case(
        layer_of=lay,
        firm_of=np.array(firm_of),
        n_layers=n_layers,
        coef=np.array(draw(st.lists(_floats(0.5, 2.0), min_size=n_layers, max_size=n_layers))),
        mu=np.array(draw(st.lists(_floats(0.05, 1.0), min_size=n_layers, max_size=n_layers))),
        relations=relations,
        unit_cost=per_op(0.0, 2.0),
        markup=per_op(0.0, 2.0),
        quality=quality,
        capacity=capacity,
        demand=demand,
        per_unit=per_unit,
        offer=offer,
        mix=mix,
    )


def _self_transfer(case: Case, s: market.Structure, r: market.Clearing) -> np.ndarray:
    """``T[b]``: dollars op ``b`` paid its own firm's operation below (at cost)."""
    market_paid = r.payments.sum(axis=1)
    return r.input_cost - market_paid


EXAMPLE_SCALE = max(1, settings.default.max_examples // 100)
"""1 under the default ``ci`` profile, 25 under ``explore`` (``tests/conftest.py``)."""
PROPERTY = settings(max_examples=60 * EXAMPLE_SCALE, deadline=None)


@PROPERTY
@given(cases())
def test_money_paid_equals_money_received_at_every_layer(case: Case) -> None:
    s = case.structure()
    r = case.clear()
    pay = r.payments
    transfer_in = _self_transfer(case, s, r)
    top = s.by_layer[-1]
    for k in range(1, case.n_layers):
        buyers, sellers = s.by_layer[k], s.by_layer[k - 1]
        market_paid = pay[np.ix_(buyers, sellers)].sum()
        received = r.revenue[sellers].sum()
        self_in = transfer_in[buyers].sum()
        assert np.isclose(r.input_cost[buyers].sum(), received, rtol=1e-9, atol=TOL)
        assert np.isclose(market_paid + self_in, received, rtol=1e-9, atol=TOL)
    # self-supply is transferred at cost: the supplier's revenue from it equals its cost
    for b in range(case.n):
        o = s.own_below[b]
        if o >= 0:
            sold = pay[:, o].sum()
            assert np.isclose(r.revenue[o] - sold, transfer_in[b], rtol=1e-9, atol=TOL)
            assert np.isclose(r.internal_revenue[o], transfer_in[b], rtol=1e-9, atol=TOL)
        else:
            assert abs(transfer_in[b]) < TOL * (1 + r.input_cost[b])
    assert np.isclose(r.revenue[top].sum(), r.final_spend, rtol=1e-9, atol=TOL)


@PROPERTY
@given(cases())
def test_value_added_by_layer_sums_to_final_spend(case: Case) -> None:
    s = case.structure()
    r = case.clear()
    added = [float((r.revenue - r.input_cost)[ops].sum()) for ops in s.by_layer]
    assert np.isclose(sum(added), r.final_spend, rtol=1e-9, atol=TOL)
    top = s.by_layer[-1]
    assert np.isclose(r.final_spend, float((r.price[top] * r.quantity[top]).sum()), rtol=1e-12)
    assert np.allclose(r.gross_profit, r.revenue - r.input_cost - r.variable_cost)


@PROPERTY
@given(cases())
def test_quantities_are_feasible(case: Case) -> None:
    s = case.structure()
    r = case.clear()
    for name in ("price", "quantity", "flow", "self_supply", "unmet_input", "final_demand"):
        assert (getattr(r, name) >= -1e-12).all(), name
    assert r.lost_demand >= 0
    assert (r.quantity <= case.capacity + 1e-9).all()
    assert (r.flow[~s.allowed] == 0).all()  # no trade outside permitted relations
    sold = r.flow.sum(axis=0)
    for i in range(case.n):
        o = s.own_below[i]
        if o >= 0:
            sold[o] += r.self_supply[i]
    not_top = s.layer_of < case.n_layers - 1
    assert np.allclose(sold[not_top], r.quantity[not_top], rtol=1e-9, atol=TOL)
    received = r.flow.sum(axis=1) + r.self_supply
    coef = case.coef[s.layer_of]
    above = s.layer_of > 0
    assert np.allclose(received[above], coef[above] * r.quantity[above], rtol=1e-9, atol=TOL)


@PROPERTY
@given(cases())
def test_consumer_accounting(case: Case) -> None:
    s = case.structure()
    r = case.clear()
    top = s.by_layer[-1]
    delivered = float(r.quantity[top].sum())
    d = case.demand
    if d.cournot:
        assert case.offer is not None
        m = case.markup[top]  # a positive markup withholds output: at most K / (1 + m)
        cap = np.where(m > 0, case.capacity[top] / (1 + np.maximum(m, 0)), case.capacity[top])
        offered = np.minimum(case.offer[top], cap).sum()
        assert np.isclose(delivered + r.lost_demand, offered, rtol=1e-9, atol=TOL)
    elif d.kind == "logit":
        total = delivered + r.lost_demand + d.market_size * r.outside_share
        assert np.isclose(total, d.market_size, rtol=1e-9, atol=TOL)
    else:
        live = case.capacity[top] > 1e-12
        if live.any():
            wanted = max(0.0, (d.intercept - r.price[top][live].min()) / d.slope)
            assert np.isclose(delivered + r.lost_demand, wanted, rtol=1e-9, atol=TOL)


@PROPERTY
@given(cases(), st.randoms(use_true_random=False))
def test_permuting_operations_permutes_results(case: Case, random: object) -> None:
    perm = np.arange(case.n)
    random.shuffle(perm)  # type: ignore[attr-defined]
    inv = np.argsort(perm)
    moved = Case(
        layer_of=case.layer_of[perm],
        firm_of=case.firm_of[perm],
        n_layers=case.n_layers,
        coef=case.coef,
        mu=case.mu,
        relations=[(int(inv[b]), int(inv[s]), c, e) for b, s, c, e in case.relations],
        unit_cost=case.unit_cost[perm],
        markup=case.markup[perm],
        quality=case.quality[perm],
        capacity=case.capacity[perm],
        demand=case.demand,
        per_unit=case.per_unit,
        offer=None if case.offer is None else case.offer[perm],
        mix=None if case.mix is None else case.mix[np.ix_(perm, perm)],
    )
    a, b = case.clear(), moved.clear()
    for name in ("price", "quantity", "revenue", "gross_profit", "self_supply", "unmet_input"):
        assert np.allclose(getattr(a, name)[perm], getattr(b, name), rtol=1e-7, atol=1e-7), name
    assert np.allclose(a.flow[np.ix_(perm, perm)], b.flow, rtol=1e-7, atol=1e-7)
    assert np.isclose(a.final_spend, b.final_spend, rtol=1e-9)


@PROPERTY
@given(cases())
def test_same_inputs_same_outputs(case: Case) -> None:
    a, b = case.clear(), case.clear()
    for name in ("price", "quantity", "flow", "revenue", "input_cost", "gross_profit"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.final_spend, a.lost_demand, a.outside_share) == (
        b.final_spend,
        b.lost_demand,
        b.outside_share,
    )


def _able(case: Case, s: market.Structure, r: market.Clearing) -> np.ndarray:
    """Operations with spare capacity and, recursively, a source of input with spare capacity."""
    able = r.quantity < case.capacity - 1e-6
    for k in range(1, case.n_layers):
        for x in s.by_layer[k]:
            sources = list(np.flatnonzero(s.allowed[x]))
            if s.own_below[x] >= 0:
                sources.append(s.own_below[x])
            able[x] &= bool(any(able[y] for y in sources))
    return able


def shortage_echo_case() -> Case:
    """Issue 15's failing draw, as hypothesis shrank it: four layers, firms 0-3 in each
    (firm 4 only at the top), every cost and markup zero (so every price but two apps' is
    zero), linear demand ``P = 5 - Q``, one exclusive relation: firm 0's layer-1
    operation (op 4) may buy only from firm 1's foundry (op 1), which, like firm 0's own
    foundry (op 0), has no capacity. Firm 0's layer-2 operation (op 8) planned to take all
    its input from op 4 at cost; op 4 delivers nothing, so op 8 and the app above it are
    short. The clearing used to lower op 8's capacity to what it delivered (zero) along
    with op 4's, so after three clearings every quantity was zero and demand went unmet
    while firms 1-3's operations had spare capacity all the way down."""
    zero, big = 0.0, 1e6
    return Case(
        layer_of=np.repeat([0, 1, 2, 3], [4, 4, 3, 5]),
        firm_of=np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4]),
        n_layers=4,
        coef=np.ones(4),
        mu=np.ones(4),
        relations=[(4, 1, 0.0, True)],
        unit_cost=np.array([0.0] * 14 + [1.0, 2.0]),
        markup=np.zeros(16),
        quality=np.array([0.0] * 11 + [12.0] * 5),
        capacity=np.array(
            [zero, zero, big, big, big, big, big, big, big, zero, zero, big, big, big, big, big]
        ),
        demand=market.Demand(kind="linear", intercept=5.0, slope=1.0),
        per_unit=False,
        offer=None,
    )


@PROPERTY
@given(cases())
@example(case=shortage_echo_case())
def test_unmet_input_only_when_no_supplier_can_deliver(case: Case) -> None:
    """Spillover is complete: a buyer lacks input only if none of its sources has spare
    capacity backed, all the way down the stack, by sources with spare capacity."""
    s = case.structure()
    r = case.clear()
    able = _able(case, s, r)
    for b in np.flatnonzero(r.unmet_input > 1e-6):
        sources = list(np.flatnonzero(s.allowed[b]))
        if s.own_below[b] >= 0:
            sources.append(s.own_below[b])
        assert not any(able[x] for x in sources), (b, sources)
