"""The answer to "who wins the AI stack?": terminal tables, files and plots of one run.

Everything here reads a :class:`~stackgame.simulation.simulate.RunResult`; nothing runs a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stackgame import strict_json
from stackgame.simulation.simulate import RunResult

if TYPE_CHECKING:
    import pandas as pd


def _spend_title(summary: dict[str, Any]) -> str:
    """What the spend shares are shares of: final spend, plus investment when there is any."""
    if summary.get("investment"):
        if summary.get("infrastructure"):
            return "share of spending: final demand plus investment in the stack"
        return "share of spending: final demand plus investment"
    return "share of final spend"


class Amount(float):
    """A money or capacity figure in a table: a number with one decimal, not a percentage."""


class Money(float):
    """A calibration target's money figure: two decimals (a neocloud's $0.3B a year)."""


def has_buildout(summary: dict[str, Any]) -> bool:
    """Whether the run had any investment, financing, debt, contracts or failures.

    Then ``stackgame run`` shows the buildout tables; a run without any (the textbook
    scenarios) keeps its output.
    """
    firms = summary["firms"]
    return bool(
        has_money_flows(summary)
        or summary.get("failures")
        or any(f.get("debt") or f.get("backlog") for f in firms)
    )


def has_money_flows(summary: dict[str, Any]) -> bool:
    """Whether money other than final demand flowed: investment or financing in any round.

    Then the run's folder gains the money-flows table and figure.
    """
    return bool(
        summary.get("investment") or any(r.get("financing") for r in summary.get("money_flows", []))
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A plain-text table with aligned columns (numbers right, text left)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(isinstance(r[i], int | float | np.floating) or r[i] is None for r in rows)
        for i in range(len(headers))
    ]

    def fmt(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = []
    if title:
        lines.append(title)
    lines.append(fmt(list(headers)))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(fmt(r) for r in cells)
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Money):
        return f"{v:,.2f}"
    if isinstance(v, Amount):
        return f"{v:,.1f}"
    return f"{v:.1%}"


def pct(x: float) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{x:.1%}"


def calendar_text(summary: dict[str, Any]) -> list[str]:
    """What the run covers in calendar time and what it projects (empty: undated rounds)."""
    dates = summary.get("calendar")
    if not dates:
        return []
    n = summary["rounds"]
    line = f"Round 0 is {dates['first_round']}; round {n - 1}, the last, is {dates['last_round']}."
    if dates.get("targets_until") is None:
        return [line]
    if dates.get("projected_from") is None:
        return [line, f"The targets reach {dates['targets_until']}: the run projects nothing."]
    return [
        line,
        f"The targets check the rounds to {dates['targets_until']}; from "
        f"{dates['projected_from']} on the run projects the scenario's status quo, unchecked.",
    ]


def _target_cell(value: float | None, unit: str) -> Any:
    if value is None:
        return None
    if unit == "fraction":
        return value
    return Money(value)


def calibration_text(summary: dict[str, Any]) -> list[str]:
    """The calibration table: every figure and target next to the model's number.

    Money in the scenario's unit per round (``$B/q``) or a year (``$B/y``, a run rate);
    margins and shares as percentages. ``inside`` says whether the model lies in the
    target's plausible range, ``close`` whether it is inside or within the bar the
    baseline is held to (5 points, 25%); ``*`` marks an estimate.
    """
    rows = summary["calibration"]
    units = {"fraction": "", "$B/quarter": "$B/q", "$B/year": "$B/y"}
    hits = sum(1 for c in rows if c.get("inside"))
    near = sum(1 for c in rows if c.get("close"))
    measured = sum(1 for c in rows if c.get("inside") is not None)
    body = table(
        ["figure", "source", "window", "unit", "target", "model", "low", "high", "inside", "close"],
        [
            [
                c["figure"] + (" *" if c.get("estimate") else ""),
                _short_source(c["source"]),
                c["window"],
                units.get(c.get("unit", "fraction"), c.get("unit", "")),
                _target_cell(c["target"], c.get("unit", "fraction")),
                _target_cell(c["model"], c.get("unit", "fraction")),
                _target_cell(c.get("low"), c.get("unit", "fraction")),
                _target_cell(c.get("high"), c.get("unit", "fraction")),
                c.get("inside"),
                c.get("close"),
            ]
            for c in rows
        ],  # fmt: skip
        f"Calibration: the model next to {len(rows)} figures (../shared/STACK_FACTS.md and "
        f"public results; * an estimate): {hits} of {measured} inside their range, {near} "
        "close (inside, or a margin within 5 points and money within 25%)",
    )
    return [body]


def _short_source(source: str) -> str:
    """A seed article by its number (``001``), a report by its first words."""
    if source[:3].isdigit() and source.endswith(".txt"):
        return source[:3]
    return source if len(source) <= 28 else source[:27] + "…"


def _regulator_detail(reg: Mapping[str, Any]) -> list[str]:
    """The remedies, each case, and the chance of an investigation per firm (MODEL.md 12)."""
    if "remedies" not in reg:
        return []
    counts = reg["remedies"]
    out = ["  remedies: " + ", ".join(f"{n} {k}" for k, n in counts.items())]
    out += [f"  round {c['round']:>3}  {c['firm']}: {c['text']}" for c in reg["cases"]]
    risk = sorted(reg["investigation_probability"].items(), key=lambda kv: -kv[1])
    shown = [f"{name} {p:.0%}" for name, p in risk if p >= 0.005]
    out.append(
        "  chance of an investigation over the run, 1 - prod(1 - P_t): "
        + (", ".join(shown) if shown else "under 1% for every firm")
    )
    return out


def render_text(result: RunResult, extra: Sequence[str] = (), robust: str | None = None) -> str:
    """The readable answer: value capture, margins vs the seed facts, moves, verdict.

    ``extra`` lines (``stackgame run``'s robustness and ``--uncertainty`` tables) come just
    before the verdict; ``robust`` (the verdict across seeds) follows the run's own verdict,
    which is then labelled with its seed.
    """
    s = result.summary
    out = [
        f"Who wins? {s.get('title', s['scenario'])}  "
        f"(scenario {s['scenario']}, {s['rounds']} rounds, seed {s['seed']})",
        *calendar_text(s),
        "",
        table(
            ["layer", "value share", "spend share", "gross margin", "operating margin", "HHI"],
            [
                [
                    r["name"],
                    r["value_share"],
                    r["spend_share"],
                    r["gross_margin"],
                    r["operating_margin"],
                    r["hhi"],
                ]
                for r in reversed(s["layers"])
            ],  # fmt: skip
            f"Value captured by layer (share of cumulative stack profit; {_spend_title(s)})",
        ),
        "",
    ]
    firms = sorted(s["firms"], key=lambda r: -r["value_share"])
    out.append(
        table(
            [
                "firm",
                "layers",
                "value share",
                "spend share",
                "gross margin",
                "operating margin",
                "strategy",
            ],
            [
                [
                    f["label"],
                    ",".join(f["layers"])
                    or (
                        "(acquired)"
                        if f.get("failed") is None
                        else f"(failed in round {f['failed']})"
                    ),
                    f["value_share"],
                    f["spend_share"],
                    f["gross_margin"],
                    f["operating_margin"],
                    f["strategy"],
                ]
                for f in firms
            ],  # fmt: skip
            f"Value captured by firm (share of stack profit after stakes; {_spend_title(s)})",
        )
    )
    if s["calibration"]:
        out += ["", *calibration_text(s)]
    if has_buildout(s):
        out += ["", *buildout_text(s)]
    if s.get("failures"):
        out += ["", *failures_text(s)]
    out += ["", "Integration:"]
    moves = s["integrations"]
    status = {"planned": "  (planned: online after the run ends)", "failed": "  (not made)"}
    out += [
        f"  round {e['round']:>3}  {e['firm']}: {e['text']}{status.get(e.get('status', ''), '')}"
        for e in moves
    ] or ["  nobody integrated"]
    reg = s["regulator"]
    out += [
        "",
        f"Regulator (stance {reg['stance']:.2f}): {reg['investigations']} investigation(s), "
        f"fines {reg['fines']:.2f}"
        + (f" on {', '.join(reg['investigated'])}" if reg["investigated"] else ""),
    ]
    out += _regulator_detail(reg)
    happenings = s["triggers"] + s["events"]
    if happenings:
        out += ["", "Events:"]
        out += [
            f"  round {e['round']:>3}  {e['text']}"
            for e in sorted(happenings, key=lambda e: e["round"])
        ]
    if extra:
        out += ["", *extra]
    if robust is None:
        out += ["", "Verdict: " + s["verdict"]]
    else:
        out += ["", f"Verdict on seed {s['seed']}: " + s["verdict"], "", "Verdict: " + robust]
    return "\n".join(out)


BUILDOUT_NOTE = (
    "money: the scenario's unit ($B in ai-stack-2026); capacity: units of output a round"
)
"""Under the buildout tables' titles: their units."""


def buildout_text(s: dict[str, Any]) -> list[str]:
    """The buildout tables: per firm and per layer, and the money flows by kind in total.

    Capex is cumulative; capacity, utilisation (the last round's output over capacity),
    debt, cash and backlog are at the end. In the layer table capex, capacity and
    utilisation are summed over the layer's operations; debt, cash and backlog are split
    over each firm's layers in proportion to its revenue in them
    (:func:`stackgame.environment.summary.layer_buildout`).
    """
    firms = sorted(s["firms"], key=lambda f: -f.get("capex", 0.0))  # stable: scenario order
    headers = ["capex", "installed capacity", "utilisation", "debt", "cash", "backlog"]
    firm_rows = [
        [
            f["label"],
            Amount(f.get("capex", 0.0)),
            Amount(f.get("installed_capacity", 0.0)),
            f.get("utilisation", 0.0),
            Amount(f.get("debt") or 0.0),
            Amount(f["cash"]),
            Amount(f.get("backlog") or 0.0),
            f.get("failed"),
        ]
        for f in firms
    ]
    layer_rows = []
    for r in reversed(s["layers"]):
        b = r.get("buildout", {})
        layer_rows.append(
            [r["name"], Amount(b.get("capex", 0.0)), Amount(b.get("installed_capacity", 0.0)),
             b.get("utilisation", 0.0), Amount(b.get("debt", 0.0)), Amount(b.get("cash", 0.0)),
             Amount(b.get("backlog", 0.0))]
        )  # fmt: skip
    flows = s.get("money_flows", [])
    total = {
        k: sum(r.get(k, 0.0) for r in flows)
        for k in ("final_demand", "investment", "infrastructure", "financing")
    }
    outside = (
        f" (of which infrastructure outside the stack {total['infrastructure']:,.1f})"
        if total["infrastructure"]
        else ""
    )
    return [
        table(
            ["firm", *headers, "failed in round"],
            firm_rows,
            f"Buildout by firm (capex over the run, the rest at the end)\n{BUILDOUT_NOTE}",
        ),
        "",
        table(
            ["layer", *headers],
            layer_rows,
            "Buildout by layer (capex, capacity, utilisation: the layer's operations;\n"
            "debt, cash, backlog: each firm's split over its layers by its revenue in them)",
        ),
        "",
        f"Money flows over the run: final demand {total['final_demand']:,.1f}, "
        f"investment {total['investment']:,.1f}{outside}, financing {total['financing']:,.1f}"
        + (f", training {s['training']:,.1f}" if "training" in s else ""),
        *training_text(s),
    ]


def training_text(s: dict[str, Any]) -> list[str]:
    """One line per firm that trained: spend, charge and model stock (``MODEL.md`` 20)."""
    if "training" not in s:
        return []
    lines = ["Training (over the run; model stock at the end):"]
    for f in s["firms"]:
        if f.get("training"):
            lines.append(
                f"  {f['label']}: spend {f['training']:,.1f}, charged to operating income "
                f"{f['training_charge']:,.1f}, model stock {f['model_stock']:,.1f}"
            )
    n = len(s.get("training_writedowns", []))
    lines.append(f"  models written down by a rival's better release: {n}")
    return lines


def failures_text(s: dict[str, Any]) -> list[str]:
    """Who failed, in which round and why (the summary's ``failures``)."""
    labels = {f["name"]: f["label"] for f in s["firms"]}
    return ["Failures:"] + [
        f"  round {e['round']:>3}  {labels.get(e['firm'], e['firm'])}: {e['reason']}"
        for e in sorted(s["failures"], key=lambda e: (e["round"], e["firm"]))
    ]


def money_flows_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """The summary's money flows as a table: round, final demand, investment, financing.

    ``infrastructure``, the part of investment spent outside the stack, comes last.
    """
    import pandas as pd

    columns = ["round", *MONEY_FLOW_COLUMNS]
    rows = summary.get("money_flows", [])
    return pd.DataFrame(
        {c: [r.get(c, 0.0) if c != "round" else int(r["round"]) for r in rows] for c in columns}
    ).astype({"round": "int64", **dict.fromkeys(MONEY_FLOW_COLUMNS, "float64")})


MONEY_FLOW_COLUMNS = ("final_demand", "investment", "financing", "infrastructure")
"""The money flows' kinds, columns of ``money_flows.csv`` (``docs/MODEL.md`` 15, 16)."""


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame.to_csv(path, index=False)``, byte for byte, at about twice its speed.

    pandas formats each float through numpy's ``astype(str)``, most of a long run's table
    writing; numpy's shortest round-trip digits are Python's ``repr`` of the same float,
    which :mod:`csv` writes from the plain numbers (the same writer, quoting and line ends
    as pandas'). A frame this path does not cover the same way (a missing float, which
    pandas writes as an empty field; another column type) goes to pandas.
    ``tests/stackgame/simulation/test_report_files.py`` compares the two.
    """
    import csv

    import pandas as pd

    if frame.empty:
        frame.to_csv(path, index=False)
        return
    columns: list[np.ndarray | list[str]] = []  # numbers as arrays, strings as lists
    for name in frame.columns:
        col = frame[name]
        kind = col.dtype.kind
        if (col.dtype == np.float64 and not np.isnan(col.to_numpy()).any()) or kind in "iu":
            columns.append(col.to_numpy())
        elif isinstance(col.dtype, pd.StringDtype) or kind == "O":
            values = col.to_numpy(dtype=object).tolist()
            if not all(type(v) is str for v in set(values)):
                frame.to_csv(path, index=False)
                return
            columns.append(values)
        else:
            frame.to_csv(path, index=False)
            return
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([str(c) for c in frame.columns])
        if len(columns) < 2 or not all(not isinstance(c, list) or _unquoted(c) for c in columns):
            # (Python floats and ints: the writer writes their str)
            writer.writerows(
                zip(*(c if isinstance(c, list) else c.tolist() for c in columns), strict=True)
            )
            return
        # no field the writer would quote: the text it would write, joined here
        texts = [c if isinstance(c, list) else _number_texts(c) for c in columns]
        f.write("\n".join(map(",".join, zip(*texts, strict=True))))
        f.write("\n")


def _number_texts(values: np.ndarray) -> list[str]:
    """``[str(v) for v in values.tolist()]``, each distinct value formatted once.

    A long run's tables repeat most numbers (a steady state's rounds: a 2,001-round run's
    per-firm table holds some 2,700 distinct values in a column of 32,000), and Python's
    shortest round-trip formatting is most of the writing. Floats are told apart by their
    bits (``-0.0`` is not ``0.0``).
    """
    import pandas as pd

    floats = values.dtype.kind == "f"
    codes, distinct = pd.factorize(values.view(np.int64) if floats else values)
    distinct = np.asarray(distinct)
    texts = np.array(
        list(map(str, (distinct.view(np.float64) if floats else distinct).tolist())), dtype=object
    )
    return texts[codes].tolist()


_QUOTED = frozenset(',"\r\n')
"""Characters for which :mod:`csv`'s writer (minimal quoting) quotes a field."""


