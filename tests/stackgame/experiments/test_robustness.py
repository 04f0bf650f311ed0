"""The verdict across seeds: winner frequencies, intervals, and who leads beyond noise."""

from __future__ import annotations

import pytest

from stackgame.experiments import robustness
from stackgame.experiments.robustness import summarise, verdict_sentence, workers_for

LABELS = {"a": "Alpha", "b": "Beta", "c": "Gamma"}


def _rows(firm: dict[str, list[float]], seeds: list[int] | None = None) -> list[dict]:
    n = len(next(iter(firm.values())))
    seeds = seeds if seeds is not None else list(range(n))
    return [
        {
            "seed": s,
            "layer": {"up": 0.6, "down": 0.4},
            "firm": {name: v[i] for name, v in firm.items()},
        }
        for i, s in enumerate(seeds)
    ]


def test_a_symmetric_duopoly_that_ties_on_every_seed_is_within_noise():
    # Two identical firms split the profit evenly on every seed: every paired difference
    # is 0, its interval [0, 0] does not lie above zero, and every seed is a tie that
    # counts half for each (4 seeds: 2 of 4 each).
    report = summarise(_rows({"a": [0.5] * 4, "b": [0.5] * 4}))
    lead = report["lead"]["firm"]
    assert not lead["clear"] and lead["within_noise"] == ["a", "b"]
    assert report["winner_frequency"]["firm"] == {"a": 0.5, "b": 0.5}
    assert report["intervals"]["firm"]["a"] == {"mean": 0.5, "low": 0.5, "high": 0.5}
    text = verdict_sentence(report, LABELS)
    assert "Alpha and Beta are within noise of each other: 50% [50, 50] vs 50% [50, 50]" in text
    assert "beyond noise" not in text.split("; ", 2)[2]  # the firm clause names no winner


def test_a_firm_that_leads_on_every_seed_by_the_same_margin_is_named():
    # Alpha 30, 35, 40%; Beta 2 pp below on each seed. The shares' own intervals overlap
    # (Alpha 35% +- 4.30 * 2.89 = [22.6, 47.4]), but the paired difference is 2 pp on every
    # seed: its interval is [2.0, 2.0], above zero, so Alpha leads beyond noise.
    report = summarise(
        _rows({"a": [0.30, 0.35, 0.40], "b": [0.28, 0.33, 0.38], "c": [0.1, 0.1, 0.1]})
    )
    lead = report["lead"]["firm"]
    assert lead["clear"] and lead["leader"] == "a" and lead["within_noise"] == ["a"]
    d = lead["differences"]["b"]
    assert d["mean"] == pytest.approx(0.02) and d["low"] == pytest.approx(0.02)
    iv = report["intervals"]["firm"]["a"]
    assert (iv["low"], iv["high"]) == (
        pytest.approx(0.22579, abs=1e-4),
        pytest.approx(0.47421, abs=1e-4),
    )
    assert report["winner_frequency"]["firm"] == {"a": 1.0, "b": 0.0, "c": 0.0}
    text = verdict_sentence(report, LABELS)
    assert (
        "Alpha is the largest winner beyond noise: 35% [23, 47], 2.0 pp [2.0, 2.0] ahead of Beta"
        in text
    )
    assert "Alpha is the largest winner on every seed" in text
    assert "the up layer captures the most value beyond noise" in text


def test_a_lead_that_changes_sign_across_seeds_is_within_noise():
    # d = Alpha - Beta = +1, -2, +2 pp: mean 0.333 pp, sd 2.082 pp, se 1.202 pp,
    # t_{0.975, 2} = 4.303: interval [-4.84, +5.50] pp spans zero. Seed 1 is Beta's
    # (by 2 pp, beyond the 0.5 pp tie tolerance); seeds 0 and 2 Alpha's.
    report = summarise(
        _rows({"a": [0.30, 0.28, 0.32], "b": [0.29, 0.30, 0.30], "c": [0.1, 0.1, 0.1]})
    )
    lead = report["lead"]["firm"]
    assert not lead["clear"] and lead["within_noise"] == ["a", "b"]
    d = lead["differences"]["b"]
    assert (d["low"], d["high"]) == (
        pytest.approx(-0.04838, abs=1e-4),
        pytest.approx(0.05505, abs=1e-4),
    )
    assert lead["differences"]["c"]["low"] > 0  # Gamma is far behind: not within noise
    freq = report["winner_frequency"]["firm"]
    assert freq == {"a": pytest.approx(2 / 3), "b": pytest.approx(1 / 3), "c": 0.0}
    # Alpha: mean 30%, sd 2 pp, half-width 4.303 * 2 / sqrt(3) = 4.97 pp: [25, 35];
    # Beta: mean 29.67%, sd 0.577 pp, half-width 1.43 pp: [28.2, 31.1]
    text = verdict_sentence(report, LABELS)
    assert "Alpha and Beta are within noise of each other: 30% [25, 35] vs 30% [28, 31]" in text
    assert "seeds won as the largest winner: Alpha 2 of 3, Beta 1 of 3" in text


def test_one_seed_has_no_interval_and_says_so():
    report = summarise(_rows({"a": [0.4], "b": [0.35]}, seeds=[7]))
    assert report["seeds"] == [7] and report["n_seeds"] == 1
    assert report["interval_note"] == "one seed: no interval"
    assert report["intervals"]["firm"]["a"] == {"mean": 0.4, "low": None, "high": None}
    assert report["lead"]["firm"]["differences"]["b"]["low"] is None
    assert not report["lead"]["firm"]["clear"]
    text = verdict_sentence(report, LABELS)
    assert text.startswith("One seed (7), so no interval")
    assert "Alpha is the largest winner on it (40%)" in text
    assert "nan" not in text.lower()


def test_the_pool_is_used_only_when_the_work_pays_for_it():
    assert workers_for(7, 0.01, 8) == 1  # 70 ms of work: here
    assert workers_for(7, robustness.POOL_SECONDS, 2) == 2
    assert workers_for(7, 1.0, 1) == 1  # one core
    assert workers_for(1, 10.0, 8) == 1  # one run: nothing to share
    assert workers_for(3, 1.0, 8) == 3


def test_run_seeds_reuses_the_known_seed_and_matches_separate_runs():
    from stackgame.simulation.simulate import simulate

    config = robustness.SeedsConfig("monopoly-chain", 2)
    mine = robustness.shares_of(simulate("monopoly-chain", rounds=2, seed=5).summary)
    rows = robustness.run_seeds(config, [4, 5], {5: {"layer": {}, "firm": {}}})
    assert rows[1] == {"seed": 5, "layer": {}, "firm": {}}  # reused, not rerun
    alone = robustness.shares_of(simulate("monopoly-chain", rounds=2, seed=4).summary)
    assert rows[0] == {"seed": 4, **alone}
    assert mine["layer"]  # the shares of a real run have names


def test_a_seed_s_shares_are_those_of_simulate_on_the_built_in_stack():
    """The extra seeds skip the per-round arrays, not a number of the summary."""
    from stackgame.simulation.simulate import simulate

    config = robustness.SeedsConfig("ai-stack-2026", 30, {}, {"regulator.stance": 0.2})
    got = dict(robustness._run_block(config, [3, 4]))
    for seed in (3, 4):
        run = simulate("ai-stack-2026", rounds=30, seed=seed, overrides={"regulator.stance": 0.2})
        assert got[seed] == robustness.shares_of(run.summary)
        assert got[seed]["firm"]


def test_the_commands_default_agrees_with_the_library():
    from stackgame.commands import run

    assert run.DEFAULT_SEEDS == robustness.DEFAULT_SEEDS
