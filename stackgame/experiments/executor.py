"""Run many independent tasks on a process pool or a Dask cluster without losing one.

One code path for every backend: tasks are enumerated up front with a stable ``run_id``;
the ones already recorded in the :class:`ResultStore` are skipped (resume after Ctrl-C or
SIGKILL, no duplicate rows); the rest are sent to the workers in small batches with a
bounded number in flight, so the driver's memory does not grow with the number of runs;
finished rows are buffered and written to Parquet in chunks (``part-XXXXX.parquet``,
written to a temporary file and renamed, so a killed driver leaves either a whole chunk or
nothing). A task that raises is recorded with ``status="error"`` and its error text; one
that runs longer than ``timeout`` seconds is killed and recorded as ``"timeout"``, on every
backend, even inside compiled code (with a time limit each task runs in a child process
of its worker: :mod:`stackgame.experiments.task_process`); the batch goes on.

Anchors and what this does better: NetLogo's BehaviorSpace, Mesa's ``batch_run`` and the
EMA Workbench's evaluators do not resume a crashed sweep; ``batch_run`` keeps every row
in memory and aborts on one failing run; EMA's multiprocessing evaluator hangs on one.

Examples
--------
>>> from stackgame.experiments.executor import ResultStore, Task, execute
>>> store = ResultStore("runs/out/demo/runs")  # doctest: +SKIP
>>> tasks = [Task(f"{i:05d}", seed=i, params={"x": i}) for i in range(100)]
>>> summary = execute(tasks, my_module.square, store=store, workers=2)  # doctest: +SKIP
>>> store.read()  # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib
import json
import logging
import math
import multiprocessing
import os
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from stackgame.errors import UserError, interrupted
from stackgame.experiments.task_process import run_with_time_limit

__all__ = [
    "FIXED_COLUMNS",
    "TABLES_KEY",
    "ExecutionSummary",
    "ResultStore",
    "Task",
    "execute",
    "map_blocks",
]

TABLES_KEY = "__tables__"
"""Key under which ``fn`` may return side tables: ``{name: rows}`` (a list of dicts or a
pandas DataFrame); each is written, with a ``run_id`` column, to its own Parquet dataset
beside the main one (see :class:`ResultStore`)."""

FIXED_COLUMNS = ("run_id", "seed", "status", "error", "elapsed_seconds")
"""Columns every row carries, first, in this order."""

STATUSES = ("ok", "error", "timeout")

DASK_CONNECT_TIMEOUT = "15s"
"""How long to try to reach a Dask scheduler given by address."""

_PART = re.compile(r"^part-(\d{5,})\.parquet$")


@dataclass(frozen=True)
class Task:
    """One unit of work.

    Attributes
    ----------
    run_id
        Stable identifier, derived from the enumeration (never from time or completion
        order); rows are sorted by it.
    seed
        The task's own seed (derived from one root seed by the caller), so the result
        does not depend on which worker runs it or when.
    params
        JSON-able parameters; recorded as columns of the task's row (values that are not
        scalars are recorded as JSON text).
    """

    run_id: str
    seed: int
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutionSummary:
    """What :func:`execute` did.

    Attributes
    ----------
    total
        Tasks given.
    done_before
        Tasks already recorded in the store before this call (skipped).
    ran
        Tasks run (and recorded) by this call.
    ok, failed, timed_out
        Of those, how many finished, raised, or ran out of time.
    elapsed_seconds
        Wall-clock time of this call.
    """

    total: int
    done_before: int
    ran: int
    ok: int
    failed: int
    timed_out: int
    elapsed_seconds: float

    @property
    def complete(self) -> bool:
        """Whether every task is now recorded."""
        return self.done_before + self.ran == self.total


# -- the result store ------------------------------------------------------------------


def _scalar(value: Any) -> Any:
    """Return a value Parquet can hold in a plain column (non-scalars as JSON text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "ndim", 1) == 0:
        return item()
    return json.dumps(value, sort_keys=True, default=str)


def _to_table(rows: Sequence[Mapping[str, Any]], front: Sequence[str] = ()) -> pa.Table:
    """Build a table from rows whose keys may differ (missing values become nulls)."""
    names: dict[str, None] = dict.fromkeys(c for c in front if any(c in r for r in rows))
    for row in rows:
        names.update(dict.fromkeys(row))
    arrays = []
    for name in names:
        values = [_scalar(r.get(name)) for r in rows]
        if name in ("run_id", "status", "error"):
            arrays.append(pa.array(values, type=pa.string()))
            continue
        if name == "seed":
            arrays.append(pa.array(values, type=pa.int64()))
            continue
        try:
            arr = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arr = pa.array([None if v is None else str(v) for v in values], type=pa.string())
        if pa.types.is_integer(arr.type) and arr.type != pa.int64():
            arr = arr.cast(pa.int64())
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=list(names))


