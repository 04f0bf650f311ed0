from __future__ import annotations

import argparse
import json

import pytest


def run_command(argv):
    from stackgame.commands import theses as command

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    command.register(sub)
    args = parser.parse_args(["theses", *argv])
    return args.handler(args)


def test_theses_command_json_is_identical_for_the_same_seed(tmp_path, capsys):
    argv = ["--seeds", "2", "--rounds", "4", "--variants", "baseline,no_integration"]
    argv += ["--no-progress", "--json"]
    assert run_command([*argv, "--out", str(tmp_path / "a")]) == 0
    first = capsys.readouterr().out
    assert run_command([*argv, "--out", str(tmp_path / "b"), "--no-plot"]) == 0
    assert capsys.readouterr().out == first
    report = json.loads(first)
    assert report["rounds"] == 4
    # The bust (moved to round 2) has a window; the generation (round 8) is past the end.
    assert report["windows"] == {"bust": 2, "generation": 8}
    codes = {r["claim"] for r in report["table"]}
    assert {"2c", "3c", "3g", "4c"} <= codes and not codes & {"3b", "4b"}
    # 4c is a within claim: evaluated in both variants run; 2c's variants did not run.
    assert all(r["seeds"] == 2 for r in report["table"] if r["claim"] == "4c")
    assert all(r["verdict"] == "n/a" for r in report["table"] if r["claim"] == "2c")
    for name in ("theses.csv", "theses.json", "theses.png", "manifest.json"):
        assert (tmp_path / "a" / name).exists()
    assert "claim" in (tmp_path / "a" / "theses.csv").read_text().splitlines()[0]


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--variants", "baseline,nope"], "--variants: unknown nope"),
        (["--seeds", "0"], "--seeds"),
        (["--processes", "0"], "--processes"),
        (["--set", "regulator.nope=1"], "regulator.nope"),
        (["--scenario", "no-such-scenario"], "unknown scenario"),
    ],
)
def test_theses_command_bad_input(argv, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        run_command([*argv, "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
