"""Market clearing: a pure function from prices, capacities and demand to flows and money.

Nothing here knows about Mesa. An *operation* is one firm in one layer; operations are
indexed ``0..n-1`` and grouped by layer (bottom of the stack, layer 0, first). The round
clears in four passes (the equations, with units, are in ``docs/MODEL.md``):

1. **Prices, bottom-up.** Each buyer's unit input cost is a blend of self-supply at cost
   (when its firm also operates in the layer below: no double marginalisation) and the
   logit-expected market price of its suppliers; its price is a markup over own unit
   cost plus input cost, ad valorem ``p = (c + a w)(1 + m)`` or per unit
   ``p = c + a w + m``.
2. **Final demand** at the top layer: logit with an outside good (Calvano et al. 2020)
   or linear inverse demand; capacity rations it and rationed consumers re-choose among
   the remaining options, outside good included (so some demand is lost).
3. **Derived demand, top-down.** Each buyer needs ``a_l`` units of input per unit of
   output; it supplies itself first, then splits its orders across sellers by a logit on
   relative price, quality and switching cost; capacity rations orders, which spill to the
   buyer's other sellers; what no seller can serve is unmet.
4. **Feasibility, bottom-up.** A seller short of input delivers less; its buyers then
   produce less, up to final consumers. Money flows down: each buyer pays each seller
   price times delivered quantity; self-supply is transferred at cost.

The clearing is repeated (at most :data:`MAX_ATTEMPTS` times in all) while it is not
self-consistent: a seller short of input gets what it could deliver as its capacity, so
that orders spill away from it (a seller rationed by its own supplier behaves like a
capacity-constrained one); and, with the default ``self_share``, a firm whose own
operation below could not supply all its input prices on the blend it actually got. On a
repeat each buyer first keeps the allocation it got (sticky allocation), so cutting its
output never shrinks its proportional ration further. Every accounting identity holds
exactly after any number of repeats (``tests/environment/test_market_properties.py``).

Each rule is written once, in :mod:`stackgame.environment.market_kernel` (plain loops
over arrays that numba compiles); this module holds the data types, the checks on the
input, and thin wrappers that marshal arrays into the kernels (compiled, or as plain
Python: :mod:`stackgame.environment.jit`). Internally the operations are sorted by layer
so that every layer is a contiguous slice; results are returned in the caller's order.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from stackgame.environment.jit import compiled, plain
from stackgame.environment.kept import bytes_key, keep

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_EPS = 1e-12
MAX_ATTEMPTS = 3
"""Most clearings per call: the first plus two self-consistency corrections."""


_PAIR_ROWS_OPS = 128
"""Structures of at most this many operations keep their pair rows across models."""
_PAIR_ROWS_SIZE = 64
"""How many are kept at most (the oldest goes first)."""
_PAIR_ROWS: dict[tuple[Any, ...], tuple[tuple[Any, ...], NDArray[np.bool_]]] = {}
""":meth:`Structure.pair_rows`' arrays and repeats, by the kernel's inputs (shared, read only)."""


@dataclass
class Structure:
    """Who can sell to whom: fixed between integration moves.

    Build it with :func:`build_structure`. ``lock_in`` and ``allowed`` may be changed in
    place until the first clearing; after that, call :meth:`pairs_changed` after changing
    them (the clearing reads them per permitted pair, :meth:`pair_rows`, kept from the
    first call). The layer and firm assignment may not change (build a new structure
    after an integration move); ``by_layer``, ``own_below`` and the kernels' sorted view
    are never changed in place (a kept structure shares them with every state that meets
    it again: :meth:`copy_for`).

    Attributes
    ----------
    layer_of, firm_of
        Layer and firm index of each operation.
    by_layer
        Operation indices per layer, bottom first.
    own_below
        For each operation, the same firm's operation in the layer just below (-1: none).
    input_coefficient, choice_mu
        Per layer.
    lock_in
        ``lock_in[b, s]``: switching-cost bonus in buyer ``b``'s logit for seller ``s``.
    allowed
        ``allowed[b, s]``: whether ``b`` may buy from ``s`` on the market (``s`` in the
        layer below, another firm, and not excluded by an exclusive relation).
    """

    layer_of: IntArray
    firm_of: IntArray
    by_layer: list[IntArray]
    own_below: IntArray
    input_coefficient: FloatArray
    choice_mu: FloatArray
    lock_in: FloatArray
    allowed: NDArray[np.bool_]
    _order: IntArray = field(init=False, repr=False, compare=False)
    _bounds: list[int] = field(init=False, repr=False, compare=False)
    _bounds_arr: IntArray = field(init=False, repr=False, compare=False)
    _own_sorted: IntArray = field(init=False, repr=False, compare=False)
    _pairs: int = field(init=False, repr=False, compare=False)
    _csr: tuple[IntArray, IntArray, IntArray, FloatArray] | None = field(
        init=False, repr=False, compare=False, default=None
    )
    _rep: NDArray[np.bool_] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        # the kernels' view: operations sorted by layer (each layer a contiguous slice),
        # the layer bounds, and each sorted operation's own operation below as a position
        # in that layer (-1: none); plain lists, as a rebuild is a few dozen operations
        order_list = [o for ops in self.by_layer for o in ops.tolist()]
        inverse_list = [0] * len(order_list)
        for pos, o in enumerate(order_list):
            inverse_list[o] = pos
        bounds = [0]
        for ops in self.by_layer:
            bounds.append(bounds[-1] + len(ops))
        own_below = self.own_below.tolist()
        sorted_own = [-1] * (bounds[1] - bounds[0] if len(bounds) > 1 else 0)
        for k in range(1, len(self.by_layer)):
            sorted_own += [
                inverse_list[own_below[o]] - bounds[k - 1] if own_below[o] >= 0 else -1
                for o in self.by_layer[k].tolist()
            ]
        self._order = np.array(order_list, dtype=np.int64)
        self._bounds = bounds
        self._bounds_arr = np.array(bounds, dtype=np.int64)
        self._own_sorted = np.array(sorted_own, dtype=np.int64)
        self._pairs = sum(
            (bounds[k + 1] - bounds[k]) * (bounds[k] - bounds[k - 1])
            for k in range(1, len(self.by_layer))
        )

    def copy_for(
        self,
        layer_of: IntArray,
        firm_of: IntArray,
        input_coefficient: FloatArray,
        choice_mu: FloatArray,
        share_fixed: bool = False,
    ) -> Structure:
        """A copy on another state's arrays, which must hold the values this one was built on.

        ``layer_of``, ``firm_of``, ``input_coefficient`` and ``choice_mu`` are taken as
        they are (as :func:`build_structure` takes them); ``lock_in`` and ``allowed``
        (which may be changed in place) are copied, so that changing the copy in place
        leaves this one as it is. The arrays fixed with the layer and firm assignment
        (``by_layer``, ``own_below`` and the kernels' sorted view), which nothing changes
        in place, are copied too, or with ``share_fixed`` shared as they are: a kept
        structure hands them to each state that meets it again (a copy costs more than
        the rest of a kept rebuild).
        """
        if share_fixed:
            by_layer = list(self.by_layer)
            own_below, order = self.own_below, self._order
            bounds, own_sorted = self._bounds_arr, self._own_sorted
        else:
            by_layer = [ops.copy() for ops in self.by_layer]
            own_below, order = self.own_below.copy(), self._order.copy()
            bounds, own_sorted = self._bounds_arr.copy(), self._own_sorted.copy()
        out = object.__new__(Structure)
        out.__dict__.update(
            layer_of=layer_of,
            firm_of=firm_of,
            by_layer=by_layer,
            own_below=own_below,
            input_coefficient=input_coefficient,
            choice_mu=choice_mu,
            lock_in=self.lock_in.copy(),
            allowed=self.allowed.copy(),
            _order=order,
            _bounds=list(self._bounds),
            _bounds_arr=bounds,
            _own_sorted=own_sorted,
            _pairs=self._pairs,
            _csr=self._csr,  # (never changed in place: pairs_changed drops it)
            _rep=self._rep,
        )
        return out

    def pairs_changed(self) -> None:
        """Say that ``allowed`` or ``lock_in`` changed in place (the pairs are re-read)."""
        self._csr = None
        self._rep = None

    def pair_rows(self, jit: bool | None = None) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
        """The permitted buyer-seller pairs, held per buyer (compressed rows), made once.

        Returns ``rows``, ``cols``, ``pairs`` and ``lock``: in the kernels' sorted
        coordinates (``_order``), the buyer at sorted position ``i`` in layer ``k`` may buy
        from the sellers at sorted positions ``_bounds[k - 1] + cols[p]`` for ``p`` in
        ``rows[i]:rows[i + 1]``, in increasing order (the order in which a loop over the
        dense buyers-by-sellers block meets them); ``pairs[:, p]`` is the pair's buyer and
        seller in the caller's indices, and ``lock[p]`` its static switching cost
        (``lock_in`` at the pair). At 1,000 firms of the benchmark's stack with four
        suppliers per buyer these are about 4,000 pairs where the dense blocks hold
        180,000 (``docs/MODEL.md`` 5.1).

        What a structure of at most :data:`_PAIR_ROWS_OPS` operations gives is kept across
        structures and models (:data:`_PAIR_ROWS`, by everything the kernel reads): the
        runs of a batch or a benchmark meet the same structures again and again (a
        failure's fire sale, an integration move), and the arrays are never changed in
        place (:meth:`pairs_changed` drops them), so the same ones are shared. ``jit`` as
        in :func:`~stackgame.environment.jit.compiled`.
        """
        if self._csr is None:
            allowed, lock_in = _flags(self.allowed), _f64(self.lock_in)
            key = kept = None
            if self._order.shape[0] <= _PAIR_ROWS_OPS:
                key = (allowed.shape, lock_in.shape) + bytes_key(
                    self._order, self._bounds_arr, allowed, lock_in
                )
                kept = _PAIR_ROWS.get(key)
            if kept is None:
                kernel = compiled(
                    "pair_rows_kernel", jit, module="market_kernel", work=self._pairs / 8
                )
                rows, cols, pairs, lock, rep = kernel(
                    self._order, self._bounds_arr, allowed, lock_in
                )
                kept = ((rows, cols, pairs, lock), rep)  # (repeat_rows: the same pass's)
                if key is not None:
                    keep(_PAIR_ROWS, key, kept, _PAIR_ROWS_SIZE)
            self._csr, self._rep = kept
        return self._csr

    def repeat_rows(self) -> NDArray[np.bool_]:
        """Per sorted position, whether the buyer's pairs repeat the buyer's before it, made once.

        :func:`~stackgame.environment.market_kernel.repeat_rows` of :meth:`pair_rows`: the
        same sellers with equal static switching costs as the buyer just before it in its
        layer (its supplier weights are then a copy of that buyer's, bit for bit).
        """
        if self._rep is None:
            rows, cols, _, lock = self.pair_rows()
            kernel = compiled("repeat_rows", module="market_kernel", work=self._pairs / 8)
            self._rep = kernel(self._bounds_arr, rows, cols, lock)
        return self._rep

    @property
    def n_ops(self) -> int:
        """Number of operations."""
        return int(self.layer_of.shape[0])

    @property
    def n_layers(self) -> int:
        """Number of layers."""
        return len(self.by_layer)


def build_structure(
    layer_of: IntArray,
    firm_of: IntArray,
    n_layers: int,
    input_coefficient: FloatArray,
    choice_mu: FloatArray,
    relations: list[tuple[int, int, float, bool]] | None = None,
) -> Structure:
    """Assemble a :class:`Structure`, checking that it describes a stack.

    Parameters
    ----------
    layer_of, firm_of
        Layer (``0..n_layers-1``) and firm of each operation; a firm has at most one
        operation per layer.
    n_layers
        Number of layers.
    input_coefficient, choice_mu
        Per layer: units of input per unit of output (positive) and the buyers' logit
        scale over the layer's sellers (positive).
    relations
        ``(buyer_op, seller_op, switching_cost, exclusive)`` tuples; the seller must be in
        the layer just below the buyer. An exclusive relation limits the buyer to its
        exclusive sellers in that layer.

    Raises
    ------
    ValueError
        When the arrays disagree in length, an index is out of range, a coefficient is
        not positive and finite, or a relation does not link adjacent layers.
    """
    layer_of = np.asarray(layer_of, dtype=np.int64)
    firm_of = np.asarray(firm_of, dtype=np.int64)
    input_coefficient = np.asarray(input_coefficient, dtype=float)
    choice_mu = np.asarray(choice_mu, dtype=float)
    n = layer_of.shape[0]
    if layer_of.ndim != 1 or firm_of.shape != (n,):
        raise ValueError(
            f"layer_of and firm_of must be 1-d of equal length (got {n}, {len(firm_of)})"
        )
    if n and (layer_of.min() < 0 or layer_of.max() >= n_layers):
        raise ValueError(f"layer_of: layers must lie in 0..{n_layers - 1}")
    for name, arr in (("input_coefficient", input_coefficient), ("choice_mu", choice_mu)):
        if arr.shape != (n_layers,):
            raise ValueError(f"{name}: expected {n_layers} values, one per layer (got {arr.size})")
        if not (np.isfinite(arr).all() and (arr > 0).all()):
            raise ValueError(
                f"{name}: every value must be positive and finite (got {arr.tolist()})"
            )
    lay = layer_of.tolist()
    firms = firm_of.tolist()
    buckets: list[list[int]] = [[] for _ in range(n_layers)]
    key: dict[tuple[int, int], int] = {}
    for i, pair in enumerate(zip(firms, lay, strict=True)):
        if pair in key:
            raise ValueError(f"firm {pair[0]} has two operations in layer {pair[1]}")
        key[pair] = i
        buckets[pair[1]].append(i)
    by_layer = [np.array(b, dtype=np.int64) for b in buckets]
    own_below = np.array(
        [key.get((f, k - 1), -1) for f, k in zip(firms, lay, strict=True)], dtype=np.int64
    )
    allowed = (layer_of[None, :] == layer_of[:, None] - 1) & (firm_of[None, :] != firm_of[:, None])
    lock_in = np.zeros((n, n))
    exclusive: dict[int, list[int]] = {}
    costs: dict[tuple[int, int], float] = {}  # summed in order, then written at once
    for k, (b, s, cost, excl) in enumerate(relations or []):
        if not (0 <= b < n and 0 <= s < n):
            raise ValueError(f"relations[{k}]: operation index out of range 0..{n - 1}")
        if lay[s] != lay[b] - 1:
            raise ValueError(
                f"relations[{k}]: the seller must be in the layer just below the buyer"
            )
        if not math.isfinite(cost) or cost < 0:
            raise ValueError(f"relations[{k}]: switching cost must be finite and >= 0 (got {cost})")
        costs[b, s] = costs.get((b, s), 0.0) + cost
        if excl:
            exclusive.setdefault(b, []).append(s)
    if costs:
        pairs = np.array(list(costs), dtype=np.intp)
        lock_in[pairs[:, 0], pairs[:, 1]] = list(costs.values())
    for b, sellers in exclusive.items():
        keep = np.zeros(n, dtype=bool)
        keep[sellers] = True
        allowed[b] &= keep
    return Structure(
        layer_of=layer_of,
        firm_of=firm_of,
        by_layer=by_layer,
        own_below=own_below,
        input_coefficient=input_coefficient,
        choice_mu=choice_mu,
        lock_in=lock_in,
        allowed=allowed,
    )


@dataclass
class Demand:
    """Final demand this round (see :class:`stackgame.environment.scenario.DemandSpec`).

    Attributes
    ----------
    kind
        ``logit`` (with an outside good) or ``linear`` (inverse demand ``P = A - B Q``).
    market_size
        Consumers per round, ``M`` (logit).
    mu
        Logit scale (dollars per unit).
    outside_quality
        Quality of the outside good, ``a0`` (dollars per unit).
    intercept, slope
        ``A`` (dollars per unit) and ``B`` (dollars per unit squared) of linear demand.
    cournot
        Whether the top layer competes in quantities (linear demand only).
    """

    kind: str = "logit"
    market_size: float = 100.0
    mu: float = 0.25
    outside_quality: float = 0.0
    intercept: float = 10.0
    slope: float = 1.0
    cournot: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("logit", "linear"):
            raise ValueError(f"demand.kind must be 'logit' or 'linear' (got {self.kind!r})")
        if not self.mu > 0 or not self.slope > 0 or not self.market_size >= 0:
            raise ValueError(
                "demand: mu and slope must be positive and market_size non-negative "
                f"(got mu={self.mu}, slope={self.slope}, market_size={self.market_size})"
            )


@dataclass(slots=True)
class PairMatrix:
    """An ``[n, n]`` matrix that is zero outside a list of buyer-seller pairs.

    ``pairs[:, p]`` is pair ``p``'s buyer and seller (operation indices), each buyer's
    pairs together and in increasing seller order (the order of
    :meth:`Structure.pair_rows`), and ``values[p]`` its entry. The clearing's flows and the
    purchase shares are held so: at 1,000 firms of the benchmark's stack with four
    suppliers per buyer, about 4,000 pairs against 1.2 million entries of the dense matrix
    (issue 14); :meth:`dense` builds that matrix for the consumers that read it whole.
    """

    pairs: IntArray
    values: FloatArray
    n: int

    def dense(self, n: int | None = None) -> FloatArray:
        """The ``[n, n]`` matrix (``n`` at least :attr:`n`: operations added since buy nothing)."""
        size = self.n if n is None else max(n, self.n)
        out = np.zeros((size, size))
        out[self.pairs[0], self.pairs[1]] = self.values
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> FloatArray:
        """``np.asarray(m)``: the dense matrix (:meth:`dense`)."""
        out = self.dense()
        return out if dtype is None else out.astype(dtype)


def _dense(matrix: FloatArray | PairMatrix, n: int) -> FloatArray:
    """``matrix`` as a dense ``[n, n]`` array (a :class:`PairMatrix` is laid out)."""
    return matrix.dense(n) if isinstance(matrix, PairMatrix) else matrix


@dataclass
class Clearing:
    """Result of one round's clearing; arrays are per operation unless said otherwise.

    Attributes
    ----------
    price
        Price per unit (dollars).
    unit_input_cost
        Input cost per unit of output used in pricing (dollars).
    quantity
        Units delivered (to buyers, to the firm itself and to consumers).
    flows
        Units delivered on the market per buyer-seller pair (:class:`PairMatrix`: the
        pairs the buyer may buy from, and any a contract added); :attr:`flow` is the
        ``[n, n]`` matrix ``flow[b, s]``, units ``s`` delivered to ``b``, laid out on
        first use.
    self_supply
        Units each operation received from its own firm's operation below.
    revenue, input_cost, variable_cost, gross_profit
        Dollars. Self-supply is counted at cost on both sides.
    unmet_input
        Units of input each operation ordered but did not get.
    final_demand
        Units consumers wanted from each top-layer operation before capacity rationing
        (logit: unconstrained demand; linear: residual demand at its price level).
    internal_revenue
        Dollars of each operation's revenue that are self-supply to its own firm at cost
        (part of ``revenue``; the firm's external revenue is ``revenue - internal_revenue``).
    capex
        Dollars each operation of a capital-goods layer paid for the capital goods shipped
        to it this round (capitalised: not in ``input_cost``; zero elsewhere).
    lost_demand
        Units consumers wanted but did not get, because of capacity or upstream
        shortages, after re-choosing (scalar). Logit: ``M = sum(quantity[top]) +
        lost_demand + M * outside_share``.
    final_spend
        Consumers' spending (scalar, dollars).
    outside_share
        Share of the market that chose the outside good at the posted prices (logit),
        before rationing; consumers pushed out by rationing are in ``lost_demand``.
    attempts
        How many clearings it took to reach a self-consistent one.
    infrastructure
        Dollars of this round's capex spent outside the stack on the infrastructure
        around the capital goods received (set when they are installed:
        :func:`~stackgame.environment.buildout.install_and_age`; 0 without).
    cost_price
        With :func:`clear`'s ``cost_capacity``: per operation, the price every markup
        zero (the round's cost of capability, ``docs/MODEL.md`` 6.5); else ``None``.
    """

    price: FloatArray
    unit_input_cost: FloatArray
    quantity: FloatArray
    flows: PairMatrix
    self_supply: FloatArray
    revenue: FloatArray
    input_cost: FloatArray
    variable_cost: FloatArray
    gross_profit: FloatArray
    unmet_input: FloatArray
    final_demand: FloatArray
    internal_revenue: FloatArray
    lost_demand: float
    final_spend: float
    outside_share: float
    attempts: int = 1
    capex: FloatArray = field(default_factory=lambda: np.zeros(0))
    infrastructure: float = 0.0
    cost_price: FloatArray | None = None
    _flow: FloatArray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def flow(self) -> FloatArray:
        """``flow[b, s]``: units ``s`` delivered to ``b`` on the market (``[n, n]``, made once)."""
        if self._flow is None:
            self._flow = self.flows.dense()
        return self._flow

    @property
    def payments(self) -> FloatArray:
        """``payments[b, s]``: dollars ``b`` paid ``s`` on the market."""
        return self.flow * self.price[None, :]


# -- thin wrappers over the kernels ------------------------------------------------------
#
# Every rule is implemented once, in :mod:`stackgame.environment.market_kernel`; the
# functions below check and marshal their arguments and pick the compiled or the plain
# kernel (:func:`stackgame.environment.jit.compiled`).

_NO_ARRAY = np.zeros(0)


_NO_LOCK = np.zeros((0, 0))
_NO_CONTRACTS = np.zeros((3, 0))
_NO_CONTRACTS.flags.writeable = False
_SCRATCH = threading.local()
"""Per thread, the clearing's per-pair work array (:func:`_scratch`)."""


def _scratch(n: int) -> FloatArray:
    """A work array of at least ``n`` floats, this thread's, reused from clearing to clearing.

    The clearing's supplier weights per pair (``clear_kernel``'s ``scratch``: written
    before read, never returned). At 1,000 firms of the all-pairs synthetic stack, 195,000
    pairs: a fresh 1.5 MB array each round comes from new pages of the operating system
    (page faults, about a millisecond a round); one kept per thread does not.
    """
    buf: FloatArray | None = getattr(_SCRATCH, "buf", None)
    if buf is None or buf.shape[0] < n:
        buf = _SCRATCH.buf = np.empty(max(n, 16))
    return buf


_CONSTANTS: dict[tuple[int, float | bool], NDArray[Any]] = {}


def constant(n: int, value: float | bool) -> NDArray[Any]:
    """A read-only array of ``n`` copies of ``value`` (the kernels' defaults), made once."""
    key = (n, value)
    arr = _CONSTANTS.get(key)
    if arr is None:
        dtype = np.bool_ if isinstance(value, bool) else np.float64
        arr = np.full(n, value, dtype=dtype)
        arr.flags.writeable = False
        if len(_CONSTANTS) < 256:
            _CONSTANTS[key] = arr
    return arr


def _kernel(name: str, jit: bool | None = None, work: float = 1.0) -> Any:
    """The market kernel ``name``, compiled or plain (:func:`jit.compiled`)."""
    return compiled(name, jit, module="market_kernel", work=work)


def _shape(x: Any) -> tuple[int, ...]:
    """``np.shape`` without its wrapper for arrays (checked on every clearing)."""
    return x.shape if isinstance(x, np.ndarray) else np.shape(x)


def _f64(x: Any) -> FloatArray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _flags(x: Any) -> NDArray[np.bool_]:
    return np.ascontiguousarray(x, dtype=np.bool_)


def _lock(structure: Structure, lock_in: FloatArray | None) -> FloatArray:
    """The switching costs a clearing reads: ``lock_in`` if given (checked), else static."""
    if lock_in is None:
        return _f64(structure.lock_in)
    n = structure.n_ops
    if _shape(lock_in) != (n, n):
        raise ValueError(f"lock_in: expected shape {(n, n)} (got {_shape(lock_in)})")
    return _f64(lock_in)


def _pair_mix(structure: Structure, supplier_mix: FloatArray | PairMatrix | None) -> FloatArray:
    """Per permitted pair, the expected purchase share (empty without ``supplier_mix``).

    A :class:`PairMatrix` over the structure's own pairs (last round's purchase shares,
    the structure unchanged since) is read as it is; anything else at the pairs.
    """
    if supplier_mix is None:
        return _NO_ARRAY
    pairs = structure.pair_rows()[2]
    if isinstance(supplier_mix, PairMatrix):
        if supplier_mix.pairs is pairs:
            return supplier_mix.values
        moved = _moved_pairs(supplier_mix, pairs, structure.n_ops)
        if moved is not None:  # (the dense matrix's entries at the pairs, without it)
            found, at = moved
            return _f64(np.where(found, np.asarray(supplier_mix.values)[at], 0.0))
        supplier_mix = supplier_mix.dense(structure.n_ops)
    n = structure.n_ops
    if _shape(supplier_mix) != (n, n):
        raise ValueError(f"supplier_mix: expected shape {(n, n)} (got {_shape(supplier_mix)})")
    return _f64(np.asarray(supplier_mix)[pairs[0], pairs[1]])


_MOVED_PAIRS = 4096
"""Pair lists of at most this many pairs are mapped onto each other (:func:`_moved_pairs`)."""
_MOVED_SIZE = 16
"""How many mappings are kept at most (the oldest goes first)."""
_MOVED: dict[tuple[int, int, int], tuple[IntArray, IntArray, NDArray[np.bool_], IntArray]] = {}
""":func:`_moved_pairs`' mappings, by the two pair lists' ids and ``n`` (the lists held)."""


def _moved_pairs(
    mix: PairMatrix, pairs: IntArray, n: int
) -> tuple[NDArray[np.bool_], IntArray] | None:
    """Where each of ``pairs`` is in ``mix``'s pairs: ``(found, at)`` (``None``: not mapped).

    ``mix.values[at]`` where ``found``, else 0, is ``mix.dense(n)`` read at ``pairs``, bit
    for bit (a pair listed twice in ``mix``: its last entry, as the dense matrix keeps),
    without laying out the ``[n, n]`` matrix: the first round after the structure changed
    (a failure's fire sale, an integration move) reads last round's purchase shares so.
    Made for small pair lists only (``None`` otherwise, or where ``dense(n)`` would not be
    ``[n, n]``), and kept by the two lists, which are never changed in place and are
    shared across models (:meth:`Structure.pair_rows`): a batch or a benchmark meets the
    same two again and again.
    """
    old = mix.pairs
    if mix.n > n or not 0 < old.shape[1] <= _MOVED_PAIRS or pairs.shape[1] > _MOVED_PAIRS:
        return None
    key = (id(old), id(pairs), n)
    kept = _MOVED.get(key)
    if kept is not None and kept[0] is old and kept[1] is pairs:
        return kept[2], kept[3]
    where = {b * n + s: p for p, (b, s) in enumerate(zip(*old.tolist(), strict=True))}
    at_list = [where.get(b * n + s, -1) for b, s in zip(*pairs.tolist(), strict=True)]
    at = np.array(at_list, dtype=np.int64)
    found = at >= 0
    at[~found] = 0  # (read, then replaced by 0)
    # (the arrays held: an id is not reused while it lives)
    keep(_MOVED, key, (old, pairs, found, at), _MOVED_SIZE)
    return found, at


def _contract_pairs(structure: Structure, contracts: FloatArray | None) -> IntArray:
    """The pairs the clearing ran on when ``contracts`` added some (caller's indices).

    The permitted pairs and those of contracts outside them, in the order of
    :func:`~stackgame.environment.market_kernel._add_pairs` (a rare case: plain Python).
    """
    rows, cols, _, _ = structure.pair_rows()
    order, bounds = structure._order, structure._bounds
    cb, cj, _ = plain("contract_pairs", "market_kernel")(
        order, structure._bounds_arr, rows, cols, _f64(contracts)
    )
    rows, cols, _ = plain("_add_pairs", "market_kernel")(rows, cols, cb, cj)
    buyers = np.repeat(np.arange(order.shape[0]), np.diff(rows))
    below = np.zeros(order.shape[0], dtype=np.int64)  # each position's layer below's start
    for k in range(1, len(bounds) - 1):
        below[bounds[k] : bounds[k + 1]] = bounds[k - 1]
    return np.array([order[buyers], order[below[buyers] + cols]], dtype=np.int64)


def supplier_weights(
    structure: Structure,
    price: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    layer: int,
    lock_in: FloatArray | None = None,
) -> FloatArray:
    """Logit choice probabilities of the buyers in ``layer`` over sellers in ``layer - 1``.

    The rule is :func:`stackgame.environment.market_kernel.choice_weights`. Rows are
    buyers (``by_layer[layer]``), columns sellers (``by_layer[layer - 1]``); a buyer with
    no permitted seller has a row of zeros. ``lock_in`` replaces ``structure.lock_in``
    (the switching costs of this round, ``docs/MODEL.md`` 5.4).
    """
    b = structure._bounds
    order = structure._order
    w = np.zeros((b[layer + 1] - b[layer], b[layer] - b[layer - 1]))
    kernel = _kernel("choice_weights", work=w.size)
    kernel(
        _f64(price)[order], _f64(quality)[order], _f64(capacity)[order],
        _lock(structure, lock_in), _flags(structure.allowed), order, b[layer], b[layer + 1],
        b[layer - 1], float(structure.choice_mu[layer - 1]), w,
    )  # fmt: skip
    return w


def resolve_prices(
    structure: Structure,
    unit_cost: FloatArray,
    markup: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    self_share: FloatArray,
    per_unit: bool = False,
    fixed_price: FloatArray | None = None,
    supplier_mix: FloatArray | PairMatrix | None = None,
    basis: FloatArray | None = None,
    lock_in: FloatArray | None = None,
    infrastructure: FloatArray | None = None,
    with_weights: bool = True,
) -> tuple[FloatArray, FloatArray, list[FloatArray]]:
    """Prices bottom-up, each a markup over this round's own and input unit cost.

    The rule is :func:`stackgame.environment.market_kernel.resolve_prices_kernel`
    (``docs/MODEL.md`` 4.2-4.3). Negative prices are set to zero.

    Parameters
    ----------
    self_share
        Planned share of each operation's input that its own firm supplies at cost (0 when
        it has no operation below; 1 when it has no market seller).
    fixed_price
        Where finite, the price is taken as given (a Cournot layer's clearing price).
    supplier_mix
        Expected purchase shares replacing the logit weights where a row is not all zero
        (see :func:`clear`).
    basis
        Per operation, the factor on its input cost in its price (see :func:`clear`).
    lock_in
        This round's switching costs, replacing ``structure.lock_in`` (see :func:`clear`).
    infrastructure
        Per operation, the infrastructure cost per unit of capacity (see :func:`clear`).
    with_weights
        ``False``: leave ``weights`` empty (a caller that reads only the prices skips
        cutting the kernel's weights into one array per layer).

    Returns
    -------
    price, unit_input_cost, weights
        ``weights[l]`` is :func:`supplier_weights` for layer ``l`` (``weights[0]`` empty).
    """
    s = structure
    rows, cols, _, lock = s.pair_rows()
    kernel = _kernel("resolve_prices_kernel", work=s.n_ops + cols.shape[0])
    out, wp = kernel(
        s._order, s._bounds_arr, s._own_sorted, _f64(s.input_coefficient), _f64(s.choice_mu),
        _f64(unit_cost), _f64(markup), _f64(quality), _f64(capacity), rows, cols, lock,
        lock_in is not None, _NO_LOCK if lock_in is None else _lock(s, lock_in),
        _f64(self_share), supplier_mix is not None,
        _pair_mix(s, supplier_mix), bool(per_unit),
        constant(s.n_ops, 1.0) if basis is None else _f64(basis),
        constant(s.n_ops, 0.0) if infrastructure is None else _f64(infrastructure),
        s.repeat_rows(),
    )  # fmt: skip
    price, input_unit = out[0], out[1]
    b = s._bounds
    weights: list[FloatArray] = []
    if with_weights:  # the dense buyers-by-sellers blocks, zero where a pair is not permitted
        weights = [np.zeros((b[1] - b[0] if s.n_layers else 0, 0))]
        for k in range(1, s.n_layers):
            w = np.zeros((b[k + 1] - b[k], b[k] - b[k - 1]))
            lo, hi = rows[b[k]], rows[b[k + 1]]
            w[np.repeat(np.arange(b[k + 1] - b[k]), np.diff(rows[b[k] : b[k + 1] + 1])),
              cols[lo:hi]] = wp[lo:hi]  # fmt: skip
            weights.append(w)
    if fixed_price is not None:
        fixed = np.isfinite(fixed_price)
        price[fixed] = np.maximum(np.asarray(fixed_price)[fixed], 0.0)
    return price, input_unit, weights


def logit_demand(
    price: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    demand: Demand,
    offered: NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray, float]:
    """Logit final demand with an outside good, rationed by capacity.

    The rule is :func:`stackgame.environment.market_kernel.logit_demand_kernel`
    (``docs/MODEL.md`` 6.1, 6.4); ``offered`` defaults to the options with capacity.

    Returns
    -------
    quantity, unconstrained, outside_share
        ``M = quantity.sum() + (unconstrained.sum() - quantity.sum()) + M * outside_share``.
    """
    capacity = _f64(capacity)
    live = capacity > _EPS if offered is None else _flags(offered)
    q, want = np.zeros(capacity.shape[0]), np.zeros(capacity.shape[0])
    outside = _kernel("logit_demand_kernel", work=q.size)(
        _f64(price), _f64(quality), capacity, live, float(demand.market_size),
        float(demand.mu), float(demand.outside_quality), q, want,
    )  # fmt: skip
    return q, want, float(outside)


def linear_demand(
    price: FloatArray,
    capacity: FloatArray,
    demand: Demand,
    offered: NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Homogeneous good with inverse demand ``P = A - B Q``, cheapest sellers first.

    The rule is :func:`stackgame.environment.market_kernel.linear_demand_kernel`
    (``docs/MODEL.md`` 6.2, 6.4); ``offered`` defaults to the sellers with capacity.

    Returns
    -------
    quantity, unconstrained
        ``unconstrained`` is the residual demand each seller faced at its price level,
        split equally among the sellers at that level.
    """
    capacity = _f64(capacity)
    live = capacity > _EPS if offered is None else _flags(offered)
    q, want = np.zeros(capacity.shape[0]), np.zeros(capacity.shape[0])
    _kernel("linear_demand_kernel", work=q.size)(
        _f64(price), capacity, live, float(demand.intercept), float(demand.slope), q, want
    )
    return q, want


def cournot_price(offers: FloatArray, capacity: FloatArray, demand: Demand) -> float:
    """Market-clearing price ``P = max(0, A - B sum_j min(x_j, K_j))`` for quantity offers.

    The rule is :func:`stackgame.environment.market_kernel.cournot_price_kernel`.
    """
    offers = _f64(offers)
    return float(
        _kernel("cournot_price_kernel", work=offers.size)(
            offers,
            _f64(capacity),
            0,
            offers.shape[0],
            float(demand.intercept),
            float(demand.slope),
        )  # fmt: skip
    )


# -- the clearing ------------------------------------------------------------------------


def clear(
    structure: Structure,
    unit_cost: FloatArray,
    markup: FloatArray,
    quality: FloatArray,
    capacity: FloatArray,
    demand: Demand,
    *,
    self_share: FloatArray | None = None,
    per_unit: bool = False,
    quantity_offer: FloatArray | None = None,
    spill_rounds: int | None = None,
    supplier_mix: FloatArray | PairMatrix | None = None,
    jit: bool | None = None,
    capital_goods: NDArray[np.bool_] | None = None,
    orders: FloatArray | None = None,
    basis: FloatArray | None = None,
    contracts: FloatArray | None = None,
    lock_in: FloatArray | None = None,
    infrastructure: FloatArray | None = None,
    cost_capacity: FloatArray | None = None,
    lock_parts: tuple[FloatArray | None, FloatArray | None] | None = None,
) -> Clearing:
    """Clear one round of the stack (see the module docstring for the four passes).

    Parameters
    ----------
    unit_cost, markup, quality, capacity
        Per operation: own variable cost per unit, chosen markup, quality, capacity.
    demand
        Final demand at the top layer.
    self_share
        Planned self-supply share per operation for pricing. Default: 1 where the firm's
        operation below has capacity, then lowered to the share it actually supplied
        when that capacity falls short (the price is a markup over the blended unit cost
        of what the firm actually sources). An explicit array is used as given.
    per_unit
        Markups in dollars per unit instead of ad valorem.
    quantity_offer
        Quantity offers of the top layer's operations when it competes in quantities
        (``demand.cournot``). There a positive markup ``m`` withholds output: an
        operation offers at most ``capacity / (1 + m)`` (restrain, markup 0: all its
        capacity; extract: less, toward the collusive quantity; ``docs/MODEL.md`` 6.3).
    spill_rounds
        How many times rationed orders are re-split over sellers with room (default:
        until every order that can be placed is placed).
    supplier_mix
        Optional ``[n, n]`` matrix (or :class:`PairMatrix`): row ``b`` holds the shares in
        which buyer ``b`` expects to buy from each seller (for example last round's
        realised purchases).
        Where a row is not all zero it replaces the logit weights in the buyer's expected
        input price, so that a buyer whose cheapest suppliers are full prices on what it
        will really pay. Orders are still split by the logit.
    jit
        Whether the compiled clearing may run (None: unless ``STACKGAME_NO_JIT`` is set;
        False: the plain Python kernel).
    capital_goods
        Per layer, whether it buys from the layer below as capital goods (default: none
        does; ``docs/MODEL.md`` 15).
    orders
        Per operation of a capital-goods layer, units of capital goods ordered this round.
    basis
        Per operation, the factor on the input cost in its price: 1 (default) in a flow
        market, the user cost of capital ``r + delta`` in a capital-goods layer.
    infrastructure
        Per operation of a capital-goods layer, the infrastructure bought outside the
        stack with each unit of capacity (money per unit: buildings, power, cooling;
        ``docs/MODEL.md`` 15.2): paid as capex with the units received and added to the
        capital good's cost in the price (default 0).
    cost_capacity
        Per operation, a capacity: when given, the clearing also returns
        :attr:`Clearing.cost_price`, the prices every markup zero on these capacities,
        the static switching costs and no infrastructure cost (what
        :func:`resolve_prices` gives for them; ``self_share`` must be given).
    lock_parts
        ``(gravity, memory)``: this round's switching costs as their dynamic parts, the
        data gravity ``[n, n]`` and the memory of hikes ``[n]`` (either ``None``: none),
        added to the static ones at the permitted pairs only; the same numbers as
        ``lock_in=effective_lock_in(structure.lock_in, memory, gravity)``
        (:mod:`~stackgame.environment.lock_in`) without laying out its ``[n, n]`` sum.
        Not with ``lock_in``.
    contracts
        ``[3, m]`` contracts in force: buyer operation, seller operation, units a round
        (``docs/MODEL.md`` 17).
    lock_in
        ``[n, n]`` switching costs of this round, replacing ``structure.lock_in`` in the
        supplier logit: the static part plus the memory of price hikes and data gravity
        (``docs/MODEL.md`` 5.4; :meth:`StackState.lock_in_now`). Default: the static part.

    Notes
    -----
    The rule is :func:`stackgame.environment.market_kernel.clear_kernel`, run compiled or
    as plain Python (:func:`stackgame.environment.jit.compiled`; the same numbers).

    Raises
    ------
    ValueError
        When a per-operation array does not have one entry per operation.
    """
    n = structure.n_ops
    for name, arr in (
        ("unit_cost", unit_cost),
        ("markup", markup),
        ("quality", quality),
        ("capacity", capacity),
    ):
        if _shape(arr) != (n,):
            raise ValueError(f"{name}: expected {n} values, one per operation (got {_shape(arr)})")
    if lock_parts is not None and lock_in is not None:
        raise ValueError("lock_in and lock_parts: give this round's switching costs once")
    gravity, memory = (None, None) if lock_parts is None else lock_parts
    if gravity is not None and _shape(gravity) != (n, n):
        raise ValueError(f"lock_parts: gravity of shape {(n, n)} expected (got {_shape(gravity)})")
    if memory is not None and _shape(memory) != (n,):
        raise ValueError(f"lock_parts: memory of shape {(n,)} expected (got {_shape(memory)})")
    if cost_capacity is not None and self_share is None:
        raise ValueError("cost_capacity: the prices at cost need an explicit self_share")
    for name, opt in (
        ("self_share", self_share), ("quantity_offer", quantity_offer),
        ("cost_capacity", cost_capacity),
    ):  # fmt: skip
        if opt is not None and _shape(opt) != (n,):
            raise ValueError(f"{name}: expected {n} values, one per operation (got {_shape(opt)})")
    rows, cols, pairs, lock = structure.pair_rows(jit)
    kernel = _kernel("clear_kernel", jit, work=n + cols.shape[0])
    per_op, fp, added, lost, spend, outside, attempts = kernel(
        structure._order,
        structure._bounds_arr,
        structure._own_sorted,
        _f64(structure.input_coefficient),
        _f64(structure.choice_mu),
        _f64(unit_cost),
        _f64(markup),
        _f64(quality),
        _f64(capacity),
        rows,
        cols,
        lock,
        lock_in is not None,
        _NO_LOCK if lock_in is None else _lock(structure, lock_in),
        self_share is not None,
        _NO_ARRAY if self_share is None else _f64(self_share),
        supplier_mix is not None,
        _pair_mix(structure, supplier_mix),
        quantity_offer is not None,
        _NO_ARRAY if quantity_offer is None else _f64(quantity_offer),
        bool(demand.cournot),
        demand.kind == "linear",
        float(demand.market_size),
        float(demand.mu),
        float(demand.outside_quality),
        float(demand.intercept),
        float(demand.slope),
        bool(per_unit),
        -1 if spill_rounds is None else max(int(spill_rounds), 0),
        MAX_ATTEMPTS,
        n + 1,
        constant(structure.n_layers, False) if capital_goods is None else _flags(capital_goods),
        constant(n, 0.0) if orders is None else _f64(orders),
        constant(n, 1.0) if basis is None else _f64(basis),
        constant(n, 0.0) if infrastructure is None else _f64(infrastructure),
        _NO_CONTRACTS if contracts is None else _f64(contracts),
        _scratch(cols.shape[0] + (0 if contracts is None else _shape(contracts)[-1])),
        cost_capacity is not None,
        _NO_ARRAY if cost_capacity is None else _f64(cost_capacity),
        gravity is not None,
        _NO_LOCK if gravity is None else _f64(gravity),
        memory is not None,
        _NO_ARRAY if memory is None else _f64(memory),
        structure.repeat_rows(),
    )
    (price, unit_input_cost, quantity, self_supply, revenue, input_cost, variable_cost,
     gross_profit, unmet_input, final_demand, internal_revenue, capex) = per_op[:12]  # fmt: skip
    if added:  # (a contract on a pair no longer permitted: the kernel's pairs, laid out again)
        pairs = _contract_pairs(structure, contracts)
    return Clearing(
        price=price,
        unit_input_cost=unit_input_cost,
        quantity=quantity,
        flows=PairMatrix(pairs, fp, n),
        self_supply=self_supply,
        revenue=revenue,
        input_cost=input_cost,
        variable_cost=variable_cost,
        gross_profit=gross_profit,
        unmet_input=unmet_input,
        final_demand=final_demand,
        internal_revenue=internal_revenue,
        lost_demand=float(lost),
        final_spend=float(spend),
        outside_share=float(outside),
        attempts=int(attempts),
        capex=capex,
        cost_price=per_op[12] if cost_capacity is not None else None,
    )
