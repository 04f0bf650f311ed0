"""What ``stackgame run`` writes and prints: the text answer, tables, plots."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from stackgame.simulation.report import pct, render_text, table, write_plots, write_tables
from stackgame.simulation.simulate import simulate


@pytest.fixture(scope="module")
def result():
    return simulate("ai-stack-2026", rounds=4, seed=2)


def test_table_aligns_numbers_right_and_text_left():
    text = table(["firm", "share", "n", "flag"], [["a", 0.5, 3, True], ["bb", None, 12, False]])
    lines = text.splitlines()
    assert lines[0] == "firm  share   n  flag"
    assert lines[1] == "----  -----  --  ----"
    assert lines[2] == "a     50.0%   3   yes"  # booleans count as numbers: right-aligned
    assert lines[3] == "bb        -  12    no"


def test_table_title_comes_first():
    assert table(["x"], [[1]], title="T").splitlines()[0] == "T"


def test_pct():
    assert pct(0.1234) == "12.3%"
    assert pct(-0.5) == "-50.0%"


def test_render_text_answers_the_question_for_every_layer(result):
    text = render_text(result)
    s = result.summary
    first = text.splitlines()[0]
    assert first.startswith("Who wins?")
    assert f"scenario {s['scenario']}, {s['rounds']} rounds, seed 2" in first
    for layer in result.layer_names:
        assert layer in text
    assert render_text(result) == text


def test_write_tables_writes_the_summary_tables_and_log(result, tmp_path):
    paths = write_tables(result, tmp_path)
    names = sorted(p.name for p in paths)
    assert names == sorted(
        ["summary.json", "layers.csv", "layers.parquet", "firms.csv", "firms.parquet", "log.csv"]
    )
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(
        json.dumps(result.summary)
    )
    layers = pd.read_csv(tmp_path / "layers.csv")
    pd.testing.assert_frame_equal(
        layers, pd.read_parquet(tmp_path / "layers.parquet"), check_dtype=False
    )
    assert len(layers) == 4 * len(result.layer_names)
    log = (tmp_path / "log.csv").read_text().splitlines()
    assert log[0] == "round,kind,firm,text"
    assert len(log) == 1 + len(result.log)


def test_write_plots_writes_three_pngs(result, tmp_path):
    paths = write_plots(result, tmp_path / "plots")
    assert [p.name for p in paths] == [
        "value_share_by_layer.png",
        "margins_by_layer.png",
        "stack_network.png",
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
