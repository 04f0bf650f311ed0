"""The layered drawing of the stack: graph, positions, widths, sizes, figure."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.patches import FancyBboxPatch

from stackgame.viz.layout import (
    FINAL_DEMAND,
    FirmView,
    FlowView,
    _assign,
    draw_stack,
    edge_widths,
    layered_positions,
    node_id,
    node_sizes,
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


def test_barycentre_puts_a_buyer_above_its_supplier():
    # two suppliers at the ends of the chips row, each with one buyer in the cloud row:
    # each buyer goes to its own supplier's side, whatever the scenario order says.
    firms = (
        FirmView("left", "L", ("chips",)),
        FirmView("mid", "M", ("chips",)),
        FirmView("right", "R", ("chips",)),
        FirmView("buys_right", "BR", ("cloud",)),
        FirmView("buys_left", "BL", ("cloud",)),
    )
    flows = (
        FlowView("left", "buys_left", "chips", 5.0),
        FlowView("right", "buys_right", "chips", 5.0),
    )
    layers = ("chips", "cloud")
    graph = stack_graph(layers, firms, flows)
    pos = layered_positions(graph, layers, firms)
    assert pos[node_id("left", "chips")][0] < pos[node_id("right", "chips")][0]
    assert pos[node_id("buys_left", "cloud")][0] < pos[node_id("buys_right", "cloud")][0]


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
    plot_series(ax, rounds, {"x": [1.0, 2.0, np.nan]}, title="t", money=True)
    assert len(ax.lines) == 1
    fig.savefig(io.BytesIO(), format="png")


def test_one_round_is_drawn_as_bars_and_points():
    fig, ax = series_figure()
    plot_stacked_shares(ax, [1], {"a": [1.2], "b": [-0.2]}, title="share")
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == pytest.approx([-0.2, 1.2])
    low, high = ax.get_xlim()
    assert low <= 0 and high >= 2
    fig, ax = series_figure()
    plot_series(ax, [1], {"x": [0.5]}, title="t")
    assert ax.lines[0].get_marker() == "o"


def test_losses_are_stacked_below_zero():
    fig, ax = series_figure()
    plot_stacked_shares(ax, [1, 2], {"a": [1.1, 1.3], "b": [-0.1, -0.3]}, title="share")
    low, high = ax.get_ylim()
    assert low < -0.3 and high > 1.3
