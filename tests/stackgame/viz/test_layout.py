"""The layered drawing of the stack: graph, positions, widths, sizes, figure."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.patches import FancyBboxPatch

from stackgame.viz.layout import (
    FINAL_DEMAND,
    PALETTE,
    FirmView,
    FlowView,
    _assign,
    draw_stack,
    edge_widths,
    layered_positions,
    legend_entries,
    node_id,
    node_sizes,
    palette,
    plot_series,
    plot_stacked_shares,
    series_figure,
    stack_graph,
)

LAYERS = ("foundry", "chips", "cloud", "models", "apps")

# A small stack: one foundry, two chip firms, a chips+cloud integrator (think Google),
# one independent cloud, a models+apps integrator and one app company.
FIRMS = (
    FirmView("fab", "Fab", ("foundry",), profit=5.0, posture="restrain"),
    FirmView("gpu", "GPU", ("chips",), profit=20.0, posture="extract", investigated=True),
    FirmView("alt", "Alt", ("chips",), profit=1.0, posture="restrain"),
    FirmView("goo", "Goo", ("chips", "cloud", "models"), profit=8.0, posture="mixed"),
    FirmView("neo", "Neo", ("cloud",), profit=-2.0, posture="extract"),
    FirmView("lab", "Lab", ("models", "apps"), profit=3.0, marks=("integrated",)),
    FirmView("app", "App", ("apps",), profit=0.5),
)
FLOWS = (
    FlowView("fab", "gpu", "foundry", 10.0),
    FlowView("fab", "alt", "foundry", 1.0),
    FlowView("fab", "goo", "foundry", 2.0),
    FlowView("gpu", "neo", "chips", 6.0),
    FlowView("gpu", "neo", "chips", 2.0),  # same pair twice: summed
    FlowView("alt", "goo", "chips", 1.0),
    FlowView("goo", "goo", "chips", 5.0),  # self-supply inside the integrator: internal
    FlowView("neo", "lab", "cloud", 4.0),
    FlowView("goo", "lab", "models", 0.0),  # nothing flowed: no edge
    FlowView("lab", "app", "models", 1.5),
    FlowView("app", "consumers", "apps", 3.0),
)


def positions():
    graph = stack_graph(LAYERS, FIRMS, FLOWS)
    return graph, layered_positions(graph, LAYERS, FIRMS)


def test_one_node_per_operation_and_flows_summed():
    graph = stack_graph(LAYERS, FIRMS, FLOWS)
    operations = sum(len(f.layers) for f in FIRMS)
    assert graph.number_of_nodes() == operations + 1  # plus final demand
    assert graph.edges[node_id("gpu", "chips"), node_id("neo", "cloud")]["dollars"] == 8.0
    assert not graph.has_edge(node_id("goo", "models"), node_id("lab", "models"))
    assert graph.edges[node_id("goo", "chips"), node_id("goo", "cloud")]["internal"]
    assert not graph.edges[node_id("gpu", "chips"), node_id("neo", "cloud")]["internal"]
    assert graph.has_edge(node_id("app", "apps"), FINAL_DEMAND)
    # a buyer spanning several layers buys into its lowest layer above the seller
    assert graph.has_edge(node_id("neo", "cloud"), node_id("lab", "models"))


def test_rows_are_layers_and_integrated_firms_keep_one_column():
    graph, pos = positions()
    for node, data in graph.nodes(data=True):
        if node != FINAL_DEMAND:
            assert pos[node][1] == LAYERS.index(data["layer"])
    assert {pos[node_id("goo", layer)][0] for layer in ("chips", "cloud", "models")} == {
        pos[node_id("goo", "chips")][0]
    }
    assert pos[node_id("lab", "models")][0] == pos[node_id("lab", "apps")][0]
    assert pos[FINAL_DEMAND][1] == len(LAYERS)


def test_no_two_firms_share_a_spot_and_spans_are_kept_clear():
    graph, pos = positions()
    spots = [pos[n] for n in graph.nodes if n != FINAL_DEMAND]
    assert len(spots) == len(set(spots))
    # the cloud row sits inside goo's span: neo must not take goo's column
    assert pos[node_id("neo", "cloud")][0] != pos[node_id("goo", "cloud")][0]


def test_a_firm_keeps_its_column_whatever_the_flows():
    """Firms used to swap places within a layer when the round's money shifted."""
    layers = ("chips", "cloud")
    firms = (
        FirmView("left", "L", ("chips",)),
        FirmView("mid", "M", ("chips",)),
        FirmView("right", "R", ("chips",)),
        FirmView("buys_right", "BR", ("cloud",)),
        FirmView("buys_left", "BL", ("cloud",)),
    )
    one = (
        FlowView("left", "buys_left", "chips", 5.0),
        FlowView("right", "buys_right", "chips", 5.0),
    )
    other = (
        FlowView("left", "buys_right", "chips", 9.0),
        FlowView("mid", "buys_left", "chips", 1.0),
    )
    placed = [
        layered_positions(stack_graph(layers, firms, f), layers, firms) for f in (one, other, ())
    ]
    firm_nodes = {k: v for k, v in placed[0].items() if k != FINAL_DEMAND}
    for positions in placed[1:]:
        assert {k: v for k, v in positions.items() if k != FINAL_DEMAND} == firm_nodes
    # within a row, scenario order
    assert firm_nodes[node_id("left", "chips")][0] < firm_nodes[node_id("mid", "chips")][0]
    assert (
        firm_nodes[node_id("buys_right", "cloud")][0] < firm_nodes[node_id("buys_left", "cloud")][0]
    )


