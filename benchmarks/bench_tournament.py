"""Tournament speed against the Axelrod library, measured in the same run.

The prisoner's dilemma tournament of the ten classic strategies (200 turns, 10
repetitions, seed 1), played by ``stackgame.tournaments.tournament`` serially and on two processes,
and by the Axelrod library serially (and on two processes when
``STACKGAME_BENCH_AXELROD_POOL=1``; its pool costs tens of seconds here). Axelrod runs in
this interpreter when it can be imported, else in the interpreter named by
``AXELROD_PYTHON`` (default ``/tmp/axlvenv/bin/python`` when it exists: a separate venv
with ``pip install torch==2.13.0 axelrod``), as a subprocess timing the same tournament.
Both sides are timed from a warm interpreter (imports done), tournament only, results
included. Our parallel play forks children that share the matches with this process
where fork exists (``stackgame.tournaments.tournament._play_forked``); the pool start-up line times
the process pool used where it does not. Also times ``stackgame --help``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from stackgame.strategies.registry import CLASSIC

TURNS, REPETITIONS, SEED = 200, 10, 1

AXELROD_SCRIPT = """
import json, sys, time
import axelrod as axl
TURNS, REPS, SEED = (int(x) for x in sys.argv[1].split(","))
def players():
    return [axl.Cooperator(), axl.Defector(), axl.TitForTat(), axl.Grudger(),
            axl.TitFor2Tats(), axl.WinStayLoseShift(), axl.Alternator(),
            axl.SuspiciousTitForTat(), axl.Random(), axl.GTFT()]
out = {}
for processes in [int(p) for p in sys.argv[2:]]:
    t = time.perf_counter()
    tour = axl.Tournament(players(), turns=TURNS, repetitions=REPS, seed=SEED)
    res = tour.play(progress_bar=False, processes=None if processes == 1 else processes)
    out[str(processes)] = time.perf_counter() - t
out["ranked"] = res.ranked_names
print(json.dumps(out))
"""


def _ours(processes: int) -> tuple[float, list[str]]:
    from stackgame.tournaments import matches as M
    from stackgame.tournaments import tournament as T

    M._MATCH_CACHE.clear()  # a fresh tournament: nothing memoised from a previous one
    M._DECISION_CACHE.clear()
    spec = T.TournamentSpec(tuple(CLASSIC), turns=TURNS, repetitions=REPETITIONS, seed=SEED)
    start = time.perf_counter()
    result = T.Tournament(spec).play(processes=processes)
    return time.perf_counter() - start, list(result.ranking["strategy"])


def _pool_startup() -> float:
    from stackgame.tournaments.tournament import _pool

    start = time.perf_counter()
    with _pool(2) as pool:
        pool.map(abs, [1, 2])
    return time.perf_counter() - start


def _axelrod(processes: list[int]) -> dict | None:
    try:
        import axelrod  # noqa: F401

        python = sys.executable
    except ImportError:
        python = os.environ.get("AXELROD_PYTHON", "/tmp/axlvenv/bin/python")
        if not Path(python).exists():
            return None
    config = f"{TURNS},{REPETITIONS},{SEED}"
    args = [python, "-c", AXELROD_SCRIPT, config, *map(str, processes)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        print(f"  axelrod failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _help_seconds() -> float:
    exe = shutil.which("stackgame", path=str(Path(sys.executable).parent))
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "stackgame", "--help"]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    import pandas  # noqa: F401  (imports are start-up, not tournament time)
    import scipy.stats  # noqa: F401

    print(
        f"tournament: prisoner's dilemma, {len(CLASSIC)} classic strategies, "
        f"{TURNS} turns, {REPETITIONS} repetitions, seed {SEED}"
    )
    _ours(1)  # warm-up: first-call costs (registry, pandas code paths)
    serial, ranked = min((_ours(1) for _ in range(3)), key=lambda r: r[0])
    parallel, ranked2 = min((_ours(2) for _ in range(3)), key=lambda r: r[0])
    assert ranked == ranked2, "serial and parallel rankings differ"
    print(f"  stackgame serial            {serial:8.3f} s")
    print(f"  stackgame --processes 2     {parallel:8.3f} s   ({serial / parallel:.2f}x serial)")
    print(f"  stackgame pool start-up     {_pool_startup():8.3f} s   (target < 2 s)")
    pool = os.environ.get("STACKGAME_BENCH_AXELROD_POOL") == "1"
    ax = _axelrod([1, 2] if pool else [1])
    if ax is None:
        print("  axelrod: not importable here (pip install torch==2.13.0 axelrod); skipped")
    else:
        print(f"  axelrod serial              {ax['1']:8.3f} s")
        print(f"  ratio axelrod / stackgame   {ax['1'] / serial:8.2f}x   (target >= 10x)")
        if "2" in ax:
            print(f"  axelrod processes=2         {ax['2']:8.3f} s")
        print(f"  axelrod top five            {', '.join(ax['ranked'][:5])}")
        print(f"  stackgame top five          {', '.join(ranked[:5])}")
    print(f"  stackgame --help            {_help_seconds():8.3f} s   (target < 1 s)")


if __name__ == "__main__":
    main()
