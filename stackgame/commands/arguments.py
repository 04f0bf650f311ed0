"""Flags and parsing shared by several subcommands."""

from __future__ import annotations

import argparse
import tomllib
from typing import Any

from stackgame.errors import UserError


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    """``--seed K``: the one root seed of everything the command does."""
    parser.add_argument("--seed", type=int, default=default, help=f"root seed (default {default})")


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
