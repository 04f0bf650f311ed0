"""Tiny scenarios for the core tests, written inline as dictionaries.

``tiny()`` is a three-layer stack (chips, cloud, apps) with two chip makers, one cloud
and one app company; keyword arguments replace top-level fields. Each test edits its
own deep copy, so no test sees another's changes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import tomli_w
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import Scenario, from_dict
from stackgame.strategies.base import Action, Observation, Strategy

_TINY: dict[str, Any] = {
    "name": "tiny",
    "rounds": 4,
    "layers": [{"name": "chips"}, {"name": "cloud"}, {"name": "apps"}],
    "firms": [
        {"name": "fab", "ops": {"chips": {"capacity": 100.0, "unit_cost": 1.0, "capital": 50.0}}},
        {"name": "fab2", "ops": {"chips": {"capacity": 100.0, "unit_cost": 1.2, "capital": 50.0}}},
        {
            "name": "cloudco",
            "ops": {"cloud": {"capacity": 100.0, "unit_cost": 0.5, "capital": 80.0}},
        },
        {"name": "appco", "ops": {"apps": {"capacity": 100.0, "unit_cost": 0.2, "quality": 5.0}}},
    ],
    "demand": {"market_size": 50.0, "mu": 1.0},
    "regulator": {"enabled": False},
}


def tiny(**changes: Any) -> dict[str, Any]:
    """A deep copy of the tiny scenario dictionary with top-level fields replaced."""
    raw = copy.deepcopy(_TINY)
    raw.update(copy.deepcopy(changes))
    return raw


def tiny_scenario(**changes: Any) -> Scenario:
    """The tiny scenario, validated."""
    return from_dict(tiny(**changes), "tiny")


def firm(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """The firm entry called ``name`` in a scenario dictionary (to edit in place)."""
    return next(f for f in raw["firms"] if f["name"] == name)


def write_toml(folder: Path, raw: dict[str, Any], name: str = "scenario.toml") -> Path:
    """Write a scenario dictionary as a TOML file and return its path."""
    path = folder / name
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path


def run_model(scenario: Scenario | dict[str, Any], seed: int = 0, **kw: Any) -> StackModel:
    """Build and run a model; the caller reads it (it is released from Mesa's registry)."""
    if isinstance(scenario, dict):
        scenario = from_dict(scenario, "tiny")
    model = StackModel(scenario, seed, **kw)
    model.run()
    model.release()
    return model


class Scripted(Strategy):
    """A test-only strategy (not registered): plays a fixed list of actions, then restrains.

    It records every observation it receives in ``seen``.
    """

    name = "test_scripted"

    def __init__(self, actions: list[Action] | None = None) -> None:
        super().__init__()
        self.actions = list(actions or [])
        self.seen: list[Observation] = []

    def decide(self, observation: Observation) -> Action:
        """The next scripted action (restrain once the script runs out)."""
        self.seen.append(observation)
        k = len(self.seen) - 1
        return self.actions[k] if k < len(self.actions) else Action()
