"""The calibrated TOML (the source rewritten in place) and the residual table."""

from __future__ import annotations

import tomllib

import pytest

from stackgame.calibration.output import (
    HEADER_PREFIX,
    calibrated_toml,
    number_text,
    render,
    rewrite,
    set_raw,
    strip_header,
)

SOURCE = """\
# a scenario
name = "s"
rounds = 4

[demand]
market_size = 24.0      # units a quarter
growth = 0.08

[[firms]]
name = "a"
[firms.ops.chips]
capacity = 6.0  # six
unit_cost = 1.0

[[firms]]
name = "b"
[firms.ops.chips]
capacity = 3.0
"""


def test_values_change_in_place_keeping_comments_and_new_keys_join_their_table() -> None:
    changes = {
        "demand.market_size": 30.5,
        "firms.b.ops.chips.capacity": 4.25,
        "firms.b.ops.chips.unit_cost": 2.0,  # not in the text: a new line in b's table
        "rounds": 6,
    }
    notes = {"demand.market_size": "calibrated (was 24.0)"}
    text = rewrite(SOURCE, changes, notes)
    assert "market_size = 30.5      # calibrated (was 24.0); units a quarter" in text
    assert "capacity = 6.0  # six" in text  # firm a untouched
    raw = tomllib.loads(text)
    assert raw["firms"][1]["ops"]["chips"] == {"capacity": 4.25, "unit_cost": 2.0}
    assert raw["rounds"] == 6 and raw["firms"][0]["ops"]["chips"]["capacity"] == 6.0
    assert text.startswith("# a scenario\n")
    again = rewrite(
        text, {"demand.market_size": 31.0}, {"demand.market_size": "calibrated (was 30.5)"}
    )
    assert "market_size = 31.0      # calibrated (was 30.5); units a quarter" in again


def test_what_cannot_be_rewritten_in_place_is_refused_and_written_whole() -> None:
    with pytest.raises(ValueError, match="not in the text"):
        rewrite(SOURCE, {"firms.c.ops.chips.capacity": 1.0}, {})
    dotted = SOURCE.replace("growth = 0.08", "growth = [0.08]")
    with pytest.raises(ValueError, match="plain literal"):
        rewrite(dotted, {"demand.growth": 0.1}, {})
    raw = tomllib.loads(SOURCE)
    text = calibrated_toml(dotted, raw, {"demand.growth": 0.1}, {}, ["line one"])
    assert text.startswith(f"{HEADER_PREFIX} line one\n\n")
    expected = tomllib.loads(SOURCE)
    set_raw(expected, "demand.growth", 0.1)
    assert tomllib.loads(text) == expected and "# a scenario" not in text


def test_a_rerun_replaces_the_header_rather_than_stacking_one() -> None:
    first = calibrated_toml(SOURCE, tomllib.loads(SOURCE), {"rounds": 5}, {}, ["one", "two"])
    second = calibrated_toml(first, tomllib.loads(first), {"rounds": 6}, {}, ["three"])
    assert second.count(HEADER_PREFIX) == 1 and "three" in second
    assert strip_header(second) == SOURCE.replace("rounds = 4", "rounds = 6")


def test_number_text_is_toml() -> None:
    for value in (1.0, 0.09566, 1e-7, 3, True, "x"):
        assert tomllib.loads(f"v = {number_text(value)}")["v"] == value
    with pytest.raises(ValueError):
        number_text(float("nan"))
    with pytest.raises(ValueError):
        number_text([1])


def test_render_lists_parameters_and_targets_with_the_counts() -> None:
    report = {
        "scenario": "s",
        "table": "t",
        "seeds": [0, 1],
        "objective_before": 4.0,
        "objective_after": 1.0,
        "evaluations": 5,
        "runs": 10,
        "seconds": 0.5,
        "status": "finished",
        "inside_before": 0,
        "inside_after": 1,
        "parameters": [
            {"path": "demand.growth", "low": 0.02, "high": 0.25, "scale": "linear",
             "before": 0.08, "after": 0.25, "at_bound": True},
        ],
        "targets": [
            {"name": "rev", "unit": "$B/quarter", "target": 10.0, "low": 9.0, "high": 11.0,
             "model_before": 12.0, "model_after": 10.5, "residual_after": 0.5,
             "inside_before": False, "inside_after": True, "fitted": True},
            {"name": "late", "unit": "fraction", "target": 0.5, "low": 0.4, "high": 0.6,
             "model_before": None, "model_after": None, "residual_after": None,
             "inside_before": None, "inside_after": None, "fitted": False},
        ],
    }  # fmt: skip
    text = render(report)
    assert "Targets inside their range: 0 of 2 before, 1 of 2 after." in text
    assert "demand.growth" in text and "yes" in text
    assert "late (not measured)" in text and "Left out of the fit" in text
