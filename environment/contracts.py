"""Supply contracts: multi-round agreements between two firms (``docs/MODEL.md`` 17).

A contract fixes, for ``duration`` rounds from ``start``, a quantity a round that the
buyer's orders send to the seller first (the clearing's contracted units), the price
those units are paid at (fixed, or the seller's market price times ``1 + premium``), a
take-or-pay share paid whether the units are taken or not, and a prepayment paid at the
start and credited against the payments that follow. They lock prices (TSMC's long-term
agreements with prepayments, trigger 2 of ``000_e3319be9a08c4b37.txt``; "the labs that
secured supply in 2025 will determine inference pricing", ``002_1456f2d9411f9331.txt``)
and obligations (in a bust the buyer pays for what it no longer takes: "contracts lock
obligations in", ``002``).

:class:`ContractBook` holds the contracts as parallel arrays, by firm: each round a
contract's operations are looked up again (:meth:`StackState.op
<stackgame.environment.state.StackState.op>`), so a contract follows integration and
acquisition, and one whose buyer or seller has no active operation in its layer is not in
force. The money rule is one plain-loop kernel, :func:`settle_kernel`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from stackgame.environment.buildout import capital_ops, structure_key
from stackgame.environment.jit import compiled, jitable
from stackgame.environment.kept import bytes_key, keep
from stackgame.environment.scenario import ContractSpec, Scenario
from stackgame.environment.state import StackState

if TYPE_CHECKING:
    from stackgame.environment.market import Clearing
    from stackgame.strategies.base import Action, ContractOffer

FloatArray = NDArray[np.float64]
Log = Callable[[str, str, str, int], None]
"""``log(kind, firm, text, round)``: where the book reports what it signs and ends."""


class _Terms:
    """A book's terms as lists, and each contract's operations on one structure version.

    ``s_ops``: the seller's active operation in the contract's layer, ``b_ops``: the
    buyer's in the layer above (``-1``: none), also as arrays ``s_op`` and ``b_op``;
    ``price`` the fixed prices (0 where indexed), ``indexed`` each indexed contract with
    ``1 + premium``; ``bounds`` the rounds where a contract starts or ends. ``ints`` and
    ``floats``: the terms the settlement reads, packed as the fused settlement takes
    them (:data:`TERM_INTS`, :data:`TERM_FLOATS`; set by :meth:`ContractBook._terms_now`);
    ``settle`` those two with the book's state arrays and the capital-goods mask
    (:meth:`ContractBook.settle_args`). ``resolved``: the contracts in force between two
    of the ``bounds`` (by the index of the later one, as :meth:`ContractBook._resolve`
    finds it), each a function of these terms alone, so shared with every book that
    shares them (:data:`_TERMS`). ``edits``, ``top`` and ``args``: the book's edit count
    and the top layer they were made on, and the arguments after the version.
    """

    __slots__ = (
        "args", "b_op", "b_ops", "bounds", "edits", "end", "floats", "indexed", "ints", "price",
        "quantity", "resolved", "s_op", "s_ops", "seller", "settle", "start", "top", "version",
    )  # fmt: skip

    def __init__(
        self,
        version: int,
        start: list[int],
        end: list[int],
        quantity: list[float],
        seller: list[int],
        s_ops: list[int],
        b_ops: list[int],
        price: list[float],
        indexed: list[tuple[int, float]],
        ints: NDArray[np.int64],
        floats: FloatArray,
        resolved: dict[int, _Resolved],
        bounds: list[int],
        s_op: NDArray[np.int64],
        b_op: NDArray[np.int64],
    ) -> None:
        # (everything after the version is made once, by ContractBook._lists, and shared
        # by the books with the same terms on the same structure: a book's first read on a
        # new structure version only lays it out here)
        self.version = version
        self.start = start
        self.end = end
        self.quantity = quantity
        self.seller = seller
        self.s_ops = s_ops
        self.b_ops = b_ops
        self.price = price
        self.indexed = indexed
        self.bounds = bounds
        self.ints = ints
        self.floats = floats
        self.s_op = s_op
        self.b_op = b_op
        self.settle: tuple[np.ndarray, ...] = ()
        self.resolved = resolved
        # what they were made from: the book's edits and the top layer (set by the book),
        # and the arguments after the version (ContractBook._terms_now renews them)
        self.edits = -1
        self.top = -1
        self.args: tuple[Any, ...] = ()


TERM_INTS = ("start", "end", "s_op", "b_op", "buyer", "seller")
"""Rows of the contracts' integer terms as the fused settlement reads them
(:func:`~stackgame.environment.buildout_round.settle_round_kernel`): first round, round
after the last, seller's and buyer's operations on the structure now, buyer and seller."""
TERM_FLOATS = ("quantity", "price", "premium", "take_or_pay", "prepayment")
"""Rows of the contracts' fixed numeric terms, likewise."""


