"""Batch throughput, driver memory and Dask overhead, against anchors measured in the same run.

What it measures (``python -m benchmarks.bench_batch``; ``STACKGAME_BENCH_RUNS`` sets the
batch size, 1,000 by default; ``STACKGAME_BENCH_QUICK=1`` skips the slow anchors):

1. Throughput of an N-run batch of the built-in scenario (8 rounds a run) through
   ``stackgame.batch.run_batch`` on 1 and on 2 local workers: the speedup (target >= 1.7
   on two cores), against the anchor of a bare loop of ``simulate()`` calls (the
   executor's own cost per run is the difference) and of Mesa's ``batch_run`` on the
   same model and number of runs (one process).
2. The driver's peak resident memory for 1,000 and 10,000 runs, each in a fresh process,
   with a cheap run function that returns rows as wide as a real run's (110 metrics), run
   by 2 workers so the driver only collects and writes: flat means streaming works. The
   anchor is the same rows kept in a list and turned into a DataFrame at the end (what
   Mesa's ``batch_run`` does).
3. Dask's overhead per run: the same cheap tasks on a local Dask cluster of 2 processes
   against the local pool of 2 processes, and the real batch on Dask.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from stackgame.executor import ResultStore, Task, execute

N_METRICS = 110


def wide_row(task: Task) -> dict[str, Any]:
    """A cheap stand-in for a run: as many float metrics as a real run returns."""
    values = np.random.default_rng(task.seed).random(N_METRICS)
    return {f"metric_{k:03d}": float(v) for k, v in enumerate(values)}


def noop(task: Task) -> dict[str, Any]:
    """Nothing at all: the executor's own cost per task."""
    return {"x": task.seed}


