"""Scripted experiment batches: a TOML spec, a design, replicates, and a resumable run.

A batch spec (examples in ``runs/``) names a scenario, the rounds, the parameters to vary
(any scenario field by its dotted path, a seat's strategy as ``firms.<name>.strategy``),
a design (full factorial, Latin hypercube, or Sobol or Morris through SALib), replicates
with seeds derived from one root seed, and the metrics to keep (per run, optionally per
round and per firm and round)::

    [batch]
    name = "smoke"
    scenario = "ai-stack-2026"     # a built-in name or a path (relative to this file)
    rounds = 8
    seed = 2026                    # the root seed
    replicates = 2
    design = "factorial"           # factorial | lhs | sobol | morris
    # samples = 64                 # lhs: points; sobol: N (a power of 2); morris: trajectories
    # uncertainty = 16             # per run: who wins across 16 plausible worlds
    # uncertainty_from = "ranges"  # draw over the bounds, not the fit's posterior

    [fixed]                        # applied to every run
    "regulator.enabled" = true

    [parameters]                   # a list of values, or a range {min, max}
    "regulator.stance" = [0.0, 0.5, 1.0]
    "firms.nvidia.strategy" = ["always_restrain", "always_extract"]
    "demand.growth" = {min = -0.02, max = 0.04, levels = 3}

    [metrics]
    keep = ["value_share.layer.*", "final_spend"]   # glob patterns over RunResult.metrics()
    per_round = false              # a per-round, per-layer table beside the runs
    per_firm = false               # a per-round, per-firm table beside the runs

Every run is enumerated up front: design point ``p`` (in design order) and replicate
``r`` give the run index ``i = p * replicates + r``, the run id
``"{p:05d}-{r:03d}-{hash}"`` (zero-padded, so the ids sort in enumeration order; the hash
covers the spec, the point's values and the seed, so a changed spec never reuses a row)
and the seed ``SeedSequence(root, spawn_key=(i,))`` (the ``i``-th child of
``SeedSequence(root).spawn``), or ``spawn_key=(r,)`` with ``common_random_numbers =
true`` (every design point sees the same shocks in replicate ``r``, which lowers the
variance of comparisons between points).

With ``uncertainty = N`` every run is also ``stackgame run --uncertainty N`` on its
scenario and seed (:mod:`stackgame.experiments.uncertainty`): ``N`` draws over the target
table's ``[[parameters]]`` (those the spec fixes or varies keep the spec's value), from the
fit's approximate posterior or the table's ranges (``uncertainty_from = "posterior"`` or
``"ranges"``; by default as ``stackgame run``: the posterior where the run's scenario is a
fitted point, every drawn value inside its bounds), and the
run's row gains ``winner_probability.layer.<name>``, ``winner_probability.firm.<name>``,
``value_share_mean``/``_low``/``_high`` per layer and firm, and ``effective_draws``.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stackgame import seeds
from stackgame.errors import UserError, read_toml
from stackgame.experiments.executor import TABLES_KEY, ExecutionSummary, ResultStore, Task, execute

__all__ = [
    "DESIGNS",
    "BatchOutcome",
    "BatchSpec",
    "Parameter",
    "RunConfig",
    "load_spec",
    "parse_spec",
    "run_batch",
    "run_simulation",
    "select_metrics",
]

DESIGNS = ("factorial", "lhs", "sobol", "morris")

_BATCH_KEYS = {
    "name": str,
    "description": str,
    "scenario": str,
    "rounds": int,
    "seed": int,
    "replicates": int,
    "design": str,
    "samples": int,
    "levels": int,
    "second_order": bool,
    "common_random_numbers": bool,
    "timeout": (int, float),
    "uncertainty": int,
    "uncertainty_from": str,
}
_METRIC_KEYS = {"keep": list, "per_round": bool, "per_firm": bool}
_REPORT_KEYS = {
    "headline": list,
    "x": str,
    "facet": str,
    "title": str,
    "ylabel": str,
    "interval": str,
}
_TOP_KEYS = ("batch", "fixed", "parameters", "metrics", "report")

POINT_COLUMN = "design_point"
REPLICATE_COLUMN = "replicate"


class SpecError(UserError):
    """A batch spec that cannot be used: names the spec file, the field and the problem."""


# -- parameters --------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One varied parameter: a list of values, or a numeric range.

    Attributes
    ----------
    path
        Dotted scenario path (``regulator.stance``, ``firms.nvidia.strategy``).
    values
        The values, for a discrete parameter (``None`` for a range).
    low, high
        The range's bounds, for a continuous parameter.
    integer
        Whether a range holds integers (values are rounded).
    levels
        Points of a range in a full factorial design (``numpy.linspace``).
    """

    path: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    integer: bool = False
    levels: int | None = None

    @property
    def is_range(self) -> bool:
        """Whether the parameter is a numeric range (not a list of values)."""
        return self.values is None

    def factorial_values(self) -> list[Any]:
        """Return the values a full factorial design crosses."""
        if self.values is not None:
            return list(self.values)
        assert self.low is not None and self.high is not None and self.levels is not None
        grid = np.linspace(self.low, self.high, self.levels)
        return [self._cast(x) for x in grid]

    def at(self, u: float) -> Any:
        """Map a point ``u`` of the unit interval to a value (sampled designs).

        A range maps linearly (``low + u (high - low)``, rounded for integers); a list
        of ``k`` values maps ``u`` to item ``min(floor(u k), k - 1)`` (uniform over the
        items).
        """
        if self.values is not None:
            k = len(self.values)
            return self.values[min(int(math.floor(u * k)), k - 1)]
        assert self.low is not None and self.high is not None
        return self._cast(self.low + float(u) * (self.high - self.low))

    def _cast(self, x: float) -> Any:
        # 12 significant digits: 0.6, not linspace's 0.6000000000000001
        return int(round(float(x))) if self.integer else float(f"{float(x):.12g}")


