"""``stackgame run``: who wins the AI stack, on the built-in scenario by default."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from stackgame import strict_json
from stackgame.commands.arguments import add_scenario, add_seed, check_output_folder, parse_pairs

if TYPE_CHECKING:
    from stackgame.environment.model import StackModel

EPILOG = """\
examples:
  stackgame run
  stackgame run --rounds 12 --seed 7 --json > result.json
  stackgame run --set events.nvidia_value_pricing.enabled=true --set regulator.stance=0.2
  stackgame run --strategy nvidia=always_extract --out runs/out/nvidia-extracts
  stackgame run --scenario monopoly-chain
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
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the model and print the answer."""
    from stackgame.environment.scenario import resolve
    from stackgame.errors import UserError
    from stackgame.manifest import output_dir, output_name, scenario_change, write_manifest
    from stackgame.simulation.simulate import RunResult, build

    if args.rounds is not None and args.rounds < 1:
        raise UserError(f"--rounds: must be at least 1 (got {args.rounds})")
    if not args.no_files:
        check_output_folder(args.out)
    overrides = parse_pairs(args.set, "--set")
    strategies = {k: str(v) for k, v in parse_pairs(args.strategy, "--strategy").items()}
    scenario = resolve(args.scenario)
    model = build(
        scenario, rounds=args.rounds, seed=args.seed, strategies=strategies, overrides=overrides
    )
    try:
        _step_with_progress(model)
        result = RunResult.from_model(model)
    finally:
        model.release()
    if args.json:
        print(strict_json.dumps(result.summary))
    else:
        from stackgame.simulation.report import render_text

        print(render_text(result))
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
    from stackgame.simulation.report import write_plots, write_tables

    write_tables(result, folder)
    if not args.no_plots:
        write_plots(result, folder)
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


def _step_with_progress(model: StackModel) -> None:
    from tqdm import tqdm

    # stderr, shown only when the rounds take over a second (stdout stays clean for --json)
    with tqdm(total=model.rounds, desc="rounds", delay=1.0, file=sys.stderr) as bar:
        while model.running:
            model.step()
            bar.update(1)
