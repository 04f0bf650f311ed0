"""Where a round's time goes: CPU microseconds per round in each stage of ``StackModel.step``.

What it measures (``python -m benchmarks stages``; one process, one core, compiled
kernels loaded first):

1. The built-in ``ai-stack-2026`` over many 24-round runs (as ``bench_core`` times it),
   as shipped and with the buildout off (``bench_core.buildout_off``: the anchor of
   issue 12's ratio), passes alternating; per stage the median over passes, and the
   difference: what the buildout costs in each stage. Only that difference moves the
   ratio: a saving in a stage both runs share speeds both up.
2. One 2,000-round run of ``ai-stack-2026`` (what ``stackgame run --rounds 2001`` plays;
   issue 14's whole-process figure is these rounds plus the fixed cost of loading
   numba's kernels and writing the tables, ``bench_cli_run``).

The stages are the model's own methods (observe, decide, invest, the clearing's inputs,
train, clear, pay out, finance, regulate and shock, record, integrate, and the contracts
signed after the record), each wrapped with a CPU timer on the instance; "other" is the
rest of ``step`` (Mesa's wrapper, the garbage collector's pause). Without training the
clearing's inputs (``_prepare``) are computed inside ``clear_markets``, whose time then
includes them. The timers add about a microsecond a stage. Nothing here asserts a time.

As shipped, a round of ``ai-stack-2026`` makes 12 compiled calls, five of them the
buildout's (``environment/buildout_round.py``, ``docs/MODEL.md`` 20.5: investment with
its funds, backlog and training orders; training's preparation; the contracts' and the
training's settlement; the buildout's cash with the financing; installation). The
training orders after the first round are computed with the investment, so ``train``
then only asks the strategies with their own rule; the buildout's cash moves in
``finance``, not ``pay_out``.

``STACKGAME_BENCH_QUICK=1`` runs a tenth of the work.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from stackgame.environment.model import StackModel
from stackgame.environment.scenario import Scenario, apply_overrides, resolve

from benchmarks.bench_core import buildout_off

QUICK = os.environ.get("STACKGAME_BENCH_QUICK", "") not in ("", "0")
STAGES = (
    "observe", "decide", "invest", "_prepare", "train", "clear_markets", "pay_out", "finance",
    "regulate_and_shock", "record", "integrate",
)  # fmt: skip
PASSES = 1 if QUICK else 5


def _timed(model: StackModel, totals: dict[str, float]) -> None:
    """Wrap each stage of ``model`` (on the instance) with a CPU timer adding to ``totals``."""
    depth = [0]  # stages running (``_prepare`` runs in ``clear_markets`` without training)

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            depth[0] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                spent = time.process_time() - start
                totals[name] += spent
                if not depth[0]:
                    totals["_outer"] += spent

        return timed

    for name in STAGES:
        setattr(model, name, wrap(name, getattr(model, name)))
    model.contracts.sign = wrap("sign", model.contracts.sign)


def stage_costs(scenario: Scenario, runs: int, rounds: int) -> dict[str, float]:
    """CPU microseconds per round in each stage over ``runs`` runs of ``rounds`` rounds."""
    totals = dict.fromkeys((*STAGES, "sign", "step", "_outer"), 0.0)
    for k in range(runs):
        model = StackModel(scenario, k, rounds=rounds, collect=False)
        _timed(model, totals)
        start = time.process_time()
        model.run()
        totals["step"] += time.process_time() - start
        model.release()
    n = runs * rounds
    out = {name: 1e6 * t / n for name, t in totals.items()}
    out["other"] = out["step"] - out.pop("_outer")  # (a stage inside another counted once)
    return out


def _table(columns: dict[str, list[dict[str, float]]]) -> None:
    """Print the median of each column's passes per stage, and the first two's difference."""
    names = list(columns)
    medians = {
        c: {s: statistics.median(p[s] for p in passes) for s in passes[0]}
        for c, passes in columns.items()
    }
    head = "".join(f"{c:>14}" for c in names)
    diff = len(names) == 2
    print(f"  {'stage':<20}{head}" + (f"{'difference':>14}" if diff else ""))
    for stage in (*STAGES, "sign", "other", "step"):
        cells = "".join(f"{medians[c][stage]:14.1f}" for c in names)
        extra = f"{medians[names[0]][stage] - medians[names[1]][stage]:+14.1f}" if diff else ""
        print(f"  {stage:<20}{cells}{extra}")


def main() -> None:
    """Print CPU microseconds per round by stage (24-round runs on/off; a 2,000-round run)."""
    os.environ.setdefault("STACKGAME_JIT", "eager")  # (the kernels compiled from the start)
    shipped = resolve("ai-stack-2026")
    off = apply_overrides(shipped, buildout_off(shipped))
    runs = 4 if QUICK else 40
    for scenario in (shipped, off):  # (load the kernels, warm the caches)
        stage_costs(scenario, 2, 24)
    columns: dict[str, list[dict[str, float]]] = {"shipped": [], "buildout off": []}
    for _ in range(PASSES):  # alternate, so that a busy spell hits both
        columns["shipped"].append(stage_costs(shipped, runs, 24))
        columns["buildout off"].append(stage_costs(off, runs, 24))
    print(
        f"ai-stack-2026, {runs} runs of 24 rounds, CPU us per round by stage (median of "
        f"{PASSES} alternating passes); the difference is the buildout's cost per stage:"
    )
    _table(columns)
    rounds = 200 if QUICK else 2000
    long = [stage_costs(shipped, 1, rounds) for _ in range(max(1, PASSES // 2))]
    print(f"ai-stack-2026, one {rounds}-round run, CPU us per round by stage:")
    _table({"shipped": long})


if __name__ == "__main__":
    main()
