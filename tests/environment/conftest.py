"""Shared builders for the market tests: tiny named economies."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from stackgame.environment import market

BIG = 1e9


def chain(firms: Sequence[int], mu: float = 0.25) -> market.Structure:
    """A vertical chain: layer k is operated by firm ``firms[k]`` (repeat a firm to integrate)."""
    n = len(firms)
    return market.build_structure(np.arange(n), np.asarray(firms), n, np.ones(n), np.full(n, mu))


def one_layer(n: int) -> market.Structure:
    """``n`` rival firms in a single layer that sells to final consumers."""
    return market.build_structure(np.zeros(n, int), np.arange(n), 1, np.ones(1), np.ones(1))


def argmax(f: Callable[[float], float], lo: float, hi: float, grid: int = 25) -> float:
    """Maximiser of a scalar function on ``[lo, hi]``: a grid, then Brent around its best point.

    The grid guards against the flat zero-profit region beyond the choke price, where a
    local method alone can stall.
    """
    xs = np.linspace(lo, hi, grid)
    k = int(np.argmax([f(float(x)) for x in xs]))
    a, b = float(xs[max(k - 1, 0)]), float(xs[min(k + 1, grid - 1)])
    res = minimize_scalar(lambda x: -f(x), bounds=(a, b), method="bounded", options={"xatol": 1e-8})
    return float(res.x)
