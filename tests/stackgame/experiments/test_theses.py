"""The theses as predicates: hand-made metrics, the variant grid, the evaluation, the CLI."""

from __future__ import annotations

import argparse
import json
import math

import pytest
from stackgame.environment.scenario import apply_overrides, resolve

from stackgame.experiments import theses

LAYERS = ("foundry", "chips", "cloud", "models", "apps")


def metrics(**changes) -> dict[str, float]:
    """A stack where models out-earn chips, Nvidia leads, cloud is squeezed."""
    m = {
        "operating_margin.layer.foundry": 0.3,
        "operating_margin.layer.chips": 0.5,
        "operating_margin.layer.cloud": 0.05,
        "operating_margin.layer.models": 0.6,
        "operating_margin.layer.apps": 0.4,
        "value_share.layer.foundry": 0.05,
        "value_share.layer.chips": 0.25,
        "value_share.layer.cloud": 0.05,
        "value_share.layer.models": 0.35,
        "value_share.layer.apps": 0.30,
        "value_share.firm.nvidia": 0.30,
        "value_share.firm.google": 0.20,
        "value_share.firm.openai": 0.50,
        "layers.firm.nvidia": 1.0,
        "layers.firm.google": 4.0,
        "layers.firm.openai": 2.0,
        "hhi.layer.models.first": 0.3,
        "hhi.layer.models.last": 0.4,
        "price.layer.foundry.late": 2.0,
        "final_spend": 100.0,
        "revenue.layer.foundry": 10.0,
        "revenue.layer.chips": 30.0,
        "revenue.layer.cloud": 50.0,
        "revenue.layer.models": 70.0,
        "revenue.layer.apps": 100.0,
    }
    m.update(changes)
    return m


def test_within_predicates_on_hand_made_metrics():
    m = metrics()
    assert theses.labs_outearn_chips(m) == pytest.approx(0.1)
    assert theses.labs_outearn_chips(metrics(**{"operating_margin.layer.chips": 0.7})) < 0
    # openai (0.5) leads, so Nvidia does not capture the rent here.
    assert theses.nvidia_captures_rent(m) == pytest.approx(-0.2)
    assert theses.nvidia_captures_rent(metrics(**{"value_share.firm.openai": 0.1})) > 0
    assert theses.cloud_squeezed(m) == pytest.approx(0.45)
    assert theses.cloud_squeezed(metrics(**{"operating_margin.layer.cloud": 0.55})) < 0
    assert theses.models_consolidate(m) == pytest.approx(0.1)
    assert theses.money_flows_down(m) == 1.0
    assert theses.money_flows_down(metrics(**{"revenue.layer.apps": 90.0})) == -1.0
    assert theses.money_flows_down(metrics(**{"revenue.layer.chips": 60.0})) == -1.0
    # google spans the most layers (4) but openai has the largest share.
    assert theses.integrator_wins(m) == pytest.approx(0.2 - 0.5)
    assert theses.integrator_wins(metrics(**{"value_share.firm.google": 0.6})) > 0
    same = metrics(**{"layers.firm.nvidia": 4.0, "layers.firm.openai": 4.0})
    assert math.isnan(theses.integrator_wins(same))


def test_contrast_predicates_compare_treated_with_reference():
    ref = metrics()
    up = metrics(**{"value_share.layer.chips": 0.35, "value_share.layer.models": 0.25})
    assert theses.value_moves_upstream(up, ref) == pytest.approx(0.1)
    assert theses.chips_share_rises(up, ref) == pytest.approx(0.1)
    assert theses.value_moves_upstream(ref, up) < 0
    assert theses.infrastructure_durable(up, ref) == pytest.approx(0.1)
    dearer = metrics(**{"price.layer.foundry.late": 2.5})
    assert theses.contracts_set_prices(dearer, ref) == pytest.approx(0.25)
    more = metrics(**{"value_share.firm.google": 0.3})
    assert theses.integration_pays(more, ref) == pytest.approx(0.1)


def test_every_variant_applies_to_the_built_in_scenario_and_events_fire_inside_the_run():
    scenario = resolve("ai-stack-2026")
    grid = theses.variants(8, scenario)
    names = [v.name for v in grid]
    assert names[0] == "baseline" and len(names) == len(set(names)) == 11
    for v in grid:
        changed = apply_overrides(scenario, dict(v.overrides))
        assert changed is not None
    by_name = {v.name: v for v in grid}
    # Scheduled at rounds 16, 12, 20 and 24: moved to round 4 so they fire in 8 rounds.
    for trigger in (*theses.TRIGGER_EVENTS, "demand_bust"):
        assert by_name[trigger].overrides[f"events.{trigger}.enabled"] is True
        assert by_name[trigger].overrides[f"events.{trigger}.round"] == 4
    # In a 40-round run the scheduled rounds stay.
    long = {v.name: v for v in theses.variants(40, scenario)}
    assert "events.nvidia_value_pricing.round" not in long["nvidia_value_pricing"].overrides


