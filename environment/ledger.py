"""The ledger: each round's settlement and the charges waiting for the next payout.

And the guard that stops a run before a runaway number reaches the results.
"""

from __future__ import annotations

import numpy as np
from stackgame.environment.buildout import capital_ops, capital_share
from stackgame.environment.jit import compiled
from stackgame.environment.payouts import Settlement, settle
from stackgame.environment.scenario import ScenarioError
from stackgame.environment.state import RoundFlows, StackState

_NONE = np.zeros(0)
_NO_MASK = np.zeros(0, dtype=np.bool_)

RUNAWAY = 1e200
"""Magnitude beyond which a recorded quantity counts as a runaway.

No calibrated quantity comes near it (money is in billions of dollars, prices in dollars
per unit); beyond it, products and sums over a run (revenue = price x quantity, totals over
thousands of rounds) overflow double precision (about 1.8e308) into ``inf`` and ``nan``.
"""


class RunawayError(ScenarioError):
    """A run whose numbers ran away (a quantity not finite, or beyond :data:`RUNAWAY`).

    Raised by the record step at the first round where it happens, before anything of that
    round is recorded, so that nothing non-finite reaches a summary, table or file. A
    ``ScenarioError`` (a ``ValueError``): the command line prints its one line, exit 2.
    """


class Ledger:
    """The money side of the stack, round by round.

    Attributes
    ----------
    settlement
        The last round's :class:`~stackgame.environment.payouts.Settlement` (``None``
        before the first payout).
    fines, writedown
        Per operation, charges waiting for the next payout: antitrust fines and
        new-generation write-downs.
    """

    def __init__(self, n_ops: int) -> None:
        self.settlement: Settlement | None = None
        self.fines = np.zeros(n_ops)
        self.writedown = np.zeros(n_ops)

    def pay_out(
        self,
        state: StackState,
        flows: RoundFlows,
        jit: bool | None,
        training: dict[str, np.ndarray] | None = None,
        buildout_cash: bool = True,
        payments: np.ndarray | None = None,
    ) -> Settlement:
        """Margins, depreciation, stakes and cash (:func:`payouts.settle`); cash moves.

        ``training``: the round's training row (:meth:`TrainingBook.settle
        <stackgame.environment.training.TrainingBook.settle>`): its ``charge`` is a
        non-cash charge beside the write-downs (``docs/MODEL.md`` 20.4), and its ``spend``
        leaves the firm's cash now. ``buildout_cash=False`` leaves the buildout's cash
        (:func:`~stackgame.environment.buildout.round_cash_kernel`: training and capex
        paid, the wear given back) to the caller, which moves it next (the round's
        financing runs it first, in the same call:
        :func:`~stackgame.environment.buildout_round.pay_and_finance_kernel`).
        ``payments``: the cumulative payments at the clearing's pairs
        (:meth:`History.payments_into <stackgame.environment.history.History.payments_into>`),
        to which the settlement adds the round's, or ``None``.
        """
        st = state
        c = flows.clearing
        writedown = self.writedown
        if training is not None:
            writedown = writedown + training["charge"]
        settled = settle(
            st.layer_of, st.firm_of, st.n_layers, st.n_firms, c.revenue, c.input_cost,
            c.variable_cost, c.internal_revenue, c.quantity, flows.capacity, st.capital,
            st.depreciation_rate, st.fixed_cost, writedown, self.fines,
            st.stakes if st.stakes_held else None,
            flows.markup, st.restrain_markup, st.active, c.unit_input_cost, c.flows, jit=jit,
            wear_in_gross=capital_share(st) if st.has_capital_goods else None,
            payments=None if payments is None else (payments, c.price),
        )  # fmt: skip
        # a write-down is a non-cash charge: it cuts profit and book capital, not cash
        st.cash += settled.payout.firm_value + settled.firm_writedown
        # training is paid when the compute is used; capital goods are paid when they
        # ship (capex), and their wear is a non-cash charge (elsewhere maintenance capex
        # equal to depreciation keeps the book): one call for both
        if buildout_cash and (training is not None or st.has_capital_goods):
            kernel = compiled("round_cash_kernel", jit, module="buildout", work=st.n_ops / 4)
            kernel(
                st.cash, st.firm_of, _NONE if training is None else training["spend"],
                capital_ops(st) if st.has_capital_goods else _NO_MASK,
                settled.payout.depreciation, self.writedown, c.capex,
            )  # fmt: skip
        self.settlement = settled
        return settled

    def open_charges(self, n_ops: int) -> None:
        """Start the next payout's charges from zero (the last ones have been paid)."""
        self.fines = np.zeros(n_ops)
        self.writedown = np.zeros(n_ops)

    def grow(self, n_ops: int) -> None:
        """Extend the charges to operations added since (with nothing charged)."""
        for name in ("fines", "writedown"):
            arr = getattr(self, name)
            if arr.shape[0] < n_ops:
                setattr(self, name, np.concatenate([arr, np.zeros(n_ops - arr.shape[0])]))


def check_finite(
    round_: int, quantities: dict[str, np.ndarray], scalars: dict[str, float] | None = None
) -> None:
    """Raise :class:`RunawayError` if any quantity is not finite or beyond :data:`RUNAWAY`.

    ``quantities`` names what is checked (``"capacity"``, ``"cash"``, ...), each a 1-d
    float array; ``scalars`` the same for single numbers (``"market size"``). The message
    names the round, the first quantity that ran away, its size, and the likely cause:
    growth compounding over the horizon (demand and capacity grow geometrically; ``1.08``
    a round for 9,000 rounds is ``1e300``).
    """
    numbers = scalars or {}
    for x in numbers.values():
        if not abs(x) <= RUNAWAY:  # (True for nan)
            break
    else:
        # one pass over the arrays (a few microseconds a round; max and min are nan if
        # any entry is, and never overflow)
        values = np.concatenate(tuple(quantities.values()))
        if values.max() <= RUNAWAY and values.min() >= -RUNAWAY:
            return
    named: dict[str, np.ndarray | float] = {**numbers, **quantities}
    for name, value in named.items():
        peak = float(np.max(np.abs(value)))
        if peak <= RUNAWAY:
            continue
        size = "not finite" if not np.isfinite(peak) else f"{peak:.3g}"
        raise RunawayError(
            f"round {round_}: {name} ran away ({size}, beyond {RUNAWAY:g}); likely cause: "
            "growth compounding over the horizon (demand.growth or capacity_growth per "
            "round, over this many rounds); shorten the run or set the growth to 0"
        )
