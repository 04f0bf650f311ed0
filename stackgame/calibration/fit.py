"""The fit of ``stackgame calibrate``: weighted least squares over a scenario's targets.

A target table (``environment/targets.py``) declares the figures a baseline must match
(``[[targets]]``) and the scenario fields a fit may move, with bounds (``[[parameters]]``).
The fit searches the unit cube ``u`` in ``[0, 1]^n``: parameter ``i`` is

    low_i + u_i (high_i - low_i)                      (scale "linear")
    exp(log low_i + u_i (log high_i - log low_i))      (scale "log")

(rounded to a whole number for an integer field). For a point it applies the values as
dotted overrides, runs the scenario on the same ``K`` seeds every time (common random
numbers: ``seed, ..., seed + K - 1``, the seeds of ``stackgame compare``), and takes each
target's model number as the mean over the seeds that measure it. The residual of target
``j`` is

    r_j = (model_j - value_j) / s_j,    s_j = max((high_j - low_j) / 2, bar_j) / sqrt(weight_j)

(its distance from the figure in half-ranges, or in the bar the baseline is held to
where that is wider: 5 points for a fraction, 25% of the figure for money;
``abs(r_j) <= 1`` for a weight-1 target is then inside its symmetric range or close),
and the objective is ``sum_j r_j^2`` (``docs/MODEL.md`` 19.2).
``scipy.optimize.least_squares`` (trust-region reflective,
bounded to the cube) minimises it with a forward-difference Jacobian of step
:data:`DIFF_STEP` in the cube (backward at the upper bound): a step wide enough that the
simulator's kinks (discrete postures, integration dates, rationing) average out rather
than give zero or huge slopes. Every run of the objective counts against ``max_evals``,
the Jacobian's included; when the budget is spent the best point seen is kept.

A target the scenario as given cannot measure (a window after the last round, a ratio
with nothing to divide by) is left out of the fit with a note. One that stops being
measurable at a trial point, or a trial point the scenario refuses or whose run fails,
counts as :data:`PENALTY` half-ranges off for each target, so the fit moves away.

The fitted values are rounded to :data:`SIGNIFICANT` significant digits (still within
their bounds) and evaluated once more: the ``after`` numbers are those of the scenario as
written, so ``stackgame run`` on the written file shows them (for the first seed).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from stackgame.environment.scenario import Scenario
    from stackgame.environment.targets import TargetSpec, TargetTable

DIFF_STEP = 0.05
"""Finite-difference step of the Jacobian, as a fraction of each parameter's range."""

PENALTY = 10.0
"""Residual of a target a trial point cannot measure (or of every target when it fails)."""

SIGNIFICANT = 4
"""Significant digits of a fitted value, as written to the calibrated scenario."""

DEFAULT_SEEDS = 4
DEFAULT_MAX_EVALS = 150


def seeds_of(root: int, k: int) -> list[int]:
    """The common seeds of every evaluation: ``root, root + 1, ..., root + k - 1``."""
    return [root + i for i in range(k)]


FIRST_STAGE = 0.4
"""``least_squares_powell``: the share of the budget left that least squares may spend."""

RESTART_GAIN = 0.01
"""``least_squares_powell``: another cycle while the last cut the objective by 1%."""

METHODS = ("least_squares", "powell", "least_squares_powell")
"""The fit's search methods (:func:`fit`)."""


class BudgetSpent(Exception):
    """Raised inside the objective when ``max_evals`` runs are done: the fit stops there."""


