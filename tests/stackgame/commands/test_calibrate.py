"""``stackgame calibrate``: refusals, the JSON, the calibrated TOML and its manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomli_w
from stackgame.environment import targets
from stackgame.environment.scenario import load, resolve

from stackgame.calibration.fit import measure_scenario
from stackgame.cli import main

# a short fit: 4 rounds (2025), the first two parameters, 2 seeds, a handful of evaluations
SHORT = ["--set", "rounds=4", "--seeds", "2", "--max-evals", "5", "--no-progress"]


def _short_table(folder: Path, parameters: int = 2, **bad: object) -> Path:
    """The built-in target table with only its first ``parameters`` parameters."""
    table = targets.resolve(resolve("ai-stack-2026"))
    assert table is not None
    raw = table.model_dump(mode="json", exclude_defaults=True)
    raw["parameters"] = raw["parameters"][:parameters]
    raw["parameters"][0].update(bad)
    path = folder / "short.toml"
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("stackgame calibrate: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--scenario", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["--seeds", "0"], "--seeds: must be at least 1"),
        (["--max-evals", "0"], "--max-evals: must be at least 1"),
        (["--scenario", "monopoly-chain"], "names no target table"),
        (["--set", "demand.nope=1"], "nope"),
        (["--out", "fitted.txt"], "a .toml file"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    line = _fails(capsys, ["calibrate", "--no-progress", *argv])
    assert fragment in line


def test_a_bad_targets_file_or_parameter_path_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n", encoding="utf-8")
    line = _fails(capsys, ["calibrate", "--no-files", "--targets", str(broken), *SHORT])
    assert "broken.toml: malformed TOML" in line
    bad_path = _short_table(tmp_path, path="firms.nvidia.ops.chips.restrain_markupp")
    line = _fails(capsys, ["calibrate", "--no-files", "--targets", str(bad_path), *SHORT])
    assert "parameters.firms.nvidia.ops.chips.restrain_markupp" in line
    assert "restrain_markupp" in line and "did you mean 'restrain_markup'" in line
    line = _fails(capsys, ["calibrate", "--out", str(tmp_path), *SHORT])
    assert "is a folder" in line
    line = _fails(capsys, ["calibrate", "--no-files", "--targets", str(tmp_path / "none.toml")])
    assert "no such target file" in line


def test_json_is_strict_and_the_written_scenario_gives_the_after_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table_file = _short_table(tmp_path)
    out = tmp_path / "fit" / "calibrated.toml"
    argv = ["calibrate", "--targets", str(table_file), "--out", str(out), "--json", *SHORT]
    assert main(argv) == 0
    text = capsys.readouterr().out
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    keys = {"parameters", "targets", "inside_before", "inside_after", "evaluations", "seconds"}
    assert keys <= set(report) and report["out"] == str(out)
    assert [p["path"] for p in report["parameters"]] == ["demand.market_size", "demand.growth"]
    assert report["seeds"] == [0, 1] and 1 <= report["evaluations"] <= 6
    for name in ("calibrated.toml", "calibrated.json", "calibrated.manifest.json"):
        assert (out.parent / name).is_file()
    manifest = json.loads((out.parent / "calibrated.manifest.json").read_text())
    assert manifest["seeds"] == [0, 1] and manifest["scenario_hash"]
    written = load(out)  # its targets path is relative to its own folder
    assert written.rounds == 4 and written.origin == out.parent.resolve()
    table = targets.resolve(written)
    assert table is not None and len(table.parameters) == 2
    after = measure_scenario(written, table, {}, [0, 1])
    assert after == [t["model_after"] for t in report["targets"]]
    assert out.read_text().startswith("# calibrate: written by `stackgame calibrate`")


def test_the_same_fit_twice_writes_the_same_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for k in range(2):
        out = tmp_path / f"run{k}" / "ai-stack-2026.toml"
        assert main(["calibrate", "--out", str(out), *SHORT]) == 0
        report = json.loads(out.with_suffix(".json").read_text())
        for key in ("seconds", "wall_seconds", "out"):  # times, and the folder
            report.pop(key)
        report["starts"][0].pop("seconds")
        outputs.append((out.read_text(), report))
    assert outputs[0] == outputs[1]
    text = capsys.readouterr().out
    assert "Targets inside their range:" in text and "files:" in text


def test_the_default_folder_is_under_runs_out_calibrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    table_file = _short_table(tmp_path, parameters=1)
    assert main(["calibrate", "--targets", str(table_file), *SHORT[:-3], "--max-evals", "2"]) == 0
    written = list((tmp_path / "runs" / "out" / "calibrate").glob("*/ai-stack-2026.toml"))
    assert len(written) == 1 and written[0].parent.name.startswith("ai-stack-2026-seed0-")
    assert "calibrate evaluations" in capsys.readouterr().err  # the progress bar


def test_check_reruns_the_recorded_fit_and_catches_a_hand_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stackgame.calibration.output import parse_header

    out = tmp_path / "fitted.toml"
    assert main(["calibrate", "--out", str(out), *SHORT]) == 0
    text = out.read_text()
    recorded = parse_header(text)
    assert recorded is not None
    assert recorded["seeds"] == [0, 1] and recorded["max_evals"] == 5
    assert [p["path"] for p in recorded["parameters"]][:2] == [
        "demand.market_size",
        "demand.growth",
    ]
    capsys.readouterr()
    # the file is the fit's output: re-running the fit from its starting values lands on it
    assert main(["calibrate", "--check", "--scenario", str(out), "--no-progress"]) == 0
    assert "it reproduces" in capsys.readouterr().out
    # a value edited by hand after the fit (the header left as it was) does not reproduce
    growth = next(p for p in recorded["parameters"] if p["path"] == "demand.growth")
    line = next(x for x in text.splitlines() if x.startswith("growth = "))
    edited = line.replace(f"{growth['after']:g}", f"{growth['after'] * 1.01:.6g}", 1)
    assert edited != line
    out.write_text(text.replace(line, edited, 1))
    assert main(["calibrate", "--check", "--scenario", str(out), "--no-progress"]) == 1
    report = capsys.readouterr().out
    assert "does not reproduce" in report
    assert next(x for x in report.splitlines() if x.startswith("demand.growth")).endswith("NO")
    # a scenario written by hand has nothing to re-run: one line, exit 2
    line = _fails(capsys, ["calibrate", "--check", "--scenario", "monopoly-chain"])
    assert "was not written by stackgame calibrate" in line


@pytest.mark.slow
def test_the_shipped_fitted_scenario_is_the_output_of_its_recorded_fit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The built-in ``ai-stack-2026`` is what ``stackgame calibrate`` writes, reproducibly.

    The check re-runs the whole recorded fit (its seeds, budget, method and starting
    values: about a minute) and fails if any fitted value differs from the file: a value
    edited by hand, or a change to the model that moves the fit (then re-run the command
    in the file's header and say why in the commit).
    """
    argv = ["calibrate", "--check", "--no-progress"]  # the default scenario, ai-stack-2026
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "it reproduces" in out
    # the fit kept every firm of the record in business on its common seeds
    fitted = resolve("ai-stack-2026")
    table = targets.resolve(fitted)
    assert table is not None
    survival = [t for t in table.targets if t.kind == "survival"]
    measured = measure_scenario(fitted, table.model_copy(update={"targets": survival}), {}, [0, 1])
    assert measured == [1.0] * len(survival)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--starts", "0"], "--starts: must be at least 1 (got 0)"),
        (["--starts", "-1"], "--starts: must be at least 1 (got -1)"),
        (["--starts", "2", "--workers", "0"], "--workers: must be at least 1 (got 0)"),
    ],
)
def test_bad_starts_or_workers_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    line = _fails(capsys, ["calibrate", "--no-progress", "--no-files", *argv])
    assert fragment in line


