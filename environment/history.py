"""Per-round records as arrays (not per-agent dictionaries).

Each round appends one row per operation and per firm; operations added by integration
extend the rows (earlier rounds read as zeros for them). Per-layer aggregates are kept
incrementally so that the DataCollector's reporters cost a lookup, not a recomputation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from stackgame.environment.jit import compiled
from stackgame.environment.market import Clearing

if TYPE_CHECKING:
    from stackgame.environment.payouts import Payout
    from stackgame.environment.state import StackState

OP_COLUMNS = (
    "price",
    "quantity",
    "capacity",
    "revenue",
    "internal_revenue",
    "input_cost",
    "variable_cost",
    "gross_profit",
    "depreciation",
    "fixed_cost",
    "fines",
    "operating_profit",
    "markup",
    "posture",
    "capex",
)
FIRM_COLUMNS = ("profit", "value", "stake_income", "cash", "revenue", "gross_profit")
ROUND_COLUMNS = ("final_spend", "infrastructure", "lost_demand", "outside_share", "market_size")
FINANCE_COLUMNS = ("interest", "borrowed", "equity", "repaid", "debt")
_FINANCE_ROW = dict(zip(FINANCE_COLUMNS, (0, 1, 2, 3, 8), strict=True))
"""Each of ``FINANCE_COLUMNS``' row in the round's financing block (pay_and_finance_kernel's)."""


class History:
    """What happened, round by round.

    Attributes
    ----------
    op_rows
        Per round, a dict of per-operation arrays (``OP_COLUMNS``).
    firm_rows
        Per round, a dict of per-firm arrays (``FIRM_COLUMNS``).
    round_rows
        Per round, a dict of scalars (``ROUND_COLUMNS``; with the finance section on,
        also ``financing`` and ``interest``).
    layer_rows
        Per round, per-layer aggregates: revenue, value added, gross and operating profit,
        quantity, HHI.
    finance_rows
        Per round, per-firm financing (``FINANCE_COLUMNS``); empty when the scenario does
        not enable finance.
    """

    def __init__(self, state: StackState) -> None:
        self.n_layers = state.n_layers
        self.layer_names = list(state.layer_names)
        self.op_rows: list[dict[str, np.ndarray]] = []
        self.firm_rows: list[dict[str, np.ndarray]] = []
        self.round_rows: list[dict[str, float]] = []
        self.layer_rows: list[dict[str, np.ndarray]] = []
        # each round's financing block as pay_and_finance_kernel filled it, and the rows
        # laid out from them so far (finance_rows lays out the rest when read)
        self._finance_blocks: list[np.ndarray] = []
        self._finance_rows: list[dict[str, np.ndarray]] = []
        self.op_firm: list[np.ndarray] = []
        self.op_layer: list[np.ndarray] = []
        self.cum_layer_profit = np.zeros(self.n_layers)
        # the cumulative payments (:attr:`cum_payments`): a dense base, and the entries at
        # the clearing's pairs held per pair while the pairs stay the same (``_pair_cum``,
        # written back into the base when read or when the pairs change)
        self._cum: np.ndarray = np.zeros((state.n_ops, state.n_ops))
        self._pairs: np.ndarray | None = None
        self._pair_cum: np.ndarray = np.zeros(0)
        self._added: object | None = None  # (the flows whose payments are in: payments_into)
        self._cum_zero = True  # (nothing written into the base yet, nor handed out)
        self._assignment_version = -1
        self._assignment: tuple[np.ndarray, np.ndarray] = (state.firm_of, state.layer_of)

    def __len__(self) -> int:
        return len(self.round_rows)

    def append(
        self,
        round_: int,
        state: StackState,
        clearing: Clearing,
        payout: Payout,
        markup: np.ndarray,
        posture: np.ndarray,
        capacity: np.ndarray,
        internal_revenue: np.ndarray,
        layers: dict[str, np.ndarray],
        market_size: float | None = None,
        jit: bool | None = None,
    ) -> None:
        """Record one round.

        ``layers`` are the round's per-layer sums
        (:func:`stackgame.environment.payouts.layer_totals`); ``market_size`` is the one the
        round cleared at; ``jit`` as in :func:`stackgame.environment.jit.compiled` (the
        cumulative payments' kernel).
        """
        self.op_rows.append(
            {
                "price": clearing.price,
                "quantity": clearing.quantity,
                "capacity": capacity,
                "revenue": clearing.revenue,
                "internal_revenue": internal_revenue,
                "input_cost": clearing.input_cost,
                "variable_cost": clearing.variable_cost,
                "gross_profit": payout.gross_profit,
                "depreciation": payout.depreciation,
                "fixed_cost": payout.fixed_cost,
                "fines": payout.fines,
                "operating_profit": payout.operating_profit,
                "markup": markup,
                "posture": posture,
                # (a clearing built by hand may leave capex empty: nothing bought)
                "capex": clearing.capex
                if clearing.capex.shape == clearing.price.shape
                else np.zeros_like(clearing.price),
            }
        )
        # the assignment changes only with the structure (state.version): share one copy
        if self._assignment_version != state.version or not self.op_firm:
            self._assignment = (state.firm_of.copy(), state.layer_of.copy())
            self._assignment_version = state.version
        self.op_firm.append(self._assignment[0])
        self.op_layer.append(self._assignment[1])
        self.firm_rows.append(
            {
                "profit": payout.firm_profit,
                "value": payout.firm_value,
                "stake_income": payout.stake_income,
                "cash": state.cash.copy(),
                "revenue": payout.firm_revenue,
                "gross_profit": payout.firm_gross,
            }
        )
        self.round_rows.append(
            {
                "final_spend": clearing.final_spend,
                # (a hand-built clearing may not carry it)
                "infrastructure": getattr(clearing, "infrastructure", 0.0),
                "lost_demand": clearing.lost_demand,
                "outside_share": clearing.outside_share,
                "market_size": float(
                    state.demand.market_size if market_size is None else market_size
                ),
            }
        )
        self.layer_rows.append(layers)
        self.cum_layer_profit += layers["operating_profit"]
        if self._added is not None and self._added is clearing.flows:
            self._added = None  # (the settlement added this round's payments: payments_into)
            return
        self._added = None
        cum = self.payments_into(clearing, pending=False)
        if cum is not None:
            flows = clearing.flows
            compiled("add_pair_values", jit, work=flows.values.shape[0] / 4)(
                cum, flows.pairs[1], flows.values, clearing.price
            )
            return
        m = clearing.flows.n if type(clearing) is Clearing else clearing.flow.shape[0]
        self._write_back()
        self._cum_zero = False
        if m == self._cum.shape[0]:
            np.add(self._cum, clearing.payments, out=self._cum)
        else:
            self._cum[:m, :m] += clearing.payments

    def payments_into(self, clearing: Clearing, pending: bool = True) -> np.ndarray | None:
        """The cumulative payments at ``clearing``'s pairs, for its payments to be added to.

        ``None`` when they are not held per pair (a clearing built by hand: :meth:`append`
        adds its dense payments). With ``pending`` the caller adds this round's payments
        (``flow x price`` per pair, :func:`~stackgame.environment.round_kernel.add_pair_values`'
        roundings: the settlement does, in its pass over the pairs) before :meth:`append`
        records ``clearing``, which then adds none.
        """
        engine = type(clearing) is Clearing  # (its payments are flow x price, per pair)
        m = clearing.flows.n if engine else clearing.flow.shape[0]
        if self._cum.shape[0] < m:
            self._write_back()
            grown = np.zeros((m, m))
            k = self._cum.shape[0]
            grown[:k, :k] = self._cum
            self._cum = grown
        if not (engine and clearing.price.dtype == np.float64):
            return None
        pairs = clearing.flows.pairs  # (the pairs that could trade only)
        if pairs is not self._pairs and not (
            self._pairs is not None
            and pairs.shape == self._pairs.shape
            and np.array_equal(pairs, self._pairs)
        ):
            self._write_back()
            # (a base still all zeros gives zeros: no gather from 8 MB untouched at
            # 1,000 firms, ~1.5 ms in the first round)
            self._pair_cum = (
                np.zeros(pairs.shape[1]) if self._cum_zero else self._cum[pairs[0], pairs[1]]
            )
        self._pairs = pairs
        if pending:
            self._added = clearing.flows
        return self._pair_cum

    def _lay_out(self) -> None:
        """Write the entries held per pair into the dense base (still held per pair)."""
        if self._pairs is not None:
            self._cum[self._pairs[0], self._pairs[1]] = self._pair_cum
            self._cum_zero = False

    def _write_back(self) -> None:
        """Write the entries held per pair into the dense base, and hold none."""
        self._lay_out()
        self._pairs = None

    @property
    def cum_payments(self) -> np.ndarray:
        """``[n_ops, n_ops]``: dollars paid by buyer ``b`` to seller ``s`` over the run so far.

        Market payments at market prices (flow x price each round). While the clearing's
        pairs stay the same the entries there are added per pair (at 1,000 firms of the
        all-pairs stack a scattered add into this 10 MB matrix cost about 0.8 ms a round);
        the matrix is laid out here, when read (the same additions, so the same bits).
        Read-only: it is the history's own array.
        """
        self._lay_out()
        self._cum_zero = False  # (handed out: read-only, but assume nothing)
        return self._cum

    def append_finance(self, rows: np.ndarray, financing: float, interest: float) -> None:
        """Record the last appended round's financing, per firm, and each firm's debt.

        ``rows``: the round's own ``[10, n_firms]`` block of
        :func:`~stackgame.environment.buildout_round.pay_and_finance_kernel` (interest,
        borrowed, equity, repaid in rows 0-3, as :func:`~stackgame.environment.finance.
        finance_kernel`; the debt after the round in row 8), kept as it is (views, no
        copies: the block is made anew each round and nothing writes to it after).
        The round's row gains the totals ``financing`` (borrowed + equity - repaid,
        summed over firms) and ``interest``.
        """
        self._finance_blocks.append(rows)  # (laid out as finance_rows when read)
        last = self.round_rows[-1]
        last["financing"] = float(financing)
        last["interest"] = float(interest)

    @property
    def finance_rows(self) -> list[dict[str, np.ndarray]]:
        """Per round, per-firm financing: ``FINANCE_COLUMNS``, views of the round's block.

        Laid out when read, from the blocks :meth:`append_finance` kept (the round pays
        one append, not five views and a dict); the same list, grown, at each read.
        """
        rows = self._finance_rows
        for block in self._finance_blocks[len(rows) :]:
            rows.append({column: block[k] for column, k in _FINANCE_ROW.items()})
        return rows

    def finance_matrix(self, column: str) -> np.ndarray:
        """``[rounds, n_firms]`` array of one financing column (no rows: finance off)."""
        k = _FINANCE_ROW[column]
        return np.array([block[k] for block in self._finance_blocks])

    # -- matrices ------------------------------------------------------------------------------
    def ops_matrix(self, column: str) -> np.ndarray:
        """``[rounds, n_ops]`` array of one operation column (zeros before an op existed)."""
        if not self.op_rows:
            return np.zeros((0, 0))
        rows = [r[column] for r in self.op_rows]
        widths = {x.shape[0] for x in rows}
        if len(widths) == 1:  # no operation added during the run: one copy, in C
            return np.array(rows, dtype=float)
        out = np.zeros((len(rows), max(widths)))
        for t, x in enumerate(rows):
            out[t, : x.shape[0]] = x
        return out

    def per_round_bincount(
        self, index: list[np.ndarray], weights: list[np.ndarray], size: int
    ) -> np.ndarray:
        """``[rounds, size]``: row ``t`` is ``np.bincount(index[t][:m], weights[t], size)``.

        ``m`` is the length of ``weights[t]``; ``index`` is :attr:`op_firm` or
        :attr:`op_layer`. One :func:`numpy.bincount` over every round (each bin
        ``(t, k)`` gathers its weights in the same order as the round's own call, so the
        numbers are the same to the bit).
        """
        n = len(weights)
        if n == 0:
            return np.zeros((0, size))
        lengths = np.array([w.shape[0] for w in weights])
        if (lengths == lengths[0]).all() and all(i.shape[0] == lengths[0] for i in index):
            flat = np.array(index, dtype=np.int64)
            flat += np.arange(n, dtype=np.int64)[:, None] * size
            values = np.array(weights, dtype=float)
            return np.bincount(flat.ravel(), weights=values.ravel(), minlength=n * size).reshape(
                n, size
            )
        return np.array(
            [
                np.bincount(i[: w.shape[0]], weights=w, minlength=size)
                for i, w in zip(index, weights, strict=True)
            ]
        ).reshape(n, size)

    def firms_matrix(self, column: str) -> np.ndarray:
        """``[rounds, n_firms]`` array of one firm column."""
        return np.array([r[column] for r in self.firm_rows])

    def layers_matrix(self, column: str) -> np.ndarray:
        """``[rounds, n_layers]`` array of one layer aggregate."""
        return np.array([r[column] for r in self.layer_rows])

    def rounds_vector(self, column: str) -> np.ndarray:
        """Per-round scalar series."""
        return np.array([r[column] for r in self.round_rows])

    # -- reporters (cheap: read the last row or the running sums) ---------------------------------
    def layer_value_share(self, layer: str) -> float:
        """Cumulative share of stack operating profit captured by ``layer`` so far.

        Over the size of the total when the stack has lost money so far (the summary's
        rule: each share keeps the sign of its profit).
        """
        total = abs(float(self.cum_layer_profit.sum()))
        k = self.layer_names.index(layer)
        return float(self.cum_layer_profit[k] / total) if total > 1e-12 else 0.0

    def layer_margin(self, layer: str, kind: str) -> float:
        """Last round's gross or operating margin of ``layer`` (on its external revenue)."""
        if not self.layer_rows:
            return 0.0
        row = self.layer_rows[-1]
        k = self.layer_names.index(layer)
        rev = row["external_revenue"][k]
        num = row["gross_profit" if kind == "gross" else "operating_profit"][k]
        return float(num / rev) if rev > 1e-12 else 0.0

    def layer_hhi(self, layer: str) -> float:
        """Last round's HHI of ``layer``."""
        if not self.layer_rows:
            return 0.0
        return float(self.layer_rows[-1]["hhi"][self.layer_names.index(layer)])
