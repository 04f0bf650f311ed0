"""Plots of a tournament, in the manner of the Axelrod library's ``Plot`` class.

Score boxplot (per-repetition normalised scores, ranked), payoff heatmap, wins per
repetition, value share captured by strategy. Each function takes a
:class:`~stackgame.tournaments.results.TournamentResult` and returns a matplotlib Figure;
:func:`plot_all` writes them as PNG files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from stackgame.tournaments.results import TournamentResult


def _figure(n: int) -> tuple[Figure, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 0.6 * n + 2), 4.8), layout="constrained")
    return fig, fig.add_subplot()


def _title(result: TournamentResult, what: str) -> str:
    spec = result.spec
    where = f"{spec.game}" if not spec.is_stack else f"stack, seats {', '.join(spec.seats)}"
    return f"{what}\n{where}; {spec.repetitions} repetitions, seed {spec.seed}"


def score_boxplot(result: TournamentResult) -> Figure:
    """Distribution of per-repetition normalised scores, best-ranked first."""
    order = list(result.ranking["strategy"])
    fig, ax = _figure(len(order))
    data = [result.scores.loc[s].dropna().to_numpy(dtype=float) for s in order]
    ax.boxplot(data, tick_labels=order)
    ax.set_ylabel("normalised score" if result.spec.is_stack else "mean payoff per turn")
    ax.set_title(_title(result, "Scores"))
    ax.tick_params(axis="x", labelrotation=60)
    return fig


def payoff_heatmap(result: TournamentResult) -> Figure:
    """Row strategy's mean score against the column strategy (ranked order)."""
    order = list(result.ranking["strategy"])
    matrix = result.payoff_matrix.reindex(index=order, columns=order).to_numpy(dtype=float)
    fig, ax = _figure(len(order))
    im = ax.imshow(matrix, cmap="viridis", aspect="auto")
    finite = matrix[np.isfinite(matrix)]
    mid = float(finite.min() + 0.6 * (finite.max() - finite.min())) if finite.size else 0.0
    ax.set_xticks(range(len(order)), order, rotation=60, ha="right")
    ax.set_yticks(range(len(order)), order)
    for i in range(len(order)):
        for j in range(len(order)):
            if np.isfinite(matrix[i, j]):
                colour = "black" if matrix[i, j] > mid else "white"  # readable on viridis
                ax.text(
                    j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7, color=colour
                )
    fig.colorbar(im, ax=ax, label="row player's mean score")
    ax.set_title(_title(result, "Pairwise payoffs"))
    return fig


def wins_plot(result: TournamentResult) -> Figure:
    """Wins per repetition (boxplot), best-ranked first."""
    order = list(result.ranking["strategy"])
    fig, ax = _figure(len(order))
    data = [result.wins_by_repetition.loc[s].to_numpy(dtype=float) for s in order]
    ax.boxplot(data, tick_labels=order)
    ax.set_ylabel("wins per repetition")
    ax.set_title(_title(result, "Wins"))
    ax.tick_params(axis="x", labelrotation=60)
    return fig


def value_share_plot(result: TournamentResult) -> Figure:
    """Mean share of value captured by each strategy."""
    order = list(result.ranking["strategy"])
    shares = result.ranking.set_index("strategy").loc[order, "value_share"].to_numpy(float)
    fig, ax = _figure(len(order))
    ax.bar(range(len(order)), shares, color="tab:blue")
    ax.set_xticks(range(len(order)), order, rotation=60, ha="right")
    ax.set_ylabel(
        "firm's share of stack operating profit"
        if result.spec.is_stack
        else "share of the match's total payoff"
    )
    ax.set_title(_title(result, "Value share captured"))
    return fig


PLOTS = {
    "scores_boxplot": score_boxplot,
    "payoff_heatmap": payoff_heatmap,
    "wins": wins_plot,
    "value_share": value_share_plot,
}


def plot_all(result: TournamentResult, folder: str | Path) -> list[Path]:
    """Write every plot as ``<name>.png`` into ``folder``; return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fn in PLOTS.items():
        fig = fn(result)
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths
