"""The executor: every task recorded once, whatever fails, whoever runs it, however stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from stackgame.errors import UserError
from stackgame.experiments.executor import TABLES_KEY, ResultStore, Task, execute

ROOT = Path(__file__).resolve().parents[3]


# -- module-level run functions (they must pickle by reference) ----------------------------


def square(task: Task) -> dict:
    x = task.params["x"]
    if x == 3:
        raise ValueError("three is not allowed")
    return {"y": x * x + task.seed % 7, "half": x / 2}


def slow_square(task: Task) -> dict:
    time.sleep(task.params.get("sleep", 0.0))
    return {"y": task.params["x"] ** 2}


def spin(task: Task) -> dict:
    end = time.monotonic() + task.params.get("spin", 0.0)
    while time.monotonic() < end:
        pass
    return {"y": task.params["x"]}


def with_rounds(task: Task) -> dict:
    x = task.params["x"]
    rows = [{"round": r, "value": x * r} for r in range(3)]
    return {"y": x, TABLES_KEY: {"rounds": rows}}


def count_parts(task: Task) -> dict:
    folder = Path(task.params["folder"])
    return {"parts_seen": len(list(folder.glob("part-*.parquet")))}


def die_on_five(task: Task) -> dict:
    if task.params["x"] == 5:
        os._exit(3)
    return {"y": task.params["x"]}


def interrupt_on_seven(task: Task) -> dict:
    if task.params["x"] == 7 and not Path(task.params["flag"]).exists():
        Path(task.params["flag"]).write_text("interrupted once")
        if task.params.get("inside_numba"):
            raise numba_wrapped_interrupt()
        raise KeyboardInterrupt
    return {"y": task.params["x"]}


def numba_wrapped_interrupt() -> SystemError:
    """Ctrl-C as it leaves a numba kernel: a SystemError caused by a SystemError caused
    by the KeyboardInterrupt (seen with SIGINT during `clear_kernel`)."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise SystemError("_numba_unpickle returned a result with an exception set") from ki
    except SystemError as inner:
        try:
            raise SystemError(
                "CPUDispatcher(clear_kernel) returned a result with an exception set"
            ) from inner
        except SystemError as outer:
            return outer


def tasks(n: int, **extra) -> list[Task]:
    return [Task(f"{i:05d}", seed=1000 + i, params={"x": i, **extra}) for i in range(n)]


def rows_without_time(store: ResultStore) -> pd.DataFrame:
    return store.read().drop(columns=["elapsed_seconds"])


# -- tests ---------------------------------------------------------------------------------


def test_serial_records_every_task_and_a_failing_one_as_error(tmp_path):
    store = ResultStore(tmp_path / "runs")
    summary = execute(tasks(8), square, store=store, progress=False)
    assert (summary.total, summary.ran, summary.ok, summary.failed) == (8, 8, 7, 1)
    df = store.read()
    assert list(df.columns[:5]) == ["run_id", "seed", "status", "error", "elapsed_seconds"]
    assert list(df.run_id) == [f"{i:05d}" for i in range(8)]
    bad = df.set_index("run_id").loc["00003"]
    assert bad.status == "error"
    assert "ValueError: three is not allowed" in bad.error
    assert bad.x == 3 and pd.isna(bad.y)
    ok = df[df.status == "ok"]
    assert (ok.y == ok.x**2 + ok.seed % 7).all()
    assert ok.error.isna().all()


def test_rerun_runs_only_what_is_missing(tmp_path):
    store = ResultStore(tmp_path / "runs")
    execute(tasks(10)[:4], square, store=store, progress=False)
    summary = execute(tasks(10), square, store=store, progress=False)
    assert (summary.done_before, summary.ran) == (4, 6)
    again = execute(tasks(10), square, store=store, progress=False)
    assert again.ran == 0 and again.complete
    df = store.read()
    assert df.run_id.is_unique and len(df) == 10


