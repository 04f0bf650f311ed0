"""Solara components of the SolaraViz page, and what they read from a running model.

The page (``stackgame/viz/app.py``) passes these components to Mesa's ``SolaraViz``; each
receives the current :class:`~stackgame.environment.model.StackModel` and redraws when
Mesa's ``update_counter`` ticks (after every step) or when Reset builds a new model.

* :func:`StackNetwork`: the round, the value share so far, and the stack as a layered
  network (:func:`stackgame.viz.layout.draw_stack`).
* :func:`ValueSharePlot`, :func:`MarginPlot`, :func:`ConcentrationPlot`,
  :func:`CashPlot`: the time series of the DataCollector.
* :func:`EventLog`: integrations, investigations, triggers and events, by round.

The reading functions (:func:`firm_views`, :func:`flow_views`, :func:`round_notes`,
:func:`log_rows`, ...) are plain functions so that tests and scripts can call them
without a browser. No Markdown component is used: Solara's Markdown fetches KaTeX from
a CDN, and the page must render offline.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import solara
from matplotlib.figure import Figure
from mesa.visualization.utils import update_counter

from stackgame.environment.model import StackModel, to_seed
from stackgame.viz.layout import (
    FINAL_DEMAND,
    FirmView,
    FlowView,
    draw_stack,
    plot_series,
    plot_stacked_shares,
    series_figure,
)

if TYPE_CHECKING:
    import pandas as pd

KIND_LABELS = {
    "integration": "integration",
    "investigation": "investigation",
    "trigger": "trigger",
    "event": "event",
}
"""Kinds of log entries, as the event log names them."""


class PageModel(StackModel):
    """:class:`StackModel` as the page builds it: SolaraViz's signature, bad input shown.

    Mesa 3.3.1's ``SolaraViz`` checks the controls against the model's ``__init__`` and
    accepts extra keywords only when the catch-all is literally named ``**kwargs``
    (``mesa.visualization.solara_viz._check_model_params``); ``StackModel`` calls it
    ``**params``. Every keyword goes to ``StackModel`` unchanged.

    Mesa's Reset builds the model inside a click handler, where an exception replaces
    the whole page by a traceback. So a control the model refuses (the seed box is the
    one free-text control) does not raise here: the model is built without the bad seed
    (unseeded), or from the scenario alone if something else was refused, and
    ``input_error`` holds the one-line message the page shows above the network.
    """

    input_error: str | None = None

    def __init__(self, scenario: Any = "ai-stack-2026", seed: Any = None, **kwargs: Any) -> None:
        try:
            super().__init__(scenario, seed, **kwargs)
            return
        except (ValueError, KeyError) as err:
            problem = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        try:
            to_seed(seed)
        except ValueError:  # the seed was the problem: keep every other control
            super().__init__(scenario, None, **kwargs)
            self.input_error = f"{problem}; Reset ran unseeded (seed {self.seed})"
            return
        super().__init__(scenario, seed)
        self.input_error = f"{problem}; Reset used the scenario's own settings"


# -- what the page reads from the model ---------------------------------------------------


def firm_views(model: StackModel) -> list[FirmView]:
    """One :class:`FirmView` per active firm: layers, cumulative profit, posture, marks.

    The posture is read per operation from the last round's record: ``"restrain"`` or
    ``"extract"`` when all the firm's layers agree, ``"mixed"`` otherwise, ``"none"``
    before the first round. A firm is marked investigated while a regulator's price cap
    on one of its operations is open. Marks are the firm's log entries of the last
    round played and of the round about to be played.
    """
    st = model.state
    hist = model.history
    profit = hist.firms_matrix("profit").sum(axis=0) if len(hist) else np.zeros(len(model.firms))
    op_posture = hist.op_rows[-1]["posture"] if len(hist) else None
    op_firm = hist.op_firm[-1] if len(hist) else None
    recent = _recent_entries(model)
    views = []
    for f in model.firms:
        if not f.active or not f.layers:
            continue
        posture = "none"
        if op_posture is not None and op_firm is not None:
            mine = op_posture[: op_firm.shape[0]][
                (op_firm == f.index) & st.active[: op_firm.shape[0]]
            ]
            if mine.size:
                posture = (
                    "extract" if mine.min() == 1 else "restrain" if mine.max() == 0 else "mixed"
                )
        ops = np.flatnonzero((st.firm_of == f.index) & st.active)
        investigated = bool((st.cap_until[ops] > model.round).any()) if ops.size else False
        marks = tuple(
            _short(e.text) for e in recent if e.firm == f.name and e.kind != "investigation"
        )
        views.append(
            FirmView(
                name=f.name,
                label=f.label,
                layers=tuple(f.layers),
                profit=float(profit[f.index]) if f.index < profit.shape[0] else 0.0,
                posture=posture,
                investigated=investigated,
                marks=marks,
            )
        )
    return views


def flow_views(model: StackModel) -> list[FlowView]:
    """Last round's supply flows, in dollars, plus the top layer's sales to consumers.

    The flows between firms come from :meth:`StackModel.flows` (self-supply of an
    integrated firm included); each top-layer seller's revenue is a flow to final demand.
    """
    flows = [
        FlowView(seller=f["seller"], buyer=f["buyer"], layer=f["layer"], dollars=f["dollars"])
        for f in model.flows()
    ]
    hist = model.history
    if len(hist):
        revenue = hist.op_rows[-1]["revenue"]
        op_firm, op_layer = hist.op_firm[-1], hist.op_layer[-1]
        top = len(model.layer_names) - 1
        for o in np.flatnonzero(op_layer == top):
            if o < revenue.shape[0] and revenue[o] > 0:
                flows.append(
                    FlowView(
                        seller=model.firms[int(op_firm[o])].name,
                        buyer=FINAL_DEMAND,
                        layer=model.layer_names[top],
                        dollars=float(revenue[o]),
                    )
                )
    return flows


def _recent_entries(model: StackModel) -> list[Any]:
    """Log entries of the last round played and of the round about to be played."""
    return [e for e in model.log if model.round - 1 <= e.round <= model.round]


def _short(text: str) -> str:
    return text.split(":")[0].strip()


def round_notes(model: StackModel) -> list[str]:
    """The regulator's actions and the events of the current rounds, one line each."""
    return [
        f"round {e.round}: {e.firm + ' ' if e.firm else ''}{e.text}"
        for e in _recent_entries(model)
        if e.kind in ("investigation", "trigger", "event", "integration")
    ]


