"""``stackgame theses``: under which conditions each thesis of the articles holds."""

from __future__ import annotations

import argparse
import sys

from stackgame.commands.arguments import (
    add_discount_rate,
    add_seed,
    check_output_folder,
    parse_pairs,
)

EPILOG = """\
examples:
  stackgame theses                               # 16 variants x 5 seeds, built-in rounds
  stackgame theses --seeds 20 --processes 2      # tighter counts
  stackgame theses --json > theses.json
  stackgame theses --variants baseline,nvidia_value_pricing,upstream_extracts
  stackgame theses --variants baseline,demand_bust,bust_contracts,bust_no_contracts
  stackgame theses --set regulator.base_rate=0.5 --rounds 40

Each of the five theses at the end of STACK_FACTS.md is split into claims, each a
predicate on a run's results (e.g. 1a: models-layer operating margin > chips-layer
operating margin; 2a: Nvidia's value share is the largest of any firm). Within-claims are
evaluated in every variant; contrasts (1b-1e, 2c, 3a, 3c-3h, 5b) compare a variant with
its reference on the same seed. The buildout's claims: who loses money in the bust
(3f, 3h), whether take-or-pay backlog protects a seller (3g), who carries a new chip
generation (2c), whether early supply contracts set later prices (3c, 3d), whether chips
revenue follows investment (3e) and whether the buildout is paid from what flows down
(4c). Claims that held by construction were dropped (old 3b and 4b). Variants: baseline,
each trigger on and all three, upstream_extracts, regulator_low/high, demand_boom/bust,
no_integration, no_new_generation, lab_secures_supply/lab_restrains,
bust_contracts/bust_no_contracts. For each claim and condition: the seeds whose statistic
is positive (k of n), its mean and 95% CI, and a verdict: holds when the interval lies above
zero, fails when below, undecided when it contains zero (or with one seed: no interval).
Each thesis then gets an overall verdict, "holds when ..., fails when ..., undecided when
...", over its conditions. An event a variant switches on fires at least 8 rounds before
the end (in round rounds - 8; mid-run in a run under 16 rounds): in the 24-round built-in
scenario trigger 3 moves from round 20 to 16. Files: theses.csv, theses.json, theses.png,
manifest.json and runs/ (resumable) under runs/out/theses/<scenario>-seed<K>/ or --out.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``theses`` subcommand."""
    p = subparsers.add_parser(
        "theses",
        help="evaluate the five theses of the articles across the variants that matter",
        description=(
            "Evaluate each thesis (as named predicates on results) across triggers on or "
            "off, regulator stance, demand boom or bust and integration allowed or not; "
            "say under which conditions each holds, with the evidence, as a table and a plot."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--scenario",
        default="ai-stack-2026",
        help="built-in scenario name or path to a TOML file (default ai-stack-2026)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="change a scenario field in every variant, e.g. regulator.base_rate=0.5",
    )
    add_seed(p)
    p.add_argument("--seeds", type=int, default=5, help="seeds per variant (default 5)")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default: the scenario's)")
    p.add_argument("--variants", default=None, metavar="NAME,NAME", help="run only these variants")
    add_discount_rate(p)
    p.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", default=None, help="output folder (default runs/out/theses/...)")
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON on stdout")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the variants, evaluate the theses, print and write the evidence."""
    import csv
    from pathlib import Path

    from stackgame import strict_json
    from stackgame.environment.scenario import resolve
    from stackgame.errors import UserError
    from stackgame.experiments import theses
    from stackgame.manifest import output_dir, output_name, scenario_change, write_manifest

    if args.processes < 1:
        raise UserError(f"--processes: must be at least 1 (got {args.processes})")
    if args.seeds < 1:
        raise UserError(f"--seeds: must be at least 1 (got {args.seeds})")
    check_output_folder(args.out)
    overrides = parse_pairs(args.set, "--set")
    only = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None
    scenario = resolve(args.scenario)
    name = output_name(
        scenario.name,
        args.seed,
        overrides=overrides,
        rounds=args.rounds if args.rounds not in (None, scenario.rounds) else None,
        extra={
            **scenario_change(args.scenario, scenario.name, scenario.digest()),
            **({} if args.discount_rate is None else {"discount_rate": args.discount_rate}),
        },
    )
    # Created only once the input is known to be good (run_theses validates it first).
    target = Path(args.out) if args.out else Path("runs") / "out" / "theses" / name
    report = theses.run_theses(
        args.scenario,
        seed=args.seed,
        n_seeds=args.seeds,
        rounds=args.rounds,
        overrides=overrides,
        only=only,
        processes=args.processes,
        store_dir=target / "runs",
        progress=not args.no_progress,
        discount_rate=args.discount_rate,
    )
    folder = output_dir(target, "theses")
    text = strict_json.dumps(report, sort_keys=True)
    (folder / "theses.json").write_text(text + "\n")
    with open(folder / "theses.csv", "w", newline="") as fh:
        fields = ["thesis", "claim", "text", "condition", "reference", "holds", "seeds"]
        fields += ["verdict", "statistic", "ci_low", "ci_high", "note"]
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for r in report["table"]:
            ci = r["ci"] or [None, None]  # one seed: no interval (the note says so)
            writer.writerow(
                {k: r[k] for k in fields if k in r} | {"ci_low": ci[0], "ci_high": ci[1]}
            )
    if not args.no_plot:
        theses.plot(report, folder / "theses.png")
    write_manifest(
        folder,
        command=["stackgame", *sys.argv[1:]] if sys.argv[1:2] == ["theses"] else None,
        seed=args.seed,
        scenario_hash=report["scenario_hash"],
        seeds=args.seeds,
        variants=[v["name"] for v in report["variants"]],
    )
    if args.json:
        print(text)
    else:
        print(theses.render(report))
        print(
            f"\nfiles: {folder}/ (theses.csv, theses.json"
            + ("" if args.no_plot else ", theses.png")
            + ")"
        )
    return 0
