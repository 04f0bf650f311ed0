"""Observation builders and tiny match loops for the strategy tests.

Two views of the world:

* the matrix-game view (``make_obs``, ``play_matrix``): firm ``"player"`` against one
  ``"opponent"``, the prisoner's dilemma table ``PD`` shown as ``stage_payoffs``;
* the stack view (``stack_obs``, ``play_stack``): a firm selling chips and cloud with
  suppliers, customers, rivals, market data, utilisation, triggers and a markup grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from stackgame.strategies import (
    EXTRACT,
    RESTRAIN,
    Action,
    LayerView,
    Observation,
    Posture,
    Strategy,
)

C, D = RESTRAIN, EXTRACT
Table = tuple[tuple[float, float], tuple[float, float]]

#: Prisoner's dilemma, row player's payoff [own][other], 0 = restrain: R=3, S=0, T=5, P=1.
PD: Table = ((3.0, 0.0), (5.0, 1.0))
#: A game where restraining is strictly dominant (R=4 > T=1, S=2 > P=0).
RESTRAIN_DOMINANT: Table = ((4.0, 2.0), (1.0, 0.0))
#: Coordination game: restrain against restrain pays 2, extract against extract pays 1.
COORDINATION: Table = ((2.0, 0.0), (0.0, 1.0))

GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
OTHER_GRID = (0.05, 0.2, 0.4, 0.8, 1.6)


def moves(text: str) -> tuple[Posture, ...]:
    """Postures from Axelrod letters: ``"CDC"`` -> (RESTRAIN, EXTRACT, RESTRAIN)."""
    return tuple(C if ch == "C" else D for ch in text.replace(" ", ""))


def letters(postures: Sequence[Posture]) -> str:
    """Axelrod letters from postures."""
    return "".join(p.letter for p in postures)


def pd_scores(own: Sequence[Posture], other: Sequence[Posture], table: Table) -> list[float]:
    """Row player's payoffs ``table[own][other]`` round by round."""
    return [table[a][b] for a, b in zip(own, other, strict=False)]


def make_obs(
    own: str | Sequence[Posture] = (),
    other: str | Sequence[Posture] = (),
    *,
    table: Table | None = PD,
    payoffs: Sequence[float] | None = None,
    **fields: Any,
) -> Observation:
    """Matrix-game observation after the histories ``own`` and ``other``.

    Payoffs default to ``table[own][other]`` (``PD`` when no table is shown).
    """
    own_p = moves(own) if isinstance(own, str) else tuple(own)
    other_p = moves(other) if isinstance(other, str) else tuple(other)
    scores = payoffs if payoffs is not None else pd_scores(own_p, other_p, table or PD)
    base: dict[str, Any] = dict(
        round=len(own_p),
        firm="player",
        layers=("market",),
        own_postures=own_p,
        own_payoffs=tuple(float(x) for x in scores),
        own_margins=tuple(float(x) for x in scores),
        counterparts=("opponent",),
        rivals=("opponent",),
        counterpart_postures={"opponent": other_p},
        counterpart_history=other_p,
        stage_payoffs=table,
    )
    base.update(fields)
    return Observation(**base)


def headline(action: Action) -> Posture:
    """The posture a match records for an action."""
    return action.headline


def play_matrix(
    strategy: Strategy,
    opponent: str | Strategy,
    rounds: int | None = None,
    *,
    table: Table = PD,
    show_table: bool = True,
) -> tuple[str, str]:
    """Play ``strategy`` against a scripted move string or another strategy.

    Returns both players' moves as letter strings. The payoffs each side sees are the
    table's; ``show_table=False`` hides the table (the learner must use its payoffs).
    """
    n = len(opponent) if isinstance(opponent, str) else rounds
    assert n is not None
    own: list[Posture] = []
    other: list[Posture] = []
    shown = table if show_table else None
    for t in range(n):
        obs = make_obs(own, other, table=shown, payoffs=pd_scores(own, other, table))
        mine = headline(strategy.decide(obs))
        if isinstance(opponent, str):
            theirs = moves(opponent[t])[0]
        else:
            mirror = make_obs(other, own, table=shown, payoffs=pd_scores(other, own, table))
            theirs = headline(opponent.decide(mirror))
        own.append(mine)
        other.append(theirs)
    return letters(own), letters(other)


def view(
    price: float = 1.0,
    quantity: float = 100.0,
    gross_margin: float = 0.3,
    operating_margin: float = 0.2,
    hhi: float = 0.3,
    restraint_rate: float = 0.5,
) -> LayerView:
    """One layer's public market data."""
    return LayerView(price, quantity, gross_margin, operating_margin, hhi, restraint_rate)