_TERMS_OPS = 128
"""Terms on structures of at most this many operations are kept across books
(:meth:`ContractBook._terms_now`)."""
_TERMS_CONTRACTS = 256
"""... of books of at most this many contracts."""
_TERMS_SIZE = 64
"""How many are kept at most (the oldest goes first)."""
_TERMS: dict[tuple[Any, ...], tuple[Any, ...]] = {}
""":class:`_Terms`' arguments after the version, by everything they are made from (shared,
read only)."""

_RESOLVED_KEPT = 64
"""How many resolutions a book's terms keep (:attr:`_Terms.resolved`)."""

_FAR = 1 << 62
"""A round beyond any run's (the open ends of a resolution's span)."""
_NO_SPAN = (0, 0, -1, -1)
"""No round: the span of no resolution (:meth:`ContractBook._resolve`)."""

_NONE_IN_FORCE = np.zeros((3, 0))
"""The clearing's contracts in force when none is (the book returns ``None`` then)."""


class _Resolved:
    """The contracts in force in a round: operations per contract (``-1``: not in force).

    ``live`` and ``s_live`` as lists, ``b_op`` and ``s_op`` as arrays; and, once asked
    for, the clearing's ``columns`` and the units ``sold`` per selling operation.
    """

    __slots__ = ("b_op", "columns", "live", "s_live", "s_op", "sold", "sold_array")

    def __init__(self, live: list[int], s_live: list[int]) -> None:
        self.live = live
        self.s_live = s_live
        self.b_op = np.array(live, dtype=np.int64)
        self.s_op = np.array(s_live, dtype=np.int64)
        self.columns: np.ndarray | None = None
        self.sold: dict[int, float] | None = None
        self.sold_array: np.ndarray | None = None


@jitable
def settle_kernel(
    round_: int,
    b_op: NDArray[np.int64],
    s_op: NDArray[np.int64],
    buyer: NDArray[np.int64],
    seller: NDArray[np.int64],
    quantity: FloatArray,
    price: FloatArray,
    indexed: NDArray[np.bool_],
    premium: FloatArray,
    take_or_pay: FloatArray,
    end: NDArray[np.int64],
    prepayment: FloatArray,
    prepaid: NDArray[np.bool_],
    credit: FloatArray,
    capital_op: NDArray[np.bool_],
    flow: FloatArray,
    market_price: FloatArray,
    revenue: FloatArray,
    input_cost: FloatArray,
    capex: FloatArray,
    gross: FloatArray,
    cash: FloatArray,
) -> FloatArray:
    """Settle the round's contracts: the clearing's money and the prepayments' cash.

    Contract ``c`` is in force when ``b_op[c]`` and ``s_op[c]`` (its buyer's and seller's
    operations) are both ``>= 0``; the caller has checked its rounds. For each, with
    ``q`` its quantity, ``p_m`` the seller's market price and ``p_c`` the contract price
    (``price[c]``, or ``p_m (1 + premium[c])`` when ``indexed[c]``)::

        delivered = min(q, flow[b, s])
        paid      = max(delivered, take_or_pay q)
        payment   = p_c paid

    The seller's ``revenue`` (and ``gross``) rises by ``payment - p_m delivered``: the
    contract price replaces the market price on the delivered units, and the take-or-pay
    shortfall ``paid - delivered`` is paid for nothing. The buyer's ``input_cost`` rises
    by the same (``gross`` falls); where the buyer's layer buys capital goods
    (``capital_op[b]``) the price part ``(p_c - p_m) delivered`` is ``capex`` instead and
    only the shortfall, which installs nothing, is a cost.

    Cash: in the first round a contract is in force its ``prepayment`` moves from the
    buyer's ``cash`` to the seller's and becomes its ``credit``; each payment is drawn
    from the credit first, and the amount drawn moves back (the payout moves cash with
    profit, and that part was paid in advance). Whatever credit is left after the last
    round (``end[c] - 1``) is refunded. So over a contract the cash moved equals the
    payments booked.

    Returns
    -------
    ``[4, m]``: per contract, units delivered, units paid, payment and contract price (0
    where not in force).
    """
    m = b_op.shape[0]
    out = np.zeros((4, m))
    for c in range(m):
        b = b_op[c]
        s = s_op[c]
        if b >= 0 and s >= 0:
            if not prepaid[c]:
                cash[buyer[c]] -= prepayment[c]
                cash[seller[c]] += prepayment[c]
                credit[c] += prepayment[c]
                prepaid[c] = True
            q = quantity[c]
            delivered = min(q, flow[b, s])
            p_m = market_price[s]
            p_c = p_m * (1.0 + premium[c]) if indexed[c] else price[c]
            paid = max(delivered, take_or_pay[c] * q)
            payment = p_c * paid
            change = payment - p_m * delivered
            revenue[s] += change
            gross[s] += change
            if capital_op[b]:
                shortfall = p_c * (paid - delivered)
                capex[b] += change - shortfall
                input_cost[b] += shortfall
                gross[b] -= shortfall
            else:
                input_cost[b] += change
                gross[b] -= change
            draw = min(credit[c], payment)
            credit[c] -= draw
            cash[buyer[c]] += draw
            cash[seller[c]] -= draw
            out[0, c] = delivered
            out[1, c] = paid
            out[2, c] = payment
            out[3, c] = p_c
        if round_ == end[c] - 1 and credit[c] > 0.0:
            cash[buyer[c]] += credit[c]
            cash[seller[c]] -= credit[c]
            credit[c] = 0.0
    return out


