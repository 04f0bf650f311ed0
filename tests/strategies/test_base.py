"""Observations: built one way (now or deferred), frozen, read-only, copyable."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Mapping

import numpy as np
import pytest
from stackgame.strategies.base import (
    OBSERVATION_DEFAULTS,
    HistoryMap,
    HistoryView,
    LatestEntries,
    Observation,
    Posture,
    ReadOnlyDict,
)

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


FIELD_CALLS: list[str] = []


def one_field(name: str, round_: int, firm: str) -> object:
    """A module-level field maker (picklable): :func:`build`'s entry, counting its calls."""
    FIELD_CALLS.append(name)
    return build(round_, firm)[name]


def test_a_lazy_observation_makes_each_field_once_on_its_first_read():
    FIELD_CALLS.clear()
    obs = Observation.lazy(one_field, 3, "nvidia")
    assert FIELD_CALLS == []  # nothing made until read
    assert obs.layers == ("chips",) and obs.round == 3 and obs.own_postures == ()
    assert FIELD_CALLS == ["layers", "round", "own_postures"]  # only the fields read
    assert obs.layers == ("chips",) and len(FIELD_CALLS) == 3  # later reads: look-ups
    assert obs.last_counterpart is None and FIELD_CALLS[-1] == "counterpart_history"
    plain = Observation(round=3, firm="nvidia", layers=("chips",))
    assert obs == plain and repr(obs).startswith("Observation(round=3, firm='nvidia'")
    n = len(dataclasses.fields(Observation))
    assert len(FIELD_CALLS) == n  # comparing read the rest, each once
    assert set(vars(obs)) >= {f.name for f in dataclasses.fields(Observation)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        obs.round = 4  # type: ignore[misc]


def test_a_lazy_observation_over_known_fields_reads_them_without_a_call():
    FIELD_CALLS.clear()
    known = {"firm": "nvidia", "layers": ("chips",)}  # what one_field gives for them
    obs = Observation.lazy_over(known, one_field, 3, "nvidia")
    assert obs.layers == ("chips",) and obs.firm == "nvidia"
    assert FIELD_CALLS == []  # read from known: no field made
    assert obs.round == 3 and FIELD_CALLS == ["round"]  # the others made as by lazy
    plain = Observation(round=3, firm="nvidia", layers=("chips",))
    assert obs == plain  # comparing made the rest, not the known ones
    assert len(FIELD_CALLS) == len(dataclasses.fields(Observation)) - 2
    assert pickle.loads(pickle.dumps(Observation.lazy_over(known, one_field, 3, "nvidia"))) == plain


def test_a_lazy_observation_compares_prints_replaces_copies_and_pickles_whole():
    plain = Observation(round=1, firm="amd", layers=("chips",))
    assert Observation.lazy(one_field, 1, "amd") == plain
    assert repr(Observation.lazy(one_field, 1, "amd")) == repr(plain)
    changed = Observation.lazy(one_field, 1, "amd").replace(own_postures=(Posture.EXTRACT,))
    assert changed.own_postures == (Posture.EXTRACT,) and changed.round == 1
    half = Observation.lazy(one_field, 1, "amd")
    assert half.firm == "amd"  # (one field made: the copy makes the rest)
    assert copy.copy(half) == plain and copy.deepcopy(half) == plain
    restored = pickle.loads(pickle.dumps(Observation.lazy(one_field, 1, "amd")))
    assert restored == plain and set(vars(restored)) == set(vars(plain))
    assert dataclasses.asdict(Observation.lazy(one_field, 1, "amd")) == dataclasses.asdict(plain)


def test_fields_read_on_the_class_give_their_defaults():
    assert Observation.layers == () and Observation.horizon is None
    with pytest.raises(AttributeError):
        _ = Observation.round  # no default


def _engine_observation():
    from stackgame.environment.model import StackModel

    model = StackModel("ai-stack-2026", 3, rounds=8, strategies={"openai": "grudger"})
    for _ in range(5):
        model.step()
    obs = model.observe()[model.state.firm_index["openai"]]
    return model, obs


def test_an_engine_built_observation_copies_deep_copies_pickles_and_becomes_a_dict():
    model, obs = _engine_observation()
    assert obs.round == 5 and len(obs.own_postures) == 5 and obs.market
    assert copy.copy(obs) == obs
    deep = copy.deepcopy(obs)
    assert deep == obs and deep.own_payoffs is not obs.own_payoffs
    back = pickle.loads(pickle.dumps(obs))
    assert back == obs and back.market == obs.market
    plain = dataclasses.asdict(obs)
    assert plain["own_postures"] == tuple(obs.own_postures)
    assert plain["market"]["chips"]["price"] == obs.market["chips"].price
    assert set(plain) == {f.name for f in dataclasses.fields(Observation)}
    # copies stay read-only, and show the round they were made for however long kept
    for o in (obs, deep, back):
        with pytest.raises(TypeError):
            o.market["chips"] = None  # type: ignore[index]
        with pytest.raises((TypeError, AttributeError)):
            o.counterpart_postures.update({})  # type: ignore[attr-defined]
        with pytest.raises(TypeError):
            o.counterpart_postures["x"] = ()  # type: ignore[index]
        with pytest.raises(dataclasses.FrozenInstanceError):
            o.round = 0  # type: ignore[misc]
    model.step()
    assert len(back.own_postures) == len(obs.own_postures) == 5
    model.release()


def test_history_views_read_like_the_tuples_they_replace_without_copying():
    items = [Posture.RESTRAIN, Posture.EXTRACT, Posture.EXTRACT, Posture.RESTRAIN]
    view = HistoryView(items, 3)  # the first three
    items.append(Posture.EXTRACT)  # the list grows; the view does not
    as_tuple = tuple(items[:3])
    assert view == as_tuple and as_tuple == view and len(view) == 3 and bool(view)
    assert view[-1] is Posture.EXTRACT and view[0] is Posture.RESTRAIN
    assert view[-2:] == as_tuple[-2:] and view[::2] == as_tuple[::2]
    assert list(view) == list(as_tuple) and list(reversed(view)) == list(reversed(as_tuple))
    assert Posture.EXTRACT in view and view.count(Posture.EXTRACT) == 2
    assert (np.asarray(view) == np.asarray(as_tuple)).all() and hash(view) == hash(as_tuple)
    with pytest.raises(IndexError):
        view[3]
    window = HistoryView(items, 3, 1)  # a memory of two rounds
    assert window == as_tuple[1:] and Posture.RESTRAIN not in window
    assert view + (Posture.EXTRACT,) == (*as_tuple, Posture.EXTRACT)
    restored = pickle.loads(pickle.dumps(window))
    assert restored == window and restored._items == list(as_tuple[1:])  # only the window
    assert not HistoryView([], 0) and HistoryView([]) == ()
    lists = {"a": items, "b": [Posture.RESTRAIN]}
    shown = HistoryMap(lists, 2, depth=1)
    assert shown == {"a": (Posture.EXTRACT,), "b": (Posture.RESTRAIN,)} and "a" in shown
    assert copy.deepcopy(shown) == shown and pickle.loads(pickle.dumps(shown)) == shown
    assert isinstance(copy.deepcopy(shown), ReadOnlyDict)


@pytest.mark.parametrize("depth", [None, 0, 1, 3])
@pytest.mark.parametrize("stop", [0, 1, 2, 5])
def test_last_of_is_the_last_entry_of_every_nonempty_view(stop: int, depth: int | None) -> None:
    lists = {"a": [1.0, 2.0, 3.0], "b": [], "c": [7.0], "d": [4.0, 5.0]}
    shown = HistoryMap(lists, stop, depth=depth)
    names = ["d", "missing", "a", "b", "c"]
    want = [shown[c][-1] for c in names if shown.get(c)]
    assert shown.last_of(names) == want
    # the mean a learner's state reads: numpy's, kept per tuple of names; None when empty
    mean = shown.mean_of_last(tuple(names))
    assert (mean is None) if not want else mean == np.mean(want)
    assert shown.mean_of_last(tuple(names)) is mean
    assert shown.mean_of_last(["b", "missing"]) is None


@pytest.mark.parametrize("depth", [None, 0, 1, 3])
@pytest.mark.parametrize("stop", [0, 1, 2, 5])
@pytest.mark.parametrize(
    "entries",
    [
        # floats whose mean depends on the order of the additions (1e16 + 1 - 1e16)
        {"a": [1.0, 1e16], "b": [], "c": [0.1], "d": [np.float64(-1e16)], "e": [0.7, 1.0]},
        {"a": [1, 2], "b": [], "c": [3], "d": [4], "e": [5]},  # integers: the general path
        {"a": [1.0, 2.0], "b": [], "c": [3], "d": [0.5], "e": [5.0]},  # mixed: general path
    ],
)
def test_mean_of_last_from_latest_entries_is_the_general_mean_bit_for_bit(
    stop: int, depth: int | None, entries: dict[str, list[float]]
) -> None:
    # the engine's path (one array of latest entries, a gather per tuple) against the
    # general one (numpy's mean of the list last_of gives): identical floats, same type
    names = ("d", "missing", "a", "b", "c", "e", "a")
    fast = HistoryMap(entries, stop, depth=depth, latest=LatestEntries(entries))
    slow = HistoryMap(entries, stop, depth=depth)
    want = slow.mean_of_last(names)
    got = fast.mean_of_last(names)
    assert (got is None) == (want is None)
    if want is not None:
        assert type(got) is type(want) and np.float64(got).tobytes() == np.float64(want).tobytes()
    assert fast.mean_of_last(names) is got and fast.mean_of_last(tuple(names)) is got
    if stop == 5 and depth is None and entries["c"] == [0.1]:
        # by hand: d, a, c, e, a latest = -1e16, 1e16, 0.1, 1.0, 1e16; numpy sums fewer
        # than eight in order: ((-1e16 + 1e16) + 0.1) + 1.0 = 1.1, + 1e16 = 1e16 + 2 (floats
        # there are 2 apart); / 5 = 2e15 + 0.4, rounded to 2e15 + 0.5 (0.25 apart there)
        assert got == 2e15 + 0.5


def test_latest_entries_snapshot_by_hand() -> None:
    # every history has two entries: at stop 2 the last of each (the engine's round), at
    # stop 1 the first; a slot more for names not in the mapping (no entry)
    latest = LatestEntries({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    values, has = latest.snapshot(2)
    assert values.tolist() == [2.0, 4.0, 0.0] and has.tolist() == [True, True, False]
    values, has = latest.snapshot(1)
    assert values.tolist() == [1.0, 3.0, 0.0] and has.tolist() == [True, True, False]
    # an empty history (a firm added late) has no entry; integers are kept as objects
    values, has = LatestEntries({"a": [1.0, 2.0], "c": []}).snapshot(2)
    assert values.tolist() == [2.0, 0.0, 0.0] and has.tolist() == [True, False, False]
    values, _ = LatestEntries({"a": [1, 2], "b": [3.0, 4.0]}).snapshot(2)
    assert values.dtype == object and values.tolist() == [2, 4.0, 0.0]
