"""Start-up: a one-round run, and what compiling the kernels costs on a fresh machine.

What it measures (``python -m benchmarks startup``), each in a fresh interpreter:

1. Wall time of ``stackgame run --rounds 1 --json`` (default policy: the plain Python
   kernels, numba never imported). Target: under 2 s. Anchors: ``python -c pass`` and
   ``import stackgame.environment.model`` (Mesa's import), in the same run.
2. Compiling every kernel with an empty numba cache (``NUMBA_CACHE_DIR`` a fresh
   folder), then loading them again from that cache.
3. The default ``stackgame run`` (24 rounds) with an empty cache: the default policy
   (plain kernels, nothing to compile) against ``STACKGAME_JIT=eager`` (compile on first
   use, what every run did before the policy), i.e. the part of ``make run`` on a fresh
   machine that the kernels decide.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

COMPILE_ALL = """
import numpy as np
from stackgame.environment import jit
from stackgame.environment.model import StackModel
model = StackModel("ai-stack-2026", 0, rounds=2, collect=False)
model.run()
for name in ("choice_weights", "logit_demand_kernel", "linear_demand_kernel",
             "cournot_price_kernel", "resolve_prices_kernel"):
    jit.compile_kernel(name, "market_kernel")
"""


def _wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def _best(argv: list[str], env: dict[str, str], repeat: int = 3) -> float:
    return min(_wall(argv, env) for _ in range(repeat))


def main() -> None:
    """Print the start-up measurements and their anchors."""
    py = sys.executable
    base = {k: v for k, v in os.environ.items() if k not in ("STACKGAME_JIT", "NUMBA_CACHE_DIR")}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        one = [py, "-m", "stackgame", "run", "--rounds", "1", "--json", "--out", out]
        full = [py, "-m", "stackgame", "run", "--json", "--out", out]
        t_pass = _best([py, "-c", "pass"], base)
        t_import = _best([py, "-c", "import stackgame.environment.model"], base)
        t_one = _best(one, base)
        print(f"one-round stackgame run: {t_one:.2f} s (target < 2 s)")
        print(f"  anchors: python -c pass {t_pass:.2f} s; import the model {t_import:.2f} s")
        cold = dict(base, NUMBA_CACHE_DIR=os.path.join(tmp, "cache"), STACKGAME_JIT="eager")
        t_compile = _wall([py, "-c", COMPILE_ALL], cold)
        t_load = _wall([py, "-c", COMPILE_ALL], cold)
        print(f"every kernel, empty numba cache: {t_compile:.1f} s; from the cache: {t_load:.1f} s")
        empty = dict(base, NUMBA_CACHE_DIR=os.path.join(tmp, "cache2"))
        t_default = _wall(full, empty)
        t_eager = _wall(full, dict(empty, STACKGAME_JIT="eager"))
        print(
            f"stackgame run (24 rounds), empty cache: default {t_default:.1f} s; "
            f"compile on first use {t_eager:.1f} s ({t_eager / t_default:.1f}x)"
        )


if __name__ == "__main__":
    main()
