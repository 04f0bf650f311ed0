"""The contract every registered strategy keeps (Axelrod's base test class, for stackgame).

Parametrised over ``all_strategies()``: the classifier is valid and truthful, actions name
only the observation's layers, determinism and seeded replay, ``reset`` clears state,
memory depth bounds what the strategy reads, integration only where classified, no
global randomness, and every Strategy subclass in the package is registered.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import random as pyrandom
import re

import numpy as np
import pytest
import stackgame.strategies as package
from stackgame.strategies import Move, Observation, Posture, Strategy, all_strategies, make

from tests.strategies.scripted_matches import (
    GRID,
    OTHER_GRID,
    PD,
    RESTRAIN_DOMINANT,
    C,
    D,
    make_obs,
    play_matrix,
    play_stack,
    stack_obs,
    summary,
    view,
)

NAMES = sorted(all_strategies())
STOCHASTIC = [n for n in NAMES if all_strategies()[n].classifier.stochastic]
DETERMINISTIC = [n for n in NAMES if not all_strategies()[n].classifier.stochastic]
FAMILIES = {"fixed", "archetype", "reciprocal", "learner"}
ROUNDS = 60


def seeded(name: str, seed: int = 0) -> Strategy:
    strategy = make(name)
    strategy.reset(np.random.default_rng(seed))
    return strategy


def runs(strategy: Strategy) -> list:
    """A matrix match, a stack run without grid and one with a grid, one after another."""
    matrix = play_matrix(strategy, "CDDCDCCDDDCCDCDDDCCC" * 3)
    return [
        matrix,
        summary(play_stack(strategy, ROUNDS)),
        summary(play_stack(strategy, ROUNDS, grid=GRID)),
    ]


def test_at_least_thirty_strategies_in_every_family():
    assert len(NAMES) >= 30
    assert {all_strategies()[n].classifier.family for n in NAMES} == FAMILIES


@pytest.mark.parametrize("name", NAMES)
def test_classifier_and_docstring(name):
    cls = all_strategies()[name]
    c = cls.classifier
    assert cls.name == name and re.fullmatch(r"[a-z][a-z0-9_]*", name)
    assert c.family in FAMILIES
    assert c.memory_depth == float("inf") or (
        float(c.memory_depth).is_integer() and c.memory_depth >= 0
    )
    doc = inspect.getdoc(cls) or ""
    assert len(doc.splitlines()[0]) > 10
    assert re.search(r"\d{3}_[0-9a-f]{16}\.txt|Axelrod|\(\d{4}\)|\d{4}\)|\[\w+\d{4}\]_", doc), doc


@pytest.mark.parametrize("name", NAMES)
def test_actions_name_only_the_observations_layers(name):
    strategy = seeded(name)
    played = play_stack(strategy, ROUNDS) + play_stack(strategy, ROUNDS, grid=GRID)
    matrix = make_obs("CD", "DD")
    played.append((matrix, strategy.decide(matrix)))
    for obs, action in played:
        assert set(action.postures) <= set(obs.layers)
        assert set(action.markups) <= set(obs.layers)
        assert set(action.quantities) <= set(obs.layers)
        assert all(np.isfinite(m) for m in action.markups.values())
        move = action.integration
        if move.move in (Move.BUILD, Move.BUY):
            assert move.layer in obs.integrable
        if move.move in (Move.BUY, Move.STAKE):
            assert move.target in obs.counterparts
        for offer in action.contracts:
            assert offer.seller in obs.suppliers_by_layer.get(offer.layer, ())
            assert offer.quantity > 0 and np.isfinite(offer.quantity) and offer.duration >= 1


@pytest.mark.parametrize("name", NAMES)
def test_matrix_view_without_layers(name):
    """The tournament's matrix games pass ``layers=()``: a uniform posture is all there is."""
    action = seeded(name).decide(make_obs("CC", "CD", layers=()))
    assert not action.postures and not action.markups


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_strategies_repeat_and_never_draw(name):
    first, second = seeded(name, 1), seeded(name, 2)
    state = first.rng.bit_generator.state
    assert runs(first) == runs(second)
    assert first.rng.bit_generator.state == state


