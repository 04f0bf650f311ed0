"""Learning at the paper's scale: sessions of Q-learners run to convergence, and sweeps.

The protocol of Calvano, Calzolari, Denicolo and Pastorello (2020, "Artificial
intelligence, algorithmic pricing, and collusion", AER 110(10)): every firm of a
stationary stage game (their logit Bertrand duopoly is ``logit-bertrand-duopoly``) is a
Q-learner on the price grid; each *session* runs until no firm's greedy strategy has
changed for ``stable_periods`` consecutive periods (the paper: 100,000), or a cap; the
outcome is the cycle greedy play reaches from where the session stopped, and its
*profit gain* ``Delta = (pi - pi_N) / (pi_M - pi_N)``, averaged over the firms
(0: one-shot Bertrand-Nash profits, 1: joint-profit maximisation).

A spec is a tournament spec (``runs/calvano.toml``) with a ``[learning]`` table::

    [learning]
    stable_periods = 100000       # Calvano et al.'s stopping rule (0: play `turns`)
    q_init = "uniform_rival"      # Q0 of the paper's eq. (8); "first_payoff": the strategy's
    alpha = [0.05, 0.1, 0.15]     # optional: a grid of learning rates ...
    beta = [2e-6, 4e-6, 1e-5]     # ... and of exploration decays (the heat map)

``turns`` is the cap on a session's length and ``repetitions`` the number of sessions
(per grid point). Session ``r`` of grid point ``p`` is match ``p * repetitions + r`` of
the tournament's seed stream, with the firms' generators the model would give them, so
without a stopping rule and with ``q_init = "first_payoff"`` a session is exactly the
match ``stackgame tournament`` plays (through the model) for the same spec.
Sessions run in :func:`stackgame.tournaments.tabulated.play_q_session` (compiled, on
the tabulated stage game), on ``processes`` forked processes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stackgame.errors import UserError
from stackgame.stats import t_half_width
from stackgame.strategies.learners import QLearning
from stackgame.tournaments.tabulated import (
    Q_INITS,
    StageTable,
    TabulationError,
    match_generators,
    play_q_session,
    stage_table,
)

LEARNING_KEYS = ("stable_periods", "q_init", "alpha", "beta")


@dataclass(frozen=True)
class LearningProtocol:
    """How sessions are run and swept (the ``[learning]`` table of a spec).

    Attributes
    ----------
    stable_periods
        Stop a session once no greedy strategy changed for this many periods (0: play
        the tournament's ``turns``, which is otherwise the cap).
    q_init
        ``"uniform_rival"`` (Calvano et al.'s eq. 8) or ``"first_payoff"`` (the
        strategy's own rule).
    alpha, beta
        Grids of learning rates and exploration decays to sweep (empty: the strategy's
        parameter).
    """

    stable_periods: int = 0
    q_init: str = "first_payoff"
    alpha: tuple[float, ...] = ()
    beta: tuple[float, ...] = ()

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[learning]") -> LearningProtocol:
        """Validate a ``[learning]`` table; a :class:`UserError` names the field."""
        unknown = sorted(set(table) - set(LEARNING_KEYS))
        if unknown:
            raise UserError(
                f"{where}: unknown field(s) {', '.join(unknown)} "
                f"(known: {', '.join(LEARNING_KEYS)})"
            )
        stable = table.get("stable_periods", 0)
        if isinstance(stable, bool) or not isinstance(stable, int) or stable < 0:
            raise UserError(
                f"{where}.stable_periods: must be a non-negative integer, got {stable!r}"
            )
        q_init = table.get("q_init", "first_payoff")
        if q_init not in Q_INITS:
            raise UserError(f"{where}.q_init: must be one of {', '.join(Q_INITS)}, got {q_init!r}")
        grids = {}
        for key, low, high in (("alpha", 0.0, 1.0), ("beta", 0.0, math.inf)):
            values = table.get(key, [])
            if not isinstance(values, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values
            ):
                raise UserError(f"{where}.{key}: must be a list of numbers, got {values!r}")
            for v in values:
                if not (math.isfinite(v) and low < v and (v <= high if key == "alpha" else True)):
                    bound = "(0, 1]" if key == "alpha" else "(0, inf)"
                    raise UserError(f"{where}.{key}: {v!r} is not in {bound}")
            if len(set(values)) != len(values):
                raise UserError(f"{where}.{key}: a value is listed twice")
            grids[key] = tuple(float(v) for v in values)
        return cls(int(stable), str(q_init), grids["alpha"], grids["beta"])

    def points(self, base: QLearning) -> list[tuple[float, float]]:
        """The (alpha, beta) grid points, alpha-major (the strategy's values where no grid)."""
        alphas = self.alpha or (base.alpha,)
        betas = self.beta or (base.beta,)
        return [(a, b) for a in alphas for b in betas]


def check_spec(spec: Any) -> StageTable:
    """The tabulated stage game of a learning spec, or a :class:`UserError` saying why not."""
    if not spec.is_stack:
        raise UserError('[learning]: sessions are played on the stack (game = "stack")')
    if tuple(spec.strategies) != (QLearning.name,):
        raise UserError('[learning]: the strategies must be ["q_learning"] (every firm learns)')
    if spec.noise > 0 or spec.prob_end is not None:
        raise UserError("[learning]: sessions have no noise and no prob_end (turns is the cap)")
    try:
        table = stage_table(spec.scenario or "ai-stack-2026")
    except TabulationError as err:
        raise UserError(f"[learning]: {err}") from None
    if sorted(spec.seats) != sorted(table.firms):
        raise UserError(
            f"[learning]: seats must be every firm of the scenario ({', '.join(table.firms)})"
        )
    return table


def _session_row(
    spec: Any,
    protocol: LearningProtocol,
    table: StageTable,
    task: tuple[int, int, int, float, float],
) -> dict[str, Any]:
    index, point, repetition, alpha, beta = task
    from stackgame.tournaments.tournament import match_seed

    seed = match_seed(spec.seed, index)
    params = dict(spec.strategy_params.get(QLearning.name, {}))
    params.update(alpha=alpha, beta=beta)
    learners = [QLearning(**params) for _ in table.firms]
    _, rngs = match_generators(seed, len(table.firms), None, spec.turns)
    start = time.process_time()
    s = play_q_session(
        table, learners, rngs, int(spec.turns), stable=protocol.stable_periods,
        score_last=spec.score_last, q_init=protocol.q_init,
    )  # fmt: skip
    row: dict[str, Any] = {
        "point": point, "session": repetition, "seed": seed, "alpha": alpha, "beta": beta,
        "periods": s.periods, "converged": s.converged, "cycle_length": len(s.cycle),
    }  # fmt: skip
    for i, firm in enumerate(table.firms):
        row[f"payoff_{firm}"] = s.payoffs[i]
        row[f"cycle_payoff_{firm}"] = s.cycle_payoffs[i]
    row["cpu_seconds"] = time.process_time() - start
    return row


def _play_share(
    args: tuple[Any, LearningProtocol, StageTable, list[tuple[int, int, int, float, float]]],
) -> list[dict[str, Any]]:
    spec, protocol, table, tasks = args
    return [_session_row(spec, protocol, table, t) for t in tasks]


def play_sessions(
    spec: Any, protocol: LearningProtocol, *, processes: int = 1, progress: bool = False
) -> Any:
    """Play every session of a learning spec; one row per session (a DataFrame).

    Columns: ``point``, ``session``, ``seed``, ``alpha``, ``beta``, ``periods``,
    ``converged``, ``cycle_length``, per firm ``payoff_<firm>`` (mean over the last
    ``score_last`` periods, or all) and ``cycle_payoff_<firm>`` (over the greedy cycle),
    and ``cpu_seconds``.
    """
    import multiprocessing as mp

    import pandas as pd

    table = check_spec(spec)
    base = spec.make(QLearning.name)
    points = protocol.points(base)
    reps = spec.repetitions
    tasks = [(p * reps + r, p, r, a, b) for p, (a, b) in enumerate(points) for r in range(reps)]
    # compile (or load) the kernel here, once, before any fork: a ten-period session
    warm = [QLearning(**spec.strategy_params.get(QLearning.name, {})) for _ in table.firms]
    play_q_session(table, warm, match_generators(0, len(table.firms), None, 10)[1], 10)
    n_chunks = max(1, min(len(tasks), processes * 16))
    # interleaved chunks: every chunk gets sessions from every grid point (similar cost)
    chunks = [tasks[c::n_chunks] for c in range(n_chunks)]
    rows: list[dict[str, Any]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc="sessions", unit="session", leave=False)
    try:
        if processes == 1 or "fork" not in mp.get_all_start_methods():
            for chunk in chunks:
                rows.extend(_play_share((spec, protocol, table, chunk)))
                if bar is not None:
                    bar.update(len(chunk))
        else:
            with mp.get_context("fork").Pool(processes) as pool:
                for out in pool.imap_unordered(
                    _play_share, [(spec, protocol, table, c) for c in chunks]
                ):
                    rows.extend(out)
                    if bar is not None:
                        bar.update(len(out))
    finally:
        if bar is not None:
            bar.close()
    return pd.DataFrame(rows).sort_values(["point", "session"], ignore_index=True)


def _distribution(x: np.ndarray) -> dict[str, float | None]:
    """Mean, sd, a 95% interval for the mean, and quantiles (``None`` when empty)."""
    if len(x) == 0:
        return dict.fromkeys(("mean", "sd", "ci_low", "ci_high", "min", "p5", "p25",
                              "median", "p75", "p95", "max"))  # fmt: skip
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if len(x) > 1 else 0.0
    half = float(t_half_width(x)) if len(x) > 1 else 0.0
    q = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half,
        "min": float(x.min()), "p5": float(q[0]), "p25": float(q[1]), "median": float(q[2]),
        "p75": float(q[3]), "p95": float(q[4]), "max": float(x.max()),
    }  # fmt: skip


def add_profit_gains(sessions: Any, firms: Sequence[str], nash: float, monopoly: float) -> None:
    """Add ``profit_gain`` (greedy cycle) and ``profit_gain_last`` (scored periods) columns.

    ``Delta = (pi - pi_N) / (pi_M - pi_N)`` averaged over the firms.
    """
    if monopoly <= nash:
        raise UserError("[calvano]: monopoly_profit must exceed nash_profit")
    span = monopoly - nash
    cycle = np.mean([sessions[f"cycle_payoff_{f}"] for f in firms], axis=0)
    last = np.mean([sessions[f"payoff_{f}"] for f in firms], axis=0)
    sessions["profit_gain"] = (cycle - nash) / span
    sessions["profit_gain_last"] = (last - nash) / span


def summarise(sessions: Any, paper: Mapping[str, Any]) -> dict[str, Any]:
    """The distributions of profit gains and convergence times, overall and per grid point."""
    out: dict[str, Any] = {
        "sessions": len(sessions),
        "converged": int(sessions["converged"].sum()),
        "profit_gain": _distribution(sessions["profit_gain"].to_numpy(float)),
        "profit_gain_last": _distribution(sessions["profit_gain_last"].to_numpy(float)),
        "periods": _distribution(sessions["periods"].to_numpy(float)),
        "cycle_length": _distribution(sessions["cycle_length"].to_numpy(float)),
        "paper": dict(paper),
    }
    grid = []
    for (point, alpha, beta), g in sessions.groupby(["point", "alpha", "beta"], sort=True):
        grid.append({
            "point": int(point), "alpha": float(alpha), "beta": float(beta),
            "sessions": len(g), "converged": int(g["converged"].sum()),
            "profit_gain": float(g["profit_gain"].mean()),
            "profit_gain_sd": float(g["profit_gain"].std(ddof=1)) if len(g) > 1 else 0.0,
            "periods": float(g["periods"].mean()),
        })  # fmt: skip
    out["grid"] = grid
    return out


def summary_text(summary: Mapping[str, Any], elapsed: float, processes: int) -> str:
    """The report printed after a run: distributions next to the paper's figures."""
    g, p, paper = summary["profit_gain"], summary["periods"], summary["paper"]
    lines = [
        f"{summary['sessions']} sessions, {summary['converged']} converged, "
        f"in {elapsed:.0f} s on {processes} process(es)",
        "",
        f"{'':28}"
        + "".join(f"{h:>11}" for h in ("mean", "sd", "p5", "p25", "median", "p75", "p95"))
        + "   paper",  # fmt: skip
    ]

    def row(label: str, d: Mapping[str, Any], fmt: str, ref: Any) -> str:
        cells = "".join(f"{d[k]:>11{fmt}}" if d[k] is not None else f"{'-':>11}"
                        for k in ("mean", "sd", "p5", "p25", "median", "p75", "p95"))  # fmt: skip
        return f"{label:28}{cells}   {ref if ref is not None else '-'}"

    lines.append(row("profit gain (greedy cycle)", g, ".3f", paper.get("profit_gain")))
    lines.append(row("profit gain (last periods)", summary["profit_gain_last"], ".3f", None))
    periods = paper.get("periods")
    lines.append(row("periods to convergence", p, ",.0f", f"{periods:,}" if periods else None))
    if len(summary["grid"]) > 1:
        lines += ["", "mean profit gain by (alpha, beta):"]
        betas = sorted({c["beta"] for c in summary["grid"]})
        alphas = sorted({c["alpha"] for c in summary["grid"]})
        cell = {(c["alpha"], c["beta"]): c["profit_gain"] for c in summary["grid"]}
        lines.append(f"{'alpha/beta':>12}" + "".join(f"{b:>9.1e}" for b in betas))
        for a in alphas:
            lines.append(f"{a:>12.3f}" + "".join(f"{cell[a, b]:>9.3f}" for b in betas))
    return "\n".join(lines)


def heat_map(summary: Mapping[str, Any], path: Path) -> Path:
    """Calvano et al.'s Figure 1 redrawn: mean profit gain over the (alpha, beta) grid."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    grid = summary["grid"]
    alphas = sorted({c["alpha"] for c in grid})
    betas = sorted({c["beta"] for c in grid})
    z = np.full((len(alphas), len(betas)), np.nan)
    for c in grid:
        z[alphas.index(c["alpha"]), betas.index(c["beta"])] = c["profit_gain"]
    fig = Figure(figsize=(7.0, 5.6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(betas)), [f"{b * 1e5:.2g}" for b in betas])
    ax.set_yticks(range(len(alphas)), [f"{a:.3g}" for a in alphas])
    ax.set_xlabel("exploration decay beta x 10^5")
    ax.set_ylabel("learning rate alpha")
    for i in range(len(alphas)):
        for j in range(len(betas)):
            ax.text(j, i, f"{z[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(image, ax=ax, label="average profit gain Delta")
    n = grid[0]["sessions"] if grid else 0
    ax.set_title(f"Profit gain over (alpha, beta), {n} sessions per cell")
    fig.savefig(path, dpi=110)
    return path


def run_spec(args: Any, spec: Any, extra: Mapping[str, Any]) -> int:
    """``stackgame tournament --spec FILE`` for a spec with a ``[learning]`` table."""
    import sys

    from stackgame import strict_json
    from stackgame.manifest import output_dir, output_name, write_manifest

    protocol = LearningProtocol.from_table(extra["learning"])
    calvano = dict(extra.get("calvano", {}))
    for key in ("nash_profit", "monopoly_profit"):
        if not isinstance(calvano.get(key), int | float):
            raise UserError(f"[calvano].{key}: a learning spec needs it (a number)")
    table = check_spec(spec)
    stem = Path(args.spec).stem
    out = output_dir(args.out, output_name(stem, spec.seed))
    start = time.perf_counter()
    sessions = play_sessions(
        spec, protocol, processes=args.processes, progress=not getattr(args, "no_progress", False)
    )
    elapsed = time.perf_counter() - start
    add_profit_gains(sessions, table.firms, float(calvano["nash_profit"]),
                     float(calvano["monopoly_profit"]))  # fmt: skip
    paper = {
        "profit_gain": calvano.get("paper_profit_gain"),
        "periods": calvano.get("paper_periods"),
    }
    summary = strict_json.finite_or_none(summarise(sessions, paper))
    summary["spec"] = spec.to_dict()
    summary["learning"] = {
        "stable_periods": protocol.stable_periods, "q_init": protocol.q_init,
        "alpha": list(protocol.alpha), "beta": list(protocol.beta),
    }  # fmt: skip
    sessions.drop(columns=["cpu_seconds"]).to_csv(out / "sessions.csv", index=False)
    strict_json.write(out / "learning.json", summary, sort_keys=True)
    if len(summary["grid"]) > 1 and not args.no_plots:
        heat_map(summary, out / "heat_map.png")
    write_manifest(out, seed=spec.seed, tournament=spec.to_dict(), learning=summary["learning"],
                   sessions=len(sessions))  # fmt: skip
    if args.json:
        summary["elapsed_seconds"] = elapsed
        sys.stdout.write(strict_json.dumps(summary, indent=None, sort_keys=True) + "\n")
    else:
        print(summary_text(summary, elapsed, args.processes))
        print(f"wrote {out}")
    return 0
