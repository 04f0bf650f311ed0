"""``stackgame evolve``: Moran process or replicator dynamics over a tournament's payoffs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stackgame.commands.arguments import add_discount_rate

EPILOG = """\
examples:
  stackgame evolve --game prisoners-dilemma \\
      --strategies cooperator,defector,tit_for_tat,grudger --population 40 --steps 5000 \\
      --seed 1 --json
  stackgame evolve --from runs/out/tournament-prisoners-dilemma-seed1 \\
      --dynamics replicator --steps 200
  stackgame evolve --strategies tit_for_tat,defector,random --mutation 0.01 --steps 20000

The payoff matrix comes from a tournament played first with the given flags (same
meaning as in `stackgame tournament`), or from a tournament's output folder (--from).
Moran: a birth-death process in a finite population (fitness 1 - w + w * payoff,
selection intensity w = --intensity, mutation probability --mutation); without
mutation it stops when one strategy has fixated. Replicator: discrete-time replicator
dynamics on population shares. Writes shares.csv, population_shares.png,
evolution.json and manifest.json.
"""


def register(subparsers: Any) -> None:
    """Add the ``evolve`` subcommand."""
    p = subparsers.add_parser(
        "evolve",
        help="Moran process or replicator dynamics over a tournament's payoff matrix",
        description=(
            "Evolve a population of strategies: a seeded Moran process (birth-death,\n"
            "optional mutation) or discrete replicator dynamics over the payoff matrix\n"
            "of a tournament, with a plot of population shares over time."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        help="a tournament output folder to read the payoff matrix from",
    )
    p.add_argument("--strategies", default=None, help="comma-separated strategy names")
    p.add_argument("--game", default=None, help="prisoners-dilemma, chicken, stag-hunt or stack")
    p.add_argument("--scenario", default=None, help="stack scenario")
    p.add_argument("--seats", default=None, help="contested firms on the stack")
    p.add_argument(
        "--turns",
        "--rounds",
        dest="turns",
        type=int,
        default=None,
        help="turns per match in the tournament",
    )
    p.add_argument("--prob-end", type=float, default=None, help="random match length")
    p.add_argument("--repetitions", type=int, default=5, help="tournament repetitions")
    p.add_argument("--noise", type=float, default=0.0, help="posture noise in the tournament")
    p.add_argument("--max-profiles", type=int, default=None, help="stack profile sample size")
    p.add_argument("--processes", type=int, default=1, help="worker processes (tournament)")
    p.add_argument("--dynamics", choices=("moran", "replicator"), default="moran")
    p.add_argument(
        "--population",
        type=int,
        default=None,
        help="Moran population size (default 10 per strategy)",
    )
    p.add_argument(
        "--initial",
        default=None,
        help="initial counts (Moran) or shares (replicator), comma-separated",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="Moran events (default 100 x population) or replicator generations (default 500)",
    )
    p.add_argument(
        "--intensity",
        type=float,
        default=1.0,
        help="Moran selection intensity w in [0, 1] (default 1)",
    )
    p.add_argument("--mutation", type=float, default=0.0, help="Moran mutation probability")
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    add_discount_rate(p)
    p.add_argument("--out", default=None, help="output folder (default runs/out/evolve-...)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(handler=run)


def _payoffs(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The payoff matrix (DataFrame) and a description of where it came from."""
    import json
    from pathlib import Path

    import pandas as pd

    from stackgame.errors import UserError

    if args.source:
        path = Path(args.source) / "result.json"
        if not path.exists():
            raise UserError(f"--from: {path} not found (give a `stackgame tournament` folder)")
        try:
            data = json.loads(path.read_text())
            matrix = pd.DataFrame(data["payoff_matrix"]).T.astype(float)
        except (ValueError, KeyError) as err:
            raise UserError(f"--from: {path} has no readable payoff_matrix ({err})") from None
        order = [r["strategy"] for r in data.get("ranking", [])] or list(matrix.index)
        matrix = matrix.reindex(index=sorted(matrix.index, key=order.index))
        matrix = matrix[list(matrix.index)]
        return matrix, {"from": str(args.source), "tournament": data.get("spec")}
    if not args.strategies:
        raise UserError("give --strategies (to play a tournament first) or --from FOLDER")
    from stackgame.commands.tournament import spec_from_args
    from stackgame.tournaments.tournament import Tournament

    ns = argparse.Namespace(**vars(args))
    spec = spec_from_args(ns)
    result = Tournament(spec).play(processes=args.processes, progress=not args.no_progress)
    return result.payoff_matrix, {"tournament": spec.to_dict()}


