"""``stackgame strategies``: every registered strategy with its classifier."""

from __future__ import annotations

import argparse
import re

from stackgame.commands.arguments import add_no_seed

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
        description=(
            "List every registered strategy, its classifier and its summary line. Nothing "
            "here is random, so, unlike every other command, it takes no --seed."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--family", help="only this family (fixed, archetype, reciprocal, learner)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    add_no_seed(p)
    p.set_defaults(handler=run)


_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]*)``|`([^`]*)`_{0,2}")


def plain_text(rst: str) -> str:
    """A docstring line without reStructuredText markup, for the terminal.

    ``:class:`~a.b.Name``` -> ``Name``; double-backtick literals, single-backtick titles
    and link references keep their text and lose their backticks.
    """
    text = _ROLE.sub(lambda m: m[1].rsplit(".", 1)[-1] if "." in m[1] else m[1], rst)
    return _LITERAL.sub(lambda m: m[1] if m[1] is not None else m[2], text)


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
        rows.append({"name": name, "summary": plain_text(doc[0]) if doc else "", **c.as_dict()})
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
