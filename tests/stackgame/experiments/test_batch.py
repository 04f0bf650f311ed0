"""run_batch: manifests, failures, resume, refusing to mix specs (with test-only run functions)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from stackgame.errors import UserError
from stackgame.experiments.batch import parse_spec, run_batch
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
