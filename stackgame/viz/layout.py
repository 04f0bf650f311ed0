"""The stack drawn as a layered network, and the page's time-series plots.

Pure functions over plain data: no Mesa, no Solara. A spring layout scatters a supply
chain; here each layer of the stack is one row (foundry at the bottom, applications at
the top), as in a Sugiyama layered drawing (Sugiyama, Tagawa and Toda 1981): rows are
fixed, and within a row each firm keeps its own column from round to round.

* A node is one *operation*: a firm in one layer (``"nvidia@chips"``). A vertically
  integrated firm has one node per layer, all in the same column, and is drawn as one
  box spanning its rows.
* An edge is a supply flow from a seller in one layer to a buyer one layer up; its
  width is the money flowing (dollars per round), scaled to the largest flow.
* A node's area grows with the firm's cumulative operating profit; its colour is the
  firm's own (:func:`palette`, the same in every plot), its shape this round's pricing
  posture. Investigations and events are marked on the firm.

The geometry (graph, columns, widths, sizes, colours) is computed here once for both
drawings of the stack: :func:`draw_stack` (matplotlib, the PNG files of ``stackgame
run``) and the browser page's chart (:mod:`stackgame.viz.charts`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch
from numpy.typing import ArrayLike

FINAL_DEMAND = "final demand"
"""Name of the node that stands for consumers above the top layer."""

PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#f032e6", "#000075", "#8c564b", "#94d2bd",
    "#e6194b", "#e9c46a", "#e377c2", "#2b2d42", "#4363d8", "#800000", "#dcbeff",
    "#4cc9f0", "#808000", "#7209b7", "#6a4c93", "#0a9396", "#7f7f7f",
)  # fmt: skip
"""Twenty colours, every pair at least 28 apart in CIELAB (as far apart as tab10's closest
pair), none too pale for a line on white: chosen greedily, farthest first, from tab10,
Trubetskoy's 20 distinct colours and a few darker hues. Matplotlib's tab10 has only ten
(a stack of 15 firms drew Nvidia and OpenAI in the same green) and tab20 pairs a colour
with a lighter shade of itself."""


def palette(names: Iterable[str]) -> dict[str, str]:
    """One colour per name, in the order given: the single source of colour of every plot.

    Pass *all* the names a run can show, in a fixed order (a scenario's firms in scenario
    order, its layers bottom first), not only those in view: a firm then keeps its colour
    from round to round, across the page's plots and in every PNG file. Distinct for up
    to ``len(PALETTE)`` (20) names; beyond that the colours repeat.

    Parameters
    ----------
    names
        Series names (firm names or layer names), each once.

    Returns
    -------
    dict
        Name -> hex colour.
    """
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


MONEY_FLOW_KINDS: dict[str, str] = {
    "final_demand": "final demand",
    "investment": "investment",
    "financing": "financing",
    "infrastructure": "infrastructure (outside the stack)",
}
"""The kinds of money flowing into the stack each round (the summary's ``money_flows``
keys -> their names in the plots): consumers' spending, capital goods bought, new debt
and equity less repayments, and the part of investment spent outside the stack
(buildings, power). One colour each (:func:`palette` of the names), in the
PNG of ``stackgame run`` and on the page."""


POSTURE_MARKERS: dict[str, str] = {"restrain": "o", "extract": "^", "mixed": "D", "none": "o"}
"""Node shape by this round's headline posture (the node's colour is the firm's)."""

INVESTIGATED = "#c1121f"
"""Outline of a firm the regulator is investigating, and the colour of the notes."""


@dataclass(frozen=True)
class FirmView:
    """What the drawing needs to know about one firm this round.

    Attributes
    ----------
    name
        Firm name (unique).
    label
        Text drawn on the node.
    layers
        Layers the firm operates in, including integrated ones.
    profit
        Cumulative operating profit (dollars): sets the node's area.
    posture
        Headline posture this round: ``"restrain"``, ``"extract"``, ``"mixed"`` or
        ``"none"`` (no decision yet).
    investigated
        Whether the regulator has an investigation open on the firm.
    marks
        Short notes drawn beside the firm (this round's integrations, triggers, events).
    """

    name: str
    label: str
    layers: tuple[str, ...]
    profit: float = 0.0
    posture: str = "none"
    investigated: bool = False
    marks: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class FlowView:
    """One supply flow of this round: ``seller`` in ``layer`` sells to ``buyer``.

    Attributes
    ----------
    seller, buyer
        Firm names; a buyer that is not a firm is final demand.
    layer
        The layer the seller sells in.
    dollars
        Money paid by the buyer to the seller this round.
    """

    seller: str
    buyer: str
    layer: str
    dollars: float


