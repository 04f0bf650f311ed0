"""The empirical game of the stack: simulate strategy profiles, solve the payoff table.

Empirical game-theoretic analysis (EGTA; Wellman 2006, "Methods for empirical
game-theoretic analysis", AAAI): pick some firms of a scenario as *seats* and a set of
registry strategies per seat; every other firm keeps its scenario strategy. Each pure
profile (one strategy per seat) is simulated ``R`` times through
:func:`stackgame.simulation.simulate.simulate`; a seat's payoff in one run is its firm's mean value
per round (:meth:`RunResult.payoffs`: operating profit plus stake income). The payoff
table holds the mean over repetitions, its standard error and a 95% Student-t confidence
interval. When there are more profiles than ``max_profiles``, a seeded uniform sample of
profiles is simulated (and said so); the solvers that need the whole table are then
skipped and pure equilibria are only *candidates* until every deviation is checked.

Seeds: one root seed; its first three streams (:func:`stackgame.seeds.children`) give the estimation
stream, the deviation-check stream and the sampling/bootstrap stream. Repetition ``r``
uses the same simulation seed for every profile (common random numbers: differences
between profiles are not blurred by different draws), and the deviation check draws
fresh seeds from its own stream, so its epsilon is an out-of-sample test of the
equilibrium found on the estimation table.

Every reported equilibrium comes with what it implies for the stack: the value share,
operating and gross margin of every layer and firm (from :meth:`RunResult.metrics`),
averaged over its profiles (weighted by the mixed strategies), side by side with the
scenario's default play (every firm on its scenario strategy) under the same seeds.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stackgame import seeds
from stackgame.equilibria import solvers
from stackgame.errors import UserError
from stackgame.stats import mean_ci, standard_error, t_half_width

FloatArray = NDArray[np.float64]
Profile = tuple[int, ...]

SIMULATOR = "stackgame.simulation.simulate:simulate"
"""Import path of the simulator every task calls (tests may point it elsewhere)."""

OUTCOME_PREFIXES = ("value_share.", "operating_margin.", "gross_margin.", "spend_share.")
"""Metric families reported as the value capture an equilibrium implies."""


# -- specification ----------------------------------------------------------------------


@dataclass(frozen=True)
class GameSpec:
    """What to simulate.

    Attributes
    ----------
    scenario
        Built-in scenario name or path to a TOML file.
    seats
        Firms whose strategy is the players' choice.
    strategies
        Registry strategy names per seat (same order as ``seats``).
    repetitions
        Runs per profile (``R``).
    seed
        Root seed.
    rounds
        Rounds per run (``None``: the scenario's).
    overrides
        Dotted scenario overrides applied to every run.
    max_profiles
        Largest number of profiles simulated; beyond it a seeded sample of that size.
    check_repetitions
        Runs per profile in the deviation check (fresh seeds).
    simulator
        ``module:function`` of the simulator (default :data:`SIMULATOR`).
    discount_rate
        The rate per round at which seats discount their payoffs (``docs/MODEL.md`` 21);
        ``None``: the scenario's ``discount_rate``. A seat's payoff is its discounted
        value per round, ``sum_t delta^t pi_t / sum_t delta^t`` (the mean at rate 0).
    """

    scenario: str
    seats: tuple[str, ...]
    strategies: tuple[tuple[str, ...], ...]
    repetitions: int = 10
    seed: int = 0
    rounds: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    max_profiles: int = 256
    check_repetitions: int | None = None
    simulator: str = SIMULATOR
    discount_rate: float | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of strategies per seat."""
        return tuple(len(s) for s in self.strategies)

    def digest(self) -> str:
        """Short hash of everything that changes the numbers (prefix of every run id)."""
        rate = {} if self.discount_rate is None else {"discount_rate": self.discount_rate}
        blob = json.dumps(
            {
                **rate,
                "scenario": _identity(self.scenario),
                "seats": self.seats,
                "strategies": self.strategies,
                "repetitions": self.repetitions,
                "seed": self.seed,
                "rounds": self.rounds,
                "overrides": dict(self.overrides),
                "max_profiles": self.max_profiles,
                "check": self.check_repetitions,
                "simulator": self.simulator,
            },
            sort_keys=True,
            default=str,
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:10]


def validate(spec: GameSpec, firm_names: Sequence[str]) -> None:
    """Check a spec against a scenario's firms and the strategy registry.

    Raises
    ------
    UserError
        Naming the flag and the problem: an unknown seat, a seat twice, an unknown
        strategy, a seat without strategies, a non-positive repetition count.
    """
    from stackgame.strategies.registry import UnknownStrategyError, get

    if not spec.seats:
        raise UserError("--seats: name at least one firm")
    for seat in spec.seats:
        if seat not in firm_names:
            raise UserError(f"--seats: unknown firm {seat!r}; known: {', '.join(firm_names)}")
    if len(set(spec.seats)) != len(spec.seats):
        raise UserError("--seats: a firm appears twice")
    if len(spec.strategies) != len(spec.seats):
        raise UserError(
            f"--strategies: need one list per seat ({len(spec.seats)}), got {len(spec.strategies)}"
        )
    for seat, names in zip(spec.seats, spec.strategies, strict=True):
        if not names:
            raise UserError(f"--strategies: seat {seat!r} has no strategy")
        if len(set(names)) != len(names):
            raise UserError(f"--strategies: seat {seat!r} lists a strategy twice")
        for name in names:
            try:
                get(name)
            except UnknownStrategyError as err:
                raise UserError(f"--strategies: {err}") from None
    for flag, value in (("--repetitions", spec.repetitions), ("--max-profiles", spec.max_profiles)):
        if value < 1:
            raise UserError(f"{flag}: must be at least 1 (got {value})")
    if spec.check_repetitions is not None and spec.check_repetitions < 1:
        raise UserError(f"--check-repetitions: must be at least 1 (got {spec.check_repetitions})")
    if spec.rounds is not None and spec.rounds < 1:
        raise UserError(f"--rounds: must be at least 1 (got {spec.rounds})")


def streams(seed: int) -> tuple[np.random.SeedSequence, ...]:
    """Return the three seed streams: estimation, deviation check, sampling and bootstrap."""
    return tuple(seeds.children(seed, 3))


def choose_profiles(
    shape: Sequence[int], max_profiles: int, rng: np.random.Generator
) -> tuple[list[Profile], bool]:
    """All pure profiles in C order, or a uniform seeded sample of ``max_profiles``.

    Returns
    -------
    profiles, sampled
        The profiles to simulate (sorted) and whether they are a sample.
    """
    total = math.prod(shape)
    if total <= max_profiles:
        return [tuple(int(i) for i in p) for p in np.ndindex(*shape)], False
    picked = np.sort(rng.choice(total, size=max_profiles, replace=False))
    return [tuple(int(i) for i in np.unravel_index(int(k), tuple(shape))) for k in picked], True


# -- running ----------------------------------------------------------------------------


def _simulator(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return fn


def simulate_task(task: Any) -> dict[str, float]:
    """Run one simulation for a task (module level, so process pools can pickle it).

    ``task.params``: ``scenario``, ``rounds``, ``overrides``, ``seats``, ``assignment``
    (strategy per seat, or ``None`` for the scenario's default play) and ``simulator``.
    Returns ``payoff.<seat>`` (the discounted value per round at ``discount_rate``, the
    scenario's when ``None``), ``mean_payoff.<seat>`` (undiscounted), ``present_value.<seat>``
    for every seat and every scalar metric as ``metric.<key>``.
    """
    p = task.params
    simulate = _simulator(p["simulator"])
    strategies = dict(zip(p["seats"], p["assignment"], strict=True)) if p["assignment"] else None
    result = simulate(
        p["scenario"],
        rounds=p["rounds"],
        seed=int(task.seed),
        strategies=strategies,
        overrides=dict(p["overrides"]) or None,
    )
    rate = p.get("discount_rate")
    mean = result.payoffs()
    row = {f"mean_payoff.{seat}": float(mean[seat]) for seat in p["seats"]}
    if hasattr(result, "discounted_payoffs"):  # a RunResult (docs/MODEL.md 21)
        pay = result.discounted_payoffs(rate)
        present = result.present_values(rate)
        row.update({f"present_value.{seat}": float(present[seat]) for seat in p["seats"]})
    else:  # another simulator's payoffs, scored as it gives them
        pay = mean
    row.update({f"payoff.{seat}": float(pay[seat]) for seat in p["seats"]})
    row.update({f"metric.{k}": float(v) for k, v in result.metrics().items()})
    return row


@dataclass(frozen=True)
class Job:
    """One simulation to run: a profile (``None``: default play) under one seed."""

    key: str
    profile: Profile | None
    seed: int


def run_jobs(
    spec: GameSpec,
    jobs: Sequence[Job],
    *,
    processes: int = 1,
    store_dir: str | Path | None = None,
    progress: bool = True,
    description: str = "profiles",
) -> dict[str, dict[str, float]]:
    """Run simulations through the shared executor (:mod:`stackgame.experiments.executor`).

    Rows are keyed by ``<spec digest>-<job key>``, so a store folder reused with another
    spec never mixes results, and an interrupted run resumes where it stopped.

    Returns
    -------
    dict
        Job key to the row :func:`simulate_task` returned.

    Raises
    ------
    RuntimeError
        When a simulation failed, with its error text.
    """
    digest = spec.digest()
    tasks = []
    for job in jobs:
        assignment = (
            None
            if job.profile is None
            else [spec.strategies[k][i] for k, i in enumerate(job.profile)]
        )
        params: dict[str, Any] = {
            "scenario": spec.scenario,
            "rounds": spec.rounds,
            "overrides": dict(spec.overrides),
            "seats": list(spec.seats),
            "assignment": assignment,
            "simulator": spec.simulator,
        }
        if spec.discount_rate is not None:
            params["discount_rate"] = spec.discount_rate
        tasks.append((f"{digest}-{job.key}", job.seed, params))
    import tempfile

    from stackgame.experiments import executor

    with tempfile.TemporaryDirectory(prefix="stackgame-egta-") as tmp:
        store = executor.ResultStore(store_dir if store_dir is not None else tmp)
        executor.execute(
            [executor.Task(run_id, seed, params) for run_id, seed, params in tasks],
            simulate_task,
            store=store,
            workers=processes,
            progress=progress,
            description=description,
        )
        frame = store.read()
    wanted = {run_id for run_id, _, _ in tasks}
    frame = frame[frame["run_id"].isin(wanted)]
    bad = frame[frame["status"] != "ok"]
    if len(bad):
        first = bad.iloc[0]
        where = (
            f"; it stays recorded in {store_dir}: delete that folder to retry" if store_dir else ""
        )
        raise RuntimeError(f"simulation {first['run_id']} failed: {first['error']}{where}")
    if len(frame) != len(wanted):
        raise RuntimeError(f"{len(wanted) - len(frame)} simulations were not recorded")
    cols = [
        c
        for c in frame.columns
        if c.startswith(("payoff.", "metric.", "mean_payoff.", "present_value."))
    ]
    out: dict[str, dict[str, float]] = {}
    prefix = len(digest) + 1
    for record in frame[["run_id", *cols]].to_dict("records"):
        key = str(record.pop("run_id"))[prefix:]
        out[key] = {k: float(v) for k, v in record.items() if v == v}  # drop NaN fillers
    return out


# -- statistics ---------------------------------------------------------------------------


@dataclass
class PayoffTable:
    """The empirical payoff table.

    Attributes
    ----------
    spec
        What was simulated.
    samples
        Payoff per seat, profile and repetition, shape ``(n_seats, s_1, ..., s_n, R)``;
        NaN for profiles not simulated.
    metrics
        Per simulated profile, each metric's values over the repetitions.
    sampled
        Whether the profiles are a sample of the full product.
    mean_payoffs, present_values
        Like ``samples``: the undiscounted mean per round and the present value
        ``sum_t delta^t pi_t`` (``samples`` holds the discounted value per round, the score).
    """

    spec: GameSpec
    samples: FloatArray
    metrics: dict[Profile, dict[str, FloatArray]]
    sampled: bool
    mean_payoffs: FloatArray | None = None
    present_values: FloatArray | None = None

    @property
    def mean(self) -> FloatArray:
        """Mean payoff, shape ``(n_seats, s_1, ..., s_n)`` (NaN where not simulated)."""
        return np.asarray(np.mean(self.samples, axis=-1), dtype=float)

    @property
    def se(self) -> FloatArray:
        """Standard error of the mean payoff."""
        return np.asarray(standard_error(self.samples, axis=-1), dtype=float)

    def ci(self, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
        """Student-t confidence interval of the mean payoff, ``(low, high)``."""
        half = t_half_width(self.samples, level, axis=-1)
        return self.mean - half, self.mean + half

    @property
    def simulated(self) -> list[Profile]:
        """Profiles that were simulated, in C order."""
        return sorted(self.metrics)

    @property
    def complete(self) -> bool:
        """Whether every profile was simulated."""
        return not self.sampled

    def regret(self) -> FloatArray:
        """Regret of every simulated profile over the simulated deviations (NaN elsewhere).

        For a full table this is :func:`stackgame.equilibria.solvers.regret`; for a sample it is a
        lower bound (deviations not simulated are not counted).
        """
        if self.complete:
            return solvers.regret(self.mean)
        mean = self.mean
        out = np.full(mean.shape[1:], np.nan)
        for prof in self.simulated:
            gains = [0.0]
            for k in range(mean.shape[0]):
                line = mean[k][prof[:k] + (slice(None),) + prof[k + 1 :]]
                gains.append(float(np.nanmax(line) - mean[k][prof]))
            out[prof] = max(gains)
        return out

    def outcome(self, weights: Mapping[Profile, float]) -> dict[str, dict[str, Any]]:
        """Metrics implied by a distribution over profiles: weighted means and CIs.

        The per-repetition values are mixed first (repetition ``r`` of every profile shares
        its seed), then summarised; so a pure profile gets its own mean and t interval.
        """
        keys = sorted(
            {k for prof in weights for k in self.metrics[prof] if k.startswith(OUTCOME_PREFIXES)}
        )
        missing = np.full(self.samples.shape[-1], np.nan)
        out: dict[str, dict[str, Any]] = {}
        for key in keys:
            mixed = sum(
                w * self.metrics[prof].get(key, missing) for prof, w in weights.items() if w > 0
            )
            out[key] = mean_ci(np.asarray(mixed, dtype=float))
        return out


def build_table(
    spec: GameSpec,
    *,
    processes: int = 1,
    store_dir: str | Path | None = None,
    progress: bool = True,
) -> PayoffTable:
    """Simulate the profiles (all, or a seeded sample) ``R`` times each; the payoff table."""
    est, _, sample = streams(spec.seed)
    run_seeds = seeds.seeds32(est, spec.repetitions)
    profiles, sampled = choose_profiles(spec.shape, spec.max_profiles, seeds.generator(sample))
    jobs = [
        Job(f"est-{'.'.join(map(str, prof))}-{r:04d}", prof, run_seeds[r])
        for prof in profiles
        for r in range(spec.repetitions)
    ]
    rows = run_jobs(spec, jobs, processes=processes, store_dir=store_dir, progress=progress)
    n = len(spec.seats)
    samples = np.full((n, *spec.shape, spec.repetitions), np.nan)
    means = np.full_like(samples, np.nan)
    present = np.full_like(samples, np.nan)
    metrics: dict[Profile, dict[str, FloatArray]] = {}
    for prof in profiles:
        per_rep = [rows[f"est-{'.'.join(map(str, prof))}-{r:04d}"] for r in range(spec.repetitions)]
        for k, seat in enumerate(spec.seats):
            samples[(k, *prof)] = [row[f"payoff.{seat}"] for row in per_rep]
            means[(k, *prof)] = [row.get(f"mean_payoff.{seat}", np.nan) for row in per_rep]
            present[(k, *prof)] = [row.get(f"present_value.{seat}", np.nan) for row in per_rep]
        names = sorted({key for row in per_rep for key in row if key.startswith("metric.")})
        metrics[prof] = {
            name[len("metric.") :]: np.array([row.get(name, np.nan) for row in per_rep])
            for name in names
        }
    return PayoffTable(spec, samples, metrics, sampled, means, present)


# -- deviation check ------------------------------------------------------------------------


def needed_profiles(shape: Sequence[int], strategies: Sequence[FloatArray]) -> list[Profile]:
    """Profiles needed to evaluate every unilateral deviation from a mixed profile.

    For each seat ``k``: every own strategy against every profile in the others' supports.
    """
    supports = [tuple(int(i) for i in np.flatnonzero(x > 1e-9)) for x in strategies]
    needed: set[Profile] = set()
    for k in range(len(shape)):
        axes = [range(shape[k]) if i == k else supports[i] for i in range(len(shape))]
        needed.update(
            tuple(p)
            for p in np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(shape), -1).T.tolist()
        )
    return sorted(needed)


def deviation_check(
    spec: GameSpec,
    strategies: Sequence[FloatArray],
    *,
    processes: int = 1,
    store_dir: str | Path | None = None,
    progress: bool = True,
    bootstrap: int = 400,
    level: float = 0.95,
) -> dict[str, Any]:
    """Re-simulate every unilateral deviation from an equilibrium with fresh seeds.

    The equilibrium (pure: one-hot ``strategies``; mixed: Nash's probabilities) is
    re-estimated on new seeds from the check stream, together with every profile a
    deviation reaches (:func:`needed_profiles`). Each seat's gain from switching to pure
    strategy ``t`` is ``v_k(t) - x_k . v_k``
    (:func:`stackgame.equilibria.solvers.strategy_values` on the fresh table) and ``epsilon
    = max(0, max_k max_t gain)``: the equilibrium is an
    epsilon-Nash equilibrium of the re-estimated game. Confidence intervals come from a
    percentile bootstrap over repetitions (the same repetitions for every profile, to keep
    common random numbers), with a seeded generator.

    Returns
    -------
    dict
        ``epsilon`` (with ``ci``), ``repetitions``, and ``deviations``: one entry per seat
        and alternative strategy with its ``gain`` and ``ci``.
    """
    _, check, sample = streams(spec.seed)
    reps = spec.check_repetitions or spec.repetitions
    run_seeds = seeds.seeds32(check, reps)
    mixes = [np.asarray(x, dtype=float) for x in strategies]
    profiles = needed_profiles(spec.shape, mixes)
    tag = _mix_tag(mixes)
    jobs = [
        Job(f"chk-{tag}-{'.'.join(map(str, p))}-{r:04d}", p, run_seeds[r])
        for p in profiles
        for r in range(reps)
    ]
    rows = run_jobs(
        spec,
        jobs,
        processes=processes,
        store_dir=store_dir,
        progress=progress,
        description="deviations",
    )
    n = len(spec.seats)
    fresh = np.zeros((n, *spec.shape, reps))
    for p in profiles:
        for r in range(reps):
            row = rows[f"chk-{tag}-{'.'.join(map(str, p))}-{r:04d}"]
            for k, seat in enumerate(spec.seats):
                fresh[(k, *p, r)] = row[f"payoff.{seat}"]

    def gains(table: FloatArray) -> list[tuple[int, int, float]]:
        out = []
        for k in range(n):
            v = solvers._values(table, mixes, k)
            base = float(v @ mixes[k])
            for t in range(spec.shape[k]):
                if mixes[k][t] < 1 - 1e-9:
                    out.append((k, t, float(v[t] - base)))
        return out

    point = gains(fresh.mean(axis=-1))
    rng = seeds.generator(sample, 0)
    boot = np.empty((bootstrap, len(point)))
    eps_boot = np.empty(bootstrap)
    for b in range(bootstrap):
        idx = rng.integers(0, reps, size=reps)
        g = gains(fresh[..., idx].mean(axis=-1))
        boot[b] = [x[2] for x in g]
        eps_boot[b] = max([0.0, *boot[b]])
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    deviations = [
        {
            "seat": spec.seats[k],
            "strategy": spec.strategies[k][t],
            "gain": gain,
            "ci": [float(np.percentile(boot[:, j], lo)), float(np.percentile(boot[:, j], hi))],
        }
        for j, (k, t, gain) in enumerate(point)
    ]
    epsilon = max([0.0, *(gain for _, _, gain in point)])
    return {
        "epsilon": epsilon,
        "ci": [float(np.percentile(eps_boot, lo)), float(np.percentile(eps_boot, hi))],
        "repetitions": reps,
        "profiles": len(profiles),
        "deviations": deviations,
    }


def _identity(scenario: Any) -> str:
    """A scenario's content for run ids (``environment.scenario.identity``)."""
    from stackgame.environment.scenario import identity

    if isinstance(scenario, str | Path):
        return identity(scenario)
    return str(scenario.digest()) if hasattr(scenario, "digest") else str(scenario)


def _mix_tag(mixes: Sequence[FloatArray]) -> str:
    blob = ",".join(f"{v:.6f}" for x in mixes for v in x).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


# -- the whole analysis ------------------------------------------------------------------------


def one_hot(shape: Sequence[int], profile: Profile) -> list[FloatArray]:
    """Return a pure profile as one mixed strategy per seat."""
    out = []
    for k, size in enumerate(shape):
        x = np.zeros(size)
        x[profile[k]] = 1.0
        out.append(x)
    return out


def profile_weights(strategies: Sequence[FloatArray]) -> dict[Profile, float]:
    """Probability of every pure profile under independent mixed strategies."""
    out: dict[Profile, float] = {}
    for prof in np.ndindex(*(len(x) for x in strategies)):
        w = float(np.prod([x[i] for x, i in zip(strategies, prof, strict=True)]))
        if w > 1e-12:
            out[tuple(int(i) for i in prof)] = w
    return out


def winners(outcome: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Find the layer and the firm with the largest mean value share in an outcome.

    Shares within :data:`~stackgame.environment.summary.TIE_TOLERANCE` of the largest
    tie, as in ``stackgame run``'s verdict: ``tied`` lists them by name and ``name`` is
    the first of them.
    """
    from stackgame.environment.summary import leaders

    out: dict[str, Any] = {}
    for kind in ("layer", "firm"):
        prefix = f"value_share.{kind}."
        shares = {k[len(prefix) :]: v["mean"] for k, v in outcome.items() if k.startswith(prefix)}
        shares = {k: v for k, v in shares.items() if v == v}  # NaN never leads
        if shares:
            tied = leaders(shares)
            out[kind] = {"name": tied[0], "value_share": shares[tied[0]], "tied": tied}
    return out


def analyse(
    spec: GameSpec,
    *,
    processes: int = 1,
    store_dir: str | Path | None = None,
    progress: bool = True,
    alpha: float = 10.0,
    population: int = 50,
    check: bool = True,
    max_equilibria: int = 8,
    replicator_starts: int = 5,
    tolerance: float = 0.0,
) -> dict[str, Any]:
    """Build the payoff table, solve it, check each equilibrium, report the value capture.

    Solvers on the mean table: pure equilibria (any number of seats), mixed equilibria by
    support enumeration (two seats) or, for more seats, Gambit's logit path when the
    optional pygambit is installed (else the report says so under ``gambit``),
    alpha-Rank (payoffs divided by their largest spread across seats, so ``alpha`` is in
    units of that spread) and the replicator ranking (seeded starts). On a sampled table
    only the pure candidates are reported, each then confirmed or not by its deviation
    check. At most ``max_equilibria`` are checked. With ``tolerance > 0`` every profile
    whose regret is at most ``tolerance`` (payoff units) is reported as an
    epsilon-equilibrium.

    Returns
    -------
    dict
        The JSON-ready report (see ``stackgame equilibria --json``).
    """
    if not math.isfinite(tolerance) or tolerance < 0:
        raise UserError(f"--tolerance: must be a number >= 0 (got {tolerance})")
    table = build_table(spec, processes=processes, store_dir=store_dir, progress=progress)
    mean = table.mean
    low, high = table.ci()
    regret = table.regret()
    report: dict[str, Any] = {
        "scenario": spec.scenario,
        "seed": spec.seed,
        "rounds": spec.rounds,
        "repetitions": spec.repetitions,
        "overrides": dict(spec.overrides),
        "seats": list(spec.seats),
        "strategies": {
            s: list(names) for s, names in zip(spec.seats, spec.strategies, strict=True)
        },
        "profiles": {
            "total": math.prod(spec.shape),
            "simulated": len(table.simulated),
            "sampled": table.sampled,
        },
        "payoffs": [],
    }
    for prof in table.simulated:
        report["payoffs"].append(
            {
                "profile": _named(spec, prof),
                "payoff": {
                    seat: {
                        "mean": float(mean[(k, *prof)]),
                        "se": float(table.se[(k, *prof)]),
                        "ci": [float(low[(k, *prof)]), float(high[(k, *prof)])],
                    }
                    for k, seat in enumerate(spec.seats)
                },
                "regret": float(regret[prof]),
                **_undiscounted(table, prof),
            }
        )
    report["scoring"] = _scoring(spec)
    # Rounding noise in dollar payoffs is not a profitable deviation.
    tol = max(tolerance, 1e-9 * max(1.0, float(np.nanmax(np.abs(mean)))))
    report["tolerance"] = tolerance
    pure = [p for p in table.simulated if regret[p] <= tol]
    equilibria: list[dict[str, Any]] = []
    for prof in pure:
        equilibria.append(
            {
                "kind": "pure",
                "profile": _named(spec, prof),
                "regret": float(regret[prof]),
                "_mix": one_hot(spec.shape, prof),
            }
        )
    mixed: list[list[FloatArray]] = []
    if table.complete and len(spec.seats) == 2:
        mixed = [list(eq) for eq in solvers.mixed_equilibria(mean)]
    elif table.complete and len(spec.seats) > 2:
        try:
            mixed = [list(eq) for eq in solvers.gambit_equilibria(mean)]
        except ImportError as err:
            report["gambit"] = f"no mixed equilibria for {len(spec.seats)} seats: {err}"
    for mix in mixed:
        # Nash's and Gambit's solvers also return pure equilibria, already listed above.
        if any(x.max() < 1 - 1e-9 for x in mix):
            equilibria.append({"kind": "mixed", "strategies": _mixed_named(spec, mix), "_mix": mix})
    est, _, _ = streams(spec.seed)
    default_rows = run_jobs(
        spec,
        [Job(f"def-{r:04d}", None, s) for r, s in enumerate(seeds.seeds32(est, spec.repetitions))],
        processes=processes,
        store_dir=store_dir,
        progress=progress,
        description="default play",
    )
    default_outcome: dict[str, dict[str, Any]] = {}
    keys = sorted({k for row in default_rows.values() for k in row if k.startswith("metric.")})
    for key in keys:
        name = key[len("metric.") :]
        if name.startswith(OUTCOME_PREFIXES):
            values = [
                default_rows[f"def-{r:04d}"].get(key, np.nan) for r in range(spec.repetitions)
            ]
            default_outcome[name] = mean_ci(values)
    for eq in equilibria[:max_equilibria]:
        weights = profile_weights(eq["_mix"])
        eq["outcome"] = table.outcome(weights) if all(w in table.metrics for w in weights) else {}
        eq["winners"] = winners(eq["outcome"])
        if check:
            eq["check"] = deviation_check(
                spec, eq["_mix"], processes=processes, store_dir=store_dir, progress=progress
            )
    for eq in equilibria:
        del eq["_mix"]
    report["equilibria"] = equilibria[:max_equilibria]
    report["equilibria_found"] = len(equilibria)
    report["default_play"] = {"outcome": default_outcome, "winners": winners(default_outcome)}
    if table.complete:
        spread = max(float(np.ptp(mean[k])) for k in range(mean.shape[0]))
        scaled = mean / spread if spread > 0 else mean
        ar = solvers.alpha_rank(scaled, alpha=alpha, m=population)
        report["alpha_rank"] = {
            "alpha": alpha,
            "population": population,
            "payoff_scale": spread,
            "ranking": [{"profile": _named(spec, p), "mass": float(ar.pi[p])} for p in ar.ranking],
        }
        _, _, sample = streams(spec.seed)
        rep = solvers.replicator_ranking(
            mean,
            seeds.generator(sample, 1),
            starts=replicator_starts,
            steps=1000,
            dt=0.1,
        )
        report["replicator"] = _mixed_named(spec, rep)
    return report


def _scoring(spec: GameSpec) -> dict[str, Any]:
    """What the payoff tables hold: the ``scoring`` block of the report."""
    from stackgame.environment.scenario import apply_overrides, resolve

    rate: float | None
    if spec.discount_rate is not None:
        rate, source = float(spec.discount_rate), "given"
    elif spec.simulator != SIMULATOR:
        rate, source = None, f"the simulator's ({spec.simulator})"
    else:
        base = resolve(spec.scenario)
        scenario = apply_overrides(base, dict(spec.overrides)) if spec.overrides else base
        rate, source = float(scenario.discount_rate), "scenario"
    return {
        "discount_rate": rate,
        "discount_rate_source": source,
        "payoff": "discounted value per round, sum_t delta^t pi_t / sum_t delta^t, "
        "delta = 1/(1+r) (the mean per round when r = 0)",
        "also_reported": [
            "mean_payoff (undiscounted mean per round)",
            "present_value (sum_t delta^t pi_t)",
        ],
    }


def _undiscounted(table: PayoffTable, prof: Profile) -> dict[str, Any]:
    """A profile's mean payoff per round and present value per seat (means over runs)."""
    out: dict[str, Any] = {}
    for key, values in (
        ("mean_payoff", table.mean_payoffs),
        ("present_value", table.present_values),
    ):
        if values is None or all(np.isnan(values[(k, *prof)]).all() for k in range(len(values))):
            continue  # (a simulator that reports no present value)
        out[key] = {
            seat: float(np.mean(values[(k, *prof)])) for k, seat in enumerate(table.spec.seats)
        }
    return out


def _named(spec: GameSpec, prof: Profile) -> dict[str, str]:
    return {
        seat: spec.strategies[k][i]
        for k, (seat, i) in enumerate(zip(spec.seats, prof, strict=True))
    }


def _mixed_named(spec: GameSpec, mixes: Sequence[FloatArray]) -> dict[str, dict[str, float]]:
    return {
        seat: {name: float(p) for name, p in zip(spec.strategies[k], mixes[k], strict=True)}
        for k, seat in enumerate(spec.seats)
    }


# -- theory benchmark ------------------------------------------------------------------------


def chain_posture_game(
    intercept: float = 16.0,
    slope: float = 1.0,
    cost: float = 4.0,
    restrain: float | None = None,
    extract: float | None = None,
) -> FloatArray:
    """Compute the restrain/extract game of a two-link chain of monopolists by clearing.

    An upstream monopolist (unit cost ``c``) sells one unit of input per unit of output to
    a downstream monopolist, which sells to consumers with inverse demand ``P = A - B Q``.
    Each sets a per-unit margin simultaneously (Cournot's complements): ``P = c + m_1 +
    m_2``, ``Q = (A - c - m_1 - m_2) / B``, profit ``pi_i = m_i Q``. The best response is
    ``m_i = (A - c - m_j) / 2``, so the Nash margins are ``(A - c) / 3`` each (the default
    ``extract``), while the margins that maximise joint profit sum to ``(A - c) / 2``
    (default ``restrain = (A - c) / 4`` each). With ``a = A - c``: ``R = a^2/8`` each if
    both restrain, ``P = a^2/9`` if both extract, and an extractor facing a restrainer
    earns ``T = 5a^2/36`` against ``S = 5a^2/48``: ``T > R > P > S``, a prisoner's dilemma
    whose only equilibrium is both extracting (double marginalisation; Spengler 1950,
    Tirole 1988 section 4.2).

    The profits are computed by :func:`stackgame.environment.market.clear` (per-unit
    markups, linear demand, ample capacity), so the table is the market code's, and tests
    compare it with the closed form.

    Returns
    -------
    numpy.ndarray
        Shape ``(2, 2, 2)``; index 0 restrain, 1 extract; player 0 upstream.
    """
    from stackgame.environment import market

    a = intercept - cost
    if a <= 0:
        raise ValueError("intercept must exceed cost")
    restrain = a / 4 if restrain is None else restrain
    extract = a / 3 if extract is None else extract
    structure = market.build_structure(
        np.array([0, 1]), np.array([0, 1]), 2, np.ones(2), np.full(2, 0.25)
    )
    demand = market.Demand(kind="linear", intercept=intercept, slope=slope)
    margins = (restrain, extract)
    out = np.zeros((2, 2, 2))
    for i, j in np.ndindex(2, 2):
        clearing = market.clear(
            structure,
            unit_cost=np.array([cost, 0.0]),
            markup=np.array([margins[i], margins[j]]),
            quality=np.zeros(2),
            capacity=np.full(2, 1e9),
            demand=demand,
            per_unit=True,
        )
        out[0, i, j] = clearing.gross_profit[0]
        out[1, i, j] = clearing.gross_profit[1]
    return out
