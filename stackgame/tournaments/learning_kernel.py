"""The compiled Q-learning loop over a tabulated stage game (numba; imported on first use).

One function, :func:`q_session`, plays one session of ``n`` Q-learners on a stage game
given as a table (see :mod:`stackgame.tournaments.tabulated`), with exactly the rule of
:class:`stackgame.strategies.learners.QLearning`, draw for draw: each period every firm
in turn credits last period's payoff to its last (state, arm),

    Q(s, a) <- Q(s, a) + alpha (r + gamma max_a' Q(s', a') - Q(s, a)),

(the first credit setting every entry to ``r / (1 - gamma)`` when Q starts
uninitialised), then draws ``u`` from its own generator and explores (a uniform arm
drawn from the same generator) when ``u < exp(-beta t)``, else plays ``argmax Q(s', .)``.
The numpy ``Generator`` of each firm is passed in, and numba's ``random()`` and
``integers(0, k)`` draw the same numbers from it as numpy's ``random()`` and
``integers(k)`` (a test checks the whole session against the general path).

Calvano et al.'s (2020) stopping rule is optional: with ``stable > 0`` the session stops
once no firm's greedy strategy (``argmax_a Q(s, a)`` in every state) has changed for
``stable`` consecutive periods. Only the entry updated in a period can change a greedy
action, so checking that row is checking the whole strategy.

Like the kernels of :mod:`stackgame.environment`, the function is plain loops over arrays;
``q_session.py_func`` runs it uncompiled.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def q_session(
    payoff: np.ndarray,
    other: np.ndarray,
    k: int,
    q: np.ndarray,
    initialised: np.ndarray,
    alpha: float,
    gamma: float,
    beta: float,
    rngs: tuple[np.random.Generator, ...],
    max_periods: int,
    stable: int,
    last: np.ndarray,
    extract: np.ndarray,
    trace: np.ndarray,
) -> tuple[int, bool, np.ndarray, np.ndarray, int]:
    """Play one session; Q tables in ``q`` are updated in place.

    Parameters
    ----------
    payoff
        ``payoff[profile, i]``: firm ``i``'s payoff when the firms play ``profile``
        (arms in base ``k``, firm 0 the most significant digit).
    other
        ``other[profile, i]``: the counterpart arm firm ``i`` sees after ``profile``.
    k
        Arms per firm.
    q
        ``q[i, state, arm]``, states ``own * k + other`` and the start state ``k * k``.
    initialised
        Per firm: whether ``q`` holds its initial values (else the first payoff sets them).
    alpha, gamma, beta
        Learning rate, discount factor, exploration decay.
    rngs
        One numpy ``Generator`` per firm.
    max_periods
        The cap on the session's length.
    stable
        Stop once no greedy strategy changed for this many periods (0: run to the cap).
    last
        A buffer whose length is the number of final periods to keep: on return it holds
        their profiles, oldest first (in ``last[:min(periods, len(last))]``).
    extract
        ``extract[profile, i]``: 1 when firm ``i``'s posture in ``profile`` is extract.
    trace
        ``trace[t]`` receives period ``t``'s profile (length 0: not recorded).

    Returns
    -------
    tuple
        Periods played, whether the stopping rule fired, each firm's count of extract
        periods, each firm's total payoff over the session (summed in period order),
        and the last profile.
    """
    n = payoff.shape[1]
    start = k * k
    arms = np.zeros(n, np.int64)
    states = np.zeros(n, np.int64)
    # greedy[i, s] = argmax Q_i(s, .), the first maximal arm, kept up to date: the
    # greedy arm is read, not searched, and max Q_i(s, .) is Q_i(s, greedy[i, s])
    greedy = np.zeros((n, start + 1), np.int64)
    for i in range(n):
        for s in range(start + 1):
            greedy[i, s] = np.argmax(q[i, s])
    extracts = np.zeros(n, np.int64)
    totals = np.zeros(n)
    keep = last.shape[0]
    ring = np.zeros(max(keep, 1), np.int64)
    record = trace.shape[0] > 0
    unchanged = 0
    converged = False
    prev = -1
    t = 0
    while t < max_periods:
        threshold = np.exp(-beta * t)
        changed = False
        profile = 0
        for i in range(n):
            qi = q[i]
            gi = greedy[i]
            if prev < 0:
                s = start
            else:
                s = arms[i] * k + other[prev, i]
                reward = payoff[prev, i]
                if not initialised[i]:
                    qi[:, :] = reward / (1 - gamma)
                    gi[:] = 0
                    initialised[i] = True
                sp = states[i]
                a = arms[i]
                target = reward + gamma * qi[s, gi[s]]
                old = qi[sp, a]
                new = old + alpha * (target - old)
                qi[sp, a] = new
                g = gi[sp]
                if a == g:
                    if new < old:  # the greedy arm lost value: search the row again
                        g = np.argmax(qi[sp])
                elif new > qi[sp, g] or (new == qi[sp, g] and a < g):
                    g = a
                if g != gi[sp]:
                    gi[sp] = g
                    changed = True
            rng = rngs[i]
            if rng.random() < threshold:
                a = rng.integers(0, k)
            else:
                a = gi[s]
            arms[i] = a
            states[i] = s
            profile = profile * k + a
        for i in range(n):
            extracts[i] += extract[profile, i]
            totals[i] += payoff[profile, i]
        if record:
            trace[t] = profile
        if keep > 0:
            ring[t % keep] = profile
        prev = profile
        t += 1
        if stable > 0:
            unchanged = 0 if changed else unchanged + 1
            if unchanged >= stable:
                converged = True
                break
    if keep > 0:
        m = min(t, keep)
        first = t - m
        for j in range(m):
            last[j] = ring[(first + j) % keep]
    return t, converged, extracts, totals, prev


@numba.njit(cache=True)
def greedy_cycle(
    q: np.ndarray, other: np.ndarray, k: int, profile: int, out: np.ndarray
) -> tuple[int, int]:
    """The cycle greedy play reaches from ``profile`` (every firm plays ``argmax Q``).

    Writes the profiles of the cycle into ``out`` (length at least ``k ** n``) and
    returns (how many periods it took to enter the cycle, the cycle's length).
    """
    n = q.shape[0]
    size = other.shape[0]
    seen = np.full(size, -1, np.int64)
    path = np.zeros(size + 1, np.int64)
    step = 0
    current = profile
    while seen[current] < 0:
        seen[current] = step
        path[step] = current
        nxt = 0
        for i in range(n):
            own = current
            for _ in range(n - 1 - i):
                own //= k
            own %= k
            s = own * k + other[current, i]
            nxt = nxt * k + int(np.argmax(q[i, s]))
        current = nxt
        step += 1
    enter = seen[current]
    length = step - enter
    for j in range(length):
        out[j] = path[enter + j]
    return enter, length
