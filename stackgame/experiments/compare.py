"""A what-if beside its baseline: the change in who wins the stack, with intervals.

``compare`` runs a baseline and a what-if (changed ``--set`` fields, ``--strategy``
swaps, or another scenario file) on the same seeds, ``root, root + 1, ..., root + K - 1``
(common random numbers: seed ``s`` of the what-if meets the same demand draws, regulator
draws and strategy draws as seed ``s`` of the baseline wherever the change does not
alter them, so the noise cancels in the paired difference). For every layer and firm it
reports the mean of each arm and the mean paired difference ``d = what-if - baseline``
with a Student-t interval,

    mean(d) +- t_{0.975, K-1} * sd(d) / sqrt(K),

for the value share (share of the stack's cumulative operating profit), the revenue
(cumulative, in the scenario's money unit: $ billions in ``ai-stack-2026``) and the
operating margin (operating profit over external revenue). Any pair ``(scenario, seed)``
is reproduced by ``stackgame run --scenario ... --seed s``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from stackgame.environment.scenario import Scenario
    from stackgame.simulation.simulate import RunResult

METRICS = ("value_share", "revenue", "operating_margin")
TOTALS = ("final_spend", "stack_profit", "lost_demand")
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: a scenario and the changes made to it.

    Attributes
    ----------
    scenario
        Built-in name, TOML path, or a :class:`~stackgame.environment.scenario.Scenario`.
    overrides
        Dotted scenario paths to values (``--set``).
    strategies
        Firm names to strategy names (``--strategy``).
    """

    scenario: str | Path | Scenario = "ai-stack-2026"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    strategies: Mapping[str, str] = field(default_factory=dict)

    def resolved(self) -> Scenario:
        """The scenario with the changes applied: validates names and values before work."""
        from stackgame.environment.scenario import apply_overrides, resolve

        base = resolve(self.scenario)
        changes = dict(self.overrides)
        for firm, strategy in self.strategies.items():
            base.firm(firm)
            changes[f"firms.{firm}.strategy"] = strategy
        return apply_overrides(base, changes) if changes else base

    def describe(self) -> dict[str, Any]:
        """JSON-ready: the scenario (name or path), its changes and its digest."""
        from stackgame.environment.scenario import resolve

        sc = resolve(self.scenario)
        source = self.scenario if isinstance(self.scenario, str | Path) else sc.name
        return {
            "scenario": str(source),
            "scenario_name": sc.name,
            "overrides": dict(self.overrides),
            "strategies": dict(self.strategies),
        }


def seeds_of(root: int, k: int) -> list[int]:
    """The common seeds of both arms: ``root, root + 1, ..., root + k - 1``."""
    return [root + i for i in range(k)]


def paired(base: Sequence[float], what: Sequence[float]) -> dict[str, Any]:
    """Means of each arm and the mean paired difference with its 95% t-interval.

    With one seed the interval is ``None``; when every difference is equal the interval
    has zero width.
    """
    from scipy import stats

    b = np.asarray(base, dtype=float)
    w = np.asarray(what, dtype=float)
    d = w - b
    k = d.size
    mean = float(d.mean())
    ci: list[float] | None = None
    if k > 1:
        sd = float(d.std(ddof=1))
        half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, k - 1)) * sd / math.sqrt(k)
        ci = [mean - half, mean + half]
    return {
        "baseline": float(b.mean()),
        "whatif": float(w.mean()),
        "change": mean,
        "ci": ci,
        "significant": ci is not None and (ci[0] > 0 or ci[1] < 0),
    }


def _rows(summary: Mapping[str, Any], level: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in summary[level]}


