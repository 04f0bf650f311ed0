"""User-facing errors: one line naming what is wrong and where, exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class UserError(ValueError):
    """Bad input from the user (a file, a flag, a name): the CLI prints it and exits 2."""


EXIT_USAGE = 2


def interrupted(err: BaseException) -> bool:
    """Whether Ctrl-C is what ``err`` is, or what caused it.

    Numba does not let a ``KeyboardInterrupt`` raised while a compiled kernel is entered
    through: it comes out as a ``SystemError`` ("... returned a result with an exception
    set") whose cause is the interrupt. A batch that records a failing run and goes on
    must not take that for a failed run (it did: Ctrl-C then finished the batch with one
    run recorded as an error, exit code 0).
    """
    seen: set[int] = set()
    chain: BaseException | None = err
    while chain is not None and id(chain) not in seen:
        if isinstance(chain, KeyboardInterrupt):
            return True
        seen.add(id(chain))
        chain = chain.__cause__ or chain.__context__
    return False


EXTRAS = {
    "solara": "viz",
    "solara_assets": "viz",
    "ipyvue": "viz",
    "ipyvuetify": "viz",
    "dask": "dask",
    "distributed": "dask",
    "pygambit": "gambit",
    "playwright": "test",
    "pytest": "test",
    "hypothesis": "test",
}
"""Optional modules (by top-level import name) and the extra of ``stackgame`` that brings
each; everything else the commands import is in the core (``make run`` installs it)."""


def missing_module_message(module: str, needed_for: str | None = None) -> str:
    """One line saying which module is missing and what to install to get it.

    Parameters
    ----------
    module
        The missing module's import name (the top-level part decides the extra).
    needed_for
        What needs it (a flag or a feature), said first when given.
    """
    top = module.split(".")[0]
    what = f"{needed_for} needs {top}" if needed_for else f"needs {top}"
    extra = EXTRAS.get(top)
    if extra is None:
        return (
            f"{what} (part of stackgame's core, yet not installed: a broken install?): "
            "pip install --force-reinstall stackgame"
        )
    return f"{what} (not installed): pip install 'stackgame[{extra}]'"


def require(*modules: str, needed_for: str) -> None:
    """Raise :class:`UserError` naming the extra to install unless every module imports.

    Checks with :func:`importlib.util.find_spec` (nothing is imported), so that a command
    can say what is missing before it does any work.
    """
    from importlib.util import find_spec

    for module in modules:
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise UserError(missing_module_message(module, needed_for))


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