@jitable
def settle_round_kernel(
    round_: int,
    b_op: NDArray[np.int64],
    s_op: NDArray[np.int64],
    buyer: NDArray[np.int64],
    seller: NDArray[np.int64],
    quantity: FloatArray,
    price: FloatArray,
    indexed: NDArray[np.bool_],
    premium: FloatArray,
    take_or_pay: FloatArray,
    end: NDArray[np.int64],
    prepayment: FloatArray,
    prepaid: NDArray[np.bool_],
    credit: FloatArray,
    capital_op: NDArray[np.bool_],
    flow: FloatArray,
    market_price: FloatArray,
    revenue: FloatArray,
    input_cost: FloatArray,
    capex: FloatArray,
    gross: FloatArray,
    cash: FloatArray,
    last_price: FloatArray,
) -> FloatArray:
    """:func:`settle_kernel`, then each contract in force keeps its price in ``last_price``."""
    out = settle_kernel(
        round_, b_op, s_op, buyer, seller, quantity, price, indexed, premium, take_or_pay, end,
        prepayment, prepaid, credit, capital_op, flow, market_price, revenue, input_cost,
        capex, gross, cash,
    )  # fmt: skip
    for c in range(b_op.shape[0]):
        if b_op[c] >= 0:
            last_price[c] = out[3, c]
    return out


@jitable
def backlog_kernel(
    r: int,
    start: NDArray[np.int64],
    end: NDArray[np.int64],
    quantity: FloatArray,
    seller: NDArray[np.int64],
    price: FloatArray,
    indexed: NDArray[np.bool_],
    premium: FloatArray,
    s_op: NDArray[np.int64],
    last_price: FloatArray,
    prices: FloatArray,
    n_firms: int,
) -> FloatArray:
    """Per firm, as seller, the contracted value still to come (:meth:`ContractBook.backlog`).

    Row 0 counts the rounds from ``r``, row 1 from ``r + 1``: ``max(0, end - max(start,
    r)) q p_c`` summed per seller in the contracts' order, ``p_c`` the fixed price, or
    indexed at the seller's operation's ``prices`` (``s_op``; its last price where it
    has none).
    """
    out = np.zeros((2, n_firms))
    n = prices.shape[0]
    for c in range(start.shape[0]):
        p = price[c]
        if indexed[c]:
            s = s_op[c]
            p = prices[s] * (1.0 + premium[c]) if 0 <= s < n else last_price[c]
        q = quantity[c]
        f = seller[c]
        out[0, f] += max(0, end[c] - max(start[c], r)) * q * p
        out[1, f] += max(0, end[c] - max(start[c], r + 1)) * q * p
    return out