@dataclass(frozen=True)
class Parameter:
    """A free parameter: a dotted scenario path, its bounds and the scenario's value.

    Attributes
    ----------
    path
        Dotted scenario path (as for ``--set``).
    low, high
        Bounds of the search.
    scale
        ``linear`` or ``log`` (the cube maps to the logarithm).
    start
        The scenario's value before the fit (may lie outside the bounds).
    integer
        Whether the field holds whole numbers (the value is rounded).
    note
        The target table's note.
    """

    path: str
    low: float
    high: float
    scale: str
    start: float
    integer: bool = False
    note: str = ""

    def value(self, u: float) -> float:
        """The parameter's value at cube coordinate ``u`` (clipped to ``[0, 1]``)."""
        u = min(max(float(u), 0.0), 1.0)
        if self.scale == "log":
            lo, hi = math.log(self.low), math.log(self.high)
            v = math.exp(lo + u * (hi - lo))
        else:
            v = self.low + u * (self.high - self.low)
        v = min(max(v, self.low), self.high)
        return float(round(v)) if self.integer else v

    def unit(self, value: float) -> float:
        """The cube coordinate of ``value`` (the inverse of :meth:`value`, clipped)."""
        v = min(max(float(value), self.low), self.high)
        if self.scale == "log":
            lo, hi = math.log(self.low), math.log(self.high)
            return (math.log(v) - lo) / (hi - lo)
        return (v - self.low) / (self.high - self.low)

    def rounded(self, value: float) -> float:
        """``value`` to :data:`SIGNIFICANT` significant digits, kept within the bounds."""
        if self.integer:
            return float(round(value))
        v = float(f"{value:.{SIGNIFICANT}g}")
        return min(max(v, self.low), self.high)


@dataclass
class Problem:
    """What the fit needs: the scenario, its table, the parameters and the common seeds.

    Build it with :func:`problem`, which checks every path and value first.
    """

    scenario: Scenario
    table: TargetTable
    parameters: list[Parameter]
    seeds: list[int]
    evaluations: int = 0
    failures: int = 0
    seconds: float = 0.0
    _cache: dict[tuple[float, ...], list[float | None] | None] = field(default_factory=dict)
    _errors: dict[tuple[float, ...], Exception] = field(default_factory=dict)

    def overrides(self, values: Sequence[float]) -> dict[str, Any]:
        """The parameter values as dotted overrides (whole numbers as ``int``)."""
        return {
            p.path: int(v) if p.integer else float(v)
            for p, v in zip(self.parameters, values, strict=True)
        }

    def measure(
        self, values: Sequence[float], *, tolerate: bool = False
    ) -> list[float | None] | None:
        """Each target's model number at ``values``: the mean over the seeds measuring it.

        Counts one evaluation (``len(seeds)`` runs); the same values are not run twice.
        A point the scenario refuses (an invalid value) or whose run fails (runaway
        numbers) raises, or with ``tolerate`` counts as a failure and gives ``None``.
        """
        key = tuple(float(v) for v in values)
        if key not in self._cache:
            self.evaluations += 1
            try:
                self._cache[key] = measure_scenario(
                    self.scenario, self.table, self.overrides(values), self.seeds
                )
            except (ValueError, ArithmeticError) as err:
                self.failures += 1
                self._cache[key] = None
                self._errors[key] = err
        result = self._cache[key]
        if result is None and not tolerate:
            raise self._errors[key]
        return result


def measure_scenario(
    scenario: Scenario,
    table: TargetTable,
    overrides: Mapping[str, Any],
    seeds: Sequence[int],
) -> list[float | None]:
    """Each target's model number, averaged over ``seeds``, for ``scenario`` changed.

    A target is averaged over the seeds whose run measures it (a finite number); ``None``
    when none does.
    """
    from stackgame.environment import targets
    from stackgame.environment.scenario import apply_overrides
    from stackgame.simulation.simulate import build

    sc = apply_overrides(scenario, dict(overrides)) if overrides else scenario
    sums = [0.0] * len(table.targets)
    counts = [0] * len(table.targets)
    for s in seeds:
        model = build(sc, seed=s, collect=False)
        try:
            model.run()
            for j, t in enumerate(table.targets):
                v = targets.measure(t, model)
                if v is not None and math.isfinite(v):
                    sums[j] += v
                    counts[j] += 1
        finally:
            model.release()
    return [sums[j] / counts[j] if counts[j] else None for j in range(len(sums))]


