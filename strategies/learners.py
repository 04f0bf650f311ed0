"""Learning strategies: Q-learning, no-regret Hedge and EXP3, fictitious play, best reply.

A learner's *arms* are the markups of ``observation.markup_grid`` when the engine offers
one and the two postures (restrain 0, extract 1) otherwise. Payoffs come from
``observation.own_payoffs`` (the stack: operating profit; a matrix game: the stage
payoff); when the engine shows the stage game's table (``observation.stage_payoffs``,
matrix games only) the full-information learners use it.

Learners keep their state on the instance and :meth:`reset` clears it; every random
draw comes from the injected ``self.rng``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from stackgame.strategies.base import (
    EXTRACT,
    RESTRAIN,
    Action,
    Classifier,
    HistoryMap,
    Observation,
    Posture,
    Strategy,
)
from stackgame.strategies.registry import register

Table = tuple[tuple[float, float], tuple[float, float]]


def markup_action(observation: Observation, markup: float) -> Action:
    """Charge the same explicit markup in every layer the firm sells in.

    The headline posture is extract when the markup lies above the median of the markup
    grid (restrain otherwise), so that posture histories stay meaningful.

    Parameters
    ----------
    observation
        The observation the action answers (its layers and grid).
    markup
        Markup over input cost, ``price = cost * (1 + markup)``.

    Returns
    -------
    Action
        Markups and matching postures for every layer of ``observation``.
    """
    grid = observation.markup_grid
    posture = RESTRAIN
    if grid:
        median = grid_median(grid) if isinstance(grid, tuple) else float(np.median(grid))
        if markup > median:
            posture = EXTRACT
    layers = observation.layers
    return Action(
        postures=dict.fromkeys(layers, posture),
        default=posture,
        markups=dict.fromkeys(layers, float(markup)),
    )


@lru_cache(maxsize=64)
def grid_median(grid: tuple[float, ...]) -> float:
    """``np.median`` of a markup grid, computed once per grid (grids are shared tuples)."""
    return float(np.median(grid))


_NEAREST: dict[int, tuple[Any, Any, int]] = {}
"""The answers :func:`nearest_arm` gave lately, by the mean's identity: (grid, mean, arm)."""
_NEAREST_KEPT = 64
"""How many answers are kept at most (then all are dropped: nothing accumulates)."""


_FLOATS = (float, np.float64)


def nearest_arm(grid: Sequence[float], mean: Any) -> int:
    """The grid point nearest ``mean``: ``argmin |grid - mean|``, the first of ties.

    The answer is kept for the same grid and mean objects (a few dozen at most, held so
    that their identities stay theirs): the learners that share their counterparts read
    one mean object a round (``HistoryMap.mean_of_last``) and one grid tuple, and the
    learners of different layers ask in turn, so one kept answer would rarely be hit.
    """
    known = _NEAREST.get(id(mean))
    if known is not None and known[0] is grid and known[1] is mean:
        return known[2]
    m = float(mean) if type(mean) in _FLOATS else math.nan
    if (
        type(grid) is tuple
        and grid
        and math.isfinite(m)
        and all(type(g) is float and math.isfinite(g) for g in grid)
    ):
        # numpy's argmin in Python floats: the same IEEE subtractions of finite numbers,
        # and the first of ties (min keeps the first of equals)
        distance = [abs(g - m) for g in grid]
        arm = min(range(len(distance)), key=distance.__getitem__)
    else:
        arm = int(np.argmin(np.abs(np.asarray(grid) - mean)))
    if type(grid) is tuple:  # (an immutable grid only: a list could change in between)
        if len(_NEAREST) >= _NEAREST_KEPT:
            _NEAREST.clear()
        _NEAREST[id(mean)] = (grid, mean, arm)
    return arm


def n_arms(observation: Observation) -> int:
    """Count the arms: the grid size, or 2 (the postures) without a grid."""
    return len(observation.markup_grid) or 2


def arm_action(observation: Observation, arm: int) -> Action:
    """Build the action for arm ``arm``: a grid markup, or posture ``arm`` without a grid."""
    if observation.markup_grid:
        return markup_action(observation, observation.markup_grid[arm])
    return Action.uniform(Posture(arm))


