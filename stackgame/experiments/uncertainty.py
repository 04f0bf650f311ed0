"""The verdict's uncertainty: who wins across the plausible worlds of the target table.

A scenario's target table (``docs/MODEL.md`` 19) lists, in ``[[parameters]]``, the
scenario fields a fit may move, each with bounds. :func:`analyse` draws ``N`` parameter
vectors over those bounds (on the log scale where a parameter says ``scale = "log"``),
runs the scenario once per vector on the same seed (common random numbers: the draws
differ only in their parameters), and weighs each world by how well it matches the
table's ``[[targets]]``:

    w_i  proportional to  exp(-0.5 * sum_t weight_t * z_it^2),
    z_it = (model_it - value_t) / h_t,

with ``h_t`` the half-width of the target's plausible range on the side the model falls
(``high - value`` above the figure, ``value - low`` below it; ``(high - low) / 2`` where
that side has no width), or the bar the baseline is held to where that is wider (5 points
for a fraction, 25% of the figure for money: ``environment.targets.bar``, as in the fit;
with half-ranges alone, figures reported to the million left one world in 32 with all
the weight). This is an approximate posterior by importance weighting (a
Gaussian ABC kernel, or a likelihood with the range's half-width as one standard
deviation) with the uniform draws as the prior; a "plausible world" is one consistent
with the public figures. A target the run cannot measure in a draw (a ratio with nothing
to divide by) counts as the worst misfit any draw had on it; one no draw can measure (a
window the run does not reach) is left out. The effective sample size
``ESS = (sum w)^2 / sum w^2`` says how many equally weighted draws the weighted sample is
worth: few means the figures pin the parameters down far more tightly than the bounds.

For each layer and firm it reports the weighted probability that it captures the most
value (the share of the stack's profit; shares within
:data:`~stackgame.environment.summary.TIE_TOLERANCE` of the largest tie, as in the verdict,
and a tie splits the draw's weight equally), the same unweighted (over the bounds alone),
and the weighted mean and 5%-95% weighted quantiles of its value share (the inverse of the
weighted distribution function: a draw of negligible weight does not widen the interval).

The draws are a Latin hypercube (:class:`scipy.stats.qmc.LatinHypercube`, scrambled;
SciPy is a core dependency), seeded from the stream :data:`DRAWS_KEY` under the run's seed
(``stackgame.seeds``): the same ``--seed`` gives the same draws and the same answer, on
any number of workers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stackgame import seeds
from stackgame.errors import UserError

if TYPE_CHECKING:
    from stackgame.environment.scenario import Scenario
    from stackgame.environment.targets import ParameterSpec, TargetTable

__all__ = [
    "DRAWS_KEY",
    "METHODS",
    "choose_method",
    "normalised_weights",
    "QUANTILES",
    "UncertaintyConfig",
    "analyse",
    "draw_parameters",
    "draws_frame",
    "effective_sample_size",
    "flat_metrics",
    "importance_weights",
    "misfits",
    "parameter_space",
    "plot",
    "render",
    "summarise",
    "survival_probabilities",
    "verdict_sentence",
    "weighted_quantile",
    "winner_probability",
]

METHODS = ("posterior", "ranges")
"""Where the draws come from: the fit's approximate posterior (:mod:`posterior`) or the
target table's ranges (a Latin hypercube over the bounds)."""

DRAWS_KEY = 1_000_000
"""Spawn key of the parameter draws under the run's seed (``stackgame.seeds``). The model
spawns ``(0,) .. (1 + firms,)`` under the same seed, so the key sits far above them."""

FIRM_ANSWER_DRAWS = 10.0
"""Below this effective sample size the verdict's sentence calls its answer tentative."""

QUANTILES = (0.05, 0.95)
"""The interval on value shares: weighted 5% and 95% quantiles over the draws."""


# -- the parameter space ----------------------------------------------------------------