@pytest.mark.parametrize("inside_numba", [False, True])
def test_keyboard_interrupt_keeps_finished_rows_and_resumes(tmp_path, inside_numba):
    # inside numba the interrupt arrives wrapped in a SystemError: it must still stop the
    # batch, not be recorded as a failed run while the batch goes on (it was, in CI)
    store = ResultStore(tmp_path / "runs")
    ts = tasks(12, flag=str(tmp_path / "flag"), inside_numba=inside_numba)
    with pytest.raises(KeyboardInterrupt):
        execute(ts, interrupt_on_seven, store=store, progress=False, chunk_size=100)
    assert store.done_ids() == {f"{i:05d}" for i in range(7)}
    assert (store.read().status == "ok").all()
    summary = execute(ts, interrupt_on_seven, store=store, progress=False)
    assert (summary.done_before, summary.ran, summary.ok) == (7, 5, 5)
    assert len(store.read()) == 12


def test_pool_and_serial_give_identical_rows(tmp_path):
    serial, pool = ResultStore(tmp_path / "a"), ResultStore(tmp_path / "b")
    execute(tasks(30), square, store=serial, progress=False)
    execute(tasks(30), square, store=pool, workers=2, progress=False, chunk_size=7)
    pd.testing.assert_frame_equal(rows_without_time(serial), rows_without_time(pool))


def test_timeout_is_recorded_and_the_batch_goes_on(tmp_path):
    store = ResultStore(tmp_path / "runs")
    ts = [Task("a", 1, {"x": 1, "sleep": 60.0}), Task("b", 2, {"x": 2, "sleep": 0.0})]
    start = time.monotonic()
    summary = execute(ts, slow_square, store=store, timeout=0.3, progress=False)
    assert time.monotonic() - start < 30  # not the minute of the sleep
    assert (summary.ok, summary.timed_out) == (1, 1)
    df = store.read().set_index("run_id")
    assert df.loc["a", "status"] == "timeout" and df.loc["b", "y"] == 4


def stuck_on_one(task: Task) -> dict:
    """Never returns for x == 1: a compiled loop that holds the GIL and checks no signal."""
    x = task.params["x"]
    if x == 1:
        return {"y": int(_spin_forever(x))}
    return {"y": x * x + task.seed % 7}


def _spin_forever_py(x: int) -> int:
    while x >= 0:  # an LCG stays in [0, 2**31): the loop never ends
        x = (x * 1103515245 + 12345) % 2147483647
    return x


def _compiled_spin():
    import numba

    return numba.njit(cache=False)(_spin_forever_py)


def _spin_forever(x: int) -> int:
    return _compiled_spin()(x)


def check_stuck_run_timed_out(store: ResultStore, summary) -> None:
    assert (summary.ok, summary.timed_out, summary.failed) == (2, 1, 0)
    df = store.read().set_index("run_id")
    assert df.loc["00001", "status"] == "timeout"
    assert "longer than 1 s" in df.loc["00001", "error"]
    assert df.loc["00000", "y"] == 0 + 1000 % 7 and df.loc["00002", "y"] == 4 + 1002 % 7


def test_the_stuck_run_really_ignores_an_alarm():
    # the reason for child processes: a SIGALRM handler never runs inside the compiled loop
    code = (
        "import signal, sys; sys.path.insert(0, sys.argv[1]);"
        "from tests.stackgame.experiments import test_executor as t;"
        "f = t._compiled_spin(); f.compile('(int64,)');"
        "signal.signal(signal.SIGALRM, lambda *a: sys.exit(7));"
        "signal.setitimer(signal.ITIMER_REAL, 0.2); f(1)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(ROOT)])
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=3)  # the alarm fired long ago; the handler is still waiting
    proc.kill()
    proc.wait()


def test_a_stuck_run_times_out_serially(tmp_path):
    store = ResultStore(tmp_path / "runs")
    summary = execute(tasks(3), stuck_on_one, store=store, timeout=1.0, progress=False)
    check_stuck_run_timed_out(store, summary)
    # resumable: the same call has nothing to do; --retry-failed runs the stuck one again
    again = execute(tasks(3), stuck_on_one, store=store, timeout=1.0, progress=False)
    assert (again.done_before, again.ran) == (3, 0)


def test_a_stuck_run_times_out_in_a_process_pool(tmp_path):
    store = ResultStore(tmp_path / "runs")
    summary = execute(tasks(3), stuck_on_one, store=store, timeout=1.0, workers=2, progress=False)
    check_stuck_run_timed_out(store, summary)


