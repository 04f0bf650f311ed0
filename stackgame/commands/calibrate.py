"""``stackgame calibrate``: fit a scenario's free parameters to its target table."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from stackgame.commands.arguments import add_scenario, add_seed, check_output_folder, parse_pairs

DEFAULT_SEEDS = 4  # stackgame.calibration.fit.DEFAULT_SEEDS (not imported: --help stays light)
DEFAULT_MAX_EVALS = 150  # stackgame.calibration.fit.DEFAULT_MAX_EVALS

EPILOG = """\
examples:
  stackgame calibrate                                   fit ai-stack-2026 to its targets
  stackgame calibrate --seeds 2 --max-evals 40          a quicker, rougher fit
  stackgame calibrate --scenario my.toml --targets my-targets.toml --out fitted.toml
  stackgame run --scenario runs/out/calibrate/.../ai-stack-2026.toml   the fitted scenario
  stackgame calibrate --check                           re-run the fit that wrote ai-stack-2026
  stackgame calibrate --starts 8 --workers 2           8 starts: the best, and the conflicts

Time: each evaluation runs the scenario on every seed (ai-stack-2026: about 0.1 s a run
on one core), so the default fit (4 seeds, 150 evaluations: 600 runs) takes 1-3 minutes.

Starts (--starts K): the fit is local. Start 0 is the scenario's values (--starts 1, the
default, is the one-start fit); starts 1..K-1 are the first K-1 points of a scrambled
Sobol design in the parameters' cube, its scrambling seeded by --seed (same command, same
starts). Each start has its own --max-evals (K starts cost K fits, shared over --workers
processes; the result does not depend on how many). The best start is written; its id is
in the header, so --check re-runs it. The report adds every start and the conflicts: the
targets outside their range in every start's final point.

