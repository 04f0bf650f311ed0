"""The one registry of strategies: names, lookups, suggestions, the classic ten."""

from __future__ import annotations

import pytest
from stackgame.strategies import Action, Classifier, Observation, Posture, Strategy, registry
from stackgame.strategies.registry import (
    CLASSIC,
    UnknownStrategyError,
    all_strategies,
    get,
    make,
    register,
)


def test_every_name_is_the_class_name_and_sorted():
    strategies = all_strategies()
    assert list(strategies) == sorted(strategies)
    for name, cls in strategies.items():
        assert cls.name == name


def test_the_classic_ten_are_registered():
    assert len(CLASSIC) == 10 and len(set(CLASSIC)) == 10
    assert set(CLASSIC) <= set(all_strategies())


def test_get_and_make():
    assert get("tit_for_tat").name == "tit_for_tat"
    made = make("defector")
    assert isinstance(made, Strategy) and made.name == "defector"
    assert make("defector") is not made


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownStrategyError) as err:
        get("tit_for_tatt")
    message = str(err.value)
    assert message.startswith("unknown strategy 'tit_for_tatt' (did you mean tit_for_tat")
    assert "`stackgame strategies` lists them" in message
    assert err.value.name == "tit_for_tatt"
    assert isinstance(err.value, KeyError)


def test_unknown_name_without_a_close_one_has_no_suggestion():
    with pytest.raises(UnknownStrategyError) as err:
        get("zzzzzzzzzz")
    assert "did you mean" not in str(err.value)


def _strategy(name: str) -> type[Strategy]:
    class Made(Strategy):
        classifier = Classifier(memory_depth=0, family="fixed")

        def decide(self, observation: Observation) -> Action:
            return Action.uniform(Posture.RESTRAIN)

    Made.name = name
    return Made


def test_register_refuses_a_nameless_class_and_a_second_owner_of_a_name(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    with pytest.raises(ValueError, match="has no name"):
        register(_strategy(""))
    with pytest.raises(ValueError, match="'defector' registered twice"):
        register(_strategy("defector"))
    mine = _strategy("test_only_strategy")
    assert register(mine) is mine
    assert register(mine) is mine  # the same class again is harmless
    assert get("test_only_strategy") is mine