def test_a_stuck_run_times_out_on_dask(tmp_path):
    # worker threads in this process (processes=False): the hardest case for a time limit
    distributed = pytest.importorskip("dask.distributed")
    store = ResultStore(tmp_path / "runs")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        summary = execute(
            tasks(3), stuck_on_one, store=store, timeout=1.0, batch_size=1,
            scheduler=cluster.scheduler_address, progress=False,
        )  # fmt: skip
    check_stuck_run_timed_out(store, summary)


def test_rows_with_a_time_limit_equal_rows_without(tmp_path):
    plain, limited = ResultStore(tmp_path / "a"), ResultStore(tmp_path / "b")
    execute(tasks(8), square, store=plain, progress=False)
    execute(tasks(8), square, store=limited, timeout=30, progress=False)
    pd.testing.assert_frame_equal(rows_without_time(plain), rows_without_time(limited))


def test_a_run_that_kills_its_child_is_an_error_and_the_rest_run(tmp_path):
    store = ResultStore(tmp_path / "runs")
    summary = execute(tasks(7), die_on_five, store=store, timeout=30, progress=False)
    assert (summary.ok, summary.failed) == (6, 1)
    df = store.read().set_index("run_id")
    assert "died" in df.loc["00005", "error"] and df.loc["00006", "y"] == 6


def test_chunks_are_written_before_the_end(tmp_path):
    folder = tmp_path / "runs"
    store = ResultStore(folder)
    ts = tasks(10, folder=str(folder))
    execute(ts, count_parts, store=store, chunk_size=3, progress=False)
    df = store.read()
    assert len(list(folder.glob("part-*.parquet"))) == 4
    # the last task saw the three chunks written before it: the driver streams
    assert df.set_index("run_id").loc["00009", "parts_seen"] == 3


def test_side_tables_and_orphans_after_a_kill(tmp_path):
    store = ResultStore(tmp_path / "runs")
    execute(tasks(5), with_rounds, store=store, chunk_size=2, progress=False)
    rounds = store.read(table="rounds")
    assert len(rounds) == 15 and list(rounds.columns[:1]) == ["run_id"]
    assert set(rounds.run_id) == {f"{i:05d}" for i in range(5)}
    # a side part whose main part never made it (killed between the two writes) is dropped
    orphan = tmp_path / "rounds" / "part-00099.parquet"
    (tmp_path / "rounds" / "part-00000.parquet").rename(orphan)
    (tmp_path / "runs" / "part-00000.parquet").unlink()
    store = ResultStore(tmp_path / "runs")
    assert orphan.exists()  # a reader deletes nothing (a writer may be mid-chunk) ...
    assert len(store.read(table="rounds")) == 9  # ... and ignores uncommitted side parts
    execute(tasks(5), with_rounds, store=store, progress=False)
    assert not orphan.exists()  # the next writer clears it
    rounds = store.read(table="rounds")
    assert len(rounds) == 15 and not rounds.duplicated(["run_id", "round"]).any()


def test_schema_is_unified_so_any_reader_sees_every_column(tmp_path):
    store = ResultStore(tmp_path / "runs")
    # the first chunk holds only the failing run: it has no 'y' column
    ts = [Task("00003", 1, {"x": 3})] + [Task(f"0000{i}", 1, {"x": i}) for i in (4, 5)]
    execute(ts, square, store=store, chunk_size=1, progress=False)
    df = pd.read_parquet(tmp_path / "runs")
    assert {"y", "half", "error"} <= set(df.columns) and len(df) == 3


def test_a_dying_worker_is_recorded_and_the_rest_run(tmp_path):
    store = ResultStore(tmp_path / "runs")
    summary = execute(tasks(10), die_on_five, store=store, workers=2, progress=False)
    df = store.read().set_index("run_id")
    assert summary.complete and len(df) == 10
    assert df.loc["00005", "status"] == "error" and "died" in df.loc["00005", "error"]
    assert (df.drop(index="00005").status == "ok").all()


