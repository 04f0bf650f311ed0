"""``stackgame scenarios``: list the built-in scenarios, or print one as TOML."""

from __future__ import annotations

import argparse

from stackgame.commands.arguments import add_no_seed

EPILOG = """\
examples:
  stackgame scenarios
  stackgame scenarios --show ai-stack-2026 > my-stack.toml
  stackgame run --scenario my-stack.toml
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scenarios`` subcommand."""
    p = subparsers.add_parser(
        "scenarios",
        help="list built-in scenarios; --show NAME prints one as editable TOML",
        description=(
            "List the built-in scenarios, or print one as TOML to copy and edit. Nothing "
            "here is random, so, unlike every other command, it takes no --seed."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--show", metavar="NAME", help="print this scenario as TOML")
    p.add_argument("--json", action="store_true", help="list as JSON")
    add_no_seed(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """List or show."""
    import tomllib

    from stackgame import strict_json
    from stackgame.environment.scenario import builtin_names, builtin_text, from_dict

    if args.show:
        print(builtin_text(args.show), end="")
        return 0
    rows = []
    for name in builtin_names():
        scen = from_dict(tomllib.loads(builtin_text(name)), name)
        rows.append(
            {
                "name": name,
                "layers": scen.layer_names,
                "firms": len(scen.firms),
                "rounds": scen.rounds,
                "description": scen.description,
            }
        )
    if args.json:
        print(strict_json.dumps(rows))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['firms']:>2} firms  {len(r['layers'])} layers  "
              f"{r['rounds']:>3} rounds  {r['description']}")  # fmt: skip
    return 0
