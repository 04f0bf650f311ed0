"""``stackgame strategies``: summaries as plain text for the terminal."""

from __future__ import annotations

import json

import pytest

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
