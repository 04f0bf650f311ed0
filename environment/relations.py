"""The relations between firms: who supplies, buys from and rivals whom.

Rebuilt when the structure changes (an integration, an acquisition, a stake, an event that
changes what a firm may sell); read every round by ``observe`` (each firm's counterparts),
``decide`` (each firm's operations and layers) and ``record`` (the counterpart vote).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stackgame.environment.kept import bytes_key, keep
from stackgame.environment.state import StackState
from stackgame.strategies.base import OBSERVATION_DEFAULTS, Posture, ReadOnlyDict


def _union(in_layer: list[list[int]], layers: list[int], exclude: int) -> list[int]:
    """Firms with an operation in any of ``layers``, ascending, without ``exclude``."""
    out: set[int] = set()
    for k in layers:
        out.update(in_layer[k])
    out.discard(exclude)
    return sorted(out)


_CACHE_OPS = 128
"""Relations of stacks of at most this many operations are kept across models."""
_DENSE_VOTE = 64
"""Stacks of at most this many firms vote by a firms x firms 0/1 matrix product."""
_LONG_GROUP = 64
"""Counterpart lists at least this long are summed by numpy in the vote (shorter: Python,
whose per-call cost is lower)."""
_CACHE_SIZE = 64
"""How many are kept at most (the oldest goes first)."""
_KEPT: dict[tuple[Any, ...], tuple[Any, ...]] = {}
"""What :meth:`Relations.rebuild` computed, by what it computed it from."""
_VIEWS: dict[tuple[Any, ...], tuple[Any, ...]] = {}
"""What :meth:`Relations.refresh_views` made, by everything it made it from (at most
:data:`_CACHE_SIZE`, the oldest goes first)."""
_DEFAULTS: dict[str, Any] = dict(OBSERVATION_DEFAULTS)
"""A template's defaults as a plain dictionary (each template starts as a copy)."""


class KnownFields(dict[str, Any]):
    """A firm's own observation fields (:attr:`Relations.known`); any other reads as its default.

    So it serves as the firm's template where only those two are read: a lazy observation
    reads its own fields from it before it makes a field, and what it then reads of a
    template is a default (``StackModel.observe`` hands it as the template there).
    """

    __slots__ = ()

    def __missing__(self, name: str) -> Any:
        return _DEFAULTS[name]


_Observed = tuple[dict[str, Any], tuple[str, ...], list[int], tuple[tuple[str, int], ...]]
"""What ``observe`` reads of a firm on the general path (:attr:`Relations.observed`)."""


