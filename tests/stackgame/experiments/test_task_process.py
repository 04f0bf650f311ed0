"""A task in a killable child process: rows as in-process, timeouts, deaths, Ctrl-C.

Each test starts at most a couple of children (about a second each); the executor's
tests (``test_executor.py``) check the same limits through whole batches.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from stackgame.experiments import task_process
from stackgame.experiments.task_process import run_with_time_limit

# -- module-level functions: the child imports them by reference ------------------------------


def run_here(fn, task):
    return fn(task)


def describe(task):
    if task == "sleep":
        time.sleep(60)
    if task == "die":
        os._exit(3)
    if task == "interrupt":
        raise KeyboardInterrupt
    return {
        "task": task,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "json_loaded": "json.decoder" in sys.modules,
    }


def _refuse_to_load():
    raise ValueError("not here")


class Unloadable:
    """Pickles in the parent; unpickling it (in the child) raises."""

    def __reduce__(self):
        return (_refuse_to_load, ())


def failed_row(task, status, error, elapsed):
    return {"task": task, "status": status, "error": error, "elapsed": elapsed}


def _run(task, timeout=30.0, preload=()):
    return run_with_time_limit(
        describe, task, timeout, preload, run_here=run_here, failed_row=failed_row
    )


def _close_child() -> None:
    child = getattr(task_process._local, "child", None)
    if child is not None:
        child.close()


@pytest.fixture(autouse=True)
def _no_child_left():
    # each test starts with no child in this thread (an earlier module's time-limited
    # batch may have left one, with that test's working directory) and leaves none
    _close_child()
    yield
    _close_child()


def test_the_row_comes_from_one_reused_child(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = _run("a", preload=["json.decoder", "no_such_module_here"])
    second = _run("b")
    assert first["task"] == "a" and second["task"] == "b"
    assert first["pid"] != os.getpid() and first["pid"] == second["pid"]
    assert first["cwd"] == str(tmp_path)  # the caller's working directory
    assert first["json_loaded"]  # preloaded; a module that is missing is skipped


def test_a_timeout_kills_the_child_and_the_next_task_gets_a_fresh_one():
    pid = _run("a")["pid"]
    start = time.perf_counter()
    row = _run("sleep", timeout=0.3)
    assert time.perf_counter() - start < 20
    assert row["status"] == "timeout" and row["error"] == "ran longer than 0.3 s"
    assert row["elapsed"] >= 0.3
    assert getattr(task_process._local, "child", None) is None
    assert _run("b")["pid"] != pid


def test_a_child_that_dies_gives_an_error_row_with_its_exit_code():
    row = _run("die")
    assert row["status"] == "error"
    assert row["error"] == "the process running this task died (exit code 3)"
    assert _run("after")["task"] == "after"  # a new child takes the next task


def test_a_task_the_child_cannot_load_is_an_error_and_the_child_lives_on():
    pid = _run("a")["pid"]
    row = _run(Unloadable())
    assert row["status"] == "error"
    assert row["error"] == "cannot load the task in the child process: not here"
    assert _run("b")["pid"] == pid


def test_keyboard_interrupt_in_the_task_is_raised_here():
    with pytest.raises(KeyboardInterrupt):
        _run("interrupt")
    assert getattr(task_process._local, "child", None) is None


def test_each_thread_has_its_own_child():
    here = _run("main")["pid"]
    there: dict = {}

    def work():
        there["row"] = _run("thread")
        task_process._local.child.close()

    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    assert there["row"]["task"] == "thread" and there["row"]["pid"] != here


def test_ctrl_c_while_waiting_kills_the_child_and_propagates(monkeypatch):
    _run("a")
    child = task_process._local.child

    def interrupted(timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(child.recv_conn, "poll", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run("b")
    assert not child.alive() and getattr(task_process._local, "child", None) is None