def node_id(firm: str, layer: str) -> str:
    """Graph node of ``firm``'s operation in ``layer``."""
    return f"{firm}@{layer}"


def _span(firm: FirmView, row: Mapping[str, int]) -> tuple[int, int]:
    rows = [row[layer] for layer in firm.layers if layer in row]
    if not rows:
        raise ValueError(f"firm {firm.name!r} operates in no known layer: {firm.layers}")
    return min(rows), max(rows)


def stack_graph(
    layers: Sequence[str], firms: Sequence[FirmView], flows: Iterable[FlowView]
) -> nx.DiGraph:
    """Build the stack as a directed graph of operations, edges from seller to buyer.

    Parameters
    ----------
    layers
        Layer names, bottom of the stack first.
    firms
        The firms; each gets one node per layer it operates in.
    flows
        This round's supply flows. Flows between the same two operations are summed;
        flows with a non-positive amount are dropped; a buyer that is not a firm is the
        ``FINAL_DEMAND`` node above the top row.

    Returns
    -------
    networkx.DiGraph
        Nodes carry ``firm``, ``layer`` and ``row``; edges carry ``dollars`` and
        ``internal`` (an integrated firm supplying itself, drawn dotted).
    """
    row = {name: i for i, name in enumerate(layers)}
    by_name = {f.name: f for f in firms}
    if len(by_name) != len(firms):
        raise ValueError("firm names must be unique")
    graph = nx.DiGraph()
    for firm in firms:
        _span(firm, row)
        for layer in firm.layers:
            if layer in row:
                graph.add_node(
                    node_id(firm.name, layer), firm=firm.name, layer=layer, row=row[layer]
                )
    for flow in flows:
        if not flow.dollars > 0 or flow.layer not in row:
            continue
        source = node_id(flow.seller, flow.layer)
        if source not in graph:
            continue
        target = _buyer_node(graph, by_name.get(flow.buyer), row[flow.layer], row, len(layers))
        if target == source:
            continue
        previous = graph.edges[source, target]["dollars"] if graph.has_edge(source, target) else 0
        internal = flow.seller == flow.buyer
        graph.add_edge(source, target, dollars=previous + float(flow.dollars), internal=internal)
    return graph


def _buyer_node(
    graph: nx.DiGraph, buyer: FirmView | None, seller_row: int, row: Mapping[str, int], top: int
) -> str:
    if buyer is None:
        if FINAL_DEMAND not in graph:
            graph.add_node(FINAL_DEMAND, firm=FINAL_DEMAND, layer=FINAL_DEMAND, row=top)
        return FINAL_DEMAND
    rows = sorted((row[layer], layer) for layer in buyer.layers if layer in row)
    above = [layer for r, layer in rows if r > seller_row]
    layer = above[0] if above else rows[-1][1]
    return node_id(buyer.name, layer)


def layered_positions(
    graph: nx.DiGraph, layers: Sequence[str], firms: Sequence[FirmView]
) -> dict[str, tuple[float, float]]:
    """Positions of the operations: one row per layer, each firm in a column of its own.

    The drawing has ``C`` integer columns, ``C`` being the most firms any row holds
    (an integrated firm counts in every row from its lowest to its highest layer).
    Integrated firms are anchors: each takes one column, spread evenly, in all the rows
    it spans. The other firms of each row take the free columns in scenario order, each
    as near its evenly spread place as the order allows (a small dynamic programme).

    The columns depend only on who operates where, never on this round's money: a firm
    keeps its place while the structure stands (an integration or an exit moves it), so
    a reader can follow it from round to round. An earlier version ordered each row by
    the barycentre of this round's flows (Sugiyama et al. 1981), which cut crossings but
    moved firms about within their layer whenever the flows shifted.

    Parameters
    ----------
    graph
        The graph from :func:`stack_graph` (its nodes are placed; its edges are not read).
    layers
        Layer names, bottom first (row ``i`` is drawn at ``y = i``).
    firms
        The firms, in scenario order.

    Returns
    -------
    dict
        Node -> ``(x, y)`` with ``x`` in ``0 .. C - 1``; final demand sits above the top
        row, in the middle.
    """
    column = firm_columns(layers, firms)
    columns = max(column.values(), default=0.0) + 1
    positions = {}
    for node, data in graph.nodes(data=True):
        if node == FINAL_DEMAND:
            positions[node] = ((columns - 1) / 2, float(len(layers)))
        else:
            positions[node] = (column[data["firm"]], float(data["row"]))
    return positions


