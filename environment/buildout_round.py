"""The buildout's share of a round, in few compiled calls (issue 12's speed target).

Each mechanism of the buildout keeps its own step function, documented in
``docs/MODEL.md`` and tested on its own: the contracts' backlog
(:func:`~stackgame.environment.contracts.backlog_kernel`) and settlement
(:func:`~stackgame.environment.contracts.settle_round_kernel`), what a firm can invest
(:func:`~stackgame.environment.finance.funds_kernel`), the default investment rule
(:func:`~stackgame.environment.buildout.default_orders_kernel`), training
(:mod:`stackgame.environment.training`), the round's financing
(:func:`~stackgame.environment.finance.finance_step_kernel`). A round runs several of
them back to back on the same arrays; the kernels here call them in that order in one
compiled call, so that a round pays one dispatch (typing and unboxing every array) where
it paid several, and the Python between them (small numpy steps, lists made into arrays)
runs inside. Each fused kernel computes exactly what its parts computed, in the same
order (the same additions: numpy's pairwise row sums are :func:`row_sums`), so the
results are the same bit for bit (``tests/test_golden.py``).
"""

from __future__ import annotations

import numpy as np
from stackgame.environment.buildout import (
    default_orders_kernel,
    install_age_kernel,
    round_cash_kernel,
)
from stackgame.environment.contracts import backlog_kernel
from stackgame.environment.contracts import settle_round_kernel as contract_settle_kernel
from stackgame.environment.finance import finance_step_kernel, funds_kernel
from stackgame.environment.jit import jitable
from stackgame.environment.round_kernel import _maximum, _pairwise_sum, row_sums
from stackgame.environment.training import (
    prepare_training_kernel,
    settle_training_kernel,
    training_orders_kernel,
)


