"""The usage channel (docs/MODEL.md 6.5) and restraint as a patient firm's choice (20.3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stackgame.environment import usage
from stackgame.environment.scenario import ScenarioError, builtin_names, from_dict, resolve

from stackgame.simulation.simulate import simulate


def test_usage_step_by_hand() -> None:
    # rho = 4 against rho_ref = 2, epsilon = 2, full adjustment: U = (2/4)^2 = 1/4
    log_u, factor = usage.usage_step(0.0, 4.0, 2.0, 2.0, 1.0)
    assert factor == pytest.approx(0.25)
    assert log_u == pytest.approx(math.log(0.25))
    # back at the reference: usage returns to trend, the market grows by 4x
    log_u, factor = usage.usage_step(log_u, 2.0, 2.0, 2.0, 1.0)
    assert (log_u, factor) == (pytest.approx(0.0), pytest.approx(4.0))


def test_partial_adjustment_closes_lambda_of_the_gap() -> None:
    # lambda = 1/2, epsilon = 1.3, rho = 2 rho_ref: the target log level is -1.3 log 2;
    # round one closes half of it, round two half of what is left (3/4 in all)
    target = -1.3 * math.log(2.0)
    log_u, f1 = usage.usage_step(0.0, 2.0, 1.0, 1.3, 0.5)
    assert log_u == pytest.approx(target / 2)
    log_u, f2 = usage.usage_step(log_u, 2.0, 1.0, 1.3, 0.5)
    assert log_u == pytest.approx(0.75 * target)
    assert f1 * f2 == pytest.approx(math.exp(0.75 * target))


def test_no_price_leaves_usage_where_it_is() -> None:
    assert usage.usage_step(0.3, math.nan, 1.0, 2.0, 1.0) == (0.3, 1.0)


def test_price_to_cost_is_quantity_weighted() -> None:
    # sellers at 3 and 1 over costs 1 and 1, selling 1 and 1: (3 + 1) / (1 + 1) = 2
    assert usage.price_to_cost(np.array([3.0, 1.0]), np.ones(2), np.ones(2)) == 2.0


@pytest.mark.parametrize("name", [n for n in builtin_names() if not n.startswith("ai-stack")])
def test_textbook_scenarios_have_no_usage_channel_and_no_discounting(name: str) -> None:
    if name == "patient-monopolist":  # the hand-sized case built to show both
        return
    scenario = resolve(name)
    assert scenario.demand.usage_elasticity == 0.0
    assert scenario.discount_rate == 0.0


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"discount_rate": -0.1}, "discount_rate"),
        ({"discount_rate": math.nan}, "discount_rate"),
        ({"demand": {"usage_elasticity": -1.0}}, "demand.usage_elasticity"),
        ({"demand": {"usage_adjustment": 0.0}}, "demand.usage_adjustment"),
        ({"demand": {"usage_reference_ratio": 0.0}}, "demand.usage_reference_ratio"),
        ({"demand": {"usage_speed": 1.0}}, "demand.usage_speed: unknown field"),
    ],
)
def test_bad_usage_or_discount_input_names_the_field(change: dict, where: str) -> None:
    import tomllib

    from stackgame.environment.scenario import builtin_text

    raw = tomllib.loads(builtin_text("patient-monopolist"))
    for key, value in change.items():
        if isinstance(value, dict):
            raw[key].update(value)
        else:
            raw[key] = value
    with pytest.raises(ScenarioError, match=where):
        from_dict(raw, "test")


def test_patient_monopolist_by_hand() -> None:
    """The hand-sized case of docs/MODEL.md 21.3 (environment/scenarios/patient-monopolist.toml).

    Costs 0.5 + 0.5, so c = 1 and rho = p. Restrain (margin 1): p = 2 = rho_ref, usage
    stays 1, M = 10, profit 10 a round. Extract (margin 3): p = 4, round 0 earns 30; from
    round 1 usage is (2/4)^2 = 1/4, M = 2.5, profit 7.5. Means: 10 and
    (30 + 19 x 7.5) / 20 = 8.625; present values at r = 0: 200 and 172.5.
    """
    runs = {
        s: simulate("patient-monopolist", seed=0, strategies={"upstream_monopolist": s})
        for s in ("always_restrain", "always_extract")
    }
    restrain, extract = runs["always_restrain"], runs["always_extract"]
    assert restrain.firms["value"][:, 0] == pytest.approx(np.full(20, 10.0))
    assert extract.firms["value"][:, 0] == pytest.approx(np.array([30.0] + [7.5] * 19))
    assert extract.rounds["market_size"] == pytest.approx(np.array([10.0] + [2.5] * 19))
    assert restrain.payoffs()["upstream_monopolist"] == pytest.approx(10.0)
    assert extract.payoffs()["upstream_monopolist"] == pytest.approx(8.625)
    assert restrain.present_values(0.0)["upstream_monopolist"] == pytest.approx(200.0)
    assert extract.present_values(0.0)["upstream_monopolist"] == pytest.approx(172.5)
    # extraction earns more this round ...
    assert extract.firms["value"][0, 0] > restrain.firms["value"][0, 0]
    # ... and less in discounted sum for a patient firm (the scenario's 0.024 a quarter),
    # more for an impatient one (0.5 a round): the break-even is sum_{t=1}^{19} delta^t = 8
    for rate, restraint_wins in ((0.0, True), (0.024, True), (0.5, False)):
        gap = (
            restrain.discounted_payoffs(rate)["upstream_monopolist"]
            - extract.discounted_payoffs(rate)["upstream_monopolist"]
        )
        assert bool(gap > 0) is restraint_wins
    # the scenario's own rate is the default
    assert restrain.discount_rate == 0.024
    assert extract.discounted_payoffs()["upstream_monopolist"] == pytest.approx(
        extract.discounted_payoffs(0.024)["upstream_monopolist"]
    )


def test_without_a_future_extraction_wins() -> None:
    # the control: over two rounds there is too little future to protect
    # (30 + 7.5 = 37.5 against 10 + 10 = 20 even undiscounted)
    pay = {
        s: simulate(
            "patient-monopolist", rounds=2, seed=0, strategies={"upstream_monopolist": s}
        ).discounted_payoffs(0.0)["upstream_monopolist"]
        for s in ("always_restrain", "always_extract")
    }
    assert pay["always_extract"] == pytest.approx(37.5 / 2)
    assert pay["always_restrain"] == pytest.approx(10.0)


def test_the_channel_is_the_same_compiled_or_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKGAME_JIT", "eager")
    a = simulate("patient-monopolist", seed=1)
    monkeypatch.setenv("STACKGAME_NO_JIT", "1")
    b = simulate("patient-monopolist", seed=1)
    assert np.array_equal(a.rounds["market_size"], b.rounds["market_size"])
    assert np.array_equal(a.firms["value"], b.firms["value"])