def firm_columns(layers: Sequence[str], firms: Sequence[FirmView]) -> dict[str, float]:
    """The column of each firm (see :func:`layered_positions`): structure only."""
    row = {name: i for i, name in enumerate(layers)}
    spans = {f.name: _span(f, row) for f in firms}
    anchors = sorted(
        (f.name for f in firms if spans[f.name][0] != spans[f.name][1]),
        key=lambda n: (spans[n], n),
    )
    singles: dict[int, list[str]] = {i: [] for i in range(len(layers))}
    for f in firms:
        if spans[f.name][0] == spans[f.name][1]:
            singles[spans[f.name][0]].append(f.name)

    def spanning(i: int) -> list[str]:
        return [a for a in anchors if spans[a][0] <= i <= spans[a][1]]

    columns = max([len(singles[i]) + len(spanning(i)) for i in range(len(layers))] + [1])
    column: dict[str, float] = {
        a: float(round((k + 0.5) * columns / len(anchors) - 0.5)) for k, a in enumerate(anchors)
    }
    column.update(_spread_anchors(anchors, spans, columns, column))
    for i in range(len(layers)):
        names = singles[i]
        if not names:
            continue
        even = [(k + 0.5) * columns / len(names) - 0.5 for k in range(len(names))]
        taken = {column[a] for a in spanning(i)}
        free = [float(c) for c in range(columns) if float(c) not in taken]
        column.update(zip(names, _assign(free, even), strict=True))
    return column


def _spread_anchors(
    anchors: list[str],
    spans: Mapping[str, tuple[int, int]],
    columns: int,
    column: Mapping[str, float],
) -> dict[str, float]:
    """Give anchors whose spans overlap distinct columns (first free column to the right)."""
    placed: dict[str, float] = {}
    for a in anchors:
        c = int(column[a])
        clash = {
            int(placed[b])
            for b in placed
            if spans[b][0] <= spans[a][1] and spans[a][0] <= spans[b][1]
        }
        for step in range(columns):
            for candidate in (c + step, c - step):
                if 0 <= candidate < columns and candidate not in clash:
                    c = candidate
                    break
            else:
                continue
            break
        placed[a] = float(c)
    return placed


def _assign(free: list[float], wants: list[float]) -> list[float]:
    """Choose ``len(wants)`` of the sorted ``free`` columns, in order, nearest the wants.

    Minimises the total distance ``sum |column_k - want_k|`` over order-preserving
    choices by dynamic programming over (firm, column).
    """
    n, m = len(wants), len(free)
    if n > m:
        raise ValueError("more firms than free columns in a row")
    inf = float("inf")
    cost = np.full((n + 1, m + 1), inf)
    cost[0, :] = 0.0
    for k in range(1, n + 1):
        for j in range(k, m + 1):
            take = cost[k - 1, j - 1] + abs(free[j - 1] - wants[k - 1])
            cost[k, j] = min(cost[k, j - 1], take)
    chosen, j = [], m
    for k in range(n, 0, -1):
        while cost[k, j] == cost[k, j - 1] and j > k:
            j -= 1
        chosen.append(free[j - 1])
        j -= 1
    return chosen[::-1]


def edge_widths(
    graph: nx.DiGraph, *, thinnest: float = 0.6, thickest: float = 9.0
) -> dict[tuple[str, str], float]:
    """Line width of each edge, linear in its dollars, the largest flow ``thickest``."""
    dollars = {(a, b): float(d) for a, b, d in graph.edges(data="dollars")}
    top = max(dollars.values(), default=0.0)
    if top <= 0:
        return dict.fromkeys(dollars, thinnest)
    return {(a, b): thinnest + (thickest - thinnest) * d / top for (a, b), d in dollars.items()}


def node_sizes(
    firms: Sequence[FirmView], *, smallest: float = 120.0, largest: float = 1600.0
) -> dict[str, float]:
    """Marker area (points squared) of each firm: linear in positive cumulative profit.

    A firm with a loss gets the smallest marker (its loss is shown by a dashed outline).
    """
    top = max((f.profit for f in firms), default=0.0)
    sizes = {}
    for f in firms:
        share = max(f.profit, 0.0) / top if top > 0 else 0.0
        sizes[f.name] = smallest + (largest - smallest) * share
    return sizes


