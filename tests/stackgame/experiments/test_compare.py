"""``compare``: a what-if beside its baseline on common seeds, paired differences."""

from __future__ import annotations

import math

import pytest

from stackgame.experiments.compare import Arm, compare, paired, render, seeds_of

CHAIN = "monopoly-chain"
RESTRAIN_UPSTREAM = {"upstream_monopolist": "always_restrain"}


def test_paired_difference_by_hand() -> None:
    # d = [1, 2, 0]: mean 1, sd 1, t(0.975, 2) = 4.302653
    out = paired([1.0, 2.0, 3.0], [2.0, 4.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)
    assert out["baseline"] == pytest.approx(2.0)
    assert out["whatif"] == pytest.approx(3.0)
    assert out["change"] == pytest.approx(1.0)
    assert out["ci"] == pytest.approx([1 - half, 1 + half])
    assert out["significant"] is False
    assert paired([1.0], [2.0])["ci"] is None
    same = paired([1.0, 5.0], [2.0, 6.0])
    assert same["ci"] == pytest.approx([1.0, 1.0]) and same["significant"] is True


def test_common_seeds_are_consecutive() -> None:
    assert seeds_of(5, 3) == [5, 6, 7]


def test_a_what_if_that_changes_nothing_changes_nothing() -> None:
    report = compare(Arm(CHAIN), Arm(CHAIN), seeds=3, rounds=4)
    for level in ("layers", "firms"):
        for row in report[level]:
            for metric in ("value_share", "revenue", "operating_margin"):
                assert row[metric]["change"] == 0.0
                assert row[metric]["ci"] == [0.0, 0.0]
                assert row[metric]["significant"] is False
    assert report["totals"]["final_spend"]["change"] == 0.0


def test_an_upstream_monopolist_that_restrains_gives_up_share() -> None:
    """Double marginalisation: a restraining upstream firm leaves the margin downstream."""
    report = compare(Arm(CHAIN), Arm(CHAIN, strategies=RESTRAIN_UPSTREAM), seeds=3, rounds=6)
    layers = {r["name"]: r for r in report["layers"]}
    assert layers["upstream"]["value_share"]["change"] < 0
    assert layers["downstream"]["value_share"]["change"] > 0
    assert layers["upstream"]["operating_margin"]["change"] < 0
    # a lower input price sells more at the top: final spend moves, and shares still sum to 1
    moves = sum(r["value_share"]["change"] for r in report["layers"])
    assert moves == pytest.approx(0.0, abs=1e-9)
    assert "upstream_monopolist plays always_restrain" in render(report)


def test_bad_names_fail_before_any_run() -> None:
    with pytest.raises(ValueError, match="nobody"):
        compare(Arm(CHAIN), Arm(CHAIN, strategies={"nobody": "always_restrain"}), seeds=2)
    with pytest.raises(ValueError, match="seeds"):
        compare(Arm(CHAIN), Arm(CHAIN), seeds=0)
