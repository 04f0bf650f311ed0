"""Shared flags: ``--out`` checked before any work, and argparse errors in one line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from stackgame.cli import build_parser, main
from stackgame.commands.arguments import (
    add_scenario,
    add_seed,
    check_output_folder,
    parse_pairs,
    parse_value,
)
from stackgame.errors import UserError

ROOT = Path(__file__).resolve().parents[3]
CHAIN = ["--scenario", "monopoly-chain"]

# -- check_output_folder ------------------------------------------------------------------


def test_a_new_folder_is_accepted_and_not_left_behind(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    check_output_folder(target)
    assert not (tmp_path / "a").exists()
    check_output_folder(tmp_path)  # an existing, writable folder
    assert list(tmp_path.iterdir()) == []


def test_the_default_root_is_checked_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    check_output_folder(None)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(UserError, match=r"default output folder runs/out: runs is a file"):
        check_output_folder(None)


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("file", r"--out .*file: is a file, not a folder"),
        ("file/sub/deeper", r"--out .*deeper: .*file is a file, so no folder can be made"),
    ],
)
def test_a_file_in_the_way_is_named(tmp_path: Path, relative: str, message: str) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match=message):
        check_output_folder(tmp_path / relative)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
def test_a_folder_that_cannot_be_created_is_said_in_words() -> None:
    with pytest.raises(UserError) as err:
        check_output_folder("/proc/nope")
    assert str(err.value) == (
        "--out /proc/nope: cannot create a folder there (No such file or directory)"
    )


# -- every command that writes checks --out first ------------------------------------------

WORK = {
    "run": ["stackgame.simulation.simulate.build"],
    "batch": ["stackgame.experiments.batch.load_spec", "stackgame.experiments.batch.run_batch"],
    "tournament": ["stackgame.tournaments.tournament.Tournament"],
    "equilibria": ["stackgame.equilibria.empirical.analyse"],
    "theses": ["stackgame.experiments.theses.run_theses"],
    "report": ["stackgame.experiments.batch_report.make_report"],
    "evolve": ["stackgame.commands.evolve._payoffs"],
}


def _argv(command: str, tmp_path: Path) -> list[str]:
    return {
        "run": ["run", *CHAIN, "--rounds", "2"],
        "batch": ["batch", str(ROOT / "runs" / "smoke.toml")],
        "tournament": ["tournament", "--strategies", "cooperator,defector"],
        "equilibria": ["equilibria", *CHAIN, "--seats", "upstream_monopolist"],
        "theses": ["theses", "--seeds", "1"],
        "report": ["report", str(tmp_path)],
        "evolve": ["evolve", "--strategies", "cooperator,defector"],
    }[command]


@pytest.mark.parametrize("command", sorted(WORK))
@pytest.mark.parametrize("where", ["file", "file/sub", "/proc/nope"])
def test_out_that_cannot_be_a_folder_stops_the_command_before_any_work(
    command: str,
    where: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if where.startswith("/proc") and not Path("/proc/self").exists():
        pytest.skip("needs Linux's /proc")
    for target in WORK[command]:

        def work_started(*args: object, _target: str = target, **kwargs: object) -> None:
            raise AssertionError(f"{_target} ran before --out was checked")

        monkeypatch.setattr(target, work_started)
    (tmp_path / "file").write_text("x")
    out = where if where.startswith("/") else str(tmp_path / where)
    assert main([*_argv(command, tmp_path), "--out", out]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # `run` used to print its whole report first
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"stackgame {command}: error: --out {out}: ")
    assert "Errno" not in lines[0]


# -- argparse errors: one line, exit 2, for every flag of every command --------------------


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def _bad_values() -> list[tuple[str, str, str]]:
    """(command, flag, a bad value) for every flag that parses a number or a choice."""
    cases = []
    for name, sub in sorted(_subparsers().items()):
        for action in sub._actions:
            flag = next((o for o in action.option_strings if o.startswith("--")), None)
            if flag is None:
                continue
            if action.choices:
                cases.append((name, flag, "zzzz"))
            elif action.type in (int, float):
                cases.append((name, flag, "abc"))
    return cases


BAD_VALUES = _bad_values()


def test_the_flag_list_covers_the_reported_cases() -> None:
    assert ("run", "--seed", "abc") in BAD_VALUES
    assert ("evolve", "--dynamics", "zzzz") in BAD_VALUES
    assert len({c for c, _, _ in BAD_VALUES}) >= 8


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "usage:" not in captured.err
    return lines[0]


@pytest.mark.parametrize(("command", "flag", "value"), BAD_VALUES)
def test_a_bad_flag_value_is_one_line(
    command: str, flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _one_line_exit_2([command, flag, value], capsys)
    assert line.startswith(f"stackgame {command}: error: argument {flag}")
    assert ": invalid " in line
    assert line.endswith(f"(see stackgame {command} --help)")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
        (["evolve", "--dynamics", "morna"], "did you mean 'moran'?"),
        (["rnu"], "did you mean 'run'?"),
        (["run", "--sed", "3"], "unrecognized arguments: --sed 3; did you mean --seed?"),
        (["strategies", "--seed", "3"], "draws no random numbers"),
        (["scenarios", "--seed", "3"], "draws no random numbers"),
    ],
)
def test_usage_errors_are_one_line_with_a_suggestion(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert expected in _one_line_exit_2(argv, capsys)


def test_equilibria_without_seats_or_spec_asks_for_seats(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # --seats is optional since --spec may give the seats: a missing one is a UserError
    assert main(["equilibria"]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line
    assert line.startswith("stackgame equilibria: error: --seats: name the seats")


def test_a_misspelt_scenario_field_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--set", "regulator.stanse=0.5", "--no-files"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("stackgame run: error: regulator.stanse: no field 'stanse' there")
    assert line.endswith("did you mean 'stance'?")
    assert main(["run", "--set", "firms.nvidai.cash=1", "--no-files"]) == 2
    assert capsys.readouterr().err.strip().endswith("did you mean 'nvidia'?")


def test_seed_and_scenario_flags_and_their_defaults():
    parser = argparse.ArgumentParser()
    add_seed(parser, default=7)
    add_scenario(parser)
    args = parser.parse_args([])
    assert args.seed == 7 and args.scenario == "ai-stack-2026"
    assert args.set == [] and args.strategy == []
    args = parser.parse_args(
        ["--seed", "3", "--set", "a.b=1", "--set", "c=x", "--strategy", "nvidia=defector"]
    )
    assert args.seed == 3 and args.set == ["a.b=1", "c=x"]
    assert args.strategy == ["nvidia=defector"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("0.25", 0.25),
        ("true", True),
        ('"quoted"', "quoted"),
        ("[1, 2]", [1, 2]),
        ("bare_word", "bare_word"),
        ("nan", float("nan")),
    ],
)
def test_parse_value_reads_toml_literals_else_the_text(text, value):
    got = parse_value(text)
    if isinstance(value, float) and value != value:
        assert got != got
    else:
        assert got == value and type(got) is type(value)


def test_parse_pairs():
    assert parse_pairs(["a.b=1", " c = x ", "d=true"], "--set") == {
        "a.b": 1,
        "c": "x",
        "d": True,
    }
    assert parse_pairs([], "--set") == {}
    assert parse_pairs(["k=a=b"], "--set") == {"k": "a=b"}


@pytest.mark.parametrize("item", ["novalue", "=1", " =x"])
def test_parse_pairs_names_the_flag_and_the_item(item):
    with pytest.raises(UserError) as err:
        parse_pairs([item], "--strategy")
    assert str(err.value) == f"--strategy {item!r}: expected KEY=VALUE"
