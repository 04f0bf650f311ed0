"""``stackgame report DIR``: the report of a batch as JSON, and a bad folder."""

from __future__ import annotations

import argparse
import json

import pytest

from stackgame.commands import report as report_cmd
from stackgame.errors import UserError
from stackgame.experiments.batch import parse_spec, run_batch
from tests.stackgame.experiments.test_batch import RAW, fake_run


def batch(tmp_path, raw, fn, design=None):
    raw = json.loads(json.dumps(raw))
    if design:
        raw["batch"]["design"] = design
    spec = parse_spec(raw, source="t.toml", check=False)
    out = tmp_path / (design or "fact")
    run_batch(spec, out, fn=fn, progress=False)
    return out


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


def test_report_command_prints_markdown_and_where_it_wrote(tmp_path, capsys):
    out = batch(tmp_path, RAW, fake_run)
    parser = argparse.ArgumentParser()
    report_cmd.register(parser.add_subparsers())
    dest = tmp_path / "elsewhere"
    args = parser.parse_args(["report", str(out), "--no-plots", "--out", str(dest)])
    assert args.handler(args) == 0
    text = capsys.readouterr().out
    assert text.rstrip().endswith(f"written to {dest}/")
    assert text.startswith((dest / "summary.md").read_text().rstrip()[:40])
    args = parser.parse_args(["report", str(out), "--seed", "-1"])
    with pytest.raises(UserError, match="--seed: must be a non-negative integer"):
        args.handler(args)
