"""Subcommands of the ``stackgame`` CLI, one module each.

Each module defines ``register(subparsers)``, which adds its parser and sets
``handler=<function(args) -> int>``. Modules import heavy libraries (Mesa, matplotlib,
Solara) inside the handler, never at module level, so ``stackgame --help`` stays fast.
"""
