"""Summarise a batch: tables, each metric against each varied parameter, sensitivity indices.

``stackgame report DIR`` reads ``DIR/manifest.json`` and the Parquet dataset
``DIR/runs/`` written by ``stackgame batch`` and writes, under ``DIR/report/``:

- ``summary.md`` and ``summary.json``: run counts by status, the failed runs and their
  errors, each metric's mean, standard deviation and range over the finished runs, and per
  varied parameter either the metric means at each value (a parameter with at most 12
  values) or the Spearman rank correlation of metric and parameter (a continuous one);
- ``figure.png``: the headline figure, the spec's ``report.headline`` metrics (default:
  the value share of each layer) against ``report.x`` (default: the first parameter),
  mean and one standard deviation over replicates, one panel per value of
  ``report.facet`` if the spec names one;
- ``metric-<name>.png``: each metric against each varied parameter;
- for a Sobol design, first-order and total Sobol indices (Saltelli 2010 estimators,
  SALib ``sobol.analyze``); for a Morris design, the elementary effects' ``mu*`` and
  ``sigma`` (Campolongo et al. 2007, SALib ``morris.analyze``), with bootstrap confidence
  intervals, in ``sensitivity.csv`` and ``sensitivity.png``. Inputs are on the unit
  interval (each parameter's whole range is 1), so Morris effects compare across
  parameters. Replicates are averaged per design point first; a metric with a failed run
  gets no indices (the report says so).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stackgame import strict_json
from stackgame.errors import UserError

__all__ = ["BatchData", "load_batch", "make_report", "sensitivity", "summary_tables"]

NON_METRICS = {"run_id", "seed", "status", "error", "elapsed_seconds", "design_point", "replicate"}
MAX_LEVELS = 12


@dataclass
class BatchData:
    """A finished (or partial) batch read back from disk.

    Attributes
    ----------
    folder
        The batch's output folder.
    manifest
        ``manifest.json``.
    runs
        One row per recorded run (sorted by ``run_id``).
    parameters
        The varied parameters' dotted paths.
    metrics
        The numeric metric columns.
    """

    folder: Path
    manifest: dict[str, Any]
    runs: pd.DataFrame
    parameters: list[str]
    metrics: list[str]

    @property
    def ok(self) -> pd.DataFrame:
        """The runs that finished."""
        return self.runs[self.runs["status"] == "ok"]


def load_batch(folder: str | Path) -> BatchData:
    """Read a batch folder written by ``stackgame batch``.

    Raises
    ------
    UserError
        If the folder, its manifest or its runs are missing.
    """
    from stackgame.experiments.executor import ResultStore

    folder = Path(folder)
    path = folder / "manifest.json"
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder (give the --out folder of stackgame batch)")
    if not path.exists():
        raise UserError(f"{folder}: no manifest.json here; is it a stackgame batch folder?")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: malformed JSON ({err.msg})") from None
    if "runs_total" not in manifest or "parameters" not in manifest:
        raise UserError(f"{path}: not a batch manifest (no runs_total or parameters)")
    runs = ResultStore(folder / "runs").read()
    if runs.empty:
        raise UserError(f"{folder}/runs: no runs recorded yet; run stackgame batch first")
    parameters = [p for p in manifest["parameters"] if p in runs.columns]
    metrics = [
        c
        for c in runs.columns
        if c not in NON_METRICS
        and c not in parameters
        and pd.api.types.is_numeric_dtype(runs[c])
        and not pd.api.types.is_bool_dtype(runs[c])
    ]
    return BatchData(folder, manifest, runs, parameters, metrics)


# -- tables --------------------------------------------------------------------------------


def _is_discrete(series: pd.Series) -> bool:
    return bool(series.nunique(dropna=True) <= MAX_LEVELS or not _numeric(series))


def _numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def summary_tables(data: BatchData) -> dict[str, pd.DataFrame]:
    """Compute the report's tables.

    Returns
    -------
    dict of DataFrame
        ``status`` (runs by status), ``failed`` (up to 20 failed runs with their
        error), ``metrics`` (mean, sd, min, max and count of each metric over finished
        runs), and per parameter ``by:<path>`` (metric means at each value) or
        ``spearman`` (rank correlation of each metric with each continuous parameter).
    """
    runs, ok = data.runs, data.ok
    tables: dict[str, pd.DataFrame] = {}
    counts = runs["status"].value_counts().reindex(["ok", "error", "timeout"], fill_value=0)
    status = counts.rename("runs").to_frame()
    status.loc["missing"] = max(0, int(data.manifest["runs_total"]) - len(runs))
    tables["status"] = status
    failed = runs[runs["status"] != "ok"]
    if len(failed):
        cols = ["run_id", "status", *data.parameters, "error"]
        tables["failed"] = failed[cols].head(20).reset_index(drop=True)
    if data.metrics:
        m = ok[data.metrics]
        tables["metrics"] = pd.DataFrame(
            {"mean": m.mean(), "sd": m.std(ddof=1), "min": m.min(), "max": m.max(), "n": m.count()}
        )
    spearman: dict[str, pd.Series] = {}
    for p in data.parameters:
        if not data.metrics or ok.empty:
            break
        if _is_discrete(runs[p]):
            table = ok.groupby(p, sort=True)[data.metrics].mean().T
            table.columns = [f"{p}={v}" for v in table.columns]
            tables[f"by:{p}"] = table
        else:
            x = ok[p].rank()
            spearman[p] = ok[data.metrics].rank().corrwith(x)
    if spearman:
        tables["spearman"] = pd.DataFrame(spearman)
    return tables


def sensitivity(data: BatchData, seed: int = 0) -> tuple[pd.DataFrame | None, list[str]]:
    """Sobol or Morris indices of each metric, when the design is one of those.

    Parameters
    ----------
    data
        The batch.
    seed
        Seed of the bootstrap confidence intervals.

    Returns
    -------
    (DataFrame or None, list of str)
        One row per metric and parameter (``S1``, ``S1_conf``, ``ST``, ``ST_conf`` for
        Sobol; ``mu_star``, ``mu_star_conf``, ``sigma``, ``mu`` for Morris), and notes on
        metrics left out.
    """
    from stackgame.experiments.batch import POINT_COLUMN, _flatten_parameters, parse_spec

    design = data.manifest.get("design")
    if design not in ("sobol", "morris") or not data.metrics:
        return None, []
    spec_file = Path(str(data.manifest.get("spec_file", ".")))
    raw = dict(data.manifest["spec"])
    flat = dict(_flatten_parameters(raw.get("parameters", {})))
    # the manifest's JSON sorts keys; the design's column order is the spec's
    raw["parameters"] = {p: flat[p] for p in data.manifest["parameters"]}
    spec = parse_spec(
        raw,
        source=str(spec_file),
        base=spec_file.parent,
        seed=int(data.manifest["root_seed"]),
        check=False,
    )
    x = spec.unit_sample()
    problem = spec.problem()
    notes: list[str] = []
    by_point = data.runs.groupby(POINT_COLUMN)
    bad_points = by_point["status"].apply(lambda s: bool((s != "ok").any()))
    means = by_point[data.metrics].mean()
    if len(means) != len(x) or bad_points.any():
        missing = len(x) - len(means) + int(bad_points.sum())
        notes.append(
            f"no sensitivity indices: {missing} of {len(x)} design points lack a finished run"
        )
        return None, notes
    rows = []
    for metric in data.metrics:
        y = means[metric].to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            notes.append(f"{metric}: left out (a design point has no value)")
            continue
        if np.ptp(y) == 0:
            notes.append(f"{metric}: left out (constant over the design)")
            continue
        if design == "sobol":
            from SALib.analyze import sobol

            res = sobol.analyze(
                problem, y, calc_second_order=spec.second_order, print_to_console=False, seed=seed
            )
            keys = ("S1", "S1_conf", "ST", "ST_conf")
        else:
            from SALib.analyze import morris

            res = morris.analyze(
                problem, x, y, num_levels=spec.levels, print_to_console=False, seed=seed
            )
            keys = ("mu_star", "mu_star_conf", "sigma", "mu")
        for k, name in enumerate(problem["names"]):
            rows.append(
                {"metric": metric, "parameter": name, **{key: float(res[key][k]) for key in keys}}
            )
    return (pd.DataFrame(rows) if rows else None), notes


# -- plots ---------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _against(
    ax: Any,
    ok: pd.DataFrame,
    param: str,
    metric: str,
    label: str | None = None,
    interval: str = "sd",
) -> None:
    """One metric against one parameter: mean and sd (or 95% CI) per value, or a scatter."""
    col = ok[param]
    if _is_discrete(col):
        g = ok.groupby(param, sort=True)[metric].agg(["mean", "std", "count"])
        xs: Any = g.index.to_numpy()
        if not _numeric(col):
            xs = np.arange(len(g))
            ax.set_xticks(xs, [str(v) for v in g.index], rotation=20, ha="right")
        err = g["std"].fillna(0)
        if interval == "ci95":
            from scipy import stats

            n = g["count"].to_numpy(dtype=float)
            t = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)), 0.0)
            err = err * t / np.sqrt(np.maximum(n, 1))
        ax.errorbar(xs, g["mean"], yerr=err, marker="o", capsize=3, label=label)
    else:
        ax.scatter(col, ok[metric], s=8, alpha=0.6, label=label)


def plot_metrics(data: BatchData, folder: Path, progress: bool = False) -> list[Path]:
    """Write one figure per metric, one panel per varied parameter."""
    import sys

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tqdm import tqdm

    written = []
    ok = data.ok
    n = len(data.parameters)
    bar = tqdm(data.metrics, desc="figures", disable=not progress, delay=1.0, file=sys.stderr)
    for metric in bar:
        fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.2), squeeze=False, sharey=True)
        for ax, param in zip(axes[0], data.parameters, strict=True):
            _against(ax, ok, param, metric)
            ax.set_xlabel(param)
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(metric)
        fig.suptitle(f"{metric} (mean and sd over replicates)", fontsize=10)
        fig.tight_layout()
        path = folder / f"metric-{_slug(metric)}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def headline_metrics(data: BatchData) -> list[str]:
    """Pick the headline figure's metrics: ``report.headline``, else the layer shares."""
    import fnmatch

    spec = data.manifest.get("spec", {})
    patterns = spec.get("report", {}).get("headline") or ["value_share.layer.*"]
    chosen = [m for m in data.metrics if any(fnmatch.fnmatchcase(m, p) for p in patterns)]
    return chosen or data.metrics[:6]


