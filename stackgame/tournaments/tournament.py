"""Round-robin tournaments of strategies, on a classic matrix game or on the AI stack.

A tournament is a list of *matches* enumerated up front in a stable order, each with its
own seed, played serially, on a process pool, or as a resumable batch through
:func:`stackgame.experiments.executor.execute`, and then summarised by
:class:`stackgame.tournaments.results.TournamentResult`.

Matrix games (``game`` one of :data:`stackgame.tournaments.games.GAMES`)
    As in the Axelrod library (Knight et al. 2016): every unordered pair of strategies,
    self-play included, meets ``repetitions`` times for ``turns`` turns (or a geometric
    number of turns with end probability ``prob_end``), with posture noise ``noise``.

The stack (``game="stack"``)
    The *contested seats* are named firms of a scenario whose strategy varies; the other
    firms keep their scenario strategies. A match is one
    :func:`stackgame.simulation.simulate.simulate` run with a *profile*: one strategy per
    contested seat. The round robin plays every
    profile (every strategy in every seat against every combination in the other seats,
    ``len(strategies) ** len(seats)`` of them), or a seeded sample of ``max_profiles``
    profiles when the full product is larger; each profile ``repetitions`` times.

Seeds: one root seed; match ``i`` gets word ``i`` of the stream of
``SeedSequence(seed, spawn_key=(0,))`` (keyed by its index in a stable enumeration,
independent of how many matches there are or where they run), recorded as a 63-bit
integer with the match. The match
splits that seed into its own generator and one generator per player. Same root seed,
same numbers, serial or parallel, local or Dask.

Speed (matrix games): as the Axelrod library does with its deterministic cache, a match
between two deterministic strategies without noise and of fixed length is played once per
process and reused for the other repetitions; so is a match of stochastic strategies once
one repetition drew no random number at all (then every seed plays it the same way; see
:attr:`stackgame.tournaments.games.MatchResult.seed_free`); and strategies of finite memory have
their decisions memoised (stochastic ones only where they drew nothing; see
:func:`stackgame.tournaments.games.play_match`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stackgame.errors import UserError
from stackgame.strategies.base import Strategy
from stackgame.strategies.registry import UnknownStrategyError, all_strategies
from stackgame.tournaments.games import get_game

if TYPE_CHECKING:
    from stackgame.experiments.executor import ResultStore
    from stackgame.tournaments.results import TournamentResult

STACK = "stack"
DEFAULT_MAX_PROFILES = 512


@dataclass(frozen=True)
class TournamentSpec:
    """Everything that defines a tournament (and so its results, given the seed).

    Parameters
    ----------
    strategies
        Registry names of the strategies that take part (at least one; no repeats).
    game
        A matrix game name (``prisoners-dilemma``, ``chicken``, ``stag-hunt``) or
        ``"stack"``.
    turns
        Turns per match (rounds per simulation on the stack). ``None`` with
        ``prob_end``.
    prob_end
        End probability per turn: the match length is geometric with mean
        ``1 / prob_end`` and not announced to the players.
    repetitions
        How many times each match is played.
    noise
        Probability that a played posture is flipped (matrix games).
    seed
        The root seed.
    scenario
        The stack scenario (built-in name or TOML path); stack only.
    seats
        Names of the contested firms; stack only.
    max_profiles
        On the stack, play a seeded sample of this many profiles when the full product
        is larger (``None``: :data:`DEFAULT_MAX_PROFILES`).
    strategy_params
        Constructor keyword arguments per strategy name (for example
        ``{"q_learning": {"alpha": 0.15, "beta": 4e-6}}``); strategies not named are built
        with their defaults.
    score_last
        On the stack, score each seat by its mean payoff over only the last this many
        rounds (after learning has settled, as Calvano et al. measure profits at
        convergence); ``None``: every round.
    """

    strategies: tuple[str, ...]
    game: str = "prisoners-dilemma"
    turns: int | None = 200
    prob_end: float | None = None
    repetitions: int = 10
    noise: float = 0.0
    seed: int = 0
    scenario: str | None = None
    seats: tuple[str, ...] = ()
    max_profiles: int | None = None
    strategy_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    score_last: int | None = None

    def __post_init__(self) -> None:
        """Normalise names and validate every field (one message per problem)."""
        object.__setattr__(self, "strategies", tuple(self.strategies))
        object.__setattr__(self, "seats", tuple(self.seats))
        if self.game != STACK:
            object.__setattr__(self, "game", get_game(self.game).name)
        if not self.strategies:
            raise UserError("strategies: give at least one strategy")
        dupes = sorted({s for s in self.strategies if self.strategies.count(s) > 1})
        if dupes:
            raise UserError(f"strategies: {', '.join(dupes)} listed more than once")
        known = all_strategies()
        for name in self.strategies:
            if name not in known:
                raise UserError(f"strategies: {UnknownStrategyError(name)}")
        if self.prob_end is not None:
            if not (0.0 < self.prob_end <= 1.0):
                raise UserError(f"prob_end: must be in (0, 1], got {self.prob_end}")
        elif self.turns is None or self.turns < 1:
            raise UserError(f"turns: must be a positive integer, got {self.turns}")
        if self.repetitions < 1:
            raise UserError(f"repetitions: must be at least 1, got {self.repetitions}")
        if not (0.0 <= self.noise <= 1.0) or math.isnan(self.noise):
            raise UserError(f"noise: must be a probability in [0, 1], got {self.noise}")
        if self.seed < 0:
            raise UserError(f"seed: must be a non-negative integer, got {self.seed}")
        if self.game == STACK:
            if not self.seats:
                raise UserError("seats: a stack tournament needs at least one contested firm")
            if len(set(self.seats)) != len(self.seats):
                raise UserError(f"seats: a firm is listed twice in {', '.join(self.seats)}")
            if self.max_profiles is not None and self.max_profiles < 1:
                raise UserError(f"max_profiles: must be at least 1, got {self.max_profiles}")
        elif self.seats:
            raise UserError("seats: only a stack tournament has contested seats")
        if self.score_last is not None and self.score_last < 1:
            raise UserError(
                f"score_last: must be a positive number of rounds, got {self.score_last}"
            )
        params = {str(k): dict(v) for k, v in dict(self.strategy_params).items()}
        for name, kwargs in params.items():
            if name not in self.strategies:
                raise UserError(f"strategy_params: {name!r} is not one of the strategies")
            try:
                known[name](**kwargs)
            except (TypeError, ValueError) as err:
                raise UserError(f"strategy_params.{name}: {err}") from None
        object.__setattr__(self, "strategy_params", params)

    def make(self, name: str) -> Strategy:
        """A fresh instance of strategy ``name`` with its ``strategy_params``."""
        return _classes([name])[0](**self.strategy_params.get(name, {}))

    @property
    def is_stack(self) -> bool:
        """Whether the stage game is the AI stack."""
        return self.game == STACK

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (round-trips through :meth:`from_dict`)."""
        d = asdict(self)
        d["strategies"] = list(self.strategies)
        d["seats"] = list(self.seats)
        d["strategy_params"] = {k: dict(v) for k, v in self.strategy_params.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TournamentSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the key."""
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise UserError(f"tournament spec: unknown field(s) {', '.join(unknown)}")
        kw = dict(d)
        for key in ("strategies", "seats"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


@dataclass(frozen=True)
class MatchSpec:
    """One match of a tournament.

    Attributes
    ----------
    index
        Position in the stable enumeration (the key of the match's seed).
    repetition
        Which repetition (0-based).
    profile
        The strategies: (row, column) in a matrix game, one per contested seat on the
        stack.
    seed
        The match's 63-bit seed.
    """

    index: int
    repetition: int
    profile: tuple[str, ...]
    seed: int

    @property
    def run_id(self) -> str:
        """Stable identifier, sortable (``m000042``)."""
        return f"m{self.index:07d}"


def match_seeds(root: int, count: int) -> list[int]:
    """The seeds of matches ``0 .. count - 1``: 63-bit words of one seed sequence.

    Word ``i`` of ``SeedSequence(root, spawn_key=(0,)).generate_state(count, uint64)``,
    shifted right by one bit. The words form a prefix-stable stream (word ``i`` does not
    depend on ``count``), so match ``i`` keeps its seed however many matches the
    tournament has; one call hashes them all (a ``SeedSequence`` per match costs about
    as much as a whole cached match).
    """
    if count <= 0:
        return []
    state = np.random.SeedSequence(root, spawn_key=(0,)).generate_state(count, np.uint64)
    return [int(x) for x in (state >> np.uint64(1))]


def match_seed(root: int, index: int) -> int:
    """The seed of match ``index`` (see :func:`match_seeds`)."""
    return match_seeds(root, index + 1)[index]


@dataclass(frozen=True)
class Schedule:
    """The enumeration of a tournament's matches.

    Attributes
    ----------
    matches
        Every match, in order.
    profiles_total
        Size of the full round robin (pairs with self-play, or the product of seats).
    profiles_played
        How many distinct pairs/profiles are played (less than the total when sampled).
    """

    matches: tuple[MatchSpec, ...]
    profiles_total: int
    profiles_played: int

    @property
    def sampled(self) -> bool:
        """Whether only a sample of the round robin is played."""
        return self.profiles_played < self.profiles_total


def _profile_at(index: int, strategies: Sequence[str], seats: int) -> tuple[str, ...]:
    """The ``index``-th profile of ``product(strategies, repeat=seats)`` (mixed radix)."""
    n = len(strategies)
    out = []
    for _ in range(seats):
        index, digit = divmod(index, n)
        out.append(strategies[digit])
    return tuple(reversed(out))


def schedule(spec: TournamentSpec) -> Schedule:
    """Enumerate the matches of ``spec`` in a stable order (profile-major, then repetition).

    Matrix games: the unordered pairs ``(i, j)``, ``i <= j``, of the strategies in the
    given order (self-play included, as in Axelrod). The stack: every profile of
    ``product(strategies, repeat=len(seats))`` in lexicographic order, or, when that is
    more than ``max_profiles``, a uniform sample without replacement drawn from
    ``SeedSequence(seed, spawn_key=(1,))`` and kept in lexicographic order.
    """
    strategies = spec.strategies
    if spec.is_stack:
        total = len(strategies) ** len(spec.seats)
        cap = spec.max_profiles or DEFAULT_MAX_PROFILES
        chosen: list[int]
        if total <= cap:
            chosen = list(range(total))
        else:
            rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(1,)))
            chosen = sorted(int(x) for x in rng.choice(total, size=cap, replace=False))
        profiles = [_profile_at(i, strategies, len(spec.seats)) for i in chosen]
    else:
        profiles = list(itertools.combinations_with_replacement(strategies, 2))
        total = len(profiles)
    seeds = match_seeds(spec.seed, len(profiles) * spec.repetitions)
    matches = []
    for p, profile in enumerate(profiles):
        for rep in range(spec.repetitions):
            index = p * spec.repetitions + rep
            matches.append(MatchSpec(index, rep, profile, seeds[index]))
    return Schedule(tuple(matches), total, len(profiles))


_CLASSES: dict[str, type[Strategy]] = {}


def _classes(names: Sequence[str]) -> list[type[Strategy]]:
    missing = [n for n in names if n not in _CLASSES]
    if missing:
        _CLASSES.update(all_strategies())
    return [_CLASSES[n] for n in names]


# -- the tournament ----------------------------------------------------------------------


@dataclass
class Tournament:
    """A tournament ready to play.

    Parameters
    ----------
    spec
        What to play.

    Examples
    --------
    >>> from stackgame.tournaments.tournament import Tournament, TournamentSpec
    >>> spec = TournamentSpec(("always_restrain", "always_extract"), turns=10, repetitions=2)
    >>> result = Tournament(spec).play()
    >>> result.ranking["strategy"].tolist()
    ['always_extract', 'always_restrain']
    """

    spec: TournamentSpec
    schedule: Schedule = field(init=False)
    execution: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        """Enumerate the matches."""
        self.schedule = schedule(self.spec)

    def tasks(self) -> list[Any]:
        """The matches as executor tasks (run id, seed, and the configuration)."""
        from stackgame.experiments.executor import Task

        spec = self.spec.to_dict()
        return [
            Task(
                m.run_id,
                m.seed,
                {
                    "spec": spec,
                    "index": m.index,
                    "repetition": m.repetition,
                    "profile": list(m.profile),
                },
            )
            for m in self.schedule.matches
        ]

    def play(
        self,
        *,
        processes: int = 1,
        store: ResultStore | None = None,
        timeout: float | None = None,
        backend: str = "local",
        scheduler: str | None = None,
        progress: bool = False,
    ) -> TournamentResult:
        """Play every match and summarise.

        Parameters
        ----------
        processes
            Worker processes (1: in this process).
        store
            A :class:`stackgame.experiments.executor.ResultStore`: play as a resumable batch through
            the shared executor (one task per match; matches already in the store are
            not replayed; rows record each match's seed and configuration). ``None``:
            play in memory (fastest; with ``processes > 1``, this process and forked
            children share the matches, or a process pool where fork is unavailable).
        timeout
            Seconds a match may run before it is stopped and recorded as
            ``"timeout"`` (batch only).
        backend, scheduler
            Executor backend (``"local"`` or ``"dask"``) and a Dask scheduler address.
        progress
            Show a progress bar on stderr.

        Returns
        -------
        TournamentResult
            Ranking, payoff matrix, per-seat tables, statistics; ``elapsed_seconds`` is the
            time spent playing and summarising (not start-up).
        """
        import pandas as pd

        from stackgame.tournaments.results import TournamentResult

        if processes < 1:
            raise UserError(f"processes: must be at least 1, got {processes}")
        start = time.perf_counter()
        if store is not None:
            from stackgame.experiments.executor import execute
            from stackgame.tournaments.matches import play_task

            self.execution = execute(
                self.tasks(),
                play_task,
                store=store,
                workers=processes,
                backend=backend,  # type: ignore[arg-type]
                scheduler=scheduler,
                timeout=timeout,
                progress=progress,
                description="matches",
            )
            rows = store.read()
        else:
            rows = pd.DataFrame(self._play_in_memory(processes, progress))
        elapsed = time.perf_counter() - start
        result = TournamentResult.from_matches(self.spec, rows, self.schedule)
        if self.execution is not None:
            ex = self.execution
            result.notes.append(
                f"batch: {ex.total} matches, {ex.done_before} already recorded (not replayed), "
                f"{ex.ran} played: {ex.ok} ok, {ex.failed} failed, {ex.timed_out} timed out"
            )
        result.elapsed_seconds = time.perf_counter() - start
        result.play_seconds = elapsed
        return result

    def _play_in_memory(self, processes: int, progress: bool) -> list[dict[str, Any]]:
        from stackgame.tournaments.matches import _play_chunk

        matches = list(self.schedule.matches)
        bar = _bar(len(matches), progress)
        rows: list[dict[str, Any]] = []
        try:
            if processes == 1 or len(matches) < 2:
                step = max(1, len(matches) // 100)
                for i in range(0, len(matches), step):
                    rows.extend(_play_chunk((self.spec, matches[i : i + step])))
                    if bar is not None:
                        bar.update(len(matches[i : i + step]))
            elif _can_fork():
                rows = _play_forked(self.spec, matches, processes, bar)
            else:
                chunks = _chunks(self.spec, matches, processes)
                spec = self.spec.to_dict()  # pickled to the workers
                with _pool(processes) as pool:
                    for out in pool.imap(_play_chunk, [(spec, c) for c in chunks]):
                        rows.extend(out)
                        if bar is not None:
                            bar.update(len(out))
        finally:
            if bar is not None:
                bar.close()
        return rows


def _can_fork() -> bool:
    import multiprocessing as mp

    return "fork" in mp.get_all_start_methods()


def _play_forked(
    spec: TournamentSpec, matches: list[MatchSpec], processes: int, bar: Any
) -> list[dict[str, Any]]:
    """Play on ``processes`` processes: this one and ``processes - 1`` forked children.

    The matches are grouped in blocks, one per pair or profile (its repetitions stay
    together, so a cacheable pair is played once per process), most expensive first;
    every process takes the next block from a shared counter until none is left, so the
    load balances itself whatever the strategies. Each child sends its rows back
    pickled through a pipe and exits; an exception in a child is raised here. A fork
    costs a few milliseconds (no interpreter start, no pool and its threads), which
    matters when a whole tournament takes a tenth of a second; this process works
    instead of waiting. The rows are the same as serial play's, in another order
    (:meth:`TournamentResult.from_matches` sorts them).
    """
    import multiprocessing as mp
    import os
    import pickle
    import signal
    import threading

    from stackgame.tournaments.matches import _play_chunk

    blocks = sorted(_blocks(matches).values(), key=lambda b: _cost(spec, b), reverse=True)
    counter = mp.get_context("fork").Value("l", 0)

    def play_share(update: Any = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            with counter.get_lock():
                i = counter.value
                counter.value = i + 1
            if i >= len(blocks):
                return out
            out.extend(_play_chunk((spec, blocks[i])))
            if update is not None:
                update(len(blocks[i]))

    children: list[tuple[int, int]] = []
    rows: list[dict[str, Any]] = []
    try:
        for _ in range(processes - 1):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: play a share, send it, exit without cleanup
                os.close(read_fd)
                _child_reply(write_fd, play_share)
            os.close(write_fd)
            children.append((pid, read_fd))
        rows.extend(play_share(bar.update if bar is not None else None))
        while children:
            pid, read_fd = children.pop(0)
            with os.fdopen(read_fd, "rb") as pipe:
                data = pipe.read()
            threading.Thread(target=_reap, args=(pid,), daemon=True).start()
            if not data:
                raise RuntimeError(f"tournament worker {pid} died before sending its matches")
            ok, payload = pickle.loads(data)
            if not ok:
                raise payload
            rows.extend(payload)
            if bar is not None:
                bar.update(len(payload))
    finally:
        for pid, read_fd in children:  # only after an error here: stop the others
            os.close(read_fd)
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    return rows


def _reap(pid: int) -> None:
    """Wait for a finished child (its exit takes milliseconds: not on the caller's time)."""
    import os

    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # already reaped (SIGCHLD ignored, or reaped elsewhere)
        pass


def _child_reply(write_fd: int, work: Any) -> None:
    """In a forked child: run ``work``, write ``(ok, rows or exception)``, and exit."""
    import os
    import pickle

    code = 0
    try:
        try:
            reply = pickle.dumps((True, work()), pickle.HIGHEST_PROTOCOL)
        except BaseException as err:  # noqa: BLE001 - every failure goes back to the parent
            try:
                reply = pickle.dumps((False, err), pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                reply = pickle.dumps((False, RuntimeError(repr(err))))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(reply)
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        code = 1
    finally:
        os._exit(code)


def _blocks(matches: list[MatchSpec]) -> dict[tuple[str, ...], list[MatchSpec]]:
    """The matches grouped by profile (a pair's repetitions together), in order."""
    blocks: dict[tuple[str, ...], list[MatchSpec]] = {}
    for m in matches:
        blocks.setdefault(m.profile, []).append(m)
    return blocks


def _cost(spec: TournamentSpec, block: list[MatchSpec]) -> int:
    """Expected cost of a block in matches: 1 for a cacheable deterministic pair."""
    cacheable = not spec.is_stack and spec.noise == 0 and spec.prob_end is None
    if cacheable and not any(c.classifier.stochastic for c in _classes(block[0].profile)):
        return 1
    return len(block)


def _chunks(
    spec: TournamentSpec, matches: list[MatchSpec], processes: int
) -> list[list[MatchSpec]]:
    """Work for each worker, balanced by expected cost (longest processing time first).

    The repetitions of one pair stay together (so a deterministic pair is played once per
    worker and then served from the match cache, costing one match, not ``repetitions``).
    Blocks go, most expensive first, to the least loaded of ``4 * processes`` chunks, so
    every worker gets a similar share whatever the order of the strategies.
    """
    blocks = _blocks(matches)

    def cost(block: list[MatchSpec]) -> int:
        return _cost(spec, block)

    n = max(1, min(len(blocks), processes * 4))
    chunks: list[list[MatchSpec]] = [[] for _ in range(n)]
    loads = [0] * n
    for block in sorted(blocks.values(), key=cost, reverse=True):
        k = loads.index(min(loads))
        chunks[k].extend(block)
        loads[k] += cost(block)
    order = sorted(range(n), key=lambda k: -loads[k])
    return [chunks[k] for k in order if chunks[k]]


def _pool(processes: int) -> Any:
    """A process pool; ``fork`` where available (no re-import: start-up in milliseconds)."""
    import multiprocessing as mp

    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else None)
    return ctx.Pool(processes)


def _bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="matches", unit="match", leave=False)


def play_tournament(
    strategies: Sequence[str],
    game: str = "prisoners-dilemma",
    *,
    processes: int = 1,
    store: ResultStore | None = None,
    progress: bool = False,
    **spec: Any,
) -> TournamentResult:
    """Build a :class:`TournamentSpec` and play it (a convenience front door).

    Examples
    --------
    >>> r = play_tournament(["always_restrain", "always_extract"], turns=5, repetitions=1)
    >>> r.payoff_matrix.loc["always_extract", "always_restrain"]
    5.0
    """
    t = Tournament(TournamentSpec(tuple(strategies), game=game, **spec))
    return t.play(processes=processes, store=store, progress=progress)


__all__ = [
    "DEFAULT_MAX_PROFILES",
    "STACK",
    "MatchSpec",
    "Schedule",
    "Tournament",
    "TournamentSpec",
    "match_seed",
    "match_seeds",
    "play_tournament",
    "schedule",
]
