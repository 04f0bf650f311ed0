"""The browser page's speed in Chromium, against its targets and a baseline in the same run.

What it measures (``python -m benchmarks viz``; needs the ``viz`` and ``test`` extras and
Debian's ``/usr/bin/chromium``, or ``$STACKGAME_CHROMIUM``):

1. **Page ready**: from navigation to the round label and all five charts drawn (the
   network and four time series), in a fresh tab of a running server. Target: under 3 s.
2. **Step**: from a click on Step to the new round on the page, the median of 5 clicks.
3. **Play**: rounds per second while playing, at the page's play interval of 101 ms
   (the ``Play Interval`` slider), from the round label's changes over the rest of the
   scenario's 24 rounds. Target: at least 5 rounds a second.

Each page is served by ``solara run stackgame.viz.app`` in production mode on a free
port, as ``stackgame viz`` does. The **baseline** is the same page at another git
revision (``STACKGAME_BENCH_VIZ_BASELINE``, default ``main``; ``none`` skips it), taken
with ``git archive`` into a temporary folder and put first on ``PYTHONPATH`` so that its
``stackgame`` package (the page) is imported, with the installed model beneath it; it is
played at its own play interval. Ratios are printed against the targets and against the
baseline. Nothing here asserts a time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from stackgame.commands.viz import stop_server

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("STACKGAME_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
]  # fmt: skip
TARGET_ROUNDS_PER_S = 5.0
TARGET_READY_S = 3.0
ROUNDS = 24
"""The rounds of the page's first scenario (``ai-stack-2026``): play stops there."""
PLAY_TIMEOUT_S = 90
"""How long play is watched at most (the old page took about 60 s for 19 rounds)."""
WATCH_ROUNDS = """() => {
  window.__rounds = [];
  const label = () => document.querySelector(".stackgame-round");
  let last = label().textContent;
  new MutationObserver(() => {
    const now = label() && label().textContent;
    if (now && now !== last) {
      last = now;
      window.__rounds.push([performance.now(), parseInt(now.split(" ").pop())]);
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
"""Records, in the page, when each new round label appears (no polling from outside)."""
CHARTS = "img[alt], [data-chart] canvas"
"""What a drawn chart is on either page: a PNG (the matplotlib page) or an ECharts canvas."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(checkout: Path | None) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``solara run stackgame.viz.app`` (from ``checkout`` if given); wait until up."""
    port = free_port()
    env = {**os.environ, "STACKGAME_VIZ_SEED": "0"}
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(checkout), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "solara", "run", "stackgame.viz.app", "--host",
               "127.0.0.1", "--port", str(port), "--production", "--no-check-version",
               "--no-open"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=checkout or ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.3)
    stop_server(process)
    raise RuntimeError(f"no answer on {url} in 120 s")


def current_round(page: Any) -> int:
    """The round the page shows."""
    text = page.locator(".stackgame-round").inner_text()
    return int(text.split()[-1])