def parameter_space(
    scenario: Scenario, held: Iterable[str] = ()
) -> tuple[TargetTable, list[ParameterSpec]]:
    """The scenario's target table and the parameters to draw (those not ``held``).

    ``held`` are paths the caller fixes (``--set``, a batch's parameters): they keep their
    value and are not drawn.

    Raises
    ------
    UserError
        The scenario names no target table, the table has no ``[[parameters]]``, or every
        one of them is held.
    """
    from stackgame.environment import targets

    if scenario.targets is None:
        raise UserError(
            f"--uncertainty: scenario {scenario.name!r} names no target table (its "
            "'targets' field): there are no plausible ranges to draw from"
        )
    source = targets.target_path(scenario.targets, scenario.origin)
    try:
        table = targets.load_table(source)
    except targets.TargetError as err:
        raise UserError(f"--uncertainty: {err}") from None
    if not table.parameters:
        raise UserError(
            f"--uncertainty: the target table {source} has no [[parameters]] to draw "
            "(each a dotted scenario path with low and high bounds)"
        )
    fixed = set(held)
    free = [p for p in table.parameters if p.path not in fixed]
    if not free:
        raise UserError(
            f"--uncertainty: every [[parameters]] path of {source} is fixed by --set; "
            "nothing is left to draw"
        )
    if not table.targets:
        raise UserError(f"--uncertainty: the target table {source} has no [[targets]] to weigh by")
    return table, free


def draw_parameters(
    parameters: Sequence[ParameterSpec], n: int, seed: seeds.Root
) -> list[dict[str, float]]:
    """``n`` Latin-hypercube draws over the parameters' bounds (log scale where declared).

    Stream :data:`DRAWS_KEY` under ``seed``; a value is ``low + u (high - low)``, or
    ``exp(log low + u (log high - log low))`` on the log scale, with ``u`` the unit draw.
    """
    from scipy.stats import qmc

    if n < 1:
        raise ValueError(f"n: must be at least 1 (got {n})")
    unit = qmc.LatinHypercube(len(parameters), rng=seeds.generator(seed, DRAWS_KEY)).random(n)
    out = []
    for row in unit:
        values = {}
        for p, u in zip(parameters, row, strict=True):
            if p.scale == "log":
                lo, hi = math.log(p.low), math.log(p.high)
                values[p.path] = float(math.exp(lo + float(u) * (hi - lo)))
            else:
                values[p.path] = float(p.low + float(u) * (p.high - p.low))
        out.append(values)
    return out


# -- weights ----------------------------------------------------------------------------


def misfits(
    measured: Sequence[Mapping[str, float | None]], table: TargetTable
) -> tuple[np.ndarray, list[str]]:
    """Each draw's weighted sum of squared standardised residuals, and the targets used.

    ``measured[i][name]`` is the model's number for target ``name`` in draw ``i`` (or
    ``None``). The module docstring gives ``z``, and how a missing number counts.
    """
    from stackgame.environment import targets

    n = len(measured)
    used: list[str] = []
    total = np.zeros(n)
    for t in table.targets:
        bar = targets.bar(t)  # a range narrower than the bar counts in bars (as the fit)
        z2 = np.full(n, np.nan)
        for i, row in enumerate(measured):
            x = row.get(t.name)
            if x is None or not math.isfinite(x):
                continue
            side = (t.high - t.value) if x > t.value else (t.value - t.low)
            half = max(side if side > 0 else (t.high - t.low) / 2, bar)
            z2[i] = ((x - t.value) / half) ** 2 if half > 0 else (0.0 if x == t.value else np.inf)
        seen = ~np.isnan(z2)
        if not seen.any():
            continue
        z2[~seen] = np.nanmax(z2)
        total += t.weight * z2
        used.append(t.name)
    return total, used


def importance_weights(misfit: Sequence[float] | np.ndarray) -> np.ndarray:
    """Normalised weights ``exp(-0.5 misfit)`` (in log space: no underflow to all zeros).

    Draws whose misfit is infinite get weight 0; if every draw's is, the weights are
    equal (nothing tells them apart).
    """
    return normalised_weights(-0.5 * np.asarray(misfit, dtype=float))


