"""What a tournament is, before it is played: its spec, its matches and their seeds.

:class:`TournamentSpec` holds everything that defines a tournament (and so its results,
given the seed); :func:`schedule` enumerates its matches (:class:`MatchSpec`) in a stable
order, each with its own seed (:func:`match_seeds`). Playing them is
:mod:`stackgame.tournaments.matches`; summarising them is
:mod:`stackgame.tournaments.results`; :mod:`stackgame.tournaments.tournament` drives both.
These data types sit below all three, so none of them imports another in a circle.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from stackgame import seeds
from stackgame.errors import UserError
from stackgame.strategies.base import Strategy
from stackgame.strategies.registry import UnknownStrategyError, all_strategies
from stackgame.tournaments.games import get_game

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
    discount_rate
        On the stack, the rate per round at which seats discount their payoffs
        (``docs/MODEL.md`` 21): each seat is scored by its discounted payoff per round
        ``sum_t delta^t pi_t / sum_t delta^t``; ``None``: the scenario's
        ``discount_rate``. Matrix games take only 0 (a continuation probability,
        ``prob_end``, is their discount factor, as in Axelrod).
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
    discount_rate: float | None = None

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
        if self.discount_rate is not None:
            if not math.isfinite(self.discount_rate) or self.discount_rate < 0:
                raise UserError(
                    f"discount_rate: must be a finite number >= 0, got {self.discount_rate}"
                )
            if self.game != STACK and self.discount_rate > 0:
                raise UserError(
                    "discount_rate: only a stack tournament discounts; in a matrix game "
                    "use --prob-end (a continuation probability is a discount factor)"
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
        return strategy_classes([name])[0](**self.strategy_params.get(name, {}))

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
        if d["discount_rate"] is None:  # the scenario's: older specs read the same
            del d["discount_rate"]
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


_RATES: dict[tuple[str, float | None], float] = {}


def scoring_rate(spec: TournamentSpec) -> float:
    """The discount rate per round a tournament scores by: the spec's, else the scenario's.

    Matrix games: 0 (they take no discount rate; see :attr:`TournamentSpec.discount_rate`).
    """
    if not spec.is_stack:
        return 0.0
    key = (spec.scenario or "ai-stack-2026", spec.discount_rate)
    if key not in _RATES:
        from stackgame.environment.scenario import resolve

        given = spec.discount_rate
        _RATES[key] = float(resolve(key[0]).discount_rate if given is None else given)
    return _RATES[key]


def scoring(spec: TournamentSpec) -> dict[str, Any]:
    """What a stack tournament's ``payoff`` is: the JSON ``scoring`` block."""
    rate = scoring_rate(spec)
    last = spec.score_last
    return {
        "discount_rate": rate,
        "discount_rate_source": "given" if spec.discount_rate is not None else "scenario",
        "payoff": (
            f"mean value per round over the last {last} rounds (undiscounted)"
            if last is not None
            else "discounted value per round, sum_t delta^t pi_t / sum_t delta^t, "
            "delta = 1/(1+r) (the mean per round when r = 0)"
        ),
        "also_reported": [
            "mean_payoff (undiscounted mean per round)",
            "present_value (sum_t delta^t pi_t)",
        ],
    }


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
    return seeds.seeds63(seeds.child(root, 0), count)


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
            rng = seeds.generator(spec.seed, 1)
            chosen = sorted(int(x) for x in rng.choice(total, size=cap, replace=False))
        profiles = [_profile_at(i, strategies, len(spec.seats)) for i in chosen]
    else:
        profiles = list(itertools.combinations_with_replacement(strategies, 2))
        total = len(profiles)
    words = match_seeds(spec.seed, len(profiles) * spec.repetitions)
    matches = []
    for p, profile in enumerate(profiles):
        for rep in range(spec.repetitions):
            index = p * spec.repetitions + rep
            matches.append(MatchSpec(index, rep, profile, words[index]))
    return Schedule(tuple(matches), total, len(profiles))


_CLASSES: dict[str, type[Strategy]] = {}


def strategy_classes(names: Sequence[str]) -> list[type[Strategy]]:
    """The registry classes of strategies ``names`` (the registry is read once per process)."""
    missing = [n for n in names if n not in _CLASSES]
    if missing:
        _CLASSES.update(all_strategies())
    return [_CLASSES[n] for n in names]


__all__ = [
    "DEFAULT_MAX_PROFILES",
    "STACK",
    "MatchSpec",
    "Schedule",
    "TournamentSpec",
    "match_seed",
    "match_seeds",
    "schedule",
    "strategy_classes",
]
