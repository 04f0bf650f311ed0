"""User-facing errors: one line naming what is wrong and where, exit code 2."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user (a file, a flag, a name): the CLI prints it and exits 2."""


EXIT_USAGE = 2
