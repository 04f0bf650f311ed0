"""Classic two-player stage games and the lean match loop that plays them.

A stage game offers three things to the tournament engine: it *observes* (builds the
frozen :class:`~stackgame.strategies.base.Observation` each player sees before it
moves), it lets each player *act* (a :class:`~stackgame.strategies.base.Strategy`
returns an :class:`~stackgame.strategies.base.Action`, whose headline posture is the
move), and it scores the *payoff* of a profile of moves. :class:`StageGame` is that
protocol; :class:`MatrixGame` implements it for symmetric 2x2 games (the prisoner's
dilemma, chicken, the stag hunt), and the AI stack is played through
:func:`stackgame.simulation.simulate.simulate` by :mod:`stackgame.tournaments.tournament`.

Conventions follow the Axelrod library (Knight et al. 2016, "An open framework for the
reproducible study of the iterated prisoner's dilemma", J. Open Res. Softw. 4(1)):
``RESTRAIN`` is C (cooperate), ``EXTRACT`` is D (defect); the payoff table is
``((R, S), (T, P))`` indexed ``[own][other]``; a match of ``turns`` rounds scores each
player's mean payoff per turn; noise flips the posture actually played with
probability ``noise`` (after the strategy chose it, so the strategy sees the flipped
move in its own history, as in Axelrod).

Speed: :func:`play_match` is the hot loop of every matrix tournament. It builds each
Observation without calling the dataclass ``__init__`` (a frozen dataclass pays for
``object.__setattr__`` on 27 fields), draws all noise for a match in one vectorised call,
and, given a decision cache: memoises decisions of finite-memory strategies, plays a
memoryless strategy's planned moves (:meth:`Strategy.plan`), and ends the loop when two
memoised deterministic players return to a pair of states. Each player's generator is
made only if used, and its uses are counted (:class:`_SeatGenerator`), which also tells
when a match used no random number at all (:attr:`MatchResult.seed_free`).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from stackgame import seeds
from stackgame.errors import UserError
from stackgame.strategies.base import Action, Observation, Posture, Strategy

C = Posture.RESTRAIN
D = Posture.EXTRACT
_POSTURES = (C, D)

PayoffTable = tuple[tuple[float, float], tuple[float, float]]


class StageGame(Protocol):
    """What the tournament engine needs from a stage game: observe, act, payoff."""

    name: str

    def observe(
        self,
        round_: int,
        own: tuple[Posture, ...],
        other: tuple[Posture, ...],
        own_payoffs: tuple[float, ...],
        horizon: int | None,
    ) -> Observation:
        """The Observation one player sees before round ``round_``."""
        ...

    def act(self, strategy: Strategy, observation: Observation) -> Posture:
        """The posture ``strategy`` chooses given ``observation``."""
        ...

    def payoff(self, own: Posture, other: Posture) -> float:
        """The payoff to a player who plays ``own`` against ``other``."""
        ...


@dataclass(frozen=True)
class MatrixGame:
    """A symmetric two-player, two-action game given by the row player's payoff table.

    Parameters
    ----------
    name
        Registry key (kebab case, as on the command line).
    label
        Human-readable name.
    table
        ``((R, S), (T, P))``: ``table[own][other]`` with 0 = restrain/cooperate and
        1 = extract/defect. R is the reward for mutual restraint, S the sucker's payoff,
        T the temptation to extract, P the punishment for mutual extraction.
    description
        One line on what the game models.
    """

    name: str
    label: str
    table: PayoffTable
    description: str = ""

    def __post_init__(self) -> None:
        """Validate the table: 2x2 and finite."""
        values = [v for row in self.table for v in row]
        if len(self.table) != 2 or any(len(row) != 2 for row in self.table):
            raise UserError(f"game {self.name!r}: payoff table must be 2x2, got {self.table}")
        if not all(np.isfinite(v) for v in values):
            raise UserError(f"game {self.name!r}: payoff table has a non-finite entry")

    @property
    def rstp(self) -> tuple[float, float, float, float]:
        """The four payoffs (R, S, T, P) in Axelrod's order."""
        (r, s), (t, p) = self.table
        return r, s, t, p

    @property
    def matrix(self) -> np.ndarray:
        """The row player's payoff matrix as a 2x2 float array."""
        return np.array(self.table, dtype=float)

    def observe(
        self,
        round_: int,
        own: tuple[Posture, ...],
        other: tuple[Posture, ...],
        own_payoffs: tuple[float, ...],
        horizon: int | None,
    ) -> Observation:
        """The Observation a player sees before round ``round_`` (built on the fast path)."""
        return Observation(
            round=round_,
            firm="player",
            own_postures=own,
            own_payoffs=own_payoffs,
            own_margins=own_payoffs,
            counterparts=("opponent",),
            rivals=("opponent",),
            counterpart_postures={"opponent": other},
            counterpart_history=other,
            horizon=horizon,
            stage_payoffs=self.table,
        )

    def act(self, strategy: Strategy, observation: Observation) -> Posture:
        """The headline posture of the strategy's action."""
        return headline(strategy.decide(observation))

    def payoff(self, own: Posture, other: Posture) -> float:
        """``table[own][other]``."""
        return float(self.table[own][other])


