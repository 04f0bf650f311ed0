"""``stackgame tournament``: a seeded round robin on a matrix game or on the AI stack."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stackgame.commands.arguments import add_discount_rate

EPILOG = """\
examples:
  stackgame tournament --game prisoners-dilemma \\
      --strategies cooperator,defector,tit_for_tat,grudger --turns 200 --repetitions 10 \\
      --seed 1 --json
  stackgame tournament --game chicken --strategies tit_for_tat,random --prob-end 0.01 \\
      --noise 0.05 --processes 2 --seed 3
  stackgame tournament --scenario ai-stack-2026 --seats nvidia,openai \\
      --strategies always_restrain,always_extract,tit_for_tat --rounds 20 \\
      --repetitions 3 --processes 2 --seed 7 --out runs/out/tournament-stack

A matrix game plays every pair of strategies (self-play included) `--repetitions`
times. The stack plays every strategy in every contested seat (`--seats`, firm names)
against every combination of strategies in the other seats; other firms keep their
scenario strategies; a seat scores its firm's value per round discounted at the
scenario's discount_rate or --discount-rate R (sum_t delta^t pi_t / sum_t delta^t,
delta = 1/(1+R); the mean at R = 0; matrix games take --prob-end instead). The same
--seed gives the same results serial or parallel. Match
rows go to OUT/matches (resumable: run the same command again after a kill and only
unfinished matches are played); tables (CSV or Parquet), result.json, plots and
manifest.json go to OUT.
"""


def _names(text: str, flag: str) -> tuple[str, ...]:
    from stackgame.errors import UserError

    names = tuple(s.strip() for s in text.split(",") if s.strip())
    if not names:
        raise UserError(f"{flag}: give a comma-separated list, got {text!r}")
    return names


def register(subparsers: Any) -> None:
    """Add the ``tournament`` subcommand."""
    p = subparsers.add_parser(
        "tournament",
        help="round-robin tournament of strategies (matrix game or the stack)",
        description=(
            "Play a seeded round-robin tournament: every strategy against every other,\n"
            "with repetitions, noise and fixed or random match lengths, on a classic\n"
            "matrix game or in contested seats of the AI stack. Writes a ranking with\n"
            "confidence intervals, the payoff matrix, pairwise tests and plots."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--spec",
        default=None,
        help="a TOML file with a [tournament] table (see runs/calvano.toml); "
        "--seed, --processes, --out and the output flags still apply",
    )
    p.add_argument("--strategies", default=None, help="comma-separated strategy names")
    p.add_argument(
        "--game",
        default=None,
        help="prisoners-dilemma, chicken, stag-hunt or stack (default: stack when "
        "--scenario/--seats are given, else prisoners-dilemma)",
    )
    p.add_argument("--scenario", default=None, help="stack scenario: built-in name or TOML")
    p.add_argument("--seats", default=None, help="contested firms on the stack, e.g. nvidia,openai")
    p.add_argument(
        "--turns",
        "--rounds",
        dest="turns",
        type=int,
        default=None,
        help="turns per match (rounds per simulation); default 200, stack 20",
    )
    p.add_argument(
        "--prob-end",
        type=float,
        default=None,
        help="end each match after each turn with this probability instead",
    )
    p.add_argument("--repetitions", type=int, default=10, help="repetitions of each match")
    p.add_argument("--noise", type=float, default=0.0, help="probability a posture flips")
    p.add_argument(
        "--max-profiles",
        type=int,
        default=None,
        help="stack: play a seeded sample of this many strategy profiles when "
        "the full product is larger (default 512)",
    )
    p.add_argument("--processes", type=int, default=1, help="worker processes")
    p.add_argument(
        "--backend",
        choices=("local", "dask"),
        default="local",
        help="executor backend for the batch",
    )
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds a match may run before it is stopped and recorded",
    )
    p.add_argument(
        "--batch",
        action="store_true",
        help="play through the resumable executor even when the tournament is "
        "short (always for the stack, a --timeout, or over a million turns)",
    )
    p.add_argument("--seed", type=int, default=None, help="root seed (default 0)")
    add_discount_rate(p)
    p.add_argument("--out", default=None, help="output folder (default runs/out/tournament-...)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="table format")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=run)


def spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~stackgame.tournaments.tournament.TournamentSpec` the flags describe."""
    from stackgame.errors import UserError
    from stackgame.tournaments.tournament import STACK, TournamentSpec

    if getattr(args, "spec", None):
        spec = spec_from_file(args.spec, args.seed)[0]
        if getattr(args, "discount_rate", None) is not None:
            import dataclasses

            spec = dataclasses.replace(spec, discount_rate=args.discount_rate)
        return spec
    if not args.strategies:
        raise UserError("--strategies: give a comma-separated list (or --spec FILE)")
    if args.seed is None:
        args.seed = 0
    game = args.game
    if game is None:
        game = STACK if (args.scenario or args.seats) else "prisoners-dilemma"
    seats = _names(args.seats, "--seats") if args.seats else ()
    if game != STACK and (args.scenario or seats):
        raise UserError(f"--scenario/--seats are for the stack, not for --game {game}")
    turns = args.turns
    if turns is None and args.prob_end is None:
        turns = 20 if game == STACK else 200
    if game == STACK:
        _check_seats(args.scenario or "ai-stack-2026", seats)
    return TournamentSpec(
        strategies=_names(args.strategies, "--strategies"),
        game=game,
        turns=turns,
        prob_end=args.prob_end,
        repetitions=args.repetitions,
        noise=args.noise,
        seed=args.seed,
        scenario=args.scenario if game == STACK else None,
        seats=seats,
        max_profiles=args.max_profiles,
        discount_rate=getattr(args, "discount_rate", None),  # (evolve shares this parser)
    )


