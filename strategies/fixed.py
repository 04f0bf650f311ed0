"""Fixed postures: the two constant strategies every tournament needs as anchors."""

from __future__ import annotations

from stackgame.strategies.base import Action, Classifier, Observation, Posture, Strategy
from stackgame.strategies.registry import register


@register
class AlwaysRestrain(Strategy):
    """Always restrain: price every layer at the scenario's restrain markup.

    The posture the labs' upstream suppliers hold in `000_e3319be9a08c4b37.txt` ("three
    of the most important actors in the AI stack are independently choosing not to
    extract"). Axelrod's ``Cooperator`` in a matrix game.
    """

    name = "always_restrain"
    classifier = Classifier(memory_depth=0, family="fixed")

    def decide(self, observation: Observation) -> Action:
        """Restrain in every layer."""
        return _RESTRAIN_ALL


@register
class AlwaysExtract(Strategy):
    """Always extract: price every layer at the scenario's extract markup.

    Value-based pricing from the first round (the regime after trigger 1 in
    `000_e3319be9a08c4b37.txt`). Axelrod's ``Defector`` in a matrix game.
    """

    name = "always_extract"
    classifier = Classifier(memory_depth=0, family="fixed")

    def decide(self, observation: Observation) -> Action:
        """Extract in every layer."""
        return _EXTRACT_ALL


@register
class Cooperator(Strategy):
    """Axelrod's ``Cooperator``: restrain in every round, whatever the counterparts do.

    The same play as ``always_restrain``, registered under the Axelrod library's name so
    that a matrix-game tournament can be cross-checked against ``axelrod.Cooperator``
    ([Axelrod1984]_, ``axelrod/strategies/cooperator.py``).
    """

    name = "cooperator"
    classifier = Classifier(memory_depth=0, family="fixed")

    def decide(self, observation: Observation) -> Action:
        """Restrain (cooperate) in every layer."""
        return _RESTRAIN_ALL


@register
class Defector(Strategy):
    """Axelrod's ``Defector``: extract in every round, whatever the counterparts do.

    The same play as ``always_extract``, registered under the Axelrod library's name for
    the cross-check against ``axelrod.Defector`` ([Axelrod1984]_).
    """

    name = "defector"
    classifier = Classifier(memory_depth=0, family="fixed")

    def decide(self, observation: Observation) -> Action:
        """Extract (defect) in every layer."""
        return _EXTRACT_ALL


@register
class Alternator(Strategy):
    """Axelrod's ``Alternator``: restrain first, then do the opposite of its own last move.

    A fixed periodic schedule (C, D, C, D, ...) that ignores the counterparts; it reads
    only its own last posture, hence memory depth 1 ([Axelrod1984]_,
    ``axelrod/strategies/alternator.py``).
    """

    name = "alternator"
    classifier = Classifier(memory_depth=1, family="fixed")

    def decide(self, observation: Observation) -> Action:
        """Restrain in round 0, then flip the own last posture."""
        last = observation.last_own
        flipped = Posture.RESTRAIN if last is Posture.EXTRACT else Posture.EXTRACT
        return Action.uniform(Posture.RESTRAIN if last is None else flipped)


@register
class Random(Strategy):
    """Axelrod's ``Random``: restrain with probability ``p``, else extract, every round.

    Draws one uniform number from the injected generator per round ([Axelrod1984]_,
    ``axelrod/strategies/rand.py``; the library's default is ``p = 0.5``).

    Parameters
    ----------
    p
        Probability of restraining (cooperating), in [0, 1].
    """

    name = "random"
    classifier = Classifier(memory_depth=0, stochastic=True, family="fixed")

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"random: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def decide(self, observation: Observation) -> Action:
        """Restrain with probability ``p``."""
        return _RESTRAIN_ALL if self.rng.random() < self.p else _EXTRACT_ALL

    def plan(self, rounds: int) -> list[Posture]:
        """``rounds`` decisions at once: the same uniform draws, in one vectorised call."""
        restrain = (self.rng.random(rounds) < self.p).tolist()
        return [Posture.RESTRAIN if r else Posture.EXTRACT for r in restrain]


# the shared uniform actions (Action.uniform's), looked up once: the fixed strategies and
# Random hand them back every round (a tournament calls decide every turn, a large stack
# every round for hundreds of firms)
_RESTRAIN_ALL = Action.uniform(Posture.RESTRAIN)
_EXTRACT_ALL = Action.uniform(Posture.EXTRACT)
