"""The ``stackgame`` front door: subcommands, help, version, errors as one line."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from stackgame import cli


def test_every_command_is_registered_with_a_handler():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert tuple(sub.choices) == cli.COMMANDS
    for name in cli.COMMANDS:
        assert callable(sub.choices[name].get_default("handler")), name


def test_no_command_prints_help_and_succeeds(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: stackgame")
    for name in cli.COMMANDS:
        assert name in out
    assert "examples:" in out


def test_version_names_the_installed_package(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"stackgame {cli._version()}"
    assert cli._version() != "unknown"


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["no-such-command"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def _handler_raising(error: BaseException):
    def handler(args):
        raise error

    return handler


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("bad value\nsecond line"), "stackgame run: error: bad value"),
        (FileNotFoundError("x.toml: no such file"), "stackgame run: error: x.toml: no such file"),
        (ValueError(""), "stackgame run: error: ValueError"),
    ],
)
def test_errors_become_one_line_and_exit_2(monkeypatch, capsys, error, expected):
    monkeypatch.delenv("STACKGAME_DEBUG", raising=False)
    real = cli.build_parser

    def build():
        parser = real()
        parser.set_defaults(handler=_handler_raising(error))
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices["run"].set_defaults(handler=_handler_raising(error))
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [expected]


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("STACKGAME_DEBUG", "1")
    real = cli.build_parser

    def build():
        parser = real()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices["run"].set_defaults(handler=_handler_raising(ValueError("boom")))
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    with pytest.raises(ValueError, match="boom"):
        cli.main(["run"])


def _interrupt_wrapped_by_numba() -> SystemError:
    err = SystemError("CPUDispatcher(settle_kernel) returned a result with an exception set")
    err.__cause__ = KeyboardInterrupt()
    return err


@pytest.mark.parametrize("raised", [KeyboardInterrupt, _interrupt_wrapped_by_numba])
def test_ctrl_c_says_what_is_saved_and_exits_2(monkeypatch, capsys, raised):
    real = cli.build_parser

    def build():
        parser = real()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices["batch"].set_defaults(handler=_handler_raising(raised()))
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    assert cli.main(["batch", "runs/smoke.toml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stackgame batch: interrupted;") and "resumes" in err


def test_python_dash_m_runs_the_same_cli():
    done = subprocess.run(
        [sys.executable, "-m", "stackgame", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: stackgame")


def test_a_command_module_that_is_not_there_is_left_out(monkeypatch):
    import importlib

    real = importlib.import_module

    def without_viz(name, *args):
        if name == "stackgame.commands.viz":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_viz)
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "viz" not in sub.choices and "run" in sub.choices


def test_a_missing_dependency_inside_a_command_is_not_hidden(monkeypatch):
    import importlib

    real = importlib.import_module

    def broken(name, *args):
        if name == "stackgame.commands.viz":
            raise ModuleNotFoundError("No module named 'solara'", name="solara")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="solara"):
        cli.build_parser()


def test_version_of_an_uninstalled_tree_is_unknown(monkeypatch):
    from importlib import metadata

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert cli._version() == "unknown"


def test_the_program_freezes_what_is_left_before_exiting_and_code_does_not(monkeypatch, capsys):
    """As the program (no argv) the survivors leave the collector's reach; from code, not."""
    import gc

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    assert cli.main([]) == 0  # argv given: a test, a caller
    assert frozen == []
    monkeypatch.setattr(sys, "argv", ["stackgame"])
    assert cli.main() == 0  # the program: help, then the freeze
    assert frozen == [True]
    assert "usage" in capsys.readouterr().out