# -- the spec ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSpec:
    """A parsed, validated batch spec (see the module docstring for the file format).

    Attributes
    ----------
    source
        The spec file (for messages and the manifest).
    name, description
        Labels.
    scenario
        Built-in scenario name, or an absolute path to a scenario TOML file.
    rounds
        Rounds per run (``None``: the scenario's own).
    seed
        The root seed.
    replicates
        Runs per design point (each with its own seed).
    design
        One of :data:`DESIGNS`.
    samples
        Latin hypercube points, Sobol base samples ``N`` or Morris trajectories.
    levels
        Morris grid levels.
    second_order
        Sobol: also sample for second-order indices.
    common_random_numbers
        Seed by replicate only, so every design point sees the same random shocks.
    timeout
        Seconds a run may take before it is stopped and recorded as ``"timeout"``.
    uncertainty
        Parameter draws per run (``stackgame run --uncertainty``); 0: none.
    uncertainty_from
        ``posterior``, ``ranges`` or ``None`` (by the scenario: ``stackgame run``'s default).
    fixed
        Overrides applied to every run (dotted path to value).
    parameters
        The varied parameters, in the spec's order.
    keep
        Glob patterns of the per-run metrics to keep (empty: all).
    per_round, per_firm
        Write the per-round tables beside the runs.
    report
        Options for ``stackgame report``: ``headline`` (metric patterns of the headline
        figure), ``x`` (its parameter), ``facet`` (one panel per value of this
        parameter), ``title``, ``ylabel`` (the y axis, with units), ``interval``
        (error bars: ``"sd"`` over replicates, the default, or ``"ci95"``, the 95%
        t-interval of the mean).
    raw
        The parsed TOML (for the hash and the manifest).
    """

    source: str
    name: str
    description: str
    scenario: str
    rounds: int | None
    seed: int
    replicates: int
    design: str
    samples: int | None
    levels: int
    second_order: bool
    common_random_numbers: bool
    timeout: float | None
    uncertainty: int
    uncertainty_from: str | None
    fixed: Mapping[str, Any]
    parameters: tuple[Parameter, ...]
    keep: tuple[str, ...]
    per_round: bool
    per_firm: bool
    report: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)

    # -- identity ----------------------------------------------------------------------
    def digest(self) -> str:
        """SHA-256 of what determines the runs (canonical JSON of the spec).

        Comments, layout, labels (``batch.name``, ``batch.description``) and the
        ``[report]`` table are left out: changing them does not invalidate recorded runs.
        """
        runs_part = {k: v for k, v in self.raw.items() if k != "report"}
        runs_part["batch"] = {
            k: v for k, v in runs_part.get("batch", {}).items() if k not in ("name", "description")
        }
        blob = json.dumps(
            {
                "spec": runs_part,
                "order": self.parameter_names,  # the design depends on the order
                "seed": self.seed,
                "scenario": _scenario_identity(self.scenario),
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def parameter_names(self) -> list[str]:
        """Dotted paths of the varied parameters."""
        return [p.path for p in self.parameters]

    # -- the design ----------------------------------------------------------------------
    def problem(self) -> dict[str, Any]:
        """Return the SALib problem: each parameter on the unit interval (see Parameter.at)."""
        return {
            "num_vars": len(self.parameters),
            "names": self.parameter_names,
            "bounds": [[0.0, 1.0]] * len(self.parameters),
        }

    def unit_sample(self) -> np.ndarray:
        """Sample the design on the unit hypercube, one row per design point.

        Latin hypercube, Sobol (Saltelli's scheme through SALib: ``N (D + 2)`` points, or
        ``N (2 D + 2)`` with second-order indices) or Morris trajectories (``N (D + 1)``
        points on a ``levels`` grid), each seeded from the root seed.
        """
        problem = self.problem()
        seed = self.seed % 2**32
        n = self.samples or 0
        if self.design == "lhs":
            from SALib.sample import latin

            return np.asarray(latin.sample(problem, n, seed=seed))
        if self.design == "sobol":
            from SALib.sample import sobol

            return np.asarray(
                sobol.sample(problem, n, calc_second_order=self.second_order, seed=seed)
            )
        if self.design == "morris":
            from SALib.sample import morris

            return np.asarray(morris.sample(problem, n, num_levels=self.levels, seed=seed))
        raise ValueError(f"design {self.design!r} has no unit sample")

    def points(self) -> list[dict[str, Any]]:
        """Return the design points: one dict (path -> value) each, in design order."""
        if self.design == "factorial":
            grids = [p.factorial_values() for p in self.parameters]
            names = self.parameter_names
            return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grids)]
        sample = self.unit_sample()
        return [
            {p.path: p.at(u) for p, u in zip(self.parameters, row, strict=True)} for row in sample
        ]

    @property
    def runs_total(self) -> int:
        """Number of runs: design points times replicates."""
        return self._n_points * self.replicates

    @functools.cached_property
    def _n_points(self) -> int:
        if self.design == "factorial":
            return math.prod(len(p.factorial_values()) for p in self.parameters)
        return len(self.unit_sample())

    def run_seed(self, point: int, replicate: int) -> int:
        """Derive one run's seed from the root seed by ``SeedSequence`` spawn keys."""
        key = (replicate,) if self.common_random_numbers else (point * self.replicates + replicate,)
        return seeds.seeds63(seeds.child(self.seed, *key), 1)[0]  # 63 bits: Parquet's int64

    def tasks(self) -> Iterator[Task]:
        """Every run, in enumeration order, with its stable run id and seed."""
        digest = self.digest()
        for p, values in enumerate(self.points()):
            for r in range(self.replicates):
                seed = self.run_seed(p, r)
                blob = json.dumps([digest, values, seed], sort_keys=True, default=str)
                tag = hashlib.sha256(blob.encode()).hexdigest()[:10]
                params = {POINT_COLUMN: p, REPLICATE_COLUMN: r, **values}
                yield Task(run_id=f"{p:05d}-{r:03d}-{tag}", seed=seed, params=params)

    def run_config(self) -> RunConfig:
        """Return what each worker needs besides the task: scenario, rounds, overrides."""
        return RunConfig(
            scenario=self.scenario,
            rounds=self.rounds,
            fixed=dict(self.fixed),
            keep=self.keep,
            per_round=self.per_round,
            per_firm=self.per_firm,
            uncertainty=self.uncertainty,
            uncertainty_from=self.uncertainty_from,
        )