def _numbers(text: str, flag: str, kind: type) -> list[Any]:
    from stackgame.errors import UserError

    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{flag}: expected comma-separated numbers, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Build the payoff matrix, run the dynamics, write shares, plot and JSON."""
    from stackgame import seeds, strict_json
    from stackgame.commands.arguments import check_output_folder
    from stackgame.errors import UserError
    from stackgame.evolution import dynamics as evolution
    from stackgame.manifest import output_dir, output_name, write_manifest

    check_output_folder(args.out)
    matrix, source = _payoffs(args)
    names = list(matrix.index)
    k = len(names)
    if k < 2:
        raise UserError("evolution needs at least two strategies")
    if matrix.isna().to_numpy().any():
        raise UserError(
            "the payoff matrix has gaps (a stack tournament with one seat, or failed "
            "matches); evolve needs every pair"
        )
    if args.dynamics == "moran":
        population = args.population or 10 * k
        if args.initial:
            initial = _numbers(args.initial, "--initial", int)
        else:
            base, extra = divmod(population, k)
            initial = [base + (i < extra) for i in range(k)]
        if len(initial) != k:
            raise UserError(f"--initial: give {k} counts (one per strategy), got {len(initial)}")
        steps = args.steps if args.steps is not None else 100 * sum(initial)
        seed = seeds.seed32(seeds.child(args.seed, 3))
        result: Any = evolution.moran_process(
            matrix,
            initial,
            steps=steps,
            intensity=args.intensity,
            mutation=args.mutation,
            seed=seed,
        )
        title = (
            f"Moran process, N={sum(initial)}, w={args.intensity}, mu={args.mutation}, "
            f"seed {args.seed}"
        )
    else:
        initial_shares = _numbers(args.initial, "--initial", float) if args.initial else None
        result = evolution.replicator(
            matrix, initial_shares, steps=args.steps if args.steps is not None else 500
        )
        title = "Discrete replicator dynamics"
    params = result.to_dict()["params"]
    name = output_name(
        f"evolve-{args.dynamics}", args.seed, extra={"source": source, "params": params}
    )
    out = output_dir(args.out, name)
    shares = result.shares
    shares.to_csv(out / "shares.csv")
    matrix.to_csv(out / "payoff_matrix.csv")
    fig = evolution.plot_shares(shares, title)
    fig.savefig(out / "population_shares.png", dpi=110)
    summary = {**result.to_dict(), "root_seed": args.seed, "source": source}
    summary["payoff_matrix"] = {
        r: {c: float(v) for c, v in row.items()} for r, row in matrix.to_dict("index").items()
    }
    text = strict_json.dumps(summary)
    (out / "evolution.json").write_text(text + "\n")
    write_manifest(out, seed=args.seed, scenario_hash=None, evolution=result.to_dict()["params"])
    if args.json:
        sys.stdout.write(text + "\n")
    else:
        final = shares.iloc[-1].sort_values(ascending=False)
        print(title)
        for name, share in final.items():
            print(f"  {name:<28} {share:7.3f}")
        if args.dynamics == "moran" and result.fixated:
            print(f"{result.fixated} fixated at step {result.fixation_step}")
        print(f"wrote {out}")
    return 0