def spec_from_file(path: str, seed: int | None = None) -> tuple[Any, dict[str, Any]]:
    """The spec in a TOML file's ``[tournament]`` table, and the file's other tables.

    ``[tournament]`` holds :class:`~stackgame.tournaments.tournament.TournamentSpec` fields;
    ``[strategy_params.<name>]`` tables give strategies' constructor arguments; other
    tables (``[calvano]``) are returned for the caller. ``seed`` overrides the file's.
    """
    from pathlib import Path

    from stackgame.errors import UserError, read_toml
    from stackgame.tournaments.tournament import TournamentSpec

    file = Path(path)
    data = read_toml(file, prefix="--spec: ")
    if "tournament" not in data:
        raise UserError(f"--spec: {file}: no [tournament] table")
    table = dict(data["tournament"])
    if "strategy_params" in data:
        table["strategy_params"] = data["strategy_params"]
    if seed is not None:
        table["seed"] = seed
    try:
        spec = TournamentSpec.from_dict(table)
    except UserError as err:
        raise UserError(f"--spec: {file}: {err}") from None
    except TypeError as err:
        raise UserError(f"--spec: {file}: {err}") from None
    if spec.is_stack:
        _check_seats(spec.scenario or "ai-stack-2026", spec.seats)
    extra = {k: v for k, v in data.items() if k not in ("tournament", "strategy_params")}
    return spec, extra


def _check_seats(scenario: str, seats: tuple[str, ...]) -> None:
    """Every seat must be a firm of the scenario (one clear message otherwise)."""
    from stackgame.environment import scenario as sc
    from stackgame.errors import UserError

    firms = sc.resolve(scenario).firm_names
    missing = [s for s in seats if s not in firms]
    if missing:
        raise UserError(
            f"--seats: {', '.join(missing)} not a firm of scenario {scenario!r} "
            f"(firms: {', '.join(firms)})"
        )


