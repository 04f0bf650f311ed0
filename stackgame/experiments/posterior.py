"""The fit's approximate posterior: a Laplace approximation around the fitted point.

``stackgame calibrate`` (:mod:`stackgame.calibration.fit`) minimises ``sum_j r_j(u)^2``
over the unit cube ``u`` of the target table's ``[[parameters]]``, with ``r_j`` the
target's miss in half-ranges (or bars), so that one unit of ``r_j`` is one plausible
half-range: one standard deviation of a Gaussian likelihood ``exp(-0.5 ||r(u)||^2)``, and
no further ``sigma^2`` is estimated. With the uniform prior over the bounds, the posterior
is ``p(u) proportional to exp(-0.5 ||r(u)||^2)`` on the cube (``docs/MODEL.md`` 19.1).

Around the scenario's own values ``u*`` (the fitted point), the residuals are linearised,
``r(u) ~ r(u*) + J (u - u*)``, with ``J`` by forward differences of step
:data:`~stackgame.calibration.fit.DIFF_STEP` in the cube (backward at the upper bound),
as the fit's own Jacobian, on the fit's common seeds (:func:`jacobian`). The covariance is

    Sigma = (J^T J + P0)^-1,    P0 = 12 I,

``P0`` the precision of the uniform prior (variance 1/12 on the unit interval), so that a
parameter no target pins down keeps its bounds' spread. :func:`draw` draws from
``N(u*, Sigma)`` and redraws every point outside the cube (rejection: the proposal is the
Gaussian truncated to the cube, whose density is the Gaussian's up to a constant);
:mod:`stackgame.experiments.uncertainty` then runs each draw and weighs it by the
likelihood of the survival requirements, which stay out of ``J`` (events, not figures with
a Gaussian error): the product over the survival targets of the share of the draw's seeds
on which each holds. The importance ratio toward the exact posterior,
``exp(-0.5 ||r(u_i)||^2) / q(u_i)`` with ``log q(u) = -0.5 (u - u*)^T Sigma^-1 (u - u*)``,
is computed as a diagnostic only: with a model that misses its figures by far more than
their ranges it puts all the weight on one draw (``docs/MODEL.md`` 19.1.1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stackgame.errors import UserError

if TYPE_CHECKING:
    from stackgame.calibration.fit import Parameter
    from stackgame.environment.scenario import Scenario
    from stackgame.environment.targets import ParameterSpec, TargetTable

__all__ = [
    "PRIOR_PRECISION",
    "SEEDS",
    "Laplace",
    "covariance",
    "draw",
    "gibbs",
    "outside_bounds",
    "jacobian",
    "laplace",
    "mean_targets",
    "residuals_of",
    "step_points",
]

PRIOR_PRECISION = 12.0
"""Precision of the uniform prior on the unit interval (its variance is 1/12)."""

SEEDS = 4
"""Common seeds of the Jacobian and of every posterior draw: the fit's default
(``stackgame calibrate --seeds``, :data:`stackgame.calibration.fit.DEFAULT_SEEDS`)."""

REJECTION_CANDIDATES = 200_000
"""Most Gaussian candidates :func:`draw` tries before it turns to :func:`gibbs`."""

GIBBS_BURN = 200
"""Sweeps :func:`gibbs` discards before its first draw."""

GIBBS_THIN = 20
"""Sweeps between two kept draws of :func:`gibbs`."""

PINNED = 5
"""How many parameters the report names as pinned down most and least."""


def residuals_of(
    table: TargetTable, included: Sequence[bool], measured: Sequence[float | None]
) -> np.ndarray:
    """The fit's residual vector of the ``included`` targets of ``table``.

    :func:`stackgame.calibration.fit.residual_vector`, from one number per target.
    """
    from stackgame.calibration.fit import residual_vector

    chosen = [t for t, inc in zip(table.targets, included, strict=True) if inc]
    return residual_vector(chosen, included, measured)


def covariance(
    jac: np.ndarray, prior_precision: float = PRIOR_PRECISION
) -> tuple[np.ndarray, np.ndarray]:
    """``(Sigma, Sigma^-1)``: ``Sigma = (J^T J + P0)^-1``, ``P0 = prior_precision * I``.

    Examples
    --------
    >>> s, p = covariance(np.array([[2.0], [0.0]]))
    >>> float(s[0, 0]), float(p[0, 0])  # (4 + 12)^-1
    (0.0625, 16.0)
    """
    j = np.asarray(jac, dtype=float)
    precision = j.T @ j + prior_precision * np.eye(j.shape[1])
    return np.linalg.inv(precision), precision


def step_points(
    parameters: Sequence[Parameter], start: Sequence[float], step: float
) -> list[tuple[list[float], float]]:
    """The Jacobian's points: for parameter ``i``, ``start`` with it moved by ``step``.

    ``step`` is in the cube (backward where forward leaves it). Returns, per parameter,
    the values and the step actually taken in the cube (``0`` when a whole-number field
    does not move: its column is zero).
    """
    out = []
    for i, p in enumerate(parameters):
        u = p.unit(start[i])
        h = step if u + step <= 1.0 else -step
        moved = p.value(u + h)
        values = list(start)
        values[i] = moved
        out.append((values, p.unit(moved) - u))
    return out


def jacobian(
    r0: np.ndarray, moved: Sequence[np.ndarray | None], steps: Sequence[float]
) -> tuple[np.ndarray, list[int]]:
    """Forward differences ``(r(u* + h e_i) - r(u*)) / h``, a column per parameter.

    ``moved[i]`` is the residual vector at the ``i``-th step point (``None``: its run
    failed). A failed point or a zero step leaves a zero column (the prior alone governs
    that parameter); their indices are returned.
    """
    cols = np.zeros((r0.size, len(steps)))
    flat = []
    for i, (r, h) in enumerate(zip(moved, steps, strict=True)):
        if r is None or h == 0:
            flat.append(i)
            continue
        cols[:, i] = (r - r0) / h
    return cols, flat


def draw(
    centre: np.ndarray, sigma: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, int, str]:
    """``n`` draws of ``N(centre, sigma)`` truncated to the unit cube.

    By rejection while it works: candidates outside ``[0, 1]^d`` are dropped and more are
    drawn, in batches, in order (independent draws). When fewer than ``n`` of
    :data:`REJECTION_CANDIDATES` fall inside (a fit with several parameters at their
    bounds: each halves the chance), by :func:`gibbs` from the same generator instead.

    Returns the draws, the rejection candidates tried, and ``"rejection"`` or
    ``"gibbs"``. The same generator gives the same draws.
    """
    d = centre.size
    chol = np.linalg.cholesky(sigma)
    kept: list[np.ndarray] = []
    have = tried = 0
    while have < n and tried < REJECTION_CANDIDATES:
        batch = max(4 * (n - have), 256)
        z = rng.standard_normal((batch, d))
        u = centre + z @ chol.T
        inside: np.ndarray = np.asarray(((u >= 0.0) & (u <= 1.0)).all(axis=1))
        need = n - have
        if inside.sum() >= need:  # count the candidates up to the last one kept
            last = int(np.flatnonzero(inside)[need - 1])
            kept.append(u[: last + 1][inside[: last + 1]])
            return np.concatenate(kept), tried + last + 1, "rejection"
        kept.append(u[inside])
        have += int(inside.sum())
        tried += batch
    return gibbs(centre, np.linalg.inv(sigma), n, rng), tried, "gibbs"


def gibbs(
    centre: np.ndarray,
    precision: np.ndarray,
    n: int,
    rng: np.random.Generator,
    *,
    burn: int = GIBBS_BURN,
    thin: int = GIBBS_THIN,
) -> np.ndarray:
    """``n`` draws of ``N(centre, precision^-1)`` truncated to the unit cube, by Gibbs.

    The standard sampler of a truncated multivariate normal (Geweke 1991): one sweep
    draws each coordinate in turn from its conditional given the others, a normal of
    mean ``c_i - sum_{j != i} P_ij (u_j - c_j) / P_ii`` and variance ``1 / P_ii``,
    truncated to ``[0, 1]`` (by the inverse of its distribution function). It starts at
    ``centre`` clipped into the cube, discards ``burn`` sweeps and keeps one draw every
    ``thin`` sweeps.
    """
    from scipy.special import ndtr, ndtri

    p = np.asarray(precision, dtype=float)
    c = np.clip(np.asarray(centre, dtype=float), 0.0, 1.0)
    mu = np.asarray(centre, dtype=float)
    d = mu.size
    sd = 1.0 / np.sqrt(np.diag(p))
    u = c.copy()
    out = np.empty((n, d))
    kept = 0
    sweep = 0
    while kept < n:
        for i in range(d):
            m = mu[i] - (p[i] @ (u - mu) - p[i, i] * (u[i] - mu[i])) / p[i, i]
            lo, hi = ndtr((0.0 - m) / sd[i]), ndtr((1.0 - m) / sd[i])
            q = lo + (hi - lo) * rng.random()
            q = min(max(q, 1e-300), 1.0 - 1e-16)
            u[i] = min(max(m + sd[i] * float(ndtri(q)), 0.0), 1.0)
        sweep += 1
        if sweep > burn and (sweep - burn) % thin == 0:
            out[kept] = u
            kept += 1
    return out


def outside_bounds(scenario: Scenario, specs: Sequence[ParameterSpec]) -> list[str]:
    """The paths whose value in ``scenario`` is outside their bounds (or not a number).

    A scenario with none is a fitted point: ``stackgame calibrate`` keeps every value
    within its bounds.
    """
    from stackgame.calibration.fit import value_at

    out = []
    for p in specs:
        v = value_at(scenario, p.path)
        if isinstance(v, bool) or not isinstance(v, int | float) or not p.low <= v <= p.high:
            out.append(p.path)
    return out


@dataclass(frozen=True)
class Laplace:
    """The Laplace approximation at the scenario's values (:func:`laplace`).

    Attributes
    ----------
    parameters
        The fit's parameters (``start`` is the fitted value ``theta*``).
    centre
        ``u*``: the fitted point in the cube.
    jac
        ``J``: residuals by parameter, per unit of the cube.
    sigma, precision
        ``Sigma`` and its inverse ``J^T J + P0``.
    r0
        The residuals at ``u*`` (of the targets the scenario measures).
    included
        Per target of the table: whether the scenario measures it (the fit's choice).
    figures
        Per included target: a figure (``True``), or a survival requirement, which is
        left out of ``Sigma`` and enters the weights as a probability instead.
    seeds
        The common seeds.
    flat
        Indices of parameters whose column is zero (a failed or null step).
    evaluations
        Points run (each ``len(seeds)`` runs).
    """

    parameters: list[Parameter]
    centre: np.ndarray
    jac: np.ndarray
    sigma: np.ndarray
    precision: np.ndarray
    r0: np.ndarray
    included: list[bool]
    figures: np.ndarray
    seeds: list[int]
    flat: list[int]
    evaluations: int

    def residuals(self, table: TargetTable, measured: Sequence[float | None]) -> np.ndarray:
        """The fit's residual vector for one draw's numbers (one per target of ``table``)."""
        return residuals_of(table, self.included, measured)

    def log_proposal(self, unit: np.ndarray) -> np.ndarray:
        """``log q(u)`` up to a constant: ``-0.5 (u - u*)^T Sigma^-1 (u - u*)``, per row."""
        d = np.atleast_2d(unit) - self.centre
        return -0.5 * np.einsum("ij,jk,ik->i", d, self.precision, d)

    def values(self, unit: np.ndarray) -> dict[str, float]:
        """A draw's scenario values (rounded for whole-number fields)."""
        return {p.path: p.value(float(u)) for p, u in zip(self.parameters, unit, strict=True)}

    def sd_unit(self) -> np.ndarray:
        """Standard deviation of each parameter in the cube: ``sqrt(Sigma_ii)``."""
        return np.sqrt(np.diag(self.sigma))

    def sd(self) -> list[float]:
        """Standard deviation of each parameter in its own units (delta method).

        ``sd_u (high - low)``, or ``theta* sd_u (log high - log low)`` on the log scale.
        """
        out = []
        for p, s in zip(self.parameters, self.sd_unit(), strict=True):
            if p.scale == "log":
                out.append(float(p.start * s * (math.log(p.high) - math.log(p.low))))
            else:
                out.append(float(s * (p.high - p.low)))
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-ready: each parameter's value, Laplace sd and how far the targets pin it.

        Per parameter its fitted value, Laplace sd (own units and cube) and ``pinned``
        (``1 - sd_u / sd_prior``, ``sd_prior = 1/sqrt(12)``); the :data:`PINNED` most and
        least pinned, the seeds and the objective at ``theta*``.
        """
        prior_sd = 1.0 / math.sqrt(PRIOR_PRECISION)
        su = self.sd_unit()
        rows = [
            {
                "path": p.path,
                "value": p.start,
                "low": p.low,
                "high": p.high,
                "scale": p.scale,
                "laplace_sd": sd,
                "laplace_sd_unit": float(s),
                "pinned": float(1.0 - s / prior_sd),
                "flat_column": i in self.flat,
            }
            for i, (p, sd, s) in enumerate(zip(self.parameters, self.sd(), su, strict=True))
        ]
        order = sorted(range(len(rows)), key=lambda i: (su[i], i))
        return {
            "parameters": rows,
            "pinned_most": [rows[i]["path"] for i in order[:PINNED]],
            "pinned_least": [rows[i]["path"] for i in order[::-1][:PINNED]],
            "seeds": list(self.seeds),
            "prior_precision": PRIOR_PRECISION,
            "jacobian_step": _diff_step(),
            "evaluations": self.evaluations,
            "objective_at_fit": float(self.r0 @ self.r0),
        }


@dataclass(frozen=True)
class _Measure:
    """What every Jacobian point shares (pickled once per worker where fork is missing)."""

    scenario: Any
    table: Any
    paths: tuple[str, ...]
    integer: tuple[bool, ...]
    seeds: tuple[int, ...]


def _measure_block(config: _Measure, block: Sequence[tuple[int, list[float]]]) -> list:
    """Each point's target numbers (mean over the seeds), or ``None`` if its run fails."""
    from stackgame.calibration.fit import measure_scenario

    out = []
    for index, values in block:
        overrides = {
            path: int(v) if whole else float(v)
            for path, v, whole in zip(config.paths, values, config.integer, strict=True)
        }
        try:
            measured = measure_scenario(config.scenario, config.table, overrides, config.seeds)
        except (ValueError, ArithmeticError):
            measured = None
        out.append((index, measured))
    return out


def laplace(
    scenario: Scenario,
    table: TargetTable,
    paths: Sequence[str],
    seeds: Sequence[int],
    *,
    workers: int = 1,
    progress: bool = False,
    source: str = "<targets>",
) -> Laplace:
    """The Laplace approximation of the fit's posterior at the scenario's values.

    Parameters
    ----------
    scenario
        The fitted scenario (its values of ``paths`` are ``theta*``; rounds as run).
    table
        Its target table.
    paths
        The parameters to approximate (the table's, less those the caller holds).
    seeds
        The common seeds of every point.
    workers
        Processes for the ``len(paths) + 1`` points.
    progress
        A progress bar on stderr.

    Raises
    ------
    UserError
        A value outside its bounds (the scenario is not a fitted point), or the
        scenario's own run fails or measures no target.
    """
    from stackgame.calibration.fit import DIFF_STEP, problem
    from stackgame.experiments.executor import map_items

    try:
        pb = problem(scenario, table, seeds, source)
    except ValueError as err:
        raise UserError(f"--uncertainty: {err}") from None
    wanted = set(paths)
    params = [p for p in pb.parameters if p.path in wanted]
    outside = [p.path for p in params if not p.low <= p.start <= p.high]
    if outside:
        raise UserError(
            f"--uncertainty-from posterior: scenario {scenario.name!r} is not a fitted point: "
            f"{', '.join(outside)} outside its [[parameters]] bounds (use "
            "--uncertainty-from ranges, or stackgame calibrate first)"
        )
    start = [p.start for p in params]
    points = step_points(params, start, DIFF_STEP)
    config = _Measure(
        scenario,
        table,
        tuple(p.path for p in params),
        tuple(p.integer for p in params),
        tuple(seeds),
    )
    items = [(0, start), *[(i + 1, values) for i, (values, _) in enumerate(points)]]
    rows = map_items(
        functools.partial(_measure_block, config),
        items,
        workers,
        desc="posterior: Jacobian points",
        progress=progress,
    )
    measured = dict(rows)
    base = measured[0]
    if base is None:
        raise UserError(f"--uncertainty: scenario {scenario.name!r} fails to run at its values")
    included = [m is not None for m in base]
    if not any(included):
        raise UserError(f"--uncertainty: {table.name}: the run measures none of the targets")
    r0 = residuals_of(table, included, base)
    moved = [
        None if measured[i + 1] is None else residuals_of(table, included, measured[i + 1])
        for i in range(len(params))
    ]
    jac, flat = jacobian(r0, moved, [h for _, h in points])
    chosen = [t for t, inc in zip(table.targets, included, strict=True) if inc]
    figures = np.array([t.kind != "survival" for t in chosen], dtype=bool)
    sigma, precision = covariance(jac[figures])
    centre = np.array([p.unit(p.start) for p in params])
    return Laplace(
        parameters=params,
        centre=centre,
        jac=jac,
        sigma=sigma,
        precision=precision,
        r0=r0,
        included=included,
        figures=figures,
        seeds=list(seeds),
        flat=flat,
        evaluations=len(items),
    )


def _diff_step() -> float:
    from stackgame.calibration.fit import DIFF_STEP

    return DIFF_STEP


def mean_targets(per_seed: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Each target's number averaged over the seeds measuring it (as the fit's)."""
    names: dict[str, None] = {}
    for row in per_seed:
        names.update(dict.fromkeys(row))
    out: dict[str, float | None] = {}
    for name in names:
        xs = [x for row in per_seed if (x := row.get(name)) is not None and math.isfinite(x)]
        out[name] = sum(xs) / len(xs) if xs else None
    return out
