"""Financing and failure: how firms pay for the buildout, and who cannot (``docs/MODEL.md`` 16).

The rules of :class:`~stackgame.environment.scenario.FinanceSpec`, as plain functions
over the state's arrays. Each round, after the payout, for each firm still in business
(dollars; ``r`` the interest rate per round, ``D`` debt, ``C`` cash, ``m`` the cash
floor ``min_cash``)::

    interest  = r D                          paid from cash, and a cost in the firm's value
    C        += outside cash flow            (a hyperscaler's advertising, retail, software)
    appetite *= 1 - appetite_drop            after a round with a loss (value - interest < 0)
    appetite  = min(1, appetite + appetite_recovery)      after a profitable one
    if C < m:  borrow  = min(m - C, max(0, ltv (book capital + backlog) - D))
               equity  = min(m - C, appetite * equity_multiple * revenue)   (raises_equity)
               C < 0 still: the firm fails
    else:      repay   = min(D, C - m)

:func:`finance_kernel` is that loop (compiled by numba or plain Python, like
:mod:`stackgame.environment.round_kernel`); :func:`fire_sale` sells a failed firm's
capacity to the survivors of its layers; :func:`available_funds` is what a firm can spend
on investment this round. Nothing here runs when ``finance.enabled`` is false:
investment is then unconstrained and cash may go negative, as before.

The articles: the neoclouds are "financed in part by Nvidia" and by borrowing against
their GPUs (``001_098523a2e050d583.txt``); the hyperscalers fund their buildout from
businesses outside AI; the labs raise on their growth (Anthropic's ARR from $9B to over
$44B in a year, ``000_e3319be9a08c4b37.txt``); if adoption underdelivers "the buildout
overshoots demand, yet contracts lock obligations in" (``002_1456f2d9411f9331.txt``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from stackgame.environment.jit import compiled, jitable
from stackgame.environment.round_kernel import _pairwise_sum
from stackgame.environment.state import StackState

FLOWS = ("interest", "borrowed", "equity", "repaid")
"""The per-firm money flows of a round's financing (rows 0-3 of :func:`finance_kernel`)."""


@jitable
def finance_kernel(
    cash: np.ndarray,
    debt: np.ndarray,
    appetite: np.ndarray,
    alive: np.ndarray,
    outside_cash_flow: np.ndarray,
    raises_equity: np.ndarray,
    value: np.ndarray,
    revenue: np.ndarray,
    book: np.ndarray,
    backlog: np.ndarray,
    interest_rate: float,
    loan_to_value: float,
    min_cash: float,
    equity_multiple: float,
    appetite_drop: float,
    appetite_recovery: float,
) -> np.ndarray:
    """One round's financing of every firm still in business (``alive``).

    Updates ``cash``, ``debt`` and ``appetite`` in place (per firm). ``value`` is the
    round's value captured before interest, ``revenue`` its revenue from others, ``book``
    the book capital of its active operations, ``backlog`` its contracted revenue still
    to come (all dollars). Returns rows (per firm): interest paid, borrowed, equity
    raised, repaid, and 1 where the firm fails (cash still below zero).
    """
    n = cash.shape[0]
    out = np.zeros((5, n))
    for f in range(n):
        if not alive[f]:
            continue
        interest = interest_rate * debt[f]
        c = cash[f] - interest + outside_cash_flow[f]
        net = value[f] - interest
        a = appetite[f]
        if net < 0.0:
            a = a * (1.0 - appetite_drop)
        elif net > 0.0:
            a = min(1.0, a + appetite_recovery)
        appetite[f] = a
        borrowed = 0.0
        equity = 0.0
        repaid = 0.0
        if c < min_cash:
            room = loan_to_value * (book[f] + backlog[f]) - debt[f]
            if room > 0.0:
                borrowed = min(min_cash - c, room)
                debt[f] += borrowed
                c += borrowed
            if c < min_cash and raises_equity[f]:
                reach = a * equity_multiple * revenue[f]
                if reach > 0.0:
                    equity = min(min_cash - c, reach)
                    c += equity
            if c < 0.0:
                out[4, f] = 1.0
        elif debt[f] > 0.0:
            repaid = min(debt[f], c - min_cash)
            debt[f] -= repaid
            c -= repaid
        cash[f] = c
        out[0, f] = interest
        out[1, f] = borrowed
        out[2, f] = equity
        out[3, f] = repaid
    return out


