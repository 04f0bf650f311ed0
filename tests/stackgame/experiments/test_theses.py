from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from stackgame.environment.scenario import apply_overrides, resolve

from stackgame.experiments import theses


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
        "investment": 40.0,
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
    # 4c: investment 40 within cloud revenue 50 holds; 80 (built ahead) fails; none: n/a.
    assert theses.buildout_paid_from_below(m) == pytest.approx(0.2)
    assert theses.buildout_paid_from_below(metrics(investment=80.0)) == pytest.approx(-0.6)
    assert math.isnan(theses.buildout_paid_from_below(metrics(investment=0.0)))
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
    more = metrics(**{"value_share.firm.google": 0.3})
    assert theses.integration_pays(more, ref) == pytest.approx(0.1)


def test_every_variant_applies_to_the_built_in_scenario_and_events_fire_inside_the_run():
    scenario = resolve("ai-stack-2026")
    grid = theses.variants(8, scenario)
    names = [v.name for v in grid]
    assert names[0] == "baseline" and len(names) == len(set(names)) == 16
    for v in grid:
        changed = apply_overrides(scenario, dict(v.overrides))
        assert changed is not None
    by_name = {v.name: v for v in grid}
    # Scheduled at rounds 16, 12, 20 and 14: moved to round 4, mid-run, in 8 rounds.
    for trigger in (*theses.TRIGGER_EVENTS, "demand_bust"):
        assert by_name[trigger].overrides[f"events.{trigger}.enabled"] is True
        assert by_name[trigger].overrides[f"events.{trigger}.round"] == 4
    for name in ("bust_contracts", "bust_no_contracts"):
        assert by_name[name].overrides["events.demand_bust.round"] == 4
    assert theses.event_rounds(8, scenario) == {"bust": 4, "generation": 8}
    assert theses.event_rounds(40, scenario) == {"bust": 14, "generation": 8}
    # The contracts variant adds one take-or-pay contract per pair; the other has none.
    every = apply_overrides(scenario, dict(by_name["bust_contracts"].overrides)).contracts
    added = [c for c in every if c.name.startswith("bust-")]
    assert {c.name for c in every} - {c.name for c in added} == {c.name for c in scenario.contracts}
    assert {(c.seller, c.buyer) for c in added} == set(theses.CONTRACTED)
    assert all(c.take_or_pay == 1.0 and c.start + c.duration > 8 for c in added)
    assert by_name["bust_no_contracts"].overrides["contracts"] == []
    # In a 40-round run the scheduled rounds stay.
    long = {v.name: v for v in theses.variants(40, scenario)}
    assert "events.nvidia_value_pricing.round" not in long["nvidia_value_pricing"].overrides


