"""The answer to "who wins the AI stack?": terminal tables, files and plots of one run.

Everything here reads a :class:`~stackgame.simulation.simulate.RunResult`; nothing runs a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stackgame import strict_json
from stackgame.simulation.simulate import RunResult


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
    return f"{v:.1%}"


def pct(x: float) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{x:.1%}"


def render_text(result: RunResult) -> str:
    """The readable answer: value capture, margins vs the seed facts, moves, verdict."""
    s = result.summary
    out = [
        f"Who wins? {s.get('title', s['scenario'])}  "
        f"(scenario {s['scenario']}, {s['rounds']} rounds, seed {s['seed']})",
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
            "Value captured by layer (share of cumulative stack profit; share of final spend)",
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
                    ",".join(f["layers"]) or "(acquired)",
                    f["value_share"],
                    f["spend_share"],
                    f["gross_margin"],
                    f["operating_margin"],
                    f["strategy"],
                ]
                for f in firms
            ],  # fmt: skip
            "Value captured by firm (share of stack profit after stakes; share of final spend)",
        )
    )
    if s["calibration"]:
        out += [
            "",
            table(
                ["figure from the articles", "source", "target", "model", "residual"],
                [
                    [
                        c["figure"],
                        c["source"][:3],
                        c["target"],
                        c["model"],
                        None if c["residual"] is None else f"{c['residual'] * 100:+.1f} pp",
                    ]
                    for c in s["calibration"]
                ],  # fmt: skip
                "Margins next to the seed facts (../shared/STACK_FACTS.md)",
            ),
        ]
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
    happenings = s["triggers"] + s["events"]
    if happenings:
        out += ["", "Events:"]
        out += [
            f"  round {e['round']:>3}  {e['text']}"
            for e in sorted(happenings, key=lambda e: e["round"])
        ]
    out += ["", "Verdict: " + s["verdict"]]
    return "\n".join(out)


def write_tables(result: RunResult, folder: Path) -> list[Path]:
    """``summary.json``, per-round layer and firm tables (CSV and Parquet), the event log."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    p = folder / "summary.json"
    strict_json.write(p, result.summary)
    paths.append(p)
    for name, frame in (("layers", result.per_round()), ("firms", result.per_firm_round())):
        csv = folder / f"{name}.csv"
        frame.to_csv(csv, index=False)
        parquet = folder / f"{name}.parquet"
        frame.to_parquet(parquet, index=False)
        paths += [csv, parquet]
    log = folder / "log.csv"
    lines = ["round,kind,firm,text"] + [
        f'{e.round},{e.kind},{e.firm},"{e.text.replace(chr(34), chr(39))}"' for e in result.log
    ]
    log.write_text("\n".join(lines) + "\n")
    paths.append(log)
    return paths


def write_plots(result: RunResult, folder: Path) -> list[Path]:
    """Value share by layer over time, margins by layer, and the stack's money flows."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from stackgame.viz.layout import (
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
    return paths
