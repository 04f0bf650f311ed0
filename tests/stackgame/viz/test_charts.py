"""The page's charts as ECharts options: plain JSON-safe dicts, one per chart."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stackgame.viz import charts
from stackgame.viz.layout import FINAL_DEMAND, INVESTIGATED, FirmView, FlowView, palette


def _json_round_trip(option: dict) -> dict:
    """Options cross the wire as strict JSON: no NaN, no functions."""
    return json.loads(json.dumps(option, allow_nan=False))


def test_values_are_scaled_rounded_to_four_places_with_gaps() -> None:
    assert charts._values([0.123456, 1.0, math.nan, math.inf], 100.0) == [
        12.35, 100.0, None, None,
    ]  # fmt: skip
    assert charts._values([123456.0, -0.00012345], 1.0) == [123500.0, -0.0001234]
    assert charts._values([], 1.0) == []


def test_line_chart_has_one_line_per_series_and_a_legend() -> None:
    option = charts.line_chart(
        np.array([1, 2, 3]), {"a": [0.1, 0.2, 0.3], "b": [1, 1, np.nan]},
        title="Margins", ylabel="margin (%)", percent=True,
    )  # fmt: skip
    assert _json_round_trip(option) == option
    assert option["xAxis"]["data"] == [1, 2, 3] and option["xAxis"]["boundaryGap"] is False
    assert option["yAxis"]["axisLabel"]["formatter"] == "{value}%"
    assert option["yAxis"]["scale"] is False and option["yAxis"]["name"] == "margin (%)"
    assert option["title"]["text"] == "Margins" and option["xAxis"]["name"] == "round"
    a, b = option["series"]
    assert (a["name"], a["data"]) == ("a", [10.0, 20.0, 30.0])
    assert b["data"] == [100.0, 100.0, None]
    assert a["color"] == palette(["a", "b"])["a"] and not a["showSymbol"]
    assert option["legend"]["data"] == ["a", "b"]


def test_line_chart_dotted_twins_share_colour_and_legend() -> None:
    option = charts.line_chart(
        [0, 1], {"apps": [1.0, 2.0]}, title="t", ylabel="$", colours={"apps": "#123456"},
        dotted={"apps": [0.5, 0.25]},
    )  # fmt: skip
    solid, dotted = option["series"]
    assert solid["color"] == dotted["color"] == "#123456"
    assert dotted["lineStyle"]["type"] == "dotted" and dotted["data"] == [0.5, 0.25]
    assert option["legend"]["data"] == ["apps"]  # one entry for both lines
    # few rounds: symbols shown and the axis leaves a gap at the edges
    assert solid["showSymbol"] and option["xAxis"]["boundaryGap"] is True
    assert option["yAxis"]["axisLabel"]["formatter"] == "{value}" and option["yAxis"]["scale"]


def test_stacked_shares_are_percent_of_a_100_percent_stack() -> None:
    option = charts.stacked_share_chart(
        range(1, 4), {"chips": [0.5, 0.6, 0.7], "apps": [0.5, 0.4, 0.3]}, title="Who wins"
    )
    assert [s["data"] for s in option["series"]] == [[50.0, 60.0, 70.0], [50.0, 40.0, 30.0]]
    assert all(s["stack"] == "share" and s["stackStrategy"] == "samesign"
               for s in option["series"])  # fmt: skip
    assert (option["yAxis"]["min"], option["yAxis"]["max"]) == (0, 100)
    assert option["yAxis"]["name"] == "share of the stack's profit (%)"


def test_a_negative_share_frees_the_axis() -> None:
    option = charts.stacked_share_chart([1], {"chips": [1.2], "apps": [-0.2]}, title="t")
    assert "min" not in option["yAxis"] and "max" not in option["yAxis"]


def _firm(name, layers, profit=10.0, posture="restrain", investigated=False, marks=()):
    return FirmView(name=name, label=name.upper(), layers=tuple(layers), profit=profit,
                    posture=posture, investigated=investigated, marks=tuple(marks))  # fmt: skip


LAYERS = ["chips", "cloud", "apps"]


def _network(firms, flows, **kw):
    colours = palette([f.name for f in firms])
    return charts.network_chart(LAYERS, firms, flows, colours=colours, **kw), colours


def test_network_has_a_node_per_operation_and_final_demand_on_top() -> None:
    firms = [_firm("fab", ["chips"]), _firm("cloud", ["cloud"]), _firm("app", ["apps"])]
    flows = [FlowView("fab", "cloud", "chips", 4.0), FlowView("cloud", "app", "cloud", 6.0),
             FlowView("app", "consumers", "apps", 9.0)]  # fmt: skip
    option, colours = _network(firms, flows, money="$ bn")
    assert _json_round_trip(option) == option
    assert option["yAxis"]["data"] == [*LAYERS, FINAL_DEMAND]
    graph = option["series"][-1]
    names = [n["name"] for n in graph["data"]]
    assert sorted(names) == sorted(["FAB \u00b7 chips", "CLOUD \u00b7 cloud", "APP \u00b7 apps",
                                    FINAL_DEMAND])  # fmt: skip
    demand = graph["data"][names.index(FINAL_DEMAND)]
    assert demand["value"][1] == 3 and demand["symbol"] == "rect"
    fab = graph["data"][names.index("FAB \u00b7 chips")]
    assert fab["value"][1] == 0 and fab["symbol"] == "circle"
    assert fab["itemStyle"]["color"] == colours["fab"]
    assert fab["itemStyle"]["borderType"] == "solid" and fab["itemStyle"]["borderWidth"] == 1
    assert fab["tooltip"]["formatter"] == "FAB in chips: restrain; profit so far 10.0 $ bn"
    assert fab["label"]["formatter"] == "{name|FAB}"
    assert len(graph["links"]) == 3
    # edge width grows with the money; the tooltip names both ends (consumers: final demand)
    by_tip = {link["tooltip"]["formatter"]: link["lineStyle"]["width"] for link in graph["links"]}
    assert by_tip["fab \u2192 cloud: 4.00 $ bn"] < by_tip["app \u2192 final demand: 9.00 $ bn"]
    assert len(option["series"]) == 1  # no firm spans two layers


def test_network_marks_posture_loss_investigation_and_notes() -> None:
    firms = [
        _firm("fab", ["chips"], profit=-5.0, posture="extract", investigated=True,
              marks=["integrated"]),
        _firm("app", ["apps"], posture="mixed"),
    ]  # fmt: skip
    option, _ = _network(firms, [])
    nodes = {n["name"]: n for n in option["series"][-1]["data"]}
    fab = nodes["FAB \u00b7 chips"]
    assert fab["symbol"] == "triangle" and nodes["APP \u00b7 apps"]["symbol"] == "diamond"
    assert fab["itemStyle"]["borderType"] == "dashed"  # a loss so far
    assert fab["itemStyle"]["borderColor"] == INVESTIGATED and fab["itemStyle"]["borderWidth"] == 3
    assert fab["label"]["formatter"] == "{name|FAB}\n{mark|\u2605 investigated; integrated}"


def test_an_integrated_firm_is_one_wide_line_through_its_rows() -> None:
    firms = [_firm("big", ["chips", "cloud"]), _firm("app", ["apps"])]
    flows = [FlowView("big", "big", "chips", 2.0)]  # internal supply
    option, colours = _network(firms, flows)
    span, graph = option["series"]
    assert span["type"] == "line" and span["color"] == colours["big"]
    assert [y for _, y in span["data"]] == [0, 1]
    nodes = {n["name"]: n for n in graph["data"]}
    # the name on the lowest box only; notes (none here) on the highest
    assert nodes["BIG \u00b7 chips"]["label"]["formatter"] == "{name|BIG}"
    assert nodes["BIG \u00b7 cloud"]["label"]["show"] is False
    (link,) = graph["links"]
    assert link["lineStyle"]["type"] == "dotted"  # a firm supplying itself


def test_a_firm_in_no_known_layer_is_refused() -> None:
    with pytest.raises(ValueError, match="operates in no known layer"):
        _network([_firm("lost", ["moon"])], [])
