"""Training: the labs' investment in models (``docs/MODEL.md`` 20).

An operation with a ``training`` table (:class:`~stackgame.environment.scenario.TrainingSpec`)
buys training compute each round from the layer below, in that layer's units (a
GPU-hour of cloud): first from its own firm's operation there, at cost (self-supply,
``docs/MODEL.md`` 5.2), then from the sellers it bought from last round, in the shares it
bought in (equally over the sellers it may buy from before it has bought anything).
Training is reserved capacity, served before the round's market: a seller asked for more
than its capacity fills every training order in the same proportion, and the market then
clears on the capacity left, so training competes with inference for the clouds'
capacity. The lab pays the seller's price of the round (this is the seller's revenue and
its output) or its own operation's unit cost; the spend ``T_i`` (money) builds a model
stock that amortises at ``1 / life`` a round::

    S'_i = (1 - rho_i) S_i + T_i
    W_i  = omega_i S'_i   if a rival's stock passes: S_j <= S_i and S'_j > S'_i
    S_i <- S'_i - W_i

and raises the operation's quality in its buyers' logit, concavely in the stock::

    q_i = q0_i + beta_i (ln(1 + S_i / s_i) - ln(1 + S0_i / s_i))

Operating income is charged ``rho_i S_i + W_i`` (capitalised) or ``T_i`` (expensed); both
are non-cash charges, and the spend leaves the firm's cash when it is paid. The kernels
are plain loops (:func:`~stackgame.environment.jit.jitable`), compiled or not.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from stackgame.environment.buildout import capital_ops
from stackgame.environment.jit import compiled, jitable
from stackgame.environment.market import PairMatrix
from stackgame.strategies.default_rules import training_units

if TYPE_CHECKING:
    from stackgame.environment.market import Clearing
    from stackgame.environment.scenario import Scenario
    from stackgame.environment.state import StackState

jitable(training_units)  # (the strategies' rule, compiled into the kernel that calls it)

_FIELDS = ("ratio", "rate", "weight", "scale", "omega", "expense", "stock", "initial", "cap")


def _dense_mix(mix: np.ndarray | PairMatrix | None, n: int) -> np.ndarray:
    """Last round's purchase shares as an ``[n, n]`` matrix (zeros without)."""
    if mix is None:
        return np.zeros((n, n))
    return mix.dense(n) if isinstance(mix, PairMatrix) else mix


