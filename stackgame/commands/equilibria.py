"""``stackgame equilibria``: the empirical game of chosen seats, solved and checked."""

from __future__ import annotations

import argparse
import sys
import tomllib
from typing import Any

from stackgame.commands.arguments import (
    add_discount_rate,
    add_scenario,
    add_seed,
    check_output_folder,
    parse_pairs,
)

EPILOG = """\
examples:
  stackgame equilibria --seats nvidia,tsmc --repetitions 5
  stackgame equilibria --scenario ai-stack-2026 --seats nvidia,tsmc \\
      --strategies always_restrain,always_extract,antitrust_aware_restraint \\
      --repetitions 10 --seed 7 --json > eq.json
  stackgame equilibria --seats nvidia,google,openai \\
      --strategies nvidia=always_restrain,always_extract \\
      --strategies google=cloud_flywheel,always_extract \\
      --strategies openai=integrator,always_restrain
  stackgame equilibria --scenario monopoly-chain \\
      --seats upstream_monopolist,downstream_monopolist --rounds 8
  stackgame equilibria --seats nvidia,tsmc --set regulator.stance=0.1 --processes 2
  stackgame equilibria --scenario patient-monopolist --seats upstream_monopolist \
      --discount-rate 0.5      # an impatient monopolist extracts; a patient one restrains
  stackgame equilibria --spec runs/restraint-baseline.toml
  stackgame equilibria --spec runs/restraint-control.toml --repetitions 2   # flags win

--spec FILE reads an [equilibria] table whose keys mirror the flags: scenario, seed,
seats (list), strategies (one list for all seats, or a table seat -> list), repetitions,
rounds, discount_rate, check_repetitions, set (a table of dotted overrides) and strategy
(a table firm -> name), plus a free-text description. A flag given on the command line
overrides the spec's key (--set and --strategy key by key); --seats is then not required.

--strategies once gives every seat the same list; given once per seat (in seat order, or
as SEAT=LIST) it gives each its own. Every profile (one strategy per seat; the other firms
keep their scenario strategies) runs R times on common seeds; the payoff of a seat is its
firm's discounted value per round, sum_t delta^t pi_t / sum_t delta^t with delta =
1/(1+r), r the scenario's discount_rate or --discount-rate (at r = 0 the mean value per
round; the report also gives the mean and the present value). Pure equilibria (any
number of seats), mixed ones (two seats, support enumeration), alpha-Rank and the
replicator ranking are computed on the mean table; each equilibrium is then
re-simulated against every unilateral deviation on fresh seeds and reported with its
epsilon. Files: payoffs.csv, equilibria.json, value_capture.csv and .png, manifest.json
and runs/ (resumable) under runs/out/equilibria/<scenario>-<seats>-seed<K>/ or --out.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``equilibria`` subcommand."""
    p = subparsers.add_parser(
        "equilibria",
        help="equilibria of the stack game with error bars (empirical game, checked)",
        description=(
            "Build the empirical game of chosen seats and strategies by simulation, "
            "with confidence intervals; solve it (pure, mixed, alpha-Rank, replicator); "
            "check each equilibrium against every deviation on fresh seeds; and report "
            "who wins the stack under equilibrium play next to the scenario's default play."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_scenario(p)
    add_seed(p)
    p.add_argument(
        "--spec",
        default=None,
        metavar="FILE",
        help="read the run from FILE's [equilibria] table (keys mirror the flags; flags win)",
    )
    p.add_argument(
        "--seats",
        default=None,
        metavar="FIRM,FIRM",
        help="firms whose strategy is chosen (required unless --spec gives seats)",
    )
    p.add_argument(
        "--strategies",
        action="append",
        default=[],
        metavar="[SEAT=]NAME,NAME",
        help="strategies per seat: once for all seats, or once per seat "
        "(default always_restrain,always_extract)",
    )
    p.add_argument("--repetitions", type=int, default=10, help="runs per profile (default 10)")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default: the scenario's)")
    p.add_argument(
        "--max-profiles",
        type=int,
        default=256,
        help="simulate a seeded sample of this many profiles when there are more (default 256)",
    )
    p.add_argument(
        "--check-repetitions",
        type=int,
        default=None,
        help="runs per profile in the deviation check (default: --repetitions)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="also report profiles whose regret is at most this (payoff per round) as "
        "epsilon-equilibria (default 0: exact)",
    )
    p.add_argument("--no-check", action="store_true", help="skip the deviation check")
    p.add_argument(
        "--alpha", type=float, default=10.0, help="alpha-Rank ranking intensity (default 10)"
    )
    p.add_argument(
        "--population", type=int, default=50, help="alpha-Rank population size m (default 50)"
    )
    add_discount_rate(p)
    p.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", default=None, help="output folder (default runs/out/equilibria/...)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    # None marks "not given", so that a --spec key can fill it; the real defaults are
    # applied by _effective (the help texts state them).
    p.set_defaults(handler=run, scenario=None, seed=None, repetitions=None)


DEFAULT_STRATEGIES = ("always_restrain", "always_extract")


def parse_strategies(items: list[str], seats: list[str]) -> tuple[tuple[str, ...], ...]:
    """``--strategies`` values to one tuple of names per seat (see the epilog)."""
    from stackgame.errors import UserError

    if not items:
        return tuple(DEFAULT_STRATEGIES for _ in seats)
    named: dict[str, tuple[str, ...]] = {}
    plain: list[tuple[str, ...]] = []
    for item in items:
        seat, sep, rest = item.partition("=")
        names = tuple(n.strip() for n in (rest if sep else item).split(",") if n.strip())
        if sep:
            seat = seat.strip()
            if seat not in seats:
                raise UserError(f"--strategies {item!r}: {seat!r} is not one of --seats")
            if seat in named:
                raise UserError(f"--strategies: seat {seat!r} given twice")
            named[seat] = names
        else:
            plain.append(names)
    if named and plain:
        raise UserError("--strategies: use SEAT=LIST for every seat or for none")
    if named:
        missing = [s for s in seats if s not in named]
        if missing:
            raise UserError(f"--strategies: no list for seat(s) {', '.join(missing)}")
        return tuple(named[s] for s in seats)
    if len(plain) == 1:
        return tuple(plain[0] for _ in seats)
    if len(plain) != len(seats):
        raise UserError(
            f"--strategies: give one list for all seats or one per seat ({len(seats)}), "
            f"got {len(plain)}"
        )
    return tuple(plain)


def run(args: argparse.Namespace) -> int:
    """Build, solve, check and report the empirical game."""
    from stackgame import strict_json
    from stackgame.environment.scenario import apply_overrides, resolve
    from stackgame.equilibria import empirical
    from stackgame.errors import UserError
    from stackgame.manifest import output_dir, output_name, scenario_change, write_manifest

    spec_keys = load_spec(args.spec) if args.spec else {}
    eff = _effective(args, spec_keys)
    args.scenario, args.seed = eff["scenario"], eff["seed"]
    args.repetitions, args.rounds = eff["repetitions"], eff["rounds"]
    args.discount_rate, args.check_repetitions = eff["discount_rate"], eff["check_repetitions"]
    seats = eff["seats"]
    set_pairs = {**spec_keys.get("set", {}), **parse_pairs(args.set, "--set")}
    overrides = dict(set_pairs)
    changed = {**spec_keys.get("strategy", {}), **parse_pairs(args.strategy, "--strategy")}
    for firm, strategy in changed.items():
        if firm in seats:
            raise UserError(f"--strategy {firm}: a seat's strategy is chosen by --strategies")
        overrides[f"firms.{firm}.strategy"] = str(strategy)
    if args.processes < 1:
        raise UserError(f"--processes: must be at least 1 (got {args.processes})")
    if args.population < 2:
        raise UserError(f"--population: must be at least 2 (got {args.population})")
    if not args.tolerance >= 0:
        raise UserError(f"--tolerance: must be a number >= 0 (got {args.tolerance})")
    if not args.alpha >= 0:
        raise UserError(f"--alpha: must be a number >= 0 (got {args.alpha})")
    check_output_folder(args.out)
    scenario = resolve(args.scenario)
    if overrides:
        scenario = apply_overrides(scenario, overrides)
    spec = empirical.GameSpec(
        scenario=str(args.scenario),
        seats=tuple(seats),
        strategies=parse_strategies(eff["strategies"], seats),
        repetitions=args.repetitions,
        seed=args.seed,
        rounds=args.rounds,
        overrides=overrides,
        max_profiles=args.max_profiles,
        check_repetitions=args.check_repetitions,
        discount_rate=args.discount_rate,
    )
    empirical.validate(spec, scenario.firm_names)
    name = output_name(
        f"{scenario.name}-{'-'.join(seats)}",
        args.seed,
        overrides=set_pairs,
        strategies=changed,
        rounds=args.rounds if args.rounds not in (None, scenario.rounds) else None,
        extra={
            **scenario_change(args.scenario, scenario.name, resolve(args.scenario).digest()),
            **_rate_tag(args.discount_rate),
        },
        prefix="equilibria/",
    )
    folder = output_dir(args.out, name)
    report = empirical.analyse(
        spec,
        processes=args.processes,
        store_dir=folder / "runs",
        progress=not args.no_progress,
        alpha=args.alpha,
        population=args.population,
        check=not args.no_check,
        tolerance=args.tolerance,
    )
    report["scenario_hash"] = scenario.digest()
    text = strict_json.dumps(report, sort_keys=True)
    (folder / "equilibria.json").write_text(text + "\n")
    _write_payoffs(report, folder / "payoffs.csv")
    rows = value_capture_rows(report)
    _write_rows(rows, folder / "value_capture.csv")
    _plot_value_capture(report, folder / "value_capture.png")
    write_manifest(
        folder,
        command=["stackgame", *sys.argv[1:]] if sys.argv[1:2] == ["equilibria"] else None,
        seed=args.seed,
        scenario_hash=scenario.digest(),
        seats=seats,
        repetitions=args.repetitions,
    )
    if args.json:
        print(text)
    else:
        print(render(report))
        print(f"\nfiles: {folder}/ (equilibria.json, payoffs.csv, value_capture.csv/.png)")
    return 0


DEFAULTS: dict[str, Any] = {
    "scenario": "ai-stack-2026",
    "seed": 0,
    "repetitions": 10,
    "rounds": None,
    "discount_rate": None,
    "check_repetitions": None,
}
"""The flags' defaults, applied when neither the command line nor a --spec gives a value."""

SPEC_KEYS = (
    "description",
    "scenario",
    "seed",
    "seats",
    "strategies",
    "repetitions",
    "rounds",
    "discount_rate",
    "check_repetitions",
    "set",
    "strategy",
)
"""The keys of a spec's [equilibria] table (each mirrors the flag of the same name)."""


def load_spec(path: str) -> dict[str, Any]:
    """Read and check the ``[equilibria]`` table of a spec file (see the epilog).

    Returns the table with ``seats`` as a list, ``strategies`` as ``--strategies``
    values (one ``LIST`` or one ``SEAT=LIST`` per seat), ``set`` flattened to dotted
    paths, ``strategy`` as firm -> name, and a relative ``scenario`` path that names a
    file next to the spec made absolute.

    Raises
    ------
    UserError
        One line naming the file and the key: an unreadable file, no ``[equilibria]``
        table, an unknown key, a value of the wrong type or out of range.
    """
    import math
    from pathlib import Path

    from stackgame.errors import UserError

    file = Path(path)
    try:
        data = tomllib.loads(file.read_text())
    except OSError as err:
        raise UserError(f"--spec {path}: cannot read it ({err.strerror or err})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid TOML ({err})") from None

    def fail(key: str, problem: str) -> UserError:
        return UserError(f"{path}: equilibria.{key}: {problem}")

    extra = sorted(set(data) - {"equilibria"})
    if extra:
        raise UserError(f"{path}: {extra[0]}: unknown table; a spec holds one [equilibria]")
    table = data.get("equilibria")
    if not isinstance(table, dict):
        raise UserError(f"{path}: no [equilibria] table")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in SPEC_KEYS:
            raise fail(key, f"unknown key; known: {', '.join(sorted(SPEC_KEYS))}")
        if key in ("description", "scenario"):
            if not isinstance(value, str) or not value.strip():
                raise fail(key, f"must be a non-empty string (got {value!r})")
            if key == "scenario" and value.endswith(".toml") and not Path(value).is_absolute():
                beside = file.parent / value
                value = str(beside) if beside.exists() else value
            out[key] = value
        elif key in ("seed", "repetitions", "rounds", "check_repetitions"):
            least = 0 if key == "seed" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise fail(key, f"must be an integer >= {least} (got {value!r})")
            out[key] = value
        elif key == "discount_rate":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or value < 0:
                raise fail(key, f"must be a finite number >= 0 (got {value!r})")
            out[key] = float(value)
        elif key == "seats":
            if not _names(value):
                raise fail(key, f"must be a non-empty list of firm names (got {value!r})")
            out[key] = list(value)
        elif key == "strategies":
            if _names(value):
                out[key] = [",".join(value)]
            elif isinstance(value, dict) and value:
                for seat, names in value.items():
                    if not _names(names):
                        raise fail(f"{key}.{seat}", f"must be a list of names (got {names!r})")
                out[key] = [f"{seat}={','.join(names)}" for seat, names in value.items()]
            else:
                raise fail(key, f"must be a list of names or a table seat -> list (got {value!r})")
        elif key == "set":
            if not isinstance(value, dict):
                raise fail(key, f"must be a table of dotted paths (got {value!r})")
            out[key] = dict(_flatten(value))
        else:  # strategy
            if not isinstance(value, dict):
                raise fail(key, f"must be a table firm -> strategy name (got {value!r})")
            for firm, name in value.items():
                if not isinstance(name, str) or not name:
                    raise fail(f"{key}.{firm}", f"must be a strategy name (got {name!r})")
            out[key] = dict(value)
    if "strategies" in table and isinstance(table["strategies"], dict) and "seats" in out:
        unknown = sorted(set(table["strategies"]) - set(out["seats"]))
        if unknown:
            raise fail(f"strategies.{unknown[0]}", "not one of the spec's seats")
    return out


def _names(value: Any) -> bool:
    """A non-empty list of non-empty strings without commas (strategy or firm names)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) and v.strip() and "," not in v for v in value)
    )


def _flatten(table: dict[str, Any], prefix: str = "") -> Any:
    """``{"a": {"b": 1}, "c.d": 2}`` -> ``("a.b", 1), ("c.d", 2)``."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _effective(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Any]:
    """Each setting from the command line if given, else the spec, else the default."""
    from stackgame.errors import UserError

    out = {
        key: getattr(args, key) if getattr(args, key) is not None else spec.get(key, default)
        for key, default in DEFAULTS.items()
    }
    if args.seats is not None:
        out["seats"] = [s.strip() for s in args.seats.split(",") if s.strip()]
    elif "seats" in spec:
        out["seats"] = spec["seats"]
    else:
        raise UserError("--seats: name the seats (or give a --spec whose [equilibria] has seats)")
    out["strategies"] = args.strategies or spec.get("strategies", [])
    return out


def _rate_tag(rate: float | None) -> dict[str, float]:
    """A given discount rate, for the output folder's hash (nothing when the scenario's)."""
    return {} if rate is None else {"discount_rate": rate}


def _write_rows(rows: list[dict[str, Any]], path: Any) -> None:
    import csv

    with open(path, "w", newline="") as fh:
        if not rows:
            return
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _write_payoffs(report: dict[str, Any], path: Any) -> None:
    rows = []
    for entry in report["payoffs"]:
        for seat, stats in entry["payoff"].items():
            rows.append(
                {
                    **{f"strategy.{s}": n for s, n in entry["profile"].items()},
                    "seat": seat,
                    "mean": stats["mean"],
                    "se": stats["se"],
                    "ci_low": stats["ci"][0],
                    "ci_high": stats["ci"][1],
                    "regret": entry["regret"],
                    "mean_payoff": entry.get("mean_payoff", {}).get(seat),
                    "present_value": entry.get("present_value", {}).get(seat),
                }
            )
    _write_rows(rows, path)


def _label(eq: dict[str, Any]) -> str:
    if eq["kind"] == "pure":
        return " / ".join(f"{s}:{n}" for s, n in eq["profile"].items())
    parts = []
    for seat, mix in eq["strategies"].items():
        parts.append(seat + ":" + "+".join(f"{p:.2f} {n}" for n, p in mix.items() if p > 1e-9))
    return " / ".join(parts)


def value_capture_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric: default play and every equilibrium, mean and 95% CI."""
    columns: list[tuple[str, dict[str, Any]]] = [("default", report["default_play"]["outcome"])]
    for i, eq in enumerate(report["equilibria"]):
        columns.append((f"eq{i + 1}", eq.get("outcome", {})))
    keys = sorted({k for _, outcome in columns for k in outcome})
    rows = []
    for key in keys:
        row: dict[str, Any] = {"metric": key}
        for name, outcome in columns:
            stats = outcome.get(key)
            row[f"{name}.mean"] = stats["mean"] if stats else None
            row[f"{name}.ci_low"] = stats["ci"][0] if stats else None
            row[f"{name}.ci_high"] = stats["ci"][1] if stats else None
        rows.append(row)
    return rows


def render(report: dict[str, Any]) -> str:
    """The report as text: payoff table, equilibria with epsilon, who wins the stack."""
    lines = [
        f"empirical game on {report['scenario']} (seed {report['seed']}, "
        f"{report['repetitions']} repetitions per profile, "
        f"{report['profiles']['simulated']} of {report['profiles']['total']} profiles"
        + (" sampled)" if report["profiles"]["sampled"] else ")"),
        "",
        _scoring_line(report.get("scoring")),
    ]
    seats = report["seats"]
    for entry in report["payoffs"]:
        cells = [
            f"{s}={entry['payoff'][s]['mean']:.3f} "
            f"[{entry['payoff'][s]['ci'][0]:.3f}, {entry['payoff'][s]['ci'][1]:.3f}]"
            for s in seats
        ]
        profile = ", ".join(entry["profile"][s] for s in seats)
        lines.append(f"  ({profile}): {'  '.join(cells)}  regret {entry['regret']:.3f}")
        if report.get("scoring", {}).get("discount_rate") and "mean_payoff" in entry:
            means = "  ".join(f"{s}={entry['mean_payoff'][s]:.3f}" for s in seats)
            lines.append(f"  {'':{len(profile) + 2}s}  undiscounted mean: {means}")
    lines.append("")
    if not report["equilibria"]:
        lines.append("no equilibrium found on the mean table")
    for i, eq in enumerate(report["equilibria"]):
        regret = f", regret {eq['regret']:.4f}" if eq.get("regret") else ""
        lines.append(f"equilibrium {i + 1} ({eq['kind']}{regret}): {_label(eq)}")
        check = eq.get("check")
        if check:
            lines.append(
                f"  deviation check on {check['repetitions']} fresh seeds: epsilon "
                f"{check['epsilon']:.4f} [{check['ci'][0]:.4f}, {check['ci'][1]:.4f}]"
            )
            for d in check["deviations"]:
                lines.append(
                    f"    {d['seat']} -> {d['strategy']}: gain {d['gain']:+.4f} "
                    f"[{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]"
                )
        win = eq.get("winners", {})
        if win:
            lines.append("  wins the stack: " + _winners_text(win))
    if report.get("equilibria_found", 0) > len(report["equilibria"]):
        lines.append(f"  ({report['equilibria_found'] - len(report['equilibria'])} more not shown)")
    lines.append("default play (every firm on its scenario strategy): wins the stack: ")
    lines[-1] += _winners_text(report["default_play"]["winners"])
    lines.append("")
    lines.append(_capture_table(report))
    if "alpha_rank" in report:
        ar = report["alpha_rank"]
        lines.append("")
        lines.append(f"alpha-Rank (alpha {ar['alpha']}, m {ar['population']}), top profiles:")
        for r in ar["ranking"][:5]:
            lines.append(f"  {r['mass']:.3f}  " + ", ".join(r["profile"][s] for s in seats))
        lines.append("replicator dynamics (long-run share):")
        for seat, mix in report["replicator"].items():
            lines.append(f"  {seat}: " + ", ".join(f"{n} {p:.2f}" for n, p in mix.items()))
    return "\n".join(lines)


def _scoring_line(scoring: dict[str, Any] | None) -> str:
    """The header of the payoff table: which score it holds."""
    if not scoring or not scoring["discount_rate"]:
        return (
            "payoff per round (mean [95% CI]; discount rate 0: the discounted payoff per "
            "round is the mean); regret = best unilateral gain"
        )
    return (
        f"discounted payoff per round at r = {scoring['discount_rate']:g} per round "
        f"({scoring['discount_rate_source']}): sum_t delta^t pi_t / sum_t delta^t "
        "(mean [95% CI]), then the undiscounted mean per round; regret = best unilateral gain"
    )


def _winners_text(win: dict[str, Any]) -> str:
    from stackgame.environment.summary import TIE_TOLERANCE, and_join

    parts = []
    for kind in ("layer", "firm"):
        if kind not in win:
            continue
        w = win[kind]
        tied = w.get("tied", [w["name"]])
        if len(tied) > 1:
            parts.append(
                f"{kind}s {and_join(tied)} tie ({w['value_share']:.1%} each, within "
                f"{TIE_TOLERANCE * 100:.1f} pp)"
            )
        else:
            parts.append(f"{kind} {w['name']} ({w['value_share']:.1%})")
    return ", ".join(parts)


def _capture_table(report: dict[str, Any], top_firms: int = 8) -> str:
    """Value share and operating margin by layer, then the firms with the largest shares."""
    rows = value_capture_rows(report)
    n_eq = len(report["equilibria"])

    def block(title: str, chosen: list[dict[str, Any]]) -> list[str]:
        head = f"{title:38s}{'default':>10s}" + "".join(
            f"{'eq' + str(i + 1):>10s}" for i in range(n_eq)
        )
        out = [head]
        for r in chosen:
            cells = [r["default.mean"]] + [r.get(f"eq{i + 1}.mean") for i in range(n_eq)]
            out.append(
                f"  {r['metric']:36s}"
                + "".join(f"{c:>10.3f}" if c is not None else f"{'-':>10s}" for c in cells)
            )
        return out

    layers = [
        r for r in rows if r["metric"].startswith(("value_share.layer.", "operating_margin.layer."))
    ]
    shares = [r for r in rows if r["metric"].startswith("value_share.firm.")]
    seats = {f"value_share.firm.{s}" for s in report["seats"]}

    def size(r: dict[str, Any]) -> float:
        values = [v for k, v in r.items() if k.endswith(".mean") and v is not None]
        return max(values, default=0.0)

    firms = sorted(shares, key=lambda r: (r["metric"] not in seats, -size(r), r["metric"]))
    lines = block("value capture by layer", layers)
    lines += block("value share by firm (seats first)", firms[: max(top_firms, len(seats))])
    return "\n".join(lines)


def _plot_value_capture(report: dict[str, Any], path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    columns = [("default play", report["default_play"]["outcome"])] + [
        (f"eq{i + 1}", eq.get("outcome", {})) for i, eq in enumerate(report["equilibria"])
    ]
    layers = sorted(
        {k.split(".", 2)[2] for _, o in columns for k in o if k.startswith("value_share.layer.")}
    )
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(layers) * len(columns) / 2), 4))
    width = 0.8 / max(1, len(columns))
    x = np.arange(len(layers))
    for j, (name, outcome) in enumerate(columns):
        means, errs = [], []
        for layer in layers:
            stats = outcome.get(f"value_share.layer.{layer}")
            means.append(stats["mean"] if stats else np.nan)
            half = (stats["ci"][1] - stats["mean"]) if stats else 0.0
            errs.append(half if np.isfinite(half) else 0.0)
        ax.bar(x + j * width, means, width, yerr=errs, capsize=3, label=name)
    ax.set_xticks(x + width * (len(columns) - 1) / 2, layers)
    ax.set_ylabel("value share (95% CI)")
    ax.set_title(f"who wins the stack: equilibrium vs default play ({report['scenario']})")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