def counterpart_arm(observation: Observation) -> int | None:
    """Map the counterparts' last action to an arm index (``None`` in round 0).

    On a grid: the grid point nearest the mean last markup of the firms it trades with
    (suppliers and customers), or of its rivals when it trades with none (a horizontal
    market such as Calvano et al.'s duopoly, where the state is the rival's last price);
    their aggregate posture mapped to the lowest or highest grid point when no markups
    are shown. Without a grid: the aggregate posture.
    """
    grid = observation.markup_grid
    if not grid:
        last = observation.last_counterpart
        return None if last is None else int(last)
    shown = observation.counterpart_markups
    names = observation.counterparts or observation.rivals
    if isinstance(shown, HistoryMap):  # as the engine builds it: no view per name
        mean = shown.mean_of_last(names)  # (kept per list of names and round)
        if mean is not None:
            return nearest_arm(grid, mean)  # (the firms sharing counterparts share it)
        markups: list[Any] = []
    else:
        markups = [seen[-1] for c in names if (seen := shown.get(c))]
    if markups:
        return int(np.argmin(np.abs(np.asarray(grid) - np.mean(markups))))
    last = observation.last_counterpart  # (read only here: a lazy observation makes it)
    return None if last is None else (len(grid) - 1 if last is EXTRACT else 0)


def best_response(table: np.ndarray, belief: np.ndarray) -> int:
    """Own posture maximising expected payoff against a belief over counterpart postures.

    ``argmax_a sum_j belief_j table[a, j]`` over the columns with positive belief; an
    unknown entry (``+inf``, never tried) is optimistic and so gets tried. Ties go to
    restrain.
    """
    used = np.where(belief > 0, table, 0.0)
    return int(np.argmax(used @ np.where(belief > 0, belief, 0.0)))


def payoff_table(observation: Observation) -> np.ndarray:
    """Own 2x2 payoff table by (own posture, counterpart posture).

    The stage game's table when the engine shows it; else the empirical mean payoff of
    each pair seen in the history, ``+inf`` for pairs never seen (optimism in the face
    of uncertainty).
    """
    if observation.stage_payoffs is not None:
        return np.asarray(observation.stage_payoffs, dtype=float)
    total, count = np.zeros((2, 2)), np.zeros((2, 2))
    history = zip(
        observation.own_postures,
        observation.counterpart_history,
        observation.own_payoffs,
        strict=False,
    )
    for own, other, payoff in history:
        total[own, other] += payoff
        count[own, other] += 1
    return np.divide(total, count, out=np.full((2, 2), np.inf), where=count > 0)


class Exp3Bandit:
    """EXP3 (Auer, Cesa-Bianchi, Freund and Schapire 2002, Fig. 1) over ``k`` arms.

    ``p_i = (1 - gamma) w_i / sum_j w_j + gamma / k``; after pulling arm ``i`` with
    reward ``x`` in [0, 1] the estimate ``x / p_i`` updates ``w_i <- w_i exp(gamma x /
    (p_i k))`` (kept as log weights). Rewards are scaled into [0, 1] by the range seen so
    far, since stack payoffs are unbounded dollars.

    Parameters
    ----------
    gamma
        Exploration rate in (0, 1].
    """

    def __init__(self, gamma: float) -> None:
        self.gamma = gamma
        self.log_weights = np.zeros(0)
        self.arm: int | None = None
        self.probabilities = np.zeros(0)
        self.low, self.high = np.inf, -np.inf

    def choose(self, rng: np.random.Generator, k: int) -> int:
        """Draw an arm from the EXP3 probabilities."""
        if self.log_weights.size != k:
            self.log_weights = np.zeros(k)
        w = np.exp(self.log_weights - self.log_weights.max())
        self.probabilities = (1 - self.gamma) * w / w.sum() + self.gamma / k
        self.arm = int(rng.choice(k, p=self.probabilities))
        return self.arm

    def update(self, payoff: float) -> None:
        """Credit the last arm pulled with ``payoff`` (importance-weighted)."""
        if self.arm is None:
            return
        self.low, self.high = min(self.low, payoff), max(self.high, payoff)
        reward = (payoff - self.low) / (self.high - self.low) if self.high > self.low else 0.0
        k = self.log_weights.size
        self.log_weights[self.arm] += self.gamma * reward / (self.probabilities[self.arm] * k)