def stack_obs(**fields: Any) -> Observation:
    """Stack observation of a firm (``aws``) selling chips and cloud; override any field."""
    base: dict[str, Any] = dict(
        round=0,
        firm="aws",
        layers=("chips", "cloud"),
        counterparts=("tsmc", "samsung", "anthropic", "openai", "azure"),
        suppliers=("tsmc", "samsung"),
        customers=("anthropic", "openai"),
        rivals=("azure",),
        integrable=("foundry", "models"),
    )
    base.update(fields)
    return Observation(**base)


def rich_script(t: int) -> dict[str, Any]:
    """The world around a stack firm in round ``t``: every archetype's conditions occur.

    Utilisation cycles through idle and full, demand goes up and down, the regulator's
    stance and investigations come and go, supplier margins stay high (so integrators
    build), and the three triggers fire at rounds 20, 30 and 40.
    """
    if t == 0:
        return {}
    cycle = (0.5, 0.7, 0.85, 0.97, 1.0, 0.6, 0.4, 0.9)
    u = cycle[t % len(cycle)]
    rate = 0.2 if t % 3 else 0.8
    market = {
        layer: view(hhi=0.1 + 0.1 * (t % 5), operating_margin=0.1 * (t % 9), restraint_rate=rate)
        for layer in ("foundry", "chips", "cloud", "models", "apps")
    }
    fired = {20: "nvidia_value_pricing", 30: "tsmc_long_term_agreements", 40: "custom_silicon_sale"}
    return dict(
        market=market,
        utilisation={"chips": u, "cloud": min(1.0, u + 0.05)},
        supplier_margins={"tsmc": 0.6, "samsung": 0.55 if t % 13 else 0.2},
        regulator_stance=0.2 if t % 7 < 4 else 0.8,
        under_investigation=t % 11 == 5,
        demand_growth=0.05 if (t // 6) % 2 == 0 else -0.03,
        triggers=frozenset(name for start, name in fired.items() if t >= start),
        suppliers_by_layer={"foundry": ("tsmc", "samsung")},
        input_need={"chips": 40.0 * u, "cloud": 30.0 * u},
    )


#: The scripted counterparts' aggregate posture each round (a fixed pseudo-random mix).
SCRIPTED_OTHER = tuple(Posture(int(x)) for x in np.random.default_rng(2024).integers(0, 2, 400))


def play_stack(
    strategy: Strategy,
    rounds: int,
    script: Callable[[int], Mapping[str, Any]] = rich_script,
    *,
    grid: Sequence[float] = (),
    other: Sequence[Posture] = SCRIPTED_OTHER,
    **fields: Any,
) -> list[tuple[Observation, Action]]:
    """Run ``strategy`` as a stack firm for ``rounds`` rounds against a scripted world.

    Its own history (postures, markups, payoffs) follows from its actions: the payoff of
    a round is the prisoner's-dilemma payoff of its headline posture against the
    counterparts' scripted aggregate posture ``other``, plus its mean markup.
    """
    own: list[Posture] = []
    markups: list[float] = []
    payoffs: list[float] = []
    played: list[tuple[Observation, Action]] = []
    for t in range(rounds):
        history = tuple(other[:t])
        obs = stack_obs(
            round=t,
            own_postures=tuple(own),
            own_payoffs=tuple(payoffs),
            own_margins=tuple(p / 10 for p in payoffs),
            own_markups=tuple(markups),
            counterpart_history=history,
            counterpart_postures={"azure": history, "tsmc": history},
            counterpart_markups={"azure": tuple(0.5 if p is D else 0.1 for p in history)},
            markup_grid=tuple(grid),
            **{**dict(script(t)), **fields},
        )
        action = strategy.decide(obs)
        played.append((obs, action))
        posture = action.headline
        markup = (
            float(np.mean(list(action.markups.values()))) if action.markups else 0.1 + 0.4 * posture
        )
        own.append(posture)
        markups.append(markup)
        payoffs.append(PD[posture][other[t]] + markup)
    return played


def summary(played: Sequence[tuple[Observation, Action]]) -> list[tuple[Any, ...]]:
    """Comparable digest of a run's actions."""
    return [
        (
            a.default,
            tuple(sorted(a.postures.items())),
            tuple(sorted(a.markups.items())),
            a.integration,
        )
        for _, a in played
    ]