def draw_stack(
    layers: Sequence[str],
    firms: Sequence[FirmView],
    flows: Iterable[FlowView],
    *,
    title: str = "",
    notes: Sequence[str] = (),
    figure: Figure | None = None,
    colours: Mapping[str, str] | None = None,
    money: str = "money",
) -> Figure:
    """Draw the stack as a layered network into a matplotlib ``Figure``.

    Parameters
    ----------
    layers
        Layer names, bottom first.
    firms
        The firms (see :class:`FirmView`).
    flows
        This round's supply flows (see :class:`FlowView`).
    title
        Figure title (for example ``"Round 3"``).
    notes
        Lines printed under the drawing (this round's regulator actions and events).
    figure
        Figure to draw into (cleared first); a new one if ``None``.
    colours
        Firm name -> colour; :func:`palette` of ``firms`` if ``None``. Pass the palette
        of *all* the scenario's firms so that a firm acquired or exited does not shift
        the others' colours.
    money
        The money unit, for the legend's supply entry (``"$ bn"``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with one axes.
    """
    flows = list(flows)
    colours = colours if colours is not None else palette(f.name for f in firms)
    graph = stack_graph(layers, firms, flows)
    pos = layered_positions(graph, layers, firms)
    fig = figure if figure is not None else Figure(figsize=(7.5, 5.6), dpi=90)
    fig.clear()
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.13, right=0.99, top=0.86, bottom=0.02 + 0.04 * min(len(notes), 4))
    columns = max((x for x, _ in pos.values()), default=0.0) + 1.0
    ax.set_xlim(-0.6, columns - 0.4)
    top = len(layers) + (0.6 if FINAL_DEMAND in graph else -0.3)
    ax.set_ylim(-0.7, top)
    by_name = {f.name: f for f in firms}
    row = {name: i for i, name in enumerate(layers)}
    for i, colour in enumerate(palette(layers).values()):
        ax.axhspan(i - 0.45, i + 0.45, color=colour, alpha=0.06)
    _draw_spans(ax, firms, pos, row, layers, colours)
    _draw_edges(ax, graph, pos)
    unit = _points_per_unit(fig, ax, columns, top + 0.7)
    sizes = node_sizes(firms, smallest=(0.16 * unit) ** 2, largest=(0.5 * unit) ** 2)
    for node, data in graph.nodes(data=True):
        x, y = pos[node]
        firm = by_name.get(data["firm"])
        if firm is None:
            ax.scatter([x], [y], s=(0.5 * unit) ** 2, marker="s", color="#dee2e6", zorder=3)
            ax.text(x, y, FINAL_DEMAND, ha="center", va="center", fontsize=7, zorder=4)
            continue
        ax.scatter(
            [x],
            [y],
            s=sizes[firm.name],
            marker=POSTURE_MARKERS.get(firm.posture, "o"),
            color=colours.get(firm.name, "#adb5bd"),
            edgecolors=INVESTIGATED if firm.investigated else "#212529",
            linewidths=3.0 if firm.investigated else 0.8,
            linestyle="--" if firm.profit < 0 else "-",
            zorder=3,
        )
        if row[data["layer"]] == _span(firm, row)[0]:
            label = textwrap.fill(firm.label, 12)
            ax.text(
                x, y - 0.27, label, ha="center", va="top", fontsize=7, zorder=4, linespacing=0.9
            )
    _draw_marks(ax, firms, pos, row, layers, columns)
    ax.set_xticks([])
    ax.set_yticks(range(len(layers)), list(layers))
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    if title:
        fig.text(0.01, 0.99, title, fontsize=10, fontweight="bold", va="top")
    handles = legend_handles(money)
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncols=(len(handles) + 1) // 2,
        fontsize=7,
        frameon=False,
        handlelength=2.2,
        handletextpad=0.6,
        columnspacing=1.4,
    )
    if notes:
        fig.text(0.01, 0.01, "\n".join(notes[:4]), fontsize=7, va="bottom", color=INVESTIGATED)
    return fig


def _points_per_unit(fig: Figure, ax: Axes, xspan: float, yspan: float) -> float:
    """Typographic points per data unit, the smaller of the two axes."""
    box = ax.get_position()
    width_pt = fig.get_figwidth() * box.width * 72
    height_pt = fig.get_figheight() * box.height * 72
    return min(width_pt / xspan, height_pt / yspan)


