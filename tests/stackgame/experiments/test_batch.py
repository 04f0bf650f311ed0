"""run_batch: manifests, failures, resume, refusing to mix specs (with test-only run functions)."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stackgame.errors import UserError
from stackgame.experiments.batch import SpecError, load_spec, parse_spec, run_batch
from stackgame.experiments.executor import TABLES_KEY, Task

RAW = {
    "batch": {"name": "fake", "seed": 11, "replicates": 3},
    "parameters": {"regulator.stance": [0.0, 0.5, 1.0], "demand.growth": [0.0, 0.02]},
    "metrics": {"per_round": True},
}


def fake_run(task: Task) -> dict:
    """A stand-in for the simulation: a metric from the parameters plus seeded noise."""
    stance = task.params["regulator.stance"]
    growth = task.params["demand.growth"]
    if stance == 0.5 and growth == 0.02 and task.params["replicate"] == 1:
        raise RuntimeError("scenario became infeasible")
    noise = (task.seed % 1000) / 1e5
    rounds = pd.DataFrame({"round": [0, 1], "layer": ["chips", "chips"], "price": [1.0, 2.0]})
    return {
        "value_share.layer.chips": 0.6 - 0.3 * stance + noise,
        "final_spend": 100 * (1 + growth),
        TABLES_KEY: {"rounds": rounds},
    }


def spec(raw=RAW, **kw):
    return parse_spec(raw, source="fake.toml", check=False, **kw)


def test_batch_records_every_run_and_a_failure(tmp_path):
    s = spec()
    outcome = run_batch(s, tmp_path / "out", fn=fake_run, progress=False)
    assert (outcome.summary.total, outcome.summary.ok, outcome.summary.failed) == (18, 17, 1)
    runs = pd.read_parquet(tmp_path / "out" / "runs")
    assert len(runs) == 18 and runs.run_id.is_unique
    failed = runs[runs.status == "error"]
    assert len(failed) == 1 and "scenario became infeasible" in failed.error.iloc[0]
    assert failed["regulator.stance"].iloc[0] == 0.5
    assert math.isnan(failed["final_spend"].iloc[0])
    rounds = pd.read_parquet(tmp_path / "out" / "rounds")
    assert len(rounds) == 17 * 2 and set(rounds.columns) == {"run_id", "round", "layer", "price"}


def test_manifest_holds_hash_seed_total_versions_revision(tmp_path):
    s = spec()
    run_batch(s, tmp_path / "out", fn=fake_run, progress=False, command="stackgame batch x")
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["spec_hash"] == s.digest() and len(m["spec_hash"]) == 64
    assert m["root_seed"] == 11 and m["seed"] == 11
    assert m["runs_total"] == 18 and m["runs_done"] == 18 and m["runs_error"] == 1
    assert {"python", "numpy", "pandas", "pyarrow"} <= set(m["versions"])
    assert "git_revision" in m and m["command"] == "stackgame batch x"
    assert m["parameters"] == ["regulator.stance", "demand.growth"]
    assert m["spec"]["batch"]["name"] == "fake"


def test_resume_runs_only_the_missing_and_matches_a_clean_run(tmp_path):
    s = spec()
    clean = tmp_path / "clean"
    run_batch(s, clean, fn=fake_run, progress=False)
    partial = tmp_path / "partial"
    # a batch that stopped part-way: only the first 7 runs recorded
    from stackgame.experiments.executor import ResultStore, execute

    execute(list(s.tasks())[:7], fake_run, store=ResultStore(partial / "runs"), progress=False)
    outcome = run_batch(s, partial, fn=fake_run, progress=False, workers=2, chunk_size=4)
    assert (outcome.summary.done_before, outcome.summary.ran) == (7, 11)
    a = ResultStore(clean / "runs").read().drop(columns="elapsed_seconds")
    b = ResultStore(partial / "runs").read().drop(columns="elapsed_seconds")
    pd.testing.assert_frame_equal(a, b)


def test_a_different_spec_in_the_same_folder_is_refused(tmp_path):
    run_batch(spec(), tmp_path / "out", fn=fake_run, progress=False)
    with pytest.raises(UserError, match="different spec or seed"):
        run_batch(spec(seed=12), tmp_path / "out", fn=fake_run, progress=False)
    before = len(pd.read_parquet(tmp_path / "out" / "runs"))
    assert before == 18  # nothing lost, nothing added


GOOD = """
[batch]
name = "t"
scenario = "ai-stack-2026"
rounds = 3
seed = 7
replicates = 2

