"""The ``stackgame`` command line: one subcommand per front door.

Subcommand modules live in :mod:`stackgame.commands` and import their heavy libraries
(Mesa, matplotlib, Solara, pandas) only when run, so ``stackgame --help`` stays fast.
Bad input (a malformed scenario, an unknown strategy, a negative capacity, NaN) prints
one line naming what is wrong and where, and exits with code 2.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

COMMANDS = (
    "run",
    "scenarios",
    "strategies",
    "tournament",
    "evolve",
    "equilibria",
    "theses",
    "compare",
    "calibrate",
    "batch",
    "report",
    "viz",
)

EPILOG = """\
examples:
  stackgame run                                   who wins the AI stack? (built-in scenario)
  stackgame run --json --seed 7 --rounds 12       the same, as JSON for scripts
  stackgame run --set events.nvidia_value_pricing.enabled=true
  stackgame compare --set events.nvidia_value_pricing.enabled=true   the change, with intervals
  stackgame scenarios --show ai-stack-2026 > my.toml && stackgame run --scenario my.toml
  stackgame strategies                            every strategy with its classifier
  stackgame tournament --game prisoners-dilemma --strategies cooperator,defector,tit_for_tat
  stackgame calibrate                             fit the scenario's parameters to its targets
  stackgame batch runs/smoke.toml                 a resumable experiment batch
  stackgame viz                                   the SolaraViz page on http://127.0.0.1:8765
"""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2, as all bad input is.

    argparse prints its usage block (4 to 11 lines) before a bad flag value; here the one
    line names the flag and the problem, with the closest name for a misspelt choice, and
    points at ``--help``. Subcommand parsers are of this class too (argparse makes them
    with the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE`` (one line) and exit with code 2."""
        message = " ".join(message.split()) + _closest_choice(message)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<value>[^']*)' \(choose from (?P<choices>.*)\)")


def _closest_choice(message: str) -> str:
    """``"; did you mean 'moran'?"`` for argparse's invalid-choice message, else nothing."""
    found = _INVALID_CHOICE.search(message)
    if not found:
        return ""
    choices = re.findall(r"'([^']*)'", found["choices"])
    close = difflib.get_close_matches(found["value"], choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand registered."""
    parser = Parser(
        prog="stackgame",
        description="Who wins the AI stack? An agent-based game-theory model on Mesa.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stackgame {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"stackgame.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"stackgame.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def _reject_unknown(
    parser: argparse.ArgumentParser, command: str | None, unknown: list[str]
) -> None:
    """Exit with one line naming the unknown arguments, said by the command that got them."""
    target = parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            target = action.choices[command]
    flags = [o[2:] for a in target._actions for o in a.option_strings if o.startswith("--")]
    hint = ""
    for item in unknown:
        close = difflib.get_close_matches(item.split("=")[0][2:], flags, n=1, cutoff=0.7)
        if item.startswith("--") and close:
            hint = f"; did you mean --{close[0]}?"
            break
    target.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("stackgame")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input).

    Called as the program (``argv`` ``None``: the ``stackgame`` script, ``python -m
    stackgame``), the process ends right after: the objects still alive are then moved
    out of the cyclic garbage collector's reach (:func:`gc.freeze`), so that the
    interpreter's shutdown does not walk them all (numba's types, pandas, a long run's
    history), again and again: about 0.3 s of CPU after a 2,001-round ``stackgame run``,
    0.1 s after a one-round one. Nothing is written then (every file is closed, the plot
    child has finished; stdout and stderr are flushed by the interpreter as before).
    Called with ``argv`` (tests, code), nothing changes.
    """
    try:
        return _main(argv)
    finally:
        if argv is None:
            import gc

            gc.freeze()


def _main(argv: Sequence[str] | None) -> int:
    """:func:`main`'s work."""
    from stackgame.errors import interrupted
    from stackgame.lazy_imports import defer_optional_mesa

    defer_optional_mesa()  # Mesa's grids and experimental spaces load on first use only
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    args.program = argv is None  # (the process ends with the command: see main)
    if unknown:
        _reject_unknown(parser, getattr(args, "command", None), unknown)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        try:
            return int(args.handler(args) or 0)
        except Exception as err:
            if interrupted(err):  # Ctrl-C inside a compiled kernel (numba wraps it)
                raise KeyboardInterrupt from err
            raise
    except KeyboardInterrupt:
        print(
            f"stackgame {args.command}: interrupted; whatever was finished is saved "
            "(a batch or a long tournament resumes when run again)",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:
        # the reader went away (`stackgame ... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ValueError, OSError, ModuleNotFoundError) as err:
        if os.environ.get("STACKGAME_DEBUG"):
            raise
        print(f"stackgame {args.command}: error: {error_line(err)}", file=sys.stderr)
        return 2


def error_line(err: BaseException) -> str:
    """One line in words for an error that reached the command line.

    A missing optional module names the extra that brings it; an operating-system error
    names the file and the reason (``runs/out: Permission denied``), not ``[Errno 13]``.
    """
    from stackgame.errors import missing_module_message

    if isinstance(err, ModuleNotFoundError) and err.name:
        return missing_module_message(err.name)
    if isinstance(err, OSError) and err.strerror:
        where = f"{err.filename}: " if err.filename is not None else ""
        return f"{where}{err.strerror}"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