def _draw_spans(
    ax: Axes,
    firms: Sequence[FirmView],
    pos: Mapping[str, tuple[float, float]],
    row: Mapping[str, int],
    layers: Sequence[str],
    colours: Mapping[str, str],
) -> None:
    for firm in firms:
        lo, hi = _span(firm, row)
        if lo == hi:
            continue
        x = pos[node_id(firm.name, layers[lo])][0]
        box = FancyBboxPatch(
            (x - 0.32, lo - 0.32),
            0.64,
            hi - lo + 0.64,
            boxstyle="round,pad=0.02,rounding_size=0.25",
            facecolor=colours.get(firm.name, "#adb5bd"),
            alpha=0.15,
            edgecolor="#495057",
            linewidth=1.0,
            zorder=1,
        )
        ax.add_patch(box)


def _draw_edges(ax: Axes, graph: nx.DiGraph, pos: Mapping[str, tuple[float, float]]) -> None:
    widths = edge_widths(graph)
    for (a, b), w in widths.items():
        internal = graph.edges[a, b].get("internal", False)
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate(
            "",
            xy=(x1, y1 - 0.12),
            xytext=(x0, y0 + 0.12),
            arrowprops={
                "arrowstyle": "-|>",
                "lw": w,
                "color": "#6c757d",
                "alpha": 0.55,
                "linestyle": ":" if internal else "-",
                "shrinkA": 0,
                "shrinkB": 0,
                "mutation_scale": 6 + w,
            },
            zorder=2,
        )


def _draw_marks(
    ax: Axes,
    firms: Sequence[FirmView],
    pos: Mapping[str, tuple[float, float]],
    row: Mapping[str, int],
    layers: Sequence[str],
    columns: float,
) -> None:
    for firm in firms:
        if not firm.marks and not firm.investigated:
            continue
        _, hi = _span(firm, row)
        x, y = pos[node_id(firm.name, layers[hi])]
        text = list(firm.marks)
        if firm.investigated:
            text.insert(0, "investigated")
        right = x > (columns - 1) / 2
        ax.text(
            x - 0.22 if right else x + 0.22,
            y + 0.18,
            "\u2605 " + "; ".join(text),
            fontsize=6.5,
            color="#c1121f",
            ha="right" if right else "left",
            va="bottom",
            zorder=5,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.8, "lw": 0},
        )


def legend_entries(money: str = "money") -> dict[str, str]:
    """What the network's marks mean: key -> legend text, the same on the page and in PNGs.

    Every mark :func:`draw_stack` can draw has an entry: the three posture shapes, the
    investigation outline, the dashed outline of a firm with a loss so far, the box of
    an integrated firm, a supply flow (width is money per round) and a dotted flow inside
    an integrated firm; the fill colour is the firm's own (:func:`palette`).
    """
    return {
        "restrain": "restrain",
        "extract": "extract",
        "mixed": "mixed",
        "investigated": "investigated",
        "loss": "loss so far",
        "integrated": "integrated firm",
        "supply": f"supply ({money} per round)",
        "internal": "own supply",
    }


def legend_handles(money: str = "money") -> list[Line2D | Patch]:
    """Matplotlib legend handles for :func:`legend_entries`, in its order."""
    text = legend_entries(money)
    grey = "#adb5bd"
    handles: list[Line2D | Patch] = [
        Line2D([], [], marker=POSTURE_MARKERS[k], ls="", mfc=grey, mec="#212529", mew=0.8,
               label=text[k], markersize=7)
        for k in ("restrain", "extract", "mixed")
    ]  # fmt: skip
    handles += [
        Line2D([], [], marker="o", ls="", mfc="white", mec=INVESTIGATED, mew=2.5,
               label=text["investigated"], markersize=7),
        Patch(facecolor="white", edgecolor="#212529", linestyle="--", label=text["loss"]),
        Patch(facecolor=grey, alpha=0.4, edgecolor="#495057", label=text["integrated"]),
        Line2D([], [], color="#6c757d", lw=3, solid_capstyle="butt", label=text["supply"]),
        Line2D([], [], color="#6c757d", lw=1.5, ls=":", label=text["internal"]),
    ]  # fmt: skip
    return handles


