"""``stackgame run``: bad input, determinism, JSON, files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stackgame.cli import main
from tests.environment.tiny_scenario import BAD_SCENARIOS, tiny, write_toml

QUICK = ["--rounds", "2", "--json", "--no-files"]


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI expecting exit 2; return the one stderr line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(f"stackgame {argv[0]}: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("case", "writer", "fragments"), BAD_SCENARIOS, ids=[c[0] for c in BAD_SCENARIOS]
)
def test_bad_scenario_file_exits_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    writer: Any,
    fragments: tuple[str, ...],
) -> None:
    path = writer(tmp_path)
    line = _fails(capsys, ["run", "--scenario", str(path), *QUICK])
    assert str(path) in line
    for fragment in fragments:
        assert fragment in line, (case, line)


@pytest.fixture
def ok(tmp_path: Path) -> str:
    """A valid tiny scenario file."""
    return str(write_toml(tmp_path, tiny(), "ok.toml"))


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        (["--set", "regulator.stanse=0.3"], ("regulator.stanse", "no field 'stanse'")),
        (["--set", "firms.nvidia.strategy=defector"], ("firms.nvidia.strategy", "'nvidia'")),
        (["--set", "regulator.stance"], ("--set", "expected KEY=VALUE")),
        (["--set", "regulator.stance=nan"], ("regulator.stance", "finite")),
        (["--strategy", "fab"], ("--strategy 'fab'", "expected KEY=VALUE")),
        (["--strategy", "fab=tit_for_tatt"], ("firms.fab.strategy", "did you mean tit_for_tat")),
        (["--strategy", "nvidia=tit_for_tat"], ("unknown firm 'nvidia'", "fab, fab2")),
        (["--rounds", "0"], ("--rounds", "at least 1", "got 0")),
        (["--seed", "-1"], ("seed", "non-negative", "got -1")),
    ],
    ids=["set_path", "set_firm", "set_no_value", "set_nan", "strategy_no_value",
         "strategy_unknown", "strategy_firm", "rounds_zero", "seed_negative"],
)  # fmt: skip
def test_bad_flag_exits_2_with_one_line(
    ok: str, capsys: pytest.CaptureFixture[str], flags: list[str], fragments: tuple[str, ...]
) -> None:
    line = _fails(capsys, ["run", "--scenario", ok, "--json", "--no-files", *flags])
    for fragment in fragments:
        assert fragment in line, line


def test_missing_scenario_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.toml"
    line = _fails(capsys, ["run", "--scenario", str(missing), *QUICK])
    assert f"{missing}: no such file" in line
    line = _fails(capsys, ["run", "--scenario", "no-such-builtin", *QUICK])
    assert "unknown scenario 'no-such-builtin'" in line
    line = _fails(capsys, ["scenarios", "--show", "no-such-builtin"])
    assert "ai-stack-2026" in line


RUN6 = ["run", "--scenario", "ai-stack-2026", "--rounds", "6", "--json", "--no-files"]


def test_run_twice_gives_identical_bytes_and_the_json_has_shares(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*RUN6, "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert main([*RUN6, "--seed", "3"]) == 0
    second = capsys.readouterr().out
    assert first == second
    s = json.loads(first)
    assert s["seed"] == 3 and s["rounds"] == 6
    for row in s["layers"]:
        assert {"name", "value_share", "gross_margin", "operating_margin"} <= set(row)
    for row in s["firms"]:
        assert {"name", "layers", "value_share", "gross_margin", "operating_margin"} <= set(row)
    assert sum(r["value_share"] for r in s["layers"]) == pytest.approx(1.0, abs=1e-5)
    # (interest goes to lenders outside the stack: the firms' shares leave its share out)
    paid = s["interest"] / s["stack_profit"]
    assert sum(r["value_share"] for r in s["firms"]) + paid == pytest.approx(1.0, abs=1e-5)


def test_seeds_differ_where_the_regulator_draws(capsys: pytest.CaptureFixture[str]) -> None:
    hot = []
    for pair in ("stance=1.0", "base_rate=1.0", "share_threshold=0.3", "margin_threshold=0.3"):
        hot += ["--set", f"regulator.{pair}"]
    outs = []
    for seed in ("0", "1", "2"):
        assert main([*RUN6, "--seed", seed, *hot]) == 0
        s = json.loads(capsys.readouterr().out)
        assert s["regulator"]["investigations"] > 0
        s.pop("seed")
        outs.append(json.dumps(s, sort_keys=True))
    assert len(set(outs)) > 1


@pytest.mark.parametrize("plots", [[], ["--no-plots"]])
def test_json_summary_file_is_what_json_printed_and_what_the_text_run_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plots: list[str]
) -> None:
    """``--json`` encodes the summary once: the printed text, then ``summary.json``; the
    file is the same bytes as a run without ``--json`` writes (encoded there)."""
    run = ["run", "--rounds", "3", "--seed", "5", "--seeds", "2", *plots]
    assert main([*run, "--json", "--out", str(tmp_path / "json")]) == 0
    printed = capsys.readouterr().out
    assert main([*run, "--out", str(tmp_path / "text")]) == 0
    capsys.readouterr()
    written = (tmp_path / "json" / "summary.json").read_text()
    assert written == printed  # (print's newline: the file's final newline)
    assert (tmp_path / "text" / "summary.json").read_text() == written


def test_run_writes_tables_plots_and_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", "--scenario", "ai-stack-2026", "--rounds", "3", "--seed", "5",
                 "--out", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert str(out) in text
    for name in ("summary.json", "layers.csv", "firms.csv", "manifest.json"):
        assert (out / name).is_file(), name
    assert list(out.glob("*.parquet"))
    assert list(out.glob("*.png"))
    manifest = json.loads((out / "manifest.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert {"command", "seed", "scenario_hash", "versions", "git_revision"} <= set(manifest)
    assert manifest["seed"] == 5
    assert manifest["scenario_hash"] == summary["scenario_hash"]
    assert "mesa" in manifest["versions"]
    import pandas as pd

    layers = pd.read_csv(out / "layers.csv")
    assert len(layers) == 3 * 5


def test_a_billion_rounds_are_refused_before_they_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = _fails(
        capsys,
        ["run", "--scenario", "ai-stack-2026-articles", "--rounds", "1000000000", "--no-files"],
    )
    assert "demand (market size) would pass the model's bound in round 5942" in line
    assert "growth compounding over the horizon" in line and "run at most 5941 rounds" in line


def test_a_long_run_is_estimated_and_an_expensive_one_needs_allow_long(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stackgame.environment.scenario import resolve

    from stackgame.commands import run as run_command
    from stackgame.errors import UserError

    chain = resolve("monopoly-chain")  # no growth: nothing runs away
    monkeypatch.setattr(run_command, "LONG_ROUNDS", 100)
    run_command.check_horizon(chain, 100, {}, allow_long=False)  # short: not estimated
    assert capsys.readouterr().err == ""
    run_command.check_horizon(chain, 5000, {}, allow_long=False)
    said = capsys.readouterr().err
    assert said.startswith("stackgame run: about ") and "for 5,000 rounds" in said
    monkeypatch.setattr(run_command, "LONG_SECONDS", 0)
    with pytest.raises(UserError, match="would take about .* add --allow-long"):
        run_command.check_horizon(chain, 5000, {}, allow_long=False)
    run_command.check_horizon(chain, 5000, {}, allow_long=True)
    assert "for 5,000 rounds" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(40, "40 s"), (720, "12 min"), (12600, "3.5 h"), (20 * 86400, "20 days")],
)
def test_durations_in_words(seconds: float, words: str) -> None:
    from stackgame.commands.run import _duration

    assert _duration(seconds) == words


def _scenario_with_targets(tmp_path: Path, target: dict[str, Any]) -> Path:
    import tomli_w

    (tmp_path / "targets.toml").write_text(
        tomli_w.dumps({"name": "t", "targets": [target]}), encoding="utf-8"
    )
    raw = tiny(start_quarter="2025Q1", targets="targets.toml")
    return write_toml(tmp_path, raw)


_TARGET: dict[str, Any] = {
    "name": "fab_margin",
    "figure": "fab gross margin",
    "kind": "gross_margin",
    "firm": "fab",
    "layer": "chips",
    "value": 0.2,
    "unit": "fraction",
    "period": "2025",
    "low": 0.0,
    "high": 1.0,
    "source": "a report (1 Jan 2026)",
    "window": "2025Q2",
}


def test_a_bad_target_file_exits_2_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scenario_with_targets(tmp_path, {**_TARGET, "kind": "profit"})
    line = _fails(capsys, ["run", "--scenario", str(path), *QUICK])
    assert str(tmp_path / "targets.toml") in line
    assert "targets.fab_margin.kind" in line


def test_the_json_calibration_has_every_target_with_its_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scenario_with_targets(tmp_path, _TARGET)
    assert main(["run", "--scenario", str(path), *QUICK]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    (row,) = summary["calibration"]
    for key in ("figure", "source", "kind", "target", "model", "low", "high", "inside"):
        assert key in row
    assert row["kind"] == "gross_margin" and row["window"] == "2025Q2"
    assert 0.0 <= row["model"] <= 1.0 and row["inside"] is True
    assert summary["calendar"]["first_round"] == "2025Q1"
    assert summary["calendar"]["last_round"] == "2025Q2"


def test_the_text_names_the_quarters_and_shows_every_target(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--rounds", "6", "--no-files"]) == 0
    out = capsys.readouterr().out
    assert "Round 0 is 2025Q1; round 5, the last, is 2026Q2.\nThe targets reach 2026Q2" in out
    from stackgame.environment import targets
    from stackgame.environment.scenario import resolve

    table = targets.resolve(resolve("ai-stack-2026"))
    assert table is not None
    block = out.split("Calibration: the model next to ", 1)[1].split("\n\n", 1)[0]
    for t in table.targets:
        assert t.figure in block
    assert "Nvidia operating margin about 70%" in block  # the scenario's [[calibration]]


# -- --uncertainty ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--uncertainty", "0"], "--uncertainty: must be at least 1 draw (got 0)"),
        (["--uncertainty", "-3"], "--uncertainty: must be at least 1 draw (got -3)"),
        (["--uncertainty", "2", "--workers", "0"], "--workers: must be at least 1 (got 0)"),
        (["--workers", "0"], "--workers: must be at least 1 (got 0)"),
        (["--seeds", "0"], "--seeds: must be at least 1 (got 0)"),
        (["--seeds", "-2"], "--seeds: must be at least 1 (got -2)"),
        (
            ["--uncertainty", "2", "--uncertainty-from", "bayes"],
            "--uncertainty-from: 'bayes' is not one of posterior, ranges",
        ),
        (["--uncertainty-from", "ranges"], "--uncertainty-from: needs --uncertainty N"),
    ],
    ids=[
        "zero",
        "negative",
        "workers_zero",
        "workers_alone",
        "seeds_zero",
        "seeds_negative",
        "unknown_method",
        "method_alone",
    ],
)
def test_bad_uncertainty_flag_exits_2_with_one_line(
    ok: str, capsys: pytest.CaptureFixture[str], flags: list[str], fragment: str
) -> None:
    assert fragment in _fails(capsys, ["run", "--scenario", ok, *QUICK, *flags])


def test_uncertainty_without_a_target_table_or_its_parameters_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ok: str
) -> None:
    from tests.stackgame.experiments.test_uncertainty import write_stack

    line = _fails(capsys, ["run", "--scenario", ok, *QUICK, "--uncertainty", "2"])
    assert "scenario 'tiny' names no target table" in line
    bare = write_stack(tmp_path, parameters=[])
    line = _fails(capsys, ["run", "--scenario", str(bare), *QUICK, "--uncertainty", "2"])
    assert "has no [[parameters]] to draw" in line


def test_uncertainty_adds_winner_probabilities_a_sentence_and_a_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.stackgame.experiments.test_uncertainty import write_stack

    stack = str(write_stack(tmp_path))
    argv = ["run", "--scenario", stack, "--rounds", "2", "--uncertainty", "4", "--workers", "1"]
    assert main([*argv, "--json", "--no-files"]) == 0
    summary = json.loads(capsys.readouterr().out)
    u = summary["uncertainty"]
    assert u["draws"] == 4 and 1.0 <= u["effective_draws"] <= 4.0
    for level, names in (("layer", {"chips", "cloud", "apps"}), ("firm", {"fab", "appco"})):
        p = u["winner_probability"][level]
        assert names <= set(p) and sum(p.values()) == pytest.approx(1.0)
        assert set(u["value_share_intervals"][level]) == set(p)
    assert "of plausible worlds" in summary["verdict"]
    assert main([*argv, "--json", "--no-files"]) == 0  # same seed, same bytes
    assert json.loads(capsys.readouterr().out) == summary
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Uncertainty: 4 worlds drawn" in text and "P(most value)" in text
    assert text.index("P(most value)") < text.index("Verdict:")
    assert (out / "uncertainty.png").stat().st_size > 1000
    assert len((out / "uncertainty_draws.csv").read_text().splitlines()) == 5
    assert json.loads((out / "summary.json").read_text())["uncertainty"]["draws"] == 4


def test_posterior_uncertainty_of_a_scenario_outside_its_bounds_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.stackgame.experiments.test_uncertainty import write_stack

    # the tiny stack's market size (50) outside these bounds: not a fitted point
    bounds = [{"path": "demand.market_size", "low": 60.0, "high": 100.0, "scale": "log"}]
    stack = str(write_stack(tmp_path, parameters=bounds))
    argv = ["run", "--scenario", stack, *QUICK, "--uncertainty", "2", "--workers", "1"]
    line = _fails(capsys, [*argv, "--uncertainty-from", "posterior"])
    assert "not a fitted point: demand.market_size outside" in line
    # without the flag, the ranges
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["uncertainty"]["method"] == "ranges"


def test_the_built_in_uncertainty_draws_from_the_fit_around_its_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The built-in scenario is a fit: its uncertainty is the fit's approximate posterior.

    The draws sit inside the bounds, no wider than the prior, and are weighted by the
    chance that every layer survives. The weights must not collapse onto one world:
    weighted by ``exp(-0.5 S) / q`` (the exact posterior of a model that misses its
    figures by ``S = 1920``), or over the ranges, 8 draws were worth 1.0.
    """
    argv = ["run", "--seeds", "1", "--uncertainty", "8", "--workers", "2"]
    assert main([*argv, "--json", "--no-files"]) == 0
    u = json.loads(capsys.readouterr().out)["uncertainty"]  # strict JSON: no NaN
    assert u["method"] == "posterior" and u["draws"] == 8
    assert u["effective_draws"] > 1.5
    assert u["posterior"]["exact_effective_draws"] < u["effective_draws"]
    assert u["posterior"]["evaluations"] == len(u["parameters"]) + 1 == 39
    assert len(u["posterior"]["survival_targets"]) == 5
    assert len(u["pinned_most"]) == 5 and len(u["pinned_least"]) == 5
    for p in u["parameters"]:
        x = np.array([d["values"][p["path"]] for d in u["per_draw"]])
        assert ((x >= p["low"]) & (x <= p["high"])).all()
        assert p["laplace_sd_unit"] <= 1 / np.sqrt(12) + 1e-12
    assert sum(d["weight"] for d in u["per_draw"]) == pytest.approx(1.0)


