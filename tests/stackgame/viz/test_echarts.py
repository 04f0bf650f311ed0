"""The ECharts widget: the option travels as compact, strict JSON text."""

from __future__ import annotations

import json
import math

import pytest
import solara

from stackgame.viz import echarts


def _widget(option, **kwargs):
    box, rc = solara.render(echarts.Chart(option, **kwargs), handle_error=False)
    return rc.find(echarts.EchartsChart).widget


def test_option_property_parses_the_json_text():
    chart = echarts.EchartsChart(option_json='{"series": [{"data": [1, 2]}]}')
    assert chart.option == {"series": [{"data": [1, 2]}]}
    assert echarts.EchartsChart().option == {}


def test_chart_sends_compact_json_and_a_findable_box():
    option = {"xAxis": {"type": "value"}, "series": [{"data": [[0, 1.5]]}]}
    widget = _widget(option, name="prices", height=120)
    assert widget.option_json == json.dumps(option, separators=(",", ":"))
    assert " " not in widget.option_json
    assert widget.option == option
    assert widget.attributes == {"style": "height: 120px; width: 100%;", "data-chart": "prices"}


def test_chart_default_height_is_300():
    assert _widget({}, name="x").attributes["style"].startswith("height: 300px;")


def test_chart_refuses_non_finite_numbers():
    with pytest.raises(ValueError):
        _widget({"series": [{"data": [math.nan]}]}, name="bad")


def test_template_merges_lazily_rather_than_redrawing():
    assert "setOption(JSON.parse(this.option_json), {lazyUpdate: true})" in echarts.TEMPLATE
    assert "setOption(option, true)" not in echarts.TEMPLATE