def _check(name: str, value: float, low: float, high: float, *, open_ends: str = "") -> float:
    """Validate a parameter in [low, high]; ``open_ends`` "l"/"h" makes that end open."""
    above = value > low if "l" in open_ends else value >= low
    below = value < high if "h" in open_ends else value <= high
    if not (np.isfinite(value) and above and below):
        left, right = "(" if "l" in open_ends else "[", ")" if "h" in open_ends else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value!r}")
    return float(value)


@register
class QLearning(Strategy):
    """Q-learning on prices as in Calvano, Calzolari, Denicolo and Pastorello (2020).

    Arms: the markup grid (the paper's price grid), or the two postures without one.
    State: last round's own arm and the counterparts' arm (their mean markup on the grid,
    or their aggregate posture), plus a start state for round 0. Each round the last
    transition updates
    ``Q(s, a) <- (1 - alpha) Q(s, a) + alpha (r + gamma max_a' Q(s', a'))`` with ``r`` the
    last own payoff, then the arm is greedy in ``Q(s', .)`` except with probability
    ``epsilon_t = exp(-beta t)``, when it is uniform (one uniform draw every round).

    Initial Q (the paper's eq. 8): the discounted payoff of each own arm against a
    counterpart randomising uniformly, ``Q0(s, a) = mean_j u(a, j) / (1 - gamma)``, from
    ``stage_payoffs`` when the engine shows it (postures only); otherwise approximated by
    the first payoff seen, ``Q0 = r_0 / (1 - gamma)`` for every entry.

    Parameters
    ----------
    alpha
        Learning rate; the paper's baseline is 0.15. Against a fixed rival in the
        prisoner's dilemma, from the paper's initial Q, the values settle slowly (the
        error shrinks by ``1 - alpha (1 - gamma)`` per visit): at 0.15 the learner
        extracts in about 60% of rounds 300 to 400 and in all of them by round 2,000;
        ``alpha=0.5`` gets to 94% by round 400 (measured, see the tests).
    gamma
        Discount factor (the paper's delta), 0.95.
    beta
        Exploration decay. The paper uses ``beta = 4e-6`` over about a million periods;
        that would leave a tournament of a few hundred rounds exploring almost uniformly,
        so the default is 0.02 (``epsilon`` is 0.14 at round 100 and 0.018 at round 200).
    """

    name = "q_learning"
    classifier = Classifier(
        memory_depth=float("inf"),
        stochastic=True,
        learns=True,
        uses_markup_grid=True,
        family="learner",
    )

    def __init__(self, alpha: float = 0.15, gamma: float = 0.95, beta: float = 0.02) -> None:
        super().__init__()
        self.alpha = _check("q_learning: alpha", alpha, 0.0, 1.0, open_ends="l")
        self.gamma = _check("q_learning: gamma", gamma, 0.0, 1.0, open_ends="h")
        self.beta = _check("q_learning: beta", beta, 0.0, np.inf, open_ends="h")
        self.reset()

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Forget the Q table and the last transition."""
        super().reset(rng)
        self.q = np.zeros((0, 0))
        self.initialised = False
        self.state: int | None = None
        self.arm: int | None = None

    def decide(self, observation: Observation) -> Action:
        """Update Q with last round's payoff, then act epsilon-greedily."""
        grid = observation.markup_grid
        k = len(grid) or 2  # (n_arms)
        q = self.q
        if q.shape != (k * k + 1, k):
            self._initialise(observation, k)
            q = self.q
        state = self._state(observation, k)
        if self.state is not None and self.arm is not None:
            payoffs = observation.own_payoffs
            if payoffs:
                self._update(payoffs[-1], state)
        explore = self.rng.random() < _exploration(self.beta, observation.round)
        arm = self.arm = int(self.rng.integers(k)) if explore else int(q[state].argmax())
        self.state = state
        return self._action(observation, grid, arm)

    def _action(self, observation: Observation, grid: Any, arm: int) -> Action:
        """:func:`arm_action`, made once per arm, layers and grid (:func:`kept_arm_action`)."""
        return kept_arm_action(observation, observation.layers, grid, arm)

    def _initialise(self, observation: Observation, k: int) -> None:
        self.q = np.zeros((k * k + 1, k))
        self.initialised = observation.stage_payoffs is not None and not observation.markup_grid
        if self.initialised:
            self.q[:] = np.mean(np.asarray(observation.stage_payoffs), axis=1) / (1 - self.gamma)
        self.state = self.arm = None

    def _state(self, observation: Observation, k: int) -> int:
        other = counterpart_arm(observation)
        if self.arm is None or other is None:
            return k * k
        return self.arm * k + other

    def _update(self, reward: float, next_state: int) -> None:
        state, arm = self.state, self.arm
        assert state is not None and arm is not None
        q = self.q
        if not self.initialised:
            q[:] = reward / (1 - self.gamma)
            self.initialised = True
        # (Python floats: the same IEEE operations as on numpy's scalars, cheaper)
        row = q[next_state].tolist()
        best = max(row)  # (numpy's max but with a NaN, which the row's sum then shows)
        total = sum(row)
        if total != total:
            best = float(q[next_state].max())
        target = reward + self.gamma * best
        old = q.item(state, arm)
        q[state, arm] = old + self.alpha * (target - old)