@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_strategies_replay_under_a_seed_and_vary_across_seeds(name):
    strategy = make(name)
    strategy.reset(np.random.default_rng(11))
    first = runs(strategy)
    strategy.reset(np.random.default_rng(11))
    assert runs(strategy) == first
    others = []
    for seed in (12, 13, 14):
        strategy.reset(np.random.default_rng(seed))
        others.append(runs(strategy))
    assert any(other != first for other in others)


@pytest.mark.parametrize("name", NAMES)
def test_reset_clears_state(name):
    strategy = seeded(name, 5)
    play_stack(strategy, ROUNDS, grid=OTHER_GRID)
    play_matrix(strategy, "DDDDDDDDDD")
    strategy.reset(np.random.default_rng(7))
    after_reset = runs(strategy)
    assert after_reset == runs(seeded(name, 7))


def _history_variants(last: str, prefixes: tuple[str, str]) -> tuple[Observation, Observation]:
    """Two stack observations whose histories differ only before the last rounds ``last``."""
    obs = []
    for prefix in prefixes:
        own, other = prefix + last, prefix[::-1] + last[::-1]
        base = make_obs(own, other, table=None, payoffs=[float(i % 4) for i in range(len(own))])
        obs.append(
            stack_obs(
                round=len(own),
                own_postures=base.own_postures,
                own_payoffs=base.own_payoffs,
                own_margins=base.own_margins,
                own_markups=tuple(0.1 + 0.4 * p for p in base.own_postures),
                counterpart_history=base.counterpart_history,
                counterpart_postures={"azure": base.counterpart_history},
                counterpart_markups={
                    "azure": tuple(0.1 + 0.4 * p for p in base.counterpart_history)
                },
                market={x: view(restraint_rate=0.3) for x in ("chips", "cloud")},
                utilisation={"chips": 0.9, "cloud": 0.9},
                supplier_margins={"tsmc": 0.6},
            )
        )
    return obs[0], obs[1]


@pytest.mark.parametrize(
    "name", [n for n in NAMES if all_strategies()[n].classifier.memory_depth == 0]
)
def test_memory_zero_ignores_history(name):
    cases = [
        (make_obs("", ""), make_obs("CDDC", "DDCD")),
        (make_obs("CCCC", "CCCC"), make_obs("DDDD", "DDDD")),
        (stack_obs(round=3), _history_variants("CD", ("DDC", "CCD"))[0].replace(round=3)),
    ]
    for left, right in cases:
        history_free = left.replace(
            market={}, utilisation={}, supplier_margins={}, demand_growth=0.0, round=right.round
        )
        assert summary([(left, seeded(name, 3).decide(history_free))]) == summary(
            [
                (
                    right,
                    seeded(name, 3).decide(
                        right.replace(market={}, utilisation={}, supplier_margins={})
                    ),
                )
            ]
        )


@pytest.mark.parametrize(
    "name", [n for n in NAMES if 0 < all_strategies()[n].classifier.memory_depth < float("inf")]
)
def test_finite_memory_reads_only_the_last_rounds(name):
    depth = int(all_strategies()[name].classifier.memory_depth)
    for last in ("CD" * depth, "D" * depth, "C" * depth):
        for prefixes in (("CCDCC", "DDCDD"), ("CCCCC", "DDDDD")):
            left, right = _history_variants(last[:depth], prefixes)
            left_action = seeded(name, 3).decide(left)
            right_action = seeded(name, 3).decide(right)
            assert summary([(left, left_action)]) == summary([(right, right_action)])


@pytest.mark.parametrize("name", NAMES)
def test_integration_only_when_classified(name):
    uses = all_strategies()[name].classifier.uses_integration
    strategy = seeded(name)
    played = play_stack(strategy, ROUNDS) + play_stack(seeded(name), ROUNDS, grid=GRID)
    moves = [a.integration.move for _, a in played if a.integration.move is not Move.STAY]
    assert bool(moves) == uses, moves