def test_bad_arguments_are_user_errors(tmp_path):
    store = ResultStore(tmp_path / "runs")
    with pytest.raises(UserError, match="workers"):
        execute(tasks(2), square, store=store, workers=0, progress=False)
    with pytest.raises(UserError, match="backend"):
        execute(tasks(2), square, store=store, backend="mpi", progress=False)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="appears twice"):
        execute(tasks(2) + tasks(1), square, store=store, progress=False)
    with pytest.raises(UserError, match="timeout"):
        execute(tasks(2), square, store=store, timeout=float("nan"), progress=False)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from tests.stackgame.experiments.test_executor import slow_square, tasks
    from stackgame.experiments.executor import ResultStore, execute
    store = ResultStore(sys.argv[1])
    execute(tasks(40, sleep=0.05), slow_square, store=store, workers=2, chunk_size=4,
            progress=False)
    """
)


@pytest.mark.slow
def test_sigkill_then_rerun_completes_without_duplicates(tmp_path):
    folder = tmp_path / "runs"
    cmd = [sys.executable, "-c", KILL_SCRIPT, str(folder)]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(list(folder.glob("part-*.parquet"))) < 2:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    store = ResultStore(folder)
    before = len(store.done_ids())
    assert 0 < before < 40
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=60)
    df = store.read()
    assert len(df) == 40 and df.run_id.is_unique and (df.status == "ok").all()
    assert sum(len(pd.read_parquet(p)) for p in folder.glob("part-*.parquet")) == 40
    assert (df.y == df.x**2).all()


@pytest.mark.slow
def test_dask_scheduler_address_gives_the_same_rows(tmp_path):
    # joining a running cluster (--scheduler); the LocalCluster path is in test_batch_cli
    distributed = pytest.importorskip("dask.distributed")
    serial, dask = ResultStore(tmp_path / "a"), ResultStore(tmp_path / "b")
    execute(tasks(12), square, store=serial, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        summary = execute(
            tasks(12), square, store=dask, scheduler=cluster.scheduler_address, progress=False
        )
    assert (summary.ok, summary.failed) == (11, 1)
    pd.testing.assert_frame_equal(rows_without_time(serial), rows_without_time(dask))


def test_unreachable_scheduler_is_a_user_error(tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr("stackgame.experiments.executor.DASK_CONNECT_TIMEOUT", "1s")
    with pytest.raises(UserError, match="scheduler tcp://127.0.0.1:1"):
        execute(tasks(2), square, store=ResultStore(tmp_path / "r"),
                scheduler="tcp://127.0.0.1:1", progress=False)  # fmt: skip


def test_ctrl_c_stops_a_pool_promptly_and_keeps_finished_rows(tmp_path):
    import threading

    folder = tmp_path / "runs"
    store = ResultStore(folder)
    # the first batch of 4 is instant; every later batch takes 4 s
    ts = [Task(f"{i:05d}", 1, {"x": i, "sleep": 0.0 if i < 4 else 1.0}) for i in range(24)]
    sent: list[float] = []

    def interrupt_after_first_chunk() -> None:
        deadline = time.monotonic() + 60
        while not list(folder.glob("part-*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.01)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_after_first_chunk, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        execute(ts, slow_square, store=store, workers=2, progress=False, batch_size=4,
                chunk_size=4)  # fmt: skip
    assert time.monotonic() - sent[0] < 2.5  # the running 4-s batches were not awaited
    kept = len(store.done_ids())
    assert 4 <= kept < 24
    fast = [Task(t.run_id, t.seed, {"x": t.params["x"], "sleep": 0.0}) for t in ts]
    summary = execute(fast, slow_square, store=store, workers=2, progress=False)
    assert summary.done_before == kept and summary.complete
    assert len(store.read()) == 24


def pid_sleep(task: Task) -> dict:
    time.sleep(task.params["sleep"])
    return {"pid": os.getpid()}


ORPHAN_SCRIPT = textwrap.dedent(
    """
    import sys
    from tests.stackgame.experiments.test_executor import pid_sleep
    from stackgame.experiments.executor import ResultStore, Task, execute
    tasks = [Task(f"{i:05d}", i, {"sleep": 0.0 if i < 2 else 30.0}) for i in range(6)]
    execute(tasks, pid_sleep, store=ResultStore(sys.argv[1]), workers=2, chunk_size=1,
            batch_size=1, progress=False)
    """
)


@pytest.mark.slow
def test_workers_exit_when_the_driver_is_killed(tmp_path):
    from stackgame.experiments.executor import _alive

    folder = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, str(folder)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(ResultStore(folder).done_ids()) < 2:
        time.sleep(0.05)
    pids = set(ResultStore(folder).read()["pid"])
    assert pids and all(_alive(p) for p in pids)
    time.sleep(0.5)  # the workers are now in their 30-s tasks
    proc.kill()  # SIGKILL, the driver only
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def test_one_writer_at_a_time(tmp_path):
    store = ResultStore(tmp_path / "runs")
    with store.writing(), pytest.raises(UserError, match="another process is writing"):
        execute(tasks(2), square, store=ResultStore(tmp_path / "runs"), progress=False)
    assert execute(tasks(2), square, store=store, progress=False).complete


def flaky(task: Task) -> dict:
    if task.params["x"] == 3 and not Path(task.params["flag"]).exists():
        raise OSError("the disk was full")
    return {"y": task.params["x"]}


def test_retry_failed_replaces_the_failed_rows(tmp_path):
    store = ResultStore(tmp_path / "runs")
    ts = tasks(6, flag=str(tmp_path / "fixed"))
    execute(ts, flaky, store=store, chunk_size=2, progress=False)
    assert store.read().set_index("run_id").loc["00003", "status"] == "error"
    again = execute(ts, flaky, store=store, progress=False)
    assert again.ran == 0  # by default a failed run counts as recorded
    (tmp_path / "fixed").write_text("")
    summary = execute(ts, flaky, store=store, progress=False, retry_failed=True)
    assert (summary.done_before, summary.ran, summary.ok) == (5, 1, 1)
    df = store.read()
    assert len(df) == 6 and (df.status == "ok").all()
    assert sum(len(pd.read_parquet(p)) for p in store.parts()) == 6


# -- map_blocks: the in-memory runner -------------------------------------------------------


def _squares(block):
    return [x * x for x in block]


def _fails_on_seven(block):
    if 7 in block:
        raise ValueError("seven is not allowed")
    return list(block)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_map_blocks_returns_every_result_once(workers):
    from stackgame.experiments.executor import map_blocks

    blocks = [list(range(i, i + 5)) for i in range(0, 60, 5)]
    seen = []
    out = map_blocks(_squares, blocks, workers, on_done=seen.append)
    assert sorted(out) == [x * x for x in range(60)]
    assert sum(len(p) for p in seen) == 60  # every result reported once, as it arrives


def test_map_blocks_raises_a_workers_error_here():
    from stackgame.experiments.executor import map_blocks

    blocks = [[i] for i in range(12)]
    with pytest.raises(ValueError, match="seven is not allowed"):
        map_blocks(_fails_on_seven, blocks, 2)


def test_map_blocks_without_fork_uses_the_executor_pool(monkeypatch):
    from stackgame.experiments import executor

    monkeypatch.setattr(executor, "can_fork", lambda: False)
    blocks = [[1, 2], [3], [4, 5, 6]]
    assert sorted(executor.map_blocks(_squares, blocks, 2)) == [1, 4, 9, 16, 25, 36]


def stuck_and_say_where(task: Task) -> dict:
    Path(task.params["pidfile"]).write_text(str(os.getpid()))
    return {"y": int(_spin_forever(1))}


STUCK_DRIVER = textwrap.dedent(
    """
    import sys
    from stackgame.experiments.executor import ResultStore, Task, execute
    from tests.stackgame.experiments.test_executor import stuck_and_say_where
    task = Task("a", 1, {"pidfile": sys.argv[2]})
    execute([task], stuck_and_say_where, store=ResultStore(sys.argv[1]), timeout=600,
            progress=False)
    """
)


def test_a_stuck_child_dies_with_its_killed_driver(tmp_path):
    # the child spins in compiled code (no handler can run): the kernel kills it
    from stackgame.experiments.executor import _alive

    pidfile = tmp_path / "child.pid"
    cmd = [sys.executable, "-c", STUCK_DRIVER, str(tmp_path / "runs"), str(pidfile)]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not pidfile.exists():
        time.sleep(0.05)
    child = int(pidfile.read_text())
    assert child != proc.pid and _alive(child)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child)


def _double_block(block: list[int]) -> list[int]:
    return [2 * x for x in block]


def test_map_items_cuts_blocks_and_returns_every_item_once():
    from stackgame.experiments.executor import map_items

    items = list(range(37))
    serial = map_items(_double_block, items, 1, desc="t")
    assert serial == [2 * x for x in items]  # one worker: in order
    forked = map_items(_double_block, items, 8, desc="t")  # capped, several blocks
    assert sorted(forked) == serial
    assert map_items(_double_block, [], 2, desc="t") == []