def _write_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ResultStore:
    """A Parquet dataset of result rows, one row per task, written in chunks.

    ``directory`` holds ``part-XXXXX.parquet`` files (DuckDB:
    ``read_parquet('DIR/*.parquet', union_by_name=true)``; pandas:
    ``pandas.read_parquet(DIR)`` once :meth:`unify` has run, which :func:`execute` does
    at the end). Side tables (per-round rows and the like) are datasets of their own, in
    ``side_root/<name>/`` (by default beside ``directory``), whose part numbers match the
    main part they belong to: a side part is written before its main part, and a side
    part without its main part (a driver killed between the two writes) is removed when
    the store is opened, so a resumed batch never duplicates side rows either.

    Parameters
    ----------
    directory
        Folder of the main dataset (created if missing).
    side_root
        Folder under which side tables go; ``directory``'s parent by default.
    """

    def __init__(self, directory: str | Path, side_root: str | Path | None = None) -> None:
        self.directory = Path(directory)
        self.side_root = Path(side_root) if side_root is not None else self.directory.parent
        self.directory.mkdir(parents=True, exist_ok=True)
        self._side_names: set[str] = set()

    # -- files -------------------------------------------------------------------------
    def parts(self) -> list[Path]:
        """Return the main dataset's part files, in order."""
        return self._parts_in(self.directory)

    @staticmethod
    def _parts_in(folder: Path) -> list[Path]:
        if not folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _PART.match(p.name))]
        return [p for _, p in sorted(found)]

    def _side_dir(self, name: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", name) or name == self.directory.name:
            raise ValueError(f"side table name {name!r}: use letters, digits, '_' or '-'")
        return self.side_root / name

    def side_tables(self) -> list[str]:
        """Names of the side tables written so far (in this session or before)."""
        names = set(self._side_names)
        meta = self.directory / "_side_tables.json"
        if meta.exists():
            names.update(json.loads(meta.read_text()))
        return sorted(names)

    @contextlib.contextmanager
    def writing(self) -> Iterator[ResultStore]:
        """Hold the store's write lock; first clear what a killed writer left behind.

        One writer at a time (an ``flock`` on ``directory/.lock``, released by the
        kernel even after ``kill -9``); readers never take it and never delete anything.

        Raises
        ------
        UserError
            If another process is writing to this store.
        """
        import fcntl

        lock = open(self.directory / ".lock", "a+")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UserError(
                    f"{self.directory}: another process is writing to this batch right now"
                ) from None
            self._clean()
            yield self
        finally:
            lock.close()

    def _clean(self) -> None:
        """Remove temporary files and side parts whose main part was never written."""
        main = {p.name for p in self.parts()}
        for tmp in self.directory.glob(".part-*.tmp"):
            tmp.unlink(missing_ok=True)
        for name in self.side_tables():
            folder = self._side_dir(name)
            for tmp in folder.glob(".part-*.tmp"):
                tmp.unlink(missing_ok=True)
            for part in self._parts_in(folder):
                if part.name not in main:
                    part.unlink()

    def _next_part(self) -> int:
        parts = self.parts()
        return int(_PART.match(parts[-1].name).group(1)) + 1 if parts else 0  # type: ignore[union-attr]

    # -- reading -----------------------------------------------------------------------
    def done_ids(self) -> set[str]:
        """Run ids already recorded (whatever their status)."""
        ids: set[str] = set()
        for part in self.parts():
            ids.update(pq.read_table(part, columns=["run_id"]).column(0).to_pylist())
        return ids

    def __len__(self) -> int:
        return len(self.done_ids())

    def read(self, columns: Sequence[str] | None = None, table: str | None = None) -> Any:
        """Return the recorded rows as a DataFrame, sorted by ``run_id``, deduplicated.

        Parameters
        ----------
        columns
            Only these columns (all by default).
        table
            A side table's name instead of the main dataset.

        Returns
        -------
        pandas.DataFrame
            Columns: the fixed ones first (``run_id``, ``seed``, ``status``, ``error``,
            ``elapsed_seconds``), then the others in alphabetical order; side tables keep
            their own column order after ``run_id``.
        """
        import pandas as pd

        folder = self.directory if table is None else self._side_dir(table)
        frames = [
            pq.read_table(p, columns=list(columns) if columns else None).to_pandas()
            for p in self._parts_of(folder)
        ]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=list(columns or (FIXED_COLUMNS if table is None else ())))
        df = pd.concat(frames, ignore_index=True, sort=False)
        if table is None:
            df = df.drop_duplicates("run_id", keep="first")
            fixed = [c for c in FIXED_COLUMNS if c in df.columns]
            df = df[fixed + sorted(c for c in df.columns if c not in fixed)]
            return df.sort_values("run_id", kind="stable").reset_index(drop=True)
        front = ["run_id"] + [c for c in df.columns if c != "run_id"]
        return df[front].sort_values("run_id", kind="stable").reset_index(drop=True)

    def iter_parts(self, table: str | None = None) -> Iterator[pa.Table]:
        """Iterate over the part files as Arrow tables (for out-of-core analysis)."""
        folder = self.directory if table is None else self._side_dir(table)
        for part in self._parts_of(folder):
            yield pq.read_table(part)

    def _parts_of(self, folder: Path) -> list[Path]:
        """Committed parts: a side part counts once its main part exists."""
        parts = self._parts_in(folder)
        if folder == self.directory:
            return parts
        main = {p.name for p in self.parts()}
        return [p for p in parts if p.name in main]

    # -- writing -----------------------------------------------------------------------
    def append(
        self,
        rows: Sequence[Mapping[str, Any]],
        tables: Mapping[str, Sequence[Mapping[str, Any]] | Any] | None = None,
    ) -> Path | None:
        """Write ``rows`` (and their side-table rows) as one new chunk.

        Parameters
        ----------
        rows
            Result rows, each with at least ``run_id``.
        tables
            Side tables of the same runs: name -> list of row dicts or a pandas
            DataFrame, each row with a ``run_id``.

        Returns
        -------
        pathlib.Path or None
            The part file written (``None`` if ``rows`` is empty).
        """
        if not rows:
            return None
        if any("run_id" not in r for r in rows):
            raise ValueError("every result row needs a run_id")
        index = self._next_part()
        name = f"part-{index:05d}.parquet"
        for side, side_rows in (tables or {}).items():
            folder = self._side_dir(side)
            folder.mkdir(parents=True, exist_ok=True)
            if side not in self.side_tables():
                self._side_names.add(side)
                (self.directory / "_side_tables.json").write_text(
                    json.dumps(sorted(self._side_names | set(self.side_tables())))
                )
            if hasattr(side_rows, "to_dict"):  # a DataFrame
                table = pa.Table.from_pandas(side_rows, preserve_index=False)
            else:
                if not side_rows:
                    continue
                table = _to_table(side_rows, front=("run_id",))
            if table.num_rows:
                _write_atomic(table, folder / name)
        path = self.directory / name
        _write_atomic(_to_table(rows, front=FIXED_COLUMNS), path)
        return path

    def drop(self, statuses: Sequence[str] = ("error", "timeout")) -> int:
        """Remove the rows with these statuses (so that those runs run again).

        Each part that holds such rows is rewritten without them, atomically; call it
        inside :meth:`writing`. Failed runs have no side-table rows.

        Returns
        -------
        int
            Rows removed.
        """
        removed = 0
        for part in self.parts():
            table = pq.read_table(part)
            keep = [s not in statuses for s in table.column("status").to_pylist()]
            n = keep.count(False)
            if n == 0:
                continue
            if n == table.num_rows:
                for name in self.side_tables():
                    (self._side_dir(name) / part.name).unlink(missing_ok=True)
                part.unlink()
            else:
                _write_atomic(table.filter(pa.array(keep)), part)
            removed += n
        return removed

    def unify(self) -> None:
        """Rewrite the parts whose schema differs from the union of all parts' schemas.

        Chunks of failed runs lack the output columns and an integer column may hold a
        float elsewhere; after this, every part has the same schema, so readers that take
        the schema from the first file (``pandas.read_parquet(DIR)``,
        ``pyarrow.dataset``) see every column. One part at a time, atomically.
        """
        for folder in [self.directory] + [self._side_dir(n) for n in self.side_tables()]:
            parts = self._parts_in(folder)
            if len(parts) < 2:
                continue
            schemas = [pq.read_schema(p) for p in parts]
            schemas = [s.remove_metadata() for s in schemas]
            try:
                unified = pa.unify_schemas(schemas, promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                continue  # irreconcilable types: leave the parts, readers must union by name
            for part, schema in zip(parts, schemas, strict=True):
                if schema.equals(unified):
                    continue
                table = pq.read_table(part)
                cols = []
                for f in unified:
                    if f.name in table.column_names:
                        col = table.column(f.name)
                        cols.append(col if col.type == f.type else col.cast(f.type))
                    else:
                        cols.append(pa.nulls(table.num_rows, type=f.type))
                _write_atomic(pa.Table.from_arrays(cols, schema=unified), part)


# -- running one task -------------------------------------------------------------------


def _error_text(err: BaseException) -> str:
    """One line (type and message) plus the innermost frames of the traceback."""
    head = f"{type(err).__name__}: {err}".strip()
    frames = traceback.extract_tb(err.__traceback__)[-3:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames[::-1])
    return f"{head} [at {where}]" if where else head


def failed_row(task: Task, status: str, error: str, elapsed: float = math.nan) -> dict:
    """The row of a task that did not finish: its id, seed, status, error and parameters."""
    return {
        "run_id": task.run_id,
        "seed": int(task.seed),
        "status": status,
        "error": error,
        "elapsed_seconds": elapsed,
        **{k: _scalar(v) for k, v in task.params.items()},
    }


def _run_one(
    fn: Callable[[Task], Mapping[str, Any]], task: Task, timeout: float | None = None
) -> dict:
    """Run one task; never raises: the outcome is in the row's ``status``.

    Without a ``timeout`` the task runs here, in the calling thread. With one it runs in
    a child process that is killed when the time is up
    (:func:`stackgame.experiments.task_process.run_with_time_limit`), so the limit holds
    even inside compiled code that never returns to the interpreter.
    """
    if timeout is not None:
        preload = [m for m in (_module_of(fn),) if m and m != "__main__"]
        return run_with_time_limit(
            fn, task, timeout, preload, run_here=_run_here, failed_row=failed_row
        )
    row: dict[str, Any] = {"run_id": task.run_id, "seed": int(task.seed)}
    start = time.perf_counter()
    out: Mapping[str, Any] | None = None
    try:
        out = fn(task)
        if not isinstance(out, Mapping):
            raise TypeError(f"the run function returned {type(out).__name__}, not a dict")
        row["status"], row["error"] = "ok", None
    except Exception as err:  # noqa: BLE001 - a failing run is recorded, the batch goes on
        if interrupted(err):  # Ctrl-C inside a compiled kernel: stop, record nothing
            raise KeyboardInterrupt from err
        row["status"], row["error"] = "error", _error_text(err)
        out = None
    row["elapsed_seconds"] = time.perf_counter() - start
    for key, value in task.params.items():
        row[key] = _scalar(value)
    tables = None
    if out is not None:
        out = dict(out)
        tables = out.pop(TABLES_KEY, None)
        for key, value in out.items():
            if key in FIXED_COLUMNS:
                raise ValueError(f"the run function returned the reserved column {key!r}")
            row[key] = _scalar(value)
    if tables:
        row[TABLES_KEY] = tables
    return row


def _run_here(fn: Callable[[Task], Mapping[str, Any]], task: Task) -> dict:
    """:func:`_run_one` with no time limit: what a time-limited task's child process runs."""
    return _run_one(fn, task, None)


def _run_batch(
    fn: Callable[[Task], Mapping[str, Any]], tasks: Sequence[Task], timeout: float | None
) -> list[dict]:
    """Run a small batch of tasks in one worker call (one round trip for several runs)."""
    return [_run_one(fn, t, timeout) for t in tasks]


def _warm(modules: Sequence[str], driver: int | None = None) -> None:
    """Pool initializer: import the run function's modules once per worker process.

    Also watches the driver: a worker whose driver was killed (``kill -9``) exits within
    a second instead of waiting forever on its task queue.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's business
    for module in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    if driver is not None:
        threading.Thread(target=_watch_driver, args=(driver,), daemon=True).start()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _watch_driver(pid: int) -> None:
    while True:
        time.sleep(1.0)
        if not _alive(pid):
            os._exit(1)


def _import_all(modules: Sequence[str]) -> None:
    """Import modules on a Dask worker (no signal handling: not the main thread)."""
    for module in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def _module_of(fn: Callable[..., Any]) -> str | None:
    target = getattr(fn, "func", fn)  # functools.partial
    return getattr(target, "__module__", None)


# -- the driver ---------------------------------------------------------------------------


class _Recorder:
    """Buffers finished rows and writes them in chunks; counts outcomes."""

    def __init__(self, store: ResultStore, chunk_size: int, flush_seconds: float, bar: Any):
        self.store = store
        self.chunk_size = chunk_size
        self.flush_seconds = flush_seconds
        self.bar = bar
        self.rows: list[dict] = []
        self.tables: dict[str, list[Any]] = {}
        self.side_rows = 0
        self.last_flush = time.monotonic()
        self.counts = dict.fromkeys(STATUSES, 0)

    def add(self, rows: Iterable[dict]) -> None:
        n = 0
        for row in rows:
            side = row.pop(TABLES_KEY, None)
            if side:
                for name, table in side.items():
                    table = _with_run_id(table, row["run_id"])
                    self.tables.setdefault(name, []).append(table)
                    self.side_rows += len(table)
            self.rows.append(row)
            self.counts[row["status"]] += 1
            n += 1
        if self.bar is not None:
            self.bar.update(n)
        if (
            len(self.rows) >= self.chunk_size
            or self.side_rows >= 50 * self.chunk_size
            or time.monotonic() - self.last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        # Ctrl-C waits until the chunk is written and the buffer emptied: raised between
        # the two, it made the final flush write the same rows again (duplicates on disk)
        with _sigint_deferred():
            if self.rows:
                tables = {name: _concat(parts) for name, parts in self.tables.items()}
                self.store.append(self.rows, tables)
            self.rows, self.tables, self.side_rows = [], {}, 0
        self.last_flush = time.monotonic()


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold back Ctrl-C until the block is done, then act on it as before.

    Python runs signal handlers in the main thread whichever thread the signal reached,
    so a handler that only takes note defers it for the whole process.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if caught and callable(old):
            old(signal.SIGINT, None)


def _with_run_id(table: Any, run_id: str) -> Any:
    if hasattr(table, "assign"):  # DataFrame
        return table.assign(run_id=run_id)[["run_id", *[c for c in table.columns]]]
    return [{"run_id": run_id, **r} for r in table]


def _concat(parts: list[Any]) -> Any:
    if parts and hasattr(parts[0], "assign"):
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    return [r for p in parts for r in p]


def _batches(tasks: Iterable[Task], size: int) -> Iterator[list[Task]]:
    batch: list[Task] = []
    for t in tasks:
        batch.append(t)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _progress(total: int, initial: int, description: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit="run", dynamic_ncols=True)


def execute(
    tasks: Iterable[Task],
    fn: Callable[[Task], Mapping[str, Any]],
    *,
    store: ResultStore,
    workers: int = 1,
    backend: Literal["local", "dask"] = "local",
    scheduler: str | None = None,
    timeout: float | None = None,
    chunk_size: int = 256,
    batch_size: int | None = None,
    flush_seconds: float = 10.0,
    progress: bool = True,
    description: str = "runs",
    preload: Sequence[str] = (),
    retry_failed: bool = False,
) -> ExecutionSummary:
    """Run every task not yet recorded in ``store``; record each outcome.

    Parameters
    ----------
    tasks
        The whole enumeration (already-recorded ones are skipped by ``run_id``).
    fn
        ``fn(task) -> dict`` of scalars (plus optionally :data:`TABLES_KEY`); a
        module-level function or a ``functools.partial`` of one, so it pickles.
    store
        Where rows go (and where recorded ones are read from).
    workers
        Worker processes. With ``backend="local"`` and ``workers=1`` the tasks run in
        this process (no pool); otherwise a process pool whose workers import ``fn``'s
        module once.
    backend
        ``"local"`` (a process pool) or ``"dask"`` (``dask.distributed``: a LocalCluster
        with ``workers`` single-threaded processes, or the cluster at ``scheduler``).
    scheduler
        Address of a running Dask scheduler (``tcp://HOST:8786``); implies Dask.
    timeout
        Seconds a task may run before it is killed and recorded as ``"timeout"``. With a
        limit, each task runs in a child process of its worker (the driver, a pool worker
        or a Dask worker), which is killed when the time is up.
    chunk_size
        Rows per Parquet chunk (a chunk is also written every ``flush_seconds``).
    batch_size
        Tasks per worker call (default: small, so that every worker stays busy).
    flush_seconds
        Longest time finished rows wait in memory before they are written.
    progress
        Show a tqdm progress bar (with ETA) on stderr.
    description
        The progress bar's label.
    retry_failed
        Run again the tasks recorded as ``"error"`` or ``"timeout"`` (their rows are
        replaced); by default every recorded task counts as done.
    preload
        Modules each worker process imports before its first task (with the local pool
        they are imported once in the fork server and inherited by every worker).

    Returns
    -------
    ExecutionSummary
        Counts of what ran and how it ended.

    Raises
    ------
    UserError
        Bad arguments (a worker count below 1, an unknown backend, duplicate run ids).
    KeyboardInterrupt
        After writing every finished row, so the same call resumes where it stopped.
    """
    if backend not in ("local", "dask"):
        raise UserError(f"backend: unknown backend {backend!r}; use 'local' or 'dask'")
    if scheduler:
        backend = "dask"
    if workers < 1:
        raise UserError(f"workers: must be at least 1 (got {workers})")
    if chunk_size < 1:
        raise UserError(f"chunk_size: must be at least 1 (got {chunk_size})")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UserError(f"timeout: must be a positive number of seconds (got {timeout})")
    with store.writing():
        if retry_failed:
            store.drop(("error", "timeout"))
        return _execute(
            tasks, fn, store, workers, backend, scheduler, timeout, chunk_size, batch_size,
            flush_seconds, progress, description, preload,
        )  # fmt: skip


def _execute(
    tasks: Iterable[Task],
    fn: Callable[[Task], Mapping[str, Any]],
    store: ResultStore,
    workers: int,
    backend: str,
    scheduler: str | None,
    timeout: float | None,
    chunk_size: int,
    batch_size: int | None,
    flush_seconds: float,
    progress: bool,
    description: str,
    preload: Sequence[str],
) -> ExecutionSummary:
    start = time.perf_counter()
    done = store.done_ids()
    seen: set[str] = set()
    todo: list[Task] = []
    total = 0
    for t in tasks:
        if t.run_id in seen:
            raise UserError(f"run_id {t.run_id!r} appears twice in the enumeration")
        seen.add(t.run_id)
        total += 1
        if t.run_id not in done:
            todo.append(t)
    done_before = total - len(todo)
    del seen
    n_workers = workers if (backend == "dask" or workers > 1) else 1
    if batch_size is None:
        batch_size = max(1, min(16, len(todo) // (n_workers * 8) or 1))
    bar = _progress(total, done_before, description, progress)
    recorder = _Recorder(store, chunk_size, flush_seconds, bar)
    try:
        if not todo:
            pass
        elif backend == "dask":
            _drive_dask(todo, fn, recorder, workers, scheduler, timeout, batch_size, preload)
        elif workers == 1:
            for task in todo:
                recorder.add([_run_one(fn, task, timeout)])
        else:
            _drive_pool(todo, fn, recorder, workers, timeout, batch_size, preload)
    finally:
        recorder.flush()
        if bar is not None:
            bar.close()
    store.unify()
    c = recorder.counts
    return ExecutionSummary(
        total=total,
        done_before=done_before,
        ran=sum(c.values()),
        ok=c["ok"],
        failed=c["error"],
        timed_out=c["timeout"],
        elapsed_seconds=time.perf_counter() - start,
    )


def _drive_pool(
    todo: list[Task],
    fn: Callable[[Task], Mapping[str, Any]],
    recorder: _Recorder,
    workers: int,
    timeout: float | None,
    batch_size: int,
    preload: Sequence[str] = (),
) -> None:
    """Local process pool: bounded in-flight batches; a crashed worker is survived.

    If a worker process dies (out of memory, a segfault, ``os._exit``), the pool breaks
    and every batch in flight fails; those tasks are run again one at a time, alone, on a
    fresh pool, and one that breaks the pool again is recorded as an error.
    """
    modules = [m for m in (*preload, _module_of(fn)) if m and m != "__main__"]
    ctx = _pool_context(modules)
    max_inflight = workers * 4
    pending = _batches(todo, batch_size)
    retry: list[list[Task]] = []
    crashes: dict[str, int] = {}

    def new_pool() -> cf.ProcessPoolExecutor:
        return _process_pool(workers, modules, ctx)

    pool = new_pool()
    inflight: dict[cf.Future, list[Task]] = {}
    try:
        while True:
            if retry:  # suspects of a crash run alone, so a second crash names its task
                if not inflight:
                    batch = retry.pop()
                    inflight[pool.submit(_run_batch, fn, batch, timeout)] = batch
            else:
                while len(inflight) < max_inflight:
                    nxt = next(pending, None)
                    if nxt is None:
                        break
                    inflight[pool.submit(_run_batch, fn, nxt, timeout)] = nxt
            if not inflight:
                break
            finished, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
            broken = False
            for fut in finished:
                batch = inflight.pop(fut)
                try:
                    recorder.add(fut.result())
                except cf.process.BrokenProcessPool:
                    broken = True
                    _retry_batch(batch, crashes, retry, recorder)
            if broken:
                for batch in inflight.values():
                    _retry_batch(batch, crashes, retry, recorder)
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    except BaseException:  # Ctrl-C (or an error here): stop the workers now, not after
        _terminate_workers(pool)  # their current batches; those runs are simply rerun
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pool_context(modules: Sequence[str]) -> Any:
    """The start method of every local pool: a fork server that has imported ``modules``.

    Where there is no fork server (Windows), workers are spawned and import ``modules``
    in the pool initializer.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(modules))  # effective if the fork server is not running yet
    return ctx


def _process_pool(workers: int, modules: Sequence[str], ctx: Any = None) -> cf.ProcessPoolExecutor:
    """The local process pool (:func:`execute` and :func:`map_blocks` where fork is missing).

    Workers start from the fork server (see :func:`_pool_context`), import ``modules``
    once, ignore Ctrl-C (the driver's business) and exit when the driver dies.
    """
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx if ctx is not None else _pool_context(modules),
        initializer=_warm,
        initargs=(list(modules), os.getpid()),
    )


