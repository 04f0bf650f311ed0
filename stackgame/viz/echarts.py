"""An ECharts chart widget that updates in place: the option travels as JSON text.

Solara's own ``FigureEcharts`` (``solara.components.echarts``) syncs the option as a
nested object and redraws it from scratch (``setOption(option, true)``) on every change.
For a chart redrawn every round that costs, in the browser, Vue's deep observation of
every nested value of the option plus ECharts rebuilding all its components; and, in the
server, Solara's renderer walking the nested dicts and lists of the element's arguments
in search of child elements. This widget sends the option as one JSON string (nothing to
observe or walk; unchanged text is not resent) and merges it into the chart
(``setOption(option, {lazyUpdate: true})``: ECharts updates what changed, at the next
animation frame). It loads the same ECharts script as Solara's, from ``solara-assets``
(offline).
"""

from __future__ import annotations

import json
from typing import Any

import ipyvuetify
import solara
import traitlets

TEMPLATE = """
<template>
  <div ref="chart" v-bind="attributes"></div>
</template>
<script>
module.exports = {
  mounted() {
    this.loadRequire().then(() => {
      requirejs([`${this.getCdn()}/echarts@5.4.0/dist/echarts.min.js`], (echarts) => {
        this.chart = echarts.init(this.$refs.chart);
        this.draw();
        this.observer = new ResizeObserver(() => this.chart && this.chart.resize());
        this.observer.observe(this.$refs.chart);
      });
    });
  },
  beforeDestroy() {
    if (this.observer) this.observer.disconnect();
    if (this.chart) this.chart.dispose();
  },
  watch: {
    option_json() { this.draw(); },
  },
  methods: {
    draw() {
      if (this.chart) this.chart.setOption(JSON.parse(this.option_json), {lazyUpdate: true});
    },
    loadRequire() {
      if (window.requirejs) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = `${this.getCdn()}/requirejs@2.3.6/require.js`;
        script.onload = resolve;
        script.onerror = reject;
        document.head.appendChild(script);
      });
    },
    getCdn() {
      if (this.cdn) return this.cdn;
      if (window.solara) return window.solara.cdn;
      let base = document.body.dataset.baseUrl || document.baseURI;
      return (base.endsWith("/") ? base : base + "/") + "_solara/cdn";
    },
  },
};
</script>
"""


class EchartsChart(ipyvuetify.VuetifyTemplate):
    """An ECharts chart whose option is JSON text, merged into the chart on change."""

    template = traitlets.Unicode(TEMPLATE).tag(sync=True)
    option_json = traitlets.Unicode("{}").tag(sync=True)
    attributes = traitlets.Dict(default_value=None, allow_none=True).tag(sync=True)
    cdn = traitlets.Unicode(None, allow_none=True).tag(sync=True)

    @traitlets.default("cdn")
    def _cdn(self) -> str | None:
        import solara.settings

        return None if solara.settings.assets.proxy else str(solara.settings.assets.cdn)

    @property
    def option(self) -> dict[str, Any]:
        """The option, parsed (what the browser draws)."""
        return dict(json.loads(self.option_json))


@solara.component
def Chart(option: dict[str, Any], name: str, height: int = 300) -> None:
    """An ECharts chart in a box that tests and scripts can find by ``data-chart``.

    Options hold no NaN or infinity (``allow_nan=False``): the browser's JSON parser
    would refuse them.
    """
    EchartsChart.element(
        option_json=json.dumps(option, allow_nan=False, separators=(",", ":")),
        attributes={"style": f"height: {height}px; width: 100%;", "data-chart": name},
    )
