"""``stackgame viz``: serve the SolaraViz page of the stack on a local port.

Runs ``solara run stackgame.viz.app`` in production mode, without the version check against
PyPI and without any CDN: the page renders offline (``solara-assets`` serves every
script; the page uses no Markdown, whose KaTeX would come from a CDN).
"""

from __future__ import annotations

import argparse
from typing import Any

EPILOG = """\
examples:
  stackgame viz                          serve on http://127.0.0.1:8765
  stackgame viz --port 8800 --seed 7     another port; the seed box starts at 7
  stackgame viz --host 0.0.0.0           listen on every interface (a shared machine)
  stackgame viz --open                   and open it in the default browser

On the page: pick the scenario, the strategy of each contested seat, the regulator's
stance, demand growth and the triggers in the sidebar, press Reset, then Step or Play.
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
SEED_VARIABLE = "STACKGAME_VIZ_SEED"
"""Environment variable through which ``--seed`` reaches the page's seed box."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``viz`` subcommand."""
    p = subparsers.add_parser(
        "viz",
        help="the SolaraViz page in the browser: the stack as a layered network, live plots",
        description=(
            "Serve the Mesa SolaraViz page of the AI stack: Reset, Play, Step and the model\n"
            "parameters; the stack as a layered network; value share, margins, HHI and cash\n"
            "plots; the event log. It renders offline. Stop it with Ctrl-C."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--seed", type=int, default=0, help="the seed the page starts with (default 0, as run)"
    )
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(handler=run)


def solara_command(host: str, port: int, *, open_browser: bool = False) -> list[str]:
    """The ``solara run`` command line that serves the page (offline, production mode)."""
    import sys

    return [
        sys.executable, "-m", "solara", "run", "stackgame.viz.app",
        "--host", host, "--port", str(port),
        "--production", "--no-check-version", "--open" if open_browser else "--no-open",
    ]  # fmt: skip


def check_address(host: str, port: int) -> None:
    """Raise :class:`~stackgame.errors.UserError` if ``host:port`` cannot be served."""
    import socket

    from stackgame.errors import UserError

    if not 1 <= port <= 65535:
        raise UserError(f"--port {port}: must be between 1 and 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise UserError(f"--host {host!r}: not a usable address ({err.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            raise UserError(
                f"--port {port}: cannot listen on {host}:{port} ({err.strerror}); "
                "is another server running there? pick another --port"
            ) from None


def check_installed() -> None:
    """Raise :class:`~stackgame.errors.UserError` if the ``viz`` extra is missing."""
    from stackgame.errors import require

    # without solara_assets the page would load its scripts from a CDN
    require("solara", "solara_assets", "ipyvuetify", needed_for="the page")


def stop_server(process: Any) -> None:
    """Stop a page server started in its own process group (``start_new_session=True``).

    SIGTERM to the group, SIGKILL after 15 s; a group whose leader has exited may still
    hold the solara child it started, which gets the SIGTERM too. The browser tests and
    ``benchmarks/bench_viz.py`` start their servers so and stop them with this.
    """
    import contextlib
    import os
    import signal
    import subprocess

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # a solara child left behind


def run(args: argparse.Namespace) -> int:
    """Serve the page until interrupted (Ctrl-C or SIGTERM); returns solara's exit code."""
    import os
    import signal
    import subprocess
    import sys

    check_installed()
    check_address(args.host, args.port)
    env = {**os.environ, SEED_VARIABLE: str(args.seed)}
    url = f"http://{args.host}:{args.port}"
    print(f"stackgame viz: serving on {url} (Ctrl-C stops)", file=sys.stderr)
    process = subprocess.Popen(
        solara_command(args.host, args.port, open_browser=args.open), env=env
    )

    def stop(signum: int, frame: object) -> None:
        process.terminate()

    previous = signal.signal(signal.SIGTERM, stop)  # `kill` stops the server too
    try:
        code = process.wait()
        return 0 if code in (-signal.SIGTERM, -signal.SIGINT) else code
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=10)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
