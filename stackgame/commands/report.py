"""``stackgame report DIR``: summarise a batch written by ``stackgame batch``."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  stackgame report runs/out/smoke                  # tables on stdout, figures in DIR/report/
  stackgame report runs/out/sobol-sensitivity --json > sobol.json
  stackgame report runs/out/regulator-sweep --out /tmp/reg-report --no-plots

Writes DIR/report/summary.md, summary.json, figure.png (the headline figure), one
metric-<name>.png per metric (each metric against each varied parameter) and, for Sobol
or Morris designs, sensitivity.csv and sensitivity.png.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report",
        help="summarise a batch: tables, metric-vs-parameter plots, Sobol/Morris indices",
        description=(
            "Summarise a batch folder written by `stackgame batch`: runs by status, "
            "metric summaries, metric means per parameter value, each metric plotted "
            "against each varied parameter, and Sobol or Morris indices when the design "
            "is one of those."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("folder", metavar="DIR", help="the batch's output folder")
    p.add_argument("--out", metavar="DIR", help="where to write (default DIR/report)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap confidence intervals")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write the report; print it (Markdown, or JSON with ``--json``)."""
    from pathlib import Path

    from stackgame import strict_json
    from stackgame.commands.arguments import check_output_folder
    from stackgame.errors import UserError
    from stackgame.experiments.batch_report import make_report

    if args.seed < 0:
        raise UserError(f"--seed: must be a non-negative integer (got {args.seed})")
    if args.out is not None:
        check_output_folder(args.out)
    elif Path(args.folder).is_dir():
        check_output_folder(Path(args.folder) / "report", flag="the report folder")
    report = make_report(
        args.folder,
        args.out,
        seed=args.seed,
        plots=not args.no_plots,
        progress=not args.no_progress,
    )
    if args.json:
        report.pop("markdown")
        report.pop("folder")
        print(strict_json.dumps(report, sort_keys=True))
    else:
        print(report["markdown"])
        print(f"\nwritten to {report['folder']}/")
    return 0
