"""``stackgame run``: who wins the AI stack, on the built-in scenario by default."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import TYPE_CHECKING, Any

from stackgame import strict_json
from stackgame.commands.arguments import add_scenario, add_seed, check_output_folder, parse_pairs

DEFAULT_SEEDS = 8
"""Seeds of the verdict's robustness (:data:`stackgame.experiments.robustness.DEFAULT_SEEDS`:
kept here too so that ``--help`` needs no experiments import; a test checks they agree)."""

if TYPE_CHECKING:
    from pathlib import Path

    from stackgame.environment.model import StackModel
    from stackgame.environment.scenario import Scenario
    from stackgame.simulation import plot_worker
    from stackgame.simulation.simulate import RunResult

EPILOG = """\
examples:
  stackgame run
  stackgame run --rounds 12 --seed 7 --json > result.json
  stackgame run --set events.nvidia_value_pricing.enabled=true --set regulator.stance=0.2
  stackgame run --strategy nvidia=always_extract --out runs/out/nvidia-extracts
  stackgame run --scenario monopoly-chain
  stackgame run --uncertainty 32 --workers 2     # who wins across 32 plausible worlds
  stackgame run --seeds 20                       # the verdict over 20 seeds, not 8
  stackgame run --seeds 1                        # the --seed run alone (no interval)

The run also plays the scenario on --seeds K seeds (default 8: --seed, --seed+1, ...,
common random numbers) and names the largest layer and firm only when they lead beyond
their 95% interval; otherwise it names those within noise of each other. --json keeps
every key for the --seed run and adds "robustness" (seeds, n_seeds, winner_frequency,
intervals, lead, verdict).