@jitable
def _floor0(x: float) -> float:
    """``np.maximum(x, 0.0)``: NaN stays, a tie (``-0.0``) gives ``0.0``."""
    return x if x > 0.0 or math.isnan(x) else 0.0


@jitable
def _book(firm_of: np.ndarray, active: np.ndarray, capital: np.ndarray, n: int) -> np.ndarray:
    """Book capital of each of ``n`` firms' active operations (added as ``np.bincount``)."""
    book = np.zeros(n)
    for o in range(firm_of.shape[0]):
        if active[o]:
            book[firm_of[o]] += capital[o]
    return book


@jitable
def finance_step_kernel(
    cash: np.ndarray,
    debt: np.ndarray,
    appetite: np.ndarray,
    acquired: np.ndarray,
    failed_round: np.ndarray,
    outside_cash_flow: np.ndarray,
    raises_equity: np.ndarray,
    value: np.ndarray,
    revenue: np.ndarray,
    firm_of: np.ndarray,
    active: np.ndarray,
    capital: np.ndarray,
    capital_op: np.ndarray,
    capex: np.ndarray,
    backlog: np.ndarray,
    interest_rate: float,
    loan_to_value: float,
    min_cash: float,
    equity_multiple: float,
    appetite_drop: float,
    appetite_recovery: float,
    out: np.ndarray,
) -> bool:
    """The round's financing on the state's arrays (:func:`finance_round`), in one call.

    The book each firm's debt limit counts is its active operations' book capital plus,
    when ``capital_op`` is not empty (a capital-goods stack), the round's ``capex`` of its
    active capital-goods operations (paid now, installed after the round). Fills ``out``
    (``[8, n]``): rows 0-4 as :func:`finance_kernel`, row 5 that book, row 6 the value
    after interest (``value - interest``), row 7 a copy of ``revenue`` (the next equity
    raise's base). Returns whether any firm fails.
    """
    n = cash.shape[0]
    book = _book(firm_of, active, capital, n)
    if capital_op.shape[0] > 0:
        bought = np.zeros(n)
        for o in range(firm_of.shape[0]):
            if capital_op[o] and active[o]:
                bought[firm_of[o]] += capex[o]
        for f in range(n):
            book[f] = book[f] + bought[f]
    alive = np.zeros(n, dtype=np.bool_)
    for f in range(n):
        alive[f] = not acquired[f] and failed_round[f] < 0
    flows = finance_kernel(
        cash, debt, appetite, alive, outside_cash_flow, raises_equity, value, revenue, book,
        backlog, interest_rate, loan_to_value, min_cash, equity_multiple, appetite_drop,
        appetite_recovery,
    )  # fmt: skip
    failing = False
    for r in range(5):
        for f in range(n):
            out[r, f] = flows[r, f]
    for f in range(n):
        out[5, f] = book[f]
        out[6, f] = value[f] - flows[0, f]
        out[7, f] = revenue[f]
        if flows[4, f] != 0.0:
            failing = True
    return failing


@jitable
def funds_kernel(
    cash: np.ndarray,
    debt: np.ndarray,
    appetite: np.ndarray,
    raises_equity: np.ndarray,
    last_revenue: np.ndarray,
    acquired: np.ndarray,
    failed_round: np.ndarray,
    firm_of: np.ndarray,
    active: np.ndarray,
    capital: np.ndarray,
    backlog: np.ndarray,
    loan_to_value: float,
    min_cash: float,
    equity_multiple: float,
) -> np.ndarray:
    """Per firm, what it can spend on investment (:func:`available_funds`, finance on).

    ``max(0, cash - min_cash + max(0, ltv (book + backlog) - debt) + equity room)``, the
    book summed over the firm's active operations; 0 for a firm out of business.
    """
    n = cash.shape[0]
    book = _book(firm_of, active, capital, n)
    out = np.zeros(n)
    for f in range(n):
        if acquired[f] or failed_round[f] >= 0:
            continue
        room = _floor0(loan_to_value * (book[f] + backlog[f]) - debt[f])
        equity = (
            appetite[f] * equity_multiple * _floor0(last_revenue[f]) if raises_equity[f] else 0.0
        )
        out[f] = _floor0(cash[f] - min_cash + room + equity)
    return out


