"""Flags shared by several subcommands: seed, scenario, --set/--strategy pairs."""

from __future__ import annotations

import argparse

import pytest

from stackgame.commands.arguments import add_scenario, add_seed, parse_pairs, parse_value
from stackgame.errors import UserError


def test_seed_and_scenario_flags_and_their_defaults():
    parser = argparse.ArgumentParser()
    add_seed(parser, default=7)
    add_scenario(parser)
    args = parser.parse_args([])
    assert args.seed == 7 and args.scenario == "ai-stack-2026"
    assert args.set == [] and args.strategy == []
    args = parser.parse_args(
        ["--seed", "3", "--set", "a.b=1", "--set", "c=x", "--strategy", "nvidia=defector"]
    )
    assert args.seed == 3 and args.set == ["a.b=1", "c=x"]
    assert args.strategy == ["nvidia=defector"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("0.25", 0.25),
        ("true", True),
        ('"quoted"', "quoted"),
        ("[1, 2]", [1, 2]),
        ("bare_word", "bare_word"),
        ("nan", float("nan")),
    ],
)
def test_parse_value_reads_toml_literals_else_the_text(text, value):
    got = parse_value(text)
    if isinstance(value, float) and value != value:
        assert got != got
    else:
        assert got == value and type(got) is type(value)


def test_parse_pairs():
    assert parse_pairs(["a.b=1", " c = x ", "d=true"], "--set") == {
        "a.b": 1,
        "c": "x",
        "d": True,
    }
    assert parse_pairs([], "--set") == {}
    assert parse_pairs(["k=a=b"], "--set") == {"k": "a=b"}


@pytest.mark.parametrize("item", ["novalue", "=1", " =x"])
def test_parse_pairs_names_the_flag_and_the_item(item):
    with pytest.raises(UserError) as err:
        parse_pairs([item], "--strategy")
    assert str(err.value) == f"--strategy {item!r}: expected KEY=VALUE"