def _spec_text(n: int) -> str:
    """A factorial spec of exactly ``n`` runs (10 replicates of n/10 design points)."""
    points = max(1, n // 10)
    a = 10 if points >= 10 else points
    b = max(1, points // a)
    stances = [round(float(x), 4) for x in np.linspace(0.0, 1.0, a)]
    growth = [round(float(x), 5) for x in np.linspace(0.0, 0.1, b)]
    return f"""
[batch]
name = "bench"
scenario = "ai-stack-2026"
rounds = 8
seed = 1
replicates = {n // (a * b)}
[parameters]
"regulator.stance" = {stances}
"demand.growth" = {growth}
[metrics]
keep = []
"""


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(n: int, mode: str) -> None:
    """Run n cheap wide tasks in this fresh process; print its peak RSS (MB) as JSON."""
    tasks = (Task(f"{i:07d}", seed=i, params={"i": i}) for i in range(n))
    base = _rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "stream":
            store = ResultStore(Path(tmp) / "runs")
            execute(tasks, wide_row, store=store, workers=2, progress=False, chunk_size=256)
        else:  # the anchor: every row in memory, one DataFrame at the end
            import pandas as pd

            rows = [{"run_id": t.run_id, **wide_row(t)} for t in tasks]
            pd.DataFrame(rows).to_parquet(Path(tmp) / "all.parquet")
    print(json.dumps({"n": n, "mode": mode, "peak_mb": _rss_mb(), "base_mb": base}))


def _memory(n: int, mode: str) -> dict[str, Any]:
    code = f"from benchmarks.bench_batch import memory_child; memory_child({n}, {mode!r})"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=_root()
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _root() -> Path:
    return Path(__file__).resolve().parent.parent


def _timed_batch(n: int, workers: int, backend: str = "local") -> float:
    import stackgame.simulate  # noqa: F401 - import Mesa once, outside the timing
    from stackgame.batch import load_spec, run_batch

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(_spec_text(n))
        spec = load_spec(path)
        assert spec.runs_total == n, spec.runs_total
        start = time.perf_counter()
        outcome = run_batch(
            spec, Path(tmp) / "out", workers=workers, backend=backend, progress=False
        )
        elapsed = time.perf_counter() - start
        assert outcome.summary.ok == n, outcome.summary
    return elapsed


def _bare_loop(n: int) -> float:
    from stackgame.simulate import simulate

    rng = np.random.default_rng(0)
    simulate(rounds=8, seed=0)  # warm
    start = time.perf_counter()
    for i in range(n):
        simulate(rounds=8, seed=i, overrides={"regulator.stance": float(rng.random())}).metrics()
    return time.perf_counter() - start


def _mesa_batch_run(n: int) -> float:
    import mesa
    from stackgame.environment.model import StackModel

    start = time.perf_counter()
    mesa.batch_run(
        StackModel,
        parameters={"regulator_stance": list(np.linspace(0, 1, 10)), "rounds": 8},
        iterations=max(1, n // 10),
        max_steps=8,
        number_processes=1,
        data_collection_period=-1,
        display_progress=False,
    )
    return time.perf_counter() - start


def _tasks_overhead(n: int, backend: str) -> float:
    tasks = [Task(f"{i:06d}", seed=i, params={}) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        execute(tasks, noop, store=ResultStore(Path(tmp) / "r"), workers=2, backend=backend,
                progress=False)  # fmt: skip
        return time.perf_counter() - start


def main() -> None:
    """Print the measurements with their ratios against the anchors."""
    n = int(os.environ.get("STACKGAME_BENCH_RUNS", "1000"))
    quick = os.environ.get("STACKGAME_BENCH_QUICK") == "1"
    print(f"bench_batch: {n}-run batch of ai-stack-2026, 8 rounds a run, {os.cpu_count()} CPUs")

    t1 = _timed_batch(n, 1)
    t2 = _timed_batch(n, 2)
    print(f"  batch, 1 worker : {t1:7.1f} s  {n / t1:6.1f} runs/s")
    print(f"  batch, 2 workers: {t2:7.1f} s  {n / t2:6.1f} runs/s  speedup {t1 / t2:.2f}x "
          f"(target >= 1.7x)")  # fmt: skip
    if not quick:
        m = min(n, 200)
        bare = _bare_loop(m) * n / m
        print(f"  anchor, bare simulate() loop: {bare:7.1f} s for {n} (measured on {m}); "
              f"executor cost {1000 * (t1 - bare) / n:+.1f} ms/run on 1 worker")  # fmt: skip
        try:
            mesa_t = _mesa_batch_run(m) * n / m
            print(f"  anchor, mesa.batch_run (1 process): {mesa_t:7.1f} s for {n} "
                  f"(measured on {m}); ours on 2 workers is {mesa_t / t2:.2f}x faster")  # fmt: skip
        except Exception as err:  # noqa: BLE001 - an anchor that cannot run is reported
            print(f"  anchor, mesa.batch_run: could not run ({type(err).__name__}: {err})")

    for mode in ("stream", "in-memory"):
        small, large = _memory(1000, mode), _memory(10000, mode)
        print(f"  driver peak RSS, {mode:9s}: {small['peak_mb']:7.1f} MB at 1,000 runs, "
              f"{large['peak_mb']:7.1f} MB at 10,000 runs (ratio "
              f"{large['peak_mb'] / small['peak_mb']:.2f}; growth above start "
              f"{small['peak_mb'] - small['base_mb']:.1f} -> "
              f"{large['peak_mb'] - large['base_mb']:.1f} MB)")  # fmt: skip

    k = 2000
    pool = _tasks_overhead(k, "local")
    try:
        dask = _tasks_overhead(k, "dask")
    except Exception as err:  # noqa: BLE001
        print(f"  dask: could not run ({type(err).__name__}: {err})")
        return
    print(f"  no-op tasks, 2 workers: local pool {1e3 * pool / k:.2f} ms/task, "
          f"dask {1e3 * dask / k:.2f} ms/task (including cluster start-up)")  # fmt: skip
    if not quick:
        td = _timed_batch(n, 2, backend="dask")
        print(f"  batch on dask, 2 workers: {td:7.1f} s  overhead vs local pool "
              f"{1000 * (td - t2) / n:+.1f} ms/run ({td / t2:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
