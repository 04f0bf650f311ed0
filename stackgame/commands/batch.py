"""``stackgame batch SPEC``: run (or resume) a scripted experiment batch."""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  stackgame batch runs/smoke.toml                      # a few dozen runs, seconds
  stackgame batch runs/smoke.toml --workers 2          # on a local process pool
  stackgame batch runs/regulator-sweep.toml --out runs/out/reg
  stackgame batch runs/smoke.toml --backend dask --workers 2     # a local Dask cluster
  stackgame batch runs/sobol-sensitivity.toml --scheduler tcp://10.0.0.5:8786
  stackgame batch runs/smoke.toml --dry-run --json     # validate, count, list nothing
  stackgame batch runs/smoke.toml --timeout 60 --retry-failed   # rerun failed/timed-out runs

Interrupt it at any moment (Ctrl-C, or kill -9): the same command resumes it, running
only what is missing. Results go to DIR/runs/ (Parquet, one row per run: run_id, seed,
status, error, the varied parameters, the metrics), DIR/rounds/ and DIR/firm_rounds/
when the spec asks for them, and DIR/manifest.json. Then: stackgame report DIR.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``batch`` subcommand."""
    p = subparsers.add_parser(
        "batch",
        help="run a batch of experiments from a TOML spec (resumable, local or Dask)",
        description=(
            "Run every run of a batch spec (design points x replicates) on a local "
            "process pool or a Dask cluster, streaming results to Parquet. A failing run "
            "is recorded with its error; a killed batch resumes where it stopped."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", help="the batch spec (TOML), e.g. runs/smoke.toml")
    p.add_argument(
        "--workers", type=int, default=1, help="worker processes (default 1: in this process)"
    )
    p.add_argument(
        "--backend",
        choices=("local", "dask"),
        default="local",
        help="local process pool (default) or Dask (pip install 'stackgame[dask]')",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="join a running Dask scheduler instead of starting a local cluster",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/out/<spec name>)")
    p.add_argument("--seed", type=int, help="root seed (default: the spec's batch.seed)")
    p.add_argument("--timeout", type=float, help="seconds per run before it is stopped")
    p.add_argument(
        "--chunk-size", type=int, default=256, help="rows per Parquet chunk (default 256)"
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="run again the runs recorded as failed or timed out (their rows are replaced)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="validate the spec and count the runs; run none"
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the batch; return 0 when every run is recorded, 2 when interrupted.

    An interrupted batch is treated like bad input (the project's rule): one line saying
    what happened and where the finished runs are, exit code 2, nothing lost.
    """
    from pathlib import Path

    from stackgame import strict_json
    from stackgame.commands.arguments import check_output_folder
    from stackgame.errors import UserError, require
    from stackgame.experiments.batch import load_spec, run_batch

    if args.workers < 1:
        raise UserError(f"--workers: must be at least 1 (got {args.workers})")
    if args.chunk_size < 1:
        raise UserError(f"--chunk-size: must be at least 1 (got {args.chunk_size})")
    if args.timeout is not None and not args.timeout > 0:
        raise UserError(f"--timeout: must be a positive number of seconds (got {args.timeout})")
    if args.seed is not None and args.seed < 0:
        raise UserError(f"--seed: must be a non-negative integer (got {args.seed})")
    if args.backend == "dask" or args.scheduler:
        require("distributed", needed_for="--backend dask")
    check_output_folder(args.out)
    spec = load_spec(args.spec, seed=args.seed)
    from stackgame.manifest import output_name

    # the spec file names the folder; another --seed is another batch, beside it
    out = (
        Path(args.out)
        if args.out
        else Path("runs/out") / output_name(Path(args.spec).stem, args.seed)
    )
    if args.dry_run:
        info = {
            "spec": args.spec,
            "spec_hash": spec.digest(),
            "root_seed": spec.seed,
            "design": spec.design,
            "parameters": spec.parameter_names,
            "replicates": spec.replicates,
            "runs_total": spec.runs_total,
            "out": str(out),
        }
        if args.json:
            print(strict_json.dumps(info, sort_keys=True))
        else:
            print(
                f"{args.spec}: {spec.runs_total} runs ({spec.design} design over "
                f"{', '.join(spec.parameter_names)}; {spec.replicates} replicate(s)); "
                f"would write to {out}"
            )
        return 0
    command = ["stackgame", "batch", *sys.argv[2:]] if sys.argv[1:2] == ["batch"] else None
    try:
        outcome = run_batch(
            spec,
            out,
            workers=args.workers,
            backend="dask" if args.scheduler else args.backend,
            scheduler=args.scheduler,
            timeout=args.timeout,
            chunk_size=args.chunk_size,
            progress=not args.no_progress,
            command=command,
            retry_failed=args.retry_failed,
        )
    except KeyboardInterrupt:
        print(
            f"stackgame batch: interrupted; finished runs are saved in {out}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 2
    s = outcome.summary
    info = {
        "out": str(out),
        "spec_hash": spec.digest(),
        "root_seed": spec.seed,
        "runs_total": s.total,
        "done_before": s.done_before,
        "ran": s.ran,
        "ok": s.ok,
        "failed": s.failed,
        "timed_out": s.timed_out,
    }
    if args.json:
        print(strict_json.dumps(info, sort_keys=True))
    else:
        print(
            f"{spec.name}: {s.total} runs recorded in {out}/runs "
            f"({s.done_before} from before, {s.ran} now: {s.ok} ok, {s.failed} failed, "
            f"{s.timed_out} timed out) in {s.elapsed_seconds:.1f} s"
        )
        if s.failed or s.timed_out:
            print(
                f"  failed runs keep their error in the 'error' column (stackgame report "
                f"{out}); --retry-failed runs them again"
            )
        print(f"  next: stackgame report {out}")
    return 0
