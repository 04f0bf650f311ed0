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

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from stackgame.environment.market import Clearing
    from stackgame.environment.state import StackState

_EPS = 1e-12


def capital_ops(state: StackState) -> np.ndarray:
    """Mask of the operations in capital-goods layers (kept until the structure changes)."""
    st = state
    cached = st._capital_mask
    if cached[0] != st.version or cached[1].shape[0] != st.n_ops:
        cached = (st.version, st.capital_goods[st.layer_of], st.capital_goods[st.layer_of] * 1.0)
        st._capital_mask = cached
    return cached[1]


def capital_share(state: StackState) -> np.ndarray:
    """1.0 for the operations in capital-goods layers, 0.0 elsewhere (as floats)."""
    capital_ops(state)
    return state._capital_mask[2]


def capital_ops_by_firm(
    state: StackState, layer_names: list[str]
) -> list[tuple[int, list[tuple[str, int, int, float, int]]]]:
    """Per firm with active capital-goods operations: (layer, op, lead time, a_l, k) each.

    Kept on the state until its structure changes (``state.version``).
    """
    st = state
    cached = st._capital_by_firm
    if cached[0] == st.version:
        return cached[1]
    by_firm: dict[int, list[tuple[str, int, int, float, int]]] = {}
    for o, lead, a, k in _capital_ops(st):
        by_firm.setdefault(int(st.firm_of[o]), []).append((layer_names[k], o, lead, a, k))
    out = sorted(by_firm.items())
    st._capital_by_firm = (st.version, out)
    return out


def price_basis(state: StackState) -> np.ndarray | None:
    """Per operation, the factor on its input cost in its price (``None``: all 1).

    ``r + delta_i`` in a capital-goods layer: the cost of a round's use of a unit of
    capacity is its price times the interest forgone plus its depreciation.
    """
    if not state.has_capital_goods:
        return None
    r = float(state.finance.interest_rate)
    return np.where(capital_ops(state), r + state.depreciation_rate, 1.0)


def _capital_ops(state: StackState) -> list[tuple[int, int, float, int]]:
    """Active capital-goods operations: (op, lead time, a_l, layer), by firm then layer."""
    st = state
    cached = st._capital_ops
    if cached[0] == st.version:
        return cached[1]
    out = []
    for o in np.flatnonzero(capital_ops(st) & st.active).tolist():
        k = int(st.layer_of[o])
        out.append((o, int(st.install_lead_time[k]), float(st.input_coefficient[k]), k))
    st._capital_ops = (st.version, out)
    return out


def install(state: StackState, clearing: Clearing) -> None:
    """Ship this round's capital goods into the buyers' pipelines and books.

    Units received by a buyer are what its sellers and its own operation below delivered,
    over ``a_l``; they come online after the layer's install lead time. Their cost
    (``clearing.capex``) joins the buyer's book capital after the round's payout (they
    depreciate from the next round).
    """
    st = state
    received = clearing.flow.sum(axis=1).tolist()
    own = clearing.self_supply
    capex = clearing.capex
    active = st.active
    for o, lead, a, _ in _capital_ops(st):
        if not active[o]:  # (closed this round: a failed firm's goods went with it)
            continue
        units = (received[o] + float(own[o])) / a
        if units > _EPS:
            st.pipeline[o, lead - 1] += units
        st.capital[o] += capex[o]


def age(state: StackState, depreciation: np.ndarray) -> None:
    """End of round: retire installed units, depreciate the book, bring arrivals online.

    ``depreciation`` is this round's wear per operation (book value times rate, charged
    in the payout; write-downs have left the book already); in a capital-goods layer it
    leaves the book, because the units it wore out are not replaced unless ordered again.
    """
    st = state
    pipe = st.pipeline
    capacity = st.capacity
    capital = st.capital
    rate = st.depreciation_rate
    for o, _, _, _ in _capital_ops(st):
        capacity[o] = capacity[o] * (1.0 - rate[o]) + pipe[o, 0]
        capital[o] = max(capital[o] - depreciation[o], 0.0)
        if pipe.shape[1] > 1:
            pipe[o, :-1] = pipe[o, 1:]
        pipe[o, -1] = 0.0


def pipeline_units(state: StackState) -> np.ndarray:
    """Per operation, capacity shipped and not yet online."""
    return state.pipeline.sum(axis=1)
