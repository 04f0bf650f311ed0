"""Relations: suppliers, customers and rivals from the layers; templates; the vote."""

from __future__ import annotations

import numpy as np
import pytest
from stackgame.environment.relations import Relations, _union
from stackgame.environment.scenario import from_dict
from stackgame.environment.state import StackState
from stackgame.strategies.base import OBSERVATION_DEFAULTS, Posture

from tests.environment.tiny_scenario import firm, tiny

EXTRACT, RESTRAIN = Posture.EXTRACT, Posture.RESTRAIN


def _build(raw: dict | None = None, horizon: int = 7) -> tuple[StackState, Relations]:
    state = StackState(from_dict(raw or tiny(), "tiny"))
    return state, Relations(state, state.firm_names, horizon)


def _by_name(rel: Relations, state: StackState, field: str) -> dict[str, tuple[str, ...]]:
    return {name: getattr(rel, field)[i] for i, name in enumerate(state.firm_names)}


def test_union_is_sorted_and_excludes_the_firm() -> None:
    assert _union([[3, 1], [1, 0], [2]], [0, 1], exclude=1) == [0, 3]
    assert _union([[0]], [], exclude=0) == []


def test_one_layer_firms_see_the_layers_just_below_and_above() -> None:
    state, rel = _build()  # chips: fab, fab2; cloud: cloudco; apps: appco
    assert _by_name(rel, state, "suppliers") == {
        "fab": (),
        "fab2": (),
        "cloudco": ("fab", "fab2"),
        "appco": ("cloudco",),
    }
    assert _by_name(rel, state, "customers") == {
        "fab": ("cloudco",),
        "fab2": ("cloudco",),
        "cloudco": ("appco",),
        "appco": (),
    }
    assert _by_name(rel, state, "rivals") == {
        "fab": ("fab2",),
        "fab2": ("fab",),
        "cloudco": (),
        "appco": (),
    }
    # counterparts: suppliers, then customers
    assert _by_name(rel, state, "counterparts")["cloudco"] == ("fab", "fab2", "appco")
    assert rel.ops == [[0], [1], [2], [3]]


def test_a_firm_in_two_layers_sees_the_union_without_itself() -> None:
    raw = tiny()
    firm(raw, "fab")["ops"]["cloud"] = {"capacity": 10.0, "unit_cost": 0.5, "capital": 5.0}
    state, rel = _build(raw)
    names = _by_name(rel, state, "suppliers")
    assert names["fab"] == ("fab2",)  # below cloud: chips, less fab itself
    # above chips: cloud (cloudco; fab itself left out); above cloud: apps
    assert _by_name(rel, state, "customers")["fab"] == ("cloudco", "appco")
    assert _by_name(rel, state, "rivals")["fab"] == ("fab2", "cloudco")  # by firm index
    assert _by_name(rel, state, "counterparts")["fab"] == ("fab2", "cloudco", "appco")
    # the others count fab once, in each layer it operates
    assert _by_name(rel, state, "suppliers")["cloudco"] == ("fab", "fab2")
    assert _by_name(rel, state, "rivals")["cloudco"] == ("fab",)
    assert _by_name(rel, state, "suppliers")["appco"] == ("fab", "cloudco")


def test_an_acquired_firm_drops_out_after_rebuild() -> None:
    state, rel = _build()
    state.merge_firm(0, 1)  # fab buys fab2: pooled into fab's chips operation
    rel.rebuild(state)
    assert _by_name(rel, state, "suppliers")["cloudco"] == ("fab",)
    assert _by_name(rel, state, "rivals")["fab"] == ()
    assert rel.ops[1] == []
    assert rel.counterparts[1] == ()


def test_integrable_layers_are_the_neighbours_not_yet_held() -> None:
    raw = tiny(allow_integration=True)
    state, rel = _build(raw)
    assert rel.integrable(state, 0) == ("cloud",)  # chips: nothing below
    assert rel.integrable(state, 2) == ("chips", "apps")
    assert rel.integrable(state, 3) == ("cloud",)
    # a pending operation (built, not yet online) is not integrable again
    assert rel.integrable(state, 2, mine={1}, pending={1, 2}) == ("chips",)
    state.acquired[3] = True
    assert rel.integrable(state, 3) == ()
    state.allow_integration = False
    assert rel.integrable(state, 2) == ()