def value_at(scenario: Scenario, path: str) -> Any:
    """The value of a scenario field by dotted path (lists by their entries' ``name``).

    Raises :class:`~stackgame.environment.scenario.ScenarioError` (via ``apply_overrides``'
    own check) for a path that names no field.
    """
    from stackgame.environment.scenario import apply_overrides

    raw = scenario.model_dump(mode="python")
    node: Any = raw
    for key in path.split("."):
        if isinstance(node, list):
            named = [item for item in node if isinstance(item, dict) and item.get("name") == key]
            if named:
                node = named[0]
            elif key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                node = None
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            node = None
        if node is None:
            apply_overrides(scenario, {path: 0.0}, validate=False)  # raises, naming the path
            raise ValueError(f"{path}: no such field")  # pragma: no cover - raised above
    return node


def problem(
    scenario: Scenario,
    table: TargetTable,
    seeds: Sequence[int],
    source: str = "<targets>",
) -> Problem:
    """Check the table's parameters against ``scenario`` and make the fit's problem.

    Raises ``ValueError`` (one line naming ``source`` and the path) for a table without
    parameters, a path that names no field or a field that is not a number, and for no
    seeds.
    """
    from stackgame.environment.scenario import ScenarioError

    if not seeds:
        raise ValueError("seeds: the fit needs at least one seed")
    if not table.parameters:
        raise ValueError(f"{source}: no [[parameters]]: nothing for the fit to move")
    if not table.targets:
        raise ValueError(f"{source}: no [[targets]]: nothing for the fit to match")
    params = []
    for p in table.parameters:
        where = f"{source}: parameters.{p.path}"
        try:
            value = value_at(scenario, p.path)
        except ScenarioError as err:
            raise ValueError(f"{where}: {err}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: not a number (got {value!r})")
        if p.path.endswith(".restrain_markup"):
            extract = value_at(scenario, p.path[: -len("restrain_markup")] + "extract_markup")
            if p.high > extract:
                raise ValueError(
                    f"{where}: high {p.high:g} is above the operation's extract_markup "
                    f"{extract:g}: the fit could make restraint dearer than extraction "
                    "(set high to at most the extract markup)"
                )
        params.append(
            Parameter(
                path=p.path,
                low=p.low,
                high=p.high,
                scale=p.scale,
                start=float(value),
                integer=isinstance(value, int),
                note=p.note,
            )
        )
    return Problem(scenario=scenario, table=table, parameters=params, seeds=list(seeds))


def residual(target: TargetSpec, model: float | None) -> float | None:
    """``(model - value) / s``, ``s = max((high - low) / 2, bar) / sqrt(weight)``.

    ``bar`` is the tolerance the baseline is held to (:func:`~stackgame.environment.targets.close`):
    5 points for a fraction, 25% of the figure for money. A range narrower than the bar
    (a reported revenue known to the million) would otherwise make its target outweigh
    every other. ``None``: no number.
    """
    from stackgame.environment import targets

    if model is None or not math.isfinite(model):
        return None
    scale = max((target.high - target.low) / 2.0, targets.bar(target)) / math.sqrt(target.weight)
    return (model - target.value) / scale


def _objective(residuals: Sequence[float | None]) -> float:
    return float(sum(r * r for r in residuals if r is not None))


def residual_vector(
    targets: Sequence[TargetSpec], included: Sequence[bool], measured: Sequence[float | None]
) -> np.ndarray:
    """The residuals the fit minimises, :data:`PENALTY` where a number is missing.

    Of the fitted ``targets`` (``included`` picks their numbers from ``measured``, one per
    target of the table); ``sum(r**2)`` is the fit's objective.
    """
    rows = [m for m, inc in zip(measured, included, strict=True) if inc]
    return np.array(
        [
            PENALTY if (r := residual(t, m)) is None else r
            for t, m in zip(targets, rows, strict=True)
        ],
        dtype=float,
    )