def test_events_leave_at_least_eight_rounds_after_them_in_the_built_in_horizon():
    # ai-stack-2026 runs 24 rounds; its triggers are scheduled in rounds 16 (Nvidia), 12
    # (TSMC), 20 (custom silicon) and the bust in 14. The latest allowed is 24 - 8 = 16:
    # only trigger 3 moves (20 -> 16); every event then has rounds 16..23 or more after it.
    scenario = resolve("ai-stack-2026")
    assert scenario.rounds == 24 and theses.latest_event_round(24) == 16
    by_name = {v.name: v for v in theses.variants(24, scenario)}
    assert by_name["custom_silicon_sale"].overrides["events.custom_silicon_sale.round"] == 16
    for name in ("nvidia_value_pricing", "tsmc_long_term_agreements", "demand_bust"):
        assert f"events.{name}.round" not in by_name[name].overrides
    events = theses.scheduled_events(24, scenario)
    assert events["custom_silicon_sale"] == {"scheduled": 20, "fires": 16, "rounds_after": 8}
    assert all(e["rounds_after"] >= theses.AFTER_ROUNDS for e in events.values())
    # every variant's switched-on event leaves at least AFTER_ROUNDS rounds
    for v in by_name.values():
        changed = apply_overrides(scenario, dict(v.overrides))
        for e in changed.events:
            if e.enabled and e.name in events:
                assert 24 - e.round >= theses.AFTER_ROUNDS, (v.name, e.name, e.round)
    # a short run fires them mid-run; a run just long enough leaves exactly 8
    assert theses.latest_event_round(10) == 5 and theses.latest_event_round(16) == 8


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
    # 1a in the baseline: 0.6 - 0.5 = +0.1 on every seed, interval [0.1, 0.1]: holds.
    assert cell[("1a", "baseline")]["holds"] == 3
    assert cell[("1a", "baseline")]["verdict"] == "holds"
    # 1a under the trigger: +0.1, +0.1, -0.1: mean 0.0333, sd 0.1155, half-width
    # 4.303 * 0.1155 / sqrt(3) = 0.287: [-0.25, +0.32] contains zero: undecided, though
    # positive on two seeds of three.
    c = cell[("1a", "nvidia_value_pricing")]
    assert c["holds"] == 2 and c["verdict"] == "undecided"
    assert c["ci"] == [
        pytest.approx(0.0333 - 0.2868, abs=1e-3),
        pytest.approx(0.0333 + 0.2868, abs=1e-3),
    ]
    # 1c: chips share +0.01, +0.02, +0.03 over the baseline: mean 0.02, sd 0.01,
    # half-width 4.303 * 0.01 / sqrt(3) = 0.0248: [-0.0048, +0.0448]: undecided too.
    c = cell[("1c", "nvidia_value_pricing")]
    assert c["reference"] == "baseline" and c["holds"] == 3
    assert c["statistic"] == pytest.approx(0.02)
    assert c["ci"][0] < 0 < 0.02 < c["ci"][1] and c["verdict"] == "undecided"
    # 3a: foundry+chips share 0.26 in the bust against 0.30 in the boom on every seed.
    assert cell[("3a", "demand_bust")]["verdict"] == "fails"
    # Variants not run: contrasts that need them say so.
    assert cell[("1b", "tsmc_long_term_agreements")]["note"] == "variant not run"
    assert cell[("5b", "baseline")]["verdict"] == "n/a"
    # Runs without a models price: n/a with the missing key.
    no_price = {
        (v, s): {k: x for k, x in metrics().items() if "price" not in k}
        for v in ("lab_restrains", "lab_secures_supply")
        for s in seeds
    }
    table = theses.evaluate(no_price, ["lab_restrains", "lab_secures_supply"], seeds)
    cell_3d = next(r for r in table if r["claim"] == "3d")
    assert cell_3d["verdict"] == "n/a" and "price.layer.models.late" in cell_3d["note"]
    conclusions = theses.conclusions(theses.evaluate(rows, names, seeds))
    first = conclusions[0]["claims"][0]
    assert first["claim"] == "1a" and "baseline" in first["holds"]
    assert "nvidia_value_pricing" in first["undecided"]
    # thesis 1 over its conditions: the baseline holds (1a only: the contrasts 1b/1c are
    # evaluated in their treated variants); the trigger is undecided (1a, 1b, 1c); the
    # boom and the bust hold (1a)
    one = conclusions[0]
    assert one["conditions"]["baseline"] == {"claims": {"1a": "holds"}, "verdict": "holds"}
    assert one["conditions"]["nvidia_value_pricing"]["verdict"] == "undecided"
    assert one["verdict"] == (
        "holds when baseline, demand_boom, demand_bust; "
        "undecided when nvidia_value_pricing (1a, 1b, 1c)"
    )
    three = next(c for c in conclusions if c["thesis"] == 3)
    assert three["conditions"]["demand_bust"]["claims"]["3a"] == "fails"
    assert "fails when demand_bust (3a" in three["verdict"]


def test_missing_firm_is_not_applicable():
    rows = {("baseline", 1): {k: v for k, v in metrics().items() if "nvidia" not in k}}
    table = theses.evaluate(rows, ["baseline"], [1])
    cell = next(r for r in table if r["claim"] == "2a")
    assert cell["verdict"] == "n/a" and "nvidia" in cell["note"]


