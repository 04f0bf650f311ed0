"""Strategies: one small class each, a registry, and classifiers."""

from stackgame.strategies.base import (
    EXTRACT,
    RESTRAIN,
    STAY,
    Action,
    Classifier,
    ContractOffer,
    Integration,
    LayerView,
    Move,
    Observation,
    Posture,
    Strategy,
)
from stackgame.strategies.registry import UnknownStrategyError, all_strategies, get, make, register

__all__ = [
    "EXTRACT",
    "RESTRAIN",
    "STAY",
    "Action",
    "Classifier",
    "ContractOffer",
    "Integration",
    "LayerView",
    "Move",
    "Observation",
    "Posture",
    "Strategy",
    "UnknownStrategyError",
    "all_strategies",
    "get",
    "make",
    "register",
]
