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
        return Action.uniform(Posture.RESTRAIN)


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
        return Action.uniform(Posture.EXTRACT)