--uncertainty N draws N parameter sets of the scenario's target table's [[parameters]], runs
each, weighs each by its fit to the table's targets and reports how often each layer and
firm captures the most value (docs/MODEL.md 19.1). --uncertainty-from posterior (the
default for a fitted scenario: every value inside its bounds, as the built-in) draws from
the fit's approximate posterior: a Laplace approximation at the scenario's values (the
Jacobian of the fit's residuals: one point per parameter, on the fit's 4 common seeds from
--seed; the survival targets left out), each draw run on those seeds and weighted by the
chance that every layer survives (the survival targets as a likelihood);
--uncertainty-from ranges (the default otherwise) draws a Latin hypercube over the bounds,
each run on --seed. --json gains "uncertainty" (method, draws, effective_draws,
winner_probability, value_share_intervals, parameters with their posterior standard
deviations, pinned_most, pinned_least, ...) and the folder uncertainty.png and
uncertainty_draws.csv.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    p = subparsers.add_parser(
        "run",
        help="who wins the AI stack? tables, plots and a verdict for one run",
        description=(
            "Run one scenario and report the value captured by layer and by firm, "
            "margins next to the seed facts, integration moves, the regulator, and a "
            "verdict. Tables, plots and a manifest go to runs/out/<scenario>-seed<K>/; a "
            "what-if adds its changes and a hash: runs/out/<scenario>-seed<K>-<changes>-<hash>/."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_scenario(p)
    add_seed(p)
    p.add_argument("--rounds", type=int, default=None, help="rounds (default: the scenario's)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--out", default=None, help="output folder (default runs/out/<name>)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-files", action="store_true", help="write nothing to disk")
    p.add_argument(
        "--allow-long",
        action="store_true",
        help=f"run even when the estimate says it takes over {LONG_SECONDS // 60} minutes "
        f"or {LONG_BYTES // 2**30} GiB",
    )
    p.add_argument(
        "--uncertainty",
        type=int,
        default=None,
        metavar="N",
        help="also draw N worlds of the target table's parameters, weighted by their fit "
        "to the targets: how often each layer and firm wins",
    )
    p.add_argument(
        "--uncertainty-from",
        default=None,
        metavar="{posterior,ranges}",
        help="where --uncertainty draws from: the fit's approximate posterior around the "
        "scenario's values (default for a fitted scenario) or the table's ranges (default "
        "otherwise)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="K",
        help=f"play the scenario on K seeds from --seed (common random numbers) for the "
        f"verdict's intervals (default {DEFAULT_SEEDS}; 1: the --seed run alone, no interval)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes for --uncertainty's draws and the extra seeds (default: the cores "
        "available; the seeds use them only when their estimated work pays for it)",
    )
    p.set_defaults(handler=run)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells)."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # pragma: no cover - macOS and Windows


LONG_ROUNDS = 10_000
"""Runs longer than this are estimated (time, memory, runaway round) before they start."""
LONG_SECONDS = 600
"""A run estimated to take longer than this (seconds) needs ``--allow-long``."""
LONG_BYTES = 4 * 2**30
"""A run estimated to hold more than this (bytes) needs ``--allow-long``."""


def check_horizon(
    scenario: Scenario,
    rounds: int,
    overrides: dict[str, Any],
    allow_long: bool,
    *,
    seeds: int = 1,
) -> None:
    """Before a very long run: refuse one that would run away or cost too much; else say so.

    Runs of at most :data:`LONG_ROUNDS` rounds start at once. A longer one is estimated by
    :func:`stackgame.environment.horizon.estimate_run` (a short sample run, scaled): if
    growth compounding would carry a quantity past the model's bound before the last
    round, it is refused up front (the model would stop there anyway); if it would take
    more than :data:`LONG_SECONDS` or hold more than :data:`LONG_BYTES`, it needs
    ``--allow-long``; otherwise the estimate is printed on stderr and the run starts. The
    time counts every one of ``seeds`` runs, spread over the cores available; the memory
    one run per core (each process holds one run at a time).
    """
    from stackgame.environment.horizon import estimate_run, runaway_round
    from stackgame.environment.scenario import apply_overrides
    from stackgame.errors import UserError

    if rounds <= LONG_ROUNDS:
        return
    at, what = runaway_round(apply_overrides(scenario, overrides))
    if at is not None and at <= rounds:
        raise UserError(
            f"--rounds {rounds}: {what} would pass the model's bound in round {at} (growth "
            f"compounding over the horizon); run at most {at - 1} rounds, or set its growth to 0 "
            "(--set demand.growth=0; --set firms.<firm>.ops.<layer>.capacity_growth=0)"
        )
    est = estimate_run(scenario, rounds, overrides=overrides)
    cores = min(available_cores(), seeds)
    total_seconds = est.seconds * math.ceil(seeds / cores)
    total_bytes = est.memory_bytes * cores
    said = (
        f"about {_duration(total_seconds)} and {total_bytes / 2**30:.1f} GiB "
        f"for {rounds:,} rounds on {seeds} seed(s) (estimated from a short sample run; "
        "--seeds 1 plays one)"
    )
    if (total_seconds > LONG_SECONDS or total_bytes > LONG_BYTES) and not allow_long:
        raise UserError(f"--rounds {rounds}: this run would take {said}; add --allow-long")
    print(f"stackgame run: {said}", file=sys.stderr)


def _duration(seconds: float) -> str:
    """Seconds in words: ``"40 s"``, ``"12 min"``, ``"3.5 h"``, ``"20 days"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def run(args: argparse.Namespace) -> int:
    """Run the model and print the answer.

    As the program (``stackgame run``: ``args.program``, the process ends with the
    command) the cyclic garbage collector is held while the imports and the model's
    build run, and what is alive then is frozen (:func:`gc.freeze`), again once numba's
    kernels are loaded and once the rounds are over (:func:`_step_with_progress`): its
    collections then walk only what was allocated since, not the hundreds of thousands of
    objects of numba, pandas and a long run's history (measured in process: about 0.17 s
    of CPU at one round, 0.3 s at 2,001). Called from code (tests), nothing changes.
    """
    import gc

    if getattr(args, "program", False):
        gc.disable()  # (the plot child inherits it: it ends after its drawing)
    try:
        return _run_checked(args)
    finally:
        if getattr(args, "program", False):
            gc.enable()


def _run_checked(args: argparse.Namespace) -> int:
    """:func:`run`'s work."""
    from stackgame.errors import UserError
    from stackgame.simulation import plot_worker

    if args.rounds is not None and args.rounds < 1:
        raise UserError(f"--rounds: must be at least 1 (got {args.rounds})")
    if args.uncertainty is not None and args.uncertainty < 1:
        raise UserError(f"--uncertainty: must be at least 1 draw (got {args.uncertainty})")
    if args.uncertainty_from not in (None, "posterior", "ranges"):
        raise UserError(
            f"--uncertainty-from: {args.uncertainty_from!r} is not one of posterior, ranges"
        )
    if args.uncertainty_from is not None and args.uncertainty is None:
        raise UserError("--uncertainty-from: needs --uncertainty N")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers: must be at least 1 (got {args.workers})")
    if args.seeds is not None and args.seeds < 1:
        raise UserError(f"--seeds: must be at least 1 (got {args.seeds})")
    if not args.no_files:
        check_output_folder(args.out)
    plotter = None
    if not (args.no_files or args.no_plots):
        import pandas  # noqa: F401 - both processes need it: imported once, before the fork

        # the plots' imports in a child, beside the model's here
        plotter = plot_worker.start()
    try:
        return _run(args, plotter)
    finally:
        if plotter is not None:
            plotter.close()


