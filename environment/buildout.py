"""The buildout: capital goods ordered ahead of demand, shipped, installed and retired.

In a capital-goods layer (``LayerSpec.capital_goods``, ``docs/MODEL.md`` 15) an
operation's capacity ``K_i`` is a stock of installed units. Each round its firm's
strategy orders ``I_i`` units of capacity (:meth:`Strategy.invest
<stackgame.strategies.base.Strategy.invest>`); the clearing ships ``a_l I_i`` units of
the layer below, bought from its sellers like any input, and the buyer pays them as
capex when they ship. The units come online ``L_l`` rounds later (the install lead
time); installed capacity retires at the operation's depreciation rate ``delta_i``
(perpetual inventory), and its book value depreciates at the same rate::

    K_{t+1} = (1 - delta_i) K_t + arrivals_{t+1}
    B_{t+1} = (1 - delta_i) B_t + capex_t - writedown_t

So the supplier's revenue follows the buyer's investment, not its use; and since a
unit's cost is depreciated whether it is used or not, idle capacity costs the buyer.
The buyer prices its output on the user cost of capital (Jorgenson 1963): a unit of
capacity costs ``a_l x (r + delta_i)`` a round, ``x`` the capital good's price and ``r``
the finance section's interest rate (:func:`price_basis`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from stackgame.environment.jit import compiled, jitable
from stackgame.environment.kept import bytes_key, keep
from stackgame.strategies.default_rules import investment_units

if TYPE_CHECKING:
    from stackgame.environment.market import Clearing
    from stackgame.environment.state import StackState

_EPS = 1e-12

jitable(investment_units)  # (the strategies' rule, compiled into the kernel that calls it)


def capital_ops(state: StackState) -> np.ndarray:
    """Mask of the operations in capital-goods layers (kept until the structure changes)."""
    return state.derived("capital_ops", _capital_mask, state)


def _capital_mask(state: StackState) -> np.ndarray:
    return state.capital_goods[state.layer_of]


class _Layout:
    """The capital-goods operations laid out once per structure version (:func:`_layout`).

    ``index``: every operation of a capital-goods layer; ``ops``: the active ones, with
    their layers' install lead times ``lead`` (integers), ``a`` (``a_l``), ``layer`` and
    ``firm``; ``plan``: ``ops`` and ``lead`` as one ``[2, k]`` array; ``listed``: the
    same as ``(op, lead, a_l, layer)`` tuples of Python numbers; ``per_unit``: every
    operation's ``a_l``; ``phi``: :func:`infrastructure`'s array (``None``: none).
    ``frame``, ``on`` and ``coefficients``: what it was built from (the arrays' bytes),
    for the next version's layout (:meth:`__init__`).
    """

    __slots__ = (
        "a", "coefficients", "firm", "frame", "index", "lead", "layer", "listed", "on", "ops",
        "per_unit", "phi", "plan",
    )  # fmt: skip
    a: np.ndarray
    coefficients: tuple[object, ...]
    firm: np.ndarray
    frame: tuple[object, ...]
    index: np.ndarray
    lead: np.ndarray
    layer: np.ndarray
    listed: list[tuple[int, int, float, int]]
    on: bytes
    ops: np.ndarray
    per_unit: np.ndarray
    phi: np.ndarray | None
    plan: np.ndarray

    def __init__(self, st: StackState, last: _Layout | None = None) -> None:
        """The layout of ``st`` now, keeping the parts of ``last`` made from the same inputs.

        ``last``: the layout of an earlier structure version, or ``None``. A part is kept
        (shared as it is: a layout is only read) where everything it is made from is as
        ``last`` found it, so it holds the numbers it would be made with now: a failure
        elsewhere in the stack changes no part, a cost decline of the coefficients
        (in place) changes ``a``, ``listed`` and ``per_unit`` only.
        """
        lay, firm, goods = st.layer_of, st.firm_of, st.capital_goods
        lead_time, cost, coef = st.install_lead_time, st.infrastructure_cost, st.input_coefficient
        # everything the layout reads but the activity and the coefficients
        self.frame = frame = bytes_key(lay, firm, goods, lead_time, cost)
        self.coefficients = coefficients = bytes_key(coef)
        kept = last if last is not None and last.frame == frame else None
        if kept is not None:  # (the same capital-goods operations and costs)
            index = self.index = kept.index
            self.phi = kept.phi
        else:
            mask = capital_ops(st)
            index = self.index = np.flatnonzero(mask)
            self.phi = np.where(mask, cost[lay], 0.0) if cost.any() else None
        on = st.active[index]
        self.on = on.tobytes()
        same_ops = kept is not None and kept.on == self.on
        if kept is not None and same_ops:  # (and the same of them active)
            ops, layer, lead = self.ops, self.layer, self.lead = kept.ops, kept.layer, kept.lead
            self.firm, self.plan = kept.firm, kept.plan
        else:
            ops = self.ops = index[on]  # (as np.flatnonzero(mask & active))
            layer = self.layer = lay[ops]
            lead = self.lead = lead_time[layer]
            self.firm = firm[ops]
            self.plan = np.array([ops, lead], dtype=np.int64).reshape(2, ops.shape[0])
        if kept is not None and kept.coefficients == coefficients:
            self.per_unit = kept.per_unit
            if same_ops:
                self.a, self.listed = kept.a, kept.listed
                return
        else:
            self.per_unit = coef[lay]
        self.a = coef[layer]
        self.listed = list(
            zip(ops.tolist(), lead.tolist(), self.a.tolist(), layer.tolist(), strict=True)
        )


def _renew_layout(last: _Layout, state: StackState) -> _Layout:
    """:class:`_Layout` of the state now, from ``last``, an earlier version's."""
    return _Layout(state, last)


def _layout(state: StackState) -> _Layout:
    """:class:`_Layout` of the state now (kept until the structure changes)."""
    return state.derived("capital_layout", _Layout, state, renew=_renew_layout)


def capital_index(state: StackState) -> np.ndarray:
    """:func:`capital_ops` as the operations' indices (kept until the structure changes)."""
    return _layout(state).index


def capital_share(state: StackState) -> np.ndarray:
    """1.0 for the operations in capital-goods layers, 0.0 elsewhere (as floats)."""
    return state.derived("capital_share", _capital_floats, state)


def _capital_floats(state: StackState) -> np.ndarray:
    return capital_ops(state) * 1.0


def capital_ops_by_firm(
    state: StackState, layer_names: list[str]
) -> list[tuple[int, list[tuple[str, int, int, float, int]]]]:
    """Per firm with active capital-goods operations: (layer, op, lead time, a_l, k) each.

    Kept on the state until its structure changes (``state.version``), and across
    models as :func:`capital_plan` is. Read only.
    """
    return capital_plan(state, layer_names).by_firm


class CapitalPlan:
    """What the investment's plan reads of the structure (:func:`capital_plan`; read only).

    ``by_firm``: :func:`capital_ops_by_firm`'s list; ``rows``: the active capital-goods
    operations, their layers' lead times, their layers and firms as ``[4, n]`` integers
    (:func:`invest_arrays`' in that order); ``a``: their ``a_l``; ``firms``: their firms as
    a list; ``structure``: each operation's firm, layer and activity (0/1) as ``[3,
    n_ops]`` integers; ``rules``: the default rule's entries and values per the firms'
    rules (:meth:`rule_arrays`).
    """

    __slots__ = ("a", "by_firm", "firms", "rows", "rules", "structure")

    def __init__(self, state: StackState, layer_names: list[str]) -> None:
        by_firm: dict[int, list[tuple[str, int, int, float, int]]] = {}
        firm_of = state.firm_of.tolist()
        for o, lead, a, k in _capital_ops(state):
            entry = (layer_names[k], o, lead, a, k)
            by_firm.setdefault(firm_of[o], []).append(entry)
        self.by_firm = sorted(by_firm.items())
        lay = _layout(state)
        n = lay.ops.shape[0]
        rows = self.rows = np.empty((4, n), dtype=np.int64)
        rows[0], rows[1], rows[2], rows[3] = lay.ops, lay.lead, lay.layer, lay.firm
        self.a = lay.a
        self.firms = lay.firm.tolist()
        self.structure = np.array([state.firm_of, state.layer_of, state.active], dtype=np.int64)
        self.rules: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}

    def rule_arrays(self, target: list[float], ahead: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The default rule's ``[5, n]`` entries and ``[2, n]`` values (kept; read only).

        Entries: :attr:`rows` and each operation's firm's rounds built ahead
        (``ahead[f]``); values: ``a_l`` and the firm's target utilisation
        (``target[f]``, 0 where the firm is not asked by the default rule).
        """
        key = (tuple(target), tuple(ahead))
        kept = self.rules.get(key)
        if kept is not None:
            return kept
        n = self.rows.shape[1]
        firms = self.firms
        entries = np.empty((5, n), dtype=np.int64)  # (row by row: no list of arrays for
        entries[:4] = self.rows  # numpy to read through)
        entries[4] = [ahead[f] for f in firms]
        values = np.empty((2, n))
        values[0], values[1] = self.a, [target[f] for f in firms]
        if len(self.rules) < _RULES_KEPT:
            self.rules[key] = (entries, values)
        return entries, values


_PLAN_OPS = 128
"""Structures of at most this many operations share their :class:`CapitalPlan` across
models (:func:`capital_plan`)."""
_PLAN_SIZE = 64
"""How many are kept at most (the oldest goes first)."""
_RULES_KEPT = 16
"""How many firms' rules a :class:`CapitalPlan` keeps arrays for."""
_PLANS: dict[tuple[Any, ...], CapitalPlan] = {}
"""The :class:`CapitalPlan` of each structure met, by everything it is made from."""


def capital_plan(state: StackState, layer_names: list[str]) -> CapitalPlan:
    """The :class:`CapitalPlan` of the state now (kept until the structure changes).

    A small stack's is kept across models too (:data:`_PLANS`, by every array and name it
    is made from): the runs of a batch or a benchmark meet the same structures again
    and again (a failure's fire sale, an integration move).
    """
    return state.derived("capital_plan", _capital_plan, state, layer_names)


def structure_key(state: StackState) -> tuple[Any, ...]:
    """The operations' firms, layers and activity as a key (kept per structure version).

    What the caches across models that read the structure (:func:`capital_plan`, the
    contract book's terms) key on, made once per version: its parts' hashes are then
    computed once too (``bytes`` keeps its hash).
    """
    return state.derived("structure_key", _structure_key, state)


def _structure_key(state: StackState) -> tuple[Any, ...]:
    return (state.n_layers,) + bytes_key(state.firm_of, state.layer_of, state.active)


def _capital_plan(state: StackState, layer_names: list[str]) -> CapitalPlan:
    st = state
    key = None
    if st.n_ops <= _PLAN_OPS:
        key = (structure_key(st), tuple(layer_names)) + bytes_key(
            st.capital_goods, st.install_lead_time, st.input_coefficient
        )
        kept = _PLANS.get(key)
        if kept is not None:
            return kept
    plan = CapitalPlan(st, layer_names)
    if key is not None:
        keep(_PLANS, key, plan, _PLAN_SIZE)
    return plan


def infrastructure(state: StackState) -> np.ndarray | None:
    """Per operation, its layer's infrastructure cost per unit of capacity (``None``: none).

    ``phi_l`` (``LayerSpec.infrastructure_cost``) in a capital-goods layer, 0 elsewhere;
    kept until the structure changes (or a setting: every one moves ``state.version``).
    """
    if not state.has_capital_goods:
        return None
    return _layout(state).phi


def price_basis(state: StackState) -> np.ndarray | None:
    """Per operation, the factor on its input cost in its price (``None``: all 1).

    ``r + delta_i`` in a capital-goods layer: the cost of a round's use of a unit of
    capacity is its price times the interest forgone plus its depreciation.
    """
    st = state
    if not st.has_capital_goods:
        return None
    r = float(st.finance.interest_rate)
    rate = st.depreciation_rate
    # kept while the structure, the rate and the rates' array stay (a setting moves the
    # version); the clearing only reads it
    cached = st._price_basis
    if cached[0] == st.version and cached[1] == r and cached[2] is rate:
        return cached[3]
    basis = np.where(capital_ops(st), r + rate, 1.0)
    st._price_basis = (st.version, r, rate, basis)
    return basis


def _capital_ops(state: StackState) -> list[tuple[int, int, float, int]]:
    """Active capital-goods operations: (op, lead time, a_l, layer), in the operations' order."""
    return _layout(state).listed


@jitable
def default_orders_kernel(
    ops: np.ndarray,
    lead: np.ndarray,
    coefficient: np.ndarray,
    layer: np.ndarray,
    firm: np.ndarray,
    target: np.ndarray,
    ahead: np.ndarray,
    capacity: np.ndarray,
    pipeline: np.ndarray,
    used: np.ndarray,
    rate: np.ndarray,
    sold: np.ndarray,
    below_price: np.ndarray,
    infrastructure_cost: np.ndarray,
    funds: np.ndarray,
    growth: float,
    orders: np.ndarray,
) -> None:
    """The default investment rule for many operations at once, orders set in place.

    :func:`stackgame.strategies.base.default_investment` (``docs/MODEL.md`` 15.3), the
    same function (:func:`~stackgame.strategies.default_rules.investment_units`), for
    each entry ``j`` (operation ``ops[j]``, its
    layer's lead time, ``a_l`` and index ``layer[j]``, its firm ``firm[j]``) whose firm
    has ``target[f] > 0`` (a strategy that invests by the default rule, asked this round;
    ``0``: skipped), with its strategy's target utilisation ``target[f]`` and rounds
    built ahead ``ahead[f]``. Per operation: installed ``capacity``, the ``pipeline``'s
    units, last round's output ``used`` (0 past its end), retirement ``rate``, units
    ``sold`` forward; per layer ``k``, the mean price of the layer below last round
    ``below_price[k]`` and the infrastructure cost; per firm, its ``funds``.
    ``orders[o]`` becomes ``I a_l`` where the order ``I`` is positive, in units of the
    layer below.
    """
    n_used = used.shape[0]
    for j in range(ops.shape[0]):
        f = firm[j]
        u_star = target[f]
        if not u_star > 0.0:
            continue
        o = ops[j]
        k = layer[j]
        a = coefficient[j]
        units = investment_units(
            used[o] if o < n_used else 0.0, sold[o], growth, lead[j], ahead[f], capacity[o],
            rate[o], pipeline[o], u_star, a * below_price[k] + infrastructure_cost[k],
            funds[f],
        )  # fmt: skip
        if units > 0.0:
            orders[o] = units * a


@jitable
def install_kernel(
    ops: np.ndarray,
    lead: np.ndarray,
    coefficient: np.ndarray,
    active: np.ndarray,
    received: np.ndarray,
    own: np.ndarray,
    capex: np.ndarray,
    pipeline: np.ndarray,
    capital: np.ndarray,
) -> None:
    """Install this round's shipments (see :func:`install_and_age`), on arrays.

    ``ops``: the active capital-goods operations, with their layers' lead times and
    ``a_l``; ``received``: the units each operation bought from others.
    """
    for j in range(ops.shape[0]):
        o = ops[j]
        if not active[o]:  # (closed this round: a failed firm's goods went with it)
            continue
        units = (received[o] + own[o]) / coefficient[j]
        if units > _EPS:
            pipeline[o, lead[j] - 1] += units
        capital[o] += capex[o]


@jitable
def age_kernel(
    ops: np.ndarray,
    pipeline: np.ndarray,
    capacity: np.ndarray,
    capital: np.ndarray,
    rate: np.ndarray,
    depreciation: np.ndarray,
) -> None:
    """Age the stock (see :func:`install_and_age`); ``ops``: the active capital-goods ops."""
    width = pipeline.shape[1]
    for j in range(ops.shape[0]):
        o = ops[j]
        capacity[o] = capacity[o] * (1.0 - rate[o]) + pipeline[o, 0]
        book = capital[o] - depreciation[o]
        capital[o] = 0.0 if 0.0 > book else book  # (max(book, 0.0))
        for c in range(width - 1):
            pipeline[o, c] = pipeline[o, c + 1]
        pipeline[o, width - 1] = 0.0


@jitable
def install_age_kernel(
    ops: np.ndarray,
    lead: np.ndarray,
    coefficient: np.ndarray,
    active: np.ndarray,
    received: np.ndarray,
    own: np.ndarray,
    capex: np.ndarray,
    pipeline: np.ndarray,
    capital: np.ndarray,
    capacity: np.ndarray,
    rate: np.ndarray,
    depreciation: np.ndarray,
    writedown: np.ndarray,
    charge: np.ndarray,
) -> None:
    """:func:`install_kernel` then :func:`age_kernel`, in one call (one dispatch a round).

    The wear that leaves the book is ``depreciation - writedown - charge`` (each of the
    last two left out when empty), subtracted in that order.
    """
    n = depreciation.shape[0]
    wear = np.empty(n)
    for o in range(n):
        w = depreciation[o]
        if writedown.shape[0] > 0:
            w = w - writedown[o]
        if charge.shape[0] > 0:
            w = w - charge[o]
        wear[o] = w
    install_kernel(ops, lead, coefficient, active, received, own, capex, pipeline, capital)
    age_kernel(ops, pipeline, capacity, capital, rate, wear)


@jitable
def capital_cash_kernel(
    cash: np.ndarray,
    firm_of: np.ndarray,
    capital_op: np.ndarray,
    depreciation: np.ndarray,
    writedown: np.ndarray,
    capex: np.ndarray,
) -> None:
    """Cash of the capital goods (``docs/MODEL.md`` 15.4), per firm, in place.

    A capital-goods operation's wear (``depreciation - writedown``) is a non-cash charge,
    given back to its firm's ``cash``; its ``capex`` is paid in cash when the goods ship.
    """
    n = cash.shape[0]
    net = np.zeros(n)
    for o in range(firm_of.shape[0]):
        if capital_op[o]:
            net[firm_of[o]] += (depreciation[o] - writedown[o]) - capex[o]
    for f in range(n):
        cash[f] += net[f]


@jitable
def round_cash_kernel(
    cash: np.ndarray,
    firm_of: np.ndarray,
    spend: np.ndarray,
    capital_op: np.ndarray,
    depreciation: np.ndarray,
    writedown: np.ndarray,
    capex: np.ndarray,
) -> None:
    """The buildout's cash of a round, per firm, in place, in one call.

    First the training compute paid this round (``spend`` per operation, summed per firm
    in the operations' order as ``np.bincount`` sums; empty: none), then, when
    ``capital_op`` is not empty, :func:`capital_cash_kernel`.
    """
    n = cash.shape[0]
    if spend.shape[0] > 0:
        paid = np.zeros(n)
        for o in range(spend.shape[0]):
            paid[firm_of[o]] += spend[o]
        for f in range(n):
            cash[f] -= paid[f]
    if capital_op.shape[0] > 0:
        capital_cash_kernel(cash, firm_of, capital_op, depreciation, writedown, capex)


def invest_arrays(
    state: StackState,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_capital_ops` as arrays: operation, lead time, ``a_l``, layer, firm (kept).

    What :func:`default_orders_kernel` reads of the active capital-goods operations.
    """
    lay = _layout(state)
    return lay.ops, lay.lead, lay.a, lay.layer, lay.firm


def install_and_age(
    state: StackState,
    clearing: Clearing,
    depreciation: np.ndarray,
    jit: bool | None = None,
    writedown: np.ndarray | None = None,
    charge: np.ndarray | None = None,
) -> None:
    """End of round: ship the capital goods into pipelines and books, then age the stock.

    Install (:func:`install_kernel`): units received by a buyer are what its sellers and
    its own operation below delivered, over ``a_l``; they come online after the layer's
    install lead time, and their cost (``clearing.capex``) joins the buyer's book capital
    after the round's payout (they depreciate from the next round). Age
    (:func:`age_kernel`): installed units retire, the book depreciates and arrivals come
    online; ``depreciation`` is this round's wear per operation (book value times rate,
    charged in the payout; write-downs have left the book already), which leaves the book
    because the units it wore out are not replaced unless ordered again; given
    ``writedown`` and ``charge`` (per operation), ``depreciation`` is the payout's and
    the wear is ``depreciation - writedown - charge``, computed in the kernel. The
    infrastructure bought with the units received (15.2) is set on ``clearing``.
    """
    st = state
    lay = _layout(st)  # (what it reads of the structure: kept per structure version)
    plan, per_unit, phi = lay.plan, lay.per_unit, lay.phi
    # (the units received and installed, and their capacity: one call,
    # buildout_round.install_round_kernel)
    units = compiled("install_round_kernel", jit, module="buildout_round", work=plan.shape[1] / 2)(
        plan, st.active, clearing.flow, clearing.self_supply, clearing.capex, st.pipeline,
        st.capital, st.capacity, st.depreciation_rate, depreciation,
        _NONE if writedown is None else writedown, _NONE if charge is None else charge,
        per_unit,
    )  # fmt: skip
    if phi is not None and phi.shape[0] == units.shape[0]:  # the data center around them
        clearing.infrastructure = float(phi @ units)


_NONE = np.zeros(0)