def run(args: argparse.Namespace) -> int:
    """Play the tournament, write its files, print the ranking (or JSON)."""
    import time
    from pathlib import Path

    from stackgame import strict_json
    from stackgame.commands.arguments import check_output_folder
    from stackgame.errors import UserError, require
    from stackgame.manifest import output_dir, output_name, write_manifest
    from stackgame.tournaments.tournament import Tournament

    if args.processes < 1:
        raise UserError(f"--processes: must be at least 1, got {args.processes}")
    if args.backend == "dask" or args.scheduler:
        require("distributed", needed_for="--backend dask")
    check_output_folder(args.out)
    spec = spec_from_args(args)
    if getattr(args, "spec", None) and "learning" in spec_from_file(args.spec, args.seed)[1]:
        from stackgame.tournaments.learning import run_spec  # sessions to convergence

        return int(run_spec(args, spec, spec_from_file(args.spec, args.seed)[1]))
    # the default folder is per tournament: rerunning resumes it, another one never clashes
    default = output_name(f"tournament-{spec.game}", spec.seed, extra={"spec": spec.to_dict()})
    if getattr(args, "spec", None):
        stem = Path(args.spec).stem
        stem = stem if stem.startswith("tournament") else f"tournament-{stem}"
        default = output_name(stem, spec.seed)
    out = output_dir(args.out, default)
    spec_path = Path(out) / "tournament.json"
    spec_json = strict_json.dumps(spec.to_dict(), sort_keys=True) + "\n"
    if spec_path.exists() and spec_path.read_text() != spec_json:
        raise UserError(
            f"--out: {out} holds a different tournament (see {spec_path}); "
            "choose another folder or delete it"
        )
    spec_path.write_text(spec_json)
    _warm_imports()
    tournament = Tournament(spec)
    store = None
    if use_batch(args, spec, tournament, Path(out)):
        from stackgame.experiments.executor import ResultStore

        store = ResultStore(Path(out) / "matches")
    start = time.perf_counter()
    if not args.no_progress:  # a few long matches leave a bar at 0 for a while: say what runs
        n = len(tournament.schedule.matches)
        print(
            f"stackgame tournament: {n} match(es) of {spec.turns:,} turns"
            + (" (each a simulation of the stack)" if spec.is_stack else "")
            + f" on {args.processes} process(es), into {out}/",
            file=sys.stderr,
        )
    result = tournament.play(
        processes=args.processes,
        store=store,
        timeout=args.timeout,
        backend=args.backend,
        scheduler=args.scheduler,
        progress=not args.no_progress,
    )
    result.elapsed_seconds = time.perf_counter() - start
    extra = spec_from_file(args.spec, args.seed)[1] if getattr(args, "spec", None) else {}
    if "calvano" in extra:
        from stackgame.tournaments.results import profit_gain

        cal = extra["calvano"]
        gain = profit_gain(result, float(cal["nash_profit"]), float(cal["monopoly_profit"]))
        gain["paper_profit_gain"] = cal.get("paper_profit_gain")
        result.extra["calvano"] = gain
        low, high = gain["ci_low"], gain["ci_high"]
        interval = (
            f"95% CI {low:.3f} to {high:.3f}"
            if low == low and high == high  # not NaN: defined from two runs on
            else "no 95% CI from one run"
        )
        result.notes.append(
            f"Calvano et al. (2020) average profit gain: {gain['profit_gain']:.3f} "
            f"({interval}) over {len(gain['per_match'])} runs; the paper reports about "
            f"{cal.get('paper_profit_gain')} at convergence"
        )
    result.write(out, args.format)
    if not args.no_plots:
        from stackgame.tournaments.plots import plot_all

        plot_all(result, out)
    scenario_hash = None
    if spec.is_stack:
        from stackgame.environment import scenario as sc

        scenario_hash = _scenario_hash(sc, spec.scenario or "ai-stack-2026")
    write_manifest(
        out,
        seed=spec.seed,
        scenario_hash=scenario_hash,
        tournament=spec.to_dict(),
        matches=len(result.matches),
        profiles_total=result.profiles_total,
        profiles_played=result.profiles_played,
    )
    if args.json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        print(result.summary_text())
        print(f"wrote {out}")
    return 0


BATCH_TURNS = 1_000_000
"""A matrix tournament of more turns than this in all runs as a resumable batch."""


def use_batch(args: argparse.Namespace, spec: Any, tournament: Any, out: Any) -> bool:
    """Whether to play through the executor (resumable, time limits) or in memory.

    The stack always (a match is a whole simulation); a matrix game when asked
    (``--batch``), with a ``--timeout``, when a previous run left matches in
    ``OUT/matches`` (resume), or when it is long: more than :data:`BATCH_TURNS` turns in
    all (expected turns with ``--prob-end``). Short matrix tournaments play in memory,
    where the executor's bookkeeping would cost more than the play.
    """
    if spec.is_stack or args.batch or args.timeout is not None:
        return True
    if (out / "matches").exists():
        return True
    per_match = spec.turns if spec.prob_end is None else 1.0 / spec.prob_end
    return len(tournament.schedule.matches) * per_match > BATCH_TURNS


def _scenario_hash(sc: Any, name: str) -> str:
    return str(sc.resolve(name).digest())


def _warm_imports() -> None:
    """Import what the tournament needs before its clock starts (start-up, not play)."""
    import pandas  # noqa: F401
    import scipy.stats  # noqa: F401
