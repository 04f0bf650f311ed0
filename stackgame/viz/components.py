"""Solara components of the SolaraViz page, and what they read from a running model.

The page (``stackgame/viz/app.py``) shows these components beside Mesa's controls; each
receives the current :class:`~stackgame.environment.model.StackModel` and redraws when
Mesa's ``update_counter`` ticks (after every step) or when Reset builds a new model.

* :func:`StackNetwork`: the round, the value share so far, and the stack as a layered
  network (:func:`stackgame.viz.charts.network_chart`).
* :func:`SeriesCharts`: value share, margins, HHI and cash, from the DataCollector; the
  money flows by kind and a buildout figure by firm (capex, capacity, utilisation or
  debt, chosen on the page), from the model's history.
* :func:`EventLog`: integrations, investigations, triggers and events, by round.

Charts are ECharts options (:mod:`stackgame.viz.charts`) that the browser draws: each
round sends a few kilobytes of data instead of five server-rendered PNGs. Colours come
from one function (:func:`stackgame.viz.layout.palette`) over all the scenario's firms
(or layers), as in the PNG files of ``stackgame run``.

The reading functions (:func:`firm_views`, :func:`flow_views`, :func:`round_notes`,
:func:`log_rows`, the ``*_option`` functions) are plain functions so that tests and
scripts can call them without a browser. No Markdown component is used: Solara's Markdown
fetches KaTeX from a CDN, and the page must render offline.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import solara
from mesa.visualization.utils import update_counter

from stackgame.environment.model import StackModel, to_seed
from stackgame.environment.summary import money_flows
from stackgame.viz.charts import line_chart, network_chart, stacked_share_chart
from stackgame.viz.echarts import Chart
from stackgame.viz.layout import (
    FINAL_DEMAND,
    INVESTIGATED,
    MONEY_FLOW_KINDS,
    FirmView,
    FlowView,
    legend_entries,
    palette,
    round_label,
)

MONEY = "$ bn"
"""The page's money unit: the scenarios it offers are the AI stack's, in $ billions (the
header of ``ai-stack-2026.toml``)."""

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


Series = Mapping[str, np.ndarray]
"""The DataCollector's model variables: reporter name -> one value per round collected."""


def model_series(model: StackModel) -> Series:
    """The DataCollector's model variables as arrays, ``"round"`` among them.

    Read from Mesa's ``model_vars`` columns directly: building the pandas frame
    (``get_model_vars_dataframe``) cost more than all the charts' options together.
    """
    return {name: np.asarray(values) for name, values in model.datacollector.model_vars.items()}


def layer_columns(table: Series, prefix: str, layers: Sequence[str]) -> dict[str, np.ndarray]:
    """The ``<prefix>.<layer>`` series of ``table`` as a dict layer -> values."""
    return {name: table[f"{prefix}.{name}"] for name in layers if f"{prefix}.{name}" in table}


def firm_colours(model: StackModel) -> dict[str, str]:
    """One colour per firm, over *all* the scenario's firms in scenario order (stable)."""
    return palette(f.name for f in model.firms)


def layer_colours(model: StackModel) -> dict[str, str]:
    """One colour per layer, bottom first."""
    return palette(model.layer_names)


def x_label(model: StackModel) -> str:
    """The time axis, in the scenario's own period (``"round (quarter)"``)."""
    return round_label(model.scenario.round_length)


# -- charts (ECharts options: the browser draws them) ---------------------------------------


def network_option(model: StackModel, money: str = MONEY) -> dict[str, Any]:
    """The stack as a layered network after the last round."""
    return network_chart(
        model.layer_names, firm_views(model), flow_views(model),
        colours=firm_colours(model), money=money,
    )  # fmt: skip


def value_share_option(model: StackModel, table: Series | None = None) -> dict[str, Any]:
    """Cumulative value share by layer, stacked (losses stacked below zero)."""
    df = model_series(model) if table is None else table
    return stacked_share_chart(
        df["round"], layer_columns(df, "value_share", model.layer_names),
        title="Value share by layer (cumulative operating profit)",
        ylabel="share of the stack's profit (%)", xlabel=x_label(model),
        colours=layer_colours(model),
    )  # fmt: skip


def margin_option(model: StackModel, table: Series | None = None) -> dict[str, Any]:
    """Operating margin by layer (solid) and gross margin (dotted), each round."""
    df = model_series(model) if table is None else table
    return line_chart(
        df["round"], layer_columns(df, "operating_margin", model.layer_names),
        dotted=layer_columns(df, "gross_margin", model.layer_names),
        title="Margins by layer (operating solid, gross dotted)",
        ylabel="% of revenue", xlabel=x_label(model), percent=True,
        colours=layer_colours(model),
    )  # fmt: skip