def test_evaluate_counts_seeds_pairs_contrasts_and_marks_missing_data():
    seeds = [1, 2, 3]
    names = ["baseline", "nvidia_value_pricing", "demand_boom", "demand_bust"]
    rows = {}
    for s in seeds:
        rows[("baseline", s)] = metrics()
        # Seed 3: chips' margin above models' in the trigger variant.
        chips = 0.7 if s == 3 else 0.5
        rows[("nvidia_value_pricing", s)] = metrics(
            **{"operating_margin.layer.chips": chips, "value_share.layer.chips": 0.25 + 0.01 * s}
        )
        rows[("demand_boom", s)] = metrics()
        rows[("demand_bust", s)] = metrics(**{"value_share.layer.foundry": 0.01})
    table = theses.evaluate(rows, names, seeds)
    cell = {(r["claim"], r["condition"]): r for r in table}
    assert cell[("1a", "baseline")]["holds"] == 3
    assert cell[("1a", "baseline")]["verdict"] == "holds"
    assert cell[("1a", "nvidia_value_pricing")]["holds"] == 2
    assert cell[("1a", "nvidia_value_pricing")]["verdict"] == "mostly"
    c = cell[("1c", "nvidia_value_pricing")]
    assert c["reference"] == "baseline" and c["holds"] == 3
    assert c["statistic"] == pytest.approx(0.02)
    assert c["ci"][0] < 0.02 < c["ci"][1]
    assert cell[("3a", "demand_bust")]["verdict"] == "fails"
    # Variants not run: contrasts that need them say so.
    assert cell[("1b", "tsmc_long_term_agreements")]["note"] == "variant not run"
    assert cell[("5b", "baseline")]["verdict"] == "n/a"
    # A scenario without a foundry price: n/a with the missing key.
    no_price = {
        (v, s): {k: x for k, x in metrics().items() if "price" not in k}
        for v in ("baseline", "tsmc_long_term_agreements")
        for s in seeds
    }
    table = theses.evaluate(no_price, ["baseline", "tsmc_long_term_agreements"], seeds)
    cell_3b = next(r for r in table if r["claim"] == "3b")
    assert cell_3b["verdict"] == "n/a" and "price.layer.foundry.late" in cell_3b["note"]
    conclusions = theses.conclusions(theses.evaluate(rows, names, seeds))
    first = conclusions[0]["claims"][0]
    assert first["claim"] == "1a" and "baseline" in first["holds"]
    assert "nvidia_value_pricing" in first["mostly"]


def test_missing_firm_is_not_applicable():
    rows = {("baseline", 1): {k: v for k, v in metrics().items() if "nvidia" not in k}}
    table = theses.evaluate(rows, ["baseline"], [1])
    cell = next(r for r in table if r["claim"] == "2a")
    assert cell["verdict"] == "n/a" and "nvidia" in cell["note"]


def test_verdicts():
    assert theses.verdict(3, 3) == "holds"
    assert theses.verdict(0, 3) == "fails"
    assert theses.verdict(2, 3) == "mostly"
    assert theses.verdict(1, 3) == "mixed"
    assert theses.verdict(0, 0) == "n/a"


def test_run_theses_on_the_built_in_scenario(tmp_path):
    report = theses.run_theses(
        seed=1,
        n_seeds=2,
        rounds=6,
        only=["baseline", "nvidia_value_pricing", "no_integration"],
        progress=False,
        store_dir=tmp_path / "runs",
    )
    assert [v["name"] for v in report["variants"]] == [
        "baseline",
        "nvidia_value_pricing",
        "no_integration",
    ]
    assert len(report["seeds"]) == 2 and report["rounds"] == 6
    within = [r for r in report["table"] if r["reference"] is None]
    assert {r["condition"] for r in within} == {
        "baseline",
        "nvidia_value_pricing",
        "no_integration",
    }
    for r in report["table"]:
        assert 0 <= r["holds"] <= r["seeds"] <= 2
        if r["seeds"]:
            assert r["verdict"] == theses.verdict(r["holds"], r["seeds"])
    # Money enters at the top in every run of the model.
    flows = [r for r in within if r["claim"] == "4b"]
    assert all(r["seeds"] == 2 for r in flows)
    text = theses.render(report)
    assert "thesis 1" in text and "1a" in text
    theses.plot(report, tmp_path / "theses.png")
    assert (tmp_path / "theses.png").stat().st_size > 1000


def run_command(argv):
    from stackgame.commands import theses as command

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    command.register(sub)
    args = parser.parse_args(["theses", *argv])
    return args.handler(args)


def test_theses_command_json_is_identical_for_the_same_seed(tmp_path, capsys):
    argv = ["--seeds", "2", "--rounds", "4", "--variants", "baseline,no_integration"]
    argv += ["--no-progress", "--json"]
    assert run_command([*argv, "--out", str(tmp_path / "a")]) == 0
    first = capsys.readouterr().out
    assert run_command([*argv, "--out", str(tmp_path / "b"), "--no-plot"]) == 0
    assert capsys.readouterr().out == first
    report = json.loads(first)
    assert report["rounds"] == 4
    for name in ("theses.csv", "theses.json", "theses.png", "manifest.json"):
        assert (tmp_path / "a" / name).exists()
    assert "claim" in (tmp_path / "a" / "theses.csv").read_text().splitlines()[0]


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--variants", "baseline,nope"], "--variants: unknown nope"),
        (["--seeds", "0"], "--seeds"),
        (["--processes", "0"], "--processes"),
        (["--set", "regulator.nope=1"], "regulator.nope"),
        (["--scenario", "no-such-scenario"], "unknown scenario"),
    ],
)
def test_theses_command_bad_input(argv, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        run_command([*argv, "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
