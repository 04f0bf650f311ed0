"""Learners on a tabulated stage game: the stack's payoffs computed once, then a compiled loop.

When the stage game is *stationary* (a round's payoffs depend on this round's actions
alone: no integration, no events, no regulator, no demand growth or shocks, no capital to
depreciate, no firm that can fail), a session of learners on the markup grid needs the
model only to know what each profile of grid actions pays. :func:`stage_table` finds
out through the model itself: it builds the scenario's
:class:`~stackgame.environment.model.StackModel`, has every firm play each profile of
arms in turn (the actions :func:`stackgame.strategies.learners.arm_action` builds, as a
learner would), and reads back, from the next round's observation, exactly what a
learner reads: its own payoff (``own_payoffs[-1]``) and the counterpart arm
(:func:`stackgame.strategies.learners.counterpart_arm`). The economics is not written a
second time: the clearing, payouts and observations are the model's. Every profile is
then played a second time, in the reverse order (so after another predecessor and in a
later round), and the table is used only if both passes agree bit for bit.

:func:`play_q_session` then plays :class:`~stackgame.strategies.learners.QLearning` firms
on the table in :func:`stackgame.tournaments.learning_kernel.q_session`, with each firm's
own generator, so the session is the one the general path plays, draw for draw
(``tests/stackgame/tournaments/test_tabulated.py`` plays both and compares), at about ten
million periods a second instead of a couple of thousand.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stackgame import seeds
from stackgame.strategies.base import Action, Classifier, Observation, Strategy
from stackgame.strategies.learners import QLearning, arm_action, counterpart_arm

Q_INITS = ("first_payoff", "uniform_rival")
"""How Q starts: the strategy's rule (every entry ``r_0 / (1 - gamma)`` from the first
payoff seen) or Calvano et al.'s eq. (8) (each arm's discounted payoff against rivals
randomising uniformly over the grid), which needs the table."""


def stationary_problem(scenario: Any) -> str | None:
    """Why the scenario's stage game may not be stationary (``None``: nothing found).

    Checked on the scenario's data: the payoff of a profile of markups must not depend
    on the round or on the past. The table is also checked by playing it twice
    (see :func:`stage_table`).
    """
    if scenario.events and any(e.enabled for e in scenario.events):
        return "it has scheduled events"
    if scenario.regulator.enabled:
        return "its regulator is enabled"
    if scenario.allow_integration and any(f.can_integrate for f in scenario.firms):
        return "firms may integrate"
    if scenario.demand.growth != 0 or scenario.demand.volatility > 0:
        return "demand grows or is shocked"
    if scenario.stakes:
        return "it has equity stakes"
    if scenario.timing != "simultaneous":
        return "its timing is sequential"
    for f in scenario.firms:
        for layer, op in f.ops.items():
            if op.capital > 0 or op.capacity_growth != 0:
                return f"{f.name} has capital or growing capacity in {layer}"
    return None


class _ProfilePlayer(Strategy):
    """Plays a given sequence of arms and records what it observes after each (internal).

    ``arms[r]`` is played in round ``r``; in round ``r + 1`` the payoff of round ``r``
    and the counterpart arm a learner would see are recorded.
    """

    name = "tabulating"
    classifier = Classifier(memory_depth=1, uses_markup_grid=True)

    def __init__(self, arms: Sequence[int]) -> None:
        super().__init__()
        self.arms = list(arms)
        self.payoffs: list[float] = []
        self.others: list[int] = []

    def decide(self, observation: Observation) -> Action:
        """Record last round's payoff and counterpart arm; play this round's arm."""
        if observation.own_payoffs:
            other = counterpart_arm(observation)
            self.payoffs.append(float(observation.own_payoffs[-1]))
            self.others.append(-1 if other is None else int(other))
        r = observation.round
        return arm_action(observation, self.arms[r] if r < len(self.arms) else 0)


@dataclass(frozen=True)
class StageTable:
    """A stationary stage game tabulated over the learners' arms.

    Attributes
    ----------
    scenario
        The scenario's name.
    firms
        Firm names, in the model's order (firm 0 is the most significant digit of a
        profile index).
    k
        Arms per firm (the markup grid's size, or the two postures).
    grid
        The markups of the arms (empty for postures).
    payoff
        ``payoff[profile, i]``, firm ``i``'s payoff (its value for the round).
    other
        ``other[profile, i]``, the counterpart arm firm ``i`` sees next round.
    extract
        ``extract[profile, i]``: how many of firm ``i``'s operations extract (a markup
        above the restrain markup, as the model records postures).
    n_ops
        Each firm's number of operations.
    """

    scenario: str
    firms: tuple[str, ...]
    k: int
    grid: tuple[float, ...]
    payoff: np.ndarray
    other: np.ndarray
    extract: np.ndarray
    n_ops: np.ndarray

    def profile_arms(self, profile: int) -> tuple[int, ...]:
        """The arms of a profile index, firm by firm."""
        arms = []
        for _ in self.firms:
            profile, a = divmod(profile, self.k)
            arms.append(a)
        return tuple(reversed(arms))

    def uniform_rival_q(self, gamma: float) -> np.ndarray:
        """Calvano et al.'s (2020) initial Q, eq. (8), for every firm: ``q[i, state, arm]``.

        ``Q0(s, a) = sum_{a_-i} pi_i(a, a_-i) / ((1 - delta) k^(n-1))`` in every state:
        the discounted payoff of arm ``a`` against rivals randomising uniformly.
        """
        n = len(self.firms)
        q = np.empty((n, self.k * self.k + 1, self.k))
        for i in range(n):
            u = self.payoff[:, i].reshape((self.k,) * n)
            axes = tuple(j for j in range(n) if j != i)
            q[i, :, :] = u.mean(axis=axes) / (1 - gamma) if axes else u / (1 - gamma)
        return q


class TabulationError(ValueError):
    """The stage game cannot be tabulated (not stationary, or too large)."""


MAX_PROFILES = 20_000
"""Largest table built (``k ** n`` profiles; each costs a round of the model, twice)."""


def stage_table(scenario: Any) -> StageTable:
    """Tabulate ``scenario``'s stage game through the model (cached per scenario).

    Raises
    ------
    TabulationError
        When the scenario is not stationary, the table would be too large, the two
        passes disagree, or a payoff is negative (a loss could make a firm fail).
    """
    from stackgame.environment.scenario import resolve

    sc = resolve(scenario)
    return _stage_table(sc.model_dump_json(), sc.name)


@functools.lru_cache(maxsize=16)
def _stage_table(scenario_json: str, name: str) -> StageTable:
    from stackgame.environment.model import StackModel
    from stackgame.environment.scenario import Scenario

    sc = Scenario.model_validate_json(scenario_json)
    problem = stationary_problem(sc)
    if problem is not None:
        raise TabulationError(f"scenario {name!r} is not a stationary stage game: {problem}")
    n = len(sc.firms)
    grid = tuple(float(m) for m in sc.markup_grid)
    k = len(grid) or 2
    size = k**n
    if size > MAX_PROFILES:
        raise TabulationError(f"scenario {name!r}: {k}^{n} profiles is more than {MAX_PROFILES}")
    order = list(range(size)) + list(reversed(range(size)))
    digits = [[(p // k ** (n - 1 - i)) % k for p in order] for i in range(n)]
    model = StackModel(sc, seed=0, rounds=len(order) + 1, collect=False)
    players = [_ProfilePlayer(digits[i]) for i in range(n)]
    try:
        for firm, player in zip(model.firms, players, strict=True):
            firm.set_strategy(player)
        for _ in range(len(order) + 1):
            model.step()
        # each firm's count of extracting operations per round (the summary's restraint)
        ops_posture = model.history.ops_matrix("posture")[: len(order)]
        firm_of = model.state.firm_of
        posture = np.stack(
            [ops_posture[:, firm_of == i].sum(axis=1) for i in range(n)], axis=1
        ).astype(np.int64)
        n_ops = np.array([int((firm_of == i).sum()) for i in range(n)], dtype=np.int64)
    finally:
        model.release()
    payoff = np.array([p.payoffs for p in players]).T  # [round, firm]
    other = np.array([p.others for p in players]).T
    first = payoff[:size]
    same = all(np.array_equal(x[:size], x[size:][::-1]) for x in (payoff, other, posture))
    if not same:
        raise TabulationError(
            f"scenario {name!r}: a profile paid differently in another round or after "
            "another profile (the stage game is not stationary)"
        )
    # (a loss could make a firm fail in a long session; rounding noise around 0 is no loss)
    tolerance = 1e-9 * max(1.0, float(np.abs(first).max()))
    if (first < -tolerance).any() or (other[:size] < 0).any():
        raise TabulationError(f"scenario {name!r}: a profile of grid markups makes a loss")
    return StageTable(
        name,
        tuple(f.name for f in sc.firms),
        k,
        grid,
        np.ascontiguousarray(first),
        np.ascontiguousarray(other[:size], dtype=np.int64),
        np.ascontiguousarray(posture[:size]),
        n_ops,
    )


def firm_generators(sim_seed: int, n: int) -> list[np.random.Generator]:
    """The generators the model gives its ``n`` firms for root seed ``sim_seed``.

    ``StackModel`` spawns ``2 + n`` children of ``SeedSequence(seed)`` (regulator, shocks,
    then one per firm, in order).
    """
    return [seeds.generator(sim_seed, 2 + i) for i in range(n)]


@dataclass(frozen=True)
class Session:
    """One session of learners on a tabulated stage game.

    Attributes
    ----------
    periods
        Periods played.
    converged
        Whether the stopping rule fired (``False`` with no rule, or at the cap).
    payoffs
        Each firm's mean payoff over the scored periods (the last ``score_last``, or all).
    totals
        Each firm's total payoff over the session, summed in period order.
    restraint
        Each firm's share of periods at a restrain posture.
    cycle_payoffs
        Each firm's mean payoff over the cycle greedy play reaches from the last profile
        (Calvano et al.'s profit "upon convergence").
    cycle
        The profiles of that cycle.
    trace
        Every period's profile, when asked for.
    """

    periods: int
    converged: bool
    payoffs: tuple[float, ...]
    totals: tuple[float, ...]
    restraint: tuple[float, ...]
    cycle_payoffs: tuple[float, ...]
    cycle: tuple[int, ...]
    trace: np.ndarray | None = None


def play_q_session(
    table: StageTable,
    learners: Sequence[QLearning],
    rngs: Sequence[np.random.Generator],
    max_periods: int,
    *,
    stable: int = 0,
    score_last: int | None = None,
    q_init: str = "first_payoff",
    trace: bool = False,
) -> Session:
    """Play one session of Q-learners (one per firm of the table) in the compiled loop.

    Parameters
    ----------
    table
        The tabulated stage game.
    learners
        One :class:`QLearning` per firm (their ``alpha``, ``gamma`` and ``beta`` must
        agree: the loop takes one of each).
    rngs
        One generator per firm (:func:`firm_generators` gives the model's).
    max_periods
        Periods to play, or the cap with a stopping rule.
    stable
        Calvano et al.'s rule: stop once no firm's greedy strategy has changed for this
        many consecutive periods (0: play ``max_periods``).
    score_last
        Score each firm by its mean payoff over the last this many periods (all: ``None``).
    q_init
        One of :data:`Q_INITS`.
    trace
        Keep every period's profile.
    """
    from stackgame.tournaments.learning_kernel import greedy_cycle, q_session

    n = len(table.firms)
    if len(learners) != n or len(rngs) != n:
        raise ValueError(f"need one learner and one generator per firm ({n})")
    params = {(q.alpha, q.gamma, q.beta) for q in learners}
    if len(params) != 1:
        raise ValueError("the learners' alpha, gamma and beta must agree")
    alpha, gamma, beta = params.pop()
    if q_init not in Q_INITS:
        raise ValueError(f"q_init must be one of {', '.join(Q_INITS)}, got {q_init!r}")
    if q_init == "uniform_rival":
        q = table.uniform_rival_q(gamma)
        initialised = np.ones(n, np.bool_)
    else:
        q = np.zeros((n, table.k * table.k + 1, table.k))
        initialised = np.zeros(n, np.bool_)
    keep = max_periods if score_last is None else min(score_last, max_periods)
    last = np.zeros(keep, np.int64)
    trace_buf = np.zeros(max_periods if trace else 0, np.int64)
    periods, converged, extracts, totals, final = q_session(
        table.payoff, table.other, table.k, q, initialised, alpha, gamma, beta,
        tuple(rngs), max_periods, stable, last, table.extract, trace_buf,
    )  # fmt: skip
    scored = last[: min(periods, keep)]
    payoffs = tuple(float(table.payoff[scored, i].mean()) for i in range(n))
    cycle_buf = np.zeros(table.payoff.shape[0], np.int64)
    _, length = greedy_cycle(q, table.other, table.k, final, cycle_buf)
    cycle = cycle_buf[:length]
    for learner, q_i in zip(learners, q, strict=True):  # leave each learner where it ended
        learner.q = q_i.copy()
        learner.initialised = True
    return Session(
        periods=int(periods),
        converged=bool(converged),
        payoffs=payoffs,
        totals=tuple(float(x) for x in totals),
        restraint=tuple(
            1.0 - float(e) / float(periods * m) for e, m in zip(extracts, table.n_ops, strict=True)
        ),
        cycle_payoffs=tuple(float(table.payoff[cycle, i].mean()) for i in range(n)),
        cycle=tuple(int(c) for c in cycle),
        trace=trace_buf[:periods] if trace else None,
    )


def tabulated_q_learners(
    scenario: Any, strategies: Mapping[str, str], params: Mapping[str, Mapping[str, Any]]
) -> tuple[StageTable, list[QLearning]] | None:
    """The table and the learners when every firm of ``scenario`` is a Q-learner on it.

    ``strategies`` maps the contested seats to strategy names; every firm of the
    scenario must be one of them and play ``q_learning`` (with the same parameters),
    and the scenario must tabulate. ``None`` otherwise: the general path plays it.
    """
    from stackgame.environment.scenario import resolve

    sc = resolve(scenario)
    names = [f.name for f in sc.firms]
    if set(strategies) != set(names) or any(s != QLearning.name for s in strategies.values()):
        return None
    if stationary_problem(sc) is not None:
        return None
    try:
        table = stage_table(sc)
    except TabulationError:
        return None
    learners = [QLearning(**params.get(QLearning.name, {})) for _ in names]
    return table, learners


def match_generators(
    match_seed: int, n: int, prob_end: float | None, turns: int | None
) -> tuple[int, list[np.random.Generator]]:
    """A stack match's length and its firms' generators, as :func:`play_stack` makes them.

    The match seed splits into the match's own generator (the length, with ``prob_end``)
    and the simulation's seed, from which the model spawns each firm's generator.
    """
    rounds = turns
    if prob_end is not None:
        rounds = int(seeds.generator(match_seed, 0).geometric(prob_end))
    if rounds is None:
        raise ValueError("a match needs a number of turns or an end probability")
    sim_seed = seeds.seed32(seeds.child(match_seed, 1))
    return rounds, firm_generators(sim_seed, n)


def _rounded(x: float) -> float:
    """The summary's rounding of shares and rates (``environment.summary``): 10 decimals."""
    return round(float(x), 10) + 0.0


def play_stack_tabulated(spec: Any, match: Any) -> dict[str, Any] | None:
    """A stack tournament match's row from the tabulated path, or ``None`` if it does not apply.

    It applies when every firm of the scenario is a contested seat playing
    ``q_learning``, there is no noise, and the scenario tabulates; the row is then the
    one :func:`stackgame.tournaments.matches.play_stack` computes through the model (the
    same session, draw for draw; shares and rates rounded as the summary rounds them).
    """
    if spec.noise > 0:
        return None
    strategies = dict(zip(spec.seats, match.profile, strict=True))
    found = tabulated_q_learners(spec.scenario or "ai-stack-2026", strategies,
                                 spec.strategy_params)  # fmt: skip
    if found is None:
        return None
    table, learners = found
    rounds, rngs = match_generators(match.seed, len(table.firms), spec.prob_end, spec.turns)
    session = play_q_session(table, learners, rngs, rounds, score_last=spec.score_last)
    total = sum(session.totals)
    row: dict[str, Any] = {"turns": session.periods}
    for k, seat in enumerate(spec.seats):
        i = table.firms.index(seat)
        row[f"payoff_{k}"] = session.payoffs[i]
        row[f"mean_payoff_{k}"] = session.payoffs[i]  # (played only at discount rate 0)
        row[f"present_value_{k}"] = _rounded(session.totals[i])  # (sums differ in order)
        row[f"restraint_{k}"] = _rounded(session.restraint[i])
        row[f"integration_{k}"] = 0.0
        share = session.totals[i] / total if abs(total) > 1e-12 else 0.0
        row[f"value_share_{k}"] = _rounded(share)
    return row
