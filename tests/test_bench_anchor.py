"""The benchmark's buildout-off anchor still builds (no timing: ``make bench`` times it)."""

from __future__ import annotations

from stackgame.environment.scenario import apply_overrides, from_dict, resolve
from stackgame.environment.state import StackState

from benchmarks.bench_core import buildout_off, training_off
from benchmarks.bench_scale import sparse_stack


def test_the_buildout_off_anchor_applies_to_the_shipped_scenario() -> None:
    """``make bench`` section 5's anchor: no capital goods, finance, contracts, training."""
    shipped = resolve("ai-stack-2026")
    for scenario in (shipped, apply_overrides(shipped, {"allow_integration": False})):
        off = apply_overrides(scenario, buildout_off(scenario))
        assert not any(spec.capital_goods for spec in off.layers)
        assert not off.finance.enabled and not off.contracts
        assert all(op.training is None for f in off.firms for op in f.ops.values())


def test_the_training_off_runs_keep_the_buildout_and_drop_only_the_training() -> None:
    """Section 5's issue-12 line: capital goods, finance and contracts on, training off."""
    shipped = resolve("ai-stack-2026")
    assert any(op.training is not None for f in shipped.firms for op in f.ops.values())
    bare = apply_overrides(shipped, training_off(shipped))
    assert all(op.training is None for f in bare.firms for op in f.ops.values())
    assert bare.targets is None
    assert any(spec.capital_goods for spec in bare.layers)
    assert bare.finance.enabled and bare.contracts == shipped.contracts
    off = apply_overrides(bare, buildout_off(bare))
    assert not any(spec.capital_goods for spec in off.layers) and not off.contracts


def test_the_sparse_synthetic_stack_ties_each_buyer_to_four_sellers() -> None:
    """``make bench`` scale's second table: trading pairs linear in firms."""
    scenario = from_dict(sparse_stack(100, suppliers=4), "sparse-100")
    state = StackState(scenario)
    allowed = state.structure.allowed
    # every operation above the foundry may buy from exactly 4 sellers of the layer below
    # (at 100 firms every layer has at least 5 firms that sell on the market)
    above = [o for o in range(state.n_ops) if state.layer_of[o] > 0]
    assert above and all(int(allowed[o].sum()) == 4 for o in above)
    # and only from the layer just below
    for o in above:
        sellers = allowed[o].nonzero()[0]
        assert (state.layer_of[sellers] == state.layer_of[o] - 1).all()
