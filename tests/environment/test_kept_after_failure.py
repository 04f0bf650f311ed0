"""What the round after a structure change reads, kept across models: the same as made.

A failure's fire sale (or an integration move) changes the structure, and the next round
rebuilds what is keyed on the structure version: the clearing's pair rows
(``Structure.pair_rows``), last round's purchase shares at the new pairs
(``market._pair_mix``), the settlement's pair layout (``payouts.pair_layout``), the
contract book's terms and resolutions (``ContractBook._terms_now``) and the
investment's plan (``buildout.capital_plan``). A small stack's are kept across models by
everything they are made from (the runs of a batch or a benchmark meet the same
structures again and again); each test here checks that a kept value equals a fresh one,
and that a changed input is not served from what was kept.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from stackgame.environment import buildout, market, payouts
from stackgame.environment import contracts as contracts_module
from stackgame.environment.market import PairMatrix, build_structure
from stackgame.environment.model import StackModel, _InvestPlan
from stackgame.environment.scenario import apply_overrides, from_dict, resolve

from benchmarks.bench_core import training_off
from tests.environment.test_contracts import BUYER, MAKER, Q, chain


def _forget() -> None:
    """Drop everything kept across models (the next value is made afresh)."""
    market._PAIR_ROWS.clear()
    market._MOVED.clear()
    payouts._LAYOUT.clear()
    contracts_module._TERMS.clear()
    buildout._PLANS.clear()


def _structure(allowed_off: tuple[int, int] | None = None) -> market.Structure:
    """Three layers of two operations each, every pair permitted (but ``allowed_off``)."""
    layer_of = np.array([0, 0, 1, 1, 2, 2], dtype=np.int64)
    firm_of = np.array([0, 1, 2, 3, 4, 5], dtype=np.int64)
    s = build_structure(layer_of, firm_of, 3, np.ones(3), np.ones(3), [])
    s.lock_in[2, 0] = 0.25
    if allowed_off is not None:
        s.allowed[allowed_off] = False
    return s


def test_kept_pair_rows_equal_made_ones_and_follow_a_change_of_the_pairs() -> None:
    _forget()
    made = _structure().pair_rows()
    kept = _structure().pair_rows()  # another structure built from the same inputs
    assert kept is made  # (shared: never changed in place)
    s = _structure()
    s.allowed[3, 1] = False  # a change in place, said (as an exclusive relation does)
    s.pairs_changed()
    changed = s.pair_rows()
    _forget()
    fresh = _structure((3, 1)).pair_rows()
    for a, b in zip(changed, fresh, strict=True):
        np.testing.assert_array_equal(a, b)
    assert changed[2].shape[1] == made[2].shape[1] - 1
    np.testing.assert_array_equal(s.repeat_rows(), _structure((3, 1)).repeat_rows())


def test_purchase_shares_moved_to_new_pairs_equal_the_dense_matrix_read_there() -> None:
    rng = np.random.default_rng(5)
    n = 9
    for trial in range(40):
        old = np.array(np.nonzero(rng.random((n - 2, n - 2)) < 0.4), dtype=np.int64)
        if trial % 3 == 0 and old.shape[1]:  # a pair listed twice: the last entry holds
            old = np.concatenate([old, old[:, :1]], axis=1)
        new = np.array(np.nonzero(rng.random((n, n)) < 0.4), dtype=np.int64)
        values = rng.random(old.shape[1])
        if values.shape[0]:
            values[0] = -0.0
        mix = PairMatrix(old, values, n - 2)
        expected = mix.dense(n)[new[0], new[1]]
        for _ in range(2):  # made, then kept
            moved = market._moved_pairs(mix, new, n)
            if old.shape[1] == 0:
                assert moved is None
                continue
            assert moved is not None
            found, at = moved
            got = np.where(found, values[at], 0.0)
            assert got.tobytes() == expected.tobytes()
    # a mix over more operations than the structure has: not mapped (the check raises)
    assert market._moved_pairs(PairMatrix(old, values, n + 1), new, n) is None


def test_pair_layouts_are_kept_for_a_few_pair_lists_and_equal_made_ones() -> None:
    _forget()
    lists = [
        np.array([[0, 0, 1, 3, 3, 3], [1, 2, 0, 0, 1, 2]], dtype=np.int64),
        np.array([[2, 2, 5], [0, 1, 4]], dtype=np.int64),
        np.zeros((2, 0), dtype=np.int64),
    ]
    made = [payouts.pair_layout(p) for p in lists]
    for p, (starts, sellers) in zip(lists * 2, made * 2, strict=True):
        got = payouts.pair_layout(p)
        assert got[0] is starts and got[1] is sellers  # (kept)
    for p, (starts, sellers) in zip(lists, made, strict=True):
        fresh = payouts.pair_layout(p.copy())  # (another array: made again)
        assert fresh[0] is not starts
        np.testing.assert_array_equal(fresh[0], starts)
        np.testing.assert_array_equal(fresh[1], sellers)
    assert len(payouts._LAYOUT) == 6 <= payouts._LAYOUTS


def test_kept_terms_follow_the_structure_and_the_contracts() -> None:
    raw = chain({"quantity": Q, "price": 2.0, "duration": 4, "take_or_pay": 0.5})
    _forget()
    first = StackModel(from_dict(raw), 0)
    second = StackModel(from_dict(raw), 1)
    try:
        ints, floats = first.contracts.packed(first.state)
        ints2, floats2 = second.contracts.packed(second.state)
        assert ints2 is ints and floats2 is floats  # (the same terms: shared)
        assert ints.tolist() == [[0], [4], [MAKER], [BUYER], [BUYER], [MAKER]]
        # the seller's operation closes in one model: its terms change, the other's not
        st = second.state
        st.active[MAKER] = False
        st.rebuild()
        assert second.contracts.packed(st)[0].tolist() == [
            [0],
            [4],
            [-1],
            [BUYER],
            [BUYER],
            [MAKER],
        ]
        assert second.contracts.in_force(0, st) is None
        assert first.contracts.in_force(0, first.state).tolist() == [[BUYER], [MAKER], [Q]]
        assert first.contracts.packed(first.state)[0] is ints
        # a term changes (terminated after round 0): new terms, in force in round 0 only
        first.contracts.terminate(BUYER, 0)
        assert first.contracts.packed(first.state)[0][1].tolist() == [1]
        assert first.contracts.in_force(1, first.state) is None
        assert first.contracts.sold_forward(0, first.state).tolist() == [Q, 0.0]
        # a third model meets the first's terms again: kept, and equal to made ones
        third = StackModel(from_dict(raw), 2)
        third.contracts.terminate(BUYER, 0)
        kept = third.contracts.packed(third.state)
        _forget()
        third.contracts._terms = None
        made = third.contracts.packed(third.state)
        assert kept[0].tolist() == made[0].tolist() and kept[1].tolist() == made[1].tolist()
        third.release()
    finally:
        first.release()
        second.release()


def _bench_stack() -> object:
    shipped = resolve("ai-stack-2026")
    return apply_overrides(shipped, training_off(shipped))


def test_a_kept_capital_plan_equals_a_made_one_and_follows_the_structure() -> None:
    scenario = _bench_stack()
    _forget()
    model = StackModel(scenario, 0, rounds=4)
    other = StackModel(scenario, 1, rounds=4)
    try:
        names = model.layer_names
        made = buildout.capital_plan(model.state, names)
        kept = buildout.capital_plan(other.state, names)
        assert kept is made
        st = other.state
        o = int(made.rows[0, 0])  # a capital-goods operation closes
        st.active[o] = False
        st.rebuild()
        changed = buildout.capital_plan(st, names)
        assert changed is not made and o not in changed.rows[0].tolist()
        _forget()
        st._derived.pop("capital_plan")
        fresh = buildout.capital_plan(st, names)
        assert fresh.by_firm == changed.by_firm
        for name in ("rows", "a", "structure"):
            np.testing.assert_array_equal(getattr(fresh, name), getattr(changed, name))
        target, ahead = [0.5] * st.n_firms, [2] * st.n_firms
        for got, want in zip(
            changed.rule_arrays(target, ahead), fresh.rule_arrays(target, ahead), strict=True
        ):
            np.testing.assert_array_equal(got, want)
        assert changed.rule_arrays(target, ahead)[0] is changed.rule_arrays(target, ahead)[0]
        assert changed.rule_arrays(target, [1] * st.n_firms)[0][4].tolist() == [1] * len(
            changed.firms
        )
    finally:
        model.release()
        other.release()


def _run(scenario: object, seed: int) -> list[bytes]:
    model = StackModel(scenario, seed, rounds=24)
    model.run()
    model.release()
    h = model.history
    out = [h.ops_matrix(c).tobytes() for c in ("price", "quantity", "revenue", "capex")]
    out += [h.firms_matrix(c).tobytes() for c in ("profit", "cash")]
    out.append(repr([(e.round, e.kind, e.firm, e.text) for e in model.log]).encode())
    return out


def test_runs_past_a_failure_with_kept_values_equal_runs_without() -> None:
    """TSMC fails in round 22 of the benchmark's stack: the next round reads kept values."""
    scenario = _bench_stack()
    _forget()
    _run(scenario, 0)  # (fills what is kept)
    warm = _run(scenario, 1)
    _forget()
    cold = _run(scenario, 1)
    assert warm == cold
    assert b"failure" in warm[-1]


