"""Errors that reach the command line: one line in words, exit 2, never a traceback."""

from __future__ import annotations

import errno

import pytest

from stackgame.cli import error_line, main
from stackgame.commands import scenarios
from stackgame.errors import missing_module_message


def test_an_os_error_is_said_in_words() -> None:
    err = PermissionError(errno.EACCES, "Permission denied", "runs/out/x")
    assert error_line(err) == "runs/out/x: Permission denied"
    assert error_line(FileNotFoundError("spec.toml: no such file")) == "spec.toml: no such file"


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("solara", "viz"),
        ("distributed", "dask"),
        ("dask.dataframe", "dask"),
        ("pygambit", "gambit"),
    ],
)
def test_a_missing_extra_names_its_install_line(module: str, extra: str) -> None:
    line = missing_module_message(module, "this")
    assert line.startswith(f"this needs {module.split('.')[0]} (not installed)")
    assert line.endswith(f"pip install 'stackgame[{extra}]'")


def test_a_missing_core_module_says_the_install_is_broken() -> None:
    assert "broken install" in missing_module_message("numpy")


def test_an_os_error_inside_a_command_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def denied(args: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/out/table.csv")

    monkeypatch.setattr(scenarios, "run", denied)
    assert main(["scenarios"]) == 2
    assert capsys.readouterr().err == (
        "stackgame scenarios: error: /srv/out/table.csv: Permission denied\n"
    )
