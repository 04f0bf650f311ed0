"""Browser tests: Playwright drives Debian's Chromium against a running ``stackgame viz``.

One server per test module, started as ``stackgame viz --host 127.0.0.1 --port <free>``
(which runs ``solara run stackgame.viz.app``), stopped after the module. Every page blocks
and records any request that leaves 127.0.0.1: the page must render offline.

Without ``/usr/bin/chromium`` (or ``$STACKGAME_CHROMIUM``) the tests skip with the reason, unless
``STACKGAME_REQUIRE_BROWSER=1`` (set by ``.ci/run``), in which case they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackgame.commands.viz import stop_server

CHROMIUM = Path(os.environ.get("STACKGAME_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "runs" / "out" / "screenshots"
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
START_TIMEOUT = 90.0


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, or a skip (a failure when the browser is required)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's chromium package to run browser tests"
        if os.environ.get("STACKGAME_REQUIRE_BROWSER") == "1":
            pytest.fail(f"STACKGAME_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A running ``stackgame viz``: its URL and its log."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def log_text(self) -> str:
        """What the server has printed so far."""
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def server(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Start ``stackgame viz`` on a free port, wait until it answers, stop it after."""
    port = free_port()
    log = tmp_path_factory.mktemp("viz") / "server.log"
    command = [
        sys.executable,
        "-m",
        "stackgame",
        "viz",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]  # fmt: skip  (the default seed, 0, as stackgame run)
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"stackgame viz exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"stackgame viz did not answer on {url} in {START_TIMEOUT:.0f} s")
            time.sleep(0.3)
        yield Server(url, log)
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    """Chromium launched headless by Playwright (one per module)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Visit:
    """One browser tab on the page, with the requests it tried to send outside."""

    def __init__(self, page: Any, external: list[str]) -> None:
        self.page = page
        self.external = external

    def screenshot(self, name: str) -> Path:
        """Save a screenshot under ``runs/out/screenshots/``."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def visit(browser: Any, server: Server) -> Iterator[Visit]:
    """A fresh tab on the page (a new session: its own model), loaded and at round 0."""
    context = browser.new_context(viewport={"width": 1600, "height": 1100})
    page = context.new_page()
    external: list[str] = []

    def offline(route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL):
            route.continue_()
        else:
            external.append(url)
            route.abort()

    page.route("**/*", offline)
    page.goto(server.url)
    page.locator(".stackgame-round").wait_for(timeout=60_000)
    try:
        yield Visit(page, external)
    finally:
        context.close()
