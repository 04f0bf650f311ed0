"""Seeds: one root seed, and every stream below it named by a spawn key.

Every seeded thing in ``stackgame`` derives its randomness from one root seed by one
recipe, numpy's ``SeedSequence`` spawn tree (O'Neill 2015; NumPy's "parallel random
number generation"): the stream with spawn key ``(k, ...)`` under ``root`` is
``SeedSequence(root, spawn_key=(k, ...))``, which is exactly the ``k``-th child of
``SeedSequence(root).spawn(n)`` (and its children the children of that child). A
consumer that needs a generator takes :func:`generator`; one that hands a seed on to
another process or to a recorded table takes an integer word of its stream
(:func:`seed32`, or :func:`seeds63` for 63-bit words that fit Parquet's int64).

The streams in use (the key under the command's root seed):

======================================  ==================================================
tournament match seeds                  ``(0,)``, word ``i`` for match ``i`` (63 bits)
tournament profile sample (stack)       ``(1,)``
tournament bootstrap intervals          ``(2,)``
``stackgame evolve`` (Moran)            ``(3,)``, one 32-bit word
matrix match: length and noise, seats   ``(0,)``; ``(1,)`` and ``(2,)`` under the match seed
stack match: length, simulation seed    ``(0,)``; ``(1,)`` (32 bits) under the match seed
equilibria: estimation, check, sample   ``(0,)``, ``(1,)``, ``(2,)``; repetition ``r`` at
                                        ``(0, r)`` or ``(1, r)`` (32 bits); bootstrap
                                        ``(2, 0)``; replicator starts ``(2, 1)``
batch run ``i`` (replicate ``r``)       ``(i,)`` (``(r,)`` with common random numbers),
                                        one 63-bit word
thesis run ``i``                        ``(i,)``, one 32-bit word
Moran fixation by simulation, run ``i``  ``(i,)``, one 32-bit word
``run --uncertainty`` parameter draws   ``(1_000_000,)`` under the run's seed (the model
                                        spawns ``(0,) .. (1 + firms,)`` under it); a
                                        batch run's draws under that run's seed
``calibrate --starts`` Sobol design     ``(2_000_000,)`` under ``--seed`` (the first common
                                        seed; :func:`stackgame.calibration.fit.start_design`)
======================================  ==================================================

The model (``environment/``) spawns its own children of the run seed the same way
(regulator, shocks, then one per firm), without importing this module: the model imports
nothing from the ``stackgame/`` folder.
"""

from __future__ import annotations

import numpy as np

Root = int | np.random.SeedSequence
"""A root seed: an integer, or a ``SeedSequence`` already in the tree."""


def child(root: Root, *key: int) -> np.random.SeedSequence:
    """The stream at spawn key ``key`` under ``root``.

    ``child(seed, k)`` is ``SeedSequence(seed).spawn(n)[k]`` for any ``n > k``, without
    making its siblings; ``child(seq, k)`` extends ``seq``'s own key, as ``seq.spawn``
    does on a sequence that has spawned nothing yet (and unlike ``spawn``, it does not
    depend on how many children ``seq`` already gave). ``child(seed)`` is the root.

    Examples
    --------
    >>> child(7, 2).spawn_key == np.random.SeedSequence(7).spawn(3)[2].spawn_key
    True
    """
    if isinstance(root, np.random.SeedSequence):
        return np.random.SeedSequence(
            root.entropy, spawn_key=(*root.spawn_key, *key), pool_size=root.pool_size
        )
    return np.random.SeedSequence(root, spawn_key=key)


def children(root: Root, n: int) -> list[np.random.SeedSequence]:
    """The first ``n`` streams under ``root``: ``child(root, k)`` for ``k < n``."""
    return [child(root, k) for k in range(n)]


def generator(root: Root, *key: int) -> np.random.Generator:
    """A generator on the stream at ``key`` under ``root`` (``default_rng(child(...))``).

    ``generator(seed)`` draws what ``numpy.random.default_rng(seed)`` draws.
    """
    return np.random.default_rng(child(root, *key))


def seed32(stream: np.random.SeedSequence) -> int:
    """A 32-bit integer seed from ``stream`` (its first ``uint32`` word)."""
    return int(stream.generate_state(1, np.uint32)[0])


def seeds32(root: Root, n: int) -> list[int]:
    """32-bit seeds of the first ``n`` streams under ``root`` (one per run)."""
    return [seed32(c) for c in children(root, n)]


def seeds63(stream: np.random.SeedSequence, count: int) -> list[int]:
    """The first ``count`` 63-bit words of ``stream`` (``uint64`` words shifted right by one).

    The words form a prefix-stable stream: word ``i`` does not depend on ``count``. One
    call hashes them all, far cheaper than a ``SeedSequence`` per word; 63 bits fit
    Parquet's int64 columns.
    """
    if count <= 0:
        return []
    state = stream.generate_state(count, np.uint64)
    return [int(x) for x in (state >> np.uint64(1))]


__all__ = ["Root", "child", "children", "generator", "seed32", "seeds32", "seeds63"]