def _run(args: argparse.Namespace, plotter: plot_worker.PlotWorker | None) -> int:
    from stackgame.environment.scenario import resolve
    from stackgame.errors import UserError
    from stackgame.manifest import output_dir, output_name, scenario_change, write_manifest
    from stackgame.simulation.simulate import RunResult, build

    overrides = parse_pairs(args.set, "--set")
    strategies = {k: str(v) for k, v in parse_pairs(args.strategy, "--strategy").items()}
    scenario = resolve(args.scenario)
    n_seeds = DEFAULT_SEEDS if args.seeds is None else args.seeds
    check_horizon(
        scenario, args.rounds or scenario.rounds, overrides, args.allow_long, seeds=n_seeds
    )
    if args.uncertainty is not None:  # a scenario with nothing to draw fails before any run
        from stackgame.environment.scenario import apply_overrides
        from stackgame.experiments.uncertainty import choose_method, parameter_space

        changed = apply_overrides(scenario, overrides)
        _, free = parameter_space(changed, held=overrides)
        if args.uncertainty_from == "posterior":
            from stackgame.experiments.posterior import outside_bounds

            outside = outside_bounds(changed, free)
            if outside:
                raise UserError(
                    f"--uncertainty-from posterior: scenario {scenario.name!r} is not a "
                    f"fitted point: {', '.join(outside)} outside its [[parameters]] bounds "
                    "(use --uncertainty-from ranges, or stackgame calibrate first)"
                )
        args.uncertainty_from = choose_method(changed, free, args.uncertainty_from)
    # no Mesa DataCollector: nothing here reads it (the result is the model's history),
    # and it takes a snapshot every round (as simulate() and the extra seeds run)
    model = build(
        scenario,
        rounds=args.rounds,
        seed=args.seed,
        strategies=strategies,
        overrides=overrides,
        collect=False,
    )
    started = time.perf_counter()
    try:
        _step_with_progress(model, freeze=getattr(args, "program", False))
        result = RunResult.from_model(model)
    finally:
        model.release()
    seconds = time.perf_counter() - started
    extra = _robustness(args, scenario, overrides, strategies, result, n_seeds, seconds)
    if args.uncertainty is not None:
        extra += ["", *_uncertainty(args, scenario, overrides, strategies, result)]
    summary_json = None  # (encoded once: printed, then written as summary.json)
    if args.json:
        summary_json = strict_json.dumps(result.summary)
        print(summary_json)
    else:
        from stackgame.simulation.report import render_text

        print(render_text(result, extra=extra, robust=result.summary["robustness"]["verdict"]))
    if args.no_files:
        return 0
    name = output_name(
        result.summary["scenario"],
        args.seed,
        overrides=overrides,
        strategies=strategies,
        rounds=args.rounds if args.rounds not in (None, scenario.rounds) else None,
        extra=scenario_change(args.scenario, scenario.name, scenario.digest()),
    )
    folder = output_dir(args.out, name)
    if plotter is not None:  # the child draws while this process writes the tables
        from stackgame.simulation.report import write_tables

        folder.mkdir(parents=True, exist_ok=True)
        plotter.submit(result, folder)
        write_tables(result, folder, summary_json=summary_json)
        plotter.wait()
    else:
        from stackgame.simulation.report import write_files

        # plots beside the tables
        write_files(result, folder, plots=not args.no_plots, summary_json=summary_json)
    if args.uncertainty is not None:
        _write_uncertainty(result, folder, plots=not args.no_plots)
    write_manifest(
        folder,
        seed=args.seed,
        scenario_hash=result.summary["scenario_hash"],
        scenario=result.summary["scenario"],
        rounds=result.summary["rounds"],
        overrides=overrides,
        strategies=strategies,
    )
    if not args.json:
        print(f"\nTables, plots and manifest: {folder}/", file=sys.stdout)
    return 0


