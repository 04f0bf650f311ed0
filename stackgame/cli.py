"""The ``stackgame`` command line: one subcommand per front door.

Subcommand modules live in :mod:`stackgame.commands` and import their heavy libraries
(Mesa, matplotlib, Solara, pandas) only when run, so ``stackgame --help`` stays fast.
Bad input (a malformed scenario, an unknown strategy, a negative capacity, NaN) prints
one line naming what is wrong and where, and exits with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMANDS = (
    "run",
    "scenarios",
    "strategies",
    "tournament",
    "evolve",
    "equilibria",
    "theses",
    "batch",
    "report",
    "viz",
)

EPILOG = """\
examples:
  stackgame run                                   who wins the AI stack? (built-in scenario)
  stackgame run --json --seed 7 --rounds 12       the same, as JSON for scripts
  stackgame run --set events.nvidia_value_pricing.enabled=true
  stackgame scenarios --show ai-stack-2026 > my.toml && stackgame run --scenario my.toml
  stackgame strategies                            every strategy with its classifier
  stackgame tournament --game prisoners-dilemma --strategies cooperator,defector,tit_for_tat
  stackgame batch runs/smoke.toml                 a resumable experiment batch
  stackgame viz                                   the SolaraViz page on http://127.0.0.1:8765
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
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


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("stackgame")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input)."""
    from stackgame.lazy_imports import defer_optional_mesa

    defer_optional_mesa()  # Mesa's grids and experimental spaces load on first use only
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(
            f"stackgame {args.command}: interrupted; whatever was finished is saved "
            "(a batch or a long tournament resumes when run again)",
            file=sys.stderr,
        )
        return 2
    except (ValueError, FileNotFoundError) as err:
        if os.environ.get("STACKGAME_DEBUG"):
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"stackgame {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