def value_share_line(model: StackModel) -> str:
    """Cumulative value share of each layer, largest first (the headline of the page)."""
    if not len(model.history):
        return "Value share so far: no round played yet"
    shares = {name: model.history.layer_value_share(name) for name in model.layer_names}
    ordered = sorted(shares.items(), key=lambda kv: -kv[1])
    return "Value share so far: " + " \u00b7 ".join(f"{k} {v:.1%}" for k, v in ordered)


def log_rows(model: StackModel, limit: int = 40) -> list[tuple[int, str, str, str]]:
    """The event log, newest first: (round, kind, firm, what happened)."""
    rows = [(e.round, KIND_LABELS.get(e.kind, e.kind), e.firm, e.text) for e in model.log]
    return rows[::-1][:limit]


def model_frame(model: StackModel) -> pd.DataFrame:
    """The DataCollector's model variables, indexed by round."""
    df = model.datacollector.get_model_vars_dataframe()
    if "round" in df.columns:
        df = df.set_index("round")
    return df


def layer_columns(df: pd.DataFrame, prefix: str, layers: Sequence[str]) -> dict[str, Any]:
    """The ``<prefix>.<layer>`` columns of ``df`` as a dict layer -> values."""
    return {name: df[f"{prefix}.{name}"].to_numpy() for name in layers if f"{prefix}.{name}" in df}


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes (what the page shows)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# -- figures ---------------------------------------------------------------------------------


def network_figure(model: StackModel) -> Figure:
    """The stack as a layered network after the last round."""
    return draw_stack(
        model.layer_names,
        firm_views(model),
        flow_views(model),
        title=f"{model.scenario.name}: round {model.round}",
        notes=round_notes(model),
        figure=Figure(figsize=(6.2, 4.1), dpi=100),
    )


def value_share_figure(model: StackModel) -> Figure:
    """Cumulative value share by layer, stacked (losses stacked below zero)."""
    df = model_frame(model)
    fig, ax = series_figure()
    plot_stacked_shares(
        ax, df.index.to_numpy(), layer_columns(df, "value_share", model.layer_names),
        title="Value share by layer (cumulative operating profit)",
    )  # fmt: skip
    return fig


def margin_figure(model: StackModel) -> Figure:
    """Operating margin by layer (solid) and gross margin (dotted), each round."""
    df = model_frame(model)
    fig, ax = series_figure()
    rounds = df.index.to_numpy()
    plot_series(
        ax, rounds, layer_columns(df, "operating_margin", model.layer_names),
        title="Margins by layer (operating solid, gross dotted)", percent=True,
    )  # fmt: skip
    gross = layer_columns(df, "gross_margin", model.layer_names)
    for line, values in zip(list(ax.lines), gross.values(), strict=False):
        marker = "x" if rounds.size < 3 else None
        ax.plot(rounds, values, color=line.get_color(), lw=1.0, ls=":", marker=marker, ms=4)
    return fig


