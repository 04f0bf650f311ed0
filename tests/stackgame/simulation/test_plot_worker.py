"""The plotting child of ``stackgame run``: forked first, fed the result, the same PNGs."""

from __future__ import annotations

import os
import sys

import pytest

from stackgame.simulation import plot_worker, report
from stackgame.simulation.simulate import simulate

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux")


@pytest.fixture(scope="module")
def result():
    return simulate("ai-stack-2026", rounds=3, seed=1)


def test_the_child_draws_the_same_files_as_this_process(result, tmp_path) -> None:
    worker = plot_worker.start()
    assert worker is not None
    (tmp_path / "child").mkdir()
    worker.submit(result, tmp_path / "child")
    paths = worker.wait()
    worker.close()  # nothing left to end
    here = report.write_plots(result, tmp_path / "here")
    assert sorted(p.name for p in paths) == sorted(p.name for p in here)
    for p in here:
        assert (tmp_path / "child" / p.name).read_bytes() == p.read_bytes()


def test_a_command_that_stops_before_its_result_ends_the_child(tmp_path) -> None:
    worker = plot_worker.start()
    assert worker is not None
    pid = worker.pid
    worker.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped
    assert worker.pid == 0


def test_a_failure_in_the_child_is_raised_here(result, tmp_path, monkeypatch) -> None:
    def broken(result, folder):
        raise ValueError("no ink")

    monkeypatch.setattr(report, "write_plots", broken)
    worker = plot_worker.start()
    assert worker is not None
    worker.submit(result, tmp_path)
    with pytest.raises(RuntimeError, match="ValueError: no ink"):
        worker.wait()
    worker.close()


def test_elsewhere_there_is_no_child(monkeypatch) -> None:
    monkeypatch.setattr(plot_worker.sys, "platform", "darwin")
    assert plot_worker.start() is None
