"""User-facing errors: one line naming what is wrong and where, exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class UserError(ValueError):
    """Bad input from the user (a file, a flag, a name): the CLI prints it and exits 2."""


EXIT_USAGE = 2


def read_toml(
    path: str | Path, *, error: type[ValueError] = UserError, what: str = "file", prefix: str = ""
) -> dict[str, Any]:
    """Read and parse a TOML file, or raise ``error`` (by default :class:`UserError`).

    The reader itself belongs to the model (:func:`stackgame.environment.scenario.read_toml`,
    which scenario files use); the front doors call it through here so that their errors
    are :class:`UserError`. Parameters as there.
    """
    from stackgame.environment.scenario import read_toml as model_read_toml  # pydantic: lazy

    return model_read_toml(path, error=error, what=what, prefix=prefix)