_ARM_ACTIONS: dict[tuple[int, int, int], tuple[Any, Any, Action]] = {}
"""The actions :func:`kept_arm_action` made, by the layers' and grid's identities and arm."""
_ARM_ACTIONS_KEPT = 256
"""How many are kept at most (then all are dropped: nothing accumulates over runs)."""


def kept_arm_action(observation: Observation, layers: Any, grid: Any, arm: int) -> Action:
    """:func:`arm_action`, the same object for the same layers and grid objects and arm.

    ``layers`` and ``grid`` are ``observation.layers`` and ``observation.markup_grid``,
    all that :func:`arm_action` reads of it. Actions are not changed once made
    (:class:`Action` is frozen; the engine reads its mappings), so the learners hand back
    one action per arm, layers and grid, shared by every learner that pulls it (the
    engine hands the firms of a layer one layers tuple and one grid tuple): no
    dictionaries made per round, nor per learner (at 1,000 firms the learners' first
    pulls made about a thousand actions a run). Kept (with the tuples, whose identities
    then stay theirs) only for tuples: a list could change in between.
    """
    if type(grid) is not tuple or type(layers) is not tuple:
        return arm_action(observation, arm)
    key = (id(layers), id(grid), arm)
    kept = _ARM_ACTIONS.get(key)
    if kept is not None and kept[0] is layers and kept[1] is grid:
        return kept[2]
    action = arm_action(observation, arm)
    if len(_ARM_ACTIONS) >= _ARM_ACTIONS_KEPT:
        _ARM_ACTIONS.clear()
    _ARM_ACTIONS[key] = (layers, grid, action)
    return action


_EXPLORATION: list[Any] = [None, None, 0.0]
"""The last :func:`_exploration` asked: beta, round, and the answer."""


def _exploration(beta: float, round_: int) -> Any:
    """``np.exp(-beta * round_)``, the exploration probability, computed once per round.

    The learners of a stack share their ``beta`` and ask in turn each round; the same
    numpy call as before (``math.exp`` may differ from it in the last bit).
    """
    last = _EXPLORATION
    if last[0] == beta and last[1] == round_ and type(round_) is int:
        return last[2]
    value = np.exp(-beta * round_)
    last[0], last[1], last[2] = beta, round_, value
    return value


def bandit_step(bandit: Exp3Bandit, observation: Observation, rng: np.random.Generator) -> Action:
    """Credit last round's payoff to the arm last pulled, then draw this round's arm."""
    if observation.own_payoffs:
        bandit.update(observation.own_payoffs[-1])
    return arm_action(observation, bandit.choose(rng, n_arms(observation)))


@register
class Exp3(Strategy):
    """EXP3, the adversarial-bandit algorithm of Auer et al. (2002).

    Sees only its own payoff: the arm pulled last round is credited with
    ``observation.own_payoffs[-1]`` by importance weighting (see :class:`Exp3Bandit`).
    Arms: the markup grid, or the two postures without one. No-regret against any
    payoff sequence, so against a fixed counterpart it converges to the best arm.

    Parameters
    ----------
    gamma
        Exploration rate in (0, 1]; each arm keeps at least probability ``gamma / k``.
    """

    name = "exp3"
    classifier = Classifier(
        memory_depth=float("inf"),
        stochastic=True,
        learns=True,
        uses_markup_grid=True,
        family="learner",
    )

    def __init__(self, gamma: float = 0.1) -> None:
        super().__init__()
        self.gamma = _check("exp3: gamma", gamma, 0.0, 1.0, open_ends="l")
        self.reset()

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Forget the weights."""
        super().reset(rng)
        self.bandit = Exp3Bandit(self.gamma)

    def decide(self, observation: Observation) -> Action:
        """Credit last round's payoff to the arm pulled, then draw an arm."""
        return bandit_step(self.bandit, observation, self.rng)