[parameters]
"regulator.stance" = [0.0, 0.5, 1.0]
"firms.nvidia.strategy" = ["always_restrain", "always_extract"]
"""


def write(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


STANCE = "[batch]\n[parameters]\n'regulator.stance' = "

BAD = [
    ("[batch\n", "malformed TOML"),
    ("[batch]\n[params]\nx = [1]\n", "params: unknown table"),
    (
        "[batch]\nreplicate = 2\n[parameters]\n'regulator.stance' = [0.1]\n",
        "batch.replicate: unknown field",
    ),
    (
        "[batch]\nreplicates = 0\n[parameters]\n'regulator.stance' = [0.1]\n",
        "batch.replicates: must be at least 1",
    ),
    (
        "[batch]\nrounds = 'ten'\n[parameters]\n'regulator.stance' = [0.1]\n",
        "batch.rounds: must be an integer",
    ),
    ("[batch]\n[parameters]\n'regulator.stanse' = [0.1]\n", 'parameters."regulator.stanse"'),
    (
        "[batch]\n[parameters]\n'firms.nvidia.strategy' = ['always_extrac']\n",
        "unknown strategy 'always_extrac'",
    ),
    ("[batch]\n[parameters]\n'firms.nvdia.strategy' = ['always_extract']\n", "nvdia"),
    (
        "[batch]\n[parameters]\n'regulator.stance' = [0.5, nan]\n",
        'regulator.stance"[1]: must be a finite number',
    ),
    (STANCE + "[0.5, 7.0]\n", "regulator.stance"),
    (
        "[batch]\n[parameters]\n'regulator.stance' = {min = 0.0, max = inf, levels = 2}\n",
        "max: must be a finite number",
    ),
    (STANCE + "{min = 0.0, max = 1.0}\n", "needs 'levels'"),
    (STANCE + "0.5\n", "give a list of values or a range"),
    ("[batch]\n[parameters]\n", "parameters: vary at least one parameter"),
    (
        "[batch]\ndesign = 'grid'\n[parameters]\n'regulator.stance' = [0.1]\n",
        "batch.design: unknown design 'grid'",
    ),
    (
        "[batch]\ndesign = 'sobol'\nsamples = 10\n"
        "[parameters]\n'regulator.stance' = {min=0.0, max=1.0}\n",
        "power of 2",
    ),
    (
        "[batch]\ndesign = 'lhs'\n[parameters]\n'regulator.stance' = {min=0.0, max=1.0}\n",
        "needs 'samples'",
    ),
    (
        "[batch]\nscenario = 'no-such'\n[parameters]\n'regulator.stance' = [0.1]\n",
        "batch.scenario: unknown scenario",
    ),
    (
        "[batch]\n[fixed]\n'regulator.stance' = 0.2\n[parameters]\n'regulator.stance' = [0.1]\n",
        "also set in [fixed]",
    ),
    (
        "[batch]\n[fixed]\n'regulator.nope' = 0.2\n[parameters]\n'regulator.stance' = [0.1]\n",
        'fixed."regulator.nope"',
    ),
    (
        "[batch]\n[parameters]\n'regulator.stance' = [0.1]\n[report]\nx = 'demand.growth'\n",
        "report.x",
    ),
    (STANCE + "{values = [0.1], step = 1}\n", "unknown field 'step' next to 'values'"),
    (STANCE + "[]\n", "needs at least one value"),
    (STANCE + "[0.1, 0.1]\n", "a value appears twice"),
    (
        STANCE + "{min = 0.0, max = 1.0, levels = 2, step = 3}\n",
        "unknown field; a range has min, max",
    ),
    (STANCE + "{min = 0.0, levels = 2}\n", "a range needs both 'min' and 'max'"),
    (STANCE + "{min = 'a', max = 1.0, levels = 2}\n", "min: must be a number (got 'a')"),
    (STANCE + "{min = 1.0, max = 0.0, levels = 2}\n", "min must be below max (got 1.0 and 0.0)"),
    (
        STANCE + "{min = 0.0, max = 1.0, levels = 2, integer = 'yes'}\n",
        "integer: must be true or false",
    ),
    (STANCE + "{min = 0.0, max = 1.0, levels = 1}\n", "levels: must be an integer >= 2 (got 1)"),
]


BATCH_SPECS = [
    "smoke",
    "trigger-nvidia",
    "trigger-tsmc",
    "trigger-custom-silicon",
    "regulator-sweep",
    "demand-bust",
    "integration-threshold",
    "sobol-sensitivity",
]


def test_factorial_enumeration_is_stable(tmp_path):
    path = write(tmp_path, GOOD)
    spec = load_spec(path)
    assert spec.runs_total == 12
    tasks = list(spec.tasks())
    again = list(load_spec(path).tasks())
    assert tasks == again
    ids = [t.run_id for t in tasks]
    assert ids == sorted(ids) and len(set(ids)) == 12
    assert ids[0].startswith("00000-000-") and ids[-1].startswith("00005-001-")
    assert len({t.seed for t in tasks}) == 12
    assert tasks[0].params == {
        "design_point": 0,
        "replicate": 0,
        "regulator.stance": 0.0,
        "firms.nvidia.strategy": "always_restrain",
    }
    # the parameters vary in spec order, the last fastest
    assert [t.params["firms.nvidia.strategy"] for t in tasks[:4:2]] == [
        "always_restrain",
        "always_extract",
    ]


def test_seeds_follow_seedsequence_spawn_by_run_index(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    children = np.random.SeedSequence(7).spawn(12)
    want = [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]
    assert [t.seed for t in spec.tasks()] == want


def test_common_random_numbers_share_seeds_across_points(tmp_path):
    text = GOOD.replace("replicates = 2", "replicates = 2\ncommon_random_numbers = true")
    tasks = list(load_spec(write(tmp_path, text)).tasks())
    by_rep = {r: {t.seed for t in tasks if t.params["replicate"] == r} for r in (0, 1)}
    assert len(by_rep[0]) == 1 and len(by_rep[1]) == 1 and by_rep[0] != by_rep[1]


def test_a_changed_spec_or_seed_changes_the_run_ids(tmp_path):
    base = [t.run_id for t in load_spec(write(tmp_path, GOOD)).tasks()]
    other = [
        t.run_id
        for t in load_spec(write(tmp_path, GOOD.replace("rounds = 3", "rounds = 4"))).tasks()
    ]
    reseeded = [t.run_id for t in load_spec(write(tmp_path, GOOD), seed=8).tasks()]
    assert not set(base) & set(other) and not set(base) & set(reseeded)
    # comments and layout do not matter
    commented = [t.run_id for t in load_spec(write(tmp_path, "# hello\n" + GOOD)).tasks()]
    assert commented == base


def test_nested_tables_equal_dotted_keys(tmp_path):
    nested = GOOD.replace(
        '"regulator.stance" = [0.0, 0.5, 1.0]', "regulator.stance = [0.0, 0.5, 1.0]"
    )
    a, b = load_spec(write(tmp_path, GOOD)), load_spec(write(tmp_path, nested, "b.toml"))
    assert a.parameter_names == b.parameter_names
    assert [t.params for t in a.tasks()] == [t.params for t in b.tasks()]


def test_factorial_range_with_levels(tmp_path):
    spec = load_spec(
        write(
            tmp_path,
            """
            [batch]
            [parameters]
            "demand.growth" = {min = 0.0, max = 0.04, levels = 5}
            "events.nvidia_value_pricing.round" = {min = 4, max = 8, levels = 3, integer = true}
            """,
        )
    )
    points = spec.points()
    assert len(points) == 15
    assert sorted({p["demand.growth"] for p in points}) == pytest.approx(
        [0, 0.01, 0.02, 0.03, 0.04]
    )
    assert sorted({p["events.nvidia_value_pricing.round"] for p in points}) == [4, 6, 8]


@pytest.mark.parametrize(
    ("design", "samples", "n_points"),
    [("lhs", 10, 10), ("sobol", 8, 8 * (3 + 2)), ("morris", 4, 4 * (3 + 1))],
)
def test_sampled_designs(tmp_path, design, samples, n_points):
    spec = load_spec(
        write(
            tmp_path,
            f"""
            [batch]
            design = "{design}"
            samples = {samples}
            [parameters]
            "regulator.stance" = {{min = 0.2, max = 0.8}}
            "demand.growth" = {{min = -0.01, max = 0.03}}
            "firms.nvidia.strategy" = ["always_restrain", "always_extract"]
            """,
        )
    )
    points = spec.points()
    assert len(points) == n_points == spec.runs_total
    stance = [p["regulator.stance"] for p in points]
    assert 0.2 <= min(stance) and max(stance) <= 0.8
    assert {p["firms.nvidia.strategy"] for p in points} == {"always_restrain", "always_extract"}
    assert spec.points() == points  # seeded from the root seed


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_specs_get_one_clear_message(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    text = str(info.value)
    assert isinstance(info.value, UserError)
    assert text.startswith(f"{path}: ") and message in text
    assert "\n" not in text and "Traceback" not in text


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "nope.toml")


def test_parse_spec_without_a_file():
    spec = parse_spec(
        {"parameters": {"regulator.stance": [0.1, 0.2]}}, source="inline", check=False
    )
    assert spec.runs_total == 2 and spec.name == "inline"


@pytest.mark.parametrize("name", BATCH_SPECS)
def test_every_spec_in_runs_is_valid(name):
    spec = load_spec(
        Path(__file__).resolve().parents[3] / "runs" / f"{name}.toml"
    )  # paths, strategies, values and metric patterns checked
    assert 0 < spec.runs_total <= 500


def test_labels_and_report_options_do_not_change_the_runs(tmp_path):
    base = load_spec(write(tmp_path, GOOD))
    relabelled = GOOD.replace('name = "t"', 'name = "u"\ndescription = "x"')
    relabelled += '\n[report]\nx = "regulator.stance"\ntitle = "T"\n'
    other = load_spec(write(tmp_path, relabelled, "b.toml"))
    assert other.digest() == base.digest()
    assert [t.run_id for t in other.tasks()] == [t.run_id for t in base.tasks()]


BUILDOUT_METRICS = [
    "investment",
    "financing",
    "failures",
    "capex.firm.*",
    "failed.firm.*",
    "installed_capacity.layer.*",
    "utilisation.firm.meta",
    "debt.layer.cloud",
    "backlog.firm.nvidia",
]


def test_the_buildout_quantities_are_metrics_a_spec_can_keep(tmp_path):
    """docs/BATCH.md: investment, financing, failures and the per-firm and per-layer
    buildout figures are metrics; a spec keeping them validates (a probe run) and runs."""
    raw = {
        "batch": {"name": "buildout", "seed": 5, "replicates": 1, "rounds": 3},
        "parameters": {"demand.growth": [0.0, 0.05]},
        "metrics": {"keep": BUILDOUT_METRICS},
    }
    s = parse_spec(raw, source="buildout.toml")  # check=True: every pattern must match
    run_batch(s, tmp_path / "out", progress=False)
    runs = pd.read_parquet(tmp_path / "out" / "runs")
    assert len(runs) == 2 and (runs.status == "ok").all()
    capex = [c for c in runs.columns if c.startswith("capex.firm.")]
    assert "capex.firm.meta" in capex and "failed.firm.nvidia" in runs.columns
    assert {"installed_capacity.layer.cloud", "utilisation.firm.meta"} <= set(runs.columns)
    assert not any(c.startswith("value_share") for c in runs.columns)  # only what was kept
    np.testing.assert_allclose(runs[capex].sum(axis=1), runs["investment"])
    assert (runs["investment"] > 0).all()  # the clouds buy chips as capital goods
    assert (runs["failures"] == 0).all() and (runs["financing"] >= 0).all()
    with pytest.raises(SpecError, match="no metric matches 'capex.firm.nobody'"):
        parse_spec({**raw, "metrics": {"keep": ["capex.firm.nobody"]}}, source="bad.toml")


def test_a_spec_can_ask_for_the_winner_probabilities_of_every_variant(tmp_path):
    """``uncertainty = N``: each run also draws N worlds from the target table's ranges
    (what the spec varies is held) and its row gains the winner probabilities."""
    from tests.stackgame.experiments.test_uncertainty import write_stack

    stack = write_stack(tmp_path)
    raw = {
        "batch": {"scenario": str(stack), "seed": 3, "rounds": 2, "uncertainty": 3},
        "parameters": {"demand.market_size": [30.0, 60.0]},
        "metrics": {"keep": ["winner_probability.*", "value_share_low.layer.*", "effective_*"]},
    }
    s = parse_spec(raw, source="u.toml")
    run_batch(s, tmp_path / "out", progress=False, workers=1)
    runs = pd.read_parquet(tmp_path / "out" / "runs")
    assert len(runs) == 2 and (runs.status == "ok").all()
    for level in ("layer", "firm"):
        cols = [c for c in runs.columns if c.startswith(f"winner_probability.{level}.")]
        np.testing.assert_allclose(runs[cols].sum(axis=1), 1.0)
    assert "value_share_low.layer.apps" in runs.columns
    assert ((runs.effective_draws >= 1) & (runs.effective_draws <= 3)).all()
    # the draws' source: the posterior by default (the tiny stack's values are inside their
    # bounds), the ranges when asked; the same run seeds, other draws
    ranges = parse_spec(
        {**raw, "batch": {**raw["batch"], "uncertainty_from": "ranges"}}, source="r.toml"
    )
    assert s.uncertainty_from is None and ranges.uncertainty_from == "ranges"
    run_batch(ranges, tmp_path / "ranges", progress=False, workers=1)
    other = pd.read_parquet(tmp_path / "ranges" / "runs")
    assert (other.status == "ok").all()
    assert not np.allclose(other["value_share_low.layer.apps"], runs["value_share_low.layer.apps"])
    for bad, message in (
        ({"uncertainty": 0}, "batch.uncertainty: must be at least 1 draw"),
        ({"scenario": "monopoly-chain"}, "batch.uncertainty: scenario .* names no target table"),
        ({"uncertainty_from": "bayes"}, "batch.uncertainty_from: must be 'posterior' or 'ranges'"),
        ({"uncertainty_from": 3}, "batch.uncertainty_from"),
    ):
        with pytest.raises(SpecError, match=message):
            parse_spec({**raw, "batch": {**raw["batch"], **bad}}, source="bad.toml")
