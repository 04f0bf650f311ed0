"""`stackgame batch` end to end: kill it (Ctrl-C, SIGKILL), rerun it, same rows; exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from stackgame.cli import main
from stackgame.experiments.batch import load_spec, run_batch
from stackgame.experiments.executor import ResultStore

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "runs" / "smoke.toml"


def rows(folder: Path) -> pd.DataFrame:
    return ResultStore(folder / "runs").read().drop(columns="elapsed_seconds")


@pytest.fixture(scope="module")
def clean_smoke(tmp_path_factory) -> Path:
    """The smoke batch, run once without interruption, in this process."""
    out = tmp_path_factory.mktemp("clean")
    run_batch(load_spec(SMOKE), out, progress=False)
    return out


def wait_for_parts(folder: Path, n: int, proc: subprocess.Popen, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(folder.glob("part-*.parquet"))) >= n:
            return
        time.sleep(0.01)
    raise AssertionError(f"no {n} chunks in {folder} (exit code {proc.poll()})")


@pytest.fixture(scope="module")
def long_smoke(tmp_path_factory) -> tuple[Path, Path]:
    """The smoke design with 160-round runs (a few seconds in all), and its clean run.

    At 8 rounds the whole batch can finish between the first chunk landing and the
    signal (a loaded machine, or coverage measuring the child): the test would then
    interrupt nothing.
    """
    folder = tmp_path_factory.mktemp("long")
    spec = folder / "smoke.toml"
    text = SMOKE.read_text()
    assert "rounds = 8\n" in text
    spec.write_text(text.replace("rounds = 8\n", "rounds = 160\n"))
    clean = folder / "clean"
    run_batch(load_spec(spec), clean, progress=False)
    return spec, clean


@pytest.mark.slow
def test_interrupt_and_sigkill_then_the_same_command_completes(tmp_path, long_smoke):
    spec, clean_smoke = long_smoke
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "stackgame", "batch", str(spec), "--out", str(out)]
    cmd += ["--chunk-size", "2", "--no-progress"]
    # Ctrl-C (in-process runs): the finished rows are written, one line, exit code 2
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stderr=subprocess.PIPE)
    wait_for_parts(out / "runs", 1, proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert err.decode().strip().count("\n") == 0 and "resume" in err.decode(), err
    after_int = len(ResultStore(out / "runs").done_ids())
    # SIGKILL (a process pool): no chance to clean up
    cmd += ["--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    wait_for_parts(out / "runs", after_int // 2 + 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = len(ResultStore(out / "runs").done_ids())
    assert after_int <= killed < 24
    done = subprocess.run(cmd + ["--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["done_before"] == killed and info["ran"] == 24 - killed
    got = rows(out)
    assert len(got) == 24 and got.run_id.is_unique
    parts = sorted((out / "runs").glob("part-*.parquet"))
    assert sum(len(pd.read_parquet(p)) for p in parts) == 24  # no duplicate rows on disk
    rounds = pd.read_parquet(out / "rounds")
    assert len(rounds) == len(pd.read_parquet(clean_smoke / "rounds"))
    assert not rounds.duplicated(["run_id", "round", "layer"]).any()
    pd.testing.assert_frame_equal(got, rows(clean_smoke))


@pytest.mark.slow
def test_serial_pool_and_dask_give_identical_rows(tmp_path, clean_smoke):
    pytest.importorskip("dask.distributed")
    spec = load_spec(SMOKE)
    run_batch(spec, tmp_path / "pool", workers=2, progress=False)
    run_batch(spec, tmp_path / "dask", workers=2, backend="dask", progress=False)
    want = rows(clean_smoke)
    assert (want.status == "ok").all() and len(want) == 24
    pd.testing.assert_frame_equal(rows(tmp_path / "pool"), want)
    pd.testing.assert_frame_equal(rows(tmp_path / "dask"), want)


def test_a_time_limit_leaves_the_seeded_rows_unchanged(tmp_path, clean_smoke):
    # with --timeout each run goes through a killable child process: same rows
    run_batch(load_spec(SMOKE), tmp_path / "limited", timeout=120, progress=False)
    pd.testing.assert_frame_equal(rows(tmp_path / "limited"), rows(clean_smoke))


BAD = {
    "malformed": ("[batch\nseed = 1\n", "malformed TOML"),
    "path": ("[parameters]\n'regulator.stanse' = [0.1, 0.2]\n", 'parameters."regulator.stanse"'),
    "strategy": (
        "[parameters]\n'firms.nvidia.strategy' = ['always_extract', 'price_gouger']\n",
        "unknown strategy 'price_gouger'",
    ),
    "nan": ("[parameters]\n'demand.growth' = [0.0, nan]\n", "must be a finite number"),
    "metric": (
        "[parameters]\n'demand.growth' = [0.0]\n[metrics]\nkeep = ['value_shares.*']\n",
        "metrics.keep[0]: no metric matches 'value_shares.*'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_specs_exit_2_with_one_line(tmp_path, capsys, case):
    text, message = BAD[case]
    spec = tmp_path / f"{case}.toml"
    spec.write_text(text)
    out = tmp_path / "out"
    assert main(["batch", str(spec), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"stackgame batch: error: {spec}: ") and message in err
    assert len(err.splitlines()) == 1
    assert not out.exists()  # nothing written, nothing lost


def test_a_changed_spec_in_the_same_folder_exits_2(tmp_path, capsys, clean_smoke):
    changed = tmp_path / "smoke.toml"
    changed.write_text(SMOKE.read_text().replace("rounds = 8", "rounds = 9"))
    before = rows(clean_smoke)
    assert main(["batch", str(changed), "--out", str(clean_smoke), "--no-progress"]) == 2
    assert "different spec" in capsys.readouterr().err
    pd.testing.assert_frame_equal(rows(clean_smoke), before)


def test_dry_run_counts_without_writing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(SMOKE), "--out", str(out), "--dry-run", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["runs_total"] == 24 and info["root_seed"] == 2026 and not out.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "--workers: must be at least 1 (got 0)"),
        (["--chunk-size", "0"], "--chunk-size: must be at least 1 (got 0)"),
        (["--timeout", "0"], "--timeout: must be a positive number of seconds (got 0.0)"),
        (["--seed", "-2"], "--seed: must be a non-negative integer (got -2)"),
    ],
)
def test_bad_flags_exit_2_with_one_line(tmp_path, capsys, flags, message):
    assert main(["batch", str(SMOKE), "--out", str(tmp_path / "o"), *flags]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"stackgame batch: error: {message}"]
    assert not (tmp_path / "o").exists()


def test_dry_run_in_words_names_the_design_and_the_count(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["batch", str(SMOKE), "--out", str(out), "--dry-run", "--seed", "4"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{SMOKE}: ")
    assert " runs (" in text and "design over" in text
    main(["batch", str(SMOKE), "--out", str(out), "--dry-run", "--seed", "4", "--json"])
    info = json.loads(capsys.readouterr().out)
    assert info["root_seed"] == 4
    assert f"{info['runs_total']} runs ({info['design']} design" in text
    assert not out.exists()
