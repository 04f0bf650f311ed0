"""``stackgame strategies``: every registered strategy with its classifier."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  stackgame strategies
  stackgame strategies --family learner
  stackgame strategies --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``strategies`` subcommand."""
    p = subparsers.add_parser(
        "strategies",
        help="list strategies with their classifiers",
        description="List every registered strategy, its classifier and its summary line.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--family", help="only this family (fixed, archetype, reciprocal, learner)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the registry."""
    from stackgame import strict_json
    from stackgame.errors import UserError
    from stackgame.strategies import all_strategies

    rows = []
    for name, cls in all_strategies().items():
        c = cls.classifier
        if args.family and c.family != args.family:
            continue
        doc = (cls.__doc__ or "").strip().splitlines()
        rows.append({"name": name, "summary": doc[0] if doc else "", **c.as_dict()})
    if args.family and not rows:
        raise UserError(f"--family: no strategies in family {args.family!r}")
    if args.json:
        print(strict_json.dumps(rows))
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'strategy':<{width}}  family      memory  stoch  integ  learns  grid  summary")
    for r in rows:
        flags = "  ".join(
            ("yes" if r[k] else "no ").ljust(w)
            for k, w in (("stochastic", 5), ("uses_integration", 5), ("learns", 6),
                         ("uses_markup_grid", 4))
        )  # fmt: skip
        print(f"{r['name']:<{width}}  {r['family']:<10}  {str(r['memory_depth']):>6}  "
              f"{flags}  {r['summary']}")  # fmt: skip
    print(f"\n{len(rows)} strategies")
    return 0
