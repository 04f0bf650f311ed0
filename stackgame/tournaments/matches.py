"""Playing one match of a tournament: a matrix-game match or a stack simulation.

:func:`play_task` is the executor's entry point (a module-level function, so it pickles);
:func:`play_matrix` and :func:`play_stack` turn a
:class:`~stackgame.tournaments.spec.MatchSpec` into one row of scalars. The match
cache and the decision cache live here, per process
(see :mod:`stackgame.tournaments.tournament` and :func:`stackgame.tournaments.games.play_match`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from stackgame import seeds
from stackgame.strategies.base import Strategy
from stackgame.tournaments.games import GAMES, MatchResult, Posture, play_match
from stackgame.tournaments.spec import (
    MatchSpec,
    TournamentSpec,
    scoring_rate,
    strategy_classes,
)

_DECISION_CACHE: dict[Any, dict[tuple[int, int], Posture]] = {}
_MATCH_CACHE: dict[tuple[Any, ...], MatchResult] = {}


def play_matrix(spec: TournamentSpec, match: MatchSpec) -> dict[str, Any]:
    """Play one matrix-game match; its row: per-turn scores, restraint, value share.

    Returns
    -------
    dict
        ``turns``; per player ``k`` in 0, 1: ``score_k`` (mean payoff per turn),
        ``restraint_k`` (share of turns restrained), ``value_share_k`` (own share of the
        two players' total payoff, 0.5 when both are zero), and ``winner`` (0, 1 or -1
        for a tie, by total payoff as in Axelrod).
    """
    game = GAMES[spec.game]
    cls_a, cls_b = strategy_classes(match.profile)
    # a match of fixed length without noise is the same for every seed when both players
    # are deterministic, or once one repetition drew no random number (a stochastic
    # strategy that never needs to draw against this opponent, such as generous
    # tit-for-tat against a cooperator); see MatchResult.seed_free
    cacheable = spec.noise == 0 and spec.prob_end is None
    deterministic = not cls_a.classifier.stochastic and not cls_b.classifier.stochastic
    key = (
        game.table,
        cls_a,
        cls_b,
        spec.turns,
        repr(spec.strategy_params.get(match.profile[0])),
        repr(spec.strategy_params.get(match.profile[1])),
    )
    result = _MATCH_CACHE.get(key) if cacheable else None
    if result is None:
        result = play_match(
            game,
            (spec.make(match.profile[0]), spec.make(match.profile[1])),
            match.seed,
            turns=spec.turns,
            prob_end=spec.prob_end,
            noise=spec.noise,
            decision_cache=_DECISION_CACHE,
        )
        if cacheable and (deterministic or result.seed_free):
            _MATCH_CACHE[key] = result
    n = max(result.turns, 1)
    total = result.scores[0] + result.scores[1]
    share = result.scores[0] / total if total else 0.5
    winner = result.winner
    return {
        "turns": result.turns,
        "score_0": result.scores[0] / n,
        "score_1": result.scores[1] / n,
        "restraint_0": result.restraints[0] / n,
        "restraint_1": result.restraints[1] / n,
        "value_share_0": share,
        "value_share_1": 1.0 - share,
        "winner": -1 if winner is None else winner,
    }


def play_stack(spec: TournamentSpec, match: MatchSpec) -> dict[str, Any]:
    """Play one stack match: a simulation with the profile in the contested seats.

    The number of rounds is ``turns``, or geometric with end probability ``prob_end``
    drawn from the match's own generator; the simulation's seed is derived from the
    match seed. With ``noise`` each contested seat plays through :class:`NoisyStrategy`.
    Each seat ``k`` reports ``payoff_k`` (its firm's discounted value per round at the
    spec's or the scenario's discount rate, :meth:`RunResult.discounted_payoffs`: the
    mean per round at rate 0), ``mean_payoff_k`` (the undiscounted mean per round),
    ``present_value_k`` (``sum_t delta^t pi_t``), ``restraint_k`` (share of its operations' rounds
    restrained, from the run summary), ``integration_k`` (1 if it entered a layer by
    integration), ``value_share_k`` (its share of cumulative stack operating profit).
    """
    from stackgame.simulation.simulate import RunResult, build
    from stackgame.tournaments.tabulated import play_stack_tabulated

    # learners on a stationary stage game, scored by their undiscounted mean
    tabulated = play_stack_tabulated(spec, match) if scoring_rate(spec) == 0 else None
    if tabulated is not None:
        return tabulated
    rounds = spec.turns
    if spec.prob_end is not None:
        rounds = int(seeds.generator(match.seed, 0).geometric(spec.prob_end))
    sim_seed = seeds.seed32(seeds.child(match.seed, 1))
    strategies = dict(zip(spec.seats, match.profile, strict=True))
    model = build(
        spec.scenario or "ai-stack-2026", rounds=rounds, seed=sim_seed, strategies=strategies
    )
    _keep_contested_strategies(model, set(strategies))
    try:
        for firm in model.firms:
            if firm.name not in strategies:
                continue
            name = strategies[firm.name]
            if name in spec.strategy_params:
                firm.set_strategy(spec.make(name))
            if spec.noise > 0:
                firm.set_strategy(NoisyStrategy(firm.strategy, spec.noise))
        model.run()
        run = RunResult.from_model(model)
    finally:
        model.release()
    means = run.payoffs()
    payoffs = run.discounted_payoffs(spec.discount_rate)
    present = run.present_values(spec.discount_rate)
    if spec.score_last is not None:
        value = run.firms["value"][-spec.score_last :]
        means = {n: float(value[:, i].mean()) for i, n in enumerate(run.firm_names)}
        payoffs = means
    summary = run.summary
    firms = {f["name"]: f for f in summary["firms"]}
    row: dict[str, Any] = {"turns": int(summary.get("rounds", rounds or 0))}
    for k, seat in enumerate(spec.seats):
        firm = firms[seat]
        row[f"payoff_{k}"] = float(payoffs[seat])
        row[f"mean_payoff_{k}"] = float(means[seat])
        row[f"present_value_{k}"] = round(float(present[seat]), 10) + 0.0  # 10 decimals
        row[f"restraint_{k}"] = float(firm["restraint_rate"])
        row[f"integration_{k}"] = float(bool(firm.get("integrated")))
        row[f"value_share_{k}"] = float(firm["value_share"])
    return row


def _keep_contested_strategies(model: Any, seats: set[str]) -> None:
    """Scheduled events may not replace a contested seat's strategy (others still apply).

    A scenario event such as ``"firms.nvidia.strategy" = "trigger_value_pricing"`` would
    otherwise swap out the strategy under test halfway through the match.
    """
    original = getattr(model, "_set_strategy", None)
    if original is None:
        return

    def set_strategy(firm: str, strategy: str) -> None:
        if firm not in seats:
            original(firm, strategy)

    model._set_strategy = set_strategy


class NoisyStrategy(Strategy):
    """A strategy whose chosen postures are flipped with probability ``noise``.

    Each round, each layer's posture (and the default posture) the inner strategy chose
    is flipped independently with probability ``noise``, drawn from this wrapper's
    generator; the inner strategy gets its own generator spawned from the injected one.
    Explicit markups (learners on a grid) override postures and are left alone. The
    stack's counterpart of Axelrod's noisy matches.
    """

    def __init__(self, inner: Strategy, noise: float) -> None:
        super().__init__()
        self.inner = inner
        self.noise = float(noise)

    @property
    def name(self) -> str:
        """The inner strategy's name (the results report it)."""
        return self.inner.name

    @property
    def classifier(self) -> Any:
        """The inner strategy's classifier, made stochastic."""
        import dataclasses

        return dataclasses.replace(type(self.inner).classifier, stochastic=True)

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Reset the inner strategy with a generator spawned from ``rng``."""
        super().reset(rng)
        self.inner.reset(self.rng.spawn(1)[0])

    def decide(self, observation: Any) -> Any:
        """The inner action with each posture flipped with probability ``noise``."""
        import dataclasses

        action = self.inner.decide(observation)
        flip = self.rng.random(len(action.postures) + 1) < self.noise
        if not flip.any():
            return action
        postures = {
            layer: Posture(1 - p) if f else p
            for (layer, p), f in zip(action.postures.items(), flip[1:], strict=True)
        }
        default = Posture(1 - action.default) if flip[0] else action.default
        return dataclasses.replace(action, postures=postures, default=default)


def play_task(task: Any) -> dict[str, Any]:
    """Executor entry point: play the match described by ``task.params`` with ``task.seed``.

    ``task.params`` holds ``spec`` (:meth:`TournamentSpec.to_dict`), ``index``,
    ``repetition`` and ``profile``; the row repeats the profile so that the store alone
    records each match's configuration.
    """
    spec = _spec_from_params(task.params["spec"])
    match = MatchSpec(
        int(task.params["index"]),
        int(task.params["repetition"]),
        tuple(task.params["profile"]),
        int(task.seed),
    )
    return _play(spec, match)


_SPEC_CACHE: dict[str, TournamentSpec] = {}


def _spec_from_params(d: Mapping[str, Any]) -> TournamentSpec:
    import json

    key = json.dumps(d, sort_keys=True)
    spec = _SPEC_CACHE.get(key)
    if spec is None:
        spec = _SPEC_CACHE[key] = TournamentSpec.from_dict(d)
    return spec


def _play(spec: TournamentSpec, match: MatchSpec) -> dict[str, Any]:
    row: dict[str, Any] = {f"strategy_{k}": name for k, name in enumerate(match.profile)}
    row["index"] = match.index
    row["repetition"] = match.repetition
    row.update(play_stack(spec, match) if spec.is_stack else play_matrix(spec, match))
    return row


def play_chunk(
    args: tuple[TournamentSpec | dict[str, Any], list[MatchSpec]],
) -> list[dict[str, Any]]:
    """Play ``matches`` of a tournament given as a spec (in process) or its dictionary."""
    given, matches = args
    spec = given if isinstance(given, TournamentSpec) else _spec_from_params(given)
    out = []
    for m in matches:
        t0 = time.perf_counter()
        row = {"run_id": m.run_id, "seed": m.seed, "status": "ok", "error": None}
        row.update(_play(spec, m))
        row["elapsed_seconds"] = time.perf_counter() - t0
        out.append(row)
    return out