def test_verdicts_are_decided_by_the_interval():
    assert theses.verdict(3, [0.01, 0.2]) == "holds"
    assert theses.verdict(3, [-0.2, -0.01]) == "fails"
    assert theses.verdict(3, [-0.01, 0.2]) == "undecided"  # positive mean, spans zero
    assert theses.verdict(3, [0.0, 0.0]) == "undecided"  # a zero statistic is no evidence
    assert theses.verdict(1, None) == "undecided"  # one seed: no interval
    assert theses.verdict(0, None) == "n/a"


def test_one_seed_gives_no_interval_and_says_why_without_nan():
    import json

    from stackgame import strict_json

    rows = {("baseline", 7): metrics()}
    table = theses.evaluate(rows, ["baseline"], [7])
    cell = next(r for r in table if r["claim"] == "1a")
    assert cell["statistic"] == pytest.approx(0.1) and cell["ci"] is None
    assert cell["verdict"] == "undecided" and cell["note"] == "one seed: no interval"
    report = {
        "scenario": "x",
        "seeds": [7],
        "rounds": 8,
        "variants": [{"name": "baseline", "description": "", "overrides": {}}],
        "skipped": [],
        "events": {},
        "table": table,
        "conclusions": theses.conclusions(table),
    }
    text = theses.render(report)
    assert "nan" not in text.lower() and "+0.1000 (one seed: no interval)" in text
    dumped = strict_json.dumps(report)
    assert "NaN" not in dumped and json.loads(dumped)["table"][0]["ci"] is None


def after(tag: str, **layers: tuple[float, float]) -> dict[str, float]:
    """Window metrics: per layer (operating profit, revenue) a round from ``tag`` on."""
    out = {}
    for name, (profit, revenue) in layers.items():
        out[f"operating_profit.layer.{name}.after_{tag}"] = profit
        out[f"revenue.layer.{name}.after_{tag}"] = revenue
    return out


def test_generation_claim_compares_the_buyers_loss_with_the_makers():
    reference = metrics(**after("generation", cloud=(10.0, 50.0), chips=(30.0, 60.0)))
    # Cloud loses 10 of 50 (0.2 a $), chips 6 of 60 (0.1 a $): the buyer carries it.
    hit = metrics(**after("generation", cloud=(0.0, 45.0), chips=(24.0, 50.0)))
    assert theses.generation_hits_buyer(hit, reference) == pytest.approx(0.1)
    # Chips lose 30 of 60 (0.5 a $) while cloud gains: the maker carries it.
    spared = metrics(**after("generation", cloud=(12.0, 50.0), chips=(0.0, 40.0)))
    assert theses.generation_hits_buyer(spared, reference) == pytest.approx(-0.04 - 0.5)
    with pytest.raises(KeyError):  # no generation in the run: n/a in evaluate
        theses.generation_hits_buyer(metrics(), metrics())


def test_early_supply_claims_read_the_labs_margin_and_the_models_price():
    key = f"gross_margin.firm.{theses.SUPPLY_LAB}.late"
    ref = metrics(**{key: 0.5, "price.layer.models.late": 4.0})
    cheaper = metrics(**{key: 0.6, "price.layer.models.late": 3.0})
    dearer = metrics(**{key: 0.4, "price.layer.models.late": 5.0})
    assert theses.supply_secured_margin(cheaper, ref) == pytest.approx(0.1)
    assert theses.supply_secured_margin(dearer, ref) == pytest.approx(-0.1)
    assert theses.supply_secured_price(cheaper, ref) == pytest.approx(0.25)
    assert theses.supply_secured_price(dearer, ref) == pytest.approx(-0.25)
    unpriced = metrics(**{"price.layer.models.late": 0.0})
    assert math.isnan(theses.supply_secured_price(cheaper, unpriced))


def test_buildout_claim_compares_chips_revenue_with_final_spend_in_the_bust():
    def run(spend: float, chips: float) -> dict[str, float]:
        return metrics(**{"final_spend.after_bust": spend, "revenue.layer.chips.after_bust": chips})

    ref = run(100.0, 50.0)
    # Spend keeps 60%, chips 20%: chips fall more.
    assert theses.chips_follow_investment(run(60.0, 10.0), ref) == pytest.approx(0.4)
    # Chips keep 80% (contracted investment goes on): they fall less.
    assert theses.chips_follow_investment(run(60.0, 40.0), ref) == pytest.approx(-0.2)
    assert math.isnan(theses.chips_follow_investment(run(60.0, 0.0), run(100.0, 0.0)))


