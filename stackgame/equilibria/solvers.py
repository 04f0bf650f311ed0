"""Solution concepts for normal-form games given as numpy payoff arrays.

Every function takes a payoff array of shape ``(n_players, s_1, ..., s_n)``:
``payoffs[k][a_1, ..., a_n]`` is player ``k``'s payoff when each player ``i`` plays its
pure strategy ``a_i``. One algorithm per function, pure and stateless, in the manner of
Nashpy; randomness only from an injected ``numpy.random.Generator``.

* :func:`deviation_gains`, :func:`regret`, :func:`pure_equilibria`: best responses by
  enumeration, any number of players.
* :func:`mixed_equilibria`: two players, through Nashpy (support enumeration, vertex
  enumeration or Lemke-Howson).
* :func:`gambit_equilibria`: any number of players through the optional ``pygambit``
  (GPL, not a dependency; used only when it is importable).
* :func:`alpha_rank`, :func:`alpha_rank_single_population`: alpha-Rank (Omidshafiei et al.
  2019), a ranking that always exists.
* :func:`replicator_dynamics`, :func:`replicator_ranking`: the replicator equation
  (Taylor and Jonker 1978) from seeded starting points.

References
----------
.. [Nisan2007] N. Nisan, T. Roughgarden, E. Tardos, V. Vazirani (eds.), *Algorithmic Game
   Theory*, Cambridge University Press, 2007 (chapter 3: support enumeration, Algorithm
   3.4; vertex enumeration, Section 3.5; Lemke-Howson, Section 3.4).
.. [Omidshafiei2019] S. Omidshafiei, C. Papadimitriou, G. Piliouras, K. Tuyls, M. Rowland,
   J.-B. Lespiau, W. M. Czarnecki, M. Lanctot, J. Perolat, R. Munos, "alpha-Rank:
   Multi-Agent Evaluation by Evolution", *Scientific Reports* 9, 9937 (2019).
.. [Traulsen2006] A. Traulsen, M. A. Nowak, J. M. Pacheco, "Stochastic dynamics of
   invasion and fixation", *Physical Review E* 74, 011909 (2006).
.. [Taylor1978] P. D. Taylor, L. B. Jonker, "Evolutionary stable strategies and game
   dynamics", *Mathematical Biosciences* 40, 145-156 (1978).
.. [Wellman2006] M. P. Wellman, "Methods for empirical game-theoretic analysis",
   *AAAI* 2006 (regret of a profile in an empirical game).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
Profile = tuple[int, ...]

__all__ = [
    "AlphaRankResult",
    "alpha_rank",
    "alpha_rank_single_population",
    "check_payoffs",
    "deviation_gains",
    "expected_payoffs",
    "fixation_probability",
    "gambit_equilibria",
    "mixed_equilibria",
    "mixed_regret",
    "pure_equilibria",
    "regret",
    "replicator_dynamics",
    "replicator_ranking",
    "strategy_values",
]


# -- validation and basic quantities ------------------------------------------------------


def check_payoffs(payoffs: ArrayLike) -> FloatArray:
    """Validate a payoff array and return it as floats.

    Parameters
    ----------
    payoffs
        Array of shape ``(n_players, s_1, ..., s_n)`` with ``n_players == n >= 1`` and every
        ``s_i >= 1``; all entries finite.

    Raises
    ------
    ValueError
        On a wrong shape or a non-finite entry, naming the problem.
    """
    arr = np.asarray(payoffs, dtype=float)
    if arr.ndim < 2:
        raise ValueError(
            f"payoffs: need shape (n_players, s_1, ..., s_n), got an array of shape {arr.shape}"
        )
    if arr.shape[0] != arr.ndim - 1:
        raise ValueError(
            f"payoffs: first axis must be the {arr.ndim - 1} players, got shape {arr.shape}"
        )
    if 0 in arr.shape:
        raise ValueError(f"payoffs: every player needs at least one strategy (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError("payoffs: entries must be finite numbers (found NaN or infinity)")
    return arr


def deviation_gains(payoffs: ArrayLike) -> FloatArray:
    """Each player's best unilateral gain at every pure profile.

    ``gain[k][a] = max_t u_k(t, a_{-k}) - u_k(a) >= 0``: how much player ``k`` would gain by
    switching alone to its best response (the player's regret at ``a``, [Wellman2006]_).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_players, s_1, ..., s_n)``.
    """
    arr = check_payoffs(payoffs)
    gains = np.empty_like(arr)
    for k in range(arr.shape[0]):
        best = arr[k].max(axis=k, keepdims=True)
        gains[k] = best - arr[k]
    return gains


def regret(payoffs: ArrayLike) -> FloatArray:
    """Regret of every pure profile: the largest gain of any unilateral deviation.

    ``regret(a) = max_k max_t [u_k(t, a_{-k}) - u_k(a)]`` ([Wellman2006]_); a profile is a
    pure Nash equilibrium iff its regret is 0 and an epsilon-equilibrium iff it is at most
    epsilon.

    Returns
    -------
    numpy.ndarray
        Shape ``(s_1, ..., s_n)``.
    """
    return np.asarray(deviation_gains(payoffs).max(axis=0), dtype=float)


def pure_equilibria(payoffs: ArrayLike, tol: float = 1e-12) -> list[Profile]:
    """Pure-strategy Nash equilibria by enumeration of best responses, any number of players.

    A profile ``a`` is returned when ``regret(a) <= tol``. Profiles are listed in
    lexicographic order.

    Parameters
    ----------
    payoffs
        Shape ``(n_players, s_1, ..., s_n)``.
    tol
        Largest deviation gain still counted as no gain (``tol > 0`` gives the
        epsilon-equilibria).
    """
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol: must be a finite number >= 0 (got {tol})")
    r = regret(payoffs)
    return [tuple(int(i) for i in idx) for idx in zip(*np.nonzero(r <= tol), strict=True)]


def strategy_values(payoffs: ArrayLike, strategies: Sequence[ArrayLike], player: int) -> FloatArray:
    """Payoff to each of ``player``'s pure strategies against the others' mixed strategies.

    ``v_k(t) = sum_{a_{-k}} prod_{i != k} x_i(a_i) u_k(t, a_{-k})``.
    """
    arr = check_payoffs(payoffs)
    return _values(arr, _check_mixes(arr, strategies), player)


def _values(arr: FloatArray, mixes: Sequence[FloatArray], player: int) -> FloatArray:
    """:func:`strategy_values` without the checks (inner loops)."""
    if arr.shape[0] == 2:
        return arr[0] @ mixes[1] if player == 0 else mixes[0] @ arr[1]
    table = arr[player]
    # Contract the highest axes first so earlier axis numbers stay valid.
    for i in reversed(range(arr.shape[0])):
        if i != player:
            table = np.tensordot(table, mixes[i], axes=([i], [0]))
    return np.asarray(table, dtype=float)


def expected_payoffs(payoffs: ArrayLike, strategies: Sequence[ArrayLike]) -> FloatArray:
    """Every player's expected payoff under a mixed profile, shape ``(n_players,)``."""
    arr = check_payoffs(payoffs)
    mixes = _check_mixes(arr, strategies)
    return np.array([float(strategy_values(arr, mixes, k) @ mixes[k]) for k in range(arr.shape[0])])


def mixed_regret(payoffs: ArrayLike, strategies: Sequence[ArrayLike]) -> float:
    """Largest gain of a unilateral deviation from a mixed profile (0 at a Nash equilibrium).

    ``max_k [max_t v_k(t) - x_k . v_k]`` with :func:`strategy_values` ``v_k``.
    """
    arr = check_payoffs(payoffs)
    mixes = _check_mixes(arr, strategies)
    gains = []
    for k in range(arr.shape[0]):
        v = strategy_values(arr, mixes, k)
        gains.append(float(v.max() - v @ mixes[k]))
    return max(gains)


def _check_mixes(arr: FloatArray, strategies: Sequence[ArrayLike]) -> list[FloatArray]:
    if len(strategies) != arr.shape[0]:
        raise ValueError(f"strategies: need one mixed strategy per player ({arr.shape[0]})")
    mixes = []
    for k, x in enumerate(strategies):
        v = np.asarray(x, dtype=float)
        if v.shape != (arr.shape[k + 1],):
            raise ValueError(
                f"strategies[{k}]: need {arr.shape[k + 1]} probabilities, got shape {v.shape}"
            )
        if not np.all(np.isfinite(v)) or np.any(v < -1e-12) or abs(v.sum() - 1) > 1e-8:
            raise ValueError(f"strategies[{k}]: not a probability vector ({v.tolist()})")
        mixes.append(v)
    return mixes


# -- mixed equilibria ------------------------------------------------------------------


def mixed_equilibria(
    payoffs: ArrayLike,
    method: Literal["support_enumeration", "vertex_enumeration", "lemke_howson"] = (
        "support_enumeration"
    ),
) -> list[tuple[FloatArray, FloatArray]]:
    """All Nash equilibria (pure and mixed) of a two-player game, through Nashpy.

    Support enumeration is Algorithm 3.4 of [Nisan2007]_ (every equilibrium of a
    nondegenerate game); vertex enumeration is Section 3.5 (best-response polytopes);
    Lemke-Howson (Section 3.4) gives one equilibrium per initial dropped label, duplicates
    removed. Nashpy's implementations are used unchanged.

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        Each equilibrium as the two players' mixed strategies, sorted for a stable order.
    """
    arr = check_payoffs(payoffs)
    if arr.shape[0] != 2:
        raise ValueError(
            f"mixed_equilibria: two players only (got {arr.shape[0]}); use pure_equilibria, "
            "alpha_rank or gambit_equilibria for more"
        )
    import nashpy as nash

    game = nash.Game(arr[0], arr[1])
    with warnings.catch_warnings():
        # Nashpy warns that a degenerate game may have infinitely many equilibria; the
        # caller sees the equilibria it found and can check them with mixed_regret.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        if method == "support_enumeration":
            found = list(game.support_enumeration())
        elif method == "vertex_enumeration":
            found = list(game.vertex_enumeration())
        elif method == "lemke_howson":
            labels = arr.shape[1] + arr.shape[2]
            found = [game.lemke_howson(initial_dropped_label=i) for i in range(labels)]
        else:
            raise ValueError(
                f"method: unknown {method!r}; use support_enumeration, vertex_enumeration "
                "or lemke_howson"
            )
    pairs = _dedupe([(np.asarray(a, float), np.asarray(b, float)) for a, b in found])
    return [(eq[0], eq[1]) for eq in pairs]


def _dedupe(found: list[tuple[FloatArray, ...]]) -> list[tuple[FloatArray, ...]]:
    unique: list[tuple[FloatArray, ...]] = []
    for eq in found:
        if any(np.isnan(x).any() for x in eq):
            continue
        if not any(
            all(np.allclose(x, y, atol=1e-9) for x, y in zip(eq, u, strict=True)) for u in unique
        ):
            unique.append(tuple(np.where(np.abs(x) < 1e-12, 0.0, x) for x in eq))
    unique.sort(key=lambda eq: tuple(-v for x in eq for v in np.round(x, 9)))
    return unique


def gambit_equilibria(
    payoffs: ArrayLike, method: Literal["logit", "enummixed"] = "logit"
) -> list[tuple[FloatArray, ...]]:
    """Mixed equilibria of an n-player game through the optional ``pygambit``.

    ``logit`` follows the principal branch of the logit quantal-response correspondence to
    one Nash equilibrium, for any number of players (McKelvey and Palfrey 1995; Turocy
    2005, "A dynamic homotopy interpretation of the logistic quantal response equilibrium
    correspondence", *Games and Economic Behavior* 51); ``enummixed`` enumerates the
    extreme equilibria of a two-player game. pygambit is GPL and builds from source on
    some platforms: it is an optional extra (``pip install pygambit``), never required.
    Checked against pygambit 17.0.0b2; 16.x builds tables with ``Game.from_arrays``,
    which is used when ``StrategicGame`` does not exist.

    Raises
    ------
    ImportError
        When pygambit is not installed, saying how to get it.
    """
    arr = check_payoffs(payoffs)
    if method not in ("logit", "enummixed"):
        raise ValueError(f"method: unknown {method!r}; use logit or enummixed")
    if method == "enummixed" and arr.shape[0] != 2:
        raise ValueError("method enummixed: two players only")
    try:
        import pygambit as gbt
    except ImportError:
        raise ImportError(
            "gambit_equilibria needs the optional pygambit (GPL): pip install pygambit"
        ) from None
    factory = getattr(gbt, "StrategicGame", None) or gbt.Game
    game = factory.from_arrays(*[arr[k] for k in range(arr.shape[0])])
    if method == "logit":
        result = gbt.nash.logit_solve(game)
        found = [result.equilibrium] if hasattr(result, "equilibrium") else result.equilibria
    else:
        found = gbt.nash.enummixed_solve(game, rational=False).equilibria
    out: list[tuple[FloatArray, ...]] = []
    for eq in found:
        out.append(tuple(_gambit_probs(eq[player]) for player in game.players))
    return _dedupe(out)


def _gambit_probs(mix: Any) -> FloatArray:
    """Probabilities of a pygambit mixed strategy, in strategy order (16.x and 17.x)."""
    return np.array([float(x[1]) if isinstance(x, tuple) else float(x) for x in mix])


# -- alpha-Rank --------------------------------------------------------------------------


def fixation_probability(delta: ArrayLike, alpha: float, m: int) -> FloatArray:
    """Fixation probability of one mutant in a monomorphic population of size ``m``.

    Under the Fermi (logistic) selection rule with intensity ``alpha``, a single mutant
    whose payoff exceeds the residents' by ``delta`` (constant across the population, as in
    multi-population alpha-Rank) takes over with probability ([Traulsen2006]_, used in the
    Methods of [Omidshafiei2019]_)::

        rho(delta) = (1 - exp(-alpha delta)) / (1 - exp(-m alpha delta))   (delta != 0)
        rho(0)     = 1 / m                                                  (neutral drift)

    Computed in log space, so that large ``alpha |delta|`` neither overflows nor loses the
    tiny probabilities of disadvantageous mutants.
    """
    d = np.asarray(delta, dtype=float)
    x = alpha * d
    out = np.full(d.shape, 1.0 / m)
    pos = x > 1e-12
    neg = x < -1e-12
    xp = x[pos]
    # rho = -expm1(-x) / -expm1(-m x): both terms in (0, 1], no overflow.
    out[pos] = np.expm1(-xp) / np.expm1(-m * xp)
    yn = -x[neg]  # > 0; rho = expm1(y) / expm1(m y), in logs
    out[neg] = np.exp(_log_expm1(yn) - _log_expm1(m * yn))
    return out


def _log_expm1(y: FloatArray) -> FloatArray:
    """``log(exp(y) - 1)`` for ``y > 0`` without overflow."""
    return np.where(
        y > 30, y + np.log1p(-np.exp(-np.minimum(y, 700))), np.log(np.expm1(np.minimum(y, 30)))
    )


@dataclass(frozen=True)
class AlphaRankResult:
    """What alpha-Rank returns.

    Attributes
    ----------
    pi
        Stationary distribution over pure profiles, shape ``(s_1, ..., s_n)`` (over
        strategies, shape ``(s,)``, in the single-population case).
    transition
        The Markov transition matrix ``C`` over profiles in C order (row: from).
    ranking
        Profiles (or strategies) sorted by decreasing mass, ties by index.
    alpha, m
        Ranking intensity and population size used.
    """

    pi: FloatArray
    transition: FloatArray
    ranking: list[Profile]
    alpha: float
    m: int

    def marginals(self) -> list[FloatArray]:
        """Each player's marginal mass over its own strategies."""
        n = self.pi.ndim
        return [
            np.asarray(self.pi.sum(axis=tuple(i for i in range(n) if i != k)), dtype=float)
            for k in range(n)
        ]


def _check_alpha(alpha: float, m: int) -> None:
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha: must be a finite number >= 0 (got {alpha})")
    if int(m) != m or m < 2:
        raise ValueError(f"m: population size must be an integer >= 2 (got {m})")


def _stationary(c: FloatArray) -> FloatArray:
    """Stationary distribution of a row-stochastic matrix: ``pi C = pi``, ``sum pi = 1``.

    Solved by least squares on the stacked system; if the chain has several closed classes
    (possible for huge ``alpha`` when fixation probabilities underflow) this is the
    minimum-norm distribution among the stationary ones.
    """
    n = c.shape[0]
    a = np.vstack([c.T - np.eye(n), np.ones((1, n))])
    b = np.zeros(n + 1)
    b[-1] = 1.0
    pi, *_ = np.linalg.lstsq(a, b, rcond=None)
    pi = np.clip(pi, 0.0, None)
    return np.asarray(pi / pi.sum(), dtype=float)


def _ranking(pi: FloatArray) -> list[Profile]:
    flat = pi.ravel()
    order = sorted(range(flat.size), key=lambda i: (-round(float(flat[i]), 12), i))
    return [tuple(int(v) for v in np.unravel_index(i, pi.shape)) for i in order]


def alpha_rank(
    payoffs: ArrayLike,
    alpha: float = 10.0,
    m: int = 50,
    *,
    use_inf_alpha: bool = False,
    inf_alpha_eps: float = 0.01,
) -> AlphaRankResult:
    """Multi-population alpha-Rank of [Omidshafiei2019]_: a ranking of pure profiles.

    One population per player, each of size ``m``, monomorphic between mutations. A
    mutation changes one population's strategy; the chain over pure profiles moves from
    ``s`` to ``s' = (t, s_{-k})`` with probability (Methods, "multi-population" case)::

        C[s, s'] = eta * rho_k(s -> s'),   eta = 1 / sum_k (|S_k| - 1)
        C[s, s]  = 1 - sum_{s' != s} C[s, s']

    where ``rho_k`` is :func:`fixation_probability` of the payoff difference
    ``u_k(s') - u_k(s)`` with ranking intensity ``alpha``. The alpha-Rank scores are the
    stationary distribution ``pi`` of ``C`` (``pi C = pi``), which always exists, and the
    ranking sorts profiles by ``pi``. As ``alpha`` grows, the mass concentrates on the
    sink strongly connected components of the response graph (the Markov-Conley chains;
    a strict pure Nash equilibrium is such a sink).

    With ``use_inf_alpha`` the limit ``alpha -> infinity`` is taken directly, perturbed to
    keep the chain irreducible (as in OpenSpiel's implementation): an improving move has
    probability ``eta (1 - eps)``, a worsening one ``eta eps``, a neutral one ``eta / 2``.
    """
    arr = check_payoffs(payoffs)
    _check_alpha(alpha, m)
    n = arr.shape[0]
    shape = arr.shape[1:]
    sizes = np.array(shape)
    if int(np.sum(sizes - 1)) == 0:
        return AlphaRankResult(np.ones(shape), np.ones((1, 1)), [(0,) * n], alpha, int(m))
    eta = 1.0 / float(np.sum(sizes - 1))
    total = int(np.prod(sizes))
    c = np.zeros((total, total))
    for s in itertools.product(*(range(z) for z in shape)):
        i = int(np.ravel_multi_index(s, shape))
        for k in range(n):
            for t in range(shape[k]):
                if t == s[k]:
                    continue
                s2 = s[:k] + (t,) + s[k + 1 :]
                j = int(np.ravel_multi_index(s2, shape))
                delta = arr[k][s2] - arr[k][s]
                if use_inf_alpha:
                    if abs(delta) <= 1e-14:
                        c[i, j] = eta * 0.5
                    else:
                        c[i, j] = eta * ((1 - inf_alpha_eps) if delta > 0 else inf_alpha_eps)
                else:
                    c[i, j] = eta * float(fixation_probability(delta, alpha, int(m)))
        c[i, i] = 1.0 - c[i].sum()
    pi = _stationary(c).reshape(shape)
    return AlphaRankResult(pi, c, _ranking(pi), float(alpha), int(m))


def alpha_rank_single_population(
    payoff_matrix: ArrayLike, alpha: float = 10.0, m: int = 50
) -> AlphaRankResult:
    """Single-population alpha-Rank of a symmetric two-player game ([Omidshafiei2019]_).

    ``payoff_matrix[r, s]`` is the payoff of strategy ``r`` against ``s``. One population
    of ``m`` individuals, monomorphic between mutations; a mutant ``r`` invades residents
    ``s`` with the fixation probability of a finite-population Moran process under Fermi
    selection ([Traulsen2006]_)::

        rho(r, s) = [1 + sum_{l=1}^{m-1} prod_{p=1}^{l} exp(-alpha (f_r(p) - f_s(m-p)))]^-1
        f_r(p) = ((p - 1) A[r, r] + (m - p) A[r, s]) / (m - 1)
        f_s(q) = ((q - 1) A[s, s] + (m - q) A[s, r]) / (m - 1)

    with ``p`` mutants. ``C[s, r] = rho(r, s) / (|S| - 1)`` and the scores are the
    stationary distribution of ``C``.
    """
    a = np.asarray(payoff_matrix, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise ValueError(f"payoff_matrix: need a square matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("payoff_matrix: entries must be finite numbers")
    _check_alpha(alpha, m)
    s_count = a.shape[0]
    if s_count == 1:
        return AlphaRankResult(np.ones(1), np.ones((1, 1)), [(0,)], float(alpha), int(m))
    c = np.zeros((s_count, s_count))
    p = np.arange(1, m)
    for s in range(s_count):
        for r in range(s_count):
            if r == s:
                continue
            f_r = ((p - 1) * a[r, r] + (m - p) * a[r, s]) / (m - 1)
            q = m - p
            f_s = ((q - 1) * a[s, s] + (m - q) * a[s, r]) / (m - 1)
            # log of each product term, cumulated over p = 1..l
            logs = np.cumsum(-alpha * (f_r - f_s))
            top = max(0.0, float(logs.max()))
            log_sum = top + np.log(np.exp(-top) + np.exp(logs - top).sum())
            c[s, r] = np.exp(-log_sum) / (s_count - 1)
        c[s, s] = 1.0 - c[s].sum()
    pi = _stationary(c)
    return AlphaRankResult(pi, c, _ranking(pi), float(alpha), int(m))


# -- replicator dynamics -------------------------------------------------------------------


def _batch_values(arr: FloatArray, xs: Sequence[FloatArray], k: int) -> FloatArray:
    """Values of player ``k``'s strategies for a batch of profiles ``xs[i]: (B, s_i)``."""
    n = arr.shape[0]
    if n == 1:  # a one-player game: the values do not depend on anyone's mix
        return np.tile(arr[0], (xs[0].shape[0], 1))
    letters = "abcdefghijklmnopqrstuvwxy"[:n]
    operands: list[Any] = [arr[k]]
    terms = [letters]
    for i in range(n):
        if i != k:
            operands.append(xs[i])
            terms.append("z" + letters[i])
    return np.asarray(np.einsum(",".join(terms) + "->z" + letters[k], *operands), dtype=float)


def _replicator_field(arr: FloatArray, xs: Sequence[FloatArray]) -> list[FloatArray]:
    out = []
    for k, x in enumerate(xs):
        v = _batch_values(arr, xs, k)
        out.append(x * (v - np.sum(x * v, axis=1, keepdims=True)))
    return out


def _project(x: FloatArray) -> FloatArray:
    x = np.clip(x, 0.0, None)
    return np.asarray(x / x.sum(axis=1, keepdims=True), dtype=float)


def _integrate(arr: FloatArray, xs: list[FloatArray], steps: int, dt: float) -> list[FloatArray]:
    """RK4 for a batch of starts ``xs[k]: (B, s_k)``; trajectories ``(steps + 1, B, s_k)``."""
    traj = [np.empty((steps + 1, *x.shape)) for x in xs]
    for k, x in enumerate(xs):
        traj[k][0] = x
    for step in range(1, steps + 1):
        k1 = _replicator_field(arr, xs)
        k2 = _replicator_field(arr, [x + dt / 2 * d for x, d in zip(xs, k1, strict=True)])
        k3 = _replicator_field(arr, [x + dt / 2 * d for x, d in zip(xs, k2, strict=True)])
        k4 = _replicator_field(arr, [x + dt * d for x, d in zip(xs, k3, strict=True)])
        xs = [
            _project(x + dt / 6 * (a + 2 * b + 2 * c + d))
            for x, a, b, c, d in zip(xs, k1, k2, k3, k4, strict=True)
        ]
        for k, x in enumerate(xs):
            traj[k][step] = x
    return traj


def _normalised(arr: FloatArray) -> FloatArray:
    spread = max(float(np.ptp(arr[k])) for k in range(arr.shape[0]))
    return arr / spread if spread > 0 else arr


def _check_steps(steps: int, dt: float) -> None:
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps: must be an integer >= 1 (got {steps})")
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt: must be a positive number (got {dt})")


def replicator_dynamics(
    payoffs: ArrayLike,
    start: Sequence[ArrayLike] | None = None,
    *,
    steps: int = 2000,
    dt: float = 0.05,
    normalise: bool = True,
) -> list[FloatArray]:
    """Multi-population replicator dynamics, integrated with classical Runge-Kutta (RK4).

    For each player ``k`` and pure strategy ``t`` ([Taylor1978]_; one population per
    player, as in the asymmetric replicator equation)::

        dx_k(t)/dt = x_k(t) [v_k(t) - x_k . v_k]

    with :func:`strategy_values` ``v_k``. With ``normalise`` each player's payoffs are
    first divided by the largest payoff range of any player (a positive rescaling of time:
    orbits and rest points are unchanged) so that ``dt`` means the same thing for dollar
    payoffs and textbook ones. After each step the state is projected back onto the
    simplex (clip at 0, renormalise) to remove rounding drift.

    Parameters
    ----------
    payoffs
        Shape ``(n_players, s_1, ..., s_n)``.
    start
        One mixed strategy per player (default: uniform).
    steps, dt
        Number of RK4 steps and step length.

    Returns
    -------
    list of numpy.ndarray
        One trajectory per player, shape ``(steps + 1, s_k)``.
    """
    arr = check_payoffs(payoffs)
    _check_steps(steps, dt)
    if start is None:
        start = [np.full(s, 1.0 / s) for s in arr.shape[1:]]
    mixes = _check_mixes(arr, start)
    if normalise:
        arr = _normalised(arr)
    traj = _integrate(arr, [m[None, :].copy() for m in mixes], int(steps), float(dt))
    return [t[:, 0, :] for t in traj]


def replicator_ranking(
    payoffs: ArrayLike,
    rng: np.random.Generator,
    *,
    starts: int = 20,
    steps: int = 2000,
    dt: float = 0.05,
) -> list[FloatArray]:
    """Mean long-run state of the replicator dynamics from seeded random interior starts.

    Each start draws every player's mixed strategy uniformly from its simplex (a flat
    Dirichlet) with ``rng``; the dynamics of :func:`replicator_dynamics` run from it (all
    starts integrated together), and the state is
    averaged over the second half of the trajectory (the time average, which converges to
    the interior rest point on the neutral cycles of zero-sum games like rock-paper-scissors,
    Hofbauer and Sigmund 1998, Section 7.6) and then over the starts. The result always
    exists: one score vector per player, summing to 1, ranking its strategies by how much
    of the population they hold in the long run.
    """
    arr = check_payoffs(payoffs)
    if int(starts) != starts or starts < 1:
        raise ValueError(f"starts: must be an integer >= 1 (got {starts})")
    _check_steps(steps, dt)
    draws = [[rng.dirichlet(np.ones(s)) for s in arr.shape[1:]] for _ in range(int(starts))]
    xs = [np.array([d[k] for d in draws]) for k in range(arr.shape[0])]
    # All starts are integrated together, as one batch.
    traj = _integrate(_normalised(arr), xs, int(steps), float(dt))
    half = int(steps + 1) // 2
    return [np.asarray(t[half:].mean(axis=(0, 1)), dtype=float) for t in traj]
