"""The page's charts as ECharts options: plain dicts the browser draws.

The page used to draw five matplotlib figures on the server and send each as a PNG after
every round: about 0.9 s a round, most of it rasterising and compressing. Here the server
only builds the data (a few kilobytes of JSON); the browser draws it with ECharts, which
Solara ships (``solara.FigureEcharts``; the script is in ``solara-assets``, so the page
still renders offline). Nothing in this module imports Solara or Mesa: the functions are
pure, and take the same geometry (:mod:`stackgame.viz.layout`: columns, widths, sizes,
:func:`~stackgame.viz.layout.palette`) as the PNG files of ``stackgame run``, so a firm
has one colour and one place on the page and in the files.

Options hold no JavaScript functions (they cross the wire as JSON): percentages are sent
as numbers times 100 with a ``"{value}%"`` axis label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from stackgame.viz.layout import (
    FINAL_DEMAND,
    INVESTIGATED,
    FirmView,
    FlowView,
    _span,
    edge_widths,
    layered_positions,
    node_id,
    node_sizes,
    palette,
    stack_graph,
)

SYMBOLS = {"restrain": "circle", "extract": "triangle", "mixed": "diamond", "none": "circle"}
"""ECharts symbol of each posture (the same shapes as the PNG's markers)."""


def _values(values: ArrayLike, scale: float) -> list[float | None]:
    """Numbers for JSON: scaled, rounded to 4 significant places, NaN and inf as gaps."""
    out: list[float | None] = []
    for v in np.asarray(values, dtype=float) * scale:
        out.append(float(f"{v:.4g}") if np.isfinite(v) else None)
    return out


def _frame(
    rounds: list[int], title: str, xlabel: str, ylabel: str, percent: bool
) -> dict[str, Any]:
    """What every time series shares: the frame around the lines.

    Rounds go on a category axis (so that stacking adds up the y values, not the x), axis
    names carry their units, the legend sits on the right.
    """
    axis_text = {"fontSize": 11, "color": "#495057"}
    return {
        "animation": False,
        "title": {"text": title, "left": 4, "top": 2, "textStyle": {"fontSize": 13}},
        "grid": {"left": 64, "right": 128, "top": 36, "bottom": 44},
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll", "orient": "vertical", "right": 0, "top": 32,
                   "textStyle": {"fontSize": 11}},
        "xAxis": {"type": "category", "data": rounds, "boundaryGap": len(rounds) < 3,
                  "name": xlabel, "nameLocation": "middle", "nameGap": 26,
                  "nameTextStyle": axis_text},
        "yAxis": {"type": "value", "name": ylabel, "nameLocation": "middle", "nameGap": 48,
                  "nameTextStyle": axis_text, "scale": not percent,
                  "axisLabel": {"formatter": "{value}%" if percent else "{value}"}},
    }  # fmt: skip


def line_chart(
    rounds: ArrayLike,
    series: Mapping[str, ArrayLike],
    *,
    title: str,
    ylabel: str,
    xlabel: str = "round",
    percent: bool = False,
    colours: Mapping[str, str] | None = None,
    dotted: Mapping[str, ArrayLike] | None = None,
) -> dict[str, Any]:
    """One line per series: the ECharts twin of :func:`stackgame.viz.layout.plot_series`.

    Parameters
    ----------
    rounds
        The x values (round numbers).
    series
        Series name -> one value per round (fractions if ``percent``).
    title
        Chart title.
    ylabel, xlabel
        Axis names, with their units.
    percent
        Show fractions as percentages.
    colours
        Series name -> colour (:func:`~stackgame.viz.layout.palette` of the names if
        ``None``).
    dotted
        A second, dotted line per series name (the gross margin beside the operating
        one); it shares the series' colour and legend entry.

    Returns
    -------
    dict
        The ECharts option.
    """
    colours = colours if colours is not None else palette(series)
    x = [int(r) for r in np.asarray(rounds)]
    scale = 100.0 if percent else 1.0
    few = len(x) < 3
    option = _frame(x, title, xlabel, ylabel, percent)
    option["series"] = [
        {"name": name, "type": "line", "color": colours.get(name), "showSymbol": few,
         "symbolSize": 6, "lineStyle": {"width": 2}, "data": _values(values, scale)}
        for name, values in series.items()
    ]  # fmt: skip
    for name, values in (dotted or {}).items():
        option["series"].append(
            {"name": name, "type": "line", "color": colours.get(name), "showSymbol": few,
             "symbolSize": 6, "lineStyle": {"width": 1.5, "type": "dotted"},
             "data": _values(values, scale)}
        )  # fmt: skip
    option["legend"]["data"] = list(series)
    return option


