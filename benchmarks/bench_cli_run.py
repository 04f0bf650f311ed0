"""Whole-process ``stackgame run``: a one-round run's wall time, and rounds per second.

Two figures of issue 14, measured as a user meets them, the command in a fresh process
with its imports, the model, the answer and every file (tables, plots, manifest):

* ``stackgame run --rounds 1``: target under 2 s of wall time once installed (numba's
  cache warm: one unmeasured run first);
* ``stackgame run --rounds 2001 --json --seeds 1`` minus ``--rounds 1``: target at least
  2,000 rounds a second (one seed: the model's rounds, not the verdict's extra seeds);
* ``stackgame run --rounds 2001 --json`` as the issue writes it, minus ``--rounds 1``:
  with the default seeds (8) the command plays 8 x 2,001 rounds (7 extra seeds for the
  verdict's intervals), so it is printed both as the command's rounds per second (2,000
  over the difference) and as the model's (8 x 2,000 over the difference).

Each is timed several times (best and median wall; CPU time of the process and its
children, which on a shared machine is closer to what an idle one would show), next to
the anchors measured in the same run: the interpreter's start-up and ``import mesa``,
the floor any run of a Mesa model pays. Printed as ratios against the targets (at
least 1.0 meets a target).

Then the same two commands once each with numba's cache empty (``NUMBA_CACHE_DIR`` a
fresh folder): what the first long run on a fresh machine gives. With
``STACKGAME_BENCH_CLI_BASELINE`` set to another installation's ``stackgame`` executable
(a checkout of an older revision with its own venv), that one is timed too, its passes
interleaved with these, and the ratios printed against it.
"""

from __future__ import annotations

import functools
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


def _time(
    argv: list[str], passes: int, env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """Best wall, median wall and best CPU (user + sys, children included) of ``argv``."""
    walls, cpus = [], []
    for _ in range(passes):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), statistics.median(walls), min(cpus)


@functools.cache
def _one_seed(cmd: tuple[str, ...]) -> tuple[str, ...]:
    """``["--seeds", "1"]`` where ``run`` plays several seeds (issue 17), else nothing.

    The rounds-per-second figure measures one run's rounds, as before ``run`` also played
    seven more seeds for its verdict; the one-round figure keeps the default seeds, as a
    user meets it.
    """
    text = subprocess.run([*cmd, "run", "--help"], capture_output=True, text=True).stdout
    return ("--seeds", "1") if "--seeds" in text else ()


def _seeds(cmd: tuple[str, ...]) -> int:
    """How many seeds ``cmd``'s ``run`` plays by default (1 before issue 17)."""
    if not _one_seed(cmd):
        return 1
    from stackgame.commands.run import DEFAULT_SEEDS

    return DEFAULT_SEEDS


def _as_written(cmd: list[str], tmp: str) -> list[str]:
    """``run --rounds 2001 --json`` with the default seeds, as issue 14 writes it."""
    return [*cmd, "run", "--rounds", str(LONG), "--json", "--out", f"{tmp}/all"]


def _commands(cmd: list[str], tmp: str) -> tuple[list[str], list[str]]:
    one = [*cmd, "run", "--rounds", "1", "--out", f"{tmp}/one"]
    long = [
        *cmd,
        "run",
        "--rounds",
        str(LONG),
        "--json",
        *_one_seed(tuple(cmd)),
        "--out",
        f"{tmp}/long",
    ]
    return one, long


def _report(name: str, t1: tuple[float, ...], t2001: tuple[float, ...]) -> float:
    """Print one command's two lines and the ratios; return its wall rounds/s."""
    print(f"  {name}: run --rounds 1          {t1[0]:6.2f} s / {t1[1]:6.2f} s, "
          f"cpu {t1[2]:5.2f} s")  # fmt: skip
    print(f"  {name}: run --rounds {LONG} --json {t2001[0]:6.2f} s / {t2001[1]:6.2f} s, "
          f"cpu {t2001[2]:5.2f} s")  # fmt: skip
    print(f"    one-round run: target {ONE_ROUND_TARGET:.0f} s; ratio target / best wall "
          f"{ONE_ROUND_TARGET / t1[0]:5.2f}x, target / cpu {ONE_ROUND_TARGET / t1[2]:5.2f}x "
          "(>= 1 meets it)")  # fmt: skip
    wall_rate = (LONG - 1) / max(t2001[0] - t1[0], 1e-9)
    cpu_rate = (LONG - 1) / max(t2001[2] - t1[2], 1e-9)
    print(f"    rounds/s ({LONG} - 1 rounds): {wall_rate:7.0f} wall, {cpu_rate:7.0f} cpu; "
          f"ratio to the {ROUNDS_TARGET:.0f}/s target {wall_rate / ROUNDS_TARGET:5.2f}x wall, "
          f"{cpu_rate / ROUNDS_TARGET:5.2f}x cpu")  # fmt: skip
    return wall_rate


