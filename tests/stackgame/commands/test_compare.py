"""``stackgame compare``: arguments, refusals, the JSON, the files and their folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from stackgame.cli import main

CHAIN = "monopoly-chain"
RESTRAIN_UPSTREAM = {"upstream_monopolist": "always_restrain"}


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("stackgame compare: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--seeds", "0", "--set", "regulator.stance=0.9"], "--seeds"),
        (["--rounds", "0", "--set", "regulator.stance=0.9"], "--rounds"),
        ([], "nothing to compare"),
        (["--set", "regulator.stanse=0.9"], "stanse"),
        (["--strategy", "nvidia=no_such_strategy"], "no_such_strategy"),
        (["--set", "oops"], "--set"),
        (["--scenario", CHAIN, "--baseline", CHAIN, "--whatif", CHAIN], "--baseline"),
        (["--whatif", "missing.toml"], "missing.toml"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    line = _fails(capsys, ["compare", "--no-files", "--no-progress", *argv])
    assert fragment in line


def test_json_is_strict_and_files_are_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    argv = ["compare", "--scenario", CHAIN, "--seeds", "2", "--rounds", "3", "--json"]
    argv += ["--strategy", "upstream_monopolist=always_restrain", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    assert set(report) >= {"baseline", "whatif", "seeds", "layers", "firms", "totals", "out"}
    assert report["seeds"] == [0, 1]
    assert report["whatif"]["strategies"] == RESTRAIN_UPSTREAM
    for name in ("compare.json", "compare.csv", "compare.png", "manifest.json"):
        assert (out / name).is_file()
    assert json.loads((out / "compare.json").read_text())["layers"] == report["layers"]


def test_two_scenario_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stackgame.environment.scenario import builtin_text

    text = builtin_text(CHAIN)
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    a.write_text(text)
    b.write_text(text.replace('strategy = "always_extract"', 'strategy = "always_restrain"', 1))
    argv = ["compare", "--baseline", str(a), "--whatif", str(b), "--seeds", "2", "--rounds", "3"]
    assert main([*argv, "--json", "--no-files", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    changed = [r for r in report["firms"] if r["value_share"]["change"] != 0.0]
    assert changed, "the second file changes a strategy, so some share must move"
    assert report["out"] is None


def test_default_folder_names_the_what_if(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["compare", "--scenario", CHAIN, "--seeds", "2", "--rounds", "2", "--no-plots"]
    assert main([*argv, "--set", "regulator.stance=0.9", "--no-progress"]) == 0
    assert "What if regulator.stance=0.9?" in capsys.readouterr().out
    (folder,) = (tmp_path / "runs" / "out" / "compare").iterdir()
    assert folder.name.startswith(f"{CHAIN}-seed0-regulator.stance=0.9+rounds=2-")


def test_text_report_lists_the_files_and_csv_has_a_row_per_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    argv = ["compare", "--scenario", CHAIN, "--seeds", "2", "--rounds", "2", "--no-plots"]
    argv += ["--strategy", "upstream_monopolist=always_restrain", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert text.rstrip().endswith(f"files: {out}/ (compare.json, compare.csv)")
    assert not (out / "compare.png").exists()
    report = json.loads((out / "compare.json").read_text())
    with open(out / "compare.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = {r["name"] for r in report["layers"]} | {r["name"] for r in report["firms"]}
    assert names <= {r["name"] for r in rows}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"] == [0, 1]
    assert manifest["strategies"] == RESTRAIN_UPSTREAM
    assert manifest["scenario_hash"] == report["baseline"]["scenario_hash"]
    assert manifest["whatif_scenario_hash"] == report["whatif"]["scenario_hash"]


def test_no_files_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["compare", "--scenario", CHAIN, "--seeds", "1", "--rounds", "2", "--no-files"]
    assert main([*argv, "--set", "regulator.stance=0.9", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "files:" not in text
    assert list(tmp_path.iterdir()) == []


def test_two_files_name_the_folder_baseline_vs_whatif(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stackgame.environment.scenario import builtin_text

    text = builtin_text(CHAIN)
    (tmp_path / "a.toml").write_text(text)
    (tmp_path / "b.toml").write_text(text.replace(f'name = "{CHAIN}"', 'name = "other"', 1))
    monkeypatch.chdir(tmp_path)
    argv = ["compare", "--baseline", "a.toml", "--whatif", "b.toml", "--seeds", "1"]
    assert main([*argv, "--rounds", "2", "--no-plots", "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    folder = Path(report["out"])
    assert folder.parent.name == "compare"
    assert folder.name.startswith(f"{CHAIN}-vs-other-seed0-")