def test_palette_gives_twenty_distinct_colours_in_a_stable_order():
    names = [f"firm{i}" for i in range(20)]
    colours = palette(names)
    assert len(set(colours.values())) == 20
    assert palette(names[:5]) == {n: colours[n] for n in names[:5]}  # a prefix keeps its colours
    assert palette(["b", "a"]) != palette(["a", "b"])  # the order given, not sorted
    lab = np.array([_lab(c) for c in PALETTE])
    gaps = [np.linalg.norm(lab[i] - lab[j]) for i in range(20) for j in range(i + 1, 20)]
    assert min(gaps) > 25  # as far apart as tab10's closest pair (27.7)
    assert all(light < 82 for light, _, _ in lab)  # none too pale for a line on white


def _lab(colour):
    """CIELAB (D65) of a hex colour."""
    rgb = np.array(to_rgb(colour))
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    srgb_to_xyz = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    )
    xyz = srgb_to_xyz @ rgb / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def test_nodes_take_the_firms_colour_and_the_postures_shape():
    colours = palette(f.name for f in FIRMS)
    fig = draw_stack(LAYERS, FIRMS, FLOWS, colours=colours)
    (ax,) = fig.axes
    fills = [to_hex(c.get_facecolor()[0]) for c in ax.collections if len(c.get_offsets()) == 1]
    assert colours["gpu"] in fills and colours["fab"] in fills


def test_the_network_legend_names_every_mark_without_overlap():
    fig = draw_stack(LAYERS, FIRMS, FLOWS, money="$ bn")
    legend = fig.axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == list(legend_entries("$ bn").values())
    assert "loss so far" in labels and "supply ($ bn per round)" in labels
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
        box = handle.get_window_extent(renderer) if hasattr(handle, "get_window_extent") else None
        if box is not None and box.width > 0:
            assert box.x1 <= text.get_window_extent(renderer).x0 + 0.5  # swatch left of text


def test_edge_widths_are_linear_in_money():
    graph = stack_graph(LAYERS, FIRMS, FLOWS)
    widths = edge_widths(graph, thinnest=1.0, thickest=11.0)
    dollars = {(a, b): d for a, b, d in graph.edges(data="dollars")}
    biggest = max(dollars, key=dollars.get)
    assert widths[biggest] == pytest.approx(11.0)
    for edge, d in dollars.items():
        assert widths[edge] == pytest.approx(1.0 + 10.0 * d / dollars[biggest])