def _robustness(
    args: argparse.Namespace,
    scenario: Scenario,
    overrides: dict[str, Any],
    strategies: dict[str, str],
    result: RunResult,
    n_seeds: int,
    seconds: float,
) -> list[str]:
    """Play the other seeds; put the report, with its sentence, in the summary.

    The ``--seed`` run is reused; the other ``n_seeds - 1`` run here unless their
    estimated work (``seconds`` of the ``--seed`` run each) pays for processes.
    Returns the text's robustness tables (shown before the verdict).
    """
    from stackgame.experiments.compare import seeds_of
    from stackgame.experiments.robustness import (
        SeedsConfig,
        render,
        run_seeds,
        shares_of,
        summarise,
        verdict_sentence,
        workers_for,
    )

    s = result.summary
    seeds = seeds_of(args.seed, n_seeds)
    cores = args.workers or available_cores()
    rows = run_seeds(
        SeedsConfig(scenario, args.rounds, dict(strategies), dict(overrides)),
        seeds,
        {args.seed: shares_of(s)},
        workers=workers_for(n_seeds - 1, seconds, cores),
        progress=True,
    )
    report = summarise(rows)
    labels = {f["name"]: f["label"] for f in s["firms"]}
    report["verdict"] = verdict_sentence(report, labels)
    s["robustness"] = report
    return render(report, result.layer_names, labels)


def _uncertainty(
    args: argparse.Namespace,
    scenario: Scenario,
    overrides: dict[str, Any],
    strategies: dict[str, str],
    result: RunResult,
) -> list[str]:
    """Run ``--uncertainty``'s draws; put the report and its sentence in the summary.

    Returns the text's uncertainty tables (shown before the verdict).
    """
    from stackgame.environment.scenario import apply_overrides
    from stackgame.experiments.uncertainty import analyse, render, verdict_sentence

    report = analyse(
        apply_overrides(scenario, overrides) if overrides else scenario,
        draws=args.uncertainty,
        seed=args.seed,
        rounds=args.rounds,
        strategies=strategies,
        held=overrides,
        workers=args.workers or available_cores(),
        progress=True,
        method=args.uncertainty_from,
    )
    s = result.summary
    labels = {f["name"]: f["label"] for f in s["firms"]}
    s["uncertainty"] = report
    s["verdict"] = f"{s['verdict']} {verdict_sentence(report, labels)}"
    return render(report, result.layer_names, labels)


def _write_uncertainty(result: RunResult, folder: Path, *, plots: bool) -> None:
    """``uncertainty_draws.csv`` (each draw's values and weight) and ``uncertainty.png``."""
    from stackgame.experiments.uncertainty import draws_frame, plot

    report = result.summary["uncertainty"]
    draws_frame(report).to_csv(folder / "uncertainty_draws.csv", index=False)
    if plots:
        labels = {f["name"]: f["label"] for f in result.summary["firms"]}
        plot(report, folder / "uncertainty.png", result.layer_names, labels)


def _step_with_progress(model: StackModel, *, freeze: bool = False) -> None:
    """Run ``model``'s rounds with a progress bar on stderr.

    ``freeze`` (the program, with the collector held by :func:`run`): what is alive is
    frozen before the first round and after the second (a long run has loaded numba's
    kernels by then: numba's objects, which a collection at the end of that round would
    walk, then again in the older generations), the collector resumes, and what is alive
    after the last round is frozen too (the history, before the tables are built).
    """
    import gc

    from tqdm import tqdm

    from stackgame.environment import jit

    if freeze:
        gc.freeze()
    # stderr, shown only when the rounds take over a second (stdout stays clean for --json)
    with tqdm(total=model.rounds, desc="rounds", delay=1.0, file=sys.stderr) as bar:
        before = jit.spent()
        if model.running:
            model.step()
            bar.update(1)
            # the horizon: a long run loads the kernels from numba's cache, if warm, at once
            jit.expect((jit.spent() - before) * max(model.rounds - model.round, 0))
        if model.running:
            model.step()
            bar.update(1)
        if freeze:
            gc.freeze()
            gc.enable()
        while model.running:
            model.step()
            bar.update(1)
    if freeze:
        gc.freeze()