def headline(action: Action) -> Posture:
    """The one posture an action plays in a 2x2 game (cheap path for uniform actions)."""
    if not action.postures:
        return Posture(action.default)
    return action.headline


GAMES: dict[str, MatrixGame] = {
    g.name: g
    for g in (
        MatrixGame(
            "prisoners-dilemma",
            "Prisoner's dilemma",
            ((3.0, 0.0), (5.0, 1.0)),
            "T > R > P > S and 2R > T + S: extraction dominates, mutual restraint pays more",
        ),
        MatrixGame(
            "chicken",
            "Chicken (hawk-dove)",
            ((3.0, 1.0), (4.0, 0.0)),
            "T > R > S > P: extract against a restrainer, restrain against an extractor",
        ),
        MatrixGame(
            "stag-hunt",
            "Stag hunt",
            ((4.0, 0.0), (3.0, 2.0)),
            "R > T >= P > S: two pure equilibria, mutual restraint payoff-dominant",
        ),
    )
}
"""The classic matrix games by name (Axelrod's default PD: R=3, S=0, T=5, P=1)."""


def get_game(name: str) -> MatrixGame:
    """The matrix game registered as ``name``; a :class:`UserError` naming the known ones."""
    key = name.strip().lower().replace("_", "-")
    aliases = {"pd": "prisoners-dilemma", "prisoner's-dilemma": "prisoners-dilemma"}
    key = aliases.get(key, key)
    if key not in GAMES:
        raise UserError(f"unknown game {name!r}; known games: {', '.join(GAMES)}, stack")
    return GAMES[key]


@dataclass(frozen=True)
class MatchResult:
    """The outcome of one two-player match.

    Attributes
    ----------
    turns
        Number of turns played.
    scores
        Total payoff of each player.
    restraints
        Number of turns each player restrained (after noise).
    moves
        The two histories as strings of C/D (only when asked for).
    seed_free
        Whether the match provably used no random number: a fixed length, no noise, and
        neither player touched its generator (both were handed a counting
        :class:`_SeatGenerator`). Strategies draw only from their injected generator, so
        with every seed the two players would have seen the same observations and made
        the same moves: this result is then the result for any seed. Not compared.
    """

    turns: int
    scores: tuple[float, float]
    restraints: tuple[int, int]
    moves: tuple[str, str] | None = None
    seed_free: bool = field(default=False, compare=False)

    @property
    def mean_scores(self) -> tuple[float, float]:
        """Each player's mean payoff per turn (Axelrod's normalised match score)."""
        n = max(self.turns, 1)
        return self.scores[0] / n, self.scores[1] / n

    @property
    def winner(self) -> int | None:
        """Index of the player with the higher total, ``None`` for a tie."""
        if self.scores[0] > self.scores[1]:
            return 0
        if self.scores[1] > self.scores[0]:
            return 1
        return None


@functools.lru_cache(maxsize=1024)
def _observation_class(
    game: MatrixGame, horizon: int | None, memoryless: bool = False
) -> type[Observation]:
    """A subclass of Observation whose match-constant fields are class attributes.

    Building one per turn then only sets the six fields that change; every other field
    is looked up on the class (its default, read from the dataclass fields, so new
    fields of Observation are covered; mutable defaults become read-only views). For a
    strategy of memory depth 0 (``memoryless``), which is shown no history, the five
    history fields are constant too (empty), and only ``round`` changes.
    Instances are still frozen Observations: ``isinstance``, ``replace``, ``repr`` and
    equality with a plain Observation of the same fields behave as for the base class.
    """
    constants: dict[str, object] = {}
    for f in dataclasses.fields(Observation):
        if f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            constants[f.name] = MappingProxyType(value) if isinstance(value, dict) else value
    constants.update(
        firm="player",
        counterparts=("opponent",),
        rivals=("opponent",),
        horizon=horizon,
        stage_payoffs=game.table,
        __qualname__="Observation",
        __eq__=_observation_eq,
        __hash__=Observation.__hash__,
    )
    if memoryless:
        constants.update(
            own_postures=(),
            own_payoffs=(),
            own_margins=(),
            counterpart_postures=MappingProxyType({"opponent": ()}),
            counterpart_history=(),
        )
    return type("Observation", (Observation,), constants)