def plot_stacked_shares(
    ax: Axes,
    rounds: ArrayLike,
    shares: Mapping[str, ArrayLike],
    *,
    title: str,
    ylabel: str = "share of the stack's profit (%)",
    xlabel: str = "round",
    colours: Mapping[str, str] | None = None,
) -> None:
    """Stacked area of shares that sum to one each round (value share by layer).

    A layer that has lost money so far has a negative share of the stack's profit: the
    positive shares are stacked upwards from zero and the negative ones downwards, so the
    top edge minus the bottom edge is always 1 and no area hides another.

    Parameters
    ----------
    ax
        Axes to draw into.
    rounds
        The x values (round numbers).
    shares
        Series name -> one share per round, bottom series first.
    title
        Axes title.
    ylabel, xlabel
        Axis labels, with their units.
    colours
        Series name -> colour; :func:`palette` of the names if ``None``.
    """
    names = list(shares)
    colours = colours if colours is not None else palette(names)
    x = np.asarray(rounds, dtype=float)
    data = np.array([np.nan_to_num(np.asarray(shares[n], dtype=float)) for n in names])
    if data.size and x.size == 1:  # one round: stacked bars (an area needs two)
        up = np.cumsum(np.clip(data, 0, None), axis=0)[:, 0]
        down = np.cumsum(np.clip(data, None, 0), axis=0)[:, 0]
        for i, name in enumerate(names):
            value = data[i, 0]
            bottom = (up[i - 1] if i else 0.0) if value >= 0 else (down[i - 1] if i else 0.0)
            ax.bar(x, [value], bottom=bottom, width=0.5, color=colours[name], alpha=0.85,
                   label=name)  # fmt: skip
        ax.axhline(0, color="#212529", lw=0.8)
        ax.set_ylim(min(0.0, float(down.min())) - 0.02, max(1.0, float(up.max())) + 0.02)
    elif data.size and len(x):
        up = np.cumsum(np.clip(data, 0, None), axis=0)
        down = np.cumsum(np.clip(data, None, 0), axis=0)
        for i, name in enumerate(names):
            low_up = up[i - 1] if i else np.zeros_like(x)
            low_down = down[i - 1] if i else np.zeros_like(x)
            colour = colours[name]
            ax.fill_between(x, low_up, up[i], color=colour, alpha=0.85, label=name, lw=0)
            if (data[i] < 0).any():
                ax.fill_between(x, low_down, down[i], color=colour, alpha=0.85, hatch="//", lw=0)
        ax.axhline(0, color="#212529", lw=0.8)
        ax.set_ylim(min(0.0, float(down.min())) - 0.02, max(1.0, float(up.max())) + 0.02)
    else:
        ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter("{x:.0%}")
    _finish(ax, title, xlabel, ylabel)


def plot_series(
    ax: Axes,
    rounds: ArrayLike,
    series: Mapping[str, ArrayLike],
    *,
    title: str,
    ylabel: str,
    xlabel: str = "round",
    percent: bool = False,
    colours: Mapping[str, str] | None = None,
) -> None:
    """One line per series (margins or HHI by layer, cash by firm).

    Parameters
    ----------
    ax
        Axes to draw into.
    rounds
        The x values (round numbers).
    series
        Series name -> one value per round.
    title
        Axes title.
    ylabel, xlabel
        Axis labels, with their units.
    percent
        Format the y axis as percentages (the values are fractions).
    colours
        Series name -> colour; :func:`palette` of the names if ``None``. Pass the
        palette of all the scenario's firms (or layers) so each keeps its colour.
    """
    colours = colours if colours is not None else palette(series)
    x = np.asarray(rounds, dtype=float)
    for name, values in series.items():
        ax.plot(
            x,
            np.asarray(values, dtype=float),
            label=name,
            color=colours.get(name),
            lw=1.6,
            marker="o" if x.size < 3 else None,  # one round is a point, not a line
            markersize=4,
        )
    if percent:
        ax.yaxis.set_major_formatter("{x:.0%}")
    _finish(ax, title, xlabel, ylabel)


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, loc="left", fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    low, high = ax.get_xlim()
    if high - low < 2:  # the first rounds: whole rounds on the axis, not 0.96 .. 1.04
        centre = round((low + high) / 2)
        ax.set_xlim(centre - 1, centre + 1)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


def round_label(round_length: str) -> str:
    """The x axis of every time series: ``"round (quarter)"``."""
    return f"round ({round_length})" if round_length else "round"


def series_figure(size: tuple[float, float] = (5.6, 3.4)) -> tuple[Figure, Axes]:
    """Make a figure and axes sized for one time-series plot (legend on the right)."""
    fig = Figure(figsize=size, dpi=90)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.16, right=0.72, top=0.9, bottom=0.16)
    return fig, ax