def _plan_fields(plan: object) -> list[object]:
    """What the investment stage reads of an ``_InvestPlan`` (arrays as bytes)."""
    out: list[object] = []
    for name in ("entries", "values", "structure", "no_price", "ask"):
        a = getattr(plan, name)
        out += [a.dtype.str, a.shape, a.tobytes()]
    out += [
        [(agent.index, id(s), kind) for agent, s, kind in plan.checks],  # type: ignore[attr-defined]
        plan.asked,  # type: ignore[attr-defined]
        plan.defaults,  # type: ignore[attr-defined]
        plan.work,  # type: ignore[attr-defined]
        plan.own_rule,  # type: ignore[attr-defined]
        plan.trains,  # type: ignore[attr-defined]
    ]
    return out


def _first_plan(model: StackModel) -> tuple[Any, dict[int, Any], _InvestPlan, int]:
    """The state, the first observations and plan, and an active op outside capital goods."""
    st = model.state
    observations = model.observe()
    first = model._invest_plan(observations)
    capital_ops = set(first.capital.rows[0].tolist())
    o = next(o for o in range(st.n_ops) if o not in capital_ops and st.active[o])
    return st, observations, first, o


def test_a_plan_moved_to_a_new_structure_is_the_plan_built_there() -> None:
    scenario = _bench_stack()
    model = StackModel(scenario, 0, rounds=4)
    try:
        st, observations, first, o = _first_plan(model)
        # an operation outside the capital-goods layers closes: the plan moves
        st.active[o] = False
        st.rebuild()
        moved = model._invest_plan(observations)
        assert moved is not first and moved.version == st.version
        assert moved.entries is first.entries  # (moved, not built)
        built = _InvestPlan.build(model, observations)
        assert _plan_fields(moved) == _plan_fields(built)
        assert moved.structure[2, o] == 0
        # a capital-goods operation closes: built again
        c = int(first.capital.rows[0, 0])
        st.active[c] = False
        st.rebuild()
        again = model._invest_plan(observations)
        assert again.entries is not first.entries
        assert _plan_fields(again) == _plan_fields(_InvestPlan.build(model, observations))
        # a firm concerned has another strategy object: built again, not moved
        st.rebuild()
        f = again.checks[0][0]
        f.strategy = copy.copy(f.strategy)
        third = model._invest_plan(observations)
        assert third.checks[0][1] is f.strategy
    finally:
        model.release()