_FIELDS = tuple(f.name for f in dataclasses.fields(Observation))


def _observation_eq(self: Observation, other: object) -> bool:
    if not isinstance(other, Observation):
        return NotImplemented
    return all(getattr(self, n) == getattr(other, n) for n in _FIELDS)


class _SeatGenerator:
    """The generator a strategy is handed in a match: made on first use, its uses counted.

    A stand-in for ``numpy.random.default_rng(seed)`` that draws exactly the same numbers:

    * the generator is created only when the strategy first touches it (most strategies
      are deterministic and never do; a generator costs about as much as a cached match);
    * every method called on it counts as a *use*: the tournament memoises a stochastic
      strategy's decision only when a call made none (see :func:`_seat`);
    * ``random()`` with no arguments, the one draw the classic stochastic strategies make
      every turn, is served from a block of doubles drawn in one vectorised call. A
      block of ``n`` doubles is the same numbers as ``n`` scalar calls (each consumes one
      64-bit output of the bit generator). Before any other call, the generator is put
      back to where it would be had only the doubles served so far been drawn (its state
      at the start of the block, advanced by that many doubles), and blocks stop: every
      call from then on goes to the generator itself.
    """

    __slots__ = ("_seed", "_rng", "_block", "_iter", "_next", "_state", "uses")

    def __init__(self, seed: np.random.SeedSequence | Callable[[], np.random.SeedSequence]):
        self._seed = seed
        self._rng: np.random.Generator | None = None
        self._block: list[float] = []
        self._iter: Iterator[float] = iter(self._block)
        # the next scalar double: from the block, or from the generator once blocks stop
        self._next: Callable[[], float] = self._iter.__next__
        self._state: Mapping[str, Any] | None = None  # the generator's, at the block's start
        self.uses = 0

    def _generator(self) -> np.random.Generator:
        rng = self._rng
        if rng is None:
            seed = self._seed
            rng = self._rng = np.random.default_rng(
                seed if isinstance(seed, np.random.SeedSequence) else seed()
            )
        return rng

    def _synced(self) -> np.random.Generator:
        """The generator, in the state the draws served so far leave it; blocks stop."""
        rng = self._generator()
        if self._state is not None:
            served = len(self._block) - operator.length_hint(self._iter)
            rng.bit_generator.state = self._state
            if served:
                rng.random(served)
            self._state = None
            self._block = []
            self._iter = iter(self._block)
        self._next = rng.random
        return rng

    def _refill(self) -> float:
        rng = self._generator()
        self._state = rng.bit_generator.state
        self._block = rng.random(min(2 * len(self._block) or 32, 4096)).tolist()
        self._iter = iter(self._block)
        self._next = self._iter.__next__
        return self._next()

    def random(self, *args: Any, **kwargs: Any) -> Any:
        """``Generator.random``; a scalar draw comes from the current block."""
        self.uses += 1
        if args or kwargs:
            return self._synced().random(*args, **kwargs)
        try:
            return self._next()
        except StopIteration:
            return self._refill()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in _SeatGenerator.__slots__:
            raise AttributeError(name)
        self.uses += 1
        return getattr(self._synced(), name)