def test_node_sizes_grow_with_profit_and_losses_get_the_smallest():
    sizes = node_sizes(FIRMS, smallest=10.0, largest=110.0)
    assert sizes["gpu"] == 110.0
    assert sizes["neo"] == 10.0
    assert sizes["fab"] > sizes["lab"] > sizes["app"] > sizes["neo"]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="'ghost' operates in no known layer"):
        stack_graph(LAYERS, (FirmView("ghost", "G", ("moon",)),), ())
    with pytest.raises(ValueError, match="unique"):
        stack_graph(LAYERS, (FIRMS[0], FIRMS[0]), ())


@settings(deadline=None, max_examples=60)
@given(
    st.integers(1, 8).flatmap(
        lambda m: st.tuples(
            st.lists(st.integers(0, 20), min_size=m, max_size=m, unique=True),
            st.lists(st.floats(-5, 25, allow_nan=False), min_size=0, max_size=m),
        )
    )
)
def test_assign_keeps_order_and_uses_free_columns(case):
    free, wants = case
    free = sorted(float(c) for c in free)
    wants = sorted(wants)
    chosen = _assign(free, wants)
    assert len(chosen) == len(wants)
    assert chosen == sorted(set(chosen))
    assert set(chosen) <= set(free)
    # no order-preserving choice is closer (checked against brute force on small cases)
    if len(free) <= 6:
        from itertools import combinations

        best = min(
            sum(abs(c - w) for c, w in zip(combo, wants, strict=True))
            for combo in combinations(free, len(wants))
        )
        assert sum(abs(c - w) for c, w in zip(chosen, wants, strict=True)) == pytest.approx(best)


def test_draw_stack_makes_a_figure_with_spans_title_and_notes():
    fig = draw_stack(LAYERS, FIRMS, FLOWS, title="Round 3", notes=["round 3: gpu investigated"])
    (ax,) = fig.axes
    assert "Round 3" in [t.get_text() for t in fig.texts]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(LAYERS)
    spans = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(spans) == 2  # goo and lab
    texts = [t.get_text() for t in ax.texts] + [t.get_text() for t in fig.texts]
    assert "round 3: gpu investigated" in texts
    assert any("investigated" in t and "\u2605" in t for t in texts)
    assert sum(t == "Goo" for t in texts) == 1  # an integrated firm is labelled once
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:4] == b"\x89PNG"


def test_draw_stack_before_any_flow():
    fig = draw_stack(LAYERS, [FirmView(f.name, f.label, f.layers) for f in FIRMS], ())
    fig.savefig(io.BytesIO(), format="png")


def test_plots_draw_the_series():
    fig, ax = series_figure()
    rounds = [1, 2, 3]
    plot_stacked_shares(ax, rounds, {"a": [0.2, 0.5, 0.7], "b": [0.8, 0.5, 0.3]}, title="share")
    assert len(ax.collections) == 2
    fig, ax = series_figure()
    plot_series(ax, rounds, {"x": [1.0, 2.0, np.nan]}, title="t", ylabel="cash ($ bn)")
    assert len(ax.lines) == 1
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("round", "cash ($ bn)")
    fig.savefig(io.BytesIO(), format="png")


def test_one_round_is_drawn_as_bars_and_points():
    fig, ax = series_figure()
    plot_stacked_shares(ax, [1], {"a": [1.2], "b": [-0.2]}, title="share")
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == pytest.approx([-0.2, 1.2])
    low, high = ax.get_xlim()
    assert low <= 0 and high >= 2
    fig, ax = series_figure()
    plot_series(ax, [1], {"x": [0.5]}, title="t", ylabel="%")
    assert ax.lines[0].get_marker() == "o"


def test_losses_are_stacked_below_zero():
    fig, ax = series_figure()
    plot_stacked_shares(ax, [1, 2], {"a": [1.1, 1.3], "b": [-0.1, -0.3]}, title="share")
    low, high = ax.get_ylim()
    assert low < -0.3 and high > 1.3