def test_a_decline_of_a_capital_goods_layers_coefficient_renews_what_is_kept() -> None:
    """A cost decline of ``a_l`` in a capital-goods layer moves the structure's version.

    The capital-goods layout (``a``, ``per_unit``, the kernel's rows) and the investment
    plan are kept per version; the decline changes the coefficients in place, so
    without a new version they would keep the old ``a_l`` (a decline elsewhere, as
    ``ai-stack-2026``'s of the models layer, moves nothing).
    """
    from stackgame.environment.events import Decline, advance_declines
    from stackgame.environment.state import StackState

    st = StackState(resolve("ai-stack-2026"))
    cloud = st.layer_names.index("cloud")
    models = st.layer_names.index("models")
    assert st.capital_goods[cloud] and not st.capital_goods[models]
    before = buildout._layout(st)
    version = st.version
    advance_declines(st, [Decline(models, 0.5, 3, "input_coefficient")])
    assert st.version == version  # (not a capital-goods layer: nothing kept reads it)
    advance_declines(st, [Decline(cloud, 0.5, 3, "input_coefficient")])
    assert st.version > version
    after = buildout._layout(st)
    assert after is not before
    np.testing.assert_array_equal(after.a, st.input_coefficient[after.layer])
    np.testing.assert_array_equal(after.per_unit, st.input_coefficient[st.layer_of])
    assert [x[2] for x in after.listed] == after.a.tolist()