def _unquoted(strings: list[str]) -> bool:
    """Whether :mod:`csv`'s writer writes every one of ``strings`` as it is, unquoted.

    None may hold a quoted character, nor be empty (the writer quotes an empty string
    that is a row's only field).
    """
    return all(v and _QUOTED.isdisjoint(v) for v in set(strings))


def write_tables(result: RunResult, folder: Path, *, summary_json: str | None = None) -> list[Path]:
    """``summary.json``, per-round layer and firm tables (CSV and Parquet), the event log.

    A run with investment or financing also gets ``money_flows.csv`` and ``.parquet``:
    per round, final demand, investment and financing. ``summary_json``: the summary's
    text already encoded (``strict_json.dumps(result.summary)``, as ``stackgame run
    --json`` printed it), written as it is instead of encoded again.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    p = folder / "summary.json"
    if summary_json is None:
        strict_json.write(p, result.summary)
    else:
        p.write_text(summary_json + "\n")  # (what strict_json.write writes)
    paths.append(p)
    for name, frame in (("layers", result.per_round()), ("firms", result.per_firm_round())):
        csv = folder / f"{name}.csv"
        write_csv(frame, csv)
        parquet = folder / f"{name}.parquet"
        frame.to_parquet(parquet, index=False)
        paths += [csv, parquet]
    if has_money_flows(result.summary):
        frame = money_flows_frame(result.summary)
        for path, write in (
            (folder / "money_flows.csv", lambda p: write_csv(frame, p)),
            (folder / "money_flows.parquet", lambda p: frame.to_parquet(p, index=False)),
        ):
            write(path)
            paths.append(path)
    log = folder / "log.csv"
    lines = ["round,kind,firm,text"] + [
        f'{e.round},{e.kind},{e.firm},"{e.text.replace(chr(34), chr(39))}"' for e in result.log
    ]
    log.write_text("\n".join(lines) + "\n")
    paths.append(log)
    return paths


def write_files(
    result: RunResult, folder: Path, *, plots: bool = True, summary_json: str | None = None
) -> list[Path]:
    """The tables (:func:`write_tables`) and, with ``plots``, the plots (:func:`write_plots`).

    ``summary_json`` as in :func:`write_tables`.

    On Linux the plots are drawn in a forked child
    (:mod:`stackgame.simulation.plot_worker`) while this process writes the tables
    (matplotlib's import and drawing take as long as the rest of a short run); the files
    are the same either way. An error in the child is raised here.
    """
    from stackgame.simulation import plot_worker

    folder.mkdir(parents=True, exist_ok=True)
    if not plots:
        return write_tables(result, folder, summary_json=summary_json)
    worker = plot_worker.start(write_plots)
    if worker is None:
        return write_tables(result, folder, summary_json=summary_json) + write_plots(result, folder)
    try:
        worker.submit(result, folder)
        paths = write_tables(result, folder, summary_json=summary_json)
        return paths + worker.wait()
    finally:
        worker.close()


def write_plots(result: RunResult, folder: Path) -> list[Path]:
    """Value share by layer over time, margins by layer, and the stack's money flows.

    A run with investment or financing also gets ``money_flows_by_kind.png``: final
    demand, investment and financing per round.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from stackgame.viz.layout import (
        MONEY_FLOW_KINDS,
        FirmView,
        FlowView,
        draw_stack,
        palette,
        plot_series,
        plot_stacked_shares,
    )

    folder.mkdir(parents=True, exist_ok=True)
    frame = result.per_round()
    rounds = sorted(frame["round"].unique())
    by = {n: frame[frame["layer"] == n] for n in result.layer_names}
    paths = []

    fig = Figure(figsize=(8, 4.2), dpi=110)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.1, right=0.8, top=0.88, bottom=0.14)
    shares = {n: np.clip(by[n]["value_share"].to_numpy(), 0, None) for n in result.layer_names}
    total = np.sum(list(shares.values()), axis=0)
    shares = {
        n: np.divide(v, total, out=np.zeros_like(v), where=total > 0) for n, v in shares.items()
    }
    plot_stacked_shares(ax, rounds, shares, title="Value share by layer (cumulative profit)",
                        colours=palette(result.layer_names))  # fmt: skip
    p = folder / "value_share_by_layer.png"
    fig.savefig(p)
    paths.append(p)

    fig = Figure(figsize=(11, 4.2), dpi=110)
    ax1, ax2 = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.88, wspace=0.55, top=0.88, bottom=0.14)
    plot_series(ax1, rounds, {n: by[n]["gross_margin"] for n in result.layer_names},
                title="Gross margin by layer", percent=True, ylabel="% of revenue",
                colours=palette(result.layer_names))  # fmt: skip
    plot_series(ax2, rounds, {n: by[n]["operating_margin"] for n in result.layer_names},
                title="Operating margin by layer", percent=True, ylabel="% of revenue",
                colours=palette(result.layer_names))  # fmt: skip
    p = folder / "margins_by_layer.png"
    fig.savefig(p)
    paths.append(p)

    s = result.summary
    last_posture = result.firms["posture"][-1] if result.firms["posture"].size else None
    views = []
    for i, f in enumerate(s["firms"]):
        if not f["layers"]:
            continue
        posture = "none" if last_posture is None else ("extract" if last_posture[i] else "restrain")
        views.append(
            FirmView(
                name=f["name"],
                label=f["label"],
                layers=tuple(f["layers"]),
                profit=float(result.firms["profit"][:, i].sum()),
                posture=posture,
                investigated=f["name"] in s["regulator"]["investigated"],
                marks=tuple(f"+{x}" for x in f["integrated"]),
            )
        )
    alive = {v.name for v in views}
    flows = [
        FlowView(seller=x["seller"], buyer=x["buyer"], layer=x["layer"], dollars=x["dollars"])
        for x in result.flows
        if x["seller"] in alive and (x["buyer"] in alive or x["buyer"] == "final demand")
    ]
    fig = draw_stack(
        result.layer_names,
        views,
        flows,
        title=f"{s['scenario']}: money flows over {s['rounds']} rounds",
        colours=palette(result.firm_names),
    )
    p = folder / "stack_network.png"
    fig.savefig(p, dpi=110)
    paths.append(p)

    if has_money_flows(s):
        by_kind = money_flows_frame(s)
        fig = Figure(figsize=(8, 4.2), dpi=110)
        ax = fig.add_subplot()
        fig.subplots_adjust(left=0.1, right=0.8, top=0.88, bottom=0.14)
        lines = {MONEY_FLOW_KINDS[k]: by_kind[k] for k in MONEY_FLOW_COLUMNS}
        plot_series(ax, by_kind["round"], lines,
                    title="Money flows by kind over time", ylabel="$ per round (scenario's unit)",
                    colours=palette(MONEY_FLOW_KINDS.values()))  # fmt: skip
        ax.axhline(0.0, color="#495057", lw=0.8)
        p = folder / "money_flows_by_kind.png"
        fig.savefig(p)
        paths.append(p)
    return paths
