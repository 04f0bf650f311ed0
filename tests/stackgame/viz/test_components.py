"""What the page reads from a running model, and its components rendered without a browser."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import solara
from solara.widgets import HTML
from stackgame.environment.model import LogEntry, StackModel
from stackgame.environment.scenario import from_dict, resolve

with warnings.catch_warnings():  # Mesa 3.3.1's ComponentsView trips Solara's hook check
    warnings.simplefilter("ignore", UserWarning)
    from stackgame.viz.components import (
        FINAL_DEMAND,
        EventLog,
        PageModel,
        SeriesCharts,
        StackNetwork,
        buildout_option,
        cash_option,
        concentration_option,
        firm_colours,
        firm_views,
        flow_views,
        layer_columns,
        legend_html,
        log_rows,
        margin_option,
        money_flows_option,
        network_option,
        round_notes,
        value_share_line,
        value_share_option,
        x_label,
    )
from stackgame.viz.echarts import EchartsChart
from tests.environment.tiny_scenario import firm, tiny, tiny_scenario

pytestmark = pytest.mark.filterwarnings("ignore:.*ComponentsView. .use_state. found:UserWarning")


def test_a_refused_control_is_reported_not_raised():
    m = PageModel(seed="forty-two", strategy_nvidia="always_extract")
    assert m.input_error.startswith("seed: must be an integer (got 'forty-two')")
    assert "unseeded" in m.input_error
    assert not m.seeded
    assert m.scenario.firm("nvidia").strategy == "always_extract"  # the rest is kept
    m = PageModel(seed=1, strategy_nvidia="no_such_strategy")
    assert "unknown strategy 'no_such_strategy'" in m.input_error
    assert m.seed == 1
    assert m.scenario.firm("nvidia").strategy == resolve("ai-stack-2026").firm("nvidia").strategy
    assert PageModel(seed=1).input_error is None


def test_the_page_model_is_the_stack_model_with_the_same_numbers():

    a, b = (
        PageModel(seed=3, strategy_nvidia="always_extract"),
        StackModel(seed=3, strategy_nvidia="always_extract"),
    )
    a.step(), b.step()
    assert value_share_line(a) == value_share_line(b)


def test_views_of_a_running_model():
    m = PageModel(seed=1, events__nvidia_value_pricing__enabled=True,
                  events__nvidia_value_pricing__round=1)  # fmt: skip
    assert all(v.posture == "none" for v in firm_views(m))
    assert flow_views(m) == []
    m.step()
    views = {v.name: v for v in firm_views(m)}
    assert set(views) == {f.name for f in m.firms}
    assert views["google"].layers == ("chips", "cloud", "models", "apps")
    assert {v.posture for v in views.values()} <= {"restrain", "extract", "mixed"}
    flows = flow_views(m)
    assert any(f.buyer == FINAL_DEMAND for f in flows)
    assert all(f.dollars >= 0 for f in flows)
    top = [f for f in flows if f.buyer == FINAL_DEMAND]
    spend = m.history.rounds_vector("final_spend")[-1]
    assert sum(f.dollars for f in top) == pytest.approx(spend, rel=1e-6)
    assert any("nvidia_value_pricing" in line for line in round_notes(m))
    rows = log_rows(m)
    assert rows[0][0] >= rows[-1][0]
    assert any(kind == "trigger" and "nvidia_value_pricing" in text for _, kind, _, text in rows)


def test_every_firm_has_its_own_colour_everywhere():
    m = PageModel(seed=0)
    m.step()
    colours = firm_colours(m)
    assert len(set(colours.values())) == len(m.firms) == 16
    cash = cash_option(m)
    by_label = {f.label: colours[f.name] for f in m.firms}
    assert {s["name"]: s["color"] for s in cash["series"]} == {
        s["name"]: by_label[s["name"]] for s in cash["series"]
    }
    nvidia, openai = colours["nvidia"], colours["openai"]
    assert nvidia != openai
    network = next(s for s in network_option(m)["series"] if s["type"] == "graph")
    fills = {n["name"].split(" \u00b7 ")[0]: n["itemStyle"]["color"] for n in network["data"]
             if n["name"] != FINAL_DEMAND}  # fmt: skip
    assert fills["Nvidia"] == nvidia and fills["OpenAI"] == openai


def test_axes_have_units_and_hhi_is_a_percentage():
    m = PageModel(seed=0)
    m.step(), m.step()
    options = [value_share_option(m), margin_option(m), concentration_option(m), cash_option(m)]
    for option in options:
        assert option["xAxis"]["name"] == "round (quarter)"
        assert "(" in option["yAxis"]["name"] or "%" in option["yAxis"]["name"]
        assert option["legend"]["data"]
    hhi = concentration_option(m)
    assert hhi["yAxis"]["axisLabel"]["formatter"] == "{value}%"
    assert (hhi["yAxis"]["min"], hhi["yAxis"]["max"]) == (0, 100)
    chips = next(s for s in hhi["series"] if s["name"] == "chips")
    assert chips["data"][-1] == pytest.approx(100 * m.history.layer_hhi("chips"), rel=1e-3)
    assert cash_option(m)["yAxis"]["name"] == "cash ($ bn)"


# -- hand-made cases on the tiny stack (chips: fab, fab2; cloud: cloudco; apps: appco) --------


def _tiny_model(rounds: int = 0, **changes) -> PageModel:
    m = PageModel(tiny_scenario(**changes), 0)
    for _ in range(rounds):
        m.step()
    return m


def test_before_the_first_round_nothing_is_read_as_played() -> None:
    m = _tiny_model()
    assert value_share_line(m) == "Value share so far: no round played yet"
    views = firm_views(m)
    assert [v.name for v in views] == ["fab", "fab2", "cloudco", "appco"]
    assert all(v.posture == "none" and v.profit == 0.0 for v in views)
    assert flow_views(m) == [] and log_rows(m) == [] and round_notes(m) == []


def test_firm_views_read_profit_posture_and_an_open_investigation() -> None:
    raw = tiny()
    firm(raw, "fab")["strategy"] = "always_extract"
    firm(raw, "fab2")["strategy"] = "always_restrain"
    m = PageModel(from_dict(raw, "tiny"), 0)
    m.step(), m.step()
    views = {v.name: v for v in firm_views(m)}
    assert views["fab"].posture == "extract" and views["fab2"].posture == "restrain"
    profit = m.history.firms_matrix("profit").sum(axis=0)
    assert views["cloudco"].profit == pytest.approx(profit[2])
    assert not views["fab"].investigated
    m.state.cap_until[m.state.op(0, 0)] = m.round + 1  # a regulator's cap still open
    assert {v.name: v.investigated for v in firm_views(m)}["fab"]
    m.firms[1].active = False  # an acquired firm is not drawn
    assert [v.name for v in firm_views(m)] == ["fab", "cloudco", "appco"]


def test_a_firm_extracting_in_one_layer_and_restraining_in_another_is_mixed() -> None:
    m = _tiny_model(1)
    row = m.history.op_rows[-1]
    # give cloudco a second operation in the record: one extracting, one restraining
    m.history.op_firm[-1] = np.array([0, 1, 2, 2])
    m.history.op_rows[-1] = {**row, "posture": np.array([0, 0, 1, 0])}
    assert {v.name: v.posture for v in firm_views(m)}["fab2"] == "restrain"
    assert {v.name: v.posture for v in firm_views(m)}["cloudco"] == "mixed"


def test_flows_to_final_demand_are_the_top_layers_revenue() -> None:
    m = _tiny_model(1)
    flows = flow_views(m)
    top = [f for f in flows if f.buyer == FINAL_DEMAND]
    assert [(f.seller, f.layer) for f in top] == [("appco", "apps")]
    assert top[0].dollars == pytest.approx(m.history.ops_matrix("revenue")[-1, 3])
    assert {(f.seller, f.buyer) for f in flows if f.buyer != FINAL_DEMAND} <= {
        ("fab", "cloudco"), ("fab2", "cloudco"), ("cloudco", "appco"),
    }  # fmt: skip


def test_notes_and_log_rows_of_the_current_rounds() -> None:
    m = _tiny_model(3)
    m.log.extend([
        LogEntry(0, "integration", "fab", "built cloud: 10 units"),
        LogEntry(2, "investigation", "cloudco", "price cap 0.2"),
        LogEntry(3, "event", "", "demand shock"),
        LogEntry(3, "custom", "appco", "something else"),
    ])  # fmt: skip
    # only the last round played (2) and the one about to be played (3), known kinds
    assert round_notes(m) == ["round 2: cloudco price cap 0.2", "round 3: demand shock"]
    rows = log_rows(m)
    assert rows[0] == (3, "custom", "appco", "something else")  # newest first, kind as is
    assert rows[-1] == (0, "integration", "fab", "built cloud: 10 units")
    assert log_rows(m, limit=2) == rows[:2]
    # marks: the firm's recent entries, short (before the colon), investigations aside
    m.log.append(LogEntry(3, "integration", "appco", "built models: 5 units"))
    views = {v.name: v for v in firm_views(m)}
    assert views["appco"].marks == ("something else", "built models")
    assert views["cloudco"].marks == ()


def test_value_share_line_is_largest_first_and_sums_to_one() -> None:
    m = _tiny_model(2)
    line = value_share_line(m)
    assert line.startswith("Value share so far: ")
    parts = [p.rsplit(" ", 1) for p in line.removeprefix("Value share so far: ").split(" \u00b7 ")]
    assert sorted(name for name, _ in parts) == ["apps", "chips", "cloud"]
    shares = [float(v.rstrip("%")) for _, v in parts]
    assert shares == sorted(shares, reverse=True)
    assert sum(shares) == pytest.approx(100.0, abs=0.2)


def test_layer_columns_pick_the_prefixed_series_that_exist() -> None:
    table = {"hhi.chips": np.array([1.0]), "hhi.apps": np.array([2.0]), "cash.x": np.array([])}
    assert list(layer_columns(table, "hhi", ["chips", "cloud", "apps"])) == ["chips", "apps"]


def test_x_label_names_the_scenarios_period() -> None:
    assert x_label(_tiny_model()).startswith("round")


def test_legend_html_escapes_labels_and_has_every_mark() -> None:
    text = legend_html("<money>")
    assert "&lt;money&gt;" in text and "<money>" not in text
    assert text.count('class="stackgame-legend-item"') == 8
    assert text.endswith("fill: the firm\u2019s colour</span>")


def _render(element):
    _, rc = solara.render(element, handle_error=False)
    return rc


def _texts(rc, css_class):
    return [w.widget.unsafe_innerHTML for w in rc.find(HTML)
            if w.widget.attributes.get("class") == css_class]  # fmt: skip


def test_stack_network_shows_the_round_the_error_and_the_network() -> None:
    m = _tiny_model(1)
    m.input_error = "seed: <bad>"
    rc = _render(StackNetwork(m, counter=1))
    assert _texts(rc, "stackgame-input-error") == ["seed: &lt;bad&gt;"]
    assert _texts(rc, "stackgame-round") == ["Round 1"]
    assert _texts(rc, "stackgame-value-share") == [value_share_line(m)]
    (chart,) = rc.find(EchartsChart)
    assert chart.widget.attributes["data-chart"] == "network"
    assert chart.widget.option == network_option(m)
    rc.close()


def test_series_charts_draw_six_charts_from_the_collector_and_the_history() -> None:
    m = _tiny_model(2)
    rc = _render(SeriesCharts(m, counter=2))
    options = {w.widget.attributes["data-chart"]: w.widget.option for w in rc.find(EchartsChart)}
    assert set(options) == {"value share by layer", "margins by layer",
                            "concentration by layer", "cash by firm",
                            "money flows by kind", "buildout by firm"}  # fmt: skip
    assert options["money flows by kind"] == money_flows_option(m)
    assert options["buildout by firm"] == buildout_option(m, "capex")
    assert options["cash by firm"] == cash_option(m)
    assert options["value share by layer"]["xAxis"]["data"] == [1, 2]
    rc.close()


def test_event_log_lists_rows_or_says_nothing_yet() -> None:
    m = _tiny_model()
    rc = _render(EventLog(m, counter=0))
    assert any("nothing yet" in (w.widget.unsafe_innerHTML or "") for w in rc.find(HTML))
    rc.close()
    m.log.append(LogEntry(0, "event", "", "a <shock>"))
    rc = _render(EventLog(m, counter=1))
    tables = [w.widget.unsafe_innerHTML for w in rc.find(HTML) if "<table" in (
        w.widget.unsafe_innerHTML or "")]  # fmt: skip
    assert "<td>0</td><td>event</td><td></td><td>a &lt;shock&gt;</td>" in tables[0]
    rc.close()


def test_money_flows_and_the_buildout_by_firm_of_a_building_stack() -> None:
    m = PageModel(seed=0)
    assert [x["data"] for x in money_flows_option(m)["series"]] == [[], [], [], []]
    for _ in range(3):
        m.step()
    option = money_flows_option(m)
    series = {x["name"]: x["data"] for x in option["series"]}
    assert list(series) == [
        "final demand",
        "investment",
        "financing",
        "infrastructure (outside the stack)",
    ]
    # the data center around the chips is part of the investment, bought outside the stack
    assert 0 < max(series["infrastructure (outside the stack)"]) < max(series["investment"])
    assert option["xAxis"]["data"] == [1, 2, 3] == concentration_option(m)["xAxis"]["data"]
    capex = m.history.ops_matrix("capex").sum(axis=1)
    assert series["investment"] == pytest.approx(capex, rel=1e-3) and capex.min() > 0
    assert series["final demand"] == pytest.approx(m.history.rounds_vector("final_spend"), rel=1e-3)
    assert option["yAxis"]["name"] == "$ bn per round"
    built = buildout_option(m, "capex")
    names = {x["name"] for x in built["series"]}
    assert "Microsoft" in names and "Nvidia" not in names  # only the firms that invested
    meta = next(x["data"] for x in built["series"] if x["name"] == "Meta")
    firm = next(f for f in m.summary()["firms"] if f["name"] == "meta")
    assert sum(meta) == pytest.approx(firm["capex"], rel=1e-3)
    used = buildout_option(m, "utilisation")
    assert used["yAxis"]["axisLabel"]["formatter"] == "{value}%"
    assert all(0 <= v <= 100 for x in used["series"] for v in x["data"])
    # ai-stack-2026 finances its buildout: the firms that borrowed, and only those
    debt = buildout_option(m, "debt")["series"]
    borrowed = {f["label"] for f in m.summary()["firms"] if f["debt"] > 0}
    assert {x["name"] for x in debt} <= borrowed | {
        x["name"] for x in debt if any(v > 0 for v in x["data"])
    }
    assert all(v >= 0 for x in debt for v in x["data"])
    assert buildout_option(m, "capacity")["series"]
    with pytest.raises(ValueError, match="metric: one of capex"):
        buildout_option(m, "profit")
