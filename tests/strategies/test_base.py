"""Observations built on the engine's fast paths are ordinary, frozen observations."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Mapping

import pytest
from stackgame.strategies.base import OBSERVATION_DEFAULTS, Observation, Posture

CALLS: list[tuple[int, str]] = []


def build(round_: int, firm: str) -> dict:
    """A module-level builder (picklable), counting its calls."""
    CALLS.append((round_, firm))
    # (plain dictionaries for the empty mappings, so that pickle and deepcopy apply)
    defaults = {
        k: dict(v) if isinstance(v, Mapping) else v for k, v in OBSERVATION_DEFAULTS.items()
    }
    return {**defaults, "round": round_, "firm": firm, "layers": ("chips",)}


def test_a_deferred_observation_is_built_once_on_first_read_and_equals_the_plain_one():
    CALLS.clear()
    obs = Observation.deferred(build, 3, "nvidia")
    assert CALLS == []  # nothing built until read
    assert obs.layers == ("chips",) and obs.round == 3 and obs.own_postures == ()
    assert CALLS == [(3, "nvidia")]
    assert obs.firm == "nvidia" and CALLS == [(3, "nvidia")]  # later reads: look-ups
    plain = Observation(round=3, firm="nvidia", layers=("chips",))
    assert obs == plain and repr(obs).startswith("Observation(round=3, firm='nvidia'")
    assert set(vars(obs)) == {f.name for f in dataclasses.fields(Observation)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        obs.round = 4  # type: ignore[misc]


def test_comparing_printing_replacing_copying_and_pickling_build_it_too():
    plain = Observation(round=1, firm="amd", layers=("chips",))
    assert Observation.deferred(build, 1, "amd") == plain
    assert repr(Observation.deferred(build, 1, "amd")).startswith("Observation(round=1")
    changed = Observation.deferred(build, 1, "amd").replace(own_postures=(Posture.EXTRACT,))
    assert changed.own_postures == (Posture.EXTRACT,) and changed.round == 1
    assert copy.copy(Observation.deferred(build, 1, "amd")) == plain
    assert pickle.loads(pickle.dumps(Observation.deferred(build, 1, "amd"))) == plain
    assert dataclasses.asdict(Observation.deferred(build, 1, "amd")) == dataclasses.asdict(plain)


def test_fields_read_on_the_class_give_their_defaults():
    assert Observation.layers == () and Observation.horizon is None
    with pytest.raises(AttributeError):
        _ = Observation.round  # no default
