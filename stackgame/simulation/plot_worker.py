"""The plots of ``stackgame run`` drawn by a child forked when the command starts.

Importing matplotlib (and the drawing code, pandas, the fonts) costs about as much as
importing Mesa and running a short scenario; drawn after the run, it was half the wall
time of a one-round ``stackgame run``. So on Linux the command forks a child before it
imports anything heavy: the child imports the plotting side and waits while the parent
imports the model and runs it, then receives the result (pickled, without the event
log, which the plots do not read), draws the PNG files with
:func:`stackgame.simulation.report.write_plots`, the same function and so the same
files, and sends back their paths or its error. The parent writes the tables meanwhile.

A command that stops before it has a result (bad input, an interrupt) ends the child
with :meth:`PlotWorker.close`. Elsewhere (no ``fork``) :func:`start` gives ``None`` and
the caller draws the plots itself.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackgame.simulation.simulate import RunResult

Draw = Callable[[Any, Path], list[Path]]
"""A function that writes one run's plots into a folder and returns their paths."""

WARM = (
    "numpy",
    "pandas",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "stackgame.viz.layout",
    "stackgame.simulation.report",
)
"""What the child imports while it waits: everything :func:`write_plots` touches."""

DRAWER = "stackgame.simulation.report"
"""The module whose ``write_plots`` the child calls when :func:`start` is given none."""


class PlotWorker:
    """A forked child that imports the plotting code at once and draws one run's plots."""

    def __init__(self, pid: int, send_fd: int, reply_fd: int) -> None:
        self.pid = pid
        self._send = send_fd
        self._reply = reply_fd
        self._submitted = False

    def submit(self, result: RunResult, folder: Path) -> None:
        """Hand the child ``result`` to draw into ``folder`` (returns at once)."""
        payload = pickle.dumps((replace(result, log=[]), folder), pickle.HIGHEST_PROTOCOL)
        with os.fdopen(self._send, "wb") as pipe:  # closing it tells the child: all sent
            pipe.write(payload)
        self._send = -1
        self._submitted = True

    def wait(self) -> list[Path]:
        """The paths of the plots once the child has drawn them; its error raised here."""
        with os.fdopen(self._reply, "rb") as pipe:
            reply = pipe.read()
        self._reply = -1
        os.waitpid(self.pid, 0)
        self.pid = 0
        ok, payload = json.loads(reply.decode()) if reply else (False, "the plotting process died")
        if not ok:
            raise RuntimeError(f"writing the plots failed: {payload}")
        return [Path(p) for p in payload]

    def close(self) -> None:
        """End the child if it is still there (the command stopped before its result)."""
        for fd in (self._send, self._reply):
            if fd >= 0:
                os.close(fd)
        self._send = self._reply = -1
        if self.pid:
            if not self._submitted:
                os.kill(self.pid, signal.SIGKILL)  # nothing to draw: no need to finish imports
            os.waitpid(self.pid, 0)
            self.pid = 0


def start(draw: Draw | None = None) -> PlotWorker | None:
    """Fork the plotting child (Linux only; ``None`` elsewhere: draw in this process).

    ``draw(result, folder)`` writes the plots and returns their paths; by default the
    child imports :data:`DRAWER` and calls its ``write_plots`` (named, not imported here:
    the report module imports this one, and the child imports the report while the
    parent runs the model).
    """
    if not sys.platform.startswith("linux"):
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    task_read, task_write = os.pipe()
    reply_read, reply_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's lines are measured under coverage's patch
        os.close(task_write)
        os.close(reply_read)
        _child(task_read, reply_write, draw)
    os.close(task_read)
    os.close(reply_write)
    return PlotWorker(pid, task_write, reply_read)


def _child(task_fd: int, reply_fd: int, draw: Draw | None) -> None:
    """In the forked child: import, wait for the result, draw, reply, exit without cleanup."""
    import importlib

    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt ends
        try:
            import matplotlib

            matplotlib.use("Agg")
            for name in WARM:
                importlib.import_module(name)
            with os.fdopen(task_fd, "rb") as pipe:
                task = pipe.read()
            if not task:  # the parent closed the pipe without a result: nothing to draw
                os._exit(0)
            result, folder = pickle.loads(task)
            if draw is None:
                draw = importlib.import_module(DRAWER).write_plots
            reply = [True, [str(p) for p in draw(result, folder)]]
        except Exception as err:  # noqa: BLE001 - every failure goes back to the parent
            reply = [False, f"{type(err).__name__}: {err}"]
        with os.fdopen(reply_fd, "wb") as pipe:
            pipe.write(json.dumps(reply).encode())
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        code = 1
    finally:
        os._exit(code)
