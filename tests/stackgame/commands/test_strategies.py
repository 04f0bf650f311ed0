"""``stackgame strategies``: summaries as plain text for the terminal."""

from __future__ import annotations

import json

import pytest
from stackgame.strategies import all_strategies

from stackgame.cli import main
from stackgame.commands.strategies import plain_text


@pytest.mark.parametrize(
    ("rst", "plain"),
    [
        ("Axelrod's ``Alternator``: restrain first.", "Axelrod's Alternator: restrain first."),
        ("After `Calvano et al. (2020)`_.", "After Calvano et al. (2020)."),
        ("Uses :class:`~stackgame.strategies.base.Strategy`.", "Uses Strategy."),
        ("See :func:`the rule <stackgame.environment.regulator.rule>`.", "See the rule."),
        ("No markup at all.", "No markup at all."),
    ],
)
def test_plain_text_drops_restructuredtext_markup(rst: str, plain: str) -> None:
    assert plain_text(rst) == plain


def test_no_summary_shows_a_backtick(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategies"]) == 0
    text = capsys.readouterr().out
    assert "Axelrod's Alternator:" in text
    assert "`" not in text
    assert main(["strategies", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and not any("`" in r["summary"] for r in rows)


def test_json_lists_every_strategy_with_its_classifier(capsys):
    assert main(["strategies", "--json"]) == 0
    text = capsys.readouterr().out
    rows = json.loads(text, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert [r["name"] for r in rows] == list(all_strategies())
    for r in rows:
        cls = all_strategies()[r["name"]]
        assert r["summary"] == plain_text((cls.__doc__ or "").strip().splitlines()[0])
        assert {k: r[k] for k in cls.classifier.as_dict()} == cls.classifier.as_dict()
        assert r["family"] in {"fixed", "archetype", "reciprocal", "learner"}


def test_family_filter(capsys):
    assert main(["strategies", "--family", "learner", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["family"] == "learner" for r in rows)
    assert {r["name"] for r in rows} == {
        n for n, c in all_strategies().items() if c.classifier.family == "learner"
    }


def test_table_has_a_header_a_row_per_strategy_and_a_count(capsys):
    assert main(["strategies", "--family", "fixed"]) == 0
    lines = capsys.readouterr().out.rstrip().splitlines()
    fixed = [n for n, c in all_strategies().items() if c.classifier.family == "fixed"]
    assert lines[0].split()[:3] == ["strategy", "family", "memory"]
    assert lines[-1] == f"{len(fixed)} strategies"
    body = [line.split()[0] for line in lines[1:-2]]
    assert body == fixed


def test_unknown_family_is_one_line_and_exit_2(capsys):
    assert main(["strategies", "--family", "wizards"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["stackgame strategies: error: --family: no strategies in family 'wizards'"]


@pytest.mark.parametrize("flag", ["--json", None])
def test_output_is_deterministic(capsys, flag):
    argv = ["strategies", *([flag] if flag else [])]
    main(argv)
    first = capsys.readouterr().out
    main(argv)
    assert capsys.readouterr().out == first
