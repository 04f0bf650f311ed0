"""Whole-process ``stackgame run``: a one-round run's wall time, and rounds per second.

Two figures of issue 14, measured as a user meets them, the command in a fresh process
with its imports, the model, the answer and every file (tables, plots, manifest):

* ``stackgame run --rounds 1``: target under 2 s of wall time once installed (numba's
  cache warm: one unmeasured run first);
* ``stackgame run --rounds 2001 --json`` minus ``--rounds 1``: target at least 2,000
  rounds a second.

Each is timed several times (best and median wall; CPU time of the process and its
children, which on a shared machine is closer to what an idle one would show), next to
the anchors measured in the same run: the interpreter's start-up and ``import mesa``,
the floor any run of a Mesa model pays. Printed as ratios against the targets (at
least 1.0 meets a target).
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ONE_ROUND_TARGET = 2.0  # seconds
ROUNDS_TARGET = 2000.0  # rounds per second
LONG = 2001


def _command() -> list[str]:
    exe = shutil.which("stackgame", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "stackgame"]


def _time(argv: list[str], passes: int) -> tuple[float, float, float]:
    """Best wall, median wall and best CPU (user + sys, children included) of ``argv``."""
    walls, cpus = [], []
    for _ in range(passes):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), statistics.median(walls), min(cpus)


def main() -> None:
    passes = int(os.environ.get("STACKGAME_BENCH_PASSES", "5"))
    cmd = _command()
    with tempfile.TemporaryDirectory() as tmp:
        one = [*cmd, "run", "--rounds", "1", "--out", f"{tmp}/one"]
        long = [*cmd, "run", "--rounds", str(LONG), "--json", "--out", f"{tmp}/long"]
        subprocess.run(one, check=True, capture_output=True)  # warm numba's cache
        python = _time([sys.executable, "-c", "pass"], passes)
        mesa = _time([sys.executable, "-c", "import mesa"], passes)
        t1 = _time(one, passes)
        t2001 = _time(long, max(2, passes // 2))
    print(f"stackgame run, whole process ({passes} passes; wall best / median, cpu best)")
    print(f"  anchor: python -c pass          {python[0]:6.2f} s / {python[1]:6.2f} s, "
          f"cpu {python[2]:5.2f} s")  # fmt: skip
    print(f"  anchor: python -c 'import mesa' {mesa[0]:6.2f} s / {mesa[1]:6.2f} s, "
          f"cpu {mesa[2]:5.2f} s")  # fmt: skip
    print(f"  run --rounds 1                  {t1[0]:6.2f} s / {t1[1]:6.2f} s, cpu {t1[2]:5.2f} s")
    print(f"  run --rounds {LONG} --json        {t2001[0]:6.2f} s / {t2001[1]:6.2f} s, "
          f"cpu {t2001[2]:5.2f} s")  # fmt: skip
    print(f"  one-round run: target {ONE_ROUND_TARGET:.0f} s; ratio target / best wall "
          f"{ONE_ROUND_TARGET / t1[0]:5.2f}x, target / cpu {ONE_ROUND_TARGET / t1[2]:5.2f}x "
          "(>= 1 meets it)")  # fmt: skip
    wall_rate = (LONG - 1) / max(t2001[0] - t1[0], 1e-9)
    cpu_rate = (LONG - 1) / max(t2001[2] - t1[2], 1e-9)
    print(f"  rounds/s ({LONG} - 1 rounds): {wall_rate:7.0f} wall, {cpu_rate:7.0f} cpu; "
          f"ratio to the {ROUNDS_TARGET:.0f}/s target {wall_rate / ROUNDS_TARGET:5.2f}x wall, "
          f"{cpu_rate / ROUNDS_TARGET:5.2f}x cpu")  # fmt: skip


if __name__ == "__main__":
    main()
