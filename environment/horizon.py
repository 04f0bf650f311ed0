"""What a run of a given length will cost, and whether its numbers stay finite.

:func:`estimate_run` answers before a long run starts: about how long it takes, how much
memory its records hold, and the round (if any) at which growth compounding over the
horizon carries a quantity past :data:`~stackgame.environment.ledger.RUNAWAY`, where the
model stops with a :class:`~stackgame.environment.ledger.RunawayError`.
"""

from __future__ import annotations

import gc
import math
import time
import tracemalloc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackgame.environment.ledger import RUNAWAY
from stackgame.environment.scenario import Scenario, ScenarioError, apply_overrides, resolve


@dataclass(frozen=True)
class RunEstimate:
    """The expected cost of one run.

    Attributes
    ----------
    rounds
        The run's length.
    seconds
        Wall time to build and run it on this machine, seconds (measured on a short
        sample run, scaled linearly: a round costs the same however many came before).
    memory_bytes
        Memory the run's records hold at the end, bytes (the sample's growth per round,
        scaled; the model's build included).
    runaway_round
        The first round at which growth compounding carries the market size, a capacity,
        its book capital or the cash spent on it past ``RUNAWAY`` (``None``: not within
        the run). Shocks are ignored (they have mean one).
    runaway_quantity
        What runs away first then (``"demand (market size)"`` or ``"capacity of <firm> in
        <layer>"``), or ``None``.
    """

    rounds: int
    seconds: float
    memory_bytes: int
    runaway_round: int | None
    runaway_quantity: str | None

    def as_dict(self) -> dict[str, Any]:
        """Plain dictionary (JSON-ready)."""
        return {
            "rounds": self.rounds,
            "seconds": self.seconds,
            "memory_bytes": self.memory_bytes,
            "runaway_round": self.runaway_round,
            "runaway_quantity": self.runaway_quantity,
        }


def _rounds_to_exceed(start: float, growth: float) -> float:
    """Rounds ``t`` until ``start * (1 + growth) ** t`` exceeds ``RUNAWAY`` (``inf``: never)."""
    if start <= 0 or growth <= 0:
        return math.inf
    if start > RUNAWAY:
        return 0.0
    return math.log(RUNAWAY / start) / math.log1p(growth)


def runaway_round(scenario: Scenario) -> tuple[int | None, str | None]:
    """The round at which compounding growth first exceeds ``RUNAWAY``, and what grows.

    Final demand's market size grows by ``demand.growth`` a round; each operation's
    capacity by its ``capacity_growth``, and with it its book capital and the cash spent
    building it (``build_cost`` a unit). Events and shocks are not projected. The record
    of round ``t`` sees the market size of round ``t + 1`` (grown ``t + 1`` times) and the
    capacity grown ``t + 1`` times, so the guard fires in round ``ceil(rounds) - 1``.
    """
    best = math.inf
    what: str | None = None
    d = scenario.demand
    t = _rounds_to_exceed(float(d.market_size), float(d.growth))
    if t < best:
        best, what = t, "demand (market size)"
    build_cost = {ly.name: float(ly.build_cost) for ly in scenario.layers}
    for firm in scenario.firms:
        for layer, op in firm.ops.items():
            # capital and cash move by build_cost per unit of capacity added
            scale = max(1.0, build_cost.get(layer, 0.0))
            t = _rounds_to_exceed(float(op.capacity) * scale, float(op.capacity_growth))
            if t < best:
                best, what = t, f"capacity of {firm.name} in {layer}"
    if math.isinf(best):
        return None, None
    return max(0, math.ceil(best) - 1), what


def estimate_run(
    scenario: str | Path | Scenario,
    rounds: int,
    *,
    overrides: Mapping[str, Any] | None = None,
    sample_rounds: int = 40,
    collect: bool = False,
) -> RunEstimate:
    """Estimate a run's time and memory from the scenario and the number of rounds.

    Runs the scenario for ``sample_rounds`` rounds twice (seed 0, growth as given): once
    timed, once under ``tracemalloc``; a round's cost does not depend on how many came
    before, so both scale linearly to ``rounds``. Costs a fraction of a second for the
    built-in scenario. Also projects when compounding growth would stop the run
    (:func:`runaway_round`), so that a caller can warn or refuse before starting.

    Parameters
    ----------
    scenario
        A built-in scenario name, a TOML path or a
        :class:`~stackgame.environment.scenario.Scenario`.
    rounds
        The run's length (at least 1).
    overrides
        Dotted scenario paths to values, as for the model.
    sample_rounds
        Length of the sample runs (at least 2).
    collect
        Whether the run feeds Mesa's DataCollector (as ``StackModel(collect=...)``; the
        command line's runs do not).

    Returns
    -------
    RunEstimate
        Seconds, bytes and the projected runaway round.

    Examples
    --------
    >>> est = estimate_run("ai-stack-2026", 1_000_000_000)  # doctest: +SKIP
    >>> est.seconds > 3600, est.runaway_round  # doctest: +SKIP
    (True, 5942)
    """
    from stackgame.environment.model import StackModel

    if rounds < 1:
        raise ScenarioError(f"rounds: must be at least 1 (got {rounds})")
    if sample_rounds < 2:
        raise ScenarioError(f"sample_rounds: must be at least 2 (got {sample_rounds})")
    scen = resolve(scenario)
    if overrides:
        scen = apply_overrides(scen, dict(overrides))
    at, what = runaway_round(scen)
    sample = min(sample_rounds, at) if at is not None and at >= 2 else sample_rounds
    # (a sample that would itself run away is shortened; with nothing to run, measure 2)
    sample = max(2, sample)
    StackModel(scen, 0, rounds=2).run().release()  # warm-up: imports, compiled kernels
    start = time.perf_counter()
    model = StackModel(scen, 0, rounds=sample, collect=collect)
    built = time.perf_counter()
    model.run()
    done = time.perf_counter()
    model.release()
    per_round = (done - built) / sample
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        model = StackModel(scen, 0, rounds=sample, collect=collect)
        after_build, _ = tracemalloc.get_traced_memory()
        model.run()
        after_run, _ = tracemalloc.get_traced_memory()
        model.release()
    finally:
        tracemalloc.stop()
    per_round_bytes = max(0.0, (after_run - after_build) / sample)
    return RunEstimate(
        rounds=rounds,
        seconds=(built - start) + per_round * rounds,
        memory_bytes=int(max(0, after_build - base) + per_round_bytes * rounds),
        runaway_round=at if at is not None and at < rounds else None,
        runaway_quantity=what if at is not None and at < rounds else None,
    )