def normalised_weights(log_weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Weights ``exp(log_w)`` normalised to sum to 1 (in log space: no underflow).

    A draw with ``log_w = -inf`` (or NaN) gets weight 0; if every draw has, the weights
    are equal.
    """
    lw = np.asarray(log_weights, dtype=float)
    if lw.size == 0:
        return lw
    finite = np.isfinite(lw)
    if not finite.any():
        return np.full(lw.size, 1.0 / lw.size)
    w = np.where(finite, np.exp(np.where(finite, lw, 0.0) - lw[finite].max()), 0.0)
    return w / w.sum()


def effective_sample_size(weights: Sequence[float] | np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``."""
    w = np.asarray(weights, dtype=float)
    den = float((w**2).sum())
    return float(w.sum() ** 2 / den) if den > 0 else 0.0


def weighted_quantile(
    values: Sequence[float] | np.ndarray, weights: Sequence[float] | np.ndarray, q: float
) -> float:
    """The ``q`` quantile of ``values`` weighted by ``weights`` (zero weights ignored).

    The inverse of the weighted distribution function: the smallest value whose
    cumulative weight reaches ``q`` of the total (with equal weights, numpy's
    ``inverted_cdf``). A draw of negligible weight never widens the interval.

    Examples
    --------
    >>> weighted_quantile([1.0, 2.0, 3.0], [1, 1, 1], 0.5)
    2.0
    >>> weighted_quantile([1.0, 2.0, 3.0], [0, 0, 1], 0.05)
    3.0
    """
    x = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    keep = w > 0
    x, w = x[keep], w[keep]
    if x.size == 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cumulative = np.cumsum(w) / w.sum()
    k = int(np.searchsorted(cumulative, q - 1e-12, side="left"))
    return float(x[min(k, x.size - 1)])


def winner_probability(
    shares: Sequence[Mapping[str, float]], weights: Sequence[float] | np.ndarray
) -> dict[str, float]:
    """Probability that each name captures the most value: the weight of the draws it leads.

    A draw whose shares tie (within the verdict's tolerance) splits its weight equally
    among the leaders, so the probabilities sum to 1.
    """
    from stackgame.environment.summary import leaders

    names = list(shares[0]) if shares else []
    out = dict.fromkeys(names, 0.0)
    for row, w in zip(shares, weights, strict=True):
        top = leaders(row)
        for name in top:
            out[name] += float(w) / len(top)
    return out


# -- running the draws ------------------------------------------------------------------


@dataclass(frozen=True)
class UncertaintyConfig:
    """What every draw shares (pickled once per worker where fork is missing).

    Attributes
    ----------
    scenario
        The scenario with the caller's changes applied.
    rounds
        Rounds of every run (``None``: the scenario's).
    seed
        The one simulation seed of every draw (common random numbers).
    strategies
        Firm names to strategy names.
    """

    scenario: Any
    rounds: int | None
    seed: int
    strategies: Mapping[str, str] = field(default_factory=dict)
    seeds: tuple[int, ...] = ()


def _run_block(config: UncertaintyConfig, block: Sequence[tuple[int, dict[str, float]]]) -> list:
    """Run one block of draws; each leaves only what the summary needs (no model).

    A draw runs on ``config.seeds`` (default: ``config.seed`` alone); over several seeds
    its value shares are their mean and its target numbers the mean over the seeds that
    measure them (as the fit's).
    """
    from stackgame.experiments.posterior import mean_targets
    from stackgame.simulation.simulate import simulate

    out: list[dict[str, Any]] = []
    run_seeds = config.seeds or (config.seed,)
    for index, values in block:
        runs = []
        try:
            for seed in run_seeds:
                s = simulate(
                    config.scenario,
                    rounds=config.rounds,
                    seed=seed,
                    strategies=dict(config.strategies),
                    overrides=values,
                ).summary
                runs.append(
                    {
                        "layer": {r["name"]: float(r["value_share"]) for r in s["layers"]},
                        "firm": {r["name"]: float(r["value_share"]) for r in s["firms"]},
                        "targets": {c["name"]: c["model"] for c in s["calibration"] if c["name"]},
                    }
                )
        except (ValueError, ArithmeticError) as err:  # a world whose run breaks down
            out.append({"index": index, "failed": f"{type(err).__name__}: {err}"[:300]})
            continue
        if len(runs) == 1:
            out.append({"index": index, **runs[0]})
            continue
        out.append(
            {
                "index": index,
                "layer": {
                    k: sum(r["layer"][k] for r in runs) / len(runs) for k in runs[0]["layer"]
                },
                "firm": {k: sum(r["firm"][k] for r in runs) / len(runs) for k in runs[0]["firm"]},
                "targets": mean_targets([r["targets"] for r in runs]),
            }
        )
    return out


def choose_method(scenario: Scenario, params: Sequence[ParameterSpec], asked: str | None) -> str:
    """``posterior`` or ``ranges``: ``asked``, else whether the scenario is a fitted point.

    By default ``posterior`` when every drawn parameter's value is inside its bounds.

    Raises
    ------
    UserError
        ``asked`` is not one of :data:`METHODS`.
    """
    from stackgame.calibration.fit import value_at

    if asked is not None and asked not in METHODS:
        raise UserError(f"--uncertainty-from: {asked!r} is not one of {', '.join(METHODS)}")
    if asked is not None:
        return asked
    for p in params:
        v = value_at(scenario, p.path)
        if isinstance(v, bool) or not isinstance(v, int | float) or not p.low <= v <= p.high:
            return "ranges"
    return "posterior"


def analyse(
    scenario: Scenario,
    *,
    draws: int,
    seed: int,
    rounds: int | None = None,
    strategies: Mapping[str, str] | None = None,
    held: Iterable[str] = (),
    workers: int = 1,
    progress: bool = False,
    method: str | None = None,
) -> dict[str, Any]:
    """Draw ``draws`` worlds, run each, weigh them by the targets and summarise.

    Parameters
    ----------
    scenario
        The scenario, with any changes already applied (``--set``).
    draws
        Number of parameter draws ``N`` (at least 1).
    seed
        The run's root seed: the draws' stream and the one simulation seed of every draw.
    rounds
        Rounds of each run (default: the scenario's).
    strategies
        Strategy swaps applied to every draw.
    held
        Parameter paths not to draw (the caller fixed them).
    workers
        Processes (:func:`stackgame.experiments.executor.map_items`); 1 runs here.
    progress
        A progress bar of the draws on stderr.
    method
        ``posterior`` (the fit's approximate posterior, :mod:`posterior`: draws around the
        scenario's values, each run on :data:`posterior.SEEDS` common seeds from ``seed``),
        ``ranges`` (a Latin hypercube over the bounds, each run on ``seed``), or ``None``:
        :func:`choose_method`.

    Returns
    -------
    dict
        :func:`summarise`'s report, with ``method``, ``parameters`` (the drawn paths with
        their bounds and scale; for the posterior also each one's fitted value, Laplace
        and weighted standard deviation and how far the targets pin it down),
        ``sampler``, ``seed`` and ``seeds``; for the posterior ``posterior`` (the
        Laplace approximation: :meth:`posterior.Laplace.describe`, and the candidates
        drawn).
    """
    from stackgame.experiments.executor import map_items

    if draws < 1:
        raise UserError(f"--uncertainty: must be at least 1 draw (got {draws})")
    if workers < 1:
        raise UserError(f"--workers: must be at least 1 (got {workers})")
    table, params = parameter_space(scenario, held)
    chosen = choose_method(scenario, params, method)
    lap = None
    unit = np.empty((0, 0))
    tried = 0
    sampler = ""
    if chosen == "posterior":
        from stackgame.calibration.fit import seeds_of
        from stackgame.environment.scenario import apply_overrides
        from stackgame.experiments import posterior

        if rounds is not None and rounds != scenario.rounds:
            scenario = apply_overrides(scenario, {"rounds": rounds})
        lap = posterior.laplace(
            scenario,
            table,
            [p.path for p in params],
            seeds_of(seed, posterior.SEEDS),
            workers=workers,
            progress=progress,
            source=table.name,
        )
        unit, tried, sampler = posterior.draw(
            lap.centre, lap.sigma, draws, seeds.generator(seed, DRAWS_KEY)
        )
        vectors = [lap.values(u) for u in unit]
        run_seeds: tuple[int, ...] = tuple(lap.seeds)
    else:
        vectors = draw_parameters(params, draws, seed)
        run_seeds = (seed,)
    config = UncertaintyConfig(scenario, rounds, seed, dict(strategies or {}), run_seeds)
    rows = map_items(
        functools.partial(_run_block, config),
        list(enumerate(vectors)),
        workers,
        desc="uncertainty draws",
        progress=progress,
    )
    rows.sort(key=lambda r: r["index"])
    # a world whose run breaks down (numbers running away, a clearing that cannot be
    # computed) is left out of the weighted sample and listed: it is not a plausible world
    failed = [{"index": r["index"], "reason": r["failed"]} for r in rows if "failed" in r]
    rows = [r for r in rows if "failed" not in r]
    if not rows:
        raise UserError(
            f"--uncertainty: every one of the {draws} drawn worlds failed to run (first: "
            f"{failed[0]['reason']}); narrow the target table's [[parameters]] bounds"
        )
    kept = [r["index"] for r in rows]
    kept_vectors = [vectors[i] for i in kept]
    if lap is None:
        report = summarise(rows, kept_vectors, table)
        report["parameters"] = [
            {"path": p.path, "low": p.low, "high": p.high, "scale": p.scale} for p in params
        ]
        report["sampler"] = "latin hypercube (scipy.stats.qmc, scrambled)"
    else:
        resid = np.array(
            [lap.residuals(table, [r["targets"].get(t.name) for t in table.targets]) for r in rows]
        )
        misfit = (resid**2).sum(axis=1)
        log_q = lap.log_proposal(unit[kept])
        survival_names, survive = survival_probabilities(rows, table, lap)
        with np.errstate(divide="ignore"):
            log_survive = np.log(survive).sum(axis=1)
        report = summarise(
            rows,
            kept_vectors,
            table,
            misfit=misfit,
            log_weights=log_survive,
            targets_used=sum(lap.included),
        )
        # how far the Gaussian is from the exact posterior exp(-0.5 S) (diagnostic only)
        exact = effective_sample_size(normalised_weights(-0.5 * misfit - log_q))
        # the targets whose misses grow most over the draws: what the weights turn on
        rise = (resid**2 - lap.r0**2).mean(axis=0)
        names = [t.name for t, inc in zip(table.targets, lap.included, strict=True) if inc]
        report["misfit_drivers"] = [
            {"target": names[j], "mean_rise": float(rise[j])}
            for j in np.argsort(-rise, kind="stable")[:5]
            if rise[j] > 0
        ]
        described = lap.describe()
        w = np.array([d["weight"] for d in report["per_draw"]])
        for row, p in zip(described["parameters"], lap.parameters, strict=True):
            x = np.array([v[p.path] for v in kept_vectors])
            mean = float(np.dot(w, x))
            row["weighted_mean"] = mean
            row["weighted_sd"] = float(math.sqrt(max(float(np.dot(w, (x - mean) ** 2)), 0.0)))
        report["parameters"] = described.pop("parameters")
        report["pinned_most"] = described.pop("pinned_most")
        report["pinned_least"] = described.pop("pinned_least")
        described["candidates"] = tried
        described["sampler"] = sampler
        described["acceptance"] = draws / tried if sampler == "rejection" and tried else None
        described["survival_targets"] = survival_names
        described["every_layer_survives"] = float(np.mean(survive.prod(axis=1) == 1.0))
        described["exact_effective_draws"] = exact
        report["posterior"] = described
        report["weighting"] = (
            "draws from the Laplace approximation N(theta*, (J^T J + 12 I)^-1) of the fit's "
            "figures (truncated to the bounds), each weighted by the probability that every "
            "survival requirement holds (the share of its seeds on which it does)"
        )
        report["sampler"] = (
            f"Laplace approximation at the scenario's values, {lap.evaluations} points x "
            f"{len(lap.seeds)} seeds for J; the Gaussian truncated to the bounds, drawn by "
            + ("rejection" if sampler == "rejection" else "a Gibbs sampler (too few inside)")
        )
    report["method"] = chosen
    report["failed_draws"] = failed
    report["held"] = sorted(set(held) & {p.path for p in table.parameters})
    report["seed"] = seed
    report["seeds"] = list(run_seeds)
    return report


def survival_probabilities(
    rows: Sequence[Mapping[str, Any]], table: TargetTable, lap: Any
) -> tuple[list[str], np.ndarray]:
    """Per draw and survival target: the share of the draw's seeds on which it holds.

    A survival target's number is already that share (the mean over the seeds of a 0-or-1
    outcome, ``environment.targets``); one the draw cannot measure counts as held (1):
    the requirement is then not evidence either way. Returns the survival targets' names
    and an array of shape ``(draws, len(names))`` (no columns when the table has none).
    """
    names = [
        t.name
        for t, inc in zip(table.targets, lap.included, strict=True)
        if inc and t.kind == "survival"
    ]
    out = np.ones((len(rows), len(names)))
    for i, r in enumerate(rows):
        for j, name in enumerate(names):
            v = r["targets"].get(name)
            if v is not None and math.isfinite(v):
                out[i, j] = min(max(float(v), 0.0), 1.0)
    return names, out


def summarise(
    rows: Sequence[Mapping[str, Any]],
    vectors: Sequence[Mapping[str, float]],
    table: TargetTable,
    *,
    misfit: np.ndarray | None = None,
    log_weights: np.ndarray | None = None,
    targets_used: int | None = None,
) -> dict[str, Any]:
    """The uncertainty report from the draws' outcomes (in draw order).

    Each row holds ``layer`` and ``firm`` (name to value share) and ``targets`` (target
    name to the model's number or ``None``).

    Returns
    -------
    dict
        ``draws``, ``effective_draws``, ``targets_used``, ``winner_probability`` and
        ``prior_winner_probability`` (each ``{"layer": {name: p}, "firm": {name: p}}``),
        ``value_share_intervals`` (``{"layer": {name: {"mean", "low", "high"}}, "firm":
        ...}``, weighted, ``low``/``high`` the :data:`QUANTILES`), the same unweighted in
        ``prior_value_share_intervals``, ``quantiles``,
        ``per_draw`` (``index``, ``weight``, ``misfit``, ``layer_winner``,
        ``firm_winner``: tied names joined by ``+``, and ``values``) and ``best_draw``
        (the heaviest: ``index``, ``weight``, ``misfit``, ``values``).

        ``misfit`` (per draw), ``log_weights`` (unnormalised) and ``targets_used`` replace
        :func:`misfits` and :func:`importance_weights` (the posterior's weights).
    """
    from stackgame.environment.summary import leaders

    n = len(rows)
    if misfit is None or log_weights is None:
        misfit, used = misfits([r["targets"] for r in rows], table)
        w = importance_weights(misfit)
        targets_used = len(used)
    else:
        w = normalised_weights(log_weights)
    flat = np.full(n, 1.0 / n)
    report: dict[str, Any] = {
        "draws": n,
        "effective_draws": effective_sample_size(w),
        "targets_used": targets_used,
        "weighting": "importance weights exp(-0.5 sum_t weight_t z_t^2), "
        "z_t = (model - target) / max(half-range, bar)",
        "winner_probability": {},
        "prior_winner_probability": {},
        "value_share_intervals": {},
        "quantiles": list(QUANTILES),
    }
    for level in ("layer", "firm"):
        shares = [r[level] for r in rows]
        report["winner_probability"][level] = winner_probability(shares, w)
        report["prior_winner_probability"][level] = winner_probability(shares, flat)
        for key, weights in (("value_share_intervals", w), ("prior_value_share_intervals", flat)):
            intervals = {}
            for name in shares[0]:
                x = np.array([s[name] for s in shares])
                intervals[name] = {
                    "mean": float(np.dot(weights, x)),
                    "low": weighted_quantile(x, weights, QUANTILES[0]),
                    "high": weighted_quantile(x, weights, QUANTILES[1]),
                }
            report.setdefault(key, {})[level] = intervals
    report["per_draw"] = [
        {
            "index": int(rows[i].get("index", i)),
            "weight": float(w[i]),
            "misfit": float(misfit[i]) if math.isfinite(misfit[i]) else None,
            "layer_winner": "+".join(leaders(rows[i]["layer"])),
            "firm_winner": "+".join(leaders(rows[i]["firm"])),
            "values": dict(vectors[i]),
        }
        for i in range(n)
    ]
    best = int(np.argmax(w))
    report["best_draw"] = {
        "index": int(rows[best].get("index", best)),
        "weight": float(w[best]),
        "misfit": float(misfit[best]),
        "values": dict(vectors[best]),
    }
    return report


def flat_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The report as flat batch metrics (``docs/BATCH.md``).

    ``winner_probability.layer.<name>``, ``winner_probability.firm.<name>``,
    ``value_share_low.<level>.<name>``, ``value_share_high.<level>.<name>``,
    ``value_share_mean.<level>.<name>`` and ``effective_draws``.
    """
    out: dict[str, float] = {"effective_draws": float(report["effective_draws"])}
    for level in ("layer", "firm"):
        for name, p in report["winner_probability"][level].items():
            out[f"winner_probability.{level}.{name}"] = float(p)
        for name, iv in report["value_share_intervals"][level].items():
            for key in ("mean", "low", "high"):
                out[f"value_share_{key}.{level}.{name}"] = float(iv[key])
    return out


def draws_frame(report: Mapping[str, Any]) -> Any:
    """One row per draw: index, weight, misfit, winners and each drawn parameter."""
    import pandas as pd

    return pd.DataFrame(
        [
            {k: v for k, v in d.items() if k != "values"} | dict(d["values"])
            for d in report["per_draw"]
        ]
    )


# -- words, table and figure ------------------------------------------------------------


def _top(probabilities: Mapping[str, float]) -> tuple[str, float]:
    name = max(probabilities, key=lambda k: (probabilities[k], -list(probabilities).index(k)))
    return name, probabilities[name]


def verdict_sentence(report: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """How often the verdict holds, in words.

    ``"The chips layer captures the most value in 87% of plausible worlds; Nvidia is the
    largest winner in 64% (32 draws from the target table's ranges, weighted by their fit
    to 28 figures: worth 3.1 equally weighted draws)."``
    """
    labels = labels or {}
    layer, p_layer = _top(report["winner_probability"]["layer"])
    firm, p_firm = _top(report["winner_probability"]["firm"])
    if report.get("method") == "posterior":
        weighting = "weighted by the chance that every layer survives"
    else:
        weighting = f"weighted by their fit to {report['targets_used']} figures"
    return (
        f"The {layer} layer captures the most value in {p_layer:.0%} of plausible worlds; "
        f"{labels.get(firm, firm)} is the largest winner in {p_firm:.0%} ({report['draws']} "
        f"draws from {_source(report)}, {weighting}: worth "
        f"{report['effective_draws']:.1f} equally weighted draws)."
        + (
            " Few worlds carry the weight: a tentative answer (draw more, or fit first)."
            if report["effective_draws"] < FIRM_ANSWER_DRAWS
            else ""
        )
    )


def _source(report: Mapping[str, Any]) -> str:
    if report.get("method") == "posterior":
        return "the fit's approximate posterior"
    return "the target table's ranges"


def render(
    report: Mapping[str, Any],
    layer_order: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[str]:
    """The uncertainty as text: a table by layer and one by firm, and how it was drawn."""
    from stackgame.simulation.report import table

    labels = labels or {}
    lo, hi = report["quantiles"]
    head = [
        "P(most value)",
        "P over bounds",
        "mean share",
        f"{lo:.0%} share",
        f"{hi:.0%} share",
    ]
    posterior = report.get("method") == "posterior"
    if posterior:
        head[1] = "P unweighted"
        seeds_text = report["seeds"]
        out = [
            f"Uncertainty: {report['draws']} worlds drawn from the fit's approximate posterior "
            f"(Laplace at the scenario's values: N(theta*, (J^T J + 12 I)^-1) in the bounds' "
            f"unit cube, seed {report['seed']}),",
            f"J from the fit's residuals on its figures; each run on seeds "
            f"{seeds_text[0]}-{seeds_text[-1]} and weighted by the product over the survival "
            f"requirements of the share of them on which each holds (their likelihood; "
            f"{report['posterior']['every_layer_survives']:.0%} of draws keep every layer "
            "on every seed);",
        ]
    else:
        out = [
            f"Uncertainty: {report['draws']} worlds drawn from the target table's "
            f"[[parameters]] ranges ({report['sampler']}, seed {report['seed']}),",
            f"each run on the same seed and weighted by its fit to {report['targets_used']} "
            "figures (exp(-0.5 sum z^2), z = miss over the half-range or the bar);",
        ]
    out += [
        f"effective draws {report['effective_draws']:.1f} of {report['draws']}"
        + (
            f" ({len(report['failed_draws'])} more failed to run and are left out)"
            if report.get("failed_draws")
            else ""
        )
        + ". "
        + ("P unweighted" if posterior else "P over bounds")
        + ": every draw weighted alike.",
    ]
    if posterior:
        out.append(
            "Pinned down most by the targets: "
            + ", ".join(report["pinned_most"][:3])
            + "; least: "
            + ", ".join(report["pinned_least"][:3])
            + "."
        )
        if report.get("misfit_drivers"):
            out.append(
                "Across the draws the misses grow most on: "
                + ", ".join(
                    f"{d['target']} (r^2 +{d['mean_rise']:.0f})"
                    for d in report["misfit_drivers"][:3]
                )
                + " (mean rise from the fit); reweighting the Gaussian toward the exact "
                f"posterior exp(-0.5 sum r^2) would leave "
                f"{report['posterior']['exact_effective_draws']:.1f} effective draws."
            )
    out.append("")
    for level, title, order in (
        ("layer", "By layer", list(reversed(layer_order or []))),
        ("firm", "By firm", []),
    ):
        p = report["winner_probability"][level]
        prior = report["prior_winner_probability"][level]
        iv = report["value_share_intervals"][level]
        names = order or sorted(p, key=lambda k: -iv[k]["mean"])
        rows = [
            [labels.get(k, k), p[k], prior[k], iv[k]["mean"], iv[k]["low"], iv[k]["high"]]
            for k in names
        ]
        out += [table([level, *head], rows, title), ""]
    if report.get("held"):
        out.append("Held at the run's value (--set): " + ", ".join(report["held"]))
    return out[:-1] if out[-1] == "" else out


def plot(
    report: Mapping[str, Any],
    path: str | Path,
    layer_order: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Value-share intervals by layer (left) and firm (right): weighted mean, 5%-95%.

    A thin grey line behind each is the unweighted 5%-95% range of the draws.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    labels = labels or {}
    levels = report["value_share_intervals"]
    fig = Figure(figsize=(12, 1.5 + 0.3 * max(len(levels["firm"]), len(levels["layer"]))), dpi=110)
    axes = fig.subplots(1, 2, squeeze=False)[0]
    for ax, level, order in (
        (axes[0], "layer", list(reversed(layer_order or list(levels["layer"])))),
        (axes[1], "firm", sorted(levels["firm"], key=lambda k: -levels["firm"][k]["mean"])),
    ):
        iv = levels[level]
        p = report["winner_probability"][level]
        y = np.arange(len(order))[::-1]
        mean = np.array([iv[k]["mean"] for k in order]) * 100
        low = np.array([iv[k]["low"] for k in order]) * 100
        high = np.array([iv[k]["high"] for k in order]) * 100
        prior = report["prior_value_share_intervals"][level]
        ax.hlines(
            y,
            [prior[k]["low"] * 100 for k in order],
            [prior[k]["high"] * 100 for k in order],
            color="#bbbbbb",
            linewidth=1,
            label="unweighted draws"
            if report.get("method") == "posterior"
            else "over the bounds alone (unweighted)",
        )
        ax.hlines(y, low, high, color="#2b7bba", linewidth=3, label="weighted by the targets")
        ax.plot(mean, y, "o", color="black", markersize=4)
        ax.set_yticks(y, [f"{labels.get(k, k)}  ({p[k]:.0%})" for k in order], fontsize=8)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_xlabel("value share, % of stack profit (weighted mean, 5%-95%)", fontsize=8)
        ax.set_title(f"by {level} (P of capturing the most value)", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        f"Value shares across {report['draws']} plausible worlds (effective "
        f"{report['effective_draws']:.1f})",
        fontsize=10,
    )
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out
