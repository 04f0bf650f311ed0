"""The verdict's uncertainty: draws, weights, winner probabilities, on a tiny stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from stackgame.environment import targets
from stackgame.environment.scenario import load

from stackgame.errors import UserError
from stackgame.experiments import uncertainty as unc
from tests.environment.tiny_scenario import tiny, write_toml

TARGET = {
    "name": "appco_revenue",
    "figure": "appco revenue",
    "kind": "revenue",
    "firm": "appco",
    "layer": "apps",
    "value": 20.0,
    "unit": "$B/quarter",
    "period": "every round",
    "low": 15.0,
    "high": 25.0,
    "source": "made up for the test",
    "window": "all",
}
PARAMETERS = [
    {"path": "demand.market_size", "low": 20.0, "high": 100.0, "scale": "log"},
    {"path": "firms.fab.ops.chips.unit_cost", "low": 0.5, "high": 2.0},
]


def write_stack(folder: Path, parameters: list[dict[str, Any]] | None = None) -> Path:
    """The tiny stack with a target table of one target and ``parameters``."""
    table = {"name": "tiny-targets", "targets": [TARGET]}
    if parameters is None:
        parameters = PARAMETERS
    if parameters:
        table["parameters"] = parameters
    (folder / "targets.toml").write_text(tomli_w.dumps(table), encoding="utf-8")
    return write_toml(folder, tiny(targets="targets.toml"), "stack.toml")


def _table(*specs: dict[str, Any]) -> targets.TargetTable:
    return targets.table_from_dict({"name": "t", "targets": [TARGET | s for s in specs]})


# -- draws ----------------------------------------------------------------------------------


def test_draws_are_latin_hypercube_within_bounds_log_where_declared_and_seeded() -> None:
    params = [targets.ParameterSpec.model_validate(p) for p in PARAMETERS]
    draws = unc.draw_parameters(params, 10, seed=3)
    assert draws == unc.draw_parameters(params, 10, seed=3)
    assert draws != unc.draw_parameters(params, 10, seed=4)
    size = np.array([d["demand.market_size"] for d in draws])
    cost = np.array([d["firms.fab.ops.chips.unit_cost"] for d in draws])
    assert ((size >= 20) & (size <= 100)).all() and ((cost >= 0.5) & (cost <= 2)).all()
    # one draw in each tenth of the (log) range: the Latin hypercube's strata
    log_unit = np.log(size / 20) / np.log(100 / 20)
    assert sorted(np.floor(log_unit * 10).astype(int)) == list(range(10))
    assert sorted(np.floor((cost - 0.5) / 1.5 * 10).astype(int)) == list(range(10))


# -- weights --------------------------------------------------------------------------------


def test_misfit_is_the_miss_over_the_half_range_or_the_bar_on_the_side_the_model_falls() -> None:
    table = _table({"value": 20.0, "low": 10.0, "high": 24.0, "weight": 2.0})
    misfit, used = unc.misfits(
        [{"appco_revenue": 20.0}, {"appco_revenue": 28.0}, {"appco_revenue": 15.0}], table
    )
    # above: the side is 24 - 20 = 4, narrower than the bar (25% of 20 = 5): (28 - 20) / 5
    # = 1.6; below: (15 - 20) / (20 - 10) = -0.5; weight 2
    assert misfit.tolist() == pytest.approx([0.0, 2 * 1.6**2, 2 * 0.25])
    assert used == ["appco_revenue"]
    wide = _table({"value": 20.0, "low": 10.0, "high": 30.0, "weight": 1.0})
    misfit, _ = unc.misfits([{"appco_revenue": 40.0}], wide)
    assert misfit.tolist() == pytest.approx([4.0])  # (40 - 20) / (30 - 20): the range is wider


def test_a_missing_number_counts_as_the_worst_miss_and_an_unmeasured_target_is_left_out() -> None:
    table = targets.table_from_dict({"name": "t", "targets": [TARGET, TARGET | {"name": "never"}]})
    misfit, used = unc.misfits(
        [{"appco_revenue": 30.0, "never": None}, {"appco_revenue": None, "never": None}], table
    )
    assert used == ["appco_revenue"]
    assert misfit.tolist() == pytest.approx([4.0, 4.0])


def test_importance_weights_normalise_and_the_effective_sample_size_counts_them() -> None:
    w = unc.importance_weights([0.0, 2000.0, 4000.0])  # would underflow without logs
    assert w.sum() == pytest.approx(1.0) and w[0] == pytest.approx(1.0)
    assert unc.effective_sample_size(w) == pytest.approx(1.0)
    assert unc.effective_sample_size(unc.importance_weights([1.0] * 4)) == pytest.approx(4.0)
    assert unc.importance_weights([np.inf, np.inf]).tolist() == [0.5, 0.5]
    assert unc.importance_weights([np.inf, 3.0]).tolist() == [0.0, 1.0]


def test_weighted_quantile_is_the_inverse_of_the_weighted_distribution() -> None:
    x = [3.0, 1.0, 2.0, 4.0]
    assert unc.weighted_quantile(x, [1, 1, 1, 1], 0.5) == 2.0
    assert unc.weighted_quantile(x, [1, 1, 1, 1], 0.05) == 1.0
    assert unc.weighted_quantile(x, [1, 1, 1, 1], 0.95) == 4.0
    assert unc.weighted_quantile(x, [0, 0, 0, 1], 0.05) == 4.0  # all weight on one
    assert unc.weighted_quantile(x, [1e-9, 1.0, 1.0, 1e-9], 0.95) == 2.0  # 4 weighs nothing


def test_winner_probability_sums_to_one_and_a_tie_splits_the_draw() -> None:
    shares = [
        {"a": 0.6, "b": 0.4},
        {"a": 0.3, "b": 0.7},
        {"a": 0.5, "b": 0.499},  # within the verdict's tie tolerance
    ]
    p = unc.winner_probability(shares, [0.5, 0.25, 0.25])
    assert p == pytest.approx({"a": 0.625, "b": 0.375})
    assert sum(p.values()) == pytest.approx(1.0)


def test_the_draw_that_matches_the_targets_dominates_the_verdict() -> None:
    table = _table({})
    rows = [
        {
            "layer": {"chips": 0.2, "apps": 0.8},
            "firm": {"nvidia": 0.1, "cursor": 0.9},
            "targets": {"appco_revenue": revenue},
        }
        for revenue in (45.0, 60.0, -10.0)  # 5, 8 and 6 half-ranges off
    ]
    rows.insert(1, {
        "layer": {"chips": 0.7, "apps": 0.3},
        "firm": {"nvidia": 0.6, "cursor": 0.4},
        "targets": {"appco_revenue": 20.5},  # inside the range: the plausible world
    })  # fmt: skip
    vectors = [{"x": float(i)} for i in range(4)]
    report = unc.summarise(rows, vectors, table)
    assert report["winner_probability"]["layer"]["chips"] > 0.999
    assert report["winner_probability"]["firm"]["nvidia"] > 0.999
    assert report["prior_winner_probability"]["layer"] == {"chips": 0.25, "apps": 0.75}
    assert report["effective_draws"] == pytest.approx(1.0, abs=1e-3)
    assert report["best_draw"]["index"] == 1 and report["best_draw"]["values"] == {"x": 1.0}
    chips = report["value_share_intervals"]["layer"]["chips"]
    assert chips["low"] == chips["high"] == 0.7
    assert chips["mean"] == pytest.approx(0.7, abs=1e-5)
    prior = report["prior_value_share_intervals"]["layer"]["chips"]
    assert (prior["low"], prior["high"]) == (0.2, 0.7)
    sentence = unc.verdict_sentence(report, {"nvidia": "Nvidia"})
    assert sentence.startswith(
        "The chips layer captures the most value in 100% of plausible worlds; Nvidia is the "
        "largest winner in 100%"
    )
    assert sentence.endswith("a tentative answer (draw more, or fit first).")  # ESS 1
    metrics = unc.flat_metrics(report)
    assert metrics["winner_probability.layer.chips"] > 0.999
    assert metrics["value_share_high.firm.cursor"] == 0.4


# -- the whole analysis on the tiny stack ---------------------------------------------------


@pytest.mark.parametrize("method", ["posterior", "ranges"])
def test_analyse_is_deterministic_for_a_seed_on_any_number_of_workers(
    tmp_path: Path, method: str
) -> None:
    scenario = load(write_stack(tmp_path))
    one = unc.analyse(scenario, draws=6, seed=5, rounds=2, workers=1, method=method)
    two = unc.analyse(scenario, draws=6, seed=5, rounds=2, workers=2, method=method)
    assert one == two and one["method"] == method
    assert one["draws"] == 6 and 1.0 <= one["effective_draws"] <= 6.0
    for level in ("layer", "firm"):
        assert sum(one["winner_probability"][level].values()) == pytest.approx(1.0)
        assert sum(one["prior_winner_probability"][level].values()) == pytest.approx(1.0)
    assert [p["path"] for p in one["parameters"]] == [p["path"] for p in PARAMETERS]
    other = unc.analyse(scenario, draws=6, seed=6, rounds=2, workers=1, method=method)
    assert other["per_draw"] != one["per_draw"]
    frame = unc.draws_frame(one)
    assert len(frame) == 6 and "demand.market_size" in frame.columns
    text = "\n".join(unc.render(one, ["chips", "cloud", "apps"]))
    assert "\napps " in text and "\nappco " in text and "effective draws" in text
    png = unc.plot(one, tmp_path / "u.png", ["chips", "cloud", "apps"])
    assert png.stat().st_size > 1000


def test_a_held_parameter_is_not_drawn(tmp_path: Path) -> None:
    scenario = load(write_stack(tmp_path))
    report = unc.analyse(scenario, draws=2, seed=0, rounds=1, held={"demand.market_size": 30.0})
    assert [p["path"] for p in report["parameters"]] == ["firms.fab.ops.chips.unit_cost"]
    assert report["held"] == ["demand.market_size"]
    with pytest.raises(UserError, match="every \\[\\[parameters\\]\\] path .* is fixed by --set"):
        unc.parameter_space(scenario, held=[p["path"] for p in PARAMETERS])


def test_nothing_to_draw_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="names no target table"):
        unc.parameter_space(load(write_toml(tmp_path, tiny())))
    with pytest.raises(UserError, match="has no \\[\\[parameters\\]\\] to draw"):
        unc.parameter_space(load(write_stack(tmp_path, parameters=[])))
    with pytest.raises(UserError, match="at least 1 draw"):
        unc.analyse(load(write_stack(tmp_path)), draws=0, seed=0)


def test_a_world_whose_run_breaks_down_is_listed_not_fatal() -> None:
    from stackgame.environment.scenario import resolve

    config = unc.UncertaintyConfig(resolve("monopoly-chain"), 2, 0, {})
    rows = unc._run_block(config, [(0, {"demand.intercept": 12.0}), (1, {"demand.slope": -1.0})])
    assert [r["index"] for r in rows] == [0, 1]
    assert "failed" not in rows[0] and rows[0]["layer"]
    assert rows[1]["failed"].startswith("ScenarioError") and "slope" in rows[1]["failed"]