@pytest.mark.parametrize("name", NAMES)
def test_markup_grid_only_when_classified(name):
    uses = all_strategies()[name].classifier.uses_markup_grid
    on_one = summary(play_stack(seeded(name), ROUNDS, grid=GRID))
    on_other = summary(play_stack(seeded(name), ROUNDS, grid=OTHER_GRID))
    assert (on_one != on_other) == uses


@pytest.mark.parametrize("name", NAMES)
def test_no_global_randomness(name):
    results = []
    for seed in (1, 2):
        np.random.seed(seed)  # noqa: NPY002 (the global generator must not matter)
        pyrandom.seed(seed)
        results.append(runs(seeded(name, 9)))
    assert results[0] == results[1]


def test_every_strategy_class_in_the_package_is_registered():
    registered = set(all_strategies().values())
    found = []
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, Strategy)
                and obj is not Strategy
                and obj.__module__ == module.__name__
            ):
                found.append(obj)
    assert found
    missing = [cls.__name__ for cls in found if cls not in registered]
    assert not missing


def test_matrix_helper_plays_the_pd():
    assert play_matrix(make("tit_for_tat"), "CDDC") == ("CCDD", "CDDC")
    assert make_obs("CD", "DD").own_payoffs == (0.0, 1.0)
    assert C is not D


@pytest.mark.parametrize("name", NAMES)
def test_learns_means_payoffs_change_play(name):
    """With the table hidden, only a learner plays differently when the payoffs differ."""
    learns = all_strategies()[name].classifier.learns
    opponent = "CDCCDDCDDC" * 6
    plays = [
        play_matrix(seeded(name, 8), opponent, table=t, show_table=False)[0]
        for t in (PD, RESTRAIN_DOMINANT)
    ]
    assert (plays[0] != plays[1]) == learns


CACHEABLE = [
    n
    for n in NAMES
    if not (c := all_strategies()[n].classifier).stochastic
    and not c.learns
    and c.memory_depth < float("inf")
]


@pytest.mark.parametrize("name", CACHEABLE)
def test_matrix_play_depends_only_on_the_last_moves(name):
    """The matrix engine caches such strategies by (round if round < depth, last moves)."""
    depth = int(all_strategies()[name].classifier.memory_depth)
    for last_own, last_other in (
        ("C" * depth, "D" * depth),
        ("D" * depth, "C" * depth),
        ("CD" * depth, "DC" * depth),
    ):
        tail_own, tail_other = last_own[:depth], last_other[:depth]
        decisions = {
            make(name)
            .decide(make_obs(prefix + tail_own, prefix[::-1] + tail_other, layers=()))
            .headline
            for prefix in ("", "C", "DD", "CDCDDC", "DDDDDDDDDDDD")
        }
        assert len(decisions) == 1, (name, tail_own, tail_other)


def test_a_fresh_strategy_has_a_generator_seeded_with_zero_until_reset():
    strategy = all_strategies()["random"]()
    assert "rng" not in vars(strategy)  # made on first use only
    assert strategy.rng.random() == np.random.default_rng(0).random()
    injected = np.random.default_rng(9)
    strategy.reset(injected)
    assert strategy.rng is injected


PLANNERS = [n for n in NAMES if type(make(n)).plan is not Strategy.plan]


def test_only_memoryless_strategies_plan():
    assert "random" in PLANNERS
    for name in PLANNERS:
        assert all_strategies()[name].classifier.memory_depth == 0, name


@pytest.mark.parametrize("name", PLANNERS)
@pytest.mark.parametrize("rounds", [1, 7, 200])
def test_a_plan_is_what_deciding_every_round_would_play(name, rounds):
    """Same moves, same draws, same generator state afterwards (Strategy.plan's promise)."""
    planner, decider = seeded(name, 3), seeded(name, 3)
    planned = planner.plan(rounds)
    assert planned is not None and len(planned) == rounds
    other = "CDDC" * rounds
    decided = [
        decider.decide(make_obs(other[k:0:-1][:k], other[:k], round=k)).headline
        for k in range(rounds)
    ]
    assert list(planned) == decided
    assert all(type(m) is Posture for m in planned)
    assert planner.rng.bit_generator.state == decider.rng.bit_generator.state