def compare(
    baseline: Arm,
    whatif: Arm,
    *,
    seeds: int = 8,
    seed: int = 0,
    rounds: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run both arms on common seeds and report the paired changes.

    Parameters
    ----------
    baseline, whatif
        The two arms.
    seeds
        Number of common seeds ``K`` (at least 1; 2 or more for intervals).
    seed
        The first seed; the arms run on ``seed, ..., seed + K - 1``.
    rounds
        Rounds of every run (default: each scenario's own).
    progress
        Show a progress bar of the ``2 K`` runs on stderr.

    Returns
    -------
    dict
        ``baseline``, ``whatif`` (the arms described), ``seeds``, ``rounds``,
        ``confidence``, ``layers`` and ``firms`` (one row per name present in both arms:
        ``name``, ``label`` for firms, and per metric of :data:`METRICS` a dict of
        ``baseline``, ``whatif``, ``change``, ``ci`` and ``significant``), ``totals``
        (the same per metric of :data:`TOTALS`) and ``only_in`` (layers or firms present
        in one arm only).
    """
    from tqdm import tqdm

    from stackgame.simulation.simulate import simulate

    if seeds < 1:
        raise ValueError(f"seeds: must be at least 1 (got {seeds})")
    if rounds is not None and rounds < 1:
        raise ValueError(f"rounds: must be at least 1 (got {rounds})")
    baseline.resolved()  # bad names or values fail here, before any run
    whatif.resolved()
    seed_list = seeds_of(seed, seeds)
    results: dict[str, list[RunResult]] = {"baseline": [], "whatif": []}
    bar = tqdm(total=2 * seeds, desc="compare runs", disable=not progress, file=sys.stderr)
    for s in seed_list:
        for key, arm in (("baseline", baseline), ("whatif", whatif)):
            results[key].append(
                simulate(
                    arm.scenario,
                    rounds=rounds,
                    seed=s,
                    strategies=dict(arm.strategies),
                    overrides=dict(arm.overrides),
                )
            )
            bar.update(1)
    bar.close()
    base = [r.summary for r in results["baseline"]]
    what = [r.summary for r in results["whatif"]]
    report: dict[str, Any] = {
        "baseline": baseline.describe() | {"scenario_hash": base[0]["scenario_hash"]},
        "whatif": whatif.describe() | {"scenario_hash": what[0]["scenario_hash"]},
        "seeds": seed_list,
        "rounds": {"baseline": base[0]["rounds"], "whatif": what[0]["rounds"]},
        "confidence": CONFIDENCE,
        "only_in": {"baseline": [], "whatif": []},
    }
    for level in ("layers", "firms"):
        b_names = list(_rows(base[0], level))
        w_names = list(_rows(what[0], level))
        names = [n for n in b_names if n in w_names]
        report["only_in"]["baseline"] += [n for n in b_names if n not in w_names]
        report["only_in"]["whatif"] += [n for n in w_names if n not in b_names]
        rows = []
        for name in names:
            row: dict[str, Any] = {"name": name}
            if level == "firms":
                row["label"] = _rows(base[0], level)[name]["label"]
            for metric in METRICS:
                row[metric] = paired(
                    [_rows(s, level)[name][metric] for s in base],
                    [_rows(s, level)[name][metric] for s in what],
                )
            rows.append(row)
        report[level] = rows
    report["totals"] = {
        key: paired([s[key] for s in base], [s[key] for s in what]) for key in TOTALS
    }
    return report


# -- text, files and plot ---------------------------------------------------------------


def _pp(x: float) -> str:
    return f"{x * 100:+.1f}"


def _ci_text(stats: Mapping[str, Any], scale: float, digits: int) -> str:
    ci = stats["ci"]
    if ci is None:
        return "-"
    return f"[{ci[0] * scale:+.{digits}f}, {ci[1] * scale:+.{digits}f}]"


def _table_rows(rows: Sequence[Mapping[str, Any]], label: str) -> list[list[str]]:
    out = []
    for r in rows:
        vs, rev, om = r["value_share"], r["revenue"], r["operating_margin"]
        star = "*" if vs["significant"] else " "
        out.append(
            [
                str(r.get(label, r["name"])),
                f"{vs['baseline']:.1%}",
                f"{vs['whatif']:.1%}",
                _pp(vs["change"]) + star,
                _ci_text(vs, 100, 1),
                f"{rev['change']:+,.1f}" + ("*" if rev["significant"] else " "),
                _ci_text(rev, 1, 1),
                _pp(om["change"]) + ("*" if om["significant"] else " "),
                _ci_text(om, 100, 1),
            ]
        )
    return out


HEADERS = [
    "",
    "baseline share",
    "what-if share",
    "change pp",
    "95% CI",
    "revenue change",
    "95% CI",
    "op. margin pp",
    "95% CI",
]


def _format(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = [
        "  ".join(
            (h.ljust(w) if i == 0 else h.rjust(w))
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        ).rstrip()
    ]
    line.append("  ".join("-" * w for w in widths))
    for r in rows:
        line.append(
            "  ".join(
                (c.ljust(w) if i == 0 else c.rjust(w))
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    return line


def _value(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def describe_change(report: Mapping[str, Any]) -> str:
    """The what-if in words: its changes, or the two scenarios."""
    b, w = report["baseline"], report["whatif"]
    parts = []
    if w["scenario"] != b["scenario"]:
        parts.append(f"{w['scenario']} instead of {b['scenario']}")
    parts += [f"{k}={_value(v)}" for k, v in w["overrides"].items()]
    parts += [f"{k} plays {v}" for k, v in w["strategies"].items()]
    return ", ".join(parts) or "no change"


def render(report: Mapping[str, Any]) -> str:
    """The comparison as text: one table by layer, one by firm, the totals."""
    seeds = report["seeds"]
    k = len(seeds)
    b = report["baseline"]
    rounds = report["rounds"]
    span = f"seeds {seeds[0]}..{seeds[-1]}" if k > 1 else f"seed {seeds[0]}"
    rnd = (
        f"{rounds['baseline']} rounds"
        if rounds["baseline"] == rounds["whatif"]
        else f"{rounds['baseline']}/{rounds['whatif']} rounds"
    )
    out = [
        f"What if {describe_change(report)}?",
        f"Baseline {b['scenario']}; {rnd}; {k} paired {span} (common random numbers).",
        "Value share: of the stack's cumulative operating profit. Revenue: cumulative, in",
        "the scenario's money unit ($B for ai-stack-2026). Change: what-if minus baseline,",
        f"mean over the seeds, {report['confidence']:.0%} t-interval; * marks an interval "
        "that excludes zero.",
        "",
        "By layer (top of the stack first)",
        *_format(["layer", *HEADERS[1:]], _table_rows(list(reversed(report["layers"])), "name")),
        "",
        "By firm",
        *_format(["firm", *HEADERS[1:]], _table_rows(report["firms"], "label")),
        "",
    ]
    t = report["totals"]
    for key, title in (("final_spend", "Final spend"), ("stack_profit", "Stack profit")):
        out.append(
            f"{title} {t[key]['baseline']:,.1f} -> {t[key]['whatif']:,.1f}: "
            f"{t[key]['change']:+,.1f} {_ci_text(t[key], 1, 1)}"
        )
    only = report["only_in"]
    if only["baseline"] or only["whatif"]:
        out.append(
            "Not compared (in one arm only): "
            + "; ".join(f"{arm}: {', '.join(names)}" for arm, names in only.items() if names)
        )
    return "\n".join(out)


def csv_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Long table: level, name, metric, baseline, whatif, change, ci_low, ci_high."""
    rows = []
    for level in ("layers", "firms"):
        for r in report[level]:
            for metric in METRICS:
                s = r[metric]
                rows.append(
                    {
                        "level": level[:-1],
                        "name": r["name"],
                        "metric": metric,
                        "baseline": s["baseline"],
                        "whatif": s["whatif"],
                        "change": s["change"],
                        "ci_low": None if s["ci"] is None else s["ci"][0],
                        "ci_high": None if s["ci"] is None else s["ci"][1],
                    }
                )
    for key, s in report["totals"].items():
        rows.append(
            {
                "level": "stack",
                "name": "stack",
                "metric": key,
                "baseline": s["baseline"],
                "whatif": s["whatif"],
                "change": s["change"],
                "ci_low": None if s["ci"] is None else s["ci"][0],
                "ci_high": None if s["ci"] is None else s["ci"][1],
            }
        )
    return rows


def plot(report: Mapping[str, Any], path: str | Path) -> Path:
    """Bars of the change by layer (top row) and by firm (bottom row), 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    panels = [
        ("value_share", "value share change (pp)", 100.0),
        ("revenue", "revenue change (money unit; $B in ai-stack-2026)", 1.0),
        ("operating_margin", "operating margin change (pp)", 100.0),
    ]
    levels = [
        ("by layer", list(reversed(report["layers"])), "name"),
        ("by firm", list(report["firms"]), "label"),
    ]
    n_firms = max(1, len(report["firms"]))
    fig = Figure(figsize=(15, 2.5 + 0.32 * (n_firms + len(report["layers"]))), dpi=110)
    heights = [max(1, len(report["layers"])), n_firms]
    axes = fig.subplots(2, 3, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for i, (level_title, rows, label) in enumerate(levels):
        names = [str(r.get(label, r["name"])) for r in rows]
        y = np.arange(len(rows))[::-1]
        for j, (metric, title, scale) in enumerate(panels):
            ax = axes[i][j]
            change = np.array([r[metric]["change"] * scale for r in rows])
            lo = np.array([(r[metric]["ci"] or [r[metric]["change"]] * 2)[0] * scale for r in rows])
            hi = np.array([(r[metric]["ci"] or [r[metric]["change"]] * 2)[1] * scale for r in rows])
            colours = ["#2b7bba" if c >= 0 else "#d9534f" for c in change]
            ax.barh(
                y,
                change,
                xerr=np.vstack([change - lo, hi - change]) if rows else None,
                color=colours,
                capsize=3,
                height=0.6,
            )
            ax.axvline(0, color="black", linewidth=0.6)
            ax.set_yticks(y, names if j == 0 else [""] * len(names), fontsize=8)
            ax.set_title(f"{title}, {level_title}", fontsize=9)
            ax.tick_params(axis="x", labelsize=8)
    k = len(report["seeds"])
    fig.suptitle(
        f"What if {describe_change(report)}?  what-if minus baseline, mean of {k} paired "
        f"seeds, 95% intervals",
        fontsize=10,
    )
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out
