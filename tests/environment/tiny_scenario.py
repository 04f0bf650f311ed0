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


def _edit(change: Any) -> Any:
    """A writer that applies ``change`` to a fresh tiny dictionary and writes it."""

    def write(folder: Path) -> Path:
        raw = tiny()
        change(raw)
        return write_toml(folder, raw, "bad.toml")

    return write


def _text(edit: Any) -> Any:
    """A writer that edits the TOML text of the tiny scenario (for NaN, inf, syntax)."""

    def write(folder: Path) -> Path:
        path = write_toml(folder, tiny(), "bad.toml")
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
        return path

    return write


def _put(raw: dict[str, Any], key: str, **entry: Any) -> None:
    raw[key] = [entry]


def _set_ops(name: str, field: str, value: Any) -> Any:
    return lambda raw: firm(raw, name)["ops"]["chips"].__setitem__(field, value)


BAD_SCENARIOS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("malformed_toml", _text(lambda t: t + "\n[demand\n"), ("malformed TOML",)),
    ("unknown_field", _edit(lambda r: r.__setitem__("colour", "red")), ("colour", "unknown")),
    (
        "unknown_strategy",
        _edit(lambda r: firm(r, "fab").__setitem__("strategy", "tit_for_tatt")),
        ("firms.fab.strategy", "tit_for_tatt", "did you mean tit_for_tat"),
    ),
    (
        "unknown_layer_in_ops",
        _edit(lambda r: firm(r, "fab")["ops"].__setitem__("gpus", firm(r, "fab")["ops"]["chips"])),
        ("firms.fab.ops.gpus", "unknown layer"),
    ),
    (
        "negative_capacity",
        _edit(_set_ops("fab", "capacity", -1.0)),
        ("firms.fab.ops.chips.capacity", "greater than or equal to 0", "-1"),
    ),
    (
        "nan_capacity",
        _text(lambda t: t.replace("capacity = 100.0", "capacity = nan", 1)),
        ("firms.fab.ops.chips.capacity", "finite", "nan"),
    ),
    (
        "inf_unit_cost",
        _text(lambda t: t.replace("unit_cost = 1.2", "unit_cost = inf", 1)),
        ("firms.fab2.ops.chips.unit_cost", "finite", "inf"),
    ),
    (
        "relation_unknown_layer",
        _edit(lambda r: _put(r, "relations", buyer="cloudco", seller="fab", layer="gpus")),
        ("relations[0].layer", "unknown layer 'gpus'"),
    ),
    (
        "relation_not_just_above",
        _edit(lambda r: _put(r, "relations", buyer="appco", seller="fab", layer="chips")),
        ("relations[0].buyer", "appco does not buy from chips"),
    ),
    (
        "contract_zero_quantity",
        _edit(lambda r: _put(r, "contracts", name="lta", buyer="cloudco", seller="fab",
                             layer="chips", quantity=0.0, duration=4)),
        ("contracts.lta.quantity", "greater than 0"),
    ),
    (
        "contract_take_or_pay_over_one",
        _edit(lambda r: _put(r, "contracts", buyer="cloudco", seller="fab", layer="chips",
                             quantity=5.0, duration=4, take_or_pay=1.5)),
        ("contracts.cloudco-fab-chips.take_or_pay", "less than or equal to 1", "1.5"),
    ),
    (
        "contract_buyer_not_just_above",
        _edit(lambda r: _put(r, "contracts", name="lta", buyer="appco", seller="fab",
                             layer="chips", quantity=5.0, duration=4)),
        ("contracts.lta.buyer", "appco does not buy from chips"),
    ),
    (
        "stake_unknown_firm",
        _edit(lambda r: _put(r, "stakes", holder="appco", investee="nvidia", share=0.1)),
        ("stakes[0].investee", "unknown firm 'nvidia'"),
    ),
    (
        "stakes_over_one",
        _edit(lambda r: r.__setitem__("stakes", [
            dict(holder="fab", investee="appco", share=0.6),
            dict(holder="cloudco", investee="appco", share=0.6),
        ])),
        ("stakes[1].share", "stakes in appco add up to 1.2"),
    ),
    (
        "training_negative_ratio",
        _edit(lambda r: firm(r, "appco")["ops"]["apps"].__setitem__("training", {"ratio": -1.0})),
        ("firms.appco.ops.apps.training.ratio", "greater than or equal to 0", "-1"),
    ),
    (
        "training_unknown_key",
        _edit(lambda r: firm(r, "appco")["ops"]["apps"].__setitem__("training", {"lfe": 3.0})),
        ("firms.appco.ops.apps.training.lfe", "unknown"),
    ),
    (
        "training_below_is_not_capital_goods",
        _edit(lambda r: firm(r, "appco")["ops"]["apps"].__setitem__("training", {"ratio": 1.0})),
        ("firms.appco.ops.apps.training", "the layer below (cloud) must be a capital-goods"),
    ),
    (
        "training_in_the_bottom_layer",
        _edit(lambda r: firm(r, "fab")["ops"]["chips"].__setitem__("training", {"ratio": 1.0})),
        ("firms.fab.ops.chips.training", "the bottom layer"),
    ),
]  # fmt: skip
"""Bad scenario files: (id, writer(folder) -> path, fragments the one-line error must hold)."""
