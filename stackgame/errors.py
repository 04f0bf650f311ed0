"""User-facing errors: one line naming what is wrong and where, exit code 2."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class UserError(ValueError):
    """Bad input from the user (a file, a flag, a name): the CLI prints it and exits 2."""


EXIT_USAGE = 2


def read_toml(
    path: str | Path, *, error: type[ValueError] = UserError, what: str = "file", prefix: str = ""
) -> dict[str, Any]:
    """Read and parse a TOML file, or raise ``error`` with one line naming the file.

    Parameters
    ----------
    path
        The file.
    error
        The exception class to raise (a ``ValueError`` subclass the CLI maps to exit 2).
    what
        What the file is, for the message ("spec file", "file").
    prefix
        Put before the message (a flag name such as ``"--spec: "``).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{prefix}{file}: no such {what}") from None
    except OSError as err:
        raise error(f"{prefix}{file}: cannot read ({err.strerror})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise error(f"{prefix}{file}: malformed TOML: {err}") from None