def book_capital(state: StackState) -> np.ndarray:
    """Book capital of each firm's active operations, dollars."""
    st = state
    return np.bincount(
        st.firm_of, weights=np.where(st.active, st.capital, 0.0), minlength=st.n_firms
    )


def alive(state: StackState) -> np.ndarray:
    """Firms in business: neither acquired nor failed."""
    return ~state.acquired & (state.failed_round < 0)


def available_funds(
    state: StackState, backlog: np.ndarray | None = None, jit: bool | None = None
) -> np.ndarray:
    """What each firm can spend on investment this round, dollars (``inf``: no limit).

    Cash above ``min_cash``, plus the room under its debt limit (``loan_to_value`` times
    book capital plus ``backlog``, less debt), plus, for a firm that ``raises_equity``,
    ``appetite * equity_multiple`` times its last revenue; never below zero, and zero
    for a firm out of business. ``inf`` for every firm when finance is disabled (the
    buildout is then paid from cash, which may go negative).
    """
    st = state
    spec = st.finance
    if not spec.enabled:
        return np.full(st.n_firms, np.inf)
    owed = np.zeros(st.n_firms) if backlog is None else np.asarray(backlog, dtype=float)
    kernel = compiled("funds_kernel", jit, module="finance", work=st.n_ops / 4)
    funds: np.ndarray = kernel(
        st.cash, st.debt, st.appetite, st.raises_equity, st.last_revenue, st.acquired,
        st.failed_round, st.firm_of, st.active, st.capital, owed, spec.loan_to_value,
        spec.min_cash, spec.equity_multiple,
    )  # fmt: skip
    return funds


@dataclass(frozen=True)
class Sale:
    """One failed operation's capacity: sold to its layer's survivors, or scrapped.

    ``buyers``: each buyer firm's share of the capacity; ``price``: what they paid in
    all (``fire_sale_discount`` times book value; 0 when scrapped).
    """

    layer: int
    capacity: float
    book: float
    price: float
    buyers: dict[int, float]


