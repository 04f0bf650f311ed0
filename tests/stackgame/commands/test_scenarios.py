"""``stackgame scenarios``: the list of built-in scenarios and ``--show``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import tomli_w

from stackgame.cli import main

QUICK = ["--rounds", "2", "--json", "--no-files"]


def test_show_prints_toml_that_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scenarios", "--show", "ai-stack-2026-articles"]) == 0
    text = capsys.readouterr().out
    raw = tomllib.loads(text)
    assert raw["name"] == "ai-stack-2026-articles"
    # the shown text is a usable scenario file, comments included
    original = tmp_path / "original.toml"
    original.write_text(text, encoding="utf-8")
    assert main(["run", "--scenario", str(original), *QUICK]) == 0
    before = json.loads(capsys.readouterr().out)
    # edit a value, pass it back, and the change shows
    raw["demand"]["market_size"] = 2 * raw["demand"]["market_size"]
    raw["regulator"]["stance"] = 0.0
    edited = tmp_path / "edited.toml"
    edited.write_text(tomli_w.dumps(raw), encoding="utf-8")
    assert main(["run", "--scenario", str(edited), *QUICK]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["regulator"]["stance"] == 0.0 and before["regulator"]["stance"] == 0.5
    # capacity binds, so twice the consumers buy a little more and many go without
    assert after["final_spend"] > before["final_spend"]
    assert after["lost_demand"] > before["lost_demand"] + 10
    assert after["scenario_hash"] != before["scenario_hash"]


def test_scenarios_lists_the_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["name"] == "ai-stack-2026" and r["firms"] > 5 for r in rows)


def test_scenarios_table_has_one_line_per_builtin(capsys):
    from stackgame.environment.scenario import builtin_names

    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(builtin_names())
    assert all(" firms  " in line and " layers  " in line and " rounds  " in line for line in lines)
