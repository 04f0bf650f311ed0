"""Benchmarks: throughput and memory, printed as ratios against anchors run alongside.

Throughput is measured on the compiled kernels: ``STACKGAME_JIT=eager`` unless the caller
set it (by default a process runs the plain Python kernels for its first second or so;
see :mod:`stackgame.environment.jit`). ``bench_startup`` measures that start-up itself.
"""

import os

os.environ.setdefault("STACKGAME_JIT", "eager")