def _terminate_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Terminate a pool's worker processes (their unfinished tasks are not recorded)."""
    processes = getattr(pool, "_processes", None) or {}
    for proc in list(processes.values()):
        with contextlib.suppress(Exception):
            proc.terminate()


def _retry_batch(
    batch: list[Task], crashes: dict[str, int], retry: list[list[Task]], recorder: _Recorder
) -> None:
    """Queue a crashed batch's tasks one by one; record a twice-crashed task as an error."""
    for task in batch:
        crashes[task.run_id] = crashes.get(task.run_id, 0) + 1
        if crashes[task.run_id] >= 2:
            recorder.add(
                [failed_row(task, "error", "the worker process died while running this task")]
            )
        else:
            retry.append([task])


def _drive_dask(
    todo: list[Task],
    fn: Callable[[Task], Mapping[str, Any]],
    recorder: _Recorder,
    workers: int,
    scheduler: str | None,
    timeout: float | None,
    batch_size: int,
    preload: Sequence[str] = (),
) -> None:
    """Dask: the same batches through ``client.submit`` and ``as_completed``."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UserError(
            "backend dask: dask.distributed is not installed; pip install 'stackgame[dask]'"
        ) from None
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
            n = max(
                1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
            )
        else:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
            n = workers
    except OSError as err:
        raise UserError(f"scheduler {scheduler}: cannot connect ({err})") from None
    max_inflight = n * 4
    pending = _batches(todo, batch_size)
    inflight: dict[Any, list[Task]] = {}
    modules = [m for m in (*preload, _module_of(fn)) if m and m != "__main__"]
    with contextlib.suppress(Exception):  # a head start only; tasks import what they need
        client.run(_import_all, modules)
    try:
        seq = as_completed()

        def submit() -> bool:
            batch = next(pending, None)
            if batch is None:
                return False
            fut = client.submit(_run_batch, fn, batch, timeout, pure=False)
            inflight[fut] = batch
            seq.add(fut)
            return True

        for _ in range(max_inflight):
            if not submit():
                break
        for fut in seq:
            batch = inflight.pop(fut)
            try:
                rows = fut.result()
            except Exception as err:  # noqa: BLE001 - infrastructure failure (a killed worker)
                rows = [failed_row(t, "error", f"dask: {_error_text(err)}") for t in batch]
            fut.release()
            recorder.add(rows)
            submit()
    finally:
        for fut in list(inflight):
            fut.cancel()
        client.close()
        if cluster is not None:
            cluster.close()


# -- in memory: blocks of work shared by forked processes ----------------------------------


def can_fork() -> bool:
    """Whether this platform starts processes by ``fork`` (Linux, not macOS's default)."""
    return "fork" in multiprocessing.get_all_start_methods()


def map_items(
    fn: Callable[[Any], list[Any]],
    items: Sequence[Any],
    workers: int,
    *,
    desc: str,
    progress: bool = False,
) -> list[Any]:
    """:func:`map_blocks` over ``items`` cut into blocks, with a progress bar of items.

    About four blocks a worker (``ceil(len(items) / (4 workers))`` items each, in order),
    so the load balances; ``workers`` is capped at the number of items. ``fn`` takes a
    block (a list of items) and returns a list. The bar (tqdm, on stderr, shown after a
    second) counts items as their blocks finish.
    """
    import sys

    from tqdm import tqdm

    workers = max(1, min(workers, len(items)))
    size = max(1, math.ceil(len(items) / (workers * 4)))
    blocks = [list(items[k : k + size]) for k in range(0, len(items), size)]
    bar = tqdm(total=len(items), desc=desc, disable=not progress, file=sys.stderr, delay=1.0)

    def advance(part: list[Any]) -> None:
        bar.update(len(part))

    try:
        return map_blocks(fn, blocks, workers, on_done=advance)
    finally:
        bar.close()


def map_blocks(
    fn: Callable[[Any], list[Any]],
    blocks: Sequence[Any],
    workers: int,
    *,
    on_done: Callable[[list[Any]], None] | None = None,
) -> list[Any]:
    """``fn`` applied to every block on ``workers`` processes, its lists concatenated, in memory.

    The runner for work too short for :func:`execute`'s store (a whole tournament can take a
    tenth of a second). Where fork exists, this process and ``workers - 1`` forked
    children share the blocks: each takes the next one from a shared counter until none
    is left, so the load balances itself if ``blocks`` come most expensive first; each
    child sends its results back pickled through a pipe and exits; an exception in a
    child is raised here. A fork costs a few milliseconds (no interpreter start, no pool
    and its threads), and this process works instead of waiting. Elsewhere the blocks go
    to the same process pool as :func:`execute` (``fn`` and the blocks must pickle).
    ``on_done`` is called with results as they arrive (a progress bar): each block's in
    this process, each child's whole share when it ends.
    The results are those of ``[x for b in blocks for x in fn(b)]`` in another order.
    """
    if workers <= 1 or len(blocks) < 2:
        out: list[Any] = []
        for block in blocks:
            part = fn(block)
            out.extend(part)
            if on_done is not None:
                on_done(part)
        return out
    if can_fork():
        return _map_forked(fn, blocks, workers, on_done)
    rows: list[Any] = []
    module = _module_of(fn)
    with _process_pool(workers, [module] if module and module != "__main__" else []) as pool:
        for part in pool.map(fn, blocks):
            rows.extend(part)
            if on_done is not None:
                on_done(part)
    return rows


def _map_forked(
    fn: Callable[[Any], list[Any]],
    blocks: Sequence[Any],
    workers: int,
    on_done: Callable[[list[Any]], None] | None,
) -> list[Any]:
    """:func:`map_blocks` on this process and ``workers - 1`` forked children."""
    import pickle

    counter = multiprocessing.get_context("fork").Value("l", 0)

    def take_share(report: Callable[[list[Any]], None] | None = None) -> list[Any]:
        out: list[Any] = []
        while True:
            with counter.get_lock():
                i = counter.value
                counter.value = i + 1
            if i >= len(blocks):
                return out
            part = fn(blocks[i])
            out.extend(part)
            if report is not None:
                report(part)

    children: list[tuple[int, int]] = []
    rows: list[Any] = []
    try:
        for _ in range(workers - 1):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: take a share, send it, exit without cleanup
                os.close(read_fd)
                _child_reply(write_fd, take_share)
            os.close(write_fd)
            children.append((pid, read_fd))
        rows.extend(take_share(on_done))
        while children:
            pid, read_fd = children.pop(0)
            with os.fdopen(read_fd, "rb") as pipe:
                data = pipe.read()
            threading.Thread(target=_reap, args=(pid,), daemon=True).start()
            if not data:
                raise RuntimeError(f"worker process {pid} died before sending its results")
            ok, payload = pickle.loads(data)
            if not ok:
                raise payload
            rows.extend(payload)
            if on_done is not None:
                on_done(payload)
    finally:
        for pid, read_fd in children:  # only after an error here: stop the others
            os.close(read_fd)
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    return rows


def _reap(pid: int) -> None:
    """Wait for a finished child (its exit takes milliseconds: not on the caller's time)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # already reaped (SIGCHLD ignored, or reaped elsewhere)
        pass


def _child_reply(write_fd: int, work: Callable[[], Any]) -> None:
    """In a forked child: run ``work``, write ``(ok, result or exception)``, and exit."""
    import pickle

    code = 0
    try:
        try:
            reply = pickle.dumps((True, work()), pickle.HIGHEST_PROTOCOL)
        except BaseException as err:  # noqa: BLE001 - every failure goes back to the parent
            try:
                reply = pickle.dumps((False, err), pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                reply = pickle.dumps((False, RuntimeError(repr(err))))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(reply)
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        code = 1
    finally:
        os._exit(code)
