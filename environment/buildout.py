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
    """Mask of the operations in capital-goods layers."""
    return state.capital_goods[state.layer_of]


def price_basis(state: StackState) -> np.ndarray | None:
    """Per operation, the factor on its input cost in its price (``None``: all 1).

    ``r + delta_i`` in a capital-goods layer: the cost of a round's use of a unit of
    capacity is its price times the interest forgone plus its depreciation.
    """
    if not state.has_capital_goods:
        return None
    r = float(state.finance.interest_rate)
    return np.where(capital_ops(state), r + state.depreciation_rate, 1.0)


def unit_prices(state: StackState, last_price: np.ndarray, layer_price: np.ndarray) -> np.ndarray:
    """Per operation, what one unit of its capacity cost last round (capital goods only).

    ``a_l`` times the mean price of the layer below (``layer_price``, per layer: the
    quantity-weighted mean of its sales; before any sale, the mean of its prices).
    """
    k = state.layer_of
    below = np.maximum(k - 1, 0)
    out = state.input_coefficient[k] * layer_price[below]
    return np.where(capital_ops(state), out, 0.0)


def install(state: StackState, clearing: Clearing) -> np.ndarray:
    """Ship this round's capital goods into the buyers' pipelines; return units per op.

    Units received by a buyer are what its sellers and its own operation below delivered,
    over ``a_l``; they come online after the layer's install lead time. Their cost
    (``clearing.capex``) joins the buyer's book capital after the round's payout (they
    depreciate from the next round).
    """
    st = state
    # (not an operation that closed this round: a failed firm's goods went with it)
    mask = capital_ops(st) & st.active
    n = st.n_ops
    received = clearing.flow.sum(axis=1)[:n] + clearing.self_supply[:n]
    units = np.where(mask, received / st.input_coefficient[st.layer_of], 0.0)
    lead = st.install_lead_time[st.layer_of]
    for o in np.flatnonzero(units > _EPS).tolist():
        st.pipeline[o, int(lead[o]) - 1] += units[o]
    st.capital += np.where(mask, clearing.capex[:n], 0.0)
    return units


def age(state: StackState, depreciation: np.ndarray) -> None:
    """End of round: retire installed units, depreciate the book, bring arrivals online.

    ``depreciation`` is this round's wear per operation (book value times rate, charged
    in the payout; write-downs have left the book already); in a capital-goods layer it
    leaves the book, because the units it wore out are not replaced unless ordered again.
    """
    st = state
    mask = capital_ops(st) & st.active
    if not mask.any():
        return
    st.capacity[mask] *= 1.0 - st.depreciation_rate[mask]
    st.capital[mask] = np.maximum(st.capital[mask] - depreciation[mask], 0.0)
    arriving = st.pipeline[:, 0].copy()
    st.pipeline[:, :-1] = st.pipeline[:, 1:]
    st.pipeline[:, -1] = 0.0
    st.capacity[mask] += arriving[mask]


def pipeline_units(state: StackState) -> np.ndarray:
    """Per operation, capacity shipped and not yet online."""
    return state.pipeline.sum(axis=1)
