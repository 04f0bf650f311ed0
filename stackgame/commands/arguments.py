"""Flags and parsing shared by several subcommands."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

from stackgame.errors import UserError


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    """``--seed K``: the one root seed of everything the command does."""
    parser.add_argument("--seed", type=int, default=default, help=f"root seed (default {default})")


class _NothingToSeed(argparse.Action):
    """``--seed`` on a command that draws no random numbers: one line saying so, exit 2."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.error(
            f"--seed: {parser.prog} draws no random numbers, so there is nothing to seed "
            "(every other command takes --seed)"
        )


def add_no_seed(parser: argparse.ArgumentParser) -> None:
    """The documented exception to "every command has ``--seed``": a clear refusal."""
    parser.add_argument("--seed", action=_NothingToSeed, help=argparse.SUPPRESS)


def add_scenario(parser: argparse.ArgumentParser) -> None:
    """``--scenario`` (built-in name or TOML path), ``--set`` and ``--strategy``."""
    parser.add_argument(
        "--scenario",
        default="ai-stack-2026",
        help="built-in scenario name or path to a TOML file (default ai-stack-2026)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="change a scenario field by dotted path, e.g. regulator.stance=0.9 (repeatable)",
    )
    parser.add_argument(
        "--strategy",
        action="append",
        default=[],
        metavar="FIRM=NAME",
        help="give a firm another strategy, e.g. nvidia=always_extract (repeatable)",
    )


def _rate(text: str) -> float:
    """A discount rate per round: a finite number >= 0 (argparse turns the error into exit 2)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0 (got {text})")
    return value


def add_discount_rate(parser: argparse.ArgumentParser) -> None:
    """``--discount-rate R``: the rate per round payoffs are discounted at (MODEL.md 21)."""
    parser.add_argument(
        "--discount-rate",
        type=_rate,
        default=None,
        metavar="R",
        help="score strategies by payoffs discounted at R per round, delta = 1/(1+R) "
        "(default: the scenario's discount_rate; 0 in the textbook scenarios)",
    )


DEFAULT_OUTPUT_ROOT = Path("runs") / "out"
"""Where the default output folder of every command lies (relative to the current folder)."""


def check_output_folder(out: str | Path | None, flag: str = "--out") -> None:
    """Raise :class:`UserError` unless ``out`` is, or can become, a folder we can write.

    Called by every command that writes files, before any work, so that a bad ``--out``
    costs one line and exit code 2, not a finished run and a traceback. ``None`` (the
    default folder) checks :data:`DEFAULT_OUTPUT_ROOT`. Leaves nothing behind: a folder
    created to prove it can be created is removed again; an existing one gets a probe file,
    removed at once.
    """
    import tempfile

    target = Path(out) if out is not None else DEFAULT_OUTPUT_ROOT
    label = f"{flag} {out}" if out is not None else f"the default output folder {target}"
    existing, missing = target, []
    while not existing.exists() and existing.parent != existing:
        missing.append(existing)
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        if existing == target:
            raise UserError(f"{label}: is a file, not a folder; name a folder")
        raise UserError(f"{label}: {existing} is a file, so no folder can be made under it")
    try:
        if missing:
            target.mkdir(parents=True)
            for folder in missing:  # deepest first: each is empty once its child is gone
                folder.rmdir()
        else:
            with tempfile.TemporaryFile(dir=target):
                pass
    except OSError as err:
        verb = "cannot create a folder there" if missing else "cannot write into it"
        raise UserError(f"{label}: {verb} ({err.strerror or err})") from None


def parse_value(text: str) -> Any:
    """A TOML literal (number, boolean, quoted string), else the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_pairs(items: list[str], flag: str) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}``; one clear error otherwise."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = parse_value(value.strip())
    return out