def _delegate(name: str) -> Callable[..., Any]:
    def method(self: _SeatGenerator, *args: Any, **kwargs: Any) -> Any:
        self.uses += 1
        return getattr(self._synced(), name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``Generator.{name}`` (a use; see :class:`_SeatGenerator`)."
    return method


for _name, _attr in vars(np.random.Generator).items():
    if not _name.startswith("_") and callable(_attr) and _name != "random":
        setattr(_SeatGenerator, _name, _delegate(_name))


@dataclass
class _Seat:
    """One player in a match, with its decision cache when it may use one."""

    strategy: Strategy
    memory: int | None
    cache: dict[tuple[int, int], Posture] | None
    watch: _SeatGenerator | None = None  # the generator, when its uses gate the cache
    generator: _SeatGenerator | None = None  # the generator handed, when it counts uses


def _fingerprint(strategy: Strategy) -> tuple[Any, ...]:
    """The class and the parameters of a fresh strategy (its attributes except ``rng``)."""
    attrs = sorted((k, repr(v)) for k, v in vars(strategy).items() if k != "rng")
    return (type(strategy), tuple(attrs))


def _seat(
    strategy: Strategy,
    caches: dict[Any, dict[tuple[int, int], Posture]] | None,
    key: Any,
    seed: np.random.SeedSequence | Callable[[], np.random.SeedSequence],
) -> _Seat:
    """Reset ``strategy`` with its generator and decide whether its decisions are memoised.

    Deterministic strategies of finite memory depth are memoised; so are stochastic ones
    of finite memory, but only for calls that did not touch their generator (by the
    definition of memory depth, such a call always returns the same move in that state,
    without drawing, so skipping it leaves every later draw unchanged). Learners never.
    ``seed`` is the player's seed sequence, or a function that makes it: every strategy
    gets the generator ``default_rng(seed)``, through a :class:`_SeatGenerator` (made on
    first use, uses counted) unless it is stochastic and not memoised, when it gets the
    generator itself (it will draw, and needs no counting).
    """
    c = type(strategy).classifier
    depth = c.memory_depth
    if caches is None or c.learns or not np.isfinite(depth):
        if c.stochastic:
            strategy.reset(
                np.random.default_rng(seed if isinstance(seed, np.random.SeedSequence) else seed())
            )
            return _Seat(strategy, None, None)
        generator = _SeatGenerator(seed)
        strategy.reset(generator)  # a stand-in: strategies call its methods
        return _Seat(strategy, None, None, None, generator)
    cache = caches.setdefault((_fingerprint(strategy), key), {})
    generator = _SeatGenerator(seed)
    strategy.reset(generator)
    return _Seat(strategy, int(depth), cache, generator if c.stochastic else None, generator)


def _plan(strategy: Strategy, n: int) -> dict[tuple[int, int], Posture] | None:
    """The moves a memoryless strategy plans for ``n`` turns (:meth:`Strategy.plan`).

    As a table keyed like the decision cache with the state held at 0, ``(round, 0)``;
    ``None`` when the strategy has memory or does not plan.
    """
    if type(strategy).classifier.memory_depth != 0:
        return None
    moves = strategy.plan(n)
    if moves is None:
        return None
    if len(moves) != n:
        raise ValueError(f"{strategy!r}.plan({n}) returned {len(moves)} moves")
    return {(k, 0): _POSTURES[m] for k, m in enumerate(moves)}


def _history_limit(strategy: Strategy) -> int | None:
    """How many past turns a strategy is shown: its memory depth, or all (``None``)."""
    depth = type(strategy).classifier.memory_depth
    return int(depth) if np.isfinite(depth) else None


def is_deterministic(strategy: type[Strategy]) -> bool:
    """Whether a strategy class declares itself deterministic (Axelrod's classifier)."""
    return not strategy.classifier.stochastic


def match_length(turns: int | None, prob_end: float | None, rng: np.random.Generator | None) -> int:
    """Number of turns: fixed, or geometric with end probability ``prob_end`` per turn.

    With a probabilistic end each turn is the last with probability ``prob_end``, so the
    length is geometric on {1, 2, ...} with mean ``1 / prob_end`` (Axelrod's
    ``prob_end``).
    """
    if prob_end is not None:
        if rng is None:
            raise ValueError("a probabilistic end needs a generator")
        return int(rng.geometric(prob_end))
    if turns is None:
        raise UserError("a match needs a number of turns or an end probability")
    return int(turns)


def _score_turns(
    pay: Any, hist_a: list[int], hist_b: list[int], pay_a: list[float], pay_b: list[float], k: int
) -> None:
    """Both seats' payoffs for the turns before ``k`` not scored yet (scored when asked)."""
    for j in range(len(pay_a), k):
        u_a, u_b = pay[hist_a[j]][hist_b[j]]
        pay_a.append(u_a)
        pay_b.append(u_b)


def _seat_observation(
    obs: Observation,
    k: int,
    limit: int | None,
    own_moves: list[int],
    other_moves: list[int],
    own_pay: list[float],
) -> Observation:
    """One seat's observation of turn ``k``: its last ``limit`` turns (all: ``None``).

    ``obs`` is a fresh instance of the seat's observation class (its constants set on
    the class); with ``limit`` 0 it sees no history.
    """
    d = obs.__dict__
    d["round"] = k
    if limit != 0:
        if limit is None:
            own, other, pays = tuple(own_moves), tuple(other_moves), tuple(own_pay)
        else:
            own = tuple(own_moves[-limit:])
            other = tuple(other_moves[-limit:])
            pays = tuple(own_pay[-limit:])
        d["own_postures"] = own
        d["own_payoffs"] = pays
        d["own_margins"] = pays
        d["counterpart_postures"] = {"opponent": other}
        d["counterpart_history"] = other
    return obs


def play_match(
    game: MatrixGame,
    players: Sequence[Strategy],
    seed: int | np.random.SeedSequence,
    *,
    turns: int | None = 200,
    prob_end: float | None = None,
    noise: float = 0.0,
    record_moves: bool = False,
    decision_cache: dict[Any, dict[tuple[int, int], Posture]] | None = None,
) -> MatchResult:
    """Play one match of ``game`` between two strategies.

    Parameters
    ----------
    game
        The stage game.
    players
        Two strategy instances (may be the same class; never the same object).
    seed
        The match's seed. Its first three streams (:func:`stackgame.seeds.children`) are
        the match's own generator (length and noise) and one generator per player, injected
        through :meth:`Strategy.reset`, so a match replays exactly from its seed alone.
    turns
        Fixed number of turns, announced to the players as ``horizon`` (as Axelrod
        announces the match length); ignored when ``prob_end`` is given.
    prob_end
        Probability that each turn is the last (length unknown to the players).
    noise
        Probability that each player's chosen posture is flipped.
    record_moves
        Keep the two histories as C/D strings.
    decision_cache
        A dictionary shared across matches (of one game) in which strategies of finite
        memory depth ``m`` have their decisions memoised by (round if below ``m``, last
        ``m`` own and opponent moves), per class and parameters. By the definition of
        memory depth (Axelrod's classifier) a deterministic strategy's move is a function
        of exactly that; a stochastic one is memoised only in calls that did not touch
        its generator. ``tests/stackgame/tournaments/test_games.py`` checks that every registered
        strategy plays the same, draw for draw, with and without the cache. ``None``
        calls ``decide`` every turn.

    Returns
    -------
    MatchResult
        Totals, restraint counts and optionally the moves.
    """
    if len(players) != 2 or players[0] is players[1]:
        raise ValueError("a match needs two distinct strategy instances")
    if not 0.0 <= noise <= 1.0:
        raise UserError(f"noise must be a probability in [0, 1], got {noise}")
    streams: list[Any]
    if type(seed) is int and seed >= 0:
        # the first three streams under the match seed, each made only when used
        streams = [functools.partial(seeds.child, seed, i) for i in range(3)]
    else:
        streams = seeds.children(seed, 3)
    rng = None
    if prob_end is not None or noise > 0:
        match_ss = streams[0]
        rng = np.random.default_rng(
            match_ss if isinstance(match_ss, np.random.SeedSequence) else match_ss()
        )
    a, b = players
    n = match_length(turns, prob_end, rng)
    horizon = None if prob_end is not None else n
    flip_a: set[int] = set()
    flip_b: set[int] = set()
    if noise > 0 and rng is not None:
        draws = rng.random((n, 2)) < noise
        flip_a = set(np.flatnonzero(draws[:, 0]).tolist())
        flip_b = set(np.flatnonzero(draws[:, 1]).tolist())
    (r, s), (t, p) = game.table
    pay = (((r, r), (s, t)), ((t, s), (p, p)))  # pay[own move][other move], both payoffs
    cache_key = (game.table, horizon)
    seat_a = _seat(a, decision_cache, cache_key, streams[1])
    seat_b = _seat(b, decision_cache, cache_key, streams[2])
    new = object.__new__
    hist_a: list[Posture] = []
    hist_b: list[Posture] = []
    # the payoffs of each turn, filled in only when an observation or the totals need them
    pay_a: list[float] = []
    pay_b: list[float] = []
    # the last m moves of both players, two bits a turn (own, other), from each side
    state_a = state_b = 0
    mem_a = seat_a.memory if seat_a.memory is not None else 0
    mem_b = seat_b.memory if seat_b.memory is not None else 0
    # a strategy of finite memory depth m sees only the last m turns (all it may use, by
    # its classifier; the conformance tests hold every strategy to it); memory depth 0
    # sees none, and its observations carry the empty history as class constants
    lim_a = _history_limit(a)
    lim_b = _history_limit(b)
    obs_a = _observation_class(game, horizon, lim_a == 0)
    obs_b = _observation_class(game, horizon, lim_b == 0)
    cache_a, decide_a, watch_a = seat_a.cache, a.decide, seat_a.watch
    cache_b, decide_b, watch_b = seat_b.cache, b.decide, seat_b.watch
    used = 0
    noisy = bool(flip_a or flip_b)
    mask_a = (1 << (2 * mem_a)) - 1
    mask_b = (1 << (2 * mem_b)) - 1
    if decision_cache is not None:
        # a memoryless strategy that plans its moves: played from a table keyed as the
        # cache is, (round, 0), so the loop below serves every turn from it
        planned = _plan(a, n)
        if planned is not None:
            cache_a, mem_a, mask_a, watch_a = planned, n, 0, None
        planned = _plan(b, n)
        if planned is not None:
            cache_b, mem_b, mask_b, watch_b = planned, n, 0, None
    # Two deterministic players of finite memory, both memoised, without noise: from turn
    # max(m_a, m_b) on, both moves are a function of the two states alone, so once a
    # pair of states recurs the moves since its first occurrence repeat to the end.
    start = max(mem_a, mem_b)
    seen: dict[tuple[int, int], int] | None = None
    if not noisy and cache_a is not None and cache_b is not None and start < n:
        if watch_a is None and watch_b is None:
            seen = {}
    for k in range(n):
        move_a = None
        if cache_a is not None:
            key_a = (k if k < mem_a else -1, state_a)
            move_a = cache_a.get(key_a)
        if move_a is None:
            if lim_a != 0:
                _score_turns(pay, hist_a, hist_b, pay_a, pay_b, k)
            obs = _seat_observation(new(obs_a), k, lim_a, hist_a, hist_b, pay_a)
            if watch_a is not None:
                used = watch_a.uses
            act = decide_a(obs)
            move_a = _POSTURES[act.default] if not act.postures else act.headline
            if cache_a is not None and (watch_a is None or watch_a.uses == used):
                cache_a[key_a] = move_a
        move_b = None
        if cache_b is not None:
            key_b = (k if k < mem_b else -1, state_b)
            move_b = cache_b.get(key_b)
        if move_b is None:
            if lim_b != 0:
                _score_turns(pay, hist_a, hist_b, pay_a, pay_b, k)
            obs = _seat_observation(new(obs_b), k, lim_b, hist_b, hist_a, pay_b)
            if watch_b is not None:
                used = watch_b.uses
            act = decide_b(obs)
            move_b = _POSTURES[act.default] if not act.postures else act.headline
            if cache_b is not None and (watch_b is None or watch_b.uses == used):
                cache_b[key_b] = move_b
        if noisy:
            if k in flip_a:
                move_a = _POSTURES[1 - move_a]
            if k in flip_b:
                move_b = _POSTURES[1 - move_b]
        hist_a.append(move_a)
        hist_b.append(move_b)
        state_a = ((state_a << 2) | (move_a << 1) | move_b) & mask_a
        state_b = ((state_b << 2) | (move_b << 1) | move_a) & mask_b
        if seen is not None and k + 1 >= start:
            first = seen.setdefault((state_a, state_b), k + 1)
            if first <= k:  # turns first .. k repeat: fill the rest of the match
                left, period = n - k - 1, k + 1 - first
                laps = left // period + 1
                hist_a.extend((hist_a[first:] * laps)[:left])
                hist_b.extend((hist_b[first:] * laps)[:left])
                break
    # the totals: each turn's payoff in turn order (so the same float sums), by outcome
    # 2 * own + other for a and 2 * other + own for b, looked up without a Python loop
    outcomes = list(map(operator.add, map(operator.add, hist_a, hist_a), hist_b))
    score_a = float(sum(map((r, s, t, p).__getitem__, outcomes)))
    score_b = float(sum(map((r, t, s, p).__getitem__, outcomes)))
    moves = None
    if record_moves:
        moves = ("".join(m.letter for m in hist_a), "".join(m.letter for m in hist_b))
    gen_a, gen_b = seat_a.generator, seat_b.generator
    seed_free = (
        rng is None
        and gen_a is not None
        and gen_b is not None
        and gen_a.uses == 0
        and gen_b.uses == 0
    )
    return MatchResult(
        turns=n,
        scores=(score_a, score_b),
        restraints=(hist_a.count(C), hist_b.count(C)),
        moves=moves,
        seed_free=seed_free,
    )