def test_refresh_views_builds_templates_once_per_state_version() -> None:
    state, rel = _build(tiny(allow_integration=True), horizon=9)
    rel.refresh_views(state)
    template = rel.templates[2]
    assert set(OBSERVATION_DEFAULTS) <= set(template)
    assert template["firm"] == "cloudco" and template["layers"] == ("cloud",)
    assert template["suppliers"] == ("fab", "fab2") and template["customers"] == ("appco",)
    assert template["horizon"] == 9 and template["integrated"] == ()
    assert template["integrable"] == ("chips", "apps")
    assert dict(template["markup_bounds"]) == {
        "cloud": (state.restrain_markup[2], state.extract_markup[2])
    }
    with pytest.raises(TypeError):
        template["markup_bounds"]["cloud"] = (0.0, 0.0)  # read-only
    assert rel.pairs[2] == (("cloud", 2),)
    assert rel.observed[2] == (template, ("fab", "fab2"), [2], (("cloud", 2),))
    before = rel.templates
    rel.refresh_views(state)
    assert rel.templates is before  # same version: nothing rebuilt
    state.set_path("firms.fab.cash", 3.0)  # any setting moves the version
    rel.refresh_views(state)
    assert rel.templates is not before


def test_markup_floor_allows_negative_markups_only_where_the_layer_does() -> None:
    raw = tiny()
    raw["layers"][1]["allow_negative_markup"] = True
    state, rel = _build(raw)
    rel.refresh_views(state)
    np.testing.assert_array_equal(rel.markup_floor, [0.0, 0.0, -0.95, 0.0])


def test_counterpart_vote_is_the_majority_and_ties_extract() -> None:
    state, rel = _build()  # counterparts: fab, fab2 -> cloudco; cloudco -> fab, fab2, appco
    # 1 = extract: fab extracts, fab2 restrains, cloudco extracts, appco restrains
    votes = rel.counterpart_votes([1, 0, 1, 0])
    assert votes == [EXTRACT, EXTRACT, RESTRAIN, EXTRACT]
    # cloudco: fab, fab2 restrain and appco extracts -> 1 of 3 -> restrain
    assert rel.counterpart_votes([0, 0, 0, 1])[2] == RESTRAIN
    # a tie (1 of 2 counterparts) extracts: appco's only counterpart is cloudco
    assert rel.counterpart_votes([0, 0, 1, 0])[3] == EXTRACT


def test_firms_without_a_history_do_not_vote() -> None:
    state, rel = _build()
    # fab2 has no history (-1): cloudco's vote is fab (restrain) and appco (extract): a tie
    assert rel.counterpart_votes([0, -1, 0, 1])[2] == EXTRACT
    # same as the plain path where every firm has a history
    assert rel.counterpart_votes([0, -1, 0, 0])[2] == RESTRAIN
    # a firm whose only counterpart has no history restrains (nobody voted)
    assert rel.counterpart_votes([0, 0, -1, 0])[3] == RESTRAIN


def test_counterpart_votes_by_lists_long_or_short_as_by_the_matrix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a small stack votes by a 0/1 matrix product; a large one sums each distinct list,
    # the long ones with numpy, the short ones in Python: the same counts all three ways
    import stackgame.environment.relations as rel_module

    state = StackState(from_dict(tiny(), "tiny"))
    rel_module._KEPT.clear()
    dense = Relations(state, state.firm_names, 5)
    monkeypatch.setattr(rel_module, "_DENSE_VOTE", 0)
    rel_module._KEPT.clear()
    short = Relations(state, state.firm_names, 5)
    monkeypatch.setattr(rel_module, "_LONG_GROUP", 1)
    rel_module._KEPT.clear()
    long = Relations(state, state.firm_names, 5)
    assert dense._cp_matrix is not None and short._cp_matrix is None
    assert long._cp_long and not short._cp_long
    for last in ([1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 1, 1, 0]):
        want = dense.counterpart_votes(last)
        assert long.counterpart_votes(last) == want and short.counterpart_votes(last) == want
    with pytest.raises(ValueError):  # the index arrays are read-only
        next(iter(long._cp_long.values()))[0] = 0
    rel_module._KEPT.clear()  # (what was kept with the lowered bars goes)