def cpu_seconds(group: int) -> float:
    """User plus system CPU time of every process in process group ``group`` (Linux)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp; utime and stime are fields 14 and 15 of stat
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def browser_busy(cdp: Any) -> float:
    """Seconds the page's main thread has spent on tasks (Chrome's ``TaskDuration``)."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def measure(browser: Any, url: str, server: int, *, warm_up: bool = False) -> dict[str, float]:
    """Ready time, step latency and play rate of the page at ``url`` (fresh tabs).

    While playing it also reads the CPU time of the server (process group ``server``)
    and the busy time of the page's main thread, per round: what the round costs, apart
    from waiting for a core on a shared machine.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if warm_up:  # the server's imports and first render, the browser's script cache
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        page.wait_for_function(f"document.querySelectorAll({CHARTS!r}).length >= 5",
                               timeout=120_000)  # fmt: skip
        context.close()
        return {}

    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    start = time.perf_counter()
    page.goto(url)
    page.locator(".stackgame-round").wait_for(timeout=120_000)
    page.wait_for_function(f"document.querySelectorAll({CHARTS!r}).length >= 5", timeout=60_000)
    ready = time.perf_counter() - start
    steps = []
    for k in range(1, 6):
        start = time.perf_counter()
        page.get_by_role("button", name="Step").click()
        page.locator(".stackgame-round", has_text=f"Round {k}").wait_for(timeout=60_000)
        steps.append(time.perf_counter() - start)
    cpu0, busy0 = cpu_seconds(server), browser_busy(cdp)
    page.evaluate(WATCH_ROUNDS)
    page.get_by_role("button", name="\u25b6").click()
    try:  # polled 4 times a second: the page itself records when each round shows
        page.wait_for_function(f"window.__rounds.some(r => r[1] >= {ROUNDS})",
                               polling=250, timeout=PLAY_TIMEOUT_S * 1000)  # fmt: skip
    except PlaywrightTimeout:
        pass  # a slow page: rate over the rounds it showed
    seen = [(t / 1000, int(r)) for t, r in page.evaluate("window.__rounds")]
    played = max(1, current_round(page) - 5)
    cpu, busy = cpu_seconds(server) - cpu0, browser_busy(cdp) - busy0
    context.close()
    rate = 0.0
    if len(seen) >= 3:  # from the first change on: the click's own latency is not play
        (t0, r0), (t1, r1) = seen[0], seen[-1]
        rate = (r1 - r0) / (t1 - t0)
    return {"ready_s": ready, "step_s": statistics.median(steps), "rounds_per_s": rate,
            "rounds_played": float(seen[-1][1] - seen[0][1]) if seen else 0.0,
            "server_cpu_s": cpu / played, "browser_busy_s": busy / played}  # fmt: skip


def baseline_checkout(ref: str) -> Path | None:
    """``ref`` of this repository unpacked into a temporary folder (``None`` to skip)."""
    if ref.lower() in ("", "none"):
        return None
    folder = Path(tempfile.mkdtemp(prefix="stackgame-viz-baseline-"))
    archive = subprocess.run(
        ["git", "archive", ref], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def report(name: str, m: dict[str, float]) -> None:
    """One line per measure, each as a ratio against its target."""
    print(f"{name}:")
    print(f"  page ready     {m['ready_s']:6.2f} s    target < {TARGET_READY_S:.0f} s: "
          f"ratio {TARGET_READY_S / m['ready_s']:.2f} (>= 1 meets it)")  # fmt: skip
    print(f"  Step -> round  {m['step_s']:6.3f} s    (median of 5)")
    print(f"  playing        {m['rounds_per_s']:6.2f} rounds/s  target >= "
          f"{TARGET_ROUNDS_PER_S:.0f}: ratio {m['rounds_per_s'] / TARGET_ROUNDS_PER_S:.2f} "
          f"(>= 1 meets it; {m['rounds_played']:.0f} rounds timed)")  # fmt: skip
    print(f"  per round      server CPU {1000 * m['server_cpu_s']:.0f} ms, page main thread "
          f"{1000 * m['browser_busy_s']:.0f} ms", flush=True)  # fmt: skip


def main() -> None:
    """Measure the page here and, if asked, at the baseline revision; print the ratios."""
    import shutil

    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} not found (install Debian's chromium)")
        return
    from playwright.sync_api import sync_playwright

    ref = os.environ.get("STACKGAME_BENCH_VIZ_BASELINE", "main")
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores (a busy machine slows both pages)")
    base = baseline_checkout(ref)
    results: dict[str, dict[str, float]] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            for name, checkout in (("this checkout", None), (f"baseline {ref}", base)):
                if name.startswith("baseline") and checkout is None:
                    continue
                process, url = serve(checkout)
                try:
                    measure(browser, url, process.pid, warm_up=True)
                    results[name] = measure(browser, url, process.pid)
                finally:
                    stop_server(process)
                report(name, results[name])
            browser.close()
    finally:
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
    if len(results) == 2:
        now, before = results["this checkout"], results[f"baseline {ref}"]
        print(f"against the baseline: playing {now['rounds_per_s'] / before['rounds_per_s']:.1f}x "
              f"the rounds/s, Step {before['step_s'] / now['step_s']:.1f}x faster, ready "
              f"{before['ready_s'] / now['ready_s']:.1f}x faster")  # fmt: skip


if __name__ == "__main__":
    main()