class ContractBook:
    """Every contract of a run, as parallel arrays (one entry per contract).

    Parameters
    ----------
    scenario
        Its ``contracts`` are the book's first entries (names resolved by the scenario's
        validation).
    state
        The run's state (firm and layer indices).
    log
        Called with ``(kind, firm, text, round)`` for each contract signed, refused,
        transferred or ended (the model's event log); ``None``: not reported.

    Attributes
    ----------
    names
        Contract names.
    buyer, seller, layer
        Firm indices of buyer and seller, and the seller's layer index.
    quantity, price, indexed, premium, take_or_pay, prepayment
        As in :class:`~stackgame.environment.scenario.ContractSpec` (``price`` is 0 where
        ``indexed``).
    start, end
        First round in force and the round after the last (``start + duration``, earlier
        if ended by :meth:`terminate`).
    prepaid, credit
        Whether the prepayment has been paid; the prepayment not yet drawn.
    last_price
        The contract price of the last round it was settled (0 before).
    last
        The last settlement, ``[4, m]`` (:func:`settle_kernel`), or ``None``.
    next_round
        The round after the last one settled: the first round still to come.
    """

    def __init__(self, scenario: Scenario, state: StackState, log: Log | None = None) -> None:
        self._log = log
        self._firm_names = list(state.firm_names)
        self.names: list[str] = []
        self.buyer = np.zeros(0, dtype=np.int64)
        self.seller = np.zeros(0, dtype=np.int64)
        self.layer = np.zeros(0, dtype=np.int64)
        self.start = np.zeros(0, dtype=np.int64)
        self.end = np.zeros(0, dtype=np.int64)
        self.quantity = np.zeros(0)
        self.price = np.zeros(0)
        self.premium = np.zeros(0)
        self.take_or_pay = np.zeros(0)
        self.prepayment = np.zeros(0)
        self.credit = np.zeros(0)
        self.last_price = np.zeros(0)
        self.indexed = np.zeros(0, dtype=np.bool_)
        self.prepaid = np.zeros(0, dtype=np.bool_)
        self.last: FloatArray | None = None
        self.next_round = 0
        # the contracts' operations and terms as lists, for (structure version, edits)
        self._edits = 0
        self._terms: _Terms | None = None
        # the last terms made, kept through an edit (their edit count tells)
        self._last_terms: _Terms | None = None
        # the last resolution, which holds over the span below
        self._resolved: _Resolved | None = None
        # where it holds: (first round, round after the last, structure version, edits)
        self._span = _NO_SPAN
        # the backlog counted from the round after the last asked, with the prices it read
        self._next_backlog: tuple[tuple[int, int, int], np.ndarray, np.ndarray] | None = None
        for spec in scenario.contracts:
            self.add(spec, state)

    @property
    def m(self) -> int:
        """Number of contracts (in force, to come or ended)."""
        return len(self.names)

    def add(self, spec: ContractSpec, state: StackState) -> int:
        """Append a contract (names already checked); return its index."""
        st = state
        values: dict[str, float | int | bool] = {
            "buyer": st.firm_index[spec.buyer],
            "seller": st.firm_index[spec.seller],
            "layer": st.layer_index[spec.layer],
            "start": spec.start,
            "end": spec.start + spec.duration,
            "quantity": spec.quantity,
            "price": 0.0 if spec.price is None else spec.price,
            "premium": spec.premium,
            "take_or_pay": spec.take_or_pay,
            "prepayment": spec.prepayment,
            "credit": 0.0,
            "last_price": 0.0 if spec.price is None else spec.price,
            "indexed": spec.price is None,
            "prepaid": False,
        }
        for name, value in values.items():
            arr = getattr(self, name)
            setattr(self, name, np.append(arr, np.array([value], dtype=arr.dtype)))
        self.names.append(spec.name)
        self._edited()
        return self.m - 1

    def _edited(self) -> None:
        """Forget what was derived from the contracts' terms (one was added or changed)."""
        self._edits += 1
        self._terms = None
        self._resolved = None
        self._span = _NO_SPAN

    def _terms_now(self, state: StackState) -> _Terms:
        """The terms as lists, with each contract's operations on the structure now.

        Kept until a contract is added, ended or transferred, or the structure changes.
        """
        st = state
        terms = self._terms
        if terms is not None and terms.version == st.version:
            return terms
        # the same contracts (no edit since) with the same operations on the new structure
        # (a failure elsewhere: the top layer and each contract's seller's and buyer's
        # operation as they were) give the same terms: renewed for the version, without
        # the key below (~10 µs the round after a failure)
        last = self._last_terms
        top = st.n_layers - 1
        if last is not None and last.edits == self._edits and last.top == top:
            s_ops, b_ops = self._operations_now(st)
            if s_ops == last.s_ops and b_ops == last.b_ops:
                return self._made(st, last.args)
        # the same structure and terms give the same lists and arrays: a small book is kept
        # across books and models (a batch or a benchmark meets the same failure's
        # terminations and structure again and again); what is kept is never changed in
        # place (the settlement's state arrays are the book's own, added below)
        key = kept = None
        if st.n_ops <= _TERMS_OPS and self.m <= _TERMS_CONTRACTS:
            key = (structure_key(st),) + bytes_key(
                self.start, self.end, self.buyer, self.seller, self.layer, self.quantity,
                self.price, self.premium, self.take_or_pay, self.prepayment, self.indexed,
            )  # fmt: skip
            kept = _TERMS.get(key)
        if kept is None:
            kept = self._lists(st)
            if key is not None:
                keep(_TERMS, key, kept, _TERMS_SIZE)
        return self._made(st, kept)

    def _made(self, state: StackState, args: tuple[Any, ...]) -> _Terms:
        """The book's terms on the state's version, from :class:`_Terms`' other arguments."""
        st = state
        terms = _Terms(st.version, *args)
        terms.edits, terms.top, terms.args = self._edits, st.n_layers - 1, args
        terms.settle = (
            terms.ints, terms.floats, self.indexed, self.prepaid, self.credit, self.last_price,
            capital_ops(st),
        )  # fmt: skip
        self._terms = self._last_terms = terms
        return terms

    def _operations_now(self, state: StackState) -> tuple[list[int], list[int]]:
        """Per contract, its seller's and buyer's operations on the structure now (lists)."""
        st = state
        index = st.op_index()
        top = st.n_layers - 1
        seller = self.seller.tolist()
        buyer = self.buyer.tolist()
        layer = self.layer.tolist()
        s_ops = [index.get((seller[c], k), -1) for c, k in enumerate(layer)]
        b_ops = [index.get((buyer[c], k + 1), -1) if k < top else -1 for c, k in enumerate(layer)]
        return s_ops, b_ops

    def _lists(self, state: StackState) -> tuple[Any, ...]:
        """:class:`_Terms`' arguments after the version, on the structure now (fresh)."""
        st = state
        s_ops, b_ops = self._operations_now(st)
        seller = self.seller.tolist()
        premium = self.premium.tolist()
        # (the packed terms change only with an edit or the structure, which drop them: one
        # copy per edit or structure version, and the round's settlement passes two arrays
        # for eleven)
        m = self.m
        ints = np.array(
            [self.start, self.end, s_ops, b_ops, self.buyer, self.seller], dtype=np.int64
        ).reshape(len(TERM_INTS), m)
        floats = np.array(
            [self.quantity, self.price, self.premium, self.take_or_pay, self.prepayment],
            dtype=float,
        ).reshape(len(TERM_FLOATS), m)
        start, end = self.start.tolist(), self.end.tolist()
        return (
            start, end, self.quantity.tolist(), seller, s_ops, b_ops, self.price.tolist(),
            [(c, 1.0 + premium[c]) for c in np.flatnonzero(self.indexed).tolist()], ints, floats,
            {}, sorted({*start, *end}), ints[2], ints[3],  # (rows of ints: TERM_INTS)
        )  # fmt: skip

    def settle_args(self, state: StackState) -> tuple[np.ndarray, ...]:
        """What the round's settlement reads of the book and the structure, in one tuple.

        :meth:`packed`'s two arrays, the contracts' state (``indexed``, ``prepaid``,
        ``credit``, ``last_price``: the same arrays, changed in place by the settlement)
        and the capital-goods mask (:func:`~stackgame.environment.buildout.capital_ops`),
        in the order of the arguments after the round of
        :func:`~stackgame.environment.buildout_round.settle_contracts_round_kernel`; kept
        as :meth:`packed` is (every edit that replaces a state array drops it).
        """
        terms = self._terms
        if terms is not None and terms.version == state.version:
            return terms.settle
        return self._terms_now(state).settle

    def packed(self, state: StackState) -> tuple[np.ndarray, np.ndarray]:
        """The terms the settlement reads, as ``[6, m]`` integers and ``[5, m]`` floats.

        Rows :data:`TERM_INTS` and :data:`TERM_FLOATS`, the operations on the structure
        now (:meth:`operations`); kept until a contract is added, ended or transferred,
        or the structure changes. Read only.
        """
        t = self._terms_now(state)
        return t.ints, t.floats

    # -- the round ---------------------------------------------------------------------------
    def resolve(self, round_: int, state: StackState) -> tuple[np.ndarray, np.ndarray]:
        """Per contract, the buyer's and seller's operations this round (``-1``: not in force).

        In force: ``start <= round_ < end``, and both firms have an active operation, the
        seller in the contract's layer and the buyer in the layer just above.
        """
        got = self._resolve(round_, state)
        return got.b_op, got.s_op

    def _resolve(self, round_: int, state: StackState) -> _Resolved:
        """:meth:`resolve`, with what the round derives from it (kept for the round)."""
        st = state
        last = self._resolved
        span = self._span
        if (
            last is not None
            and span[0] <= round_ < span[1]
            and span[2] == st.version
            and span[3] == self._edits
        ):
            return last  # (asked again this round, or no contract started or ended since)
        t = self._terms_now(st)
        # (in force or not changes only where a contract starts or ends: the same between
        # two bounds)
        bounds = t.bounds
        i = bisect.bisect_right(bounds, round_)
        self._span = (
            bounds[i - 1] if i > 0 else -_FAR, bounds[i] if i < len(bounds) else _FAR,
            st.version, self._edits,
        )  # fmt: skip
        # (the same terms between the same bounds: the same resolution, kept with the
        # terms, which books on the same structure with the same contracts share)
        got = t.resolved.get(i)
        if got is None:
            b_ops = [
                b if s >= 0 and b >= 0 and t.start[c] <= round_ < t.end[c] else -1
                for c, (b, s) in enumerate(zip(t.b_ops, t.s_ops, strict=True))
            ]
            s_ops = [s if b >= 0 else -1 for b, s in zip(b_ops, t.s_ops, strict=True)]
            if last is not None and last.live == b_ops and last.s_live == s_ops:
                got = last  # (in force as in the last round resolved)
            else:
                got = _Resolved(b_ops, s_ops)
            if len(t.resolved) < _RESOLVED_KEPT:
                t.resolved[i] = got
        self._resolved = got
        return got

    def in_force(self, round_: int, state: StackState) -> np.ndarray | None:
        """The clearing's ``contracts`` argument: ``[3, m']`` buyer op, seller op, units.

        One column per contract in force this round; ``None`` when none is (the clearing
        then runs exactly as without contracts).
        """
        if self.m == 0:
            return None
        got = self._resolve(round_, state)
        if got.columns is None:
            live = [c for c, b in enumerate(got.live) if b >= 0]
            if live:
                q = self._terms_now(state).quantity
                got.columns = np.array(
                    [
                        [got.live[c] for c in live],
                        [got.s_live[c] for c in live],
                        [q[c] for c in live],
                    ],
                    dtype=float,
                )
            else:
                got.columns = _NONE_IN_FORCE
        return None if got.columns is _NONE_IN_FORCE else got.columns

    def settle(
        self, round_: int, state: StackState, clearing: Clearing, jit: bool | None = None
    ) -> None:
        """Settle this round's contracts on ``clearing`` (in place) and move prepayment cash.

        After the clearing, before the payout, so margins and profits include the contract
        prices: :func:`settle_kernel` changes the clearing's ``revenue``, ``input_cost``,
        ``capex`` and ``gross_profit`` and the state's ``cash``.
        """
        self.next_round = round_ + 1
        if self.m == 0:
            return
        st = state
        got = self._resolve(round_, st)
        b_op, s_op = got.b_op, got.s_op
        kernel = compiled("settle_round_kernel", jit, module="contracts", work=self.m)
        self.last = kernel(
            round_, b_op, s_op, self.buyer, self.seller, self.quantity, self.price, self.indexed,
            self.premium, self.take_or_pay, self.end, self.prepayment, self.prepaid, self.credit,
            capital_ops(st), clearing.flow, clearing.price, clearing.revenue,
            clearing.input_cost, clearing.capex, clearing.gross_profit, st.cash,
            self.last_price,
        )  # fmt: skip

    # -- what is left ------------------------------------------------------------------------
    def _remaining(self, round_: int | None) -> np.ndarray:
        """Per contract, rounds still to come from ``round_`` (default: the next round)."""
        r = self.next_round if round_ is None else round_
        return np.maximum(0, self.end - np.maximum(self.start, r))

    def _prices(self, state: StackState, prices: np.ndarray) -> np.ndarray:
        """Per contract, its price now: fixed, or indexed at the seller's ``prices``."""
        return np.array(self._price_list(state, prices), dtype=float)

    def _price_list(self, state: StackState, prices: np.ndarray) -> list[float]:
        """:meth:`_prices` as a list."""
        t = self._terms_now(state)
        out = t.price.copy()
        if t.indexed:
            s_ops = t.s_ops
            n = prices.shape[0]
            for c, factor in t.indexed:
                s = s_ops[c]
                if 0 <= s < n:
                    out[c] = float(prices[s]) * factor
                else:  # no operation to index on: the last price it was settled at
                    out[c] = float(self.last_price[c])
        return out

    def backlog(
        self,
        state: StackState,
        prices: np.ndarray,
        round_: int | None = None,
        jit: bool | None = None,
    ) -> np.ndarray:
        """Per firm, as seller, the contracted value still to come (dollars).

        ``sum over its contracts of remaining rounds x quantity x contract price``, an
        indexed price taken at the seller's current ``prices`` (per operation). Rounds are
        counted from ``round_`` (default: the round after the last settled).
        """
        if self.m == 0:  # (integer zeros, as numpy's bincount of nothing gives)
            return np.zeros(state.n_firms, dtype=np.int64)
        r = self.next_round if round_ is None else round_
        key = (r, state.version, self._edits)
        kept = self._next_backlog
        if kept is not None and kept[0] == key and kept[1] is prices:
            return kept[2]
        t = self._terms_now(state)
        kernel = compiled("backlog_kernel", jit, module="contracts", work=self.m / 4)
        # numpy's remaining x quantity x price, summed per seller in order (as bincount);
        # and from the round after (what finance reads after the settlement)
        out = kernel(
            r, self.start, self.end, self.quantity, self.seller, self.price, self.indexed,
            self.premium, t.s_op, self.last_price, np.asarray(prices, dtype=float),
            state.n_firms,
        )  # fmt: skip
        # the same prices a round on give the same numbers: settling a round changes only
        # the last prices of contracts in force, which an indexed price falls back on only
        # where the seller has no operation (not in force)
        self._next_backlog = ((r + 1, state.version, self._edits), prices, out[1])
        return out[0]

    def operations(self, state: StackState) -> tuple[np.ndarray, np.ndarray]:
        """Per contract, its seller's and its buyer's operations on the structure now.

        The seller's active operation in the contract's layer and the buyer's in the layer
        above (``-1``: none), whatever the round; a contract is in force in a round of
        ``[start, end)`` where both are ``>= 0`` (:meth:`resolve`). Read only.
        """
        t = self._terms_now(state)
        return t.s_op, t.b_op

    def keep_backlog(
        self, round_: int, state: StackState, prices: np.ndarray, after: np.ndarray
    ) -> None:
        """Keep ``after``, the backlog counted from ``round_ + 1`` at ``prices``.

        Computed elsewhere by the same kernel (:func:`backlog_kernel`'s second row, with
        the first counted from ``round_``): :meth:`backlog` asked from the round after on
        the same prices returns it, as when it computed it itself.
        """
        if self.m:
            self._next_backlog = ((round_ + 1, state.version, self._edits), prices, after)

    def obligations(
        self, state: StackState, prices: np.ndarray, round_: int | None = None
    ) -> np.ndarray:
        """Per firm, as buyer, the payments still owed whatever it takes (dollars).

        ``sum over its contracts of remaining rounds x take_or_pay x quantity x contract
        price`` (as in :meth:`backlog`), gross of any prepayment credit not yet drawn
        (``credit``: paid in cash already, booked as the rounds come).
        """
        rest = self._remaining(round_)
        value = rest * self.take_or_pay * self.quantity * self._prices(state, prices)
        return np.bincount(self.buyer, weights=value, minlength=state.n_firms)

    def sold_forward(self, round_: int, state: StackState) -> np.ndarray:
        """Per operation, the units a round it sells under contracts in force in ``round_``.

        Kept while the same contracts are in force on the same structure: read only.
        """
        if self.m == 0:
            return np.zeros(state.n_ops)
        got = self._resolve(round_, state)
        out = got.sold_array
        if out is None or out.shape[0] != state.n_ops:
            out = np.zeros(state.n_ops)
            for o, units in self.sold(round_, state).items():
                out[o] = units
            got.sold_array = out
        return out

    def sold(self, round_: int, state: StackState) -> dict[int, float]:
        """:meth:`sold_forward` for the operations that sell under contract (kept a round)."""
        if self.m == 0:
            return {}
        got = self._resolve(round_, state)
        if got.sold is None:
            q = self._terms_now(state).quantity
            sold: dict[int, float] = {}
            for c, s in enumerate(got.s_live):
                if s >= 0:
                    sold[s] = sold.get(s, 0.0) + q[c]
            got.sold = sold
        return got.sold

    # -- signing and ending ------------------------------------------------------------------
    def sign(
        self,
        round_: int,
        state: StackState,
        actions: Mapping[int, Action],
        prices: np.ndarray,
    ) -> list[int]:
        """Sign the contracts the firms offered in round ``round_``, in force from the next.

        An offer is signed when its buyer operates in the layer just above ``layer``,
        its seller is another firm with an active operation in ``layer`` that may sell
        to it (not captive, no exclusive relation elsewhere), its terms are
        valid numbers, and ``quantity`` fits in the seller's capacity there less the
        units of its contracts that overlap the new one's rounds. A ``price`` of
        ``None`` fixes it at the seller's ``prices`` (this round's). Signed or refused,
        each offer is logged (kind ``contract``). Returns the new contracts' indices.
        """
        signed: list[int] = []
        for i in sorted(actions):
            offers = actions[i].contracts
            if not offers:
                continue
            for offer in offers:
                c = self._sign_one(round_, state, i, offer, prices)
                if c >= 0:
                    signed.append(c)
        return signed

    def _sign_one(
        self, round_: int, state: StackState, i: int, offer: ContractOffer, prices: np.ndarray
    ) -> int:
        st = state
        buyer = st.firm_names[i]
        why = self._refusal(round_, st, i, offer)
        if why:
            self._report(buyer, f"offer to {offer.seller} in {offer.layer} refused: {why}", round_)
            return -1
        k = st.layer_index[offer.layer]
        s = st.op(st.firm_index[offer.seller], k)
        price = float(prices[s]) if offer.price is None else float(offer.price)
        spec = ContractSpec(
            name=f"{buyer}-{offer.seller}-{offer.layer}-r{round_ + 1}",
            buyer=buyer,
            seller=offer.seller,
            layer=offer.layer,
            quantity=float(offer.quantity),
            price=price,
            start=round_ + 1,
            duration=int(offer.duration),
            prepayment=float(offer.prepayment),
            take_or_pay=float(offer.take_or_pay),
        )
        while spec.name in self.names:  # (two offers to one seller in one round)
            spec.name += "+"
        c = self.add(spec, st)
        self._report(
            buyer,
            f"signs {spec.name}: {spec.quantity:g} units a round of {spec.layer} from "
            f"{spec.seller} for {spec.duration} rounds at {price:.4g} (take-or-pay "
            f"{spec.take_or_pay:.0%}, prepayment {spec.prepayment:.4g})",
            round_,
        )
        return c

    def _refusal(self, round_: int, state: StackState, i: int, offer: ContractOffer) -> str:
        """Why an offer cannot be signed (empty: it can)."""
        st = state
        k = st.layer_index.get(offer.layer, -1)
        if k < 0:
            return f"unknown layer {offer.layer!r}"
        if k + 1 >= st.n_layers or st.op(i, k + 1) < 0:
            return f"{st.firm_names[i]} does not buy from {offer.layer}"
        j = st.firm_index.get(offer.seller, -1)
        if j < 0:
            return f"unknown firm {offer.seller!r}"
        if j == i:
            return "a firm cannot contract with itself"
        s = st.op(j, k) if not st.acquired[j] else -1
        if s < 0:
            return f"{offer.seller} has no active operation in {offer.layer}"
        if not st.structure.allowed[st.op(i, k + 1), s]:
            return f"{offer.seller} does not sell to {st.firm_names[i]} in {offer.layer}"
        terms = (
            (offer.quantity, 0.0, math.inf, "quantity"),
            (offer.take_or_pay, 0.0, 1.0, "take_or_pay"),
            (offer.prepayment, 0.0, math.inf, "prepayment"),
            (0.0 if offer.price is None else offer.price, 0.0, math.inf, "price"),
        )
        for value, lo, hi, name in terms:
            if not (math.isfinite(value) and lo <= value <= hi):
                return f"{name} must be a finite number in [{lo:g}, {hi:g}] (got {value!r})"
        if not offer.quantity > 0:
            return f"quantity must be positive (got {offer.quantity!r})"
        if isinstance(offer.duration, bool) or not isinstance(offer.duration, int | np.integer):
            return f"duration must be a whole number of rounds (got {offer.duration!r})"
        if offer.duration < 1:
            return f"duration must be at least 1 (got {offer.duration!r})"
        start = round_ + 1
        end = start + int(offer.duration)
        overlap = (self.seller == j) & (self.layer == k) & (self.start < end) & (self.end > start)
        free = float(st.capacity[s]) - float(self.quantity[overlap].sum())
        if offer.quantity > free + 1e-12:
            return (
                f"quantity {offer.quantity:g} exceeds {offer.seller}'s capacity not already "
                f"contracted ({max(free, 0.0):g})"
            )
        return ""

    def terminate(self, firm: int, round_: int, why: str = "fails") -> list[int]:
        """End every contract of ``firm`` (as buyer or seller) after ``round_``.

        The contracts' last round in force is ``round_`` (one not yet started never
        starts); the prepayment credit not yet drawn lapses (the seller keeps the cash).
        Logged; returns the contracts ended.
        """
        ended: list[int] = []
        # the contracts concerned, ascending (as np.flatnonzero of the masks; a book holds
        # a few contracts, which a pass over lists finds faster than five array calls)
        last = round_ + 1
        concerned = [
            c
            for c, (b, s, e) in enumerate(
                zip(self.buyer.tolist(), self.seller.tolist(), self.end.tolist(), strict=True)
            )
            if (b == firm or s == firm) and e > last
        ]
        if not concerned:
            return ended  # (nothing ends: what was derived from the terms still holds)
        for c in concerned:
            self.end[c] = max(min(int(self.end[c]), round_ + 1), int(self.start[c]))
            lapsed = float(self.credit[c])
            self.credit[c] = 0.0
            ended.append(c)
            other = self.seller[c] if self.buyer[c] == firm else self.buyer[c]
            self._report(
                self._name(firm),
                f"{self.names[c]} with {self._name(int(other))} ends after round {round_}: "
                f"{self._name(firm)} {why}"
                + (f" (prepayment credit {lapsed:.4g} lapses)" if lapsed > 0 else ""),
                round_,
            )
        self._edited()
        return ended

    def end_named(self, names: list[str], round_: int, why: str) -> list[int]:
        """End the contracts called ``names`` after ``round_`` (the buyers renege, say).

        As :meth:`terminate` for one firm: the last round in force is ``round_`` (one not
        yet started never starts) and the prepayment credit not yet drawn lapses (the
        seller keeps the cash). Names not in the book, or contracts already over, are
        skipped. Logged; returns the contracts ended.
        """
        ended: list[int] = []
        wanted = set(names)
        for c in range(self.m):
            if self.names[c] not in wanted or self.end[c] <= round_ + 1:
                continue
            self.end[c] = max(min(int(self.end[c]), round_ + 1), int(self.start[c]))
            lapsed = float(self.credit[c])
            self.credit[c] = 0.0
            ended.append(c)
            self._report(
                self._name(int(self.buyer[c])),
                f"{self.names[c]} with {self._name(int(self.seller[c]))} ends after round "
                f"{round_}: {why}"
                + (f" (prepayment credit {lapsed:.4g} lapses)" if lapsed > 0 else ""),
                round_,
            )
        self._edited()
        return ended

    def transfer(self, target: int, acquirer: int, round_: int) -> None:
        """``acquirer`` bought ``target``: its contracts pass to the acquirer.

        A contract between the two becomes internal to one firm and ends after
        ``round_`` (:meth:`terminate`).
        """
        between = ((self.buyer == target) & (self.seller == acquirer)) | (
            (self.buyer == acquirer) & (self.seller == target)
        )
        for c in np.flatnonzero(between & (self.end > round_ + 1)).tolist():
            self.end[c] = max(round_ + 1, int(self.start[c]))
            self.credit[c] = 0.0
            self._report(
                self._name(acquirer),
                f"{self.names[c]} ends after round {round_}: {self._name(acquirer)} buys "
                f"{self._name(target)}",
                round_,
            )
        moved = np.flatnonzero(
            ((self.buyer == target) | (self.seller == target)) & (self.end > round_ + 1)
        )
        self.buyer = np.where(self.buyer == target, acquirer, self.buyer)
        self.seller = np.where(self.seller == target, acquirer, self.seller)
        for c in moved.tolist():
            self._report(
                self._name(acquirer),
                f"{self.names[c]} passes from {self._name(target)} to {self._name(acquirer)}",
                round_,
            )
        self._edited()

    def _name(self, firm: int) -> str:
        return self._firm_names[firm] if firm < len(self._firm_names) else str(firm)

    def _report(self, firm: str, text: str, round_: int) -> None:
        if self._log is not None:
            self._log("contract", firm, text, round_)