def test_one_start_writes_what_the_one_start_fit_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--starts 1`` is today's fit: the same TOML, byte for byte, and the same report."""
    outputs = []
    for k, extra in enumerate(([], ["--starts", "1"])):
        out = tmp_path / f"run{k}" / "ai-stack-2026.toml"
        assert main(["calibrate", "--out", str(out), *SHORT, *extra]) == 0
        report = json.loads(out.with_suffix(".json").read_text())
        for key in ("seconds", "out", "wall_seconds"):
            report.pop(key)
        report["starts"][0].pop("seconds")
        outputs.append((out.read_text(), report))
    assert outputs[0] == outputs[1]
    header = "\n".join(x for x in outputs[0][0].splitlines() if x.startswith("# calibrate:"))
    assert "--starts" not in header  # the header of a one-start fit as it was
    assert "Starts (" not in capsys.readouterr().out


def _basins(
    scenario: object, table: object, overrides: dict[str, float], seeds: object
) -> list[float | None]:
    """Two basins in demand.intercept: 9 (3 off the target of 10) and 17 (on it)."""
    x = float(overrides["demand.intercept"])
    return [10.0 + min(3.0 + (x - 9.0) ** 2, 2.0 * (x - 17.0) ** 2), 5.0]


def test_starts_json_names_the_conflicts_and_check_reruns_the_best_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over monopoly-chain, with the measurement stubbed (tests/.../test_starts.py's two
    basins): the best of 5 starts is a Sobol one (in the basin at 17); the second target
    (always 5 against [1, 2]) is outside in every start: the one conflict."""
    from stackgame.calibration import fit as fit_module

    monkeypatch.setattr(fit_module, "measure_scenario", _basins)
    base = {
        "figure": "a figure",
        "kind": "revenue",
        "layer": "downstream",
        "unit": "$B/quarter",
        "period": "all",
        "source": "test",
        "window": "all",
    }
    table = {
        "name": "basins",
        "targets": [
            {**base, "name": "basins", "value": 10.0, "low": 9.0, "high": 11.0},
            {**base, "name": "apart", "value": 1.5, "low": 1.0, "high": 2.0},
        ],
        "parameters": [{"path": "demand.intercept", "low": 6.0, "high": 20.0}],
    }
    table_file = tmp_path / "basins.toml"
    table_file.write_text(tomli_w.dumps(table), encoding="utf-8")
    out = tmp_path / "fit" / "chain.toml"
    argv = ["calibrate", "--scenario", "monopoly-chain", "--targets", str(table_file)]
    argv += ["--max-evals", "40", "--starts", "5", "--workers", "2", "--no-progress"]
    assert main([*argv, "--out", str(out), "--json"]) == 0
    report = json.loads(
        capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}")
    )
    assert len(report["starts"]) == 5 and report["best_start"] > 0
    assert [s["point"] for s in report["starts"]] == ["scenario"] + ["sobol"] * 4
    assert [c["name"] for c in report["conflicts"]] == ["apart"]
    keys = {"figure", "outside_in", "model_min", "model_max", "low", "high"}
    assert keys <= set(report["conflicts"][0]) and report["conflicts"][0]["outside_in"] == 5
    assert report["parameters"][0]["after"] == pytest.approx(17.0, abs=0.4)
    from stackgame.calibration.output import parse_header

    recorded = parse_header(out.read_text())
    assert recorded is not None
    assert (recorded["starts"], recorded["start"]) == (5, report["best_start"])
    manifest = json.loads(out.with_suffix(".manifest.json").read_text())
    assert manifest["starts"] == 5 and manifest["best_start"] == report["best_start"]
    # --check re-runs the best start alone, from its Sobol point, and lands on the file
    assert main(["calibrate", "--check", "--scenario", str(out), "--no-progress"]) == 0
    checked = capsys.readouterr().out
    assert f"start {report['best_start']} of 5" in checked and "it reproduces" in checked
    # the text report: the starts and the conflicts
    assert main([*argv, "--no-files"]) == 0
    shown = capsys.readouterr().out
    assert "Starts (start 0: the scenario's values" in shown
    assert "Conflicts: 1 targets outside their range in all 5 starts: apart." in shown