@jitable
def allocate_training_kernel(
    order: np.ndarray,
    own_below: np.ndarray,
    allowed: np.ndarray,
    mix: np.ndarray,
    capacity: np.ndarray,
    cap: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training compute per buyer and seller: own operation first, then the market.

    ``order[b]``: units of the layer below that buyer ``b`` wants for training;
    ``own_below[b]``: its firm's operation there (-1: none); ``allowed[b, s]``: whether
    ``b`` may buy from ``s``; ``mix[b, s]``: its purchase shares last round (a row of
    zeros before it has bought); ``capacity[s]``: capacity in force; ``cap[b]``: the
    largest share of a seller's capacity ``b``'s training may take. Returns
    ``(own, units, reserved)``: units each buyer runs on its own operation, units
    ``units[b, s]`` rented from ``s`` (at most ``cap[b] capacity[s]``, then proportional
    rationing at ``s``'s capacity left after self-supply; an order a full seller cannot
    fill is not placed elsewhere) and the units of each operation's capacity taken by
    training.
    """
    n = order.shape[0]
    own = np.zeros(n)
    units = np.zeros((n, n))
    reserved = np.zeros(n)
    left = capacity.copy()
    for b in range(n):
        if order[b] <= 0.0:
            continue
        o = own_below[b]
        rest = order[b]
        if o >= 0:
            take = min(rest, max(min(left[o], cap[b] * capacity[o]), 0.0))
            own[b] = take
            left[o] -= take
            reserved[o] += take
            rest -= take
        if rest <= 0.0:
            continue
        total = 0.0
        for s in range(n):
            if allowed[b, s] and left[s] > 0.0:
                total += mix[b, s]
        count = 0
        if total <= 0.0:  # nothing bought yet: equally over the sellers it may use
            for s in range(n):
                if allowed[b, s] and left[s] > 0.0:
                    count += 1
        for s in range(n):
            if allowed[b, s] and left[s] > 0.0:
                if total > 0.0:
                    units[b, s] = min(rest * mix[b, s] / total, cap[b] * capacity[s])
                elif count > 0:
                    units[b, s] = min(rest / count, cap[b] * capacity[s])
    for s in range(n):
        asked = 0.0
        for b in range(n):
            asked += units[b, s]
        if asked <= 0.0:
            continue
        fill = min(1.0, max(left[s], 0.0) / asked)
        for b in range(n):
            units[b, s] *= fill
        reserved[s] += asked * fill
    return own, units, reserved


@jitable
def pay_training_kernel(
    own: np.ndarray,
    units: np.ndarray,
    own_below: np.ndarray,
    price: np.ndarray,
    cost: np.ndarray,
    input_cost: np.ndarray,
    quantity: np.ndarray,
    unit_input_cost: np.ndarray,
    capital: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What each buyer pays for its training, and what each seller serves.

    Rented units at the seller's price; own units at the own operation's transfer price,
    as the clearing's (``market_kernel``, pass 4): unit cost plus inputs per unit sold, or
    in a capital-goods layer (``capital[o]``) the user cost of a unit of capacity (the
    unit input cost). Returns ``(spend, served, self_units, internal)`` per operation:
    the buyer's spend, the units sold to others' training and run for its own firm's,
    and the self-supply's value (internal revenue).
    """
    n = own.shape[0]
    spend = np.zeros(n)
    served = np.zeros(n)
    self_units = np.zeros(n)
    internal = np.zeros(n)
    for b in range(n):
        paid = 0.0
        for s in range(n):
            u = units[b, s]
            if u != 0.0:
                paid += u * price[s]
                served[s] += u
        o = own_below[b]
        if o >= 0 and own[b] > 0.0:
            if capital[o] or quantity[o] <= 0.0:
                per = unit_input_cost[o]
            else:
                per = input_cost[o] / quantity[o]
            value = own[b] * (cost[o] + per)
            paid += value
            self_units[o] += own[b]
            internal[o] += value
        spend[b] = paid
    return spend, served, self_units, internal


@jitable
def training_orders_kernel(
    ask: np.ndarray,
    firm_of: np.ndarray,
    layer_of: np.ndarray,
    stock: np.ndarray,
    rate: np.ndarray,
    ratio: np.ndarray,
    revenue: np.ndarray,
    available: np.ndarray,
    financing: bool,
    appetite: np.ndarray,
    last_revenue: np.ndarray,
    raises_equity: np.ndarray,
    appetite_drop: float,
    equity_multiple: float,
    paid_units: np.ndarray,
    paid_spend: np.ndarray,
    fallback: np.ndarray,
    orders: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The training orders of the default rule, set in ``orders``; prices and funds.

    A firm's funds for training are what it can spend (``available``, per firm) less,
    when ``financing``, the equity room it would lose at the appetite after a losing
    round (a lab that trains expects one): ``appetite x appetite_drop x equity_multiple
    x max(last_revenue, 0)`` for a firm that ``raises_equity`` (``docs/MODEL.md`` 16,
    20.2), as numpy multiplies them.

    For each operation with ``ask[o] > 0`` (it trains and its firm was asked) the price
    of a unit of its compute: what a unit cost it last round (``paid_spend / paid_units``
    where it bought some), else ``fallback[layer]`` (the layer below's price). Where
    ``ask[o] == 1`` (a strategy that trains by the default rule),
    :func:`stackgame.strategies.base.default_training` through the same function
    (:func:`~stackgame.strategies.default_rules.training_units`, ``docs/MODEL.md``
    20.2), on its firm's last ``revenue`` (0 past the array's end) and ``funds``; a
    positive, finite answer becomes ``orders[o]``. Returns the prices (0 where not
    asked) and the funds per firm.
    """
    n_firms = available.shape[0]
    funds = available.copy()
    if financing:
        for f in range(n_firms):
            r = last_revenue[f]
            r = r if r > 0.0 or math.isnan(r) else 0.0  # np.maximum(r, 0.0)
            lost = appetite[f] * appetite_drop * equity_multiple * r
            funds[f] = available[f] - lost * (1.0 if raises_equity[f] else 0.0)
    n = ask.shape[0]
    price = np.zeros(n)
    n_paid = paid_units.shape[0]
    n_revenue = revenue.shape[0]
    for o in range(n):
        if ask[o] == 0:
            continue
        if o < n_paid and paid_units[o] > 0:
            p = paid_spend[o] / paid_units[o]
        else:
            p = fallback[layer_of[o]]
        price[o] = p
        if ask[o] != 1:
            continue
        f = firm_of[o]
        units = training_units(
            revenue[f] if f < n_revenue else 0.0, ratio[o], rate[o], stock[o], funds[f], p
        )
        if units > 0.0 and math.isfinite(units):
            orders[o] = units
    return price, funds


@jitable
def model_stock_kernel(
    stock: np.ndarray,
    spend: np.ndarray,
    rate: np.ndarray,
    omega: np.ndarray,
    expense: np.ndarray,
    trains: np.ndarray,
    layer_of: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The model stocks after a round: amortisation, spend, a rival's passing.

    Returns ``(stock', amortisation, writedown, charge, passer)``: ``passer[i]`` is the
    rival with the largest new stock among those that passed ``i`` (-1: none). The
    charge to operating income is ``amortisation + writedown`` (capitalised) or the
    spend (``expense[i] = 1``).
    """
    n = stock.shape[0]
    amort = np.zeros(n)
    new = stock.copy()
    for i in range(n):
        if trains[i]:
            amort[i] = rate[i] * stock[i]
            new[i] = stock[i] - amort[i] + spend[i]
    writedown = np.zeros(n)
    passer = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        if not trains[i]:
            continue
        best = -1.0
        for j in range(n):
            if j == i or not trains[j] or layer_of[j] != layer_of[i]:
                continue
            if stock[j] <= stock[i] and new[j] > new[i] and new[j] > best:
                best = new[j]
                passer[i] = j
        if passer[i] >= 0:
            writedown[i] = omega[i] * new[i]
    charge = np.zeros(n)
    for i in range(n):
        new[i] -= writedown[i]
        if trains[i]:
            charge[i] = spend[i] if expense[i] > 0.0 else amort[i] + writedown[i]
    return new, amort, writedown, charge, passer


@jitable
def settle_training_kernel(
    own: np.ndarray,
    units: np.ndarray,
    own_below: np.ndarray,
    price: np.ndarray,
    cost: np.ndarray,
    input_cost: np.ndarray,
    quantity: np.ndarray,
    unit_input_cost: np.ndarray,
    capital: np.ndarray,
    revenue: np.ndarray,
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
) -> bool:
    """:meth:`TrainingBook.settle`'s arithmetic in one call, into ``out`` and ``passer``.

    :func:`pay_training_kernel`, then the sellers' ``revenue``, ``internal_revenue``,
    ``quantity`` and ``variable_cost`` with the training they served (in the order
    numpy's expressions add them), then :func:`model_stock_kernel`. The rows of ``out``
    (``[10, n]``, filled here): spend, revenue', internal_revenue', quantity',
    variable_cost', stock', amortisation, writedown, charge, and stock' again (the
    round's record, apart from the book's); ``passer`` as :func:`model_stock_kernel`'s.
    Returns whether any model was written down.
    """
    spend, served, self_units, internal = pay_training_kernel(
        own, units, own_below, price, cost, input_cost, quantity, unit_input_cost, capital
    )
    n = revenue.shape[0]
    for o in range(n):
        out[0, o] = spend[o]
        out[1, o] = revenue[o] + served[o] * price[o] + internal[o]
        out[2, o] = internal_revenue[o] + internal[o]
        out[3, o] = quantity[o] + served[o] + self_units[o]
        out[4, o] = variable_cost[o] + cost[o] * (served[o] + self_units[o])
    new_stock, amort, writedown, charge, who = model_stock_kernel(
        stock, spend, rate, omega, expense, trains, layer_of
    )
    written = False
    for o in range(n):
        out[5, o] = new_stock[o]
        out[6, o] = amort[o]
        out[7, o] = writedown[o]
        out[8, o] = charge[o]
        out[9, o] = new_stock[o]
        passer[o] = who[o]
        if writedown[o] != 0.0:
            written = True
    return written


@jitable
def training_quality_kernel(
    quality: np.ndarray,
    stock: np.ndarray,
    initial: np.ndarray,
    weight: np.ndarray,
    scale: np.ndarray,
    trains: np.ndarray,
) -> np.ndarray:
    """``q_i = q0_i + beta_i (ln(1 + S_i / s_i) - ln(1 + S0_i / s_i))`` where ``i`` trains."""
    out = quality.copy()
    for i in range(quality.shape[0]):
        if trains[i]:
            out[i] += weight[i] * (
                math.log(1.0 + stock[i] / scale[i]) - math.log(1.0 + initial[i] / scale[i])
            )
    return out


@jitable
def prepare_training_kernel(
    quality: np.ndarray,
    stock: np.ndarray,
    initial: np.ndarray,
    weight: np.ndarray,
    scale: np.ndarray,
    trains: np.ndarray,
    order: np.ndarray,
    own_below: np.ndarray,
    allowed: np.ndarray,
    mix: np.ndarray,
    capacity: np.ndarray,
    cap: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`training_quality_kernel` then :func:`allocate_training_kernel`, in one call.

    Returns ``(quality, own, units, reserved)``.
    """
    q = training_quality_kernel(quality, stock, initial, weight, scale, trains)
    own, units, reserved = allocate_training_kernel(order, own_below, allowed, mix, capacity, cap)
    return q, own, units, reserved


class TrainingBook:
    """The operations' training parameters and model stocks, and each round's figures.

    Attributes
    ----------
    trains
        Per operation: whether it trains (an active operation with a ``training`` table).
    ratio, rate, weight, scale, omega, expense, stock, initial, cap
        Per operation: the default rule's spend-to-revenue ratio, the amortisation rate
        ``1 / life``, the quality weight ``beta``, the scale ``s``, the write-down share
        ``omega``, 1 where training is expensed, the model stock now and at the start,
        the largest share of a seller's capacity it may take.
    rows
        Per round: ``spend``, ``units``, ``charge``, ``writedown``, ``stock`` per
        operation (recorded by the model only when some operation trains).
    """

    def __init__(self, scenario: Scenario, state: StackState) -> None:
        n = state.n_ops
        columns: dict[str, list[float]] = {k: [0.0] * n for k in _FIELDS}
        trains = [False] * n
        o = 0
        for firm in scenario.firms:  # (the state's order: by firm, then by layer)
            for _, op in sorted(firm.ops.items(), key=lambda kv: state.layer_index[kv[0]]):
                t = op.training
                if t is not None:
                    trains[o] = True
                    values = (
                        t.ratio, 1.0 / t.life, t.quality_weight, t.scale, t.writedown,
                        1.0 if t.accounting == "expense" else 0.0, t.stock, t.stock,
                        t.max_share,
                    )  # fmt: skip
                    for k, v in zip(_FIELDS, values, strict=True):
                        columns[k][o] = float(v)
                o += 1
        self.trains = np.array(trains, dtype=np.bool_)
        self.enabled = bool(self.trains.any())
        for k in _FIELDS:
            setattr(self, k, np.array(columns[k]))
        self.rows: list[dict[str, np.ndarray]] = []
        self.written_down = False  # whether the last settlement wrote a model down
        self._live_now: tuple[tuple[int, int], np.ndarray, list[int]] | None = None

    ratio: np.ndarray
    rate: np.ndarray
    weight: np.ndarray
    scale: np.ndarray
    omega: np.ndarray
    expense: np.ndarray
    stock: np.ndarray
    initial: np.ndarray
    cap: np.ndarray

    def grow(self, n_ops: int) -> None:
        """Extend the arrays to operations added since (they do not train)."""
        k = self.trains.shape[0]
        if k >= n_ops:
            return
        self.trains = np.concatenate([self.trains, np.zeros(n_ops - k, dtype=np.bool_)])
        for name in _FIELDS:
            fill = 1.0 if name == "scale" else 0.0
            setattr(self, name, np.concatenate([getattr(self, name), np.full(n_ops - k, fill)]))

    def live(self, active: np.ndarray) -> np.ndarray:
        """Operations that train this round: a training table, and in business."""
        self.grow(active.shape[0])
        return self.trains & active

    def live_now(self, state: StackState) -> tuple[np.ndarray, list[int]]:
        """:meth:`live` on the state's operations, as a mask and a list (read only).

        Kept while the structure stays: every change of the operations' activity ends in
        a rebuild that moves ``state.version`` (and operations are added only so).
        """
        key = (state.version, state.n_ops)
        kept = self._live_now
        if kept is None or kept[0] != key:
            mask = self.live(state.active)
            kept = self._live_now = (key, mask, np.flatnonzero(mask).tolist())
        return kept[1], kept[2]

    def quality(self, quality: np.ndarray, active: np.ndarray, jit: bool | None) -> np.ndarray:
        """Quality in force with the model stocks' effect (section 20.3)."""
        kernel = compiled("training_quality_kernel", jit, module="training")
        return kernel(quality, self.stock, self.initial, self.weight, self.scale, self.live(active))

    def allocate(
        self, state: StackState, order: np.ndarray, mix: np.ndarray | PairMatrix | None,
        capacity: np.ndarray, jit: bool | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Own, rented and reserved units (:func:`allocate_training_kernel`)."""
        n = state.n_ops
        kernel = compiled("allocate_training_kernel", jit, module="training")
        return kernel(
            order, state.structure.own_below, state.structure.allowed,
            _dense_mix(mix, n), capacity, self.cap,
        )  # fmt: skip

    def prepare(
        self, state: StackState, order: np.ndarray, mix: np.ndarray | PairMatrix | None,
        capacity: np.ndarray, quality: np.ndarray, jit: bool | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """:meth:`quality` and :meth:`allocate` in one call: quality, own, rented, reserved."""
        n = state.n_ops
        kernel = compiled("prepare_training_kernel", jit, module="training")
        return kernel(
            quality, self.stock, self.initial, self.weight, self.scale, self.live_now(state)[0],
            order, state.structure.own_below, state.structure.allowed,
            _dense_mix(mix, n), capacity, self.cap,
        )  # fmt: skip

    def settle(
        self, state: StackState, clearing: Clearing, cost: np.ndarray, own: np.ndarray,
        units: np.ndarray, jit: bool | None,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """Pay for the round's training and update the stocks; book the sellers' side.

        Rented units are paid at the seller's price of the round, self-supplied ones at
        the own operation's unit cost (own cost plus inputs per unit sold, as in 5.2).
        The sellers' revenue, output and variable cost (and internal revenue, for
        self-supply) in ``clearing`` gain the training they served. Returns the round's
        row: ``spend``, ``units``, ``charge``, ``writedown``, ``amortisation``, ``stock``
        and ``passer`` per operation.
        """
        c = clearing
        n = state.n_ops
        capital = capital_ops(state) if state.has_capital_goods else np.zeros(n, np.bool_)
        kernel = compiled("settle_training_kernel", jit, module="training")
        out = np.empty((10, n))  # the round's new arrays, in one block (see the kernel)
        passer = np.empty(n, dtype=np.int64)
        self.written_down = kernel(
            own, units, state.structure.own_below, c.price, cost, c.input_cost, c.quantity,
            c.unit_input_cost, capital, c.revenue, c.internal_revenue, c.variable_cost,
            self.stock, self.rate, self.omega, self.expense, self.live_now(state)[0],
            state.layer_of, out, passer,
        )  # fmt: skip
        spend, c.revenue, c.internal_revenue, c.quantity, c.variable_cost = out[:5]
        self.stock = out[5]
        row = {
            "spend": spend,
            "units": own + np.add.reduce(units, axis=1),
            "charge": out[8],
            "writedown": out[7],
            "amortisation": out[6],
            "stock": out[9],
            "passer": passer,
        }
        self.rows.append(row)
        return row
