"""One registry of every strategy, filled by the ``@register`` decorator.

A strategy module decorates each class once; :func:`all_strategies` imports the family
modules so the registry is complete. Unknown names raise :class:`UnknownStrategyError`
with the closest known names, which the CLI turns into a one-line message and exit 2.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TypeVar

from stackgame.strategies.base import Strategy

_REGISTRY: dict[str, type[Strategy]] = {}
_FAMILY_MODULES = (
    "stackgame.strategies.fixed",
    "stackgame.strategies.archetypes",
    "stackgame.strategies.reciprocal",
    "stackgame.strategies.learners",
    "stackgame.strategies.frontier",
)

S = TypeVar("S", bound=type[Strategy])

CLASSIC = (
    "cooperator",
    "defector",
    "tit_for_tat",
    "grudger",
    "tit_for_two_tats",
    "win_stay_lose_shift",
    "alternator",
    "suspicious_tit_for_tat",
    "random",
    "generous_tit_for_tat",
)
"""The ten classic reciprocal strategies (Axelrod's names, restrain = cooperate)."""


class UnknownStrategyError(KeyError):
    """A strategy name that is not in the registry."""

    def __init__(self, name: str) -> None:
        known = sorted(all_strategies())
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        super().__init__(f"unknown strategy {name!r}{hint}; `stackgame strategies` lists them")
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


def register(cls: S) -> S:
    """Class decorator: add a strategy to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"strategy name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


_LOADED: list[bool] = []


def _load() -> None:
    if _LOADED:  # (every model build asks for a strategy per firm)
        return
    for module in _FAMILY_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:  # a family module not written yet
            if err.name != module:
                raise
    _LOADED.append(True)


def all_strategies() -> dict[str, type[Strategy]]:
    """Every registered strategy class by name, sorted by name."""
    _load()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> type[Strategy]:
    """The strategy class registered as ``name``."""
    _load()
    cls = _REGISTRY.get(name)
    if cls is None:
        raise UnknownStrategyError(name)
    return cls


def make(name: str) -> Strategy:
    """A fresh instance of the strategy registered as ``name``."""
    return get(name)()
