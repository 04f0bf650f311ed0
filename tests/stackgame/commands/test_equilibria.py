from __future__ import annotations

import pytest


def run_command(argv):
    import argparse

    from stackgame.commands import equilibria

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    equilibria.register(sub)
    args = parser.parse_args(["equilibria", *argv])
    return args.handler(args)


def test_equilibria_command_writes_files_and_identical_json(tmp_path, capsys):
    argv = ["--seats", "nvidia,tsmc", "--repetitions", "2", "--rounds", "4", "--no-progress"]
    assert run_command([*argv, "--json", "--out", str(tmp_path / "a")]) == 0
    first = capsys.readouterr().out
    assert run_command([*argv, "--json", "--out", str(tmp_path / "b")]) == 0
    second = capsys.readouterr().out
    assert first == second
    import json

    report = json.loads(first)
    assert report["seats"] == ["nvidia", "tsmc"]
    assert report["profiles"]["total"] == 4
    assert report["equilibria"], "a 2x2 game always has an equilibrium"
    for name in ("equilibria.json", "payoffs.csv", "value_capture.csv", "value_capture.png"):
        assert (tmp_path / "a" / name).exists()
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["seed"] == 0
    assert run_command([*argv, "--out", str(tmp_path / "a")]) == 0
    assert "equilibrium 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--seats", "nvidia,nobody"], "unknown firm 'nobody'"),
        (["--seats", "nvidia", "--strategies", "always_restrain,nope"], "unknown strategy"),
        (
            [
                "--seats",
                "nvidia,tsmc",
                "--strategies",
                "a",
                "--strategies",
                "b",
                "--strategies",
                "c",
            ],
            "one per seat",
        ),
        (["--seats", "nvidia,tsmc", "--strategies", "amd=always_restrain"], "not one of --seats"),
        (["--seats", "nvidia", "--repetitions", "0"], "--repetitions"),
        (["--seats", "nvidia", "--processes", "0"], "--processes"),
        (["--seats", "nvidia", "--strategy", "nvidia=always_extract"], "chosen by --strategies"),
        (["--seats", "nvidia", "--set", "regulator.nope=1"], "regulator.nope"),
    ],
)
def test_equilibria_command_bad_input_is_one_clear_error(argv, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        run_command([*argv, "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
