"""The benchmark's buildout-off anchor still builds (no timing: ``make bench`` times it)."""

from __future__ import annotations

from stackgame.environment.scenario import apply_overrides, resolve

from benchmarks.bench_core import buildout_off


def test_the_buildout_off_anchor_applies_to_the_shipped_scenario() -> None:
    """``make bench`` section 5's anchor: no capital goods, finance, contracts, training."""
    shipped = resolve("ai-stack-2026")
    for scenario in (shipped, apply_overrides(shipped, {"allow_integration": False})):
        off = apply_overrides(scenario, buildout_off(scenario))
        assert not any(spec.capital_goods for spec in off.layers)
        assert not off.finance.enabled and not off.contracts
        assert all(op.training is None for f in off.firms for op in f.ops.values())