def plot_headline(data: BatchData, folder: Path) -> Path | None:
    """Write ``figure.png``: the headline metrics against the headline parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = data.manifest.get("spec", {})
    x = spec.get("report", {}).get("x") or (data.parameters[0] if data.parameters else None)
    metrics = headline_metrics(data)
    if x is None or not metrics or data.ok.empty:
        return None
    facet = spec.get("report", {}).get("facet")
    ok = data.ok
    options = spec.get("report", {})
    interval = options.get("interval", "sd")
    groups: list[tuple[str, pd.DataFrame]] = [("", ok)]
    if facet and facet in ok.columns and facet != x:
        groups = [(f"{facet} = {v}", g) for v, g in ok.groupby(facet, sort=True)]
    n = len(groups)
    # Constrained layout makes room for the legend beside the axes, where it covers no point.
    fig, axes = plt.subplots(
        1, n, figsize=(6.5 * n + 2.5, 4.4), squeeze=False, sharey=True, layout="constrained"
    )
    for ax, (label, frame) in zip(axes[0], groups, strict=True):
        for metric in metrics:
            _against(ax, frame, x, metric, label=metric, interval=interval)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        if label:
            ax.set_title(label, fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="outside right upper")
    if options.get("ylabel"):
        axes[0][0].set_ylabel(options["ylabel"])
        for ax in axes[0]:
            ax.axhline(0, color="black", linewidth=0.6)
    title = spec.get("report", {}).get("title") or spec.get("batch", {}).get("name", "batch")
    n_rep = data.manifest.get("replicates", 1)
    bars = "95% t-interval of the mean" if interval == "ci95" else "sd"
    fig.suptitle(f"{title}\n(mean and {bars} over {n_rep} replicate(s) per point)", fontsize=10)
    path = folder / "figure.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_sensitivity(table: pd.DataFrame, design: str, metrics: list[str], folder: Path) -> Path:
    """Write ``sensitivity.png``: total Sobol indices or Morris mu* per parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key, conf = ("ST", "ST_conf") if design == "sobol" else ("mu_star", "mu_star_conf")
    shown = [m for m in metrics if m in set(table["metric"])] or list(table["metric"].unique())[:6]
    params = list(dict.fromkeys(table["parameter"]))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(params) * len(shown) ** 0.5), 4))
    width = 0.8 / len(shown)
    for k, metric in enumerate(shown):
        t = table[table["metric"] == metric].set_index("parameter").reindex(params)
        xs = np.arange(len(params)) + k * width
        ax.bar(xs, t[key], width, yerr=t[conf], capsize=2, label=metric)
    ax.set_xticks(np.arange(len(params)) + 0.4 - width / 2, params, rotation=15, ha="right")
    ax.set_ylabel("total Sobol index ST" if design == "sobol" else "Morris mu* (per full range)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = folder / "sensitivity.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# -- the whole report ------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        return f"{value:.4g}"
    return str(value)


def markdown(table: pd.DataFrame, index: bool = True) -> str:
    """Format a pandas table as a GitHub-flavoured Markdown table."""
    df = table.rename_axis(str(table.index.name or "metric")).reset_index() if index else table
    header = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in df.itertuples(index=False):
        cells = [_fmt(v).replace("|", "\\|").replace("\n", " ") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _jsonable(table: pd.DataFrame) -> Any:
    return json.loads(table.to_json(orient="split", double_precision=10))


def make_report(
    folder: str | Path,
    out: str | Path | None = None,
    *,
    seed: int = 0,
    plots: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Write the report of a batch and return it as a JSON-ready dict.

    Parameters
    ----------
    folder
        The batch folder (``--out`` of ``stackgame batch``).
    out
        Where to write (default ``folder/report``).
    seed
        Seed of the bootstrap confidence intervals of the sensitivity indices.
    plots
        Also write the figures.
    progress
        Show a progress bar of the figures on stderr (shown after a second).

    Returns
    -------
    dict
        ``batch`` (name, design, parameters, runs_total, recorded), ``tables`` (each in
        pandas' ``split`` orientation), ``sensitivity``, ``notes``, ``files``.
    """
    data = load_batch(folder)
    target = Path(out) if out is not None else data.folder / "report"
    target.mkdir(parents=True, exist_ok=True)
    tables = summary_tables(data)
    sens, notes = sensitivity(data, seed=seed)
    files: list[Path] = []
    if plots:
        head = plot_headline(data, target)
        if head is not None:
            files.append(head)
        files.extend(plot_metrics(data, target, progress=progress))
        if sens is not None:
            files.append(
                plot_sensitivity(sens, data.manifest["design"], headline_metrics(data), target)
            )
    if sens is not None:
        sens.to_csv(target / "sensitivity.csv", index=False)
        files.append(target / "sensitivity.csv")
    spec = data.manifest.get("spec", {})
    name = spec.get("batch", {}).get("name") or data.folder.name
    recorded = len(data.runs)
    md = [
        f"# Batch report: {name}",
        "",
        f"Spec `{data.manifest.get('spec_file')}`, design {data.manifest.get('design')}, "
        f"root seed {data.manifest.get('root_seed')}, {recorded} of "
        f"{data.manifest['runs_total']} runs recorded; varied: "
        + ", ".join(f"`{p}`" for p in data.parameters)
        + ".",
        "",
    ]
    for key, table in tables.items():
        title = {
            "status": "Runs by status",
            "failed": "Failed runs (first 20)",
            "metrics": "Metrics over finished runs",
            "spearman": "Spearman rank correlation of each metric with each continuous parameter",
        }.get(key, f"Metric means by `{key[3:]}`")
        md += [f"## {title}", "", markdown(table, index=key != "failed"), ""]
    if sens is not None:
        md += ["## Sensitivity indices", "", markdown(sens, index=False), ""]
    for note in notes:
        md.append(f"- {note}")
    if plots:
        md += ["", "## Figures", ""] + [f"- `{p.name}`" for p in files if p.suffix == ".png"]
    (target / "summary.md").write_text("\n".join(md) + "\n")
    report = {
        "batch": {
            "name": name,
            "design": data.manifest.get("design"),
            "parameters": data.parameters,
            "metrics": data.metrics,
            "runs_total": data.manifest["runs_total"],
            "recorded": recorded,
            "spec_hash": data.manifest.get("spec_hash"),
        },
        "tables": {k: _jsonable(v) for k, v in tables.items()},
        "sensitivity": None if sens is None else _jsonable(sens),
        "notes": notes,
        "files": sorted(str(p.relative_to(target)) for p in files) + ["summary.md", "summary.json"],
    }
    strict_json.write(target / "summary.json", report, sort_keys=True)
    report["markdown"] = "\n".join(md)
    report["folder"] = str(target)
    return report
