"""What a tournament produced: ranking with confidence intervals, payoff matrix, tests.

Built from one row per match (:mod:`stackgame.tournaments.tournament`) by
:meth:`TournamentResult.from_matches`. The unit of analysis is a *play*: one strategy in
one seat of one match. Definitions:

Score
    Matrix games: the player's mean payoff per turn, as in the Axelrod library. The
    stack: the seat's firm's discounted value per round at the tournament's discount rate
    (:meth:`RunResult.discounted_payoffs`, ``docs/MODEL.md`` 21; the mean value per round
    when the rate is 0; the per-seat table also reports the undiscounted ``mean_payoff``
    and the ``present_value``), *normalised per seat* by min-max over the whole tournament,
    ``(x - min_seat) / (max_seat - min_seat)``, so 0 is the worst and 1 the best outcome
    that seat saw under any strategy profile. Seats of very different size (Nvidia
    against a start-up lab) then compare, and the scale does not break when a seat's
    payoffs are negative or near zero (dividing by the seat's mean would); a seat whose
    payoff never varies scores 0.5. The raw payoffs stay in the per-seat tables.
Normalised score per repetition
    The mean score of the strategy's plays in that repetition; in a matrix game
    self-play is excluded, as in Axelrod (``ResultSet.normalised_scores``). The ranking
    sorts by its median over repetitions (Axelrod's ranking), then by the mean.
Wins
    Matrix games: matches won on total payoff, self-play excluded (Axelrod). The stack:
    matches in which the seat's normalised score is strictly above every other contested
    seat's; with a single contested seat, repetitions in which the strategy's payoff was
    strictly the highest of all strategies in that seat.
Restraint rate, integration rate, value share
    Share of turns (rounds) restrained; share of matches with an integration move (the
    stack); share of value captured: in a matrix game the player's share of the two
    players' total payoff, on the stack the firm's share of cumulative stack operating
    profit.
Payoff matrix
    ``payoff_matrix.loc[a, b]``: mean score of ``a`` in plays against ``b`` (matrix
    games, per turn; the diagonal is self-play, the mean of both players' per-turn scores,
    as Axelrod computes it); on the stack, the mean normalised score of ``a`` in a seat
    while ``b`` holds another contested seat.
Confidence intervals
    A 95% Student-t interval for the mean of the per-repetition normalised scores, and a
    95% percentile bootstrap interval (2,000 resamples of repetitions, seeded from the
    root seed) for their median.
Pairwise tests
    For every pair of strategies, Welch's two-sample t test and the two-sample
    Kolmogorov-Smirnov test on their per-repetition normalised scores (the tests the
    supply-chain management league, SCML, reports), with Holm's step-down adjustment for
    the number of pairs. Two constant samples are identical (p = 1) or different (p = 0).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from stackgame import seeds
from stackgame.stats import t_interval
from stackgame.tournaments.spec import scoring

if TYPE_CHECKING:
    from stackgame.tournaments.spec import Schedule, TournamentSpec

BOOTSTRAP_RESAMPLES = 2000


@dataclass
class TournamentResult:
    """Tables of a played tournament.

    Attributes
    ----------
    spec
        The tournament that was played.
    matches
        One row per match (seed, profile, status, per-seat outcomes).
    plays
        One row per strategy per seat per match (score, win, rates).
    ranking
        One row per strategy, best first.
    payoff_matrix
        Strategies by strategies (see the module docstring).
    per_seat
        On the stack, one row per seat and strategy (raw payoff, normalised score,
        rates); empty for matrix games.
    pairwise
        Pairwise tests between strategies.
    scores
        Per-repetition normalised scores: strategies by repetitions.
    wins_by_repetition
        Wins per repetition: strategies by repetitions.
    profiles_total, profiles_played
        Size of the full round robin and how many profiles were played.
    elapsed_seconds
        Time spent playing and summarising (not start-up).
    """

    spec: TournamentSpec
    matches: pd.DataFrame
    plays: pd.DataFrame
    ranking: pd.DataFrame
    payoff_matrix: pd.DataFrame
    per_seat: pd.DataFrame
    pairwise: pd.DataFrame
    scores: pd.DataFrame
    wins_by_repetition: pd.DataFrame
    profiles_total: int
    profiles_played: int
    elapsed_seconds: float = 0.0
    play_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_matches(
        cls, spec: TournamentSpec, matches: pd.DataFrame, schedule: Schedule
    ) -> TournamentResult:
        """Summarise match rows (as written by the engine or read back from a store)."""
        matches = matches.sort_values("index", kind="stable").reset_index(drop=True)
        notes = []
        scored = (matches["status"] == "ok").to_numpy() if "status" in matches else None
        if scored is not None and not scored.all():
            counts = matches[~scored]["status"].value_counts().to_dict()
            notes.append(
                "matches not scored: "
                + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                + " (listed in matches with their error)"
            )
        ok = matches[scored] if scored is not None else matches
        if not spec.is_stack and len(spec.strategies) == 1:
            notes.append(
                "one strategy: only self-play was played, and scores exclude self-play "
                "(as in Axelrod); see the payoff matrix's diagonal"
            )
        plays = _stack_plays(spec, ok) if spec.is_stack else _matrix_plays(ok)
        strategies = list(spec.strategies)
        reps = list(range(spec.repetitions))
        ranked = plays[~plays["self_play"]]
        scores = (
            ranked.groupby(["strategy", "repetition"])["score"]
            .mean()
            .unstack()
            .reindex(index=strategies, columns=reps)
        )
        wins = _wins(ranked, strategies, reps)
        ranking = _ranking(spec, ranked, scores, wins)
        payoff = _payoff_matrix(spec, plays, ok)
        per_seat = _per_seat(spec, plays) if spec.is_stack else pd.DataFrame()
        pairwise = pairwise_tests(scores)
        return cls(
            spec=spec,
            matches=matches,
            plays=plays,
            ranking=ranking,
            payoff_matrix=payoff,
            per_seat=per_seat,
            pairwise=pairwise,
            scores=scores,
            wins_by_repetition=wins,
            profiles_total=schedule.profiles_total,
            profiles_played=schedule.profiles_played,
            notes=notes,
        )

    # -- output -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: spec, ranking, payoff matrix, per-seat table, tests."""
        ranking = [
            {k: _clean(v) for k, v in row.items()} for row in self.ranking.to_dict("records")
        ]
        matrix = {
            str(r): {str(c): _clean(v) for c, v in row.items()}
            for r, row in self.payoff_matrix.to_dict("index").items()
        }
        statuses = self.matches["status"].value_counts().to_dict() if len(self.matches) else {}
        return {
            "game": self.spec.game,
            "spec": self.spec.to_dict(),
            "matches": int(len(self.matches)),
            "match_status": {str(k): int(v) for k, v in sorted(statuses.items())},
            "profiles_total": self.profiles_total,
            "profiles_played": self.profiles_played,
            "sampled": self.profiles_played < self.profiles_total,
            "ranking": ranking,
            "payoff_matrix": matrix,
            "per_seat": [
                {k: _clean(v) for k, v in row.items()} for row in self.per_seat.to_dict("records")
            ],
            "pairwise": [
                {k: _clean(v) for k, v in row.items()} for row in self.pairwise.to_dict("records")
            ],
            "notes": list(self.notes),
            **({"scoring": scoring(self.spec)} if self.spec.is_stack else {}),
            **self.extra,
            "elapsed_seconds": round(self.elapsed_seconds, 4),
        }

    def to_json(self) -> str:
        """The summary as JSON text (sorted keys are not used: ranking order matters)."""
        from stackgame import strict_json

        return strict_json.dumps(self.to_dict())

    def write(self, folder: str | Path, fmt: str = "csv") -> list[Path]:
        """Write the tables (``csv`` or ``parquet``) and ``result.json`` into ``folder``."""
        if fmt not in ("csv", "parquet"):
            from stackgame.errors import UserError

            raise UserError(f"format: use csv or parquet, not {fmt!r}")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        tables = {
            "ranking": self.ranking,
            "payoff_matrix": self.payoff_matrix,
            "matches": self.matches,
            "scores": self.scores,
            "pairwise": self.pairwise,
        }
        if self.spec.is_stack:
            tables["per_seat"] = self.per_seat
        for name, df in tables.items():
            path = folder / f"{name}.{fmt}"
            keep_index = name in ("payoff_matrix", "scores")
            frame = df.copy()
            frame.columns = [str(c) for c in frame.columns]
            if fmt == "csv":
                frame.to_csv(path, index=keep_index)
            else:
                frame.to_parquet(path, index=keep_index)
            written.append(path)
        path = folder / "result.json"
        path.write_text(self.to_json() + "\n")
        written.append(path)
        return written

    def summary_text(self) -> str:
        """A readable ranking table for the terminal."""
        cols = ["rank", "strategy", "median_score", "mean_score", "ci_low", "ci_high", "wins"]
        extra = [
            c for c in ("restraint_rate", "integration_rate", "value_share") if c in self.ranking
        ]
        df = self.ranking[cols + extra].copy()
        lines = [
            f"{self.spec.game} tournament: {len(self.spec.strategies)} strategies, "
            f"{len(self.matches)} matches ({self.profiles_played} of {self.profiles_total} "
            f"profiles x {self.spec.repetitions} repetitions), seed {self.spec.seed}",
        ]
        if self.spec.is_stack:
            how = scoring(self.spec)
            lines.append(
                f"scores: {how['payoff']}, r = {how['discount_rate']:g} per round "
                f"({how['discount_rate_source']}), normalised per seat"
            )
        lines.append(df.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        lines += self.notes
        return "\n".join(lines)


def _clean(v: Any) -> Any:
    """JSON-safe scalar: numpy types to Python, NaN/inf to None."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, float):
        return round(v, 10)
    return v


def _matrix_plays(ok: pd.DataFrame) -> pd.DataFrame:
    """Two plays per match, one from each player's side, in (match index, seat) order."""
    if ok.empty:
        return _empty_plays()
    index = ok["index"].to_numpy()
    if len(index) > 1 and not (np.diff(index) > 0).all():
        return _matrix_plays_sorted(ok)

    def both(a: Any, b: Any) -> np.ndarray:
        """Seat 0's value and seat 1's for each match in turn: rows sorted by (index, seat)."""
        return np.column_stack([np.asarray(a), np.asarray(b)]).ravel()

    s0, s1 = ok["strategy_0"].to_numpy(), ok["strategy_1"].to_numpy()
    score = both(ok["score_0"].to_numpy(dtype=float), ok["score_1"].to_numpy(dtype=float))
    winner = ok["winner"].to_numpy()
    self_play = s0 == s1
    return pd.DataFrame(
        {
            "index": both(index, index),
            "repetition": both(ok["repetition"].to_numpy(), ok["repetition"].to_numpy()),
            "seat": np.tile(np.array([0, 1]), len(ok)),
            "strategy": both(s0, s1),
            "opponent": both(s1, s0),
            "payoff": score,
            "score": score.copy(),
            "win": both(winner == 0, winner == 1).astype(float),
            "restraint": both(
                ok["restraint_0"].to_numpy(dtype=float), ok["restraint_1"].to_numpy(dtype=float)
            ),
            "integration": np.nan,
            "value_share": both(
                ok["value_share_0"].to_numpy(dtype=float),
                ok["value_share_1"].to_numpy(dtype=float),
            ),
            "self_play": both(self_play, self_play),
        }
    )


def _matrix_plays_sorted(ok: pd.DataFrame) -> pd.DataFrame:
    """:func:`_matrix_plays` for rows whose match indices are not strictly increasing."""
    frames = []
    for k, o in ((0, 1), (1, 0)):
        frames.append(
            pd.DataFrame(
                {
                    "index": ok["index"].to_numpy(),
                    "repetition": ok["repetition"].to_numpy(),
                    "seat": k,
                    "strategy": ok[f"strategy_{k}"].to_numpy(),
                    "opponent": ok[f"strategy_{o}"].to_numpy(),
                    "payoff": ok[f"score_{k}"].to_numpy(dtype=float),
                    "score": ok[f"score_{k}"].to_numpy(dtype=float),
                    "win": (ok["winner"] == k).to_numpy(dtype=float),
                    "restraint": ok[f"restraint_{k}"].to_numpy(dtype=float),
                    "integration": np.nan,
                    "value_share": ok[f"value_share_{k}"].to_numpy(dtype=float),
                    "self_play": (ok["strategy_0"] == ok["strategy_1"]).to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values(["index", "seat"], ignore_index=True)


def _empty_plays() -> pd.DataFrame:
    cols = ["index", "repetition", "seat", "strategy", "opponent", "payoff", "score", "win"]
    cols += ["restraint", "integration", "value_share", "self_play"]
    df = pd.DataFrame({c: [] for c in cols})
    df["self_play"] = df["self_play"].astype(bool)
    return df


def _stack_plays(spec: TournamentSpec, ok: pd.DataFrame) -> pd.DataFrame:
    """One play per contested seat per match, scores min-max normalised per seat."""
    if ok.empty:
        return _empty_plays()
    frames = []
    seats = spec.seats
    norm = {}
    for k in range(len(seats)):
        x = ok[f"payoff_{k}"].to_numpy(dtype=float)
        lo, hi = np.nanmin(x), np.nanmax(x)
        norm[k] = (x - lo) / (hi - lo) if hi > lo else np.full_like(x, 0.5)
    for k, seat in enumerate(seats):
        if len(seats) > 1:
            others = np.column_stack([norm[j] for j in range(len(seats)) if j != k])
            win = (norm[k][:, None] > others).all(axis=1).astype(float)
        else:
            win = _best_in_repetition(ok, "payoff_0")
        opponents = (
            ok[[f"strategy_{j}" for j in range(len(seats)) if j != k]].agg(",".join, axis=1)
            if len(seats) > 1
            else pd.Series([""] * len(ok), index=ok.index)
        )
        frames.append(
            pd.DataFrame(
                {
                    "index": ok["index"].to_numpy(),
                    "repetition": ok["repetition"].to_numpy(),
                    "seat": seat,
                    "strategy": ok[f"strategy_{k}"].to_numpy(),
                    "opponent": opponents.to_numpy(),
                    "payoff": ok[f"payoff_{k}"].to_numpy(dtype=float),
                    "mean_payoff": _column(ok, f"mean_payoff_{k}", f"payoff_{k}"),
                    "present_value": _column(ok, f"present_value_{k}", None),
                    "score": norm[k],
                    "win": win,
                    "restraint": ok[f"restraint_{k}"].to_numpy(dtype=float),
                    "integration": ok[f"integration_{k}"].to_numpy(dtype=float),
                    "value_share": ok[f"value_share_{k}"].to_numpy(dtype=float),
                    "self_play": False,
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values(["index", "seat"], ignore_index=True)


def _column(ok: pd.DataFrame, name: str, fallback: str | None) -> np.ndarray:
    """Column ``name`` (a tabulated match has only ``fallback``, or nothing: NaN)."""
    if name in ok:
        values = ok[name].to_numpy(dtype=float)
        if fallback is None or not np.isnan(values).any():
            return values
        return np.where(np.isnan(values), ok[fallback].to_numpy(dtype=float), values)
    if fallback is not None:
        return ok[fallback].to_numpy(dtype=float)
    return np.full(len(ok), np.nan)


def _best_in_repetition(ok: pd.DataFrame, column: str) -> np.ndarray:
    """1 where a match's payoff is strictly the best of its repetition, else 0."""
    out = np.zeros(len(ok))
    values = ok[column].to_numpy(dtype=float)
    reps = ok["repetition"].to_numpy()
    for rep in np.unique(reps):
        idx = np.flatnonzero(reps == rep)
        best = values[idx].max()
        winners = idx[values[idx] == best]
        if len(winners) == 1 and len(idx) > 1:
            out[winners[0]] = 1.0
    return out


def _wins(ranked: pd.DataFrame, strategies: list[str], reps: list[int]) -> pd.DataFrame:
    """Wins per strategy (rows) and repetition (columns); 0 where a strategy never won.

    Each play's win is 0 or 1, so the sums are exact whatever the order of addition.
    """
    position = {name: i for i, name in enumerate(strategies)}
    column = {rep: j for j, rep in enumerate(reps)}
    rows = np.array([position.get(s, -1) for s in ranked["strategy"].to_numpy()], dtype=int)
    cols = np.array([column.get(r, -1) for r in ranked["repetition"].to_numpy()], dtype=int)
    keep = (rows >= 0) & (cols >= 0)
    cells = rows[keep] * len(reps) + cols[keep]
    weights = ranked["win"].to_numpy(dtype=float)[keep]
    counts = np.bincount(cells, weights=weights, minlength=len(strategies) * len(reps))
    return pd.DataFrame(
        counts.astype(float).reshape(len(strategies), len(reps)),
        index=pd.Index(strategies, name="strategy"),
        columns=pd.Index(reps, name="repetition"),
    )


def _ranking(
    spec: TournamentSpec, ranked: pd.DataFrame, scores: pd.DataFrame, wins: pd.DataFrame
) -> pd.DataFrame:
    """One row per strategy, best first; ``ranked`` holds the plays that count."""
    rng = seeds.generator(spec.seed, 2)
    grouped = ranked.groupby("strategy")
    agg = grouped[["restraint", "integration", "value_share"]].mean()
    agg["n"] = grouped.size()
    agg = agg.reindex(list(spec.strategies))
    counts = agg["n"].to_numpy(dtype=float)
    restraint = agg["restraint"].to_numpy(dtype=float)
    integration = agg["integration"].to_numpy(dtype=float)
    value_share = agg["value_share"].to_numpy(dtype=float)
    score_rows = scores.to_numpy(dtype=float)
    win_rows = wins.to_numpy(dtype=float)
    samples = [x[np.isfinite(x)] for x in score_rows]
    median_cis = bootstrap_median_intervals(samples, rng)
    rows = []
    for k, name in enumerate(spec.strategies):
        x = samples[k]
        played: int = 0 if math.isnan(counts[k]) else int(counts[k])
        mean_lo, mean_hi = t_interval(x)
        med_lo, med_hi = median_cis[k]
        row = {
            "strategy": name,
            "median_score": float(np.median(x)) if len(x) else float("nan"),
            "mean_score": float(np.mean(x)) if len(x) else float("nan"),
            "ci_low": mean_lo,
            "ci_high": mean_hi,
            "median_ci_low": med_lo,
            "median_ci_high": med_hi,
            "wins": int(win_rows[k].sum()),
            "median_wins": float(np.median(win_rows[k])),
            "restraint_rate": float(restraint[k]) if played else math.nan,
            "integration_rate": float(integration[k]) if spec.is_stack and played else math.nan,
            "value_share": float(value_share[k]) if played else math.nan,
            "matches": played,
        }
        if not spec.is_stack:
            del row["integration_rate"]
        rows.append(row)

    def order(row: dict[str, Any]) -> tuple[float, float, str]:
        """Median score, then mean score, best first (no score last), then the name."""
        med, mean = row["median_score"], row["mean_score"]
        return (
            math.inf if math.isnan(med) else -med,
            math.inf if math.isnan(mean) else -mean,
            row["strategy"],
        )

    rows.sort(key=order)
    return pd.DataFrame([{"rank": i, **row} for i, row in enumerate(rows, start=1)])


def bootstrap_median_interval(
    x: np.ndarray, rng: np.random.Generator, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval for the median of ``x`` (Efron and Tibshirani 1993)."""
    return bootstrap_median_intervals([np.asarray(x, dtype=float)], rng, level)[0]


def bootstrap_median_intervals(
    samples: Sequence[np.ndarray], rng: np.random.Generator, level: float = 0.95
) -> list[tuple[float, float]]:
    """:func:`bootstrap_median_interval` for several samples, drawn in turn from ``rng``.

    Each sample of ``n >= 2`` values takes :data:`BOOTSTRAP_RESAMPLES` resamples of
    ``n`` indices, ``rng.integers(0, n, (resamples, n))``, one call per sample in order
    (the indices ``rng.choice(x, (resamples, n))`` draws); samples of fewer than two
    values draw nothing and get NaN. Each resample is sorted, its median the middle
    value or the mean of the middle two (as :func:`numpy.median`); the ``(1 - level) /
    2`` and ``(1 + level) / 2`` quantiles of the medians (:func:`numpy.quantile`,
    linear) are then computed for all samples of one size together.
    """
    out = [(float("nan"), float("nan"))] * len(samples)
    by_size: dict[int, list[tuple[int, np.ndarray]]] = {}
    for k, x in enumerate(samples):
        n = len(x)
        if n >= 2:
            idx = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
            resamples = np.sort(np.asarray(x, dtype=float)[idx], axis=1)
            middle = resamples[:, n // 2]
            medians = middle if n % 2 else (resamples[:, n // 2 - 1] + middle) / 2
            by_size.setdefault(n, []).append((k, medians))
    for drawn in by_size.values():
        medians = np.stack([m for _, m in drawn])
        bounds = np.quantile(medians, [0.5 - level / 2, 0.5 + level / 2], axis=1)
        for j, (k, _) in enumerate(drawn):
            out[k] = (float(bounds[0, j]), float(bounds[1, j]))
    return out


def _payoff_matrix(spec: TournamentSpec, plays: pd.DataFrame, ok: pd.DataFrame) -> pd.DataFrame:
    names = list(spec.strategies)
    if not spec.is_stack:
        matrix = plays.groupby(["strategy", "opponent"])["score"].mean().unstack()
        matrix = matrix.rename_axis(index="row", columns="col")
        return matrix.reindex(index=names, columns=names).astype(float)
    if len(spec.seats) < 2 or ok.empty:
        return pd.DataFrame(index=names, columns=names, dtype=float)
    rows = []
    for k, seat in enumerate(spec.seats):
        mine = plays[plays["seat"] == seat].set_index("index")["score"]
        for j in range(len(spec.seats)):
            if j == k:
                continue
            other = ok.set_index("index")[f"strategy_{j}"]
            rows.append(
                pd.DataFrame(
                    {
                        "row": ok.set_index("index")[f"strategy_{k}"],
                        "col": other,
                        "score": mine,
                    }
                )
            )
    matrix = pd.concat(rows).groupby(["row", "col"])["score"].mean().unstack()
    return matrix.reindex(index=names, columns=names).astype(float)


def _per_seat(spec: TournamentSpec, plays: pd.DataFrame) -> pd.DataFrame:
    grouped = plays.groupby(["seat", "strategy"], sort=False)
    df = grouped.agg(
        payoff=("payoff", "mean"),
        payoff_std=("payoff", "std"),
        **(
            {"mean_payoff": ("mean_payoff", "mean"), "present_value": ("present_value", "mean")}
            if "mean_payoff" in plays
            else {}
        ),
        score=("score", "mean"),
        wins=("win", "sum"),
        restraint_rate=("restraint", "mean"),
        integration_rate=("integration", "mean"),
        value_share=("value_share", "mean"),
        matches=("score", "size"),
    ).reset_index()
    order = {s: i for i, s in enumerate(spec.seats)}
    df["_o"] = df["seat"].map(order)
    df = df.sort_values(["_o", "score"], ascending=[True, False]).drop(columns="_o")
    return df.reset_index(drop=True)


def pairwise_tests(scores: pd.DataFrame) -> pd.DataFrame:
    """Welch t and Kolmogorov-Smirnov tests between every pair of strategies.

    Parameters
    ----------
    scores
        Strategies by repetitions: per-repetition normalised scores.

    Returns
    -------
    pandas.DataFrame
        One row per unordered pair: ``strategy_a``, ``strategy_b``, ``mean_difference``
        (a minus b), ``t_statistic``, ``t_pvalue``, ``ks_statistic``, ``ks_pvalue`` and
        the Holm-adjusted ``t_pvalue_holm``, ``ks_pvalue_holm``.
    """
    from scipy import stats

    names = list(scores.index)
    values = scores.to_numpy(dtype=float)
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    rows: list[dict[str, Any]] = []
    full = [p for p in pairs if np.isfinite(values[list(p)]).all() and values.shape[1] >= 2]
    tested: dict[tuple[int, int], tuple[float, float, float, float]] = {}
    if full:
        x = values[[i for i, _ in full]]
        y = values[[j for _, j in full]]
        # constant samples (deterministic strategies) are handled below
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t = stats.ttest_ind(x, y, axis=1, equal_var=False)
            ks_d, ks_p = ks_2samp_rows(x, y)
        for k, p in enumerate(full):
            tested[p] = (
                float(t.statistic[k]),
                float(t.pvalue[k]),
                float(ks_d[k]),
                float(ks_p[k]),
            )
    finite = [v[np.isfinite(v)] for v in values]
    means = [np.mean(v) if len(v) else math.nan for v in finite]
    for i, j in pairs:
        x, y = finite[i], finite[j]
        row: dict[str, Any] = {"strategy_a": names[i], "strategy_b": names[j]}
        diff = float(means[i] - means[j]) if len(x) and len(y) else math.nan
        if (i, j) in tested:
            ts, tp, kd, kp = tested[i, j]
        elif len(x) >= 2 and len(y) >= 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                tr = stats.ttest_ind(x, y, equal_var=False)
                kr = stats.ks_2samp(x, y)
            ts, tp, kd, kp = (
                float(tr.statistic),
                float(tr.pvalue),
                float(kr.statistic),
                float(kr.pvalue),
            )
        else:
            ts = tp = kd = kp = math.nan
        if len(x) >= 2 and len(y) >= 2 and np.ptp(x) == 0 and np.ptp(y) == 0:
            # two constant samples: identical (p = 1) or surely different (p = 0)
            ts, tp = (0.0, 1.0) if x[0] == y[0] else (math.copysign(math.inf, diff), 0.0)
        row.update(mean_difference=diff, t_statistic=ts, t_pvalue=tp, ks_statistic=kd, ks_pvalue=kp)
        rows.append(row)
    cols = ["strategy_a", "strategy_b", "mean_difference", "t_statistic", "t_pvalue"]
    cols += ["ks_statistic", "ks_pvalue"]
    df = pd.DataFrame(rows, columns=cols)
    df["t_pvalue_holm"] = holm(df["t_pvalue"].to_numpy(dtype=float))
    df["ks_pvalue_holm"] = holm(df["ks_pvalue"].to_numpy(dtype=float))
    return df


def ks_2samp_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided two-sample Kolmogorov-Smirnov tests of ``x[k]`` against ``y[k]``.

    The same statistic and p-value as ``scipy.stats.ks_2samp(x[k], y[k])`` for every row
    (finite values, ``x`` and ``y`` of equal shape). The statistic ``D`` is computed for
    all rows at once, as SciPy computes it (empirical distribution functions at every
    pooled value, ``D = max(max(F1 - F2), clip(-min(F1 - F2), 0, 1))``); SciPy's
    result, p-value included, depends on the samples only through ``D`` and the two
    sample sizes, so it is asked (in one vectorised call) for one row per distinct ``D``.
    """
    from scipy import stats

    n = x.shape[1]
    data1, data2 = np.sort(x, axis=1), np.sort(y, axis=1)
    pooled = np.concatenate([data1, data2], axis=1)
    cdf1 = (data1[:, None, :] <= pooled[:, :, None]).sum(axis=2) / n
    cdf2 = (data2[:, None, :] <= pooled[:, :, None]).sum(axis=2) / n
    diffs = cdf1 - cdf2
    min_s = np.clip(-diffs.min(axis=1), 0, 1)
    max_s = diffs.max(axis=1)
    d = np.where(min_s > max_s, min_s, max_s)
    _, first, which = np.unique(d, return_index=True, return_inverse=True)
    result = stats.ks_2samp(x[first], y[first], axis=1)
    statistic = np.asarray(result.statistic, dtype=float).reshape(-1)
    pvalue = np.asarray(result.pvalue, dtype=float).reshape(-1)
    return statistic[which.reshape(-1)], pvalue[which.reshape(-1)]


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's (1979) step-down adjustment of p-values for multiple comparisons.

    ``p_(i)`` sorted ascending becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``; NaNs
    are left out of ``m`` and stay NaN.
    """
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out


def profit_gain(result: TournamentResult, nash_profit: float, monopoly_profit: float) -> dict:
    """Calvano et al.'s (2020) average profit gain of a stack tournament's matches.

    ``Delta = (pi - pi_N) / (pi_M - pi_N)``, with ``pi`` a firm's mean profit per round
    (over the scored rounds), ``pi_N`` the one-shot Bertrand-Nash profit and ``pi_M`` the
    joint-profit-maximising one: 0 is competition, 1 full collusion. Averaged over the
    contested firms of each match, then over matches, with a 95% t interval.
    """
    if monopoly_profit <= nash_profit:
        from stackgame.errors import UserError

        raise UserError("calvano: monopoly_profit must exceed nash_profit")
    ok = result.matches[result.matches["status"] == "ok"]
    seats = range(len(result.spec.seats))
    per_match = np.array(
        [
            np.mean(
                [
                    (row[f"payoff_{k}"] - nash_profit) / (monopoly_profit - nash_profit)
                    for k in seats
                ]
            )
            for _, row in ok.iterrows()
        ],
        dtype=float,
    )
    lo, hi = t_interval(per_match)
    return {
        "profit_gain": float(per_match.mean()) if len(per_match) else math.nan,
        "ci_low": lo,
        "ci_high": hi,
        "per_match": [round(float(x), 6) for x in per_match],
        "nash_profit": nash_profit,
        "monopoly_profit": monopoly_profit,
    }
