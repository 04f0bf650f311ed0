"""The run summary: value shares and margins by layer and firm, calibration, verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import from_dict
from stackgame.environment.summary import summarize

from tests.environment.tiny_scenario import firm, run_model, tiny


@pytest.fixture(scope="module")
def stack() -> StackModel:
    """The built-in scenario, six rounds (shared, read only)."""
    return run_model("ai-stack-2026", seed=4, rounds=6)  # type: ignore[arg-type]


def test_value_and_spend_shares_sum_to_one(stack: StackModel) -> None:
    s = stack.summary()
    assert sum(r["value_share"] for r in s["layers"]) == pytest.approx(1.0, abs=1e-5)
    # firms' values are after interest, paid to lenders outside the stack
    paid = float(stack.history.finance_matrix("interest").sum()) / s["stack_profit"]
    assert paid > 0
    assert sum(r["value_share"] for r in s["firms"]) == pytest.approx(1.0 - paid, abs=1e-5)
    assert sum(r["spend_share"] for r in s["layers"]) == pytest.approx(1.0, abs=1e-5)
    assert [r["name"] for r in s["layers"]] == stack.layer_names
    assert [r["name"] for r in s["firms"]] == [f.name for f in stack.firms]


def test_layer_figures_match_the_history(stack: StackModel) -> None:
    s = stack.summary()
    h = stack.history
    # margins are on external revenue: a firm's self-supply at cost is not a sale
    rev = h.layers_matrix("external_revenue").sum(axis=0)
    internal = sum(
        np.bincount(h.op_layer[t], weights=row["internal_revenue"], minlength=len(rev))
        for t, row in enumerate(h.op_rows)
    )
    total = h.layers_matrix("revenue").sum(axis=0)
    assert np.allclose(rev, total - internal)
    oper = h.layers_matrix("operating_profit").sum(axis=0)
    gross = h.layers_matrix("gross_profit").sum(axis=0)
    for k, row in enumerate(s["layers"]):
        assert row["operating_margin"] == pytest.approx(oper[k] / rev[k], abs=1e-6)
        assert row["gross_margin"] == pytest.approx(gross[k] / rev[k], abs=1e-6)
        assert row["value_share"] == pytest.approx(oper[k] / oper.sum(), abs=1e-6)
    assert s["stack_profit"] == pytest.approx(oper.sum(), rel=1e-6)
    assert s["rounds"] == 6 and s["seed"] == 4


def test_firm_rows_use_external_revenue_and_value(stack: StackModel) -> None:
    s = stack.summary()
    h = stack.history
    value = h.firms_matrix("value").sum(axis=0)
    profit = h.firms_matrix("profit").sum(axis=0)
    rev = h.firms_matrix("revenue").sum(axis=0)
    total = h.layers_matrix("operating_profit").sum()
    for i, row in enumerate(s["firms"]):
        assert row["value_share"] == pytest.approx(value[i] / total, abs=1e-6)
        if rev[i] > 1e-9:
            assert row["operating_margin"] == pytest.approx(profit[i] / rev[i], abs=1e-6)
        assert set(row) >= {"name", "layers", "value_share", "gross_margin", "operating_margin"}


def test_calibration_rows_report_model_minus_target(stack: StackModel) -> None:
    from stackgame.environment import targets

    rows = stack.summary()["calibration"]
    table = targets.resolve(stack.scenario)
    n_targets = len(table.targets) if table is not None else 0
    assert len(rows) == len(stack.scenario.calibration) + n_targets > 0
    assert [r["figure"] for r in rows[len(stack.scenario.calibration) :]] == [
        t.figure for t in (table.targets if table is not None else [])
    ]
    for r in rows:
        if r["model"] is not None:
            assert r["residual"] == pytest.approx(r["model"] - r["target"], abs=2e-6)


def test_summary_is_json_and_stable(stack: StackModel) -> None:
    a = json.dumps(stack.summary(), sort_keys=True)
    b = json.dumps(summarize(stack), sort_keys=True)
    assert a == b
    assert "NaN" not in a and "Infinity" not in a


def test_verdict_names_the_top_layer_and_firm() -> None:
    raw = tiny()
    firm(raw, "appco")["strategy"] = "always_extract"
    firm(raw, "appco")["ops"]["apps"]["extract_markup"] = 2.0
    model = run_model(raw, rounds=3)
    s = model.summary()
    assert max(s["layers"], key=lambda r: r["value_share"])["name"] == "apps"
    assert s["verdict"].startswith("The apps layer captures")
    assert "appco is the largest single winner" in s["verdict"]


def test_operation_rows_and_utilisation() -> None:
    model = run_model(tiny(), rounds=2)
    ops = model.summary()["operations"]
    q = model.history.ops_matrix("quantity").sum(axis=0)
    cap = model.history.ops_matrix("capacity").sum(axis=0)
    assert len(ops) == 4
    np.testing.assert_allclose([r["utilisation"] for r in ops], q / cap, atol=1e-6)


def test_summary_before_a_round_is_an_error() -> None:
    model = StackModel(from_dict(tiny()), 0)
    with pytest.raises(ValueError, match="not run"):
        model.summary()
    model.release()


# -- the verdict's words --------------------------------------------------------------------


def test_leaders_tie_within_the_tolerance_and_sort_by_name() -> None:
    from stackgame.environment.summary import TIE_TOLERANCE, and_join, leaders

    assert leaders({"b": 0.5, "a": 0.3}) == ["b"]
    assert leaders({"upstream": 0.5, "downstream": 0.5}) == ["downstream", "upstream"]
    assert leaders({"x": 0.5, "y": 0.5 - TIE_TOLERANCE / 2, "z": 0.4}) == ["x", "y"]
    assert leaders({"x": 0.5, "y": 0.5 - 2 * TIE_TOLERANCE}) == ["x"]
    assert leaders({}) == []
    assert and_join(["a", "b", "c"]) == "a, b and c"


def test_a_duopoly_tie_and_its_single_layer_are_said_in_words() -> None:
    s = run_model("logit-bertrand-duopoly", rounds=3).summary()  # type: ignore[arg-type]
    assert "Firm 1 and Firm 2 tie as the largest winners with 50% each" in s["verdict"]
    assert "There is one layer, market" in s["verdict"]
    assert "squeezed" not in s["verdict"]
    assert "largest single winner" not in s["verdict"]
    assert s["title"] == "Calvano et al. (2020) baseline"


def test_run_and_equilibria_name_the_same_tie_on_the_monopoly_chain() -> None:
    from stackgame.equilibria.empirical import winners

    model = run_model("monopoly-chain", rounds=3)  # type: ignore[arg-type]
    s = model.summary()
    assert "The downstream and upstream layers tie for the most profit" in s["verdict"]
    assert "Downstream monopolist and Upstream monopolist tie" in s["verdict"]
    outcome = {
        f"value_share.{kind}.{r['name']}": {"mean": r["value_share"]}
        for kind, rows in (("layer", s["layers"]), ("firm", s["firms"]))
        for r in rows
    }
    win = winners(outcome)
    assert win["layer"]["tied"] == ["downstream", "upstream"]
    assert win["firm"]["tied"] == ["downstream_monopolist", "upstream_monopolist"]


def test_integration_after_the_run_is_planned_not_done() -> None:
    from stackgame.environment.summary import integration_status

    assert integration_status("builds into cloud: capacity 1, online in round 25", 23) == {
        "status": "planned",
        "online_round": 25,
    }
    assert integration_status("builds into cloud: capacity 1, online in round 5", 23)["status"] == (
        "done"
    )
    assert integration_status("cannot afford to build into cloud (3.0)", 23)["status"] == "failed"
    assert integration_status("buys x for 3.0", 23)["status"] == "done"


def test_every_enabled_event_is_named() -> None:
    model = run_model(
        "ai-stack-2026",  # type: ignore[arg-type]
        seed=3,
        rounds=15,
        overrides={"events.demand_bust.enabled": True, "events.nvidia_value_pricing.enabled": True},
    )
    s = model.summary()
    events = {e["name"]: e["status"] for e in s["scheduled_events"]}
    assert events == {
        "inference_efficiency": "happened",
        "new_generation": "happened",
        "demand_bust": "happened",
        "nvidia_value_pricing": "after the run",
    }
    assert "demand_bust (demand shock, round 14)" in s["verdict"]
    assert "Scheduled after the run ends: nvidia_value_pricing (trigger, round 16)" in s["verdict"]
    assert "tsmc_long_term_agreements" not in s["verdict"]  # disabled: not named


@pytest.mark.parametrize(
    ("scenario", "rounds", "overrides"),
    [
        ("ai-stack-2026", 30, {}),
        ("monopoly-chain", 5, {}),
        ("cournot-duopoly", 4, {}),
        ("ai-stack-2026", 12, {"regulator.stance": 0.9}),  # investigations, fines, caps
    ],
)
def test_value_shares_are_the_summary_rows_shares(
    scenario: str, rounds: int, overrides: dict
) -> None:
    """The extra seeds' shares without the summary: the summary's numbers, bit for bit."""
    from stackgame.environment.summary import value_shares

    model = StackModel(scenario, 3, rounds=rounds, overrides=overrides, collect=False)
    model.run()
    s = summarize(model)
    expected = {
        "layer": {r["name"]: r["value_share"] for r in s["layers"]},
        "firm": {r["name"]: r["value_share"] for r in s["firms"]},
    }
    got = value_shares(model)
    assert got == expected
    assert list(got["firm"]) == list(expected["firm"])  # (and in the summary's order)
    model.release()


def test_a_loss_making_stack_keeps_each_shares_sign_and_says_so() -> None:
    """Shares of a negative total are over its size: signs kept, the largest profit first.

    The cloud carries a fixed cost of 200 a round, more than the stack earns: the stack
    loses money, so ``value_share = profit / |total|`` (summing to -1), and the verdict
    says the stack lost money before naming the layer that earned the most. A share over
    the signed total would have made the cloud, the largest loser, the "winner".
    """
    raw = tiny()
    firm(raw, "cloudco")["ops"]["cloud"]["fixed_cost"] = 200.0
    model = run_model(raw)
    s = summarize(model)
    total = s["stack_profit"]
    assert total < 0
    shares = {r["name"]: r["value_share"] for r in s["layers"]}
    profit = model.history.layers_matrix("operating_profit").sum(axis=0)
    for k, name in enumerate(model.layer_names):
        assert shares[name] == pytest.approx(profit[k] / abs(total), abs=1e-9)
    assert sum(shares.values()) == pytest.approx(-1.0, abs=1e-6)
    assert shares["cloud"] < 0 < max(shares.values())
    assert max(shares, key=shares.__getitem__) == model.layer_names[int(np.argmax(profit))]
    # the Mesa reporters' running share follows the same rule
    assert model.history.layer_value_share("cloud") == pytest.approx(shares["cloud"], abs=1e-9)
    text = s["verdict"]
    assert text.startswith("The stack as a whole lost money over the run.")
    assert "of the size of the stack's loss" in text