def _scenario_identity(scenario: str) -> str:
    """A scenario's content: a file's bytes, a built-in's name and text (``identity``)."""
    from stackgame.environment.scenario import identity

    return identity(scenario)


# -- parsing -------------------------------------------------------------------------------


def load_spec(path: str | Path, *, seed: int | None = None, check: bool = True) -> BatchSpec:
    """Read, parse and validate a batch spec file.

    Parameters
    ----------
    path
        The TOML file.
    seed
        Overrides the spec's root seed (the CLI's ``--seed``).
    check
        Also check every parameter value and metric pattern against the scenario (one
        short probe run for the metric names).

    Raises
    ------
    SpecError
        One line naming the file, the field and the problem.
    """
    path = Path(path)
    raw = read_toml(path, error=SpecError, what="spec file")
    return parse_spec(raw, source=str(path), base=path.parent, seed=seed, check=check)


def _fail(source: str, where: str, problem: str) -> SpecError:
    return SpecError(f"{source}: {where}: {problem}")


def _typed(source: str, table: str, data: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if key not in schema:
            raise _fail(
                source, f"{table}.{key}", f"unknown field; known: {', '.join(sorted(schema))}"
            )
        want = schema[key]
        if want in (int, (int, float)) and isinstance(value, bool):
            ok = False
        else:
            ok = isinstance(value, want)
        if not ok:
            names = {int: "an integer", str: "a string", bool: "true or false", list: "a list"}
            what = "a number" if want == (int, float) else names.get(want, str(want))
            raise _fail(source, f"{table}.{key}", f"must be {what} (got {value!r})")
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(source, f"{table}.{key}", f"must be a finite number (got {value})")


def _check_value(source: str, where: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(source, where, f"must be a finite number (got {value})")
    if not isinstance(value, bool | int | float | str):
        raise _fail(source, where, f"must be a number, a string or true/false (got {value!r})")


def _flatten_parameters(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted keys (``"regulator.stance" = ...``) and nested tables alike."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and not ({"min", "max", "values"} & set(value)):
            yield from _flatten_parameters(value, prefix=f"{path}.")
        else:
            yield path, value


def _parameter(source: str, path: str, value: Any, design: str) -> Parameter:
    where = f'parameters."{path}"'
    if isinstance(value, dict) and "values" in value:
        extra = set(value) - {"values"}
        if extra:
            raise _fail(source, where, f"unknown field {sorted(extra)[0]!r} next to 'values'")
        value = value["values"]
    if isinstance(value, list):
        if not value:
            raise _fail(source, where, "needs at least one value")
        for k, v in enumerate(value):
            _check_value(source, f"{where}[{k}]", v)
        if len({json.dumps(v) for v in value}) != len(value):
            raise _fail(source, where, "a value appears twice")
        return Parameter(path, values=tuple(value))
    if isinstance(value, dict):
        extra = set(value) - {"min", "max", "integer", "levels"}
        if extra:
            raise _fail(
                source,
                f"{where}.{sorted(extra)[0]}",
                "unknown field; a range has min, max, integer, levels",
            )
        if "min" not in value or "max" not in value:
            raise _fail(source, where, "a range needs both 'min' and 'max'")
        low, high = value["min"], value["max"]
        for key, bound in (("min", low), ("max", high)):
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise _fail(source, f"{where}.{key}", f"must be a number (got {bound!r})")
            if not math.isfinite(bound):
                raise _fail(source, f"{where}.{key}", f"must be a finite number (got {bound})")
        if not low < high:
            raise _fail(source, where, f"min must be below max (got {low} and {high})")
        integer = value.get("integer", False)
        if not isinstance(integer, bool):
            raise _fail(source, f"{where}.integer", f"must be true or false (got {integer!r})")
        levels = value.get("levels")
        if levels is not None and (
            isinstance(levels, bool) or not isinstance(levels, int) or levels < 2
        ):
            raise _fail(source, f"{where}.levels", f"must be an integer >= 2 (got {levels!r})")
        if design == "factorial" and levels is None:
            raise _fail(
                source, where, "a range in a factorial design needs 'levels' (points to try)"
            )
        return Parameter(path, low=float(low), high=float(high), integer=integer, levels=levels)
    _check_value(source, where, value)
    raise _fail(source, where, f"give a list of values or a range {{min, max}} (got {value!r})")


def parse_spec(
    raw: Mapping[str, Any],
    *,
    source: str = "<spec>",
    base: str | Path = ".",
    seed: int | None = None,
    check: bool = True,
) -> BatchSpec:
    """Validate a parsed spec (see :func:`load_spec`)."""
    for key in raw:
        if key not in _TOP_KEYS:
            raise _fail(source, key, f"unknown table; known: {', '.join(_TOP_KEYS)}")
        if not isinstance(raw[key], dict):
            raise _fail(source, key, "must be a table ([...])")
    batch = raw.get("batch", {})
    _typed(source, "batch", batch, _BATCH_KEYS)
    metrics = raw.get("metrics", {})
    _typed(source, "metrics", metrics, _METRIC_KEYS)
    report = raw.get("report", {})
    _typed(source, "report", report, _REPORT_KEYS)
    if report.get("interval", "sd") not in ("sd", "ci95"):
        raise _fail(source, "report.interval", f"use 'sd' or 'ci95' (got {report['interval']!r})")

    design = batch.get("design", "factorial")
    if design not in DESIGNS:
        raise _fail(source, "batch.design", f"unknown design {design!r}; use {', '.join(DESIGNS)}")
    replicates = batch.get("replicates", 1)
    if replicates < 1:
        raise _fail(source, "batch.replicates", f"must be at least 1 (got {replicates})")
    rounds = batch.get("rounds")
    if rounds is not None and rounds < 1:
        raise _fail(source, "batch.rounds", f"must be at least 1 (got {rounds})")
    root = seed if seed is not None else batch.get("seed", 0)
    if root < 0:
        raise _fail(source, "batch.seed", f"must be a non-negative integer (got {root})")
    samples = batch.get("samples")
    levels = batch.get("levels", 4)
    if design != "factorial":
        if samples is None:
            raise _fail(source, "batch.samples", f"the {design} design needs 'samples'")
        if samples < 2:
            raise _fail(source, "batch.samples", f"must be at least 2 (got {samples})")
        if design == "sobol" and samples & (samples - 1):
            raise _fail(
                source, "batch.samples", f"Sobol needs a power of 2 (got {samples}; try 16, 32)"
            )
    if design == "morris" and (levels < 2 or levels % 2):
        raise _fail(source, "batch.levels", f"Morris needs an even number >= 2 (got {levels})")
    uncertainty = batch.get("uncertainty", 0)
    if "uncertainty" in batch and uncertainty < 1:
        raise _fail(source, "batch.uncertainty", f"must be at least 1 draw (got {uncertainty})")
    uncertainty_from = batch.get("uncertainty_from")
    if uncertainty_from is not None and uncertainty_from not in ("posterior", "ranges"):
        raise _fail(
            source,
            "batch.uncertainty_from",
            f"must be 'posterior' or 'ranges' (got {uncertainty_from!r})",
        )
    if uncertainty_from is not None and not uncertainty:
        raise _fail(source, "batch.uncertainty_from", "needs batch.uncertainty = N")
    timeout = batch.get("timeout")
    if timeout is not None and timeout <= 0:
        raise _fail(source, "batch.timeout", f"must be a positive number of seconds ({timeout})")

    scenario = batch.get("scenario", "ai-stack-2026")
    if scenario.endswith(".toml"):
        candidate = Path(base) / scenario
        scenario = str((candidate if candidate.exists() else Path(scenario)).resolve())

    fixed = dict(_flatten_parameters(raw.get("fixed", {})))
    for path, value in fixed.items():
        _check_value(source, f'fixed."{path}"', value)
    params_raw = list(_flatten_parameters(raw.get("parameters", {})))
    if not params_raw:
        raise _fail(source, "parameters", "vary at least one parameter")
    parameters = tuple(_parameter(source, path, value, design) for path, value in params_raw)
    for p in parameters:
        if p.path in fixed:
            raise _fail(source, f'parameters."{p.path}"', "also set in [fixed]; keep one")

    keep = metrics.get("keep", [])
    for k, pattern in enumerate(keep):
        if not isinstance(pattern, str) or not pattern:
            raise _fail(
                source, f"metrics.keep[{k}]", f"must be a metric name or glob ({pattern!r})"
            )
    headline = report.get("headline", [])
    for k, pattern in enumerate(headline):
        if not isinstance(pattern, str) or not pattern:
            raise _fail(source, f"report.headline[{k}]", f"must be a metric glob ({pattern!r})")
    for key in ("x", "facet"):
        if key in report and report[key] not in [p.path for p in parameters]:
            raise _fail(source, f"report.{key}", f"{report[key]!r} is not a varied parameter")

    spec = BatchSpec(
        source=source,
        name=batch.get("name", Path(source).stem),
        description=batch.get("description", ""),
        scenario=scenario,
        rounds=rounds,
        seed=root,
        replicates=replicates,
        design=design,
        samples=samples,
        levels=levels,
        second_order=batch.get("second_order", False),
        common_random_numbers=batch.get("common_random_numbers", False),
        timeout=float(timeout) if timeout is not None else None,
        uncertainty=uncertainty,
        uncertainty_from=uncertainty_from,
        fixed=fixed,
        parameters=parameters,
        keep=tuple(keep),
        per_round=metrics.get("per_round", False),
        per_firm=metrics.get("per_firm", False),
        report=dict(report),
        raw=json.loads(json.dumps(raw, default=str)),
    )
    if check:
        check_against_scenario(spec)
    return spec


def check_against_scenario(spec: BatchSpec) -> None:
    """Check every path and value against the scenario, and the metric patterns.

    Each parameter value is applied alone (with the fixed overrides) and the scenario
    re-validated, so an unknown path, an unknown strategy or an out-of-range value is a
    spec error (exit 2) rather than a column of failed runs; combinations of valid
    values that the model rejects are recorded as failed runs. One run of one round
    lists the metric names the ``keep`` patterns must match.

    Raises
    ------
    SpecError
        Naming the spec file and the field.
    """
    from stackgame.environment.scenario import apply_overrides, resolve

    source = spec.source
    try:
        base = resolve(spec.scenario)
    except ValueError as err:
        raise _fail(source, "batch.scenario", str(err)) from None
    for path, value in spec.fixed.items():
        try:
            base = apply_overrides(base, {path: value})
        except ValueError as err:
            raise _fail(source, f'fixed."{path}"', _strip(str(err), path)) from None
    for p in spec.parameters:
        values = list(p.values) if p.values is not None else [p.at(0.0), p.at(1.0)]
        for value in values:
            try:
                apply_overrides(base, {p.path: value})
            except ValueError as err:
                raise _fail(source, f'parameters."{p.path}"', _strip(str(err), p.path)) from None
    if spec.uncertainty:
        from stackgame.experiments.uncertainty import parameter_space

        try:
            parameter_space(base, held=[*spec.fixed, *spec.parameter_names])
        except UserError as err:
            problem = str(err).removeprefix("--uncertainty: ")
            raise _fail(source, "batch.uncertainty", problem) from None
    if spec.keep or spec.report.get("headline"):
        names = sorted(_probe_metric_names(spec))
        for table, patterns in (("metrics.keep", spec.keep), ("report.headline", ())):
            for k, pattern in enumerate(patterns):
                if not fnmatch.filter(names, pattern):
                    raise _fail(
                        source,
                        f"{table}[{k}]",
                        f"no metric matches {pattern!r}; known: {', '.join(names)}",
                    )
        kept = select_metrics(dict.fromkeys(names, 0.0), spec.keep)
        for k, pattern in enumerate(spec.report.get("headline", [])):
            if not fnmatch.filter(list(kept), pattern):
                raise _fail(source, f"report.headline[{k}]", f"no kept metric matches {pattern!r}")


def _strip(message: str, path: str = "") -> str:
    """Drop the '<scenario> (overrides): ' prefix of a scenario error, and the path."""
    head, sep, tail = message.partition(" (overrides): ")
    message = tail if sep else message
    if path and message.startswith(f"{path}: "):
        message = message[len(path) + 2 :]
    return message


def _probe_metric_names(spec: BatchSpec) -> set[str]:
    from stackgame.simulation.simulate import simulate

    result = simulate(spec.scenario, rounds=1, seed=spec.seed, overrides=dict(spec.fixed))
    names = set(_all_metrics(result))
    if spec.uncertainty:
        names.add("effective_draws")
        for level, rows in (("layer", result.layer_names), ("firm", result.firm_names)):
            for name in rows:
                names.add(f"winner_probability.{level}.{name}")
                names.update(f"value_share_{k}.{level}.{name}" for k in ("mean", "low", "high"))
    return names


# -- the run function ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """What a worker needs besides the task (pickled once per worker call).

    Attributes
    ----------
    scenario
        Built-in name or absolute path.
    rounds
        Rounds per run (``None``: the scenario's).
    fixed
        Overrides applied to every run.
    keep
        Metric patterns to keep (empty: all).
    per_round, per_firm
        Return the per-round tables as side tables ``rounds`` and ``firm_rounds``.
    uncertainty
        Parameter draws per run (0: none; module docstring).
    uncertainty_from
        Where they come from (``None``: by the scenario).
    """

    scenario: str
    rounds: int | None
    fixed: Mapping[str, Any]
    keep: tuple[str, ...] = ()
    per_round: bool = False
    per_firm: bool = False
    uncertainty: int = 0
    uncertainty_from: str | None = None


def _all_metrics(result: Any) -> dict[str, float]:
    """Collect the run's scalar metrics plus each firm's mean payoff per round."""
    metrics = dict(result.metrics())
    for firm, value in result.payoffs().items():
        metrics[f"payoff.firm.{firm}"] = float(value)
    return metrics


def select_metrics(metrics: Mapping[str, Any], keep: Sequence[str]) -> dict[str, Any]:
    """Keep the metrics whose names match any glob pattern (all if there are none)."""
    if not keep:
        return dict(metrics)
    return {k: v for k, v in metrics.items() if any(fnmatch.fnmatchcase(k, p) for p in keep)}


@functools.lru_cache(maxsize=8)
def _scenario(name: str) -> Any:
    from stackgame.environment.scenario import resolve

    return resolve(name)


@functools.lru_cache(maxsize=32)
def _scenario_with(name: str, overrides_json: str) -> Any:
    """Apply a design point's overrides once per worker, not once per replicate.

    Validating a scenario after overrides costs about as much as a short run; the
    replicates of a design point share it (the model copies what it changes).
    """
    from stackgame.environment.scenario import apply_overrides

    overrides = json.loads(overrides_json)
    base = _scenario(name)
    return apply_overrides(base, overrides) if overrides else base


def run_simulation(config: RunConfig, task: Task) -> dict[str, Any]:
    """Run one simulation of a batch: the fixed overrides, then the task's values.

    Parameters
    ----------
    config
        The batch's :class:`RunConfig`.
    task
        Its params hold the design point, the replicate and the varied values.

    Returns
    -------
    dict
        The kept metrics, plus the per-round tables under
        :data:`stackgame.experiments.executor.TABLES_KEY` when asked for.
    """
    from stackgame.simulation.simulate import simulate

    overrides = dict(config.fixed)
    overrides.update(
        {k: v for k, v in task.params.items() if k not in (POINT_COLUMN, REPLICATE_COLUMN)}
    )
    scenario = _scenario_with(config.scenario, json.dumps(overrides, sort_keys=True))
    result = simulate(scenario, rounds=config.rounds, seed=task.seed)
    metrics = _all_metrics(result)
    if config.uncertainty:
        from stackgame.experiments.uncertainty import analyse, flat_metrics

        report = analyse(
            scenario,
            draws=config.uncertainty,
            seed=task.seed,
            rounds=config.rounds,
            held=overrides,
            method=config.uncertainty_from,
        )
        metrics.update(flat_metrics(report))
    out: dict[str, Any] = select_metrics(metrics, config.keep)
    tables: dict[str, Any] = {}
    if config.per_round:
        tables["rounds"] = result.per_round()
    if config.per_firm:
        tables["firm_rounds"] = result.per_firm_round()
    if tables:
        out[TABLES_KEY] = tables
    return out


# -- running a batch -------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOutcome:
    """What :func:`run_batch` did and where it wrote.

    Attributes
    ----------
    summary
        The executor's counts.
    out
        The output folder (``runs/`` dataset, side tables, ``manifest.json``).
    spec
        The spec that ran.
    """

    summary: ExecutionSummary
    out: Path
    spec: BatchSpec


def _check_resume(spec: BatchSpec, out: Path) -> None:
    """Refuse to mix two different specs' runs in one folder."""
    path = out / "manifest.json"
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        raise UserError(
            f"{path}: unreadable manifest; remove {out} or choose another --out"
        ) from None
    if old.get("spec_hash") not in (None, spec.digest()):
        raise UserError(
            f"{out}: holds a batch of a different spec or seed (spec hash "
            f"{str(old.get('spec_hash'))[:12]} here, {spec.digest()[:12]} now); "
            "choose another --out or remove the folder"
        )


def write_batch_manifest(
    spec: BatchSpec, out: Path, *, command: str | list[str] | None, counts: Mapping[str, int]
) -> Path:
    """Write ``manifest.json``: spec hash, root seed, runs_total, versions, git revision."""
    from stackgame.manifest import write_manifest

    return write_manifest(
        out,
        command=command,
        seed=spec.seed,
        scenario_hash=_scenario_hash(spec),
        spec_hash=spec.digest(),
        spec_file=spec.source,
        spec=spec.raw,
        root_seed=spec.seed,
        design=spec.design,
        parameters=spec.parameter_names,
        replicates=spec.replicates,
        runs_total=spec.runs_total,
        tables=["runs"]
        + (["rounds"] if spec.per_round else [])
        + (["firm_rounds"] if spec.per_firm else []),
        **dict(counts),
    )


def _scenario_hash(spec: BatchSpec) -> str | None:
    try:
        return str(_scenario(spec.scenario).digest())
    except ValueError:
        return None


def _status_counts(store: ResultStore) -> dict[str, int]:
    counts = {"runs_done": 0, "runs_ok": 0, "runs_error": 0, "runs_timeout": 0}
    for part in store.iter_parts():
        for status in part.column("status").to_pylist():
            counts["runs_done"] += 1
            counts[f"runs_{status}"] = counts.get(f"runs_{status}", 0) + 1
    return counts


def run_batch(
    spec: BatchSpec,
    out: str | Path,
    *,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    timeout: float | None = None,
    chunk_size: int = 256,
    progress: bool = True,
    command: str | list[str] | None = None,
    fn: Callable[[Task], Mapping[str, Any]] | None = None,
    retry_failed: bool = False,
) -> BatchOutcome:
    """Run (or resume) a batch into ``out``.

    Parameters
    ----------
    spec
        The validated spec.
    out
        Output folder: ``runs/`` (one row per run), ``rounds/`` and ``firm_rounds/``
        when asked for, ``manifest.json``.
    workers, backend, scheduler, timeout, chunk_size, progress
        Passed to :func:`stackgame.experiments.executor.execute` (``timeout`` defaults to
        the spec's).
    command
        Recorded in the manifest.
    fn
        The run function (default :func:`run_simulation` with the spec's config); tests
        inject failing ones.
    retry_failed
        Run the failed and timed-out runs again (their rows are replaced).

    Returns
    -------
    BatchOutcome
        Counts and paths.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(spec, out)
    store = ResultStore(out / "runs", side_root=out)
    write_batch_manifest(spec, out, command=command, counts=_status_counts(store))
    run_fn = fn if fn is not None else functools.partial(run_simulation, spec.run_config())
    try:
        summary = execute(
            spec.tasks(),
            run_fn,
            store=store,
            workers=workers,
            backend=backend,  # type: ignore[arg-type]
            scheduler=scheduler,
            timeout=timeout if timeout is not None else spec.timeout,
            chunk_size=chunk_size,
            progress=progress,
            description=spec.name,
            preload=("stackgame.simulation.simulate", "stackgame.environment.model")
            if fn is None
            else (),
            retry_failed=retry_failed,
        )
    finally:
        write_batch_manifest(spec, out, command=command, counts=_status_counts(store))
    return BatchOutcome(summary=summary, out=out, spec=spec)