JSON keys (--json): scenario, table, seeds, parameters (path, low, high, scale, before,
after, at_bound, note), targets (name, figure, kind, unit, window, target, low, high,
weight, model_before, model_after, residual_before, residual_after, inside_before,
inside_after, fitted, note), inside_before, inside_after, measured, objective_before,
objective_after, evaluations (the written start's), failed_evaluations, runs, status,
seconds, out (the calibrated TOML, or null with --no-files), method; starts (start, point:
scenario or sobol, objective_start, objective_final, inside_final, evaluations,
failed_evaluations, seconds, status, best), best_start, design, evaluations_total,
wall_seconds, outside and conflicts (name, figure, unit, target, low, high, outside_in,
starts, model_min, model_max, side: above, below or both; conflicts: outside in every
start).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` subcommand."""
    p = subparsers.add_parser(
        "calibrate",
        help="fit the scenario's free parameters to its targets (weighted least squares)",
        description=(
            "Fit the [[parameters]] of the scenario's target table (dotted scenario fields\n"
            "with bounds) to its [[targets]] by weighted least squares: each target's\n"
            "residual is (model - target) / (half its range / sqrt(weight)), the model's\n"
            "number the mean over --seeds common seeds (the same for every evaluation).\n"
            "Prints every target before and after, and each parameter next to its bounds;\n"
            "writes the calibrated scenario as TOML (the source's text with the fitted\n"
            "values in place) and, beside it, <name>.manifest.json and <name>.json (the\n"
            "report), in runs/out/calibrate/<scenario>-seed<K>-<hash>/ or --out FILE.\n"
            "docs/MODEL.md 19.2 gives the objective."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_scenario(p)
    p.add_argument(
        "--targets",
        default=None,
        metavar="FILE",
        help="target table (TOML) to fit to (default: the scenario's own)",
    )
    add_seed(p)
    p.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help=f"common seeds per evaluation, from --seed on (default {DEFAULT_SEEDS})",
    )
    p.add_argument(
        "--max-evals",
        type=int,
        default=DEFAULT_MAX_EVALS,
        help=f"most evaluations, the Jacobian's included (default {DEFAULT_MAX_EVALS})",
    )
    p.add_argument(
        "--method",
        choices=("least_squares", "powell", "least_squares_powell"),
        default="least_squares",
        help=(
            "least_squares (trust-region on the residuals, default), powell "
            "(derivative-free: for a rugged objective) or least_squares_powell (the first "
            "on 40%% of the budget, then Powell from its best point: how "
            "ai-stack-2026 was made)"
        ),
    )
    p.add_argument(
        "--starts",
        type=int,
        default=1,
        metavar="K",
        help=(
            "fit from K starting points, each with its own --max-evals: the scenario's "
            "values and K-1 points of a scrambled Sobol design in the parameters' cube, "
            "seeded by --seed; writes the best and reports the targets every start misses "
            "(default 1: the scenario's values alone)"
        ),
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="W",
        help=(
            "processes for --starts (default: the cores available, at most K); the result "
            "does not depend on it"
        ),
    )
    p.add_argument("--json", action="store_true", help="print the fit as JSON on stdout")
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="the calibrated scenario (.toml; default runs/out/calibrate/.../<scenario>.toml)",
    )
    p.add_argument("--no-files", action="store_true", help="write nothing to disk")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument(
        "--check",
        action="store_true",
        help=(
            "re-run the fit recorded in the scenario's '# calibrate:' header (its seeds, "
            "budget and starting values) and check it lands on the scenario's values; "
            "exit 1 if it does not"
        ),
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Check the input, fit, print the table (or JSON), write the scenario and manifest."""
    from stackgame import strict_json
    from stackgame.calibration.fit import SIGNIFICANT, fit_starts, problem, seeds_of
    from stackgame.calibration.output import calibrated_toml, number_text, render, render_starts
    from stackgame.environment import targets
    from stackgame.environment.scenario import apply_overrides, builtin_names, resolve
    from stackgame.errors import UserError
    from stackgame.manifest import manifest, output_name, scenario_change

    if args.check:
        return check(args)
    if args.seeds < 1:
        raise UserError(f"--seeds: must be at least 1 (got {args.seeds})")
    if args.max_evals < 1:
        raise UserError(f"--max-evals: must be at least 1 (got {args.max_evals})")
    if args.starts < 1:
        raise UserError(f"--starts: must be at least 1 (got {args.starts})")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers: must be at least 1 (got {args.workers})")
    out_file = _out_file(args.out) if not args.no_files else None
    overrides = parse_pairs(args.set, "--set")
    for firm, strategy in parse_pairs(args.strategy, "--strategy").items():
        overrides[f"firms.{firm}.strategy"] = str(strategy)
    base = resolve(args.scenario)
    if args.targets is not None:
        table_file = Path(args.targets).resolve()
        targets.load_table(table_file)  # a file that does not parse: one line naming it
        overrides["targets"] = str(table_file)
    scenario = apply_overrides(base, overrides) if overrides else base
    table = targets.resolve(scenario)
    if table is None:
        raise UserError(
            f"--scenario {args.scenario}: names no target table; give one with --targets FILE"
        )
    source = args.targets or scenario.targets or "<targets>"
    pb = problem(scenario, table, seeds_of(args.seed, args.seeds), str(source))

    name = scenario.name
    if out_file is None and not args.no_files:
        extra = {
            **scenario_change(args.scenario, base.name, base.digest()),
            "seeds": args.seeds,
            "max_evals": args.max_evals,
            **({"targets": str(args.targets)} if args.targets else {}),
            **({"starts": args.starts} if args.starts > 1 else {}),
        }
        folder = output_name(name, args.seed, overrides=overrides, extra=extra, prefix="calibrate/")
        out_file = Path("runs") / "out" / folder / f"{name}.toml"

    from stackgame.commands.run import available_cores
    from stackgame.experiments.executor import map_blocks

    starts = fit_starts(
        pb,
        starts=args.starts,
        seed=args.seed,
        workers=min(args.workers or available_cores(), args.starts),
        max_evals=args.max_evals,
        method=args.method,
        progress=not args.no_progress,
        mapper=map_blocks,
    )
    result = starts.results[starts.best]
    report = starts.to_dict()
    report["method"] = args.method
    report["out"] = None if out_file is None else str(out_file)

    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        changes: dict[str, Any] = dict(overrides)
        if args.targets is not None:  # the written scenario finds the table from its folder
            changes["targets"] = _relative(Path(args.targets).resolve(), out_file.parent)
        fitted = result.overrides()
        notes: dict[str, str] = {}
        for prm in pb.parameters:
            if fitted[prm.path] != prm.start:  # unchanged lines stay as they are
                changes[prm.path] = fitted[prm.path]
                notes[prm.path] = f"calibrated (was {number_text(_plain(prm.start, prm.integer))})"
        text = calibrated_toml(
            _source_text(args.scenario, builtin_names()),
            base.model_dump(mode="json"),
            changes,
            notes,
            _header(report, args, SIGNIFICANT),
        )
        out_file.write_text(text, encoding="utf-8")
        strict_json.write(out_file.with_suffix(".json"), report)
        strict_json.write(
            out_file.with_suffix(".manifest.json"),
            manifest(
                command=["stackgame", *sys.argv[1:]] if sys.argv[1:2] == ["calibrate"] else None,
                seed=args.seed,
                scenario_hash=scenario.digest(),
                calibrated_scenario_hash=resolve(out_file).digest(),
                seeds=report["seeds"],
                max_evals=args.max_evals,
                overrides=overrides,
                targets=str(source),
                **({"starts": args.starts, "best_start": starts.best} if args.starts > 1 else {}),
            ),
            sort_keys=True,
        )
    if args.json:
        print(strict_json.dumps(report))
    else:
        print(render(report))
        if args.starts > 1:
            print()
            print(render_starts(report))
        if out_file is not None:
            beside = [out_file.with_suffix(x).name for x in (".json", ".manifest.json")]
            print(f"\nfiles: {out_file} (the calibrated scenario), {', '.join(beside)}")
    return 0


def check(args: argparse.Namespace) -> int:
    """``--check``: re-run the recorded fit from its starting values; 0 if it lands on the file.

    The scenario's ``# calibrate:`` header gives the common seeds, the budget and each
    parameter's value before and after; the fit starts from the scenario with the
    "before" values put back and must write exactly the "after" ones (the fit is
    deterministic: common random numbers, a fixed budget, rounded values). A fit of
    several starts records the one it wrote; only that start is re-run (its point of the
    Sobol design, seeded by the first common seed).
    """
    from stackgame.calibration.fit import fit, problem, start_point, value_at
    from stackgame.calibration.output import parse_header
    from stackgame.environment import targets
    from stackgame.environment.scenario import apply_overrides, builtin_names, resolve
    from stackgame.errors import UserError
    from stackgame.simulation.report import table

    text = _source_text(args.scenario, builtin_names())
    recorded = None if text is None else parse_header(text)
    if recorded is None:
        raise UserError(
            f"--check: {args.scenario} was not written by stackgame calibrate (no "
            "'# calibrate:' header naming its seeds, budget and parameters)"
        )
    shipped = resolve(args.scenario)
    prior = apply_overrides(shipped, {p["path"]: p["before"] for p in recorded["parameters"]})
    tbl = targets.resolve(prior)
    if tbl is None:
        raise UserError(f"--check: {args.scenario} names no target table")
    pb = problem(prior, tbl, recorded["seeds"], str(prior.targets))
    result = fit(
        pb,
        max_evals=recorded["max_evals"],
        progress=not args.no_progress,
        method=recorded["method"],
        from_unit=start_point(len(pb.parameters), recorded["start"], recorded["seeds"][0]),
    )
    refit = result.overrides()
    rows = []
    same = True
    for p in recorded["parameters"]:
        value = float(refit[p["path"]])
        held = float(value_at(shipped, p["path"]))  # the file's value, whatever the header says
        ok = all(abs(value - x) <= 1e-9 * max(1.0, abs(x)) for x in (held, p["after"]))
        same &= ok
        rows.append(
            [
                p["path"],
                f"{p['before']:.4g}",
                f"{held:.4g}",
                f"{value:.4g}",
                "yes" if ok else "NO",
            ]
        )
    print(
        table(
            ["parameter", "start", "in the file", "refit", "same"],
            rows,
            f"Re-running the fit recorded in {args.scenario} ({len(recorded['seeds'])} common "
            f"seeds, --max-evals {recorded['max_evals']}"
            + (
                f", start {recorded['start']} of {recorded['starts']}"
                if recorded["starts"] > 1
                else ""
            )
            + f", {result.seconds:.0f} s):",
        )
    )
    print(
        "\nThe file is the fit's output: it reproduces."
        if same
        else "\nThe file does not reproduce: it was edited after the fit, or the model changed."
    )
    return 0 if same else 1


def _plain(value: float, integer: bool) -> float | int:
    return int(value) if integer else float(value)


def _out_file(out: str | None) -> Path | None:
    """The calibrated scenario's path from ``--out`` (``None``: the default folder).

    Checked before any work: it must end in ``.toml``, not be a folder, and its folder
    must be writable.
    """
    from stackgame.errors import UserError

    if out is None:
        check_output_folder(None)
        return None
    path = Path(out)
    if path.is_dir():
        raise UserError(f"--out {out}: is a folder; name the .toml file to write")
    if path.suffix != ".toml":
        raise UserError(f"--out {out}: the calibrated scenario is a .toml file")
    check_output_folder(path.parent if str(path.parent) else ".", "--out")
    return path


def _relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` where it can be, else absolute."""
    import os

    try:
        return os.path.relpath(path, folder.resolve())
    except ValueError:  # another drive (Windows)
        return str(path)


def _source_text(scenario: str, builtins: list[str]) -> str | None:
    """The TOML text of the scenario as given (a built-in's or a file's)."""
    from stackgame.environment.scenario import builtin_text

    if scenario in builtins:
        return builtin_text(scenario)
    path = Path(scenario)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _header(report: dict[str, Any], args: argparse.Namespace, digits: int) -> list[str]:
    """The ``# calibrate:`` lines: what produced the file, on which seeds, to what end."""
    seeds = report["seeds"]
    n = len(report["targets"])
    span = f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else f"{seeds[0]}"
    text = (
        "written by `stackgame calibrate`, not by hand: the [[parameters]] of the target "
        f"table {report['table']} fitted to its [[targets]] by weighted least squares "
        "(docs/MODEL.md 19.2). Residual = (model - target) / (max(half-range, bar) / "
        "sqrt(weight)), bar 5 points or 25% of the figure; "
        f"the model's number the mean over the common seeds {span}; objective = the sum of "
        f"squared residuals: {report['objective_before']:.4g} before, "
        f"{report['objective_after']:.4g} after. Targets inside their range: "
        f"{report['inside_before']} of {n} before, {report['inside_after']} of {n} after. "
        f"{report['evaluations']} evaluations (--max-evals {args.max_evals}, --method "
        f"{args.method}"
        + (
            f", --starts {args.starts}: best start {report['best_start']}, of the "
            "scenario's values and a scrambled Sobol design seeded by the first seed"
            if args.starts > 1
            else ""
        )
        + f"); {report['status']}. Fitted values rounded to {digits} significant digits; each "
        "changed line says what it was. Parameters (bounds; scale):"
    )
    lines = textwrap.wrap(text, width=76, break_on_hyphens=False)
    for p in report["parameters"]:
        lines.append(
            f"  {p['path']} = {p['after']:.{digits}g} (was {p['before']:.{digits}g}; "
            f"[{p['low']:g}, {p['high']:g}]; {p['scale']})"
        )
    return lines
