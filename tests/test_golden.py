"""Refactors change no result: every golden case reproduces its recorded output exactly."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.golden.cases import BATCHES, CASES, DATA, run_case

NAMES = sorted([*CASES, *BATCHES])


@pytest.mark.parametrize("name", NAMES)
def test_golden_case_reproduces_recorded_output(name: str, tmp_path: Path) -> None:
    expected = (DATA / f"{name}.json").read_text()
    actual = run_case(name, tmp_path)
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                "recorded",
                "now",
                n=1,
            )
        )
        pytest.fail(f"{name} changed:\n{diff[:4000]}")


def test_every_recorded_file_has_a_case() -> None:
    recorded = {p.stem for p in DATA.glob("*.json")}
    assert recorded == set(NAMES)
