"""Run a task in a child process that can be killed when its time is up.

A time limit that the running task must notice (a ``SIGALRM`` handler, an asynchronous
exception in a thread) never fires while the task is inside compiled code that holds the
GIL and does not check for signals: a numba loop, a C call. So when a task has a time
limit, :func:`run_with_time_limit` sends it to a child process of the calling process
(or thread) and waits for its row; if none comes within the limit, the child is killed
(``SIGKILL``) and the task is recorded as ``"timeout"``. Nothing else is lost: the child
holds only that task, and the next task starts a fresh child.

The child is a plain ``python -c`` process started with :mod:`subprocess`, not a
:mod:`multiprocessing` one, so that it can be started anywhere a task may run: in the
driver, in a local pool worker, in a Dask worker process (which is daemonic, and
daemonic processes may not have :mod:`multiprocessing` children) or in a Dask worker
thread (where forking a threaded process could deadlock). One child serves the tasks of
its caller one after another (per thread), so the cost of starting it (Python and the
run function's imports, about a second) is paid once per worker, and again only after a
timeout. The timer starts when the task is sent, after the child is ready. The child
receives the caller's ``sys.path`` and working directory, inherits its environment, and
is killed by the kernel if its parent thread exits (``PR_SET_PDEATHSIG``), even while it
is stuck in compiled code.

Results are the same as in-process runs: the child calls the same function on the same
task (the task carries its own seed), and sends back the row it produced.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["run_with_time_limit"]

RowBuilder = Callable[..., dict]

_PR_SET_PDEATHSIG = 1
_local = threading.local()


def run_with_time_limit(
    fn: Callable[[Any], Mapping[str, Any]],
    task: Any,
    timeout: float,
    preload: Sequence[str],
    *,
    run_here: Callable[[Any, Any], dict],
    failed_row: Callable[[Any, str, str, float], dict],
) -> dict:
    """Run ``fn(task)`` in this thread's child process; kill it after ``timeout`` seconds.

    Parameters
    ----------
    fn
        The run function (it must pickle by reference, as for any worker).
    task
        A :class:`stackgame.experiments.executor.Task`.
    timeout
        Seconds the task may run, counted from when it is sent to the ready child.
    preload
        Modules the child imports when it starts (before any timer runs).
    run_here
        What the child calls, ``run_here(fn, task) -> row`` (module-level, so it pickles:
        the executor's in-process runner; it travels with each task, so this module
        imports nothing from the executor).
    failed_row
        ``failed_row(task, status, error, elapsed) -> row`` for a task that timed out or
        whose child died.

    Returns
    -------
    dict
        The task's row, as :func:`stackgame.experiments.executor._run_one` builds it; a
        ``"timeout"`` row if the limit passed, an ``"error"`` row if the child died.

    Raises
    ------
    BaseException
        Whatever the task raised that is not an ``Exception`` (``KeyboardInterrupt``),
        re-raised here as the in-process path would.
    """
    child = getattr(_local, "child", None)
    if child is None or not child.alive():
        child = _local.child = _Child(preload)
    return child.run(fn, task, timeout, run_here, failed_row)


class _Child:
    """One child process and the two pipes to it."""

    def __init__(self, preload: Sequence[str]) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        code = (
            "from stackgame.experiments.task_process import _child_main; "
            f"_child_main({to_child_r}, {from_child_w}, {os.getpid()})"
        )
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.send_conn = Connection(to_child_w, readable=False)
        self.recv_conn = Connection(from_child_r, writable=False)
        self.send_conn.send((list(sys.path), os.getcwd(), list(preload)))
        self.recv_conn.recv()  # "ready": imports done, the timer may start

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(
        self,
        fn: Callable[[Any], Mapping[str, Any]],
        task: Any,
        timeout: float,
        run_here: Callable[[Any, Any], dict],
        _outcome_row: Callable[[Any, str, str, float], dict],
    ) -> dict:
        start = time.perf_counter()
        try:
            self.send_conn.send_bytes(pickle.dumps((run_here, fn, task)))
            if not self.recv_conn.poll(timeout):
                self.close()
                return _outcome_row(
                    task, "timeout", f"ran longer than {timeout:g} s", time.perf_counter() - start
                )
            kind, payload = self.recv_conn.recv()
        except (EOFError, OSError):
            code = self.close()
            return _outcome_row(
                task,
                "error",
                f"the process running this task died (exit code {code})",
                time.perf_counter() - start,
            )
        except BaseException:  # Ctrl-C while waiting: the child goes with the batch
            self.close()
            raise
        if kind == "raise":
            self.close()
            raise payload
        if kind == "error":
            return _outcome_row(task, "error", payload, time.perf_counter() - start)
        return payload

    def close(self) -> int | None:
        """Kill the child (if still running), reap it and close the pipes."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for conn in (self.send_conn, self.recv_conn):
            with contextlib.suppress(OSError):
                conn.close()
        if getattr(_local, "child", None) is self:
            _local.child = None
        return self.proc.returncode


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when its parent (thread) exits (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _child_main(recv_fd: int, send_fd: int, parent: int) -> None:
    """The child's loop: receive ``(run_here, fn, task)``, send back ``("row", row)``.

    Or ``("raise", exc)`` for a ``BaseException`` that is not an ``Exception``, or
    ``("error", text)`` when the task cannot be unpickled here.
    """
    import importlib

    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's business
    recv_conn = Connection(recv_fd, writable=False)
    send_conn = Connection(send_fd, readable=False)
    path, cwd, preload = recv_conn.recv()
    sys.path[:] = path
    os.chdir(cwd)
    for module in preload:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    send_conn.send("ready")
    while True:
        try:
            data = recv_conn.recv_bytes()
        except EOFError:  # the parent closed the pipe (or died): nothing more to do
            return
        message: tuple[str, Any]
        try:
            run_here, fn, task = pickle.loads(data)
        except Exception as err:  # noqa: BLE001 - e.g. the run function's module is missing
            message = ("error", f"cannot load the task in the child process: {err}")
        else:
            try:
                message = ("row", run_here(fn, task))
            except BaseException as err:  # noqa: BLE001 - a KeyboardInterrupt in the task
                message = ("raise", err)
        send_conn.send(message)