def concentration_option(model: StackModel, table: Series | None = None) -> dict[str, Any]:
    """Herfindahl-Hirschman index of quantity shares by layer, in per cent (as the CLI)."""
    df = model_series(model) if table is None else table
    option = line_chart(
        df["round"], layer_columns(df, "hhi", model.layer_names),
        title="Concentration by layer (HHI of quantity shares)",
        ylabel="HHI (%; 100% = one seller)", xlabel=x_label(model), percent=True,
        colours=layer_colours(model),
    )  # fmt: skip
    option["yAxis"].update(min=0, max=100)
    return option


def cash_option(
    model: StackModel, table: Series | None = None, money: str = MONEY
) -> dict[str, Any]:
    """Cash of each firm, each round, in the scenario's money."""
    df = model_series(model) if table is None else table
    labels = {f.name: f.label for f in model.firms}
    colours = firm_colours(model)
    names = [f.name for f in model.firms if f"cash.{f.name}" in df]
    return line_chart(
        df["round"], {labels[n]: df[f"cash.{n}"] for n in names},
        title="Cash by firm", ylabel=f"cash ({money})", xlabel=x_label(model),
        colours={labels[n]: colours[n] for n in names},
    )  # fmt: skip


BUILDOUT_CHOICES = ("capex", "capacity", "utilisation", "debt")
"""What the buildout chart can show by firm, each round (its select on the page)."""


def history_rounds(model: StackModel, table: Series | None = None) -> np.ndarray:
    """The page's round number of each recorded round: the other charts' x axis."""
    n = len(model.history)
    df = model_series(model) if table is None else table
    rounds = np.asarray(df.get("round", []))
    return rounds[-n:] if n and rounds.size >= n else np.arange(1, n + 1)


def firm_buildout(model: StackModel) -> dict[str, np.ndarray]:
    """Per round and firm (``[rounds, n_firms]``): capex, capacity, utilisation and debt.

    Each operation counts for the firm that held it that round; utilisation is output over
    the capacity in force (0 without capacity); debt is the history's where the finance
    section records it, else the firms' debt now (without finance it never changes).
    """
    h = model.history
    n, k = len(h), len(model.firms)
    capex, capacity, used = np.zeros((n, k)), np.zeros((n, k)), np.zeros((n, k))
    for t, row in enumerate(h.op_rows):
        firm = h.op_firm[t][: row["capex"].shape[0]]
        capex[t] = np.bincount(firm, weights=row["capex"], minlength=k)
        capacity[t] = np.bincount(firm, weights=row["capacity"], minlength=k)
        used[t] = np.bincount(firm, weights=row["quantity"], minlength=k)
    debt = np.tile(np.asarray(model.state.debt, dtype=float), (n, 1))
    for t, frow in enumerate(h.firm_rows):
        if "debt" in frow:
            debt[t] = frow["debt"]
    utilisation = np.divide(used, capacity, out=np.zeros_like(used), where=capacity > 1e-12)
    return {"capex": capex, "capacity": capacity, "utilisation": utilisation, "debt": debt}


def money_flows_option(
    model: StackModel, table: Series | None = None, money: str = MONEY
) -> dict[str, Any]:
    """Money into the stack by kind, each round: final demand, investment, financing."""
    flows = money_flows(model) if len(model.history) else []
    kinds = list(MONEY_FLOW_KINDS)
    return line_chart(
        history_rounds(model, table),
        {MONEY_FLOW_KINDS[k]: [r[k] for r in flows] for k in kinds},
        title="Money flows by kind", ylabel=f"{money} per round", xlabel=x_label(model),
        colours=palette(MONEY_FLOW_KINDS.values()),
    )  # fmt: skip


def buildout_option(
    model: StackModel, metric: str = "capex", table: Series | None = None, money: str = MONEY
) -> dict[str, Any]:
    """One of :data:`BUILDOUT_CHOICES` by firm, each round, for the firms that have any."""
    if metric not in BUILDOUT_CHOICES:
        raise ValueError(f"metric: one of {', '.join(BUILDOUT_CHOICES)} (got {metric!r})")
    values = firm_buildout(model)[metric]
    shown = [i for i, _ in enumerate(model.firms) if values.size and np.any(values[:, i])]
    colours = firm_colours(model)
    title, ylabel = {
        "capex": ("Capex by firm (capital goods bought)", f"{money} per round"),
        "capacity": ("Capacity by firm (in force)", "units of output a round"),
        "utilisation": ("Utilisation by firm (output / capacity)", "% of capacity"),
        "debt": ("Debt by firm", money),
    }[metric]
    firms = model.firms
    return line_chart(
        history_rounds(model, table), {firms[i].label: values[:, i] for i in shown},
        title=title, ylabel=ylabel, xlabel=x_label(model), percent=metric == "utilisation",
        colours={firms[i].label: colours[firms[i].name] for i in shown},
    )  # fmt: skip