def test_bust_loss_claim_names_the_layer_that_loses_most():
    steady = {"foundry": (5.0, 10.0), "apps": (30.0, 100.0)}  # lose nothing
    ref = metrics(
        **after("bust", cloud=(10.0, 50.0), chips=(30.0, 60.0), models=(20.0, 80.0), **steady)
    )
    # Cloud loses 20/50 = 0.4 a $, chips 12/60 = 0.2, models 8/80 = 0.1.
    cloud_worst = metrics(
        **after("bust", cloud=(-10.0, 40.0), chips=(18.0, 40.0), models=(12.0, 60.0), **steady)
    )
    assert theses.bust_hits_cloud(cloud_worst, ref) == pytest.approx(0.2)
    # Chips lose 36/60 = 0.6 a $: cloud is not the worst hit.
    chips_worst = metrics(
        **after("bust", cloud=(-10.0, 40.0), chips=(-6.0, 10.0), models=(12.0, 60.0), **steady)
    )
    assert theses.bust_hits_cloud(chips_worst, ref) == pytest.approx(0.4 - 0.6)


def firm_windows(**firms: tuple[float, float, float, float, float]) -> dict[str, float]:
    """Per firm: profit before, profit after, revenue before, failed after, backlog."""
    out = {}
    for name, (before, later, revenue, failed, backlog) in firms.items():
        out[f"profit.firm.{name}.before_bust"] = before
        out[f"profit.firm.{name}.after_bust"] = later
        out[f"revenue.firm.{name}.before_bust"] = revenue
        out[f"failed.firm.{name}.after_bust"] = failed
        out[f"backlog.firm.{name}"] = backlog
    return out


def test_contracts_protect_the_sellers_with_backlog():
    # Google holds the backlog; without contracts it falls 10 -> 2 on revenue 40.
    ref = metrics(
        **firm_windows(google=(10, 2, 40, 0, 0), nvidia=(20, 5, 50, 0, 0), openai=(5, 1, 20, 0, 0))
    )
    kept = metrics(
        **firm_windows(google=(10, 8, 40, 0, 30), nvidia=(20, 0, 50, 0, 0), openai=(5, 1, 20, 0, 0))
    )
    assert theses.contracts_protect(kept, ref) == pytest.approx((8 - 2) / 40)
    # With the contracts it falls further (10 -> -4): they did not protect it.
    worse = metrics(
        **firm_windows(
            google=(10, -4, 40, 0, 30), nvidia=(20, 5, 50, 0, 0), openai=(5, 1, 20, 0, 0)
        )
    )
    assert theses.contracts_protect(worse, ref) == pytest.approx((8 - 14) / 40)
    # No backlog anywhere: nothing to compare.
    assert math.isnan(theses.contracts_protect(ref, ref))


def test_casualties_count_failures_and_losses_after_the_bust():
    ref = metrics(
        **firm_windows(google=(10, 2, 40, 0, 0), nvidia=(20, 5, 50, 0, 0), openai=(5, 1, 20, 0, 0))
    )
    bust = metrics(
        **firm_windows(google=(10, -2, 40, 0, 0), nvidia=(20, 5, 50, 1, 0), openai=(5, 1, 20, 0, 0))
    )
    assert theses.bust_casualties(bust, ref) == 2.0
    assert theses.bust_casualties(ref, bust) == -2.0
    assert theses.bust_casualties(ref, ref) == 0.0