def concentration_figure(model: StackModel) -> Figure:
    """Herfindahl-Hirschman index of quantity shares by layer, each round."""
    df = model_frame(model)
    fig, ax = series_figure()
    plot_series(
        ax, df.index.to_numpy(), layer_columns(df, "hhi", model.layer_names),
        title="Concentration by layer (HHI, 0 to 1)",
    )  # fmt: skip
    ax.set_ylim(0, 1.02)
    return fig


def cash_figure(model: StackModel) -> Figure:
    """Cash of the named firms, each round (the scenario's money unit)."""
    df = model_frame(model)
    labels = {f.name: f.label for f in model.firms}
    series = {
        labels.get(c[len("cash.") :], c[len("cash.") :]): df[c].to_numpy()
        for c in df.columns
        if c.startswith("cash.")
    }
    fig, ax = series_figure()
    plot_series(ax, df.index.to_numpy(), series, title="Cash of the named firms")
    return fig


# -- Solara components -------------------------------------------------------------------


@solara.component
def FigureImage(figure: Figure, alt: str) -> None:
    """A matplotlib figure as a PNG that fills its grid cell's width."""
    solara.HTML(
        tag="img",
        attributes={"src": "data:image/png;base64," + _b64(png(figure)), "alt": alt},
        style="width: 100%; height: auto;",
    )


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


@solara.component
def StackNetwork(model: StackModel) -> None:
    """The round, the value share so far, and the stack as a layered network."""
    update_counter.get()
    solara.use_effect(lambda: model.release, [model])  # free the old model after Reset
    with solara.Column(gap="2px"):
        if model.input_error:
            solara.HTML(
                tag="div",
                unsafe_innerHTML=html.escape(model.input_error),
                attributes={"class": "stackgame-input-error"},
                style="color: #c1121f; font-weight: 600;",
            )
        solara.HTML(
            tag="div",
            unsafe_innerHTML=html.escape(f"Round {model.round}"),
            attributes={"class": "stackgame-round", "data-round": str(model.round)},
            style="font-size: 20px; font-weight: 600;",
        )
        solara.HTML(
            tag="div",
            unsafe_innerHTML=html.escape(value_share_line(model)),
            attributes={"class": "stackgame-value-share"},
            style="font-size: 12px;",
        )
        FigureImage(network_figure(model), alt="the stack as a layered network")


@solara.component
def ValueSharePlot(model: StackModel) -> None:
    """Stacked area of the value share by layer."""
    update_counter.get()
    FigureImage(value_share_figure(model), alt="value share by layer")


@solara.component
def MarginPlot(model: StackModel) -> None:
    """Gross and operating margins by layer."""
    update_counter.get()
    FigureImage(margin_figure(model), alt="margins by layer")


@solara.component
def ConcentrationPlot(model: StackModel) -> None:
    """HHI by layer."""
    update_counter.get()
    FigureImage(concentration_figure(model), alt="concentration by layer")


@solara.component
def CashPlot(model: StackModel) -> None:
    """Cash of the named firms."""
    update_counter.get()
    FigureImage(cash_figure(model), alt="cash of the named firms")


@solara.component
def EventLog(model: StackModel) -> None:
    """Integrations, investigations, triggers and events, newest first."""
    update_counter.get()
    rows = log_rows(model)
    body = "".join(
        f"<tr><td>{r}</td><td>{html.escape(kind)}</td><td>{html.escape(firm)}</td>"
        f"<td>{html.escape(text)}</td></tr>"
        for r, kind, firm, text in rows
    )
    if not rows:
        body = '<tr><td colspan="4">nothing yet: no integration, investigation or event</td></tr>'
    table = (
        '<table class="stackgame-log" style="font-size: 12px; border-collapse: collapse;">'
        "<thead><tr><th>round</th><th>kind</th><th>firm</th><th>what happened</th></tr>"
        f"</thead><tbody>{body}</tbody></table>"
    )
    with solara.Column(gap="2px"):
        solara.HTML(tag="div", unsafe_innerHTML="Event log", style="font-weight: 600;")
        solara.HTML(tag="div", unsafe_innerHTML=table, style="max-height: 340px; overflow: auto;")
