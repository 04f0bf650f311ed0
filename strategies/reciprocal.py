"""Reciprocal strategies: the classics of Axelrod's tournaments, on postures.

Restrain is cooperate (C) and extract is defect (D). In a matrix game these react to the
one opponent; in the stack they react to ``observation.counterpart_history``, the
aggregate posture of the firm's counterparts (``EXTRACT`` when at least half of them
extracted last round). Definitions follow the Axelrod library
(``axelrod/strategies/titfortat.py``, ``grudger.py``, ``memoryone.py``) so that the
tournament can be cross-checked against it; references as in its bibliography
([Axelrod1980]_, [Axelrod1984]_, [Nowak1993]_).
"""

from __future__ import annotations

import functools

import numpy as np
from stackgame.strategies.base import (
    EXTRACT,
    RESTRAIN,
    Action,
    Classifier,
    Observation,
    Posture,
    Strategy,
)
from stackgame.strategies.registry import register

#: Axelrod's default game, (R, P, S, T): used when no stage payoff table is given.
DEFAULT_RPST = (3.0, 1.0, 0.0, 5.0)

# the shared uniform actions, looked up once (the strategies that decide every turn of a
# tournament match, grudger and generous tit-for-tat, return them directly)
_RESTRAIN_ALL = Action.uniform(RESTRAIN)
_EXTRACT_ALL = Action.uniform(EXTRACT)


@functools.lru_cache(maxsize=64)
def generosity(stage_payoffs: tuple[tuple[float, float], tuple[float, float]] | None) -> float:
    """Forgiveness probability of generous tit-for-tat for a prisoner's dilemma.

    ``p = min(1 - (T - R) / (R - S), (R - P) / (T - P))`` (Nowak and Sigmund 1992, the
    Axelrod library's ``GTFT`` default), with ``R = u[0][0]``, ``S = u[0][1]``,
    ``T = u[1][0]``, ``P = u[1][1]`` read from the row player's table indexed by posture.
    Without a table (the stack) the Axelrod default game gives ``p = 1/3``. The result
    is clipped to [0, 1]; a table that is not a dilemma (``R <= S`` or ``T <= P``) falls
    back to the default game.

    Parameters
    ----------
    stage_payoffs
        ``stage_payoffs[own][other]``, or ``None``.

    Returns
    -------
    float
        Probability of restraining after the counterparts extracted.
    """
    r, p, s, t = DEFAULT_RPST
    if stage_payoffs is not None:
        (r_, s_), (t_, p_) = stage_payoffs
        if r_ > s_ and t_ > p_:
            r, p, s, t = r_, p_, s_, t_
    return float(np.clip(min(1 - (t - r) / (r - s), (r - p) / (t - p)), 0.0, 1.0))


@register
class TitForTat(Strategy):
    """Tit-for-tat: restrain first, then copy the counterparts' last posture.

    Rapoport's entry, the winner of Axelrod's first tournament ([Axelrod1980]_). In the
    stack: restrain while the counterparts (on aggregate) restrained last round.
    """

    name = "tit_for_tat"
    classifier = Classifier(memory_depth=1, family="reciprocal")

    def decide(self, observation: Observation) -> Action:
        """Copy the counterparts' last posture (restrain in round 0)."""
        last = observation.last_counterpart
        return Action.uniform(RESTRAIN if last is None else last)


@register
class SuspiciousTitForTat(Strategy):
    """Suspicious tit-for-tat: extract first, then copy the counterparts' last posture.

    Axelrod's ``SuspiciousTitForTat`` ([Hilbe2013]_; "Mistrust" in [Beaufils1997]_).
    """

    name = "suspicious_tit_for_tat"
    classifier = Classifier(memory_depth=1, family="reciprocal")

    def decide(self, observation: Observation) -> Action:
        """Copy the counterparts' last posture (extract in round 0)."""
        last = observation.last_counterpart
        return Action.uniform(EXTRACT if last is None else last)


@register
class TitForTwoTats(Strategy):
    """Tit-for-two-tats: extract only after two extractions in a row by the counterparts.

    Axelrod's ``TitFor2Tats`` ([Axelrod1984]_): ``D if opponent.history[-2:] == [D, D]``.
    """

    name = "tit_for_two_tats"
    classifier = Classifier(memory_depth=2, family="reciprocal")

    def decide(self, observation: Observation) -> Action:
        """Extract when the last two counterpart postures were both extract."""
        last_two = observation.counterpart_history[-2:]
        return Action.uniform(EXTRACT if last_two == (EXTRACT, EXTRACT) else RESTRAIN)


@register
class TwoTitsForTat(Strategy):
    """Two-tits-for-tat: answer each extraction by the counterparts with two extractions.

    Axelrod's ``TwoTitsForTat`` ([Axelrod1984]_): ``D if D in opponent.history[-2:]``.
    """

    name = "two_tits_for_tat"
    classifier = Classifier(memory_depth=2, family="reciprocal")

    def decide(self, observation: Observation) -> Action:
        """Extract when the counterparts extracted in either of the last two rounds."""
        recent = observation.counterpart_history[-2:]
        return Action.uniform(EXTRACT if EXTRACT in recent else RESTRAIN)


