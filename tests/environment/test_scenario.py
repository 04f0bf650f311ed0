"""Scenario loading: every kind of bad input gets one ScenarioError naming file and field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from stackgame.environment.model import StackModel, params_to_overrides
from stackgame.environment.scenario import (
    ScenarioError,
    apply_overrides,
    builtin_names,
    builtin_text,
    from_dict,
    load,
    resolve,
)

from tests.environment.tiny_scenario import BAD_SCENARIOS, tiny, tiny_scenario, write_toml


@pytest.mark.parametrize(
    ("case", "writer", "fragments"), BAD_SCENARIOS, ids=[c[0] for c in BAD_SCENARIOS]
)
def test_bad_file_raises_one_line_naming_file_and_field(
    tmp_path: Path, case: str, writer: Any, fragments: tuple[str, ...]
) -> None:
    path = writer(tmp_path)
    with pytest.raises(ScenarioError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, (case, message)
    # resolve() takes the same path and gives the same error
    with pytest.raises(ScenarioError, match="^" + str(path)):
        resolve(str(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load(tmp_path / "none.toml")
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'; built-in: ai-stack-2026"):
        resolve("nope")


def test_valid_file_round_trips(tmp_path: Path) -> None:
    path = write_toml(tmp_path, tiny())
    assert load(path) == tiny_scenario()
    assert load(path).digest() == tiny_scenario().digest()


def test_builtin_scenario_loads_and_parses() -> None:
    assert "ai-stack-2026" in builtin_names()
    scen = resolve("ai-stack-2026")
    assert scen.layer_names == ["foundry", "chips", "cloud", "models", "apps"]
    assert from_dict(tomllib.loads(builtin_text("ai-stack-2026"))) == scen


def test_overrides_by_dotted_path() -> None:
    base = tiny_scenario()
    changed = apply_overrides(
        base,
        {"regulator.stance": 0.9, "firms.fab.strategy": "always_extract",
         "firms.fab.ops.chips.extract_markup": 2.0, "layers.cloud.choice_mu": 0.5},
    )  # fmt: skip
    assert changed.regulator.stance == 0.9
    assert changed.firm("fab").strategy == "always_extract"
    assert changed.firm("fab").ops["chips"].extract_markup == 2.0
    assert changed.layers[1].choice_mu == 0.5
    assert base.regulator.stance == 0.5  # the original is untouched
    assert changed.digest() != base.digest()


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"regulator.stanse": 0.3}, "regulator.stanse: no field 'stanse'"),
        ({"firms.nvidia.strategy": "defector"}, "no entry named 'nvidia'"),
        ({"regulator.stance": float("nan")}, "finite"),
        ({"regulator.stance": 1.5}, "regulator.stance"),
        ({"firms.fab.strategy": "nope"}, "unknown strategy 'nope'"),
    ],
)
def test_bad_override_is_a_scenario_error(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        apply_overrides(tiny_scenario(), overrides)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_model_parameters_and_their_errors() -> None:
    scen = tiny_scenario()
    out = params_to_overrides({"regulator_stance": 0.2, "strategy_fab": "defector",
                               "firms__fab__ops__chips__capacity": 5.0}, scen)  # fmt: skip
    assert out == {"regulator.stance": 0.2, "firms.fab.strategy": "defector",
                   "firms.fab.ops.chips.capacity": 5.0}  # fmt: skip
    with pytest.raises(ScenarioError, match="unknown model parameter 'stance'"):
        params_to_overrides({"stance": 0.2}, scen)
    with pytest.raises(ScenarioError, match="unknown firm 'nvidia'"):
        StackModel(scen, 0, strategies={"nvidia": "defector"})
    with pytest.raises(ScenarioError, match="rounds: must be at least 1"):
        StackModel(scen, 0, rounds=0)


def test_event_set_paths_are_checked() -> None:
    raw = tiny(events=[{"kind": "set", "name": "x", "round": 1, "set": {"firms.nope.cash": 1.0}}])
    with pytest.raises(
        ScenarioError, match=r"events\[0\]\.set: firms\.nope\.cash: no entry named .nope."
    ):
        from_dict(raw, "tiny")


def test_unknown_layer_in_a_condition() -> None:
    raw = tiny(
        events=[{"kind": "demand_shock", "when": {"metric": "hhi", "layer": "gpus", "above": 0.5}}]
    )
    with pytest.raises(ScenarioError, match=r"events\[0\]\.when\.layer: unknown layer .gpus."):
        from_dict(raw, "tiny")


def test_stored_results_are_keyed_by_a_built_in_scenarios_text_not_only_its_name(
    monkeypatch, tmp_path
):
    """A refit of a built-in must not let a batch, a game or the theses resume old runs.

    The equilibria specs once re-used their runs of an earlier ai-stack-2026 in 2 s.
    """
    import hashlib

    from stackgame.environment import scenario as sc

    from stackgame.equilibria.empirical import _identity

    before = sc.identity("ai-stack-2026")
    assert before.startswith("ai-stack-2026:") and before != sc.identity("ai-stack-2026-articles")
    text = sc.builtin_text("ai-stack-2026")
    monkeypatch.setattr(sc, "builtin_text", lambda name: text + "\n# refitted\n")
    assert sc.identity("ai-stack-2026") != before
    assert _identity("ai-stack-2026") == sc.identity("ai-stack-2026")
    f = tmp_path / "s.toml"
    f.write_text("x = 1\n")
    assert sc.identity(str(f)) == hashlib.sha256(b"x = 1\n").hexdigest()
    assert sc.identity("no-such-scenario") == "no-such-scenario"
