"""``python -m benchmarks [NAME ...]``: run every ``bench_*.py`` module's ``main()``.

Each benchmark prints its measurements next to anchors measured in the same run (a bare
Mesa model, Axelrod's tournament where it is installed, one worker vs two), so that the
ratios mean something on whatever machine runs them. Nothing here asserts a time: speed
targets are read off these lines, never enforced by unit tests. Several benchmarks run
one after another, each in its own interpreter.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the named benchmarks (default: all), each under a header."""
    folder = Path(__file__).parent
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(folder)]) if m.name.startswith("bench_")
    )
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    unknown = [n for n in wanted if n not in names]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    if len(wanted) > 1:
        # each in a fresh interpreter: one benchmark's leftovers (a Dask cluster's threads,
        # a process pool, caches, Mesa's registry) must not slow or swell the next
        worst = 0
        for name in wanted:
            done = subprocess.run([sys.executable, "-m", "benchmarks", name], check=False)
            worst = max(worst, done.returncode)
        return worst
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        module.main()
        print(f"--- {name}: {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