@register
class Grudger(Strategy):
    """Grudger (Friedman's grim trigger): restrain until the counterparts first extract.

    After the first extraction it extracts for ever. Axelrod's ``Grudger``
    ([Axelrod1980]_, Friedman): ``D if opponent.defections > 0 else C``.
    """

    name = "grudger"
    classifier = Classifier(memory_depth=float("inf"), family="reciprocal")

    def decide(self, observation: Observation) -> Action:
        """Extract once the counterparts have ever extracted."""
        return _EXTRACT_ALL if EXTRACT in observation.counterpart_history else _RESTRAIN_ALL


@register
class WinStayLoseShift(Strategy):
    """Win-stay lose-shift (Pavlov): keep the posture after a good outcome, else switch.

    Axelrod's ``WinStayLoseShift``, the memory-one four-vector (1, 0, 0, 1)
    ([Nowak1993]_): restrain first, then restrain after (C, C) and (D, D), extract after
    (C, D) and (D, C), where the pair is (own last posture, counterparts' last posture).
    """

    name = "win_stay_lose_shift"
    classifier = Classifier(memory_depth=1, family="reciprocal")

    def decide(self, observation: Observation) -> Action:
        """Restrain when own and counterpart last postures agree, else extract."""
        own, other = observation.last_own, observation.last_counterpart
        if own is None or other is None:
            return Action.uniform(RESTRAIN)
        return Action.uniform(RESTRAIN if own is other else EXTRACT)


@register
class GenerousTitForTat(Strategy):
    """Generous tit-for-tat: tit-for-tat that forgives an extraction with probability p.

    Axelrod's ``GTFT``, four-vector (1, p, 1, p) ([Nowak1993]_): restrain first; after the
    counterparts restrained, restrain; after they extracted, restrain with probability
    ``p`` (one draw from the injected generator), else extract. With ``p=None`` (the
    default, as in the Axelrod library) ``p`` comes from the game,
    ``min(1 - (T - R) / (R - S), (R - P) / (T - P))``: 1/3 for the standard
    (R, P, S, T) = (3, 1, 0, 5), see :func:`generosity`.

    Parameters
    ----------
    p
        Forgiveness probability in [0, 1], or ``None`` to derive it from the game.
    """

    name = "generous_tit_for_tat"
    classifier = Classifier(memory_depth=1, stochastic=True, family="reciprocal")

    def __init__(self, p: float | None = None) -> None:
        super().__init__()
        if p is not None and not 0.0 <= p <= 1.0:
            raise ValueError(f"generous_tit_for_tat: p must be in [0, 1], got {p!r}")
        self.p = p

    def decide(self, observation: Observation) -> Action:
        """Copy a restraint; forgive an extraction with probability ``p``."""
        history = observation.counterpart_history
        if not history or history[-1] is not EXTRACT:
            return _RESTRAIN_ALL
        p = generosity(observation.stage_payoffs) if self.p is None else self.p
        return _RESTRAIN_ALL if self.rng.random() < p else _EXTRACT_ALL


@register
class MarginWinStayLoseShift(Strategy):
    """Win-stay lose-shift on margins: keep the posture while the margin meets aspiration.

    The stack's version of Pavlov (DESIGN.md, "win-stay-lose-shift on margins"), with an
    aspiration level as in Posch (1999) and Karandikar et al. (1998): restrain first;
    then a *win* is a last own margin at or above the aspiration, and the firm keeps
    its last posture after a win and switches after a loss. The aspiration is, in order:
    ``aspiration`` when given; the mean entry of the stage game's table (in the
    prisoner's dilemma (3 + 0 + 5 + 1) / 4 = 2.25, so R and T win, S and P lose and the
    strategy plays exactly as ``win_stay_lose_shift``); the mean operating margin of its
    layers last round ("at least as well as my layer"); else the mean of its own past
    margins. In a matrix game the margin is the stage payoff.

    Parameters
    ----------
    aspiration
        Fixed aspiration margin, or ``None`` for the adaptive rule above.
    """

    name = "margin_win_stay_lose_shift"
    classifier = Classifier(memory_depth=float("inf"), learns=True, family="reciprocal")

    def __init__(self, aspiration: float | None = None) -> None:
        super().__init__()
        if aspiration is not None and not np.isfinite(aspiration):
            raise ValueError(
                f"margin_win_stay_lose_shift: aspiration must be finite, got {aspiration!r}"
            )
        self.aspiration = aspiration

    def decide(self, observation: Observation) -> Action:
        """Stay after a margin at or above aspiration, shift after one below."""
        own, margins = observation.last_own, observation.own_margins
        if own is None or not margins:
            return Action.uniform(RESTRAIN)
        win = margins[-1] >= self.level(observation)
        return Action.uniform(own if win else Posture(1 - own))

    def level(self, observation: Observation) -> float:
        """Return the aspiration margin for this round."""
        layers = [
            observation.market[x].operating_margin
            for x in observation.layers
            if x in observation.market
        ]
        if self.aspiration is not None:
            return self.aspiration
        if observation.stage_payoffs is not None:
            return float(np.mean(observation.stage_payoffs))
        return float(np.mean(layers if layers else observation.own_margins))