@jitable
def fire_sale_kernel(
    firm: int,
    discount: float,
    firm_of: np.ndarray,
    layer_of: np.ndarray,
    active: np.ndarray,
    acquired: np.ndarray,
    failed_round: np.ndarray,
    capacity: np.ndarray,
    pipeline: np.ndarray,
    capital: np.ndarray,
    cash: np.ndarray,
    fixed_cost: np.ndarray,
    capacity_growth: np.ndarray,
    pending_capacity: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fire_sale`'s arithmetic on the state's arrays, changed in place.

    ``firm``'s active operations in index order; for each, the buyers are the active
    operations of its layer whose firm is another one still in business (neither
    ``acquired`` nor failed, ``failed_round < 0``), in index order, as at the start of
    the sale. A buyer's share is its capacity over the buyers' total (summed as numpy
    sums: :func:`~stackgame.environment.round_kernel._pairwise_sum`); it adds that
    share of the operation's capacity and of each of its pipeline's entries, and of
    ``discount`` times its book to its capital, and its firm pays the same from cash,
    buyer by buyer. With no buyer, or a total of zero, the capacity is scrapped. The
    operation then has no capacity, capital, pipeline, fixed cost or growth left, and is
    inactive.

    Returns
    -------
    ``[4, m]`` per operation sold (its index, capacity and book before the sale, and
    the price paid: 0 when scrapped), ``[m, n_ops]`` each buyer's share and ``[m,
    n_ops]`` whether it bought (a buyer of capacity zero takes a share of zero).
    """
    n = firm_of.shape[0]
    may_buy = np.zeros(n, dtype=np.bool_)
    m = 0
    for j in range(n):
        f = firm_of[j]
        may_buy[j] = active[j] and f != firm and not acquired[f] and failed_round[f] < 0
        if f == firm and active[j]:
            m += 1
    own = np.empty(m, dtype=np.int64)
    i = 0
    for j in range(n):
        if firm_of[j] == firm and active[j]:
            own[i] = j
            i += 1
    sold = np.zeros((4, m))
    shares = np.zeros((m, n))
    bought = np.zeros((m, n), dtype=np.bool_)
    buyers = np.empty(n, dtype=np.int64)
    weight = np.empty(n)
    for i in range(m):
        o = own[i]
        k = layer_of[o]
        size = capacity[o]
        book = capital[o]
        sold[0, i] = o
        sold[1, i] = size
        sold[2, i] = book
        count = 0
        for j in range(n):
            if layer_of[j] == k and may_buy[j]:
                buyers[count] = j
                weight[count] = capacity[j]
                count += 1
        total = _pairwise_sum(weight, 0, count)
        if count > 0 and total > 0.0:
            price = discount * book
            sold[3, i] = price
            for q in range(count):
                j = buyers[q]
                share = weight[q] / total
                shares[i, j] = share
                bought[i, j] = True
                capacity[j] += share * size
                for c in range(pipeline.shape[1]):
                    pipeline[j, c] += share * pipeline[o, c]
                paid = share * price
                capital[j] += paid
                cash[firm_of[j]] -= paid
        capacity[o] = 0.0
        capital[o] = 0.0
        fixed_cost[o] = 0.0  # (an inactive operation is still settled: nothing to pay)
        capacity_growth[o] = 0.0
        pending_capacity[o] = 0.0
        for c in range(pipeline.shape[1]):
            pipeline[o, c] = 0.0
        active[o] = False
    return sold, shares, bought


def fire_sale(state: StackState, firm: int, jit: bool | None = None) -> list[Sale]:
    """Sell ``firm``'s operations to the active operations of each of their layers.

    Each buyer operation ``j`` takes a share ``K_j / sum K`` (pro rata to its capacity) of
    the failed operation's capacity and of its capital goods not yet installed (its
    pipeline, whose cost is in its book), pays that share of ``fire_sale_discount`` times
    its book value in cash and adds what it paid to its own book capital. With no buyer
    in the layer the capacity is scrapped. The failed operations become inactive, with no
    capacity, capital, pipeline, fixed cost or growth left; the caller rebuilds the
    structure. The arithmetic runs in one call (:func:`fire_sale_kernel`).
    """
    st = state
    kernel = compiled("fire_sale_kernel", jit, module="finance", work=st.n_ops / 4)
    sold, shares, bought = kernel(
        firm, float(st.finance.fire_sale_discount), st.firm_of, st.layer_of, st.active,
        st.acquired, st.failed_round, st.capacity, st.pipeline, st.capital, st.cash,
        st.fixed_cost, st.capacity_growth, st.pending_capacity,
    )  # fmt: skip
    return _sales(st, sold, shares, bought)


def _sales(
    state: StackState, sold: np.ndarray, shares: np.ndarray, bought: np.ndarray
) -> list[Sale]:
    """The :class:`Sale` of each operation sold, from :func:`fire_sale_kernel`'s arrays."""
    st = state
    sales: list[Sale] = []
    if not sold.shape[1]:
        return sales
    layer_of = st.layer_of
    firm_of = st.firm_of.tolist()
    # (each sold operation's row of shares and of buyers as lists: a pass over a few
    # dozen operations in Python costs less than four array calls a row)
    for (o, size, book, price), row, took in zip(
        sold.T.tolist(), shares.tolist(), bought.tolist(), strict=True
    ):
        k = int(layer_of[int(o)])
        by_firm: dict[int, float] = {}
        for j, b in enumerate(took):  # (the buyers in index order)
            if b:
                f = firm_of[j]
                by_firm[f] = by_firm.get(f, 0.0) + row[j]
        # (no buyer, or none with capacity: scrapped)
        sales.append(Sale(k, size, book, price if by_firm else 0.0, by_firm))
    return sales


def divest(state: StackState, op: int, fraction: float) -> Sale:
    """Sell ``fraction`` of operation ``op``'s capacity to its rivals: a structural remedy.

    As in :func:`fire_sale`, each active operation ``j`` of another firm still in business
    in the same layer takes a share ``K_j / sum K`` of the divested capacity
    ``fraction K_op`` and of the same fraction of ``op``'s pipeline, but at book value:
    the buyers pay ``fraction B_op`` to the seller (an approved buyer at a negotiated
    price, not a distressed sale), the seller's book falls by as much and the buyers'
    rises. With no buyer nothing is sold. The operation stays active.
    """
    st = state
    k = int(st.layer_of[op])
    firm = int(st.firm_of[op])
    live = alive(st)
    buyers = np.flatnonzero(
        (st.layer_of == k) & st.active & (st.firm_of != firm) & live[st.firm_of]
    )
    weight = st.capacity[buyers]
    total = float(weight.sum())
    if not buyers.size or total <= 0.0 or fraction <= 0.0:
        return Sale(k, 0.0, 0.0, 0.0, {})
    capacity = fraction * float(st.capacity[op])
    book = fraction * float(st.capital[op])
    share = weight / total
    paid = share * book
    st.capacity[buyers] += share * capacity
    st.pipeline[buyers] += share[:, None] * (fraction * st.pipeline[op])
    st.capital[buyers] += paid
    np.subtract.at(st.cash, st.firm_of[buyers], paid)
    st.capacity[op] -= capacity
    st.pipeline[op] *= 1.0 - fraction
    st.capital[op] -= book
    st.cash[firm] += book
    by_firm: dict[int, float] = {}
    for j, s in zip(st.firm_of[buyers].tolist(), share.tolist(), strict=True):
        by_firm[j] = by_firm.get(j, 0.0) + s
    return Sale(k, capacity, book, book, by_firm)


@jitable
def fail_kernel(
    firm: int,
    round_: int,
    discount: float,
    firm_of: np.ndarray,
    layer_of: np.ndarray,
    active: np.ndarray,
    acquired: np.ndarray,
    failed_round: np.ndarray,
    capacity: np.ndarray,
    pipeline: np.ndarray,
    capital: np.ndarray,
    cash: np.ndarray,
    fixed_cost: np.ndarray,
    capacity_growth: np.ndarray,
    pending_capacity: np.ndarray,
    debt: np.ndarray,
    stakes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`fail`'s arithmetic on the state's arrays, changed in place, in one call.

    ``firm`` fails in ``round_`` (``failed_round``); its operations are sold
    (:func:`fire_sale_kernel`); its debt and cash are cleared, and its stakes, held and
    given (``stakes``, ``[n_firms, n_firms]``).

    Returns :func:`fire_sale_kernel`'s arrays (the caller reads them as :func:`fire_sale`
    does).
    """
    failed_round[firm] = round_
    sold, shares, bought = fire_sale_kernel(
        firm, discount, firm_of, layer_of, active, acquired, failed_round, capacity, pipeline,
        capital, cash, fixed_cost, capacity_growth, pending_capacity,
    )  # fmt: skip
    debt[firm] = 0.0
    cash[firm] = 0.0
    for g in range(stakes.shape[0]):
        stakes[firm, g] = 0.0
    for g in range(stakes.shape[0]):
        stakes[g, firm] = 0.0
    return sold, shares, bought


def fail(state: StackState, firm: int, round_: int, jit: bool | None = None) -> list[Sale]:
    """``firm`` fails in ``round_``: its capacity is sold, its debt written off.

    The capacity goes in a :func:`fire_sale`; its cash (negative: what it could not pay)
    and its stakes, held and given, are cleared. The arithmetic runs in one call
    (:func:`fail_kernel`).

    Returns the sales; the caller rebuilds the structure and logs the failure.
    """
    st = state
    kernel = compiled("fail_kernel", jit, module="finance", work=st.n_ops / 4)
    sold, shares, bought = kernel(
        firm, round_, float(st.finance.fire_sale_discount), st.firm_of, st.layer_of,
        st.active, st.acquired, st.failed_round, st.capacity, st.pipeline, st.capital,
        st.cash, st.fixed_cost, st.capacity_growth, st.pending_capacity, st.debt, st.stakes,
    )  # fmt: skip
    return _sales(st, sold, shares, bought)


def failure_reason(
    state: StackState,
    firm: int,
    cash: float,
    debt: float,
    limit: float,
    equity: float,
    sales: list[Sale],
    firm_names: list[str],
) -> str:
    """The log line of a failure: the shortfall, the limits reached, where the capacity went."""
    st = state
    text = (
        f"cash {cash:.2f} after borrowing what its limit allows (debt {debt:.2f}, limit "
        f"{max(limit, 0.0):.2f}) and raising {equity:.2f} in equity: fails"
    )
    discount = st.finance.fire_sale_discount
    for s in sales:
        layer = st.layer_names[s.layer]
        if s.buyers:
            who = ", ".join(
                f"{firm_names[j]} {share * s.capacity:.2f}" for j, share in s.buyers.items()
            )
            text += (
                f"; {layer} capacity {s.capacity:.2f} sold at {discount:.0%} of book "
                f"({s.price:.2f} for {s.book:.2f}) to {who}"
            )
        else:
            text += f"; {layer} capacity {s.capacity:.2f} scrapped (no buyer)"
    return text


def finance_round(
    state: StackState,
    value: np.ndarray,
    revenue: np.ndarray,
    backlog: np.ndarray | None = None,
    jit: bool | None = None,
    book: np.ndarray | None = None,
) -> np.ndarray:
    """Run :func:`finance_kernel` on the state; returns its rows (see there).

    ``value`` and ``revenue`` per firm are the round's (before interest); ``book`` the
    book capital the debt limit counts (default :func:`book_capital`); the state's
    ``last_revenue`` becomes ``revenue`` (the base of the next equity raise).
    """
    st = state
    spec = st.finance
    owed = np.zeros(st.n_firms) if backlog is None else np.asarray(backlog, dtype=float)
    if book is None:
        book = book_capital(st)
    kernel = compiled("finance_kernel", jit, module="finance", work=st.n_firms / 4)
    out: np.ndarray = kernel(
        st.cash, st.debt, st.appetite, alive(st), st.outside_cash_flow, st.raises_equity,
        np.asarray(value, dtype=float), np.asarray(revenue, dtype=float), book, owed,
        spec.interest_rate, spec.loan_to_value, spec.min_cash, spec.equity_multiple,
        spec.appetite_drop, spec.appetite_recovery,
    )  # fmt: skip
    st.last_revenue = np.asarray(revenue, dtype=float).copy()
    return out


def finance_step(
    state: StackState,
    value: np.ndarray,
    revenue: np.ndarray,
    backlog: np.ndarray,
    capex: np.ndarray | None,
    capital_op: np.ndarray | None,
    jit: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """:func:`finance_round` with this round's capex in the book, on the state's arrays.

    (The model runs the same kernel, :func:`finance_step_kernel`, in one call with the
    buildout's cash before it:
    :func:`~stackgame.environment.buildout_round.pay_and_finance_kernel`.)

    ``capex`` per operation and ``capital_op`` (the capital-goods operations' mask), or
    both ``None`` in a stack without capital goods. Returns the rows of
    :func:`finance_kernel`, the book per firm the debt limit counted, each firm's value
    after interest (``value - interest``), and whether any firm fails.
    """
    st = state
    spec = st.finance
    kernel = compiled("finance_step_kernel", jit, module="finance", work=st.n_ops / 4)
    out = np.empty((8, st.n_firms))
    failing: bool = kernel(
        st.cash, st.debt, st.appetite, st.acquired, st.failed_round, st.outside_cash_flow,
        st.raises_equity, np.asarray(value, dtype=float), np.asarray(revenue, dtype=float),
        st.firm_of, st.active, st.capital,
        _NO_OPS_MASK if capital_op is None else capital_op,
        _NO_OPS if capex is None else capex,
        np.asarray(backlog, dtype=float), spec.interest_rate, spec.loan_to_value, spec.min_cash,
        spec.equity_multiple, spec.appetite_drop, spec.appetite_recovery, out,
    )  # fmt: skip
    st.last_revenue = out[7]
    return out[:5], out[5], out[6], failing


_NO_OPS_MASK = np.zeros(0, dtype=np.bool_)
_NO_OPS = np.zeros(0)
