"""stackgame report: tables, figures, and Sobol/Morris indices that recover a known function."""

from __future__ import annotations

import argparse
import json

import pytest

from stackgame.commands import report as report_cmd
from stackgame.errors import UserError
from stackgame.experiments.batch import parse_spec, run_batch
from stackgame.experiments.batch_report import load_batch, make_report, summary_tables
from stackgame.experiments.executor import Task
from tests.stackgame.experiments.test_batch import RAW, fake_run


def linear_fn(task: Task) -> dict:
    """y = stance + 0.1 * growth / 0.04: stance explains about 99% of the variance."""
    s, g = task.params["regulator.stance"], task.params["demand.growth"]
    return {"y": s + 0.1 * g / 0.04, "z": s * s}


SENS = {
    "batch": {"name": "sens", "seed": 3, "samples": 64},
    "parameters": {
        "regulator.stance": {"min": 0.0, "max": 1.0},
        "demand.growth": {"min": 0.0, "max": 0.04},
    },
    "report": {"headline": ["y"]},
}


def batch(tmp_path, raw, fn, design=None):
    raw = json.loads(json.dumps(raw))
    if design:
        raw["batch"]["design"] = design
    spec = parse_spec(raw, source="t.toml", check=False)
    out = tmp_path / (design or "fact")
    run_batch(spec, out, fn=fn, progress=False)
    return out


def test_report_of_a_factorial_batch(tmp_path):
    raw = {**RAW, "report": {"x": "regulator.stance", "facet": "demand.growth"}}
    out = batch(tmp_path, raw, fake_run)
    report = make_report(out)
    folder = out / "report"
    for name in ("summary.md", "summary.json", "figure.png"):
        assert (folder / name).exists()
    assert (folder / "metric-value_share.layer.chips.png").exists()
    assert (folder / "metric-final_spend.png").exists()
    status = report["tables"]["status"]
    assert dict(zip(status["index"], [r[0] for r in status["data"]], strict=True)) == {
        "ok": 17,
        "error": 1,
        "timeout": 0,
        "missing": 0,
    }
    md = (folder / "summary.md").read_text()
    assert "scenario became infeasible" in md and "Metric means by `regulator.stance`" in md
    assert report["sensitivity"] is None


def test_means_by_parameter_value(tmp_path):
    out = batch(tmp_path, RAW, fake_run)
    tables = summary_tables(load_batch(out))
    by = tables["by:regulator.stance"]
    # 0.6 - 0.3 * stance, plus noise below 0.01
    assert by.loc["value_share.layer.chips", "regulator.stance=0.0"] == pytest.approx(0.6, abs=0.01)
    assert by.loc["value_share.layer.chips", "regulator.stance=1.0"] == pytest.approx(0.3, abs=0.01)


def test_sobol_indices_recover_a_known_function(tmp_path):
    out = batch(tmp_path, SENS, linear_fn, design="sobol")
    report = make_report(out, plots=True)
    assert (out / "report" / "sensitivity.png").exists()
    rows = report["sensitivity"]
    table = {(r[0], r[1]): dict(zip(rows["columns"][2:], r[2:], strict=True)) for r in rows["data"]}
    assert table[("y", "regulator.stance")]["S1"] == pytest.approx(0.99, abs=0.05)
    assert table[("y", "demand.growth")]["ST"] == pytest.approx(0.01, abs=0.02)
    assert table[("z", "demand.growth")]["ST"] == pytest.approx(0.0, abs=0.02)


def test_morris_ranks_the_influential_parameter_first(tmp_path):
    raw = json.loads(json.dumps(SENS))
    raw["batch"]["samples"] = 10
    out = batch(tmp_path, raw, linear_fn, design="morris")
    report = make_report(out, plots=False)
    rows = report["sensitivity"]
    cols = rows["columns"]
    mu = {(r[0], r[1]): r[cols.index("mu_star")] for r in rows["data"]}
    assert mu[("y", "regulator.stance")] == pytest.approx(1.0, abs=1e-6)  # per whole range
    assert mu[("y", "demand.growth")] == pytest.approx(0.1, abs=1e-6)


def test_report_command_json_and_bad_folder(tmp_path, capsys):
    out = batch(tmp_path, RAW, fake_run)
    parser = argparse.ArgumentParser()
    report_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["report", str(out), "--json", "--no-plots"])
    assert args.handler(args) == 0
    first = capsys.readouterr().out
    data = json.loads(first)
    assert data["batch"]["runs_total"] == 18
    assert args.handler(args) == 0
    assert capsys.readouterr().out == first  # byte-identical
    args = parser.parse_args(["report", str(tmp_path / "nowhere")])
    with pytest.raises(UserError, match="no such folder"):
        args.handler(args)


def test_report_of_a_partial_batch_counts_the_missing_runs(tmp_path):
    from stackgame.experiments.batch import write_batch_manifest
    from stackgame.experiments.executor import ResultStore, execute

    spec = parse_spec(json.loads(json.dumps(RAW)), source="t.toml", check=False)
    out = tmp_path / "partial"
    store = ResultStore(out / "runs", side_root=out)
    execute(list(spec.tasks())[:5], fake_run, store=store, progress=False)
    write_batch_manifest(spec, out, command="test", counts={})
    report = make_report(out, plots=False)
    status = report["tables"]["status"]
    counts = dict(zip(status["index"], [r[0] for r in status["data"]], strict=True))
    assert counts["missing"] == 13 and counts["ok"] == 5
    assert report["batch"]["recorded"] == 5