@register
class Hedge(Strategy):
    """Hedge: full-information multiplicative weights (Freund and Schapire 1997).

    With the stage game's table (a matrix game, no markup grid) every posture ``a`` is
    credited each round with the payoff it would have earned against the counterparts'
    actual posture; it plays ``a`` with probability proportional to
    ``exp(eta * sum_t u(a, other_t))``, payoffs scaled into [0, 1] by the table's range.
    Without the table (the stack, where counterfactual payoffs are unknown) it falls
    back to EXP3-style importance weighting of its own payoffs (:class:`Exp3Bandit`).

    Parameters
    ----------
    eta
        Learning rate of the full-information weights.
    gamma
        Exploration rate of the bandit fallback.
    """

    name = "hedge"
    classifier = Classifier(
        memory_depth=float("inf"),
        stochastic=True,
        learns=True,
        uses_markup_grid=True,
        family="learner",
    )

    def __init__(self, eta: float = 0.1, gamma: float = 0.1) -> None:
        super().__init__()
        self.eta = _check("hedge: eta", eta, 0.0, np.inf, open_ends="lh")
        self.gamma = _check("hedge: gamma", gamma, 0.0, 1.0, open_ends="l")
        self.reset()

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Forget the bandit fallback's weights."""
        super().reset(rng)
        self.bandit = Exp3Bandit(self.gamma)

    def decide(self, observation: Observation) -> Action:
        """Draw a posture from the exponential weights of cumulative payoffs."""
        if observation.stage_payoffs is None or observation.markup_grid:
            return bandit_step(self.bandit, observation, self.rng)
        p = self.probabilities(observation.stage_payoffs, observation.counterpart_history)
        return Action.uniform(Posture(int(self.rng.choice(2, p=p))))

    def probabilities(self, stage_payoffs: Table, history: Sequence[Posture]) -> np.ndarray:
        """Hedge's mixed posture after ``history`` of counterpart postures."""
        table = np.asarray(stage_payoffs, dtype=float)
        span = np.ptp(table) or 1.0
        counts = np.bincount(np.asarray(history, dtype=int), minlength=2)
        score = self.eta * ((table - table.min()) / span) @ counts
        w = np.exp(score - score.max())
        return w / w.sum()


@register
class FictitiousPlay(Strategy):
    """Fictitious play (Brown 1951): best response to the counterparts' empirical mix.

    Belief: the counterparts extract with the frequency they have extracted so far.
    Best response to it with the stage game's table when shown, else with the empirical
    mean payoff of each (own, counterpart) posture pair it has lived through, untried
    pairs optimistic (see :func:`payoff_table`). Restrains in round 0; ties go to
    restrain. Plays postures (no grid).
    """

    name = "fictitious_play"
    classifier = Classifier(memory_depth=float("inf"), learns=True, family="learner")

    def decide(self, observation: Observation) -> Action:
        """Best response to the empirical frequency of counterpart extraction."""
        history = observation.counterpart_history
        if not history:
            return Action.uniform(RESTRAIN)
        q = float(np.mean(np.asarray(history) == EXTRACT))
        arm = best_response(payoff_table(observation), np.array([1 - q, q]))
        return Action.uniform(Posture(arm))


@register
class MyopicBestResponse(Strategy):
    """Myopic best response (Cournot adjustment): best reply to the last posture seen.

    Assumes the counterparts repeat last round's aggregate posture and best-responds to
    it, with the stage game's table when shown, else with the empirical mean payoff of
    each (own, counterpart) pair seen so far (untried pairs optimistic; hence unbounded
    memory and learning in the stack). Restrains in round 0; ties go to restrain. The
    best-reply dynamic of Cournot (1838), as in Fudenberg and Levine (1998), "The Theory
    of Learning in Games", ch. 1.
    """

    name = "myopic_best_response"
    classifier = Classifier(memory_depth=float("inf"), learns=True, family="learner")

    def decide(self, observation: Observation) -> Action:
        """Best response to the counterparts' last posture."""
        last = observation.last_counterpart
        if last is None:
            return Action.uniform(RESTRAIN)
        belief = np.eye(2)[int(last)]
        return Action.uniform(Posture(best_response(payoff_table(observation), belief)))
