"""Structures and relations kept across states: the same as computed, and never shared.

``StackState.rebuild`` and ``Relations.rebuild`` keep what they computed for a small
stack and hand out copies when the same inputs come again (the runs of a batch meet the
same integration moves); a kept value must equal a fresh computation, and changing one
state's copy in place must change nothing else. (A kept structure's arrays fixed with the
assignment, which nothing changes in place, are shared by the states that keep it.)
"""

from __future__ import annotations

import numpy as np
from stackgame.environment import buildout
from stackgame.environment import relations as rel_module
from stackgame.environment import state as state_module
from stackgame.environment.market import build_structure
from stackgame.environment.relations import Relations
from stackgame.environment.scenario import from_dict
from stackgame.environment.state import StackState

from tests.environment.tiny_scenario import tiny

FIELDS = ("by_layer", "own_below", "lock_in", "allowed", "_order", "_bounds_arr", "_own_sorted")


def _fresh(state: StackState) -> StackState:
    """A state whose structure was computed now (nothing kept)."""
    state_module._STRUCTURES.clear()
    state.rebuild()
    return state


def _same_structure(a: StackState, b: StackState) -> None:
    for name in FIELDS:
        x, y = getattr(a.structure, name), getattr(b.structure, name)
        if isinstance(x, list):
            assert len(x) == len(y) and all(np.array_equal(u, v) for u, v in zip(x, y, strict=True))
        else:
            assert np.array_equal(x, y), name
    assert a.structure._bounds == b.structure._bounds
    assert a.structure._pairs == b.structure._pairs


def test_a_kept_structure_equals_a_computed_one_and_is_a_copy() -> None:
    scenario = from_dict(tiny(), "tiny")
    computed = _fresh(StackState(scenario))
    kept = StackState(scenario)  # built from what the first one kept
    _same_structure(kept, computed)
    # its own arrays where the state's are taken as they are, copies everywhere else
    assert kept.structure.layer_of is kept.layer_of
    assert kept.structure.input_coefficient is kept.input_coefficient
    for name in FIELDS[1:]:
        assert not np.shares_memory(
            getattr(kept.structure, name), getattr(computed.structure, name)
        )
    # a change in place (an exclusive relation, an event) stays in its own state
    kept.structure.allowed[:] = False
    kept.structure.lock_in[:] = 7.0
    again = StackState(scenario)
    _same_structure(again, computed)


def test_a_changed_input_is_not_served_from_what_was_kept() -> None:
    scenario = from_dict(tiny(), "tiny")
    first = StackState(scenario)
    other = StackState(scenario)
    other.captive[0] = True  # fab sells to no one: its column is not allowed
    other.rebuild()
    assert not other.structure.allowed[:, 0].any()
    assert first.structure.allowed[:, 0].any()
    expected = build_structure(
        other.layer_of, other.firm_of, other.n_layers, other.input_coefficient, other.choice_mu
    )
    expected.allowed[:, other.captive | ~other.active] = False
    assert np.array_equal(other.structure.allowed, expected.allowed)


def test_kept_relations_equal_computed_ones_and_are_copies() -> None:
    scenario = from_dict(tiny(), "tiny")
    state = StackState(scenario)
    rel_module._KEPT.clear()
    computed = Relations(state, state.firm_names, 5)
    kept = Relations(state, state.firm_names, 5)
    assert len(rel_module._KEPT) == 1
    for name in ("ops", "counterparts", "suppliers", "customers", "rivals", "suppliers_by_layer"):
        assert getattr(kept, name) == getattr(computed, name), name
    assert kept._cp_group_of == computed._cp_group_of
    assert kept._cp_groups == computed._cp_groups  # (tuples: shared as they are)
    assert kept._cp_long.keys() == computed._cp_long.keys()
    assert np.array_equal(kept._cp_matrix, computed._cp_matrix)
    assert kept._cp_index == computed._cp_index and kept._cp_sizes == computed._cp_sizes
    kept.ops[0].append(99)  # a change in place stays in its own relations
    kept._cp_group_of[0] = 5
    kept._cp_matrix[:] = 5
    third = Relations(state, state.firm_names, 5)
    assert third.ops == computed.ops
    assert third._cp_group_of == computed._cp_group_of
    assert np.array_equal(third._cp_matrix, computed._cp_matrix)
    # a different structure (an operation closed) is computed, not served
    state.active[0] = False
    state.rebuild()
    fourth = Relations(state, state.firm_names, 5)
    assert 0 not in fourth.ops[int(state.firm_of[0])]


def _views(rel: Relations) -> tuple[object, ...]:
    return (
        [dict(k) for k in rel.known],
        [tuple(p) for p in rel.pairs],
        rel.markup_floor.tolist(),
    )


