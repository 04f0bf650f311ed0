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

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackgame.errors import UserError
from stackgame.tournaments import matches as match_play
from stackgame.tournaments.spec import (
    DEFAULT_MAX_PROFILES,
    STACK,
    MatchSpec,
    Schedule,
    TournamentSpec,
    match_seed,
    match_seeds,
    schedule,
    strategy_classes,
)

if TYPE_CHECKING:
    from stackgame.experiments.executor import ResultStore
    from stackgame.tournaments.results import TournamentResult

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
            play in memory (fastest; with ``processes > 1``, on the in-memory runner
            :func:`stackgame.experiments.executor.map_blocks`).
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

            self.execution = execute(
                self.tasks(),
                match_play.play_task,
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
        """Play every match in memory: serially, or on the shared in-memory runner.

        The matches are grouped in blocks, one per pair or profile (its repetitions stay
        together, so a cacheable pair is played once per process), most expensive first,
        and handed to :func:`stackgame.experiments.executor.map_blocks`. The rows are the
        same as serial play's, in another order (:meth:`TournamentResult.from_matches`
        sorts them).
        """
        matches = list(self.schedule.matches)
        bar = _bar(len(matches), progress)
        rows: list[dict[str, Any]] = []
        try:
            if processes == 1 or len(matches) < 2:
                step = max(1, len(matches) // 100)
                for i in range(0, len(matches), step):
                    rows.extend(match_play.play_chunk((self.spec, matches[i : i + step])))
                    if bar is not None:
                        bar.update(len(matches[i : i + step]))
            else:
                from stackgame.experiments.executor import map_blocks

                blocks = sorted(
                    _blocks(matches).values(), key=lambda b: _cost(self.spec, b), reverse=True
                )
                rows = map_blocks(
                    match_play.play_chunk,
                    [(self.spec, block) for block in blocks],
                    processes,
                    on_done=None if bar is None else lambda part: bar.update(len(part)),
                )
        finally:
            if bar is not None:
                bar.close()
        return rows


def _blocks(matches: list[MatchSpec]) -> dict[tuple[str, ...], list[MatchSpec]]:
    """The matches grouped by profile (a pair's repetitions together), in order."""
    blocks: dict[tuple[str, ...], list[MatchSpec]] = {}
    for m in matches:
        blocks.setdefault(m.profile, []).append(m)
    return blocks


def _cost(spec: TournamentSpec, block: list[MatchSpec]) -> int:
    """Expected cost of a block in matches: 1 for a cacheable deterministic pair."""
    cacheable = not spec.is_stack and spec.noise == 0 and spec.prob_end is None
    if cacheable and not any(c.classifier.stochastic for c in strategy_classes(block[0].profile)):
        return 1
    return len(block)


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