def stacked_share_chart(
    rounds: ArrayLike,
    shares: Mapping[str, ArrayLike],
    *,
    title: str,
    ylabel: str = "share of the stack's profit (%)",
    xlabel: str = "round",
    colours: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Stacked areas of shares: the twin of :func:`~stackgame.viz.layout.plot_stacked_shares`.

    ECharts' ``stackStrategy: "samesign"`` stacks positive shares upwards and negative
    ones (a layer that has lost money so far) downwards, as the PNG does.
    """
    colours = colours if colours is not None else palette(shares)
    x = [int(r) for r in np.asarray(rounds)]
    option = _frame(x, title, xlabel, ylabel, True)
    option["series"] = [
        {"name": name, "type": "line", "stack": "share", "stackStrategy": "samesign",
         "color": colours.get(name), "showSymbol": len(x) < 3, "symbolSize": 6,
         "areaStyle": {"opacity": 0.85}, "lineStyle": {"width": 0.5},
         "data": _values(values, 100.0)}
        for name, values in shares.items()
    ]  # fmt: skip
    option["legend"]["data"] = list(shares)
    if all(v is None or v >= 0 for series in option["series"] for v in series["data"]):
        option["yAxis"].update(min=0, max=100)  # shares of a profit: the stack is 100%
    return option


def network_chart(
    layers: Sequence[str],
    firms: Sequence[FirmView],
    flows: Iterable[FlowView],
    *,
    colours: Mapping[str, str],
    money: str = "money",
) -> dict[str, Any]:
    """The stack as a layered network: the twin of :func:`~stackgame.viz.layout.draw_stack`.

    Rows are the layers (a category axis, bottom first, final demand on top); each
    firm sits in its column (:func:`~stackgame.viz.layout.layered_positions`), its fill the
    firm's colour, its shape the posture, its area the cumulative profit; a dashed outline
    marks a loss so far, a thick red one an open investigation. An integrated firm's box is
    a wide, faint, round-capped line through its rows. Edge width is the money of the flow.

    Parameters
    ----------
    layers
        Layer names, bottom first.
    firms, flows
        As for :func:`~stackgame.viz.layout.draw_stack`.
    colours
        Firm name -> colour (the palette of all the scenario's firms).
    money
        The money unit, for the tooltips.

    Returns
    -------
    dict
        The ECharts option.
    """
    graph = stack_graph(layers, firms, flows)
    pos = layered_positions(graph, layers, firms)
    width = max((x for x, _ in pos.values()), default=0.0) + 1
    rows = [*layers, FINAL_DEMAND]
    row = {name: i for i, name in enumerate(layers)}
    by_name = {f.name: f for f in firms}
    area = node_sizes(firms, smallest=12.0**2, largest=44.0**2)
    index = {node: k for k, node in enumerate(graph.nodes)}
    nodes: list[dict[str, Any]] = []
    for node, data in graph.nodes(data=True):
        x, y = pos[node]
        firm = by_name.get(data["firm"])
        if firm is None:
            nodes.append({
                "name": FINAL_DEMAND, "value": [x, y], "symbol": "rect", "symbolSize": [84, 22],
                "itemStyle": {"color": "#dee2e6"},
                "label": {"show": True, "position": "inside", "fontSize": 10},
            })  # fmt: skip
            continue
        lowest = row[data["layer"]] == _span(firm, row)[0]
        highest = row[data["layer"]] == _span(firm, row)[1]
        text = [f"{{name|{firm.label}}}"] if lowest else []
        marks = (["investigated"] if firm.investigated else []) + list(firm.marks)
        if highest and marks:
            text.append("{mark|\u2605 " + "; ".join(marks) + "}")
        nodes.append({
            "name": f"{firm.label} \u00b7 {data['layer']}",
            "value": [x, y],
            "symbol": SYMBOLS.get(firm.posture, "circle"),
            "symbolSize": float(f"{np.sqrt(area[firm.name]):.1f}"),
            "itemStyle": {
                "color": colours.get(firm.name, "#adb5bd"),
                "borderColor": INVESTIGATED if firm.investigated else "#212529",
                "borderWidth": 3 if firm.investigated else 1,
                "borderType": "dashed" if firm.profit < 0 else "solid",
            },
            "tooltip": {"formatter": f"{firm.label} in {data['layer']}: {firm.posture}; "
                                     f"profit so far {firm.profit:.1f} {money}"},
            "label": {"show": bool(text), "position": "bottom", "distance": 3,
                      "formatter": "\n".join(text),
                      "rich": {"name": {"fontSize": 10, "color": "#212529"},
                               "mark": {"fontSize": 9, "color": INVESTIGATED}}},
        })  # fmt: skip
    widths = edge_widths(graph, thinnest=0.6, thickest=9.0)
    links = [
        {"source": index[a], "target": index[b],
         "lineStyle": {"width": round(w, 2),
                       "type": "dotted" if graph.edges[a, b].get("internal") else "solid"},
         "tooltip": {"formatter": f"{graph.nodes[a]['firm']} \u2192 {graph.nodes[b]['firm']}: "
                                  f"{graph.edges[a, b]['dollars']:.2f} {money}"}}
        for (a, b), w in widths.items()
    ]  # fmt: skip
    spans = []
    for firm in firms:
        lo, hi = _span(firm, row)
        if lo != hi:
            x = pos[node_id(firm.name, layers[lo])][0]
            spans.append(
                {"type": "line", "silent": True, "symbol": "none", "z": 0,
                 "data": [[x, lo], [x, hi]], "color": colours.get(firm.name, "#adb5bd"),
                 "lineStyle": {"width": 34, "cap": "round", "opacity": 0.16}}
            )  # fmt: skip
    return {
        "animation": False,
        "tooltip": {"trigger": "item"},
        "grid": {"left": 88, "right": 16, "top": 8, "bottom": 8},
        "xAxis": {"type": "value", "min": -0.6, "max": width - 0.4, "show": False},
        "yAxis": {"type": "category", "data": rows, "boundaryGap": True,
                  "axisTick": {"show": False}, "axisLine": {"show": False},
                  "splitArea": {"show": True, "areaStyle": {"color": ["#f8f9fa", "#ffffff"]}},
                  "axisLabel": {"fontSize": 12, "color": "#212529"}},
        "series": [*spans, {
            "type": "graph", "coordinateSystem": "cartesian2d", "z": 2,
            "data": nodes, "links": links, "edgeSymbol": ["none", "arrow"],
            "edgeSymbolSize": 7, "lineStyle": {"color": "#6c757d", "opacity": 0.55},
            "emphasis": {"focus": "adjacency"},
        }],
    }  # fmt: skip
