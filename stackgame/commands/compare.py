"""``stackgame compare``: a what-if beside its baseline, over paired seeds, with intervals."""

from __future__ import annotations

import argparse
import sys

from stackgame.commands.arguments import add_scenario, add_seed, parse_pairs

DEFAULT_SCENARIO = "ai-stack-2026"

EPILOG = """\
examples:
  stackgame compare --set events.nvidia_value_pricing.enabled=true
  stackgame compare --strategy nvidia=always_restrain --seeds 16 --rounds 24
  stackgame compare --scenario monopoly-chain --strategy upstream_monopolist=always_restrain
  stackgame compare --baseline A.toml --whatif B.toml --json > change.json

JSON keys (--json): baseline and whatif (scenario, scenario_name, overrides, strategies,
scenario_hash), seeds (the paired seeds), rounds (per arm), confidence (0.95), layers and
firms (one row per name: name, label for firms, and for each of value_share, revenue,
operating_margin: baseline and whatif means, change = mean of what-if minus baseline,
ci = [low, high] or null with one seed, significant = ci excludes 0), totals
(final_spend, stack_profit, lost_demand, same fields), only_in (names in one arm only),
out (the output folder, or null with --no-files).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compare`` subcommand."""
    p = subparsers.add_parser(
        "compare",
        help="what if ...? the change in value share, revenue and margin vs the baseline",
        description=(
            "Run a baseline and a what-if on the same seeds (common random numbers) and\n"
            "report the change in value share, revenue and operating margin by layer and\n"
            "by firm, with 95% t-intervals on the paired differences. The what-if is\n"
            "--set/--strategy changes to --scenario, or a second scenario file\n"
            "(--baseline A.toml --whatif B.toml; --set/--strategy then change B).\n"
            "Files: compare.json, compare.csv, compare.png and a manifest in\n"
            "runs/out/compare/<scenario>-seed<K>-<changes>-<hash>/ or --out."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_scenario(p)
    p.add_argument("--baseline", default=None, metavar="SCENARIO", help="baseline scenario")
    p.add_argument(
        "--whatif",
        default=None,
        metavar="SCENARIO",
        help="what-if scenario (default: the baseline's, changed by --set/--strategy)",
    )
    add_seed(p)
    p.add_argument("--seeds", type=int, default=8, help="paired seeds (default 8)")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default: the scenario's)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON on stdout")
    p.add_argument("--out", default=None, help="output folder (default runs/out/compare/...)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plot")
    p.add_argument("--no-files", action="store_true", help="write nothing to disk")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run both arms, print the tables (or JSON), write the files."""
    import csv

    from stackgame import strict_json
    from stackgame.errors import UserError
    from stackgame.experiments.compare import Arm, compare, csv_rows, plot, render
    from stackgame.manifest import output_dir, output_name, scenario_change, write_manifest
    from stackgame.strict_json import finite_or_none

    if args.seeds < 1:
        raise UserError(f"--seeds: must be at least 1 (got {args.seeds})")
    if args.rounds is not None and args.rounds < 1:
        raise UserError(f"--rounds: must be at least 1 (got {args.rounds})")
    if args.baseline is not None and args.scenario != DEFAULT_SCENARIO:
        raise UserError("--baseline: give either --scenario or --baseline, not both")
    overrides = parse_pairs(args.set, "--set")
    strategies = {k: str(v) for k, v in parse_pairs(args.strategy, "--strategy").items()}
    base_source = args.baseline if args.baseline is not None else args.scenario
    what_source = args.whatif if args.whatif is not None else base_source
    if args.whatif is None and not overrides and not strategies:
        raise UserError(
            "nothing to compare: give the what-if as --set PATH=VALUE, --strategy FIRM=NAME "
            "or --whatif SCENARIO"
        )
    baseline = Arm(base_source)
    whatif = Arm(what_source, overrides=overrides, strategies=strategies)
    base_sc = baseline.resolved()
    what_sc = whatif.resolved()
    folder = None
    if not args.no_files:
        extra = {
            "baseline": scenario_change(base_source, base_sc.name, base_sc.digest()),
            "whatif": scenario_change(what_source, what_sc.name, what_sc.digest())
            if what_source != base_source
            else {},
            "seeds": args.seeds,
        }
        name = output_name(
            base_sc.name if what_source == base_source else f"{base_sc.name}-vs-{what_sc.name}",
            args.seed,
            overrides=overrides,
            strategies=strategies,
            rounds=args.rounds,
            extra=extra,
            prefix="compare/",
        )
        folder = output_dir(args.out, name)
    report = compare(
        baseline,
        whatif,
        seeds=args.seeds,
        seed=args.seed,
        rounds=args.rounds,
        progress=not args.no_progress,
    )
    report["out"] = None if folder is None else str(folder)
    text = strict_json.dumps(report)
    if folder is not None:
        (folder / "compare.json").write_text(text + "\n")
        rows = finite_or_none(csv_rows(report))
        with open(folder / "compare.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        if not args.no_plots:
            plot(report, folder / "compare.png")
        write_manifest(
            folder,
            command=["stackgame", *sys.argv[1:]] if sys.argv[1:2] == ["compare"] else None,
            seed=args.seed,
            scenario_hash=report["baseline"]["scenario_hash"],
            whatif_scenario_hash=report["whatif"]["scenario_hash"],
            seeds=report["seeds"],
            overrides=overrides,
            strategies=strategies,
        )
    if args.json:
        print(text)
    else:
        print(render(report))
        if folder is not None:
            print(
                f"\nfiles: {folder}/ (compare.json, compare.csv"
                + ("" if args.no_plots else ", compare.png")
                + ")"
            )
    return 0
