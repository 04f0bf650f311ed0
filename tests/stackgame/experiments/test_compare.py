"""``compare``: a what-if beside its baseline on common seeds, and ``stackgame compare``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from stackgame.cli import main
from stackgame.experiments.compare import Arm, compare, paired, render, seeds_of

CHAIN = "monopoly-chain"
RESTRAIN_UPSTREAM = {"upstream_monopolist": "always_restrain"}


def test_paired_difference_by_hand() -> None:
    # d = [1, 2, 0]: mean 1, sd 1, t(0.975, 2) = 4.302653
    out = paired([1.0, 2.0, 3.0], [2.0, 4.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)
    assert out["baseline"] == pytest.approx(2.0)
    assert out["whatif"] == pytest.approx(3.0)
    assert out["change"] == pytest.approx(1.0)
    assert out["ci"] == pytest.approx([1 - half, 1 + half])
    assert out["significant"] is False
    assert paired([1.0], [2.0])["ci"] is None
    same = paired([1.0, 5.0], [2.0, 6.0])
    assert same["ci"] == pytest.approx([1.0, 1.0]) and same["significant"] is True


def test_common_seeds_are_consecutive() -> None:
    assert seeds_of(5, 3) == [5, 6, 7]


def test_a_what_if_that_changes_nothing_changes_nothing() -> None:
    report = compare(Arm(CHAIN), Arm(CHAIN), seeds=3, rounds=4)
    for level in ("layers", "firms"):
        for row in report[level]:
            for metric in ("value_share", "revenue", "operating_margin"):
                assert row[metric]["change"] == 0.0
                assert row[metric]["ci"] == [0.0, 0.0]
                assert row[metric]["significant"] is False
    assert report["totals"]["final_spend"]["change"] == 0.0


def test_an_upstream_monopolist_that_restrains_gives_up_share() -> None:
    """Double marginalisation: a restraining upstream firm leaves the margin downstream."""
    report = compare(Arm(CHAIN), Arm(CHAIN, strategies=RESTRAIN_UPSTREAM), seeds=3, rounds=6)
    layers = {r["name"]: r for r in report["layers"]}
    assert layers["upstream"]["value_share"]["change"] < 0
    assert layers["downstream"]["value_share"]["change"] > 0
    assert layers["upstream"]["operating_margin"]["change"] < 0
    # a lower input price sells more at the top: final spend moves, and shares still sum to 1
    moves = sum(r["value_share"]["change"] for r in report["layers"])
    assert moves == pytest.approx(0.0, abs=1e-9)
    assert "upstream_monopolist plays always_restrain" in render(report)


def test_bad_names_fail_before_any_run() -> None:
    with pytest.raises(ValueError, match="nobody"):
        compare(Arm(CHAIN), Arm(CHAIN, strategies={"nobody": "always_restrain"}), seeds=2)
    with pytest.raises(ValueError, match="seeds"):
        compare(Arm(CHAIN), Arm(CHAIN), seeds=0)


# -- the command --------------------------------------------------------------------------


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
