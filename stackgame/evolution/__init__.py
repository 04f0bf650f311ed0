"""Evolutionary dynamics over a tournament's payoff matrix."""