# -- Solara components -------------------------------------------------------------------


def _ticks(counter: int | None) -> int:
    """Mesa's step counter: the one given, or read here (which redraws on every step).

    Each component that reads ``update_counter`` is a listener, and Solara renders the page
    once per listener after a step: the page reads it once and passes it down.
    """
    return update_counter.get() if counter is None else counter


def legend_html(money: str = MONEY) -> str:
    """The network's legend as HTML: every entry of :func:`legend_entries`, with its mark."""
    text = legend_entries(money)
    grey = "#adb5bd"
    marks = {
        "restrain": f'<span style="color:{grey}">\u25cf</span>',
        "extract": f'<span style="color:{grey}">\u25b2</span>',
        "mixed": f'<span style="color:{grey}">\u25c6</span>',
        "investigated": f'<span style="color:{INVESTIGATED}">\u25ef</span>',
        "loss": '<span style="border:1px dashed #212529;border-radius:50%;'
        'display:inline-block;width:9px;height:9px"></span>',
        "integrated": f'<span style="background:{grey};opacity:.5;border-radius:4px;'
        'display:inline-block;width:9px;height:14px"></span>',
        "supply": '<span style="border-top:3px solid #6c757d;display:inline-block;'
        'width:18px;vertical-align:middle"></span>',
        "internal": '<span style="border-top:2px dotted #6c757d;display:inline-block;'
        'width:18px;vertical-align:middle"></span>',
    }
    items = "".join(
        f'<span class="stackgame-legend-item" style="margin-right:12px">{marks[k]} '
        f"{html.escape(label)}</span>"
        for k, label in text.items()
    )
    return items + '<span style="color:#6c757d">fill: the firm\u2019s colour</span>'


@solara.component
def StackNetwork(model: StackModel, counter: int | None = None) -> None:
    """The round, the value share so far, and the stack as a layered network.

    ``counter`` is Mesa's step counter, passed down by a parent that reads it (see
    :func:`stackgame.viz.app.StackPage`); without it the component reads it itself, as a
    component given to Mesa's ``SolaraViz`` does.
    """
    _ticks(counter)
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
        solara.HTML(
            tag="div",
            unsafe_innerHTML=legend_html(),
            attributes={"class": "stackgame-legend"},
            style="font-size: 11px;",
        )
        Chart(network_option(model), "network", height=430)
        notes = round_notes(model)
        solara.HTML(
            tag="div",
            unsafe_innerHTML="<br>".join(html.escape(n) for n in notes[:4]),
            attributes={"class": "stackgame-notes"},
            style="font-size: 11px; color: #c1121f; min-height: 1em;",
        )


@solara.component
def SeriesCharts(model: StackModel, counter: int | None = None) -> None:
    """Value share, margins, HHI and cash; money flows by kind; the buildout by firm.

    The first four read the DataCollector once per round, the last two the model's
    history; the buildout chart's metric is chosen in a select above it.
    """
    counter = _ticks(counter)
    metric, set_metric = solara.use_state("capex")
    df = solara.use_memo(lambda: model_series(model), [model, counter])
    with solara.Columns([1, 1], gutters_dense=True):
        Chart(value_share_option(model, df), "value share by layer")
        Chart(margin_option(model, df), "margins by layer")
    with solara.Columns([1, 1], gutters_dense=True):
        Chart(concentration_option(model, df), "concentration by layer")
        Chart(cash_option(model, df), "cash by firm")
    with solara.Columns([1, 1], gutters_dense=True):
        Chart(money_flows_option(model, df), "money flows by kind")
        with solara.Column(gap="0px"):
            solara.Select(
                label="Buildout by firm", value=metric, values=list(BUILDOUT_CHOICES),
                on_value=set_metric,
            )  # fmt: skip
            Chart(buildout_option(model, metric, df), "buildout by firm", height=250)


@solara.component
def EventLog(model: StackModel, counter: int | None = None) -> None:
    """Integrations, investigations, triggers and events, newest first."""
    _ticks(counter)
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