def test_plans_compared_once_give_the_answer_of_a_fresh_comparison() -> None:
    """``model._same_entries`` keeps its answer by the two plans: never a stale one.

    A decline of a capital-goods layer's ``a_l`` makes a plan whose entries differ in
    ``a`` only: compared with the one before, not the same (kept or not), and the
    investment plan is built again there, with the new ``a_l``; a structure change
    outside the capital-goods layers gives a plan with the same entries.
    """
    from stackgame.environment import model as model_module
    from stackgame.environment.events import Decline, advance_declines

    scenario = _bench_stack()
    model = StackModel(scenario, 0, rounds=4)
    try:
        st, observations, first, o = _first_plan(model)
        old = first.capital
        st.active[o] = False
        st.rebuild()
        same = buildout.capital_plan(st, model.layer_names)
        assert same is not old
        for _ in range(2):  # (made, then kept)
            assert model_module._same_entries(old, same)
        st.active[o] = True
        st.rebuild()
        cloud = st.layer_names.index("cloud")
        advance_declines(st, [Decline(cloud, 0.5, 3, "input_coefficient")])
        declined = buildout.capital_plan(st, model.layer_names)
        assert declined.by_firm != old.by_firm or declined.a.tobytes() != old.a.tobytes()
        for _ in range(2):
            assert not model_module._same_entries(old, declined)
        plan = model._invest_plan(observations)
        assert plan.entries is not first.entries
        np.testing.assert_array_equal(plan.values[0], declined.a)
        assert _plan_fields(plan) == _plan_fields(_InvestPlan.build(model, observations))
    finally:
        model.release()


def test_terms_renewed_on_a_new_structure_only_where_nothing_they_read_changed() -> None:
    """A book's terms carried to a new structure version equal terms made there afresh.

    Renewed (the same arguments, no key built) after a change that leaves every
    contract's operations as they were; made again after one that moves a seller's
    operation, or after an edit of the contracts (a termination), whatever the structure.
    """
    scenario = _bench_stack()
    model = StackModel(scenario, 0, rounds=4)
    try:
        st, book = model.state, model.contracts
        assert book.m > 0
        first = book._terms_now(st)
        used = set(first.s_ops) | set(first.b_ops)
        o = next(o for o in range(st.n_ops) if o not in used and st.active[o])
        st.active[o] = False  # an operation no contract reads closes
        st.rebuild()
        renewed = book._terms_now(st)
        assert renewed is not first and renewed.version == st.version
        assert renewed.args is first.args  # (renewed, not made)

        def fields(t: contracts_module._Terms) -> list[object]:
            return [t.ints.tolist(), t.floats.tolist(), t.bounds, t.s_ops, t.b_ops, t.indexed]

        def made() -> list[object]:
            _forget()
            book._terms = book._last_terms = None
            return fields(book._terms_now(st))

        assert fields(renewed) == made()
        # a contract's seller's operation closes: made again, the seller's operation gone
        before = book._terms_now(st)
        s = next(s for s in before.s_ops if s >= 0)
        st.active[s] = False
        st.rebuild()
        moved = book._terms_now(st)
        assert moved.args is not before.args and s not in moved.s_ops
        assert fields(moved) == made()
        # an edit (a termination), then a change elsewhere: made again with the new end
        before = book._terms_now(st)
        firm = int(book.buyer[0])
        book.terminate(firm, 0)
        st.active[o] = True
        st.rebuild()
        edited = book._terms_now(st)
        assert edited.args is not before.args
        assert fields(edited) == made()
    finally:
        model.release()