def test_kept_views_equal_made_ones_and_a_changed_input_is_made() -> None:
    scenario = from_dict(tiny(allow_integration=True), "tiny")
    state = StackState(scenario)
    rel_module._KEPT.clear()
    rel_module._VIEWS.clear()
    first = Relations(state, state.firm_names, 5)
    first.refresh_views(state)
    assert len(rel_module._VIEWS) == 1
    made = _views(first)
    kept = Relations(state, state.firm_names, 5)
    kept.refresh_views(state)  # (served from what the first one made)
    assert len(rel_module._VIEWS) == 1
    assert _views(kept) == made
    assert kept.known is not first.known and kept.pairs is not first.pairs
    assert not np.shares_memory(kept.markup_floor, first.markup_floor)
    kept.known.append(kept.known[0])  # a change of its lists stays in its own relations
    kept.markup_floor[:] = 7.0
    again = Relations(state, state.firm_names, 5)
    again.refresh_views(state)
    assert _views(again) == made
    # every input of a view moves the key: each change below is made, not served, and
    # gives what a computation from nothing gives
    changes = [
        lambda s: s.restrain_markup.__setitem__(1, 0.33),
        lambda s: s.extract_markup.__setitem__(2, 1.7),
        lambda s: s.integrated_at.__setitem__(2, 3),
        lambda s: s.can_integrate.__setitem__(2, False),
        lambda s: setattr(s, "allow_integration", False),
        lambda s: s.allow_negative_markup.__setitem__(1, True),
    ]
    for change in changes:
        change(state)
        state.version += 1
        served = Relations(state, state.firm_names, 5)
        served.refresh_views(state)
        rel_module._VIEWS.clear()
        fresh = Relations(state, state.firm_names, 5)
        fresh.refresh_views(state)
        assert _views(served) == _views(fresh)
    # a structure change (an operation closed) rebuilds the lists, and views follow them
    state.active[0] = False
    state.rebuild()
    closed = Relations(state, state.firm_names, 5)
    closed.refresh_views(state)
    assert closed.known[0]["layers"] == ()


def test_a_kept_structure_follows_the_relations_and_hands_out_its_own_op_index() -> None:
    scenario = from_dict(tiny(), "tiny")
    computed = _fresh(StackState(scenario))
    kept = StackState(scenario)
    assert kept.op_index() == computed.op_index()
    kept.op_index()[(0, 0)] = 99  # (a change in place stays in its own state)
    assert StackState(scenario).op_index() == computed.op_index()
    # a relation added on the same operations (a stake's) is a different structure
    fab, cloudco = kept.firm_index["fab"], kept.firm_index["cloudco"]
    kept.relations.append((cloudco, fab, 0, 0.5, True))
    kept.rebuild()
    expected = build_structure(
        kept.layer_of, kept.firm_of, kept.n_layers, kept.input_coefficient, kept.choice_mu,
        [(kept.op(cloudco, 1), kept.op(fab, 0), 0.5, True)],
    )  # fmt: skip
    assert np.array_equal(kept.structure.lock_in, expected.lock_in)
    assert np.array_equal(kept.structure.allowed, expected.allowed)
    assert not np.array_equal(kept.structure.allowed, computed.structure.allowed)


def _same_layout(a: buildout._Layout, b: buildout._Layout) -> None:
    for name in ("index", "ops", "layer", "firm", "lead", "a", "plan", "per_unit", "phi"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.listed == b.listed


def test_the_capital_goods_layout_is_renewed_from_the_parts_that_still_hold() -> None:
    raw = tiny()
    raw["layers"][1].update({"capital_goods": True, "input_coefficient": 2.0})
    raw["layers"][1]["infrastructure_cost"] = 0.5
    st = StackState(from_dict(raw, "tiny"))
    first = buildout._layout(st)
    _same_layout(first, buildout._Layout(st))
    # a failure elsewhere in the stack (a chip maker closed): the layout is kept whole
    st.active[st.op(st.firm_index["fab2"], 0)] = False
    st.rebuild()
    second = buildout._layout(st)
    _same_layout(second, buildout._Layout(st))
    assert second.plan is first.plan and second.listed is first.listed
    # a cost decline of the coefficients, in place: a_l made anew, a stale one would differ
    st.input_coefficient[1] *= 0.5
    st.rebuild()
    third = buildout._layout(st)
    _same_layout(third, buildout._Layout(st))
    assert third.a.tolist() == [1.0] and third.plan is first.plan
    # the capital-goods operation closed: its operations made anew
    st.active[st.op(st.firm_index["cloudco"], 1)] = False
    st.rebuild()
    fourth = buildout._layout(st)
    _same_layout(fourth, buildout._Layout(st))
    assert fourth.ops.size == 0 and fourth.index is first.index


def test_the_states_that_keep_a_structure_share_only_its_fixed_arrays() -> None:
    scenario = from_dict(tiny(), "tiny")
    computed = _fresh(StackState(scenario))
    one, two = StackState(scenario), StackState(scenario)
    for name in ("own_below", "_order", "_bounds_arr", "_own_sorted"):
        assert getattr(one.structure, name) is getattr(two.structure, name), name
        assert not np.shares_memory(getattr(one.structure, name), getattr(computed.structure, name))
    assert all(a is b for a, b in zip(one.structure.by_layer, two.structure.by_layer, strict=True))
    for name in ("lock_in", "allowed"):  # (may be changed in place: each state's own)
        assert not np.shares_memory(getattr(one.structure, name), getattr(two.structure, name))


def test_a_bytes_key_tells_dtypes_apart_and_keep_drops_the_oldest() -> None:
    from stackgame.environment.kept import bytes_key, keep

    zeros_int = np.zeros(2, dtype=np.int64)
    zeros_float = np.zeros(2)  # (the same 16 bytes)
    assert zeros_int.tobytes() == zeros_float.tobytes()
    assert bytes_key(zeros_int) != bytes_key(zeros_float)
    assert bytes_key(zeros_int, zeros_float) == bytes_key(zeros_int.copy(), zeros_float.copy())
    cache: dict[str, int] = {}
    for i, k in enumerate("abc"):
        keep(cache, k, i, 2)
    assert cache == {"b": 1, "c": 2}