class Relations:
    """Each firm's operations and counterparts, and what its observation shares per round.

    Attributes
    ----------
    ops
        Per firm, its active operations, ascending.
    counterparts, suppliers, customers, rivals
        Per firm, names of the firms just below, just above (suppliers, customers), in the
        same layers (rivals), and suppliers then customers (counterparts).
    suppliers_by_layer
        Per firm, its suppliers by the layer they sell in (layer name to names).
    templates
        Per firm, the fields of its observation that change only with the structure (its
        layers, counterparts, integrable layers, markup bounds, the horizon), from
        ``OBSERVATION_DEFAULTS`` up: ``OBSERVATION_DEFAULTS`` updated by its ``known``,
        made on first read after :meth:`refresh_views` (the lazy observations read
        ``known`` and the defaults, never a template: ``observe`` builds none for them).
    pairs
        Per firm, ``(layer name, operation)`` for each active operation.
    known
        Per firm, the fields of its template that are its own (all but the defaults):
        what its observation reads without a call (``Observation.lazy_over``), any other
        field read as its default (:class:`KnownFields`). Refreshed by
        :meth:`refresh_views` when the state's version moves.
    observed
        Per firm, ``(template, suppliers, ops, pairs)``: what ``observe`` reads of it at
        once on the general (deferred) path, made on first read like ``templates``.
    markup_floor
        Per operation, the lowest markup allowed (-0.95 where the layer allows negative
        markups, else 0).
    """

    def __init__(self, state: StackState, firm_names: Sequence[str], horizon: int) -> None:
        self.firm_names = list(firm_names)
        self.horizon = horizon
        self.views_version = -1
        self.ops: list[list[int]] = []
        self.counterparts: list[tuple[str, ...]] = []
        self.suppliers: list[tuple[str, ...]] = []
        self.customers: list[tuple[str, ...]] = []
        self.rivals: list[tuple[str, ...]] = []
        self.suppliers_by_layer: list[ReadOnlyDict] = []
        self._templates: list[dict[str, Any]] | None = None
        self.known: list[KnownFields] = []
        self.pairs: list[tuple[tuple[str, int], ...]] = []
        self._observed: list[_Observed] | None = None
        self._observed_from: tuple[list[tuple[str, ...]], list[list[int]]] = ([], [])
        self.markup_floor = np.zeros(state.n_ops)
        # the distinct counterpart lists end to end, for the vote (see _flat_votes)
        self._cp_flat: tuple[Any, ...] | None = None
        # what the lists were computed from (Relations.rebuild's key; None: not kept)
        self._key: tuple[Any, ...] | None = None
        self.rebuild(state)

    def rebuild(self, state: StackState) -> None:
        """Recompute operations and counterparts after the structure changed.

        What a stack of at most :data:`_CACHE_OPS` operations gives is kept across models
        (:data:`_KEPT`, by everything it is computed from), and copied from there.
        """
        st = state
        key = None
        if st.n_ops <= _CACHE_OPS:
            key = (tuple(self.firm_names), tuple(st.layer_names)) + bytes_key(
                st.firm_of, st.layer_of, st.active, st.acquired
            )
            kept = _KEPT.get(key)
            if kept is not None:
                self._assign(*kept)
                self._key = key
                return
        self._compute(st)
        self._key = key
        if key is not None:
            kept = (
                [list(g) for g in self.ops], self.counterparts, self.suppliers, self.customers,
                self.rivals, self.suppliers_by_layer, self._cp_index, self._cp_sizes,
                self._cp_group_of, self._cp_groups, self._cp_long,
                None if self._cp_matrix is None else self._cp_matrix.copy(),
            )  # fmt: skip
            keep(_KEPT, key, kept, _CACHE_SIZE)

    def _assign(
        self,
        ops: list[list[int]],
        counterparts: list[tuple[str, ...]],
        suppliers: list[tuple[str, ...]],
        customers: list[tuple[str, ...]],
        rivals: list[tuple[str, ...]],
        suppliers_by_layer: list[ReadOnlyDict],
        cp_index: list[tuple[int, ...]],
        cp_sizes: list[int],
        cp_group_of: list[int],
        cp_groups: list[tuple[int, ...]],
        cp_long: dict[int, np.ndarray],
        cp_matrix: np.ndarray | None,
    ) -> None:
        """Take what :meth:`_compute` gave for the same structure (lists and arrays copied)."""
        self.ops = list(map(list, ops))
        self.counterparts = list(counterparts)  # (tuples and read-only dicts: shared)
        self.suppliers = list(suppliers)
        self.customers = list(customers)
        self.rivals = list(rivals)
        self.suppliers_by_layer = list(suppliers_by_layer)
        self._cp_index = list(cp_index)
        self._cp_sizes = list(cp_sizes)
        self._cp_group_of = list(cp_group_of)
        self._cp_groups = list(cp_groups)  # (tuples, and read-only arrays: shared)
        self._cp_long = dict(cp_long)
        self._cp_matrix = None if cp_matrix is None else cp_matrix.copy()
        self.views_version = -1

    def _compute(self, state: StackState) -> None:
        """:meth:`rebuild`, computed."""
        st = state
        # active operations per firm, ascending (as np.flatnonzero per firm would give)
        groups: list[list[int]] = [[] for _ in range(st.n_firms)]
        firm_of = st.firm_of.tolist()
        for o in np.flatnonzero(st.active).tolist():
            groups[firm_of[o]].append(o)
        self.ops = groups
        # each firm's layers as a bit mask
        layer_of = st.layer_of.tolist()
        masks = [sum({1 << layer_of[o] for o in g}) for g in groups]
        acquired = st.acquired.tolist()
        names = self.firm_names
        n_layers = st.n_layers
        # firms (active, ascending) with an operation in each layer, and their names: j
        # supplies i when j is in a layer just below one of i's, buys from i when just
        # above, and rivals i when they share a layer
        in_layer = [
            [j for j, m in enumerate(masks) if (m >> k) & 1 and not acquired[j]]
            for k in range(n_layers)
        ]
        named = [tuple([names[j] for j in firms]) for firms in in_layer]
        none: list[int] = []
        self.counterparts = []
        self.suppliers = []
        self.customers = []
        self.rivals = []
        self.suppliers_by_layer = []
        layer_names = st.layer_names
        cp_index = []
        cp_named: dict[tuple[int, ...], tuple[str, ...]] = {}
        for i, mine in enumerate(masks):
            mine_layers = [k for k in range(n_layers) if (mine >> k) & 1]
            self.suppliers_by_layer.append(
                ReadOnlyDict(
                    {
                        layer_names[k - 1]: tuple([names[j] for j in in_layer[k - 1] if j != i])
                        for k in mine_layers
                        if k > 0
                    }
                )
            )
            if len(mine_layers) == 1:  # the common case: lists as they are, less i itself
                k = mine_layers[0]
                sup = in_layer[k - 1] if k > 0 else none
                cus = in_layer[k + 1] if k + 1 < n_layers else none
                riv = [j for j in in_layer[k] if j != i]
                sup_names = named[k - 1] if k > 0 else ()
                cus_names = named[k + 1] if k + 1 < n_layers else ()
            else:
                sup = _union(in_layer, [k - 1 for k in mine_layers if k > 0], i)
                cus = _union(in_layer, [k + 1 for k in mine_layers if k + 1 < n_layers], i)
                riv = _union(in_layer, mine_layers, i)
                sup_names = tuple([names[j] for j in sup])
                cus_names = tuple([names[j] for j in cus])
            cps = tuple(dict.fromkeys(sup + cus))
            cp_index.append(cps)
            # one tuple of names per distinct list, shared by the firms that have it (the
            # learners' mean counterpart markup is kept per tuple, by identity)
            cp_names = cp_named.get(cps)
            if cp_names is None:
                cp_names = cp_named[cps] = tuple([names[j] for j in cps])
            self.counterparts.append(cp_names)
            self.suppliers.append(sup_names)
            self.customers.append(cus_names)
            self.rivals.append(tuple([names[j] for j in riv]))
        # for the majority vote of the counterpart history: lists, and each distinct list
        # once (the firms of a layer share theirs: the vote's cost is the distinct lists'
        # total length, not firms x firms as a 0/1 matrix was), the long ones also as
        # read-only index arrays
        self._cp_index = cp_index
        self._cp_sizes = [len(c) for c in cp_index]
        distinct: dict[tuple[int, ...], int] = {}
        self._cp_group_of = [distinct.setdefault(c, len(distinct)) for c in cp_index]
        self._cp_groups = list(distinct)
        self._cp_long = {}
        for g, members in enumerate(self._cp_groups):
            if len(members) >= _LONG_GROUP:
                index = np.array(members, dtype=np.intp)
                index.flags.writeable = False
                self._cp_long[g] = index
        # a small stack votes by one 0/1 matrix product (cheaper there than a sum per list)
        n = st.n_firms
        self._cp_matrix = None
        if n <= _DENSE_VOTE:
            cp_matrix = np.zeros(n * n, dtype=np.int64)
            cp_matrix[np.array([i * n + j for i, c in enumerate(cp_index) for j in c], np.intp)] = 1
            self._cp_matrix = cp_matrix.reshape(n, n)
        self.views_version = -1

    def integrable(
        self,
        state: StackState,
        i: int,
        mine: set[int] | None = None,
        pending: set[int] | None = None,
    ) -> tuple[str, ...]:
        """Layers firm ``i`` may build into (``mine``: its active layers, ``pending``: all)."""
        st = state
        if not (st.allow_integration and st.can_integrate[i]) or st.acquired[i]:
            return ()
        if mine is None:
            mine = set(st.layer_of[self.ops[i]].tolist())
        if pending is None:
            pending = set(st.layer_of[(st.firm_of == i)].tolist())
        out = {k + d for k in mine for d in (-1, 1)} - pending
        return tuple([st.layer_names[k] for k in sorted(out) if 0 <= k < st.n_layers])

    def refresh_views(self, state: StackState) -> None:
        """Rebuild each firm's known fields when the state's version moved.

        They hold the fields that change only with the structure or with settings an event
        may change (markups, integration); the templates (defaults and known fields in one
        dictionary) are made from them when first read (:attr:`templates`).
        """
        st = state
        if self.views_version == st.version:
            return
        # the same inputs make the same views: a small stack's are kept across models (the
        # runs of a batch or a benchmark meet the same structures again and again: a
        # firm's failure, an integration move); every array read below is in the key, and
        # the lists the views pick from are keyed by what they were computed from
        key = None
        if self._key is not None:
            key = (self._key, st.markup_grid, self.horizon, bool(st.allow_integration)) + bytes_key(
                st.firm_of, st.layer_of, st.integrated_at, st.restrain_markup,
                st.extract_markup, st.can_integrate, st.acquired, st.allow_negative_markup,
            )  # fmt: skip
            kept = _VIEWS.get(key)
            if kept is not None:
                self._views_from(*kept)
                self.views_version = st.version
                return
        self._make_views(st)
        if key is not None:
            kept_views = (tuple(self.known), tuple(self.pairs), self.markup_floor.copy())
            keep(_VIEWS, key, kept_views, _CACHE_SIZE)
        self.views_version = st.version

    def _views_from(
        self,
        known: tuple[KnownFields, ...],
        pairs: tuple[tuple[tuple[str, int], ...], ...],
        markup_floor: np.ndarray,
    ) -> None:
        """Take what :meth:`_make_views` made for the same inputs (never changed after)."""
        self._templates = None
        self._observed = None
        self._observed_from = (self.suppliers, self.ops)  # (as they are now)
        self.known = list(known)
        self.pairs = list(pairs)
        self.markup_floor = markup_floor.copy()

    def _make_views(self, state: StackState) -> None:
        """:meth:`refresh_views`, made."""
        st = state
        names = st.layer_names
        layer_of = st.layer_of.tolist()
        integrated_at = st.integrated_at.tolist()
        any_integrated = max(integrated_at, default=-1) >= 0
        # per operation, its layer's name, its (layer, operation) pair and its markup
        # bounds' entry, made once here (the firms' tuples pick them, not rebuild them)
        op_layer = [names[k] for k in layer_of]
        op_pair = list(zip(op_layer, range(len(layer_of)), strict=True))
        op_bound = list(
            zip(
                op_layer,
                zip(st.restrain_markup.tolist(), st.extract_markup.tolist(), strict=True),
                strict=True,
            )
        )
        pending: list[set[int]] = [set() for _ in range(st.n_firms)]  # all ops, any state
        for o, firm in enumerate(st.firm_of.tolist()):
            pending[firm].add(layer_of[o])
        # Relations.integrable's test, from lists (one numpy read per array, not per firm)
        allowed = [
            bool(st.allow_integration) and bool(can) and not bool(acq)
            for can, acq in zip(st.can_integrate.tolist(), st.acquired.tolist(), strict=True)
        ]
        n_layers = st.n_layers
        grid = st.markup_grid
        horizon = self.horizon
        self._templates = None
        self._observed = None
        self._observed_from = (self.suppliers, self.ops)  # (as they are now)
        self.known = knowns = []
        self.pairs = all_pairs = []
        # the layers' names and the integrable layers, made once per call for the firms
        # whose operations are in the same layers (and that may integrate as far)
        shapes: dict[Any, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        for i, name in enumerate(self.firm_names):
            ops = self.ops[i]
            if len(ops) == 1:  # the common case: one operation
                o = ops[0]
                at: tuple[int, ...] = (layer_of[o],)
                pairs: tuple[tuple[str, int], ...] = (op_pair[o],)
                markup_bounds = ReadOnlyDict((op_bound[o],))
            else:
                at = tuple([layer_of[o] for o in ops])
                pairs = tuple([op_pair[o] for o in ops])
                markup_bounds = ReadOnlyDict([op_bound[o] for o in ops])
            mine = pending[i]
            key = (at, allowed[i] and frozenset(mine))
            shape = shapes.get(key)
            if shape is None:
                lnames = tuple([names[k] for k in at])
                integrable: tuple[str, ...] = ()
                if allowed[i]:
                    out = {k + d for k in at for d in (-1, 1)} - mine
                    integrable = tuple([names[k] for k in sorted(out) if 0 <= k < n_layers])
                shape = shapes[key] = (lnames, integrable)
            lnames, integrable = shape
            knowns.append(
                KnownFields(
                    firm=name,
                    layers=lnames,
                    counterparts=self.counterparts[i],
                    suppliers=self.suppliers[i],
                    suppliers_by_layer=self.suppliers_by_layer[i],
                    customers=self.customers[i],
                    rivals=self.rivals[i],
                    markup_grid=grid,
                    integrable=integrable,
                    integrated=tuple([op_layer[o] for o in ops if integrated_at[o] >= 0])
                    if any_integrated
                    else (),
                    horizon=horizon,
                    markup_bounds=markup_bounds,
                )
            )
            all_pairs.append(pairs)
        self.markup_floor = np.where(st.allow_negative_markup[st.layer_of], -0.95, 0.0)

    @property
    def templates(self) -> list[dict[str, Any]]:
        """Per firm, ``OBSERVATION_DEFAULTS`` updated by its known fields (see the class)."""
        if self._templates is None:
            self._templates = [{**_DEFAULTS, **known} for known in self.known]
        return self._templates

    @property
    def observed(self) -> list[_Observed]:
        """Per firm, ``(template, suppliers, ops, pairs)`` (see the class)."""
        if self._observed is None:
            suppliers, ops = self._observed_from
            self._observed = list(zip(self.templates, suppliers, ops, self.pairs, strict=True))
        return self._observed

    def counterpart_votes(self, last: list[int]) -> list[Posture]:
        """Each firm's counterparts' majority posture this round (ties extract).

        ``last``: each firm's headline posture this round as 0 or 1, or -1 for a firm
        with no history (acquired before it played); only firms with one count.
        """
        extract, restrain = Posture.EXTRACT, Posture.RESTRAIN
        if min(last, default=0) >= 0:  # every firm has a history (after round 0)
            n_seen = self._cp_sizes
            if self._cp_matrix is not None:
                n_extract = (self._cp_matrix @ np.array(last, dtype=np.int64)).tolist()
            elif self._cp_long:  # a large stack: every list summed in one numpy pass
                return self._flat_votes(last)
            else:
                n_extract = self._group_votes(last)
        else:
            seen = [[last[j] for j in cps if last[j] >= 0] for cps in self._cp_index]
            n_seen = [len(x) for x in seen]
            n_extract = [sum(x) for x in seen]
        return [
            extract if n and 2 * e >= n else restrain
            for n, e in zip(n_seen, n_extract, strict=True)
        ]

    def _flat_votes(self, last: list[int]) -> list[Posture]:
        """:meth:`counterpart_votes` when every firm has a history, by one numpy pass.

        The distinct lists laid end to end (once per structure, kept with the lists they
        were made from), each summed by ``np.add.reduceat`` over the gathered 0/1 votes:
        integers, so the same counts as a sum per list (at 1,000 firms of the all-pairs
        stack, about a hundred lists of hundreds of firms: one gather, not one per list).
        """
        flat = self._cp_flat
        if flat is None or flat[0] is not self._cp_groups:
            groups = self._cp_groups
            n = len(self._cp_index)
            sizes = np.array([len(g) for g in groups], dtype=np.intp)
            starts = np.zeros(len(groups), dtype=np.intp)
            np.cumsum(sizes[:-1], out=starts[1:])
            # one slot past the firms holds a 0 vote: an empty list's start points at it
            long = self._cp_long  # (the long lists' index arrays, made already)
            members = np.concatenate(
                [long[g] if g in long else np.array(c, dtype=np.intp) for g, c in enumerate(groups)]
                + [np.array([n], dtype=np.intp)]
            )
            flat = self._cp_flat = (
                groups, members, starts, sizes == 0,
                np.array(self._cp_group_of, dtype=np.intp),
                np.array(self._cp_sizes, dtype=np.int64),
            )  # fmt: skip
        _, members, starts, empty, group_of, n_seen = flat
        votes = np.array([*last, 0], dtype=np.int64)
        per_group = np.add.reduceat(votes[members], starts)
        per_group[empty] = 0  # (reduceat gives the element at an empty run's start)
        n_extract = per_group[group_of]
        extracts = ((n_seen > 0) & (2 * n_extract >= n_seen)).tolist()
        pick = (Posture.RESTRAIN, Posture.EXTRACT)
        return [pick[x] for x in extracts]

    def _group_votes(self, last: list[int]) -> list[int]:
        """Per firm, how many of its counterparts extracted: each distinct list summed once.

        The long lists by numpy, the short ones in Python; integers, so exact either way.
        """
        long = self._cp_long
        votes = np.array(last, dtype=np.int64) if long else None
        per_group = [
            int(votes[long[g]].sum())
            if votes is not None and g in long
            else sum([last[j] for j in members])
            for g, members in enumerate(self._cp_groups)
        ]
        return [per_group[g] for g in self._cp_group_of]
