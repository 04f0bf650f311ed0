"""Evolutionary dynamics over a tournament's payoff matrix: Moran process and replicator.

Both take a square payoff matrix ``A`` (``A[i, j]``: what strategy ``i`` earns against
``j``; a tournament's :attr:`~stackgame.tournaments.results.TournamentResult.payoff_matrix`)
and a well-mixed population.

Moran process (birth-death, frequency dependent; Nowak et al. 2004, "Emergence of
cooperation and evolutionary stability in finite populations", Nature 428)
    A population of ``N`` individuals with counts ``n_i``. An individual of type ``i``
    meets every other individual once, so its mean payoff is
    ``pi_i = (sum_j A[i, j] n_j - A[i, i]) / (N - 1)``, and its fitness is
    ``f_i = 1 - w + w pi_i`` for selection intensity ``w`` in [0, 1] (``w = 0`` is
    neutral drift). Each step one individual reproduces, chosen with probability
    proportional to fitness, and its offspring replaces one chosen uniformly at random
    (the parent included). With mutation probability ``mu`` the offspring takes a type
    drawn uniformly from the other types. Without mutation the process stops when one
    type has fixated. The fixation probability of a single ``i`` mutant among ``j``
    residents has the closed form ``1 / (1 + sum_{k=1}^{N-1} prod_{m=1}^k g_m / f_m)``
    (Nowak et al. 2004, eq. 1) that :func:`fixation_probability` gives and the tests
    check the simulation against.
Discrete replicator dynamics (Taylor and Jonker 1978; Hofbauer and Sigmund 1998, Sec. 7.1)
    ``x_i(t + 1) = x_i(t) f_i(x) / f_bar(x)`` with ``f = A x`` shifted to be positive:
    payoffs are first shifted by ``1 - min(A)`` when ``min(A) < 1`` (a constant added to
    every payoff leaves the continuous dynamics' orbits unchanged, and keeps the
    discrete map on the simplex).

Randomness comes only from the generator seeded by ``seed``
(``numpy.random.default_rng(SeedSequence(seed))``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from stackgame.errors import UserError


def _check_matrix(payoffs: Any) -> tuple[np.ndarray, list[str]]:
    """A finite square float matrix and its strategy names."""
    if isinstance(payoffs, pd.DataFrame):
        names = [str(c) for c in payoffs.index]
        if [str(c) for c in payoffs.columns] != names:
            raise UserError("payoff matrix: rows and columns must name the same strategies")
        arr = payoffs.to_numpy(dtype=float)
    else:
        arr = np.asarray(payoffs, dtype=float)
        names = [str(i) for i in range(arr.shape[0])] if arr.ndim == 2 else []
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise UserError(f"payoff matrix: must be square, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = [
            f"{names[i]} vs {names[j]}" for i, j in zip(*np.nonzero(~np.isfinite(arr)), strict=True)
        ]
        raise UserError(f"payoff matrix: missing or non-finite entries ({', '.join(bad[:3])})")
    return arr, names


@dataclass
class MoranResult:
    """Trajectory of a Moran process.

    Attributes
    ----------
    strategies
        Type names.
    counts
        ``(steps + 1, n_types)`` integer counts, the initial population first.
    fixated
        Name of the type that took over (``None`` if none did within the steps, or with
        mutation).
    fixation_step
        Step at which it fixated.
    seed
        The seed used.
    """

    strategies: list[str]
    counts: np.ndarray
    fixated: str | None
    fixation_step: int | None
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def shares(self) -> pd.DataFrame:
        """Population shares by step (rows) and strategy (columns)."""
        n = self.counts.sum(axis=1, keepdims=True)
        df = pd.DataFrame(self.counts / n, columns=self.strategies)
        df.index.name = "step"
        return df

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        final = self.counts[-1]
        return {
            "dynamics": "moran",
            "params": self.params,
            "seed": self.seed,
            "steps": int(len(self.counts) - 1),
            "fixated": self.fixated,
            "fixation_step": self.fixation_step,
            "final_counts": {s: int(c) for s, c in zip(self.strategies, final, strict=True)},
            "final_shares": {
                s: round(float(c) / float(final.sum()), 10)
                for s, c in zip(self.strategies, final, strict=True)
            },
        }


def _fitness(a: np.ndarray, counts: np.ndarray, intensity: float) -> np.ndarray:
    """Fitness of each type: ``1 - w + w * (A n - diag(A)) / (N - 1)``."""
    n = counts.sum()
    payoff = (a @ counts - np.diag(a)) / max(n - 1, 1)
    return 1.0 - intensity + intensity * payoff


def moran_process(
    payoffs: Any,
    initial: Any,
    *,
    steps: int = 10_000,
    intensity: float = 1.0,
    mutation: float = 0.0,
    seed: int = 0,
) -> MoranResult:
    """Run a birth-death Moran process over a payoff matrix (see the module docstring).

    Parameters
    ----------
    payoffs
        Square payoff matrix (a DataFrame names the strategies).
    initial
        Initial counts per type (integers, at least two individuals in all).
    steps
        Maximum number of birth-death events.
    intensity
        Selection intensity ``w`` in [0, 1].
    mutation
        Probability ``mu`` in [0, 1] that an offspring mutates to another type.
    seed
        Seed of the process's generator.

    Returns
    -------
    MoranResult
        The counts after every step (the run stops at fixation when ``mu = 0``).
    """
    a, names = _check_matrix(payoffs)
    counts = np.asarray(initial, dtype=np.int64)
    k = a.shape[0]
    if counts.shape != (k,) or np.any(counts < 0) or counts.sum() < 2:
        raise UserError(
            f"initial: give {k} non-negative counts summing to at least 2, got {list(counts)}"
        )
    if not 0.0 <= intensity <= 1.0:
        raise UserError(f"intensity: selection intensity must be in [0, 1], got {intensity}")
    if not 0.0 <= mutation <= 1.0:
        raise UserError(f"mutation: must be a probability in [0, 1], got {mutation}")
    if steps < 0:
        raise UserError(f"steps: must be non-negative, got {steps}")
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    history = [counts.copy()]
    fixated = fixation_step = None
    for step in range(1, steps + 1):
        if mutation == 0 and np.count_nonzero(counts) == 1:
            break
        f = _fitness(a, counts, intensity)
        weights = counts * f
        if np.any(weights < 0):
            raise UserError(
                "fitness is negative: lower the selection intensity or shift the payoffs "
                f"(min payoff {a.min():.3g})"
            )
        cw = np.cumsum(weights if weights.sum() > 0 else counts.astype(float))
        parent = min(int(np.searchsorted(cw, rng.random() * cw[-1], side="right")), k - 1)
        child = parent
        if mutation > 0 and k > 1 and rng.random() < mutation:
            child = int(rng.integers(k - 1))
            child += child >= parent
        cc = np.cumsum(counts)
        dead = min(int(np.searchsorted(cc, rng.random() * cc[-1], side="right")), k - 1)
        counts[dead] -= 1
        counts[child] += 1
        history.append(counts.copy())
        if mutation == 0 and np.count_nonzero(counts) == 1:
            fixated, fixation_step = names[int(np.flatnonzero(counts)[0])], step
            break
    if fixated is None and mutation == 0 and np.count_nonzero(counts) == 1:
        fixated, fixation_step = names[int(np.flatnonzero(counts)[0])], 0
    params = {
        "intensity": intensity,
        "mutation": mutation,
        "population": int(counts.sum()),
        "initial": [int(c) for c in history[0]],
        "max_steps": steps,
    }
    return MoranResult(names, np.array(history), fixated, fixation_step, seed, params)


def fixation_probability(
    payoffs: Any, mutant: int, resident: int, population: int, intensity: float = 1.0
) -> float:
    """Probability that one ``mutant`` takes over a population of ``resident``.

    Nowak et al. (2004), eq. 1, for the frequency-dependent Moran process of
    :func:`moran_process` restricted to two types: with ``i`` mutants,
    ``f_i = 1 - w + w (a (i - 1) + b (N - i)) / (N - 1)`` and
    ``g_i = 1 - w + w (c i + d (N - i - 1)) / (N - 1)`` where ``a, b, c, d`` are
    ``A[m, m], A[m, r], A[r, m], A[r, r]``; then
    ``rho = 1 / (1 + sum_{k=1}^{N-1} prod_{i=1}^k g_i / f_i)``.
    """
    arr, _ = _check_matrix(payoffs)
    n = int(population)
    if n < 2:
        raise UserError(f"population: must be at least 2, got {population}")
    a, b = arr[mutant, mutant], arr[mutant, resident]
    c, d = arr[resident, mutant], arr[resident, resident]
    i = np.arange(1, n)
    f = 1 - intensity + intensity * (a * (i - 1) + b * (n - i)) / (n - 1)
    g = 1 - intensity + intensity * (c * i + d * (n - i - 1)) / (n - 1)
    return float(1.0 / (1.0 + np.sum(np.cumprod(g / f))))


def simulated_fixation(
    payoffs: Any,
    mutant: int,
    resident: int,
    population: int,
    *,
    runs: int = 1000,
    intensity: float = 1.0,
    seed: int = 0,
) -> float:
    """Share of ``runs`` seeded Moran processes in which one mutant fixates."""
    arr, _ = _check_matrix(payoffs)
    sub = arr[np.ix_([mutant, resident], [mutant, resident])]
    wins = 0
    for ss in np.random.SeedSequence(seed).spawn(runs):
        res = moran_process(
            sub,
            [1, population - 1],
            steps=10**9,
            intensity=intensity,
            seed=int(ss.generate_state(1)[0]),
        )
        wins += res.fixated == "0"
    return wins / runs


@dataclass
class ReplicatorResult:
    """Trajectory of the discrete replicator dynamics.

    Attributes
    ----------
    strategies
        Strategy names.
    shares
        ``(steps + 1, n)`` population shares, the initial state first.
    """

    strategies: list[str]
    shares_array: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def shares(self) -> pd.DataFrame:
        """Population shares by step (rows) and strategy (columns)."""
        df = pd.DataFrame(self.shares_array, columns=self.strategies)
        df.index.name = "step"
        return df

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        final = self.shares_array[-1]
        return {
            "dynamics": "replicator",
            "params": self.params,
            "steps": int(len(self.shares_array) - 1),
            "final_shares": {
                s: round(float(x), 10) for s, x in zip(self.strategies, final, strict=True)
            },
        }


def replicator(payoffs: Any, initial: Any = None, *, steps: int = 1000) -> ReplicatorResult:
    """Discrete-time replicator dynamics ``x' = x * (A x) / (x . A x)`` (module docstring).

    Parameters
    ----------
    payoffs
        Square payoff matrix.
    initial
        Initial shares (normalised to sum 1); uniform by default.
    steps
        Number of generations.
    """
    a, names = _check_matrix(payoffs)
    k = a.shape[0]
    x = np.full(k, 1.0 / k) if initial is None else np.asarray(initial, dtype=float)
    if x.shape != (k,) or np.any(x < 0) or not np.isfinite(x).all() or x.sum() <= 0:
        raise UserError(f"initial: give {k} non-negative shares with a positive sum")
    if steps < 0:
        raise UserError(f"steps: must be non-negative, got {steps}")
    x = x / x.sum()
    shift = 1.0 - a.min() if a.min() < 1.0 else 0.0
    shifted = a + shift
    out = np.empty((steps + 1, k))
    out[0] = x
    for t in range(1, steps + 1):
        f = shifted @ x
        x = x * f / float(x @ f)
        out[t] = x
    params = {"shift": shift, "initial": [float(v) for v in out[0]]}
    return ReplicatorResult(names, out, params)


def plot_shares(shares: pd.DataFrame, title: str) -> Any:
    """Population shares over time, one line per strategy (a matplotlib Figure)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    order = shares.iloc[-1].sort_values(ascending=False).index
    ax.stackplot(shares.index, shares[order].to_numpy().T, labels=list(order), alpha=0.9)
    ax.set_xlim(shares.index[0], shares.index[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_ylabel("population share")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return fig