def test_run_metrics_windows_are_means_before_and_after_the_event():
    n = 10
    rounds = np.arange(n, dtype=float)
    layers = {
        "hhi": np.full((n, 2), 0.5),
        "revenue": np.column_stack([rounds, 2 * rounds]),
        "quantity": np.ones((n, 2)),
        "operating_profit": np.column_stack([rounds - 5, rounds]),
    }
    firms = {
        "revenue": np.column_stack([rounds, 10 - rounds]),
        "gross_profit": np.column_stack([0.5 * rounds, np.zeros(n)]),
        "profit": np.column_stack([rounds, -rounds]),
    }
    summary = {
        "investment": 12.0,
        "money_flows": [{"round": t, "investment": float(t)} for t in range(n)],
        "firms": [
            {"name": "a", "failed": None, "backlog": 3.0},
            {"name": "b", "failed": 6, "backlog": 0.0},
        ],
    }
    result = SimpleNamespace(
        metrics=dict,
        layers=layers,
        firms=firms,
        rounds={"final_spend": 3 * rounds},
        summary=summary,
        layer_names=["chips", "cloud"],
        firm_names=["a", "b"],
    )
    m = theses.run_metrics(result, {"bust": 4, "generation": 8, "later": 12})
    assert m["price.layer.cloud.late"] == pytest.approx(2 * 7)  # rounds 5..9
    assert m["gross_margin.firm.a.late"] == pytest.approx(0.5)
    assert m["investment"] == 12.0 and m["backlog.firm.a"] == 3.0
    assert m["failed.firm.b"] == 1.0 and m["failed.firm.a"] == 0.0
    assert m["operating_profit.layer.chips.before_bust"] == pytest.approx(1.5 - 5)
    assert m["operating_profit.layer.chips.after_bust"] == pytest.approx(6.5 - 5)
    assert m["revenue.layer.cloud.after_bust"] == pytest.approx(13.0)
    assert m["profit.firm.b.after_bust"] == pytest.approx(-6.5)
    assert m["final_spend.after_bust"] == pytest.approx(19.5)
    assert m["investment.before_bust"] == pytest.approx(1.5)
    assert m["failed.firm.b.after_bust"] == 1.0 and m["failed.firm.b.after_generation"] == 0.0
    # the generation window is GENERATION_WINDOW rounds long, cut at the end of the run
    assert m["revenue.layer.chips.after_generation"] == pytest.approx(8.5)
    # an event outside the run has no window
    assert not any(k.endswith("_later") for k in m)


def test_run_theses_on_the_built_in_scenario(tmp_path):
    names = ["baseline", "demand_bust", "no_integration", "no_new_generation"]
    names += ["bust_contracts", "bust_no_contracts"]
    report = theses.run_theses(
        seed=1, n_seeds=2, rounds=10, only=names, progress=False, store_dir=tmp_path / "runs"
    )
    assert [v["name"] for v in report["variants"]] == names
    assert len(report["seeds"]) == 2 and report["rounds"] == 10
    assert report["windows"] == {"bust": 5, "generation": 8}
    within = [r for r in report["table"] if r["reference"] is None]
    assert {r["condition"] for r in within} == set(names)
    for r in report["table"]:
        assert 0 <= r["holds"] <= r["seeds"] <= 2
        if r["seeds"]:
            assert r["verdict"] == theses.verdict(r["seeds"], r["ci"])
    cell = {(r["claim"], r["condition"]): r for r in report["table"]}
    # Every buildout claim whose variants ran is evaluated on both seeds.
    for claim, condition in [
        ("2c", "baseline"),
        ("3e", "demand_bust"),
        ("3f", "demand_bust"),
        ("3g", "bust_contracts"),
        ("3h", "demand_bust"),
        ("4c", "baseline"),
    ]:
        assert cell[(claim, condition)]["seeds"] == 2, (claim, cell[(claim, condition)])
    # The lab variants did not run: their claims say so.
    assert cell[("3c", "lab_secures_supply")]["note"] == "variant not run"
    text = theses.render(report)
    assert "thesis 1" in text and "1a" in text and "3g" in text
    assert "demand_bust round 5, moved from 14 (5 rounds after)" in text
    for c in report["conclusions"]:
        assert f"  verdict: {c['verdict']}" in text
    theses.plot(report, tmp_path / "theses.png")
    assert (tmp_path / "theses.png").stat().st_size > 1000
