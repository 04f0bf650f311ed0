"""What ``stackgame run`` writes and prints: the text answer, tables, plots."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from stackgame.simulation.report import (
    Amount,
    has_buildout,
    has_money_flows,
    money_flows_frame,
    pct,
    render_text,
    table,
    write_plots,
    write_tables,
)
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
        ["summary.json", "layers.csv", "layers.parquet", "firms.csv", "firms.parquet", "log.csv",
         "money_flows.csv", "money_flows.parquet"]  # the clouds invest: money flows by kind
    )  # fmt: skip
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


def test_write_plots_writes_three_pngs_and_the_money_flows(result, tmp_path):
    paths = write_plots(result, tmp_path / "plots")
    assert [p.name for p in paths] == [
        "value_share_by_layer.png",
        "margins_by_layer.png",
        "stack_network.png",
        "money_flows_by_kind.png",
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the buildout (docs/MODEL.md 15): tables, failures, money flows ------------------------


@pytest.fixture(scope="module")
def textbook():
    return simulate("monopoly-chain", rounds=3, seed=0)


def _with(result, **changes):
    """The result with its summary changed (what the finance and contracts sections add)."""
    import copy

    summary = copy.deepcopy(result.summary)
    for key, value in changes.items():
        summary[key] = value
    return dataclasses.replace(result, summary=summary)


def test_amounts_are_numbers_with_one_decimal_right_aligned():
    lines = table(["x", "money"], [["a", Amount(1234.56)], ["b", Amount(-2.0)]]).splitlines()
    assert lines[2:] == ["a  1,234.6", "b     -2.0"]


def test_the_buildout_tables_show_each_firm_and_layer(result):
    text = render_text(result)
    assert has_buildout(result.summary) and has_money_flows(result.summary)
    firm_part = text.split("Buildout by firm")[1].split("Buildout by layer")[0]
    header = next(line for line in firm_part.splitlines() if line.startswith("firm "))
    for column in ("capex", "installed capacity", "utilisation", "debt", "cash", "backlog",
                   "failed in round"):  # fmt: skip
        assert column in header
    investor = max(result.summary["firms"], key=lambda f: f["capex"])
    row = next(line for line in firm_part.splitlines() if line.startswith(investor["label"]))
    assert f"{investor['capex']:,.1f}" in row and f"{investor['cash']:,.1f}" in row
    assert f"{investor['utilisation']:.1%}" in row
    layer_part = text.split("Buildout by layer")[1].split("Integration:")[0]
    assert "split over its layers by its revenue" in layer_part
    cloud = next(r for r in result.summary["layers"] if r["name"] == "cloud")
    line = next(x for x in layer_part.splitlines() if x.startswith("cloud "))
    assert f"{cloud['buildout']['capex']:,.1f}" in line
    assert f"investment {result.summary['investment']:,.1f}" in text


def test_a_textbook_run_keeps_its_output(textbook):
    assert not has_buildout(textbook.summary) and not has_money_flows(textbook.summary)
    text = render_text(textbook)
    assert "Buildout" not in text and "Failures" not in text and "Money flows" not in text


def test_debt_alone_shows_the_buildout_and_failures_are_listed(textbook):
    firms = [dict(f) for f in textbook.summary["firms"]]
    firms[0]["debt"] = 12.5
    firms[1]["failed"] = 2
    failures = [{"firm": firms[1]["name"], "round": 2, "reason": "cash below zero with no credit"}]
    changed = _with(textbook, firms=firms, failures=failures)
    assert has_buildout(changed.summary) and not has_money_flows(changed.summary)
    text = render_text(changed)
    part = text.split("Buildout by firm")[1].split("Buildout by layer")[0].splitlines()
    row = next(x for x in part if x.startswith(firms[0]["label"] + " "))
    assert "12.5" in row
    failed = next(x for x in part if x.startswith(firms[1]["label"] + " "))
    assert failed.rstrip().endswith(" 2")
    part = text.split("Failures:")[1].splitlines()
    assert part[1] == f"  round   2  {firms[1]['label']}: cash below zero with no credit"


def test_financing_alone_writes_the_money_flows(textbook, tmp_path):
    flows = [dict(r) for r in textbook.summary["money_flows"]]
    flows[1]["financing"] = -3.0  # a repayment
    changed = _with(textbook, money_flows=flows)
    assert has_money_flows(changed.summary)
    names = {p.name for p in write_tables(changed, tmp_path)}
    assert {"money_flows.csv", "money_flows.parquet"} <= names
    frame = pd.read_csv(tmp_path / "money_flows.csv")
    assert list(frame.columns) == [
        "round",
        "final_demand",
        "investment",
        "financing",
        "infrastructure",
    ]
    assert frame["financing"].tolist() == [0.0, -3.0, 0.0]
    assert {p.name for p in write_tables(textbook, tmp_path / "plain")} & names == names - {
        "money_flows.csv",
        "money_flows.parquet",
    }


def test_money_flows_frame_is_the_summarys_money_flows(result):
    frame = money_flows_frame(result.summary)
    assert frame["round"].tolist() == list(range(result.summary["rounds"]))
    assert frame["investment"].sum() == pytest.approx(result.summary["investment"])
    assert frame["final_demand"].sum() == pytest.approx(result.summary["final_spend"])
    assert frame.dtypes["round"] == "int64"


def test_the_layers_buildout_sums_to_the_firms(result):
    s = result.summary
    for key in ("debt", "cash", "backlog"):
        assert sum(r["buildout"][key] for r in s["layers"]) == pytest.approx(
            sum(f[key] for f in s["firms"])
        )
    assert sum(r["buildout"]["capex"] for r in s["layers"]) == pytest.approx(s["investment"])
    assert sum(r["buildout"]["installed_capacity"] for r in s["layers"]) == pytest.approx(
        sum(f["installed_capacity"] for f in s["firms"])
    )
    capex = {r["name"]: r["buildout"]["capex"] for r in s["layers"]}
    assert capex["cloud"] == pytest.approx(s["investment"]) and capex["chips"] == 0.0