def _cost(
    targets: Sequence[TargetSpec], included: Sequence[bool], measured: Sequence[float | None]
) -> float:
    """The objective of the fitted targets (``included`` picks them from ``measured``)."""
    return _objective(residual_vector(targets, included, measured).tolist())


@dataclass
class FitResult:
    """What the fit found (:meth:`to_dict` is the ``--json`` of ``stackgame calibrate``)."""

    problem: Problem
    before: list[float | None]
    after: list[float | None]
    fitted: list[float]
    included: list[bool]
    status: str
    seconds: float
    start_objective: float | None = None
    """The objective at the point the search started from (``None``: it failed there)."""

    @property
    def objective_before(self) -> float:
        """Sum of squared residuals of the fitted targets, before the fit."""
        return self._objective(self.before)

    @property
    def objective_after(self) -> float:
        """Sum of squared residuals of the fitted targets, at the written values."""
        return self._objective(self.after)

    def _objective(self, measured: list[float | None]) -> float:
        chosen = [
            t for t, inc in zip(self.problem.table.targets, self.included, strict=True) if inc
        ]
        return _cost(chosen, self.included, measured)

    def overrides(self) -> dict[str, Any]:
        """The fitted values as dotted overrides (what the written scenario changes)."""
        return self.problem.overrides(self.fitted)

    def inside(self, measured: list[float | None]) -> int:
        """How many targets have a model number inside their range."""
        from stackgame.environment.targets import inside

        return sum(
            bool(inside(m, t.low, t.high))
            for t, m in zip(self.problem.table.targets, measured, strict=True)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: parameters, targets, inside counts, objective, evaluations, seconds."""
        from stackgame.environment.targets import inside

        pb = self.problem
        targets = []
        for t, b, a, inc in zip(
            pb.table.targets, self.before, self.after, self.included, strict=True
        ):
            targets.append(
                {
                    "name": t.name,
                    "figure": t.figure,
                    "kind": t.kind,
                    "unit": t.unit,
                    "window": t.window,
                    "target": t.value,
                    "low": t.low,
                    "high": t.high,
                    "weight": t.weight,
                    "model_before": b,
                    "model_after": a,
                    "residual_before": residual(t, b),
                    "residual_after": residual(t, a),
                    "inside_before": inside(b, t.low, t.high),
                    "inside_after": inside(a, t.low, t.high),
                    "fitted": inc,
                    "note": "" if inc else "not measured by the scenario's run: left out",
                }
            )
        return {
            "scenario": pb.scenario.name,
            "table": pb.table.name,
            "seeds": list(pb.seeds),
            "parameters": [
                {
                    "path": p.path,
                    "low": p.low,
                    "high": p.high,
                    "scale": p.scale,
                    "before": p.start,
                    "after": v,
                    "at_bound": v in (p.low, p.high),
                    "note": p.note,
                }
                for p, v in zip(pb.parameters, self.fitted, strict=True)
            ],
            "targets": targets,
            "inside_before": self.inside(self.before),
            "inside_after": self.inside(self.after),
            "measured": sum(self.included),
            "objective_before": self.objective_before,
            "objective_after": self.objective_after,
            "evaluations": pb.evaluations,
            "failed_evaluations": pb.failures,
            "runs": pb.evaluations * len(pb.seeds),
            "status": self.status,
            "seconds": self.seconds,
        }


def fit(
    pb: Problem,
    *,
    max_evals: int = DEFAULT_MAX_EVALS,
    progress: bool | Callable[[int], None] = False,
    method: str = "least_squares",
    from_unit: Sequence[float] | None = None,
) -> FitResult:
    """Fit ``pb``'s parameters to its targets by weighted least squares.

    ``method``: ``least_squares`` (trust-region reflective on the residuals, with a
    forward-difference Jacobian), ``powell`` (Powell's derivative-free line searches on
    the objective, bounded to the cube: slower to start, but it does not lean on slopes,
    which a simulator's kinks, failures and rationing make unreliable) or
    ``least_squares_powell`` (cycles of the two, each from the best point seen: least
    squares on at most :data:`FIRST_STAGE` of the budget left, then Powell; another
    cycle while the last gained :data:`RESTART_GAIN`: least squares moves every
    parameter at once and gets near fast, then stalls where a failure or a rationing
    threshold breaks the slopes; Powell's line searches go on from there, and a fresh
    trust region and set of directions leave the valley the last cycle settled in). All
    minimise the same sum of squares within the same budget and keep the best point
    seen.

    Parameters
    ----------
    pb
        The problem (:func:`problem`).
    max_evals
        Most evaluations of the objective (each is ``len(seeds)`` runs), the first (the
        scenario as given) and the Jacobian's included; the final evaluation of the
        rounded values comes on top.
    progress
        ``True`` for a progress bar on stderr, or a function called with the number of
        evaluations done after each.
    from_unit
        Where the search starts, in the cube (a start of :func:`fit_starts`); ``None``:
        the scenario's own values. The "before" numbers are the scenario's either way
        (one evaluation), and the start point is one more when it differs.

    Returns
    -------
    FitResult
        The model numbers before and after, the fitted values and why the fit stopped.
    """
    from scipy.optimize import least_squares
    from tqdm import tqdm

    if max_evals < 1:
        raise ValueError(f"max_evals: must be at least 1 (got {max_evals})")
    started = time.perf_counter()
    bar = None
    if progress is True:
        bar = tqdm(total=max_evals, desc="calibrate evaluations", file=sys.stderr)
    tick: Callable[[int], None] | None = progress if callable(progress) else None

    def report() -> None:
        if bar is not None and bar.n != min(pb.evaluations, max_evals):
            bar.n = min(pb.evaluations, max_evals)
            bar.refresh()
        if tick is not None:
            tick(pb.evaluations)

    params = pb.parameters
    start = [p.start for p in params]
    before = pb.measure(start)  # the scenario as given: its errors are the user's
    assert before is not None
    report()
    included = [m is not None for m in before]
    targets = [t for t, inc in zip(pb.table.targets, included, strict=True) if inc]
    if not targets:
        raise ValueError(f"{pb.table.name}: the run measures none of the targets")

    def unit_of(values: Sequence[float]) -> np.ndarray:
        return np.array([p.unit(v) for p, v in zip(params, values, strict=True)])

    u0 = unit_of(start)
    best: dict[str, Any] = {"cost": math.inf, "values": start}
    u_first = u0 if from_unit is None else np.clip(np.asarray(from_unit, dtype=float), 0.0, 1.0)
    if u_first.shape != u0.shape:
        raise ValueError(f"from_unit: {u_first.size} coordinates for {u0.size} parameters")

    def values_of(u: np.ndarray) -> list[float]:
        # the start point exactly as the scenario has it (no round trip through the cube)
        return [p.start if u[i] == u0[i] else p.value(float(u[i])) for i, p in enumerate(params)]

    limit = {"evals": max_evals}  # the current stage's budget (less for least squares in a cycle)

    def fun(u: np.ndarray) -> np.ndarray:
        values = values_of(u)
        key = tuple(values)
        if key not in pb._cache and pb.evaluations >= limit["evals"]:
            raise BudgetSpent
        measured = pb.measure(values, tolerate=True)
        if measured is None:
            report()
            return np.full(len(targets), PENALTY)
        report()
        rows = [m for m, inc in zip(measured, included, strict=True) if inc]
        r = np.array(
            [
                PENALTY if (x := residual(t, m)) is None else x
                for t, m in zip(targets, rows, strict=True)
            ]
        )
        cost = float(r @ r)
        if cost < best["cost"]:
            best.update(cost=cost, values=values)
        return r

    def jac(u: np.ndarray) -> np.ndarray:
        f0 = fun(u)
        out = np.empty((f0.size, u.size))
        for i in range(u.size):
            h = DIFF_STEP if u[i] + DIFF_STEP <= 1.0 else -DIFF_STEP
            v = u.copy()
            v[i] = u[i] + h
            out[:, i] = (fun(v) - f0) / h
        return out

    def run_powell(start_u: np.ndarray) -> Any:
        from scipy.optimize import minimize

        def objective(u: np.ndarray) -> float:
            r = fun(np.clip(u, 0.0, 1.0))
            return float(r @ r)

        return minimize(
            objective,
            start_u,
            method="Powell",
            bounds=[(0.0, 1.0)] * len(params),
            options={"maxfev": max_evals, "xtol": 1e-3, "ftol": 1e-4},
        )

    def run_least_squares(start_u: np.ndarray) -> Any:
        return least_squares(
            fun,
            start_u,
            jac=jac,
            bounds=(np.zeros(len(params)), np.ones(len(params))),
            method="trf",
            x_scale=np.ones(len(params)),
            max_nfev=max_evals,
            xtol=1e-4,
            ftol=1e-4,
            gtol=1e-6,
        )

    status = "finished"
    if method not in METHODS:
        raise ValueError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    prefix = ""  # which cycle the status is of (least_squares_powell)
    try:
        if method == "least_squares_powell":
            # cycles of least squares (at most FIRST_STAGE of the budget left) then Powell,
            # each from the best point seen, while a cycle gains at least RESTART_GAIN: a
            # fresh trust region and a fresh set of directions leave the valley the last
            # cycle settled in
            cycles = 0
            u_start = u_first
            while True:
                cycles += 1
                prefix = f"cycle {cycles} of least squares then Powell: "
                cost_before = best["cost"]
                spent = pb.evaluations
                limit["evals"] = spent + max(1, int(FIRST_STAGE * (max_evals - spent)))
                try:
                    run_least_squares(u_start)
                except BudgetSpent:
                    if pb.evaluations >= max_evals:
                        raise
                limit["evals"] = max_evals
                res = run_powell(unit_of(best["values"]))
                u_start = unit_of(best["values"])
                if best["cost"] > (1.0 - RESTART_GAIN) * cost_before:
                    break
        elif method == "powell":
            res = run_powell(u_first)
        else:
            res = run_least_squares(u_first)
        status = f"converged: {res.message}" if res.success else f"stopped: {res.message}"
    except BudgetSpent:
        status = f"stopped: the budget of {max_evals} evaluations is spent"
    status = prefix + status
    fitted = [p.rounded(v) for p, v in zip(params, best["values"], strict=True)]
    after = pb.measure(fitted, tolerate=True) if fitted != start else before
    report()
    if after is None or _cost(targets, included, after) > _cost(targets, included, before):
        # rounding (or a fit that found nothing better) made it worse: keep the scenario
        status += "; the fitted values did no better than the scenario's: kept those"
        fitted, after = list(start), before
    if bar is not None:
        bar.close()
    first = pb._cache.get(tuple(float(v) for v in values_of(u_first)))  # None: failed or unrun
    return FitResult(
        problem=pb,
        before=before,
        after=after,
        fitted=fitted,
        included=included,
        status=status,
        seconds=time.perf_counter() - started,
        start_objective=None if first is None else _cost(targets, included, first),
    )


# -- many starts -------------------------------------------------------------------------

START_STREAM = 2_000_000
"""Spawn key of the multi-start design under the fit's ``--seed`` (:mod:`stackgame.seeds`)."""


def start_design(n_params: int, starts: int, seed: int) -> np.ndarray:
    """The cube points of starts ``1 .. starts - 1`` (start 0 is the scenario's own values).

    The first ``starts - 1`` points of a scrambled Sobol sequence in ``n_params``
    dimensions (Owen scrambling, :class:`scipy.stats.qmc.Sobol`), its scrambling drawn
    from the stream ``(START_STREAM,)`` under ``seed``. A prefix of the same sequence
    whatever ``starts`` is: start ``s`` is the same point for ``--starts 4`` and
    ``--starts 8`` (the sequence is drawn to the next power of two and cut). Shape
    ``(starts - 1, n_params)``.
    """
    from scipy.stats import qmc

    from stackgame.seeds import generator

    if starts < 1:
        raise ValueError(f"starts: must be at least 1 (got {starts})")
    if starts == 1:
        return np.empty((0, n_params))
    m = max(0, math.ceil(math.log2(starts - 1)))
    sobol = qmc.Sobol(d=n_params, scramble=True, rng=generator(seed, START_STREAM))
    return np.asarray(sobol.random_base2(m)[: starts - 1])


def start_point(n_params: int, start: int, seed: int) -> list[float] | None:
    """Start ``start``'s cube point (:func:`start_design`); ``None`` for start 0."""
    if start < 0:
        raise ValueError(f"start: must be at least 0 (got {start})")
    if start == 0:
        return None
    return [float(x) for x in start_design(n_params, start + 1, seed)[start - 1]]


def fresh(pb: Problem) -> Problem:
    """``pb`` with nothing evaluated: a start's own count, cache and budget."""
    return Problem(scenario=pb.scenario, table=pb.table, parameters=pb.parameters, seeds=pb.seeds)


def _run_starts(
    pb: Problem, max_evals: int, method: str, jobs: Sequence[tuple[int, list[float] | None]]
) -> list[tuple[int, FitResult]]:
    """Fit from each ``(start id, cube point)`` of ``jobs``, each on a fresh problem."""
    out = []
    for start, point in jobs:
        result = fit(fresh(pb), max_evals=max_evals, method=method, from_unit=point)
        result.problem._cache.clear()  # what goes back to the driver: the result, not the runs
        result.problem._errors.clear()
        out.append((start, result))
    return out


@dataclass
class MultiStart:
    """The fits of :func:`fit_starts`, by start, and what they say together.

    Attributes
    ----------
    results
        One :class:`FitResult` per start, start 0 (the scenario's values) first.
    points
        Each start's cube point (``None`` for start 0).
    seed
        The seed of the design (the fit's ``--seed``).
    seconds
        Wall time of all the starts.
    """

    results: list[FitResult]
    points: list[list[float] | None]
    seed: int
    seconds: float

    @property
    def best(self) -> int:
        """The start with the lowest final objective (the lowest id among equals)."""
        objectives = [r.objective_after for r in self.results]
        return objectives.index(min(objectives))

    def spread(self) -> list[dict[str, Any]]:
        """Per fitted target: in how many starts' final points it is outside its range.

        With the model's lowest and highest number across the starts and the side it
        misses on (``above``, ``below`` or ``both`` ranges' sides).
        """
        from stackgame.environment.targets import inside

        rows = []
        first = self.results[0]
        for j, t in enumerate(first.problem.table.targets):
            if not first.included[j]:
                continue
            values = [r.after[j] for r in self.results]
            finite = [v for v in values if v is not None and math.isfinite(v)]
            out = [inside(v, t.low, t.high) is not True for v in values]
            above = all(v > t.high for v in finite) and len(finite) == len(values)
            below = all(v < t.low for v in finite) and len(finite) == len(values)
            rows.append(
                {
                    "name": t.name,
                    "figure": t.figure,
                    "unit": t.unit,
                    "target": t.value,
                    "low": t.low,
                    "high": t.high,
                    "outside_in": sum(out),
                    "starts": len(values),
                    "model_min": min(finite) if finite else None,
                    "model_max": max(finite) if finite else None,
                    "side": "above" if above else "below" if below else "both",
                }
            )
        return rows

    def conflicts(self) -> list[dict[str, Any]]:
        """The targets outside their range in every start's final point."""
        return [row for row in self.spread() if row["outside_in"] == row["starts"]]

    def to_dict(self) -> dict[str, Any]:
        """The best start's report (:meth:`FitResult.to_dict`) with the starts and conflicts.

        Added keys: ``starts`` (per start: ``start``, ``point`` ``scenario`` or ``sobol``,
        ``objective_start``, ``objective_final``, ``inside_final``, ``evaluations``,
        ``failed_evaluations``, ``seconds``, ``status``, ``best``), ``best_start``,
        ``design`` (how the starts were chosen), ``evaluations_total``, ``outside``
        (:meth:`spread`'s rows outside in at least one start) and ``conflicts`` (outside
        in every start).
        """
        best = self.best
        report = self.results[best].to_dict()
        report["starts"] = [
            {
                "start": s,
                "point": "scenario" if self.points[s] is None else "sobol",
                "objective_start": r.start_objective,
                "objective_final": r.objective_after,
                "inside_final": r.inside(r.after),
                "evaluations": r.problem.evaluations,
                "failed_evaluations": r.problem.failures,
                "seconds": r.seconds,
                "status": r.status,
                "best": s == best,
            }
            for s, r in enumerate(self.results)
        ]
        report["best_start"] = best
        report["design"] = (
            f"start 0: the scenario's values; starts 1..{len(self.results) - 1}: a scrambled "
            f"Sobol sequence in the cube, stream ({START_STREAM},) under seed {self.seed}"
            if len(self.results) > 1
            else "start 0: the scenario's values"
        )
        report["evaluations_total"] = sum(r.problem.evaluations for r in self.results)
        report["wall_seconds"] = self.seconds
        spread = self.spread()
        report["outside"] = [row for row in spread if row["outside_in"] > 0]
        report["conflicts"] = [row for row in spread if row["outside_in"] == row["starts"]]
        return report


def fit_starts(
    pb: Problem,
    *,
    starts: int,
    seed: int,
    workers: int = 1,
    max_evals: int = DEFAULT_MAX_EVALS,
    method: str = "least_squares",
    progress: bool = False,
    mapper: Callable[..., list[Any]] | None = None,
) -> MultiStart:
    """:func:`fit` from ``starts`` points, each with its own budget of ``max_evals``.

    Start 0 is the scenario's own values (the one-start fit, exactly); starts ``1 ..
    starts - 1`` are :func:`start_design`'s points. Each start runs on a fresh problem: its
    result depends on its point alone, never on which process ran it or what ran there
    before. ``mapper`` runs them on ``workers`` processes: a function called as
    ``mapper(fn, blocks, workers, on_done=...)`` returning ``fn``'s lists concatenated
    (``stackgame calibrate`` passes
    :func:`stackgame.experiments.executor.map_blocks`, which sits above this package);
    ``None``: here, one after another. ``progress``: a bar of the starts done on stderr
    (one start: the fit's own bar of evaluations).
    """
    from functools import partial

    if starts < 1:
        raise ValueError(f"starts: must be at least 1 (got {starts})")
    if workers < 1:
        raise ValueError(f"workers: must be at least 1 (got {workers})")
    if method not in METHODS:
        raise ValueError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    started = time.perf_counter()
    design = start_design(len(pb.parameters), starts, seed)
    points: list[list[float] | None] = [None] + [[float(x) for x in row] for row in design]
    if starts == 1:
        one = fit(fresh(pb), max_evals=max_evals, progress=progress, method=method)
        return MultiStart([one], points, seed, time.perf_counter() - started)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=starts, desc="calibrate starts", file=sys.stderr)

    def tick(part: list[Any]) -> None:
        if bar is not None:
            bar.update(len(part))

    jobs = [[(s, points[s])] for s in range(starts)]
    run = partial(_run_starts, pb, max_evals, method)
    done: list[Any] = []
    if mapper is None or workers == 1:
        for job in jobs:
            part = run(job)
            done.extend(part)
            tick(part)
    else:
        done = mapper(run, jobs, min(workers, starts), on_done=tick)
    if bar is not None:
        bar.close()
    results = [r for _, r in sorted(done, key=lambda pair: pair[0])]
    return MultiStart(results, points, seed, time.perf_counter() - started)