@jitable
def invest_kernel(
    round_: int,
    c_terms: np.ndarray,
    c_amounts: np.ndarray,
    c_indexed: np.ndarray,
    c_last_price: np.ndarray,
    market_price: np.ndarray,
    financing: bool,
    cash: np.ndarray,
    debt: np.ndarray,
    appetite: np.ndarray,
    raises_equity: np.ndarray,
    last_revenue: np.ndarray,
    acquired: np.ndarray,
    failed_round: np.ndarray,
    structure: np.ndarray,
    capital: np.ndarray,
    loan_to_value: float,
    min_cash: float,
    equity_multiple: float,
    plan: np.ndarray,
    plan_values: np.ndarray,
    capacity: np.ndarray,
    pipeline: np.ndarray,
    used: np.ndarray,
    rate: np.ndarray,
    layer_price: np.ndarray,
    infrastructure_cost: np.ndarray,
    growth: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The round's capital-goods orders by the default rule, with what they read.

    The per-structure data come packed, so that the call passes few arrays (a compiled
    call pays for each array it unboxes): the contracts' terms as the settlement takes
    them, ``c_terms`` (integers: start, end, the seller's operation ``s_op`` and the
    buyer's ``b_op`` on the structure now, buyer, seller) and ``c_amounts`` (quantity,
    price, premium, ...: :meth:`ContractBook.packed
    <stackgame.environment.contracts.ContractBook.packed>`), with ``c_indexed``; the
    operations' ``structure`` (``[3, n_ops]``
    integers: firm, layer, active (0/1)); the default rule's entries ``plan`` (``[5, n]``
    integers: operation, its layer's lead time, its layer, its firm, the firm's rounds
    built ahead) and ``plan_values`` (``[2, n]``: ``a_l``, the firm's target
    utilisation, 0 where its firm is not asked by the default rule this round). Per
    firm, the target and the rounds built ahead are laid out from the entries (every
    entry of a firm carries the firm's) for :func:`default_orders_kernel`.

    In this order (each as its own step computes it):

    1. With ``financing``: each firm's contract backlog as seller, counted from
       ``round_`` and from the round after (:func:`backlog_kernel` on the contracts'
       terms, indexed prices at last round's ``market_price``), then what it can
       invest (:func:`funds_kernel`, on the backlog from ``round_``); without, the funds
       are ``inf`` and the backlog is not computed (zeros).
    2. Per operation, the units its contracts in force in ``round_`` sell forward
       (:meth:`ContractBook.sold_forward
       <stackgame.environment.contracts.ContractBook.sold_forward>`: a contract is in
       force from its start to before its end where its seller's operation ``s_op``
       and its buyer's ``b_op`` are both ``>= 0``), and the units in each
       operation's ``pipeline`` (``pipeline.sum(axis=1)``, added as numpy adds:
       :func:`row_sums`).
    3. The default investment rule (:func:`default_orders_kernel`) for the entries of
       ``plan`` whose firm's target is positive; the mean price of the layer below is
       ``layer_price[k - 1]`` (last round's, zeros before the first round), 0 for the
       bottom layer.

    Returns
    -------
    ``[5, n_ops]`` (orders ``I a_l``, pipeline units, units sold forward, and two rows of
    zeros: :func:`invest_and_train_kernel` fills them) and ``[4, n_firms]`` (funds,
    backlog from ``round_``, backlog from ``round_ + 1``, zeros).
    """
    n_ops = capacity.shape[0]
    n_firms = cash.shape[0]
    # (the rows as contracts.TERM_INTS and TERM_FLOATS)
    c_start, c_end, c_s_op, c_b_op, c_seller = (
        c_terms[0], c_terms[1], c_terms[2], c_terms[3], c_terms[5],
    )  # fmt: skip
    c_quantity = c_amounts[0]
    per_firm = np.zeros((4, n_firms))
    if financing:
        owed = backlog_kernel(
            round_, c_start, c_end, c_quantity, c_seller, c_amounts[1], c_indexed,
            c_amounts[2], c_s_op, c_last_price, market_price, n_firms,
        )  # fmt: skip
        funds = funds_kernel(
            cash, debt, appetite, raises_equity, last_revenue, acquired, failed_round,
            structure[0], structure[2], capital, owed[0], loan_to_value, min_cash,
            equity_multiple,
        )  # fmt: skip
        for f in range(n_firms):
            per_firm[0, f] = funds[f]
            per_firm[1, f] = owed[0, f]
            per_firm[2, f] = owed[1, f]
    else:
        for f in range(n_firms):
            per_firm[0, f] = np.inf
    per_op = np.zeros((5, n_ops))
    sold = per_op[2]
    for c in range(c_start.shape[0]):
        s = c_s_op[c]
        if s >= 0 and c_b_op[c] >= 0 and c_start[c] <= round_ < c_end[c]:
            sold[s] += c_quantity[c]
    pipe = row_sums(pipeline)
    for o in range(n_ops):
        per_op[1, o] = pipe[o]
    n_layers = infrastructure_cost.shape[0]
    below = np.zeros(n_layers)
    for k in range(1, n_layers):
        below[k] = layer_price[k - 1]
    target = np.zeros(n_firms)
    ahead = np.zeros(n_firms, dtype=np.int64)
    firm = plan[3]
    for j in range(plan.shape[1]):
        target[firm[j]] = plan_values[1, j]
        ahead[firm[j]] = plan[4, j]
    default_orders_kernel(
        plan[0], plan[1], plan_values[0], plan[2], firm, target, ahead, capacity, per_op[1],
        used, rate, sold, below, infrastructure_cost, per_firm[0], growth, per_op[0],
    )  # fmt: skip
    return per_op, per_firm


@jitable
def invest_and_train_kernel(
    round_: int,
    c_terms: np.ndarray,
    c_amounts: np.ndarray,
    c_indexed: np.ndarray,
    c_last_price: np.ndarray,
    market_price: np.ndarray,
    financing: bool,
    cash: np.ndarray,
    debt: np.ndarray,
    appetite: np.ndarray,
    raises_equity: np.ndarray,
    last_revenue: np.ndarray,
    acquired: np.ndarray,
    failed_round: np.ndarray,
    structure: np.ndarray,
    capital: np.ndarray,
    loan_to_value: float,
    min_cash: float,
    equity_multiple: float,
    plan: np.ndarray,
    plan_values: np.ndarray,
    capacity: np.ndarray,
    pipeline: np.ndarray,
    used: np.ndarray,
    rate: np.ndarray,
    layer_price: np.ndarray,
    infrastructure_cost: np.ndarray,
    growth: float,
    training: bool,
    ask: np.ndarray,
    stock: np.ndarray,
    training_rate: np.ndarray,
    ratio: np.ndarray,
    revenue: np.ndarray,
    appetite_drop: float,
    paid_units: np.ndarray,
    paid_spend: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`invest_kernel`, then the default rule's training orders: one call.

    :func:`invest_kernel` (the same arguments first); then with ``training`` (a round
    after the first, when the labs' decisions are known: ``ask`` as
    :meth:`StackModel.train <stackgame.environment.model.StackModel.train>` sets it)
    the training orders of the default rule, their prices and the funds training reads
    (:func:`~stackgame.environment.training.training_orders_kernel`, on the funds of
    its step 1 and, per layer, the mean price of the layer below last round,
    ``layer_price[k - 1]``, the top layer's for the bottom one as a list's ``[-1]``).
    A stack where no lab trains calls :func:`invest_kernel` alone (fewer arrays to
    pass); one where some do calls this one every round (one kernel to load a run).

    Returns
    -------
    :func:`invest_kernel`'s ``[5, n_ops]`` with rows 3 and 4 the training orders and
    their prices a unit, and its ``[4, n_firms]`` with row 3 the funds training reads
    (zeros without ``training``).
    """
    per_op, per_firm = invest_kernel(
        round_, c_terms, c_amounts, c_indexed, c_last_price, market_price, financing, cash, debt,
        appetite, raises_equity, last_revenue, acquired, failed_round, structure, capital,
        loan_to_value, min_cash, equity_multiple, plan, plan_values, capacity, pipeline,
        used, rate, layer_price, infrastructure_cost, growth,
    )  # fmt: skip
    if not training:
        return per_op, per_firm
    n_layers = infrastructure_cost.shape[0]
    fallback = np.empty(n_layers)
    for k in range(n_layers):
        fallback[k] = layer_price[k - 1]  # (k = 0: the top layer's, as a list's [-1])
    price, funds_t = training_orders_kernel(
        ask, structure[0], structure[1], stock, training_rate, ratio, revenue, per_firm[0],
        financing, appetite, last_revenue, raises_equity, appetite_drop, equity_multiple,
        paid_units, paid_spend, fallback, per_op[3],
    )  # fmt: skip
    for o in range(per_op.shape[1]):
        per_op[4, o] = price[o]
    for f in range(per_firm.shape[1]):
        per_firm[3, f] = funds_t[f]
    return per_op, per_firm


@jitable
def pay_and_finance_kernel(
    cash: np.ndarray,
    firm_of: np.ndarray,
    spend: np.ndarray,
    capital_op: np.ndarray,
    depreciation: np.ndarray,
    writedown: np.ndarray,
    capex: np.ndarray,
    debt: np.ndarray,
    appetite: np.ndarray,
    acquired: np.ndarray,
    failed_round: np.ndarray,
    outside_cash_flow: np.ndarray,
    raises_equity: np.ndarray,
    value: np.ndarray,
    revenue: np.ndarray,
    active: np.ndarray,
    capital: np.ndarray,
    backlog: np.ndarray,
    interest_rate: float,
    loan_to_value: float,
    min_cash: float,
    equity_multiple: float,
    appetite_drop: float,
    appetite_recovery: float,
    out: np.ndarray,
) -> tuple[bool, float, float]:
    """The buildout's cash of the round, then its financing, and what the record reads.

    :func:`~stackgame.environment.buildout.round_cash_kernel` (training paid, capex paid,
    the capital goods' wear given back: what :meth:`Ledger.pay_out
    <stackgame.environment.ledger.Ledger.pay_out>` moves after the profit), then
    :func:`~stackgame.environment.finance.finance_step_kernel` on the cash that leaves
    (``out``'s rows 0-7 and whether a firm fails as there). ``out`` (``[10, n_firms]``,
    C-contiguous) also gets each firm's ``debt`` after the financing (row 8) and its net
    financing ``borrowed + equity - repaid`` (row 9, as numpy adds the rows), so that
    :meth:`History.append_finance
    <stackgame.environment.history.History.append_finance>` keeps the rows as they are.

    Returns
    -------
    Whether any firm fails, and the round's totals over firms, summed as numpy sums a
    row (:func:`~stackgame.environment.round_kernel._pairwise_sum`): net financing (row
    9) and interest (row 0).
    """
    round_cash_kernel(cash, firm_of, spend, capital_op, depreciation, writedown, capex)
    failing = finance_step_kernel(
        cash, debt, appetite, acquired, failed_round, outside_cash_flow, raises_equity, value,
        revenue, firm_of, active, capital, capital_op, capex, backlog, interest_rate,
        loan_to_value, min_cash, equity_multiple, appetite_drop, appetite_recovery, out,
    )  # fmt: skip
    n = cash.shape[0]
    for f in range(n):
        out[8, f] = debt[f]
        out[9, f] = (out[1, f] + out[2, f]) - out[3, f]
    flat = out.ravel()
    return failing, _pairwise_sum(flat, 9 * n, n), _pairwise_sum(flat, 0, n)


@jitable
def prepare_training_round_kernel(
    quality: np.ndarray,
    stock: np.ndarray,
    initial: np.ndarray,
    weight: np.ndarray,
    scale: np.ndarray,
    trains: np.ndarray,
    order: np.ndarray,
    own_below: np.ndarray,
    allowed: np.ndarray,
    mix_pairs: np.ndarray,
    mix_values: np.ndarray,
    capacity: np.ndarray,
    cap: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Training before the market (:meth:`TrainingBook.prepare`), and the market's capacity.

    Last round's purchase shares laid out as the ``[n, n]`` matrix (``mix_pairs`` and
    ``mix_values``, a :class:`~stackgame.environment.market.PairMatrix`'s; none: zeros),
    then :func:`~stackgame.environment.training.prepare_training_kernel`, then the
    capacity left to the market, ``max(capacity - reserved, 0)`` as ``np.maximum``.

    Returns
    -------
    ``[3, n]`` (quality, units run on the own operation, the market's capacity) and
    ``[n, n]`` units rented per buyer and seller.
    """
    n = capacity.shape[0]
    mix = np.zeros((n, n))
    for p in range(mix_values.shape[0]):
        mix[mix_pairs[0, p], mix_pairs[1, p]] = mix_values[p]
    q, own, units, reserved = prepare_training_kernel(
        quality, stock, initial, weight, scale, trains, order, own_below, allowed, mix,
        capacity, cap,
    )  # fmt: skip
    out = np.empty((3, n))
    for o in range(n):
        out[0, o] = q[o]
        out[1, o] = own[o]
        out[2, o] = _maximum(capacity[o] - reserved[o], 0.0)
    return out, units


@jitable
def settle_contracts_round_kernel(
    round_: int,
    c_ints: np.ndarray,
    c_floats: np.ndarray,
    c_indexed: np.ndarray,
    c_prepaid: np.ndarray,
    c_credit: np.ndarray,
    c_last_price: np.ndarray,
    capital_op: np.ndarray,
    flow: np.ndarray,
    price: np.ndarray,
    revenue: np.ndarray,
    input_cost: np.ndarray,
    capex: np.ndarray,
    gross: np.ndarray,
    cash: np.ndarray,
) -> np.ndarray:
    """The round's contracts settled after the clearing: :func:`settle_round_kernel`'s first part.

    The contracts' terms packed as :meth:`ContractBook.packed
    <stackgame.environment.contracts.ContractBook.packed>` gives them (``c_ints``: rows
    first round, round after the last, seller's and buyer's operations, buyer, seller;
    ``c_floats``: quantity, fixed price, premium, take-or-pay share, prepayment), and
    their state (``c_indexed``, ``c_prepaid``, ``c_credit``, ``c_last_price``, the last
    three changed in place). Each contract in force in ``round_`` (from its first round
    to before the round after its last, its seller's and buyer's operations both
    ``>= 0``: :meth:`ContractBook.resolve
    <stackgame.environment.contracts.ContractBook.resolve>`) is settled by
    :func:`~stackgame.environment.contracts.settle_round_kernel` on the clearing's
    arrays (in place). A round without training calls this kernel alone (half the
    arrays of :func:`settle_round_kernel` to pass).

    Returns
    -------
    The contracts' settlement, ``[4, m]``.
    """
    m = c_ints.shape[1]
    c_start = c_ints[0]
    c_end = c_ints[1]
    c_s_op = c_ints[2]
    c_b_op = c_ints[3]
    b_op = np.empty(m, dtype=np.int64)
    s_op = np.empty(m, dtype=np.int64)
    for c in range(m):
        b = c_b_op[c]
        s = c_s_op[c]
        live = s >= 0 and b >= 0 and c_start[c] <= round_ < c_end[c]
        b_op[c] = b if live else -1
        s_op[c] = s if live else -1
    return contract_settle_kernel(
        round_, b_op, s_op, c_ints[4], c_ints[5], c_floats[0], c_floats[1], c_indexed,
        c_floats[2], c_floats[3], c_end, c_floats[4], c_prepaid, c_credit, capital_op, flow,
        price, revenue, input_cost, capex, gross, cash, c_last_price,
    )  # fmt: skip


@jitable
def settle_round_kernel(
    round_: int,
    contracts: bool,
    c_ints: np.ndarray,
    c_floats: np.ndarray,
    c_indexed: np.ndarray,
    c_prepaid: np.ndarray,
    c_credit: np.ndarray,
    c_last_price: np.ndarray,
    capital_op: np.ndarray,
    flow: np.ndarray,
    price: np.ndarray,
    revenue: np.ndarray,
    input_cost: np.ndarray,
    capex: np.ndarray,
    gross: np.ndarray,
    cash: np.ndarray,
    training: bool,
    own: np.ndarray,
    units: np.ndarray,
    own_below: np.ndarray,
    cost: np.ndarray,
    quantity: np.ndarray,
    unit_input_cost: np.ndarray,
    internal_revenue: np.ndarray,
    variable_cost: np.ndarray,
    stock: np.ndarray,
    rate: np.ndarray,
    omega: np.ndarray,
    expense: np.ndarray,
    trains: np.ndarray,
    layer_of: np.ndarray,
    out: np.ndarray,
    passer: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """The round's contracts, then its training, settled after the clearing: one call.

    With ``contracts``: :func:`settle_contracts_round_kernel` on the contracts' terms
    and state (``c_*``) and the clearing's arrays (in place). Then with ``training``:
    :func:`~stackgame.environment.training.settle_training_kernel` on those arrays,
    filling ``out`` (``[11, n]``: its ten rows, and the units each operation trained on,
    ``own + units.sum(axis=1)`` as numpy adds) and ``passer``.

    Returns
    -------
    The contracts' settlement (``[4, m]``, empty without ``contracts``) and whether a
    model was written down.
    """
    settled = np.zeros((4, 0))
    if contracts:
        settled = settle_contracts_round_kernel(
            round_, c_ints, c_floats, c_indexed, c_prepaid, c_credit, c_last_price, capital_op,
            flow, price, revenue, input_cost, capex, gross, cash,
        )  # fmt: skip
    written = False
    if training:
        written = settle_training_kernel(
            own, units, own_below, price, cost, input_cost, quantity, unit_input_cost,
            capital_op, revenue, internal_revenue, variable_cost, stock, rate, omega, expense,
            trains, layer_of, out, passer,
        )  # fmt: skip
        trained = row_sums(units)
        for o in range(own.shape[0]):
            out[10, o] = own[o] + trained[o]
    return settled, written


@jitable
def install_round_kernel(
    plan: np.ndarray,
    active: np.ndarray,
    flow: np.ndarray,
    self_supply: np.ndarray,
    capex: np.ndarray,
    pipeline: np.ndarray,
    capital: np.ndarray,
    capacity: np.ndarray,
    rate: np.ndarray,
    depreciation: np.ndarray,
    writedown: np.ndarray,
    charge: np.ndarray,
    per_unit: np.ndarray,
) -> np.ndarray:
    """:func:`~stackgame.environment.buildout.install_and_age`'s arithmetic in one call.

    ``plan``: ``[2, k]`` integers, the active capital-goods operations and their layers'
    install lead times; ``per_unit`` each operation's ``a_l`` (its layer's input
    coefficient, laid out per operation once per structure version), so that an
    operation of ``plan`` has its ``a_l`` at ``per_unit[o]``. The units each operation
    received from its sellers (``flow.sum(axis=1)`` as numpy adds: :func:`row_sums`)
    and its own operation below, then
    :func:`~stackgame.environment.buildout.install_age_kernel`. Returns the units of
    capacity received, ``(received + self_supply) / a_l`` per operation (what the
    infrastructure is bought for, 15.2).
    """
    ops = plan[0]
    k = ops.shape[0]
    coefficient = np.empty(k)
    for j in range(k):
        coefficient[j] = per_unit[ops[j]]
    received = row_sums(flow)
    n = received.shape[0]
    units = np.empty(n)
    for o in range(n):
        units[o] = (received[o] + self_supply[o]) / per_unit[o]
    install_age_kernel(
        ops, plan[1], coefficient, active, received, self_supply, capex, pipeline, capital,
        capacity, rate, depreciation, writedown, charge,
    )  # fmt: skip
    return units