def main() -> None:
    passes = int(os.environ.get("STACKGAME_BENCH_PASSES", "5"))
    base_exe = os.environ.get("STACKGAME_BENCH_CLI_BASELINE", "")
    named = {"this": _command()}
    if base_exe:
        named["baseline"] = [base_exe]
    env = {k: v for k, v in os.environ.items() if k not in ("STACKGAME_JIT", "NUMBA_CACHE_DIR")}
    times: dict[str, dict[str, list[tuple[float, float, float]]]] = {
        n: {"one": [], "long": [], "all": []} for n in named
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, cmd in named.items():  # warm numba's cache (a long run compiles)
            for argv in _commands(cmd, f"{tmp}/{name}"):
                subprocess.run(argv, check=True, capture_output=True, env=env)
        python = _time([sys.executable, "-c", "pass"], passes, env)
        mesa = _time([sys.executable, "-c", "import mesa"], passes, env)
        for k in range(passes):  # interleaved: a change in the machine's load hits both
            for name, cmd in named.items():
                one, long = _commands(cmd, f"{tmp}/{name}")
                times[name]["one"].append(_time(one, 1, env))
                if k < max(2, passes // 2):
                    times[name]["long"].append(_time(long, 1, env))
                if k < 2:  # the default seeds: several times the long run's work
                    times[name]["all"].append(_time(_as_written(cmd, f"{tmp}/{name}"), 1, env))
        cold = {}
        for name, cmd in named.items():  # numba's cache empty: a fresh machine
            cold_env = dict(env, NUMBA_CACHE_DIR=f"{tmp}/cache-{name}")
            one, long = _commands(cmd, f"{tmp}/{name}")
            cold[name] = (_time(one, 1, cold_env), _time(long, 1, cold_env))
    load = os.getloadavg()[0]
    print(f"stackgame run, whole process ({passes} passes; wall best / median, cpu best; "
          f"load average {load:.1f} on {os.cpu_count()} cores)")  # fmt: skip
    print(f"  anchor: python -c pass          {python[0]:6.2f} s / {python[1]:6.2f} s, "
          f"cpu {python[2]:5.2f} s")  # fmt: skip
    print(f"  anchor: python -c 'import mesa' {mesa[0]:6.2f} s / {mesa[1]:6.2f} s, "
          f"cpu {mesa[2]:5.2f} s")  # fmt: skip
    rates = {}
    for name in named:
        rates[name] = _report(name, _merge(times[name]["one"]), _merge(times[name]["long"]))
        _report_as_written(
            name, _seeds(tuple(named[name])), _merge(times[name]["one"]), _merge(times[name]["all"])
        )
    print("  numba's cache empty (one pass each):")
    for name in named:
        _report(f"{name} cold", *cold[name])
    if base_exe:
        t_now, t_base = _merge(times["this"]["one"]), _merge(times["baseline"]["one"])
        print(f"  against the baseline: one-round run {t_base[0] / t_now[0]:.2f}x faster "
              f"(wall), {t_base[2] / t_now[2]:.2f}x (cpu); rounds/s "
              f"{rates['this'] / rates['baseline']:.2f}x")  # fmt: skip


def _report_as_written(
    name: str, seeds: int, t1: tuple[float, ...], t_all: tuple[float, ...]
) -> None:
    """The issue's command with the default seeds: the command's and the model's rounds/s."""
    print(f"  {name}: run --rounds {LONG} --json ({seeds} seeds) {t_all[0]:6.2f} s / "
          f"{t_all[1]:6.2f} s, cpu {t_all[2]:5.2f} s")  # fmt: skip
    for label, k in (("the command's", 1), (f"the model's ({seeds} x)", seeds)):
        wall = k * (LONG - 1) / max(t_all[0] - t1[0], 1e-9)
        cpu = k * (LONG - 1) / max(t_all[2] - t1[2], 1e-9)
        print(f"    rounds/s, {label}: {wall:7.0f} wall, {cpu:7.0f} cpu; ratio to the "
              f"{ROUNDS_TARGET:.0f}/s target {wall / ROUNDS_TARGET:5.2f}x wall, "
              f"{cpu / ROUNDS_TARGET:5.2f}x cpu")  # fmt: skip


def _merge(samples: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Best wall, median wall and best CPU over single-pass samples."""
    walls = [s[0] for s in samples]
    return min(walls), statistics.median(walls), min(s[2] for s in samples)


if __name__ == "__main__":
    main()
