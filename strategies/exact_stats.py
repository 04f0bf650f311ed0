"""numpy's mean, median and standard deviation of short lists, to the last bit.

The engine and the archetypes take a mean or a median of a handful of numbers in their
hot paths, where a numpy call's own overhead (several microseconds) dwarfs the
arithmetic. These functions give exactly numpy's results (its pairwise summation order,
its median of the two middle values) for short lists of finite floats, and call numpy
itself otherwise. ``tests/stackgame/test_numeric.py`` checks them bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def exact_sum(values: Sequence[float]) -> float:
    """``float(np.add.reduce(values))`` for a list of at most 128 floats, else numpy's.

    numpy adds fewer than eight terms in order from 0.0; up to 128 it keeps eight running
    sums (every eighth term), combines them pairwise, then adds the leftover terms.
    """
    n = len(values)
    if n < 8:
        total = 0.0
        for v in values:
            total += v
        return total
    if n > 128:
        return float(np.add.reduce(np.asarray(values, dtype=float)))
    r = list(values[:8])
    end = n - n % 8
    for i in range(8, end, 8):
        for j in range(8):
            r[j] += values[i + j]
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for v in values[end:]:
        total += v
    return total


def exact_mean(values: Sequence[float]) -> float:
    """``float(np.mean(values))`` of a non-empty list of floats."""
    return float(exact_sum(values) / len(values))


def exact_std(values: Sequence[float]) -> float:
    """``float(np.std(values))`` of a non-empty list of floats (population, ``ddof=0``)."""
    n = len(values)
    mean = exact_sum(values) / n
    return math.sqrt(exact_sum([(v - mean) * (v - mean) for v in values]) / n)


def exact_median(values: Sequence[float]) -> float:
    """``float(np.median(values))`` of a non-empty list (numpy's own with a NaN in it)."""
    if any(v != v for v in values):
        return float(np.median(values))
    ordered = sorted(values)
    n = len(ordered)
    if n % 2:  # numpy takes the mean of the middle one: from 0.0, so -0.0 becomes 0.0
        return float(0.0 + ordered[n // 2])
    return float((0.0 + ordered[n // 2 - 1] + ordered[n // 2]) / 2)
