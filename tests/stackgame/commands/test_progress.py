"""Long commands say so on stderr; stdout stays clean for --json; --no-progress is quiet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackgame.cli import main

STACK_TOURNAMENT = [
    "tournament",
    "--scenario",
    "monopoly-chain",
    "--seats",
    "upstream_monopolist,downstream_monopolist",
    "--strategies",
    "always_restrain,always_extract",
    "--turns",
    "3",
    "--repetitions",
    "1",
    "--no-plots",
    "--json",
]


def test_tournament_announces_its_matches_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*STACK_TOURNAMENT, "--out", str(tmp_path / "t")]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout is the JSON alone
    assert "match(es) of 3 turns (each a simulation of the stack)" in captured.err
    assert "matches" in captured.err  # the bar


def test_no_progress_is_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*STACK_TOURNAMENT, "--out", str(tmp_path / "t"), "--no-progress"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert captured.err == ""


def test_compare_progress_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compare", "--scenario", "monopoly-chain", "--seeds", "2", "--rounds", "2"]
    assert main([*argv, "--set", "regulator.stance=0.9", "--json", "--no-files"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert "compare runs" in captured.err and "4/4" in captured.err
