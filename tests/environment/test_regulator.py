"""The antitrust regulator: the probability rule, and investigations in a running model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from stackgame.environment.model import StackModel
from stackgame.environment.regulator import investigation_probability, open_investigations
from stackgame.environment.scenario import from_dict
from stackgame.strategies.base import Action, Posture

from stackgame.simulation.simulate import simulate
from tests.environment.tiny_scenario import Scripted, firm, run_model, tiny

CAP_ROUNDS = 2


def _dominant(stance: float, rounds: int = 6) -> dict[str, Any]:
    """One app firm (share 1) extracting a 300% markup: a dominant high-margin firm."""
    raw = tiny(
        rounds=rounds,
        regulator={
            "enabled": True, "stance": stance, "base_rate": 1.0, "share_threshold": 0.5,
            "margin_threshold": 0.3, "fine_rate": 0.1, "cap_markup": 0.2,
            "cap_rounds": CAP_ROUNDS,
        },
    )  # fmt: skip
    firm(raw, "appco")["strategy"] = "always_extract"
    firm(raw, "appco")["ops"]["apps"]["extract_markup"] = 3.0
    return raw


def test_stance_zero_investigates_nobody() -> None:
    model = run_model(_dominant(0.0))
    assert not [e for e in model.log if e.kind == "investigation"]
    assert model.history.ops_matrix("fines").sum() == 0
    result = simulate("ai-stack-2026", rounds=6, seed=1, overrides={"regulator.stance": 0.0})
    assert result.summary["regulator"]["investigations"] == 0


def test_stance_one_investigates_the_dominant_firm_fines_and_caps() -> None:
    model = run_model(_dominant(1.0), seed=3)
    st = model.state
    app = st.op(st.firm_index["appco"], st.layer_index["apps"])
    inv = [e for e in model.log if e.kind == "investigation"]
    assert inv and inv[0].round == 0 and inv[0].firm == "appco"
    h = model.history
    fines, revenue, markup = (h.ops_matrix(c)[:, app] for c in ("fines", "revenue", "markup"))
    # the fine (10% of the round's revenue) is charged the next round
    assert fines[0] == 0
    assert fines[1] == pytest.approx(0.1 * revenue[0])
    # the markup is capped for cap_rounds rounds, then the firm extracts again and, still
    # dominant, is investigated again
    np.testing.assert_allclose(markup, [3.0, 0.2, 0.2, 3.0, 0.2, 0.2])
    assert [e.round for e in inv] == [0, 3]
    assert h.ops_matrix("operating_profit")[1, app] == pytest.approx(
        h.ops_matrix("gross_profit")[1, app] - fines[1] - h.ops_matrix("depreciation")[1, app]
    )
    # nobody else is dominant with a high margin
    assert {e.firm for e in inv} == {"appco"}


def test_the_firm_sees_its_own_investigation() -> None:
    model = StackModel(from_dict(_dominant(1.0, rounds=3)), 3)
    spy = Scripted([Action.uniform(Posture.EXTRACT)] * 3)
    model.firms[model.state.firm_index["appco"]].set_strategy(spy)
    model.run()
    model.release()
    assert [o.under_investigation for o in spy.seen] == [False, True, True]
    assert all(o.regulator_stance == 1.0 for o in spy.seen)


unit = hst.floats(0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(share=unit, margin=hst.floats(-1.0, 1.0), stance=unit, d=hst.floats(0.01, 0.5))
def test_probability_rises_with_share_margin_and_stance(
    share: float, margin: float, stance: float, d: float
) -> None:
    def p(s: float, m: float, k: float) -> float:
        return float(investigation_probability(np.array([s]), np.array([m]), k, 0.3, 0.5, 0.4)[0])

    base = p(share, margin, stance)
    assert 0.0 <= base <= 0.3
    assert p(min(share + d, 1.0), margin, stance) >= base
    assert p(share, min(margin + d, 1.0), stance) >= base
    assert p(share, margin, min(stance + d, 1.0)) >= base
    assert p(share, margin, 0.0) == 0.0


def test_probability_is_strictly_higher_for_the_dominant_firm() -> None:
    share = np.array([0.1, 0.9, 0.9])
    margin = np.array([0.9, 0.1, 0.9])
    p = investigation_probability(share, margin, 1.0, 0.2, 0.5, 0.6)
    assert p[2] > 0.19 and p[0] < 0.01 and p[1] < 0.01


def test_only_active_operations_without_an_open_investigation_are_investigated() -> None:
    share = np.full(4, 0.9)
    margin = np.full(4, 0.9)
    draws = np.array([0.5, 0.5, 0.5, 0.99])
    cap_until = np.array([0, 3, 0, 0])  # operation 1 is under investigation until round 3
    active = np.array([True, True, False, True])
    opened = open_investigations(
        share, margin, 1.0, 0.95, 0.5, 0.4, draws, cap_until, 1, active, jit=False
    )
    # probability about 0.95: op 0 opens; 1 is open already, 2 inactive, 3 drew too high
    assert opened.tolist() == [True, False, False, False]


def test_compiled_and_plain_draws_open_the_same_investigations() -> None:
    # the probability and the draw's verdict, compiled and as plain Python, agree exactly,
    # including draws on, just under and just over the probability
    pytest.importorskip("numba")
    from stackgame.environment import jit

    fast = jit.compile_kernel("investigate_kernel", module="regulator")
    fast_p = jit.compile_kernel("probability_kernel", module="regulator")
    rng = np.random.default_rng(8)
    for trial in range(200):
        n = int(rng.integers(1, 60))
        share = rng.uniform(0, 1, n)
        margin = rng.uniform(-1, 1, n)
        params = (rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(-1, 1))
        stance, base, s_star, m_star = params
        cap_until = rng.integers(-1, 4, n)
        active = rng.random(n) < 0.9
        prob = investigation_probability(share, margin, stance, base, s_star, m_star)
        np.testing.assert_array_equal(fast_p(share, margin, *params), prob)
        draws = rng.random(n)
        if trial % 2:
            nudge = rng.choice([-1, 0, 1], n)
            draws = np.where(nudge < 0, np.nextafter(prob, -1), prob)
            draws = np.where(nudge > 0, np.nextafter(prob, 2), draws)
        want = (draws < prob) & (cap_until <= 1) & active
        args = (share, margin, stance, base, s_star, m_star, draws, cap_until, 1, active)
        np.testing.assert_array_equal(open_investigations(*args, jit=False), want)
        np.testing.assert_array_equal(fast(*args), want)