def test_without_uncertainty_nothing_is_added(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.stackgame.experiments.test_uncertainty import write_stack

    out = tmp_path / "out"
    assert main(["run", "--scenario", str(write_stack(tmp_path)), "--rounds", "2",
                 "--no-plots", "--out", str(out)]) == 0  # fmt: skip
    assert "Uncertainty" not in capsys.readouterr().out
    assert not (out / "uncertainty_draws.csv").exists()
    assert "uncertainty" not in json.loads((out / "summary.json").read_text())


# -- the verdict across seeds (robustness) ---------------------------------------------------


def test_seeds_add_robustness_and_leave_every_other_key_of_the_seed_run(
    capsys: pytest.CaptureFixture[str], ok: str
) -> None:
    assert main(["run", "--scenario", ok, *QUICK, "--seed", "3", "--seeds", "1"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(["run", "--scenario", ok, *QUICK, "--seed", "3", "--seeds", "4"]) == 0
    four = json.loads(capsys.readouterr().out)
    r1, r4 = one.pop("robustness"), four.pop("robustness")
    assert one == four  # the existing keys describe the --seed run, whatever --seeds is
    assert r4["seeds"] == [3, 4, 5, 6] and r4["n_seeds"] == 4 and r4["interval_note"] is None
    for level, key in (("layer", "layers"), ("firm", "firms")):
        names = {r["name"] for r in four[key]}
        assert set(r4["winner_frequency"][level]) == names
        assert sum(r4["winner_frequency"][level].values()) == pytest.approx(1.0)
        for iv in r4["intervals"][level].values():
            assert iv["low"] <= iv["mean"] <= iv["high"]
    assert r4["verdict"].startswith("Across 4 seeds (3-6, common random numbers")
    # one seed: the run's own shares, no interval, said in words; strict JSON nulls
    assert r1["seeds"] == [3] and r1["n_seeds"] == 1
    assert r1["interval_note"] == "one seed: no interval"
    shares = {r["name"]: r["value_share"] for r in one["firms"]}
    for name, iv in r1["intervals"]["firm"].items():
        assert iv == {"mean": pytest.approx(shares[name]), "low": None, "high": None}
    assert r1["verdict"].startswith("One seed (3), so no interval")


def test_seeds_text_has_the_table_and_the_verdict_across_seeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--scenario", "monopoly-chain", "--rounds", "3", "--no-files"]) == 0
    out = capsys.readouterr().out
    assert "Robustness: 8 seed(s), seeds 0-7 (common random numbers)" in out
    assert "Verdict on seed 0: " in out
    # the chain splits its profit evenly on every seed: no winner beyond noise
    verdict = out.split("\nVerdict: ", 1)[1]
    assert "Upstream monopolist and Downstream monopolist are within noise of each other" in (
        verdict
    )


def test_as_the_program_the_collector_is_frozen_around_the_rounds_and_the_bytes_stay(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stackgame run`` as the program freezes what is alive (``gc.freeze``) and holds
    the collector over the imports and the first two rounds; the output is the same
    bytes as from code, and the collector runs again once the command returns."""
    import gc

    from stackgame.commands import run as run_command

    assert main([*RUN6, "--seed", "3", "--seeds", "1"]) == 0
    expected = capsys.readouterr().out
    seen = []
    step = run_command._step_with_progress

    def watched(model: Any, *, freeze: bool = False) -> None:
        seen.append((freeze, gc.isenabled()))  # held from the command's start
        step(model, freeze=freeze)
        seen.append((freeze, gc.isenabled(), gc.get_freeze_count() > 0))

    monkeypatch.setattr(run_command, "_step_with_progress", watched)
    from stackgame.cli import build_parser

    args = build_parser().parse_args([*RUN6, "--seed", "3", "--seeds", "1"])
    args.program = True
    try:
        assert run_command.run(args) == 0
    finally:
        gc.unfreeze()
    assert capsys.readouterr().out == expected
    assert seen == [(True, False), (True, True, True)]
    assert gc.isenabled()
