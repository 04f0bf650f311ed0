"""Output folders and their manifest."""

from __future__ import annotations

import json
import platform
import sys

from stackgame import manifest as m


def test_versions_name_python_and_the_packages_that_shape_the_numbers():
    v = m.versions()
    assert v["python"] == platform.python_version()
    for name in ("stackgame", "mesa", "numpy"):
        assert v[name]


def test_git_revision_is_a_commit_possibly_dirty():
    rev = m.git_revision()
    assert rev is None or len(rev.removesuffix("-dirty")) == 40


def test_output_dir_is_created_under_runs_out_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert m.output_dir(None, "demo") == tmp_path.joinpath("runs", "out", "demo").relative_to(
        tmp_path
    )
    assert (tmp_path / "runs" / "out" / "demo").is_dir()
    given = m.output_dir(tmp_path / "a" / "b", "ignored")
    assert given == tmp_path / "a" / "b" and given.is_dir()


def test_manifest_has_no_timestamp_so_same_inputs_same_manifest(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["stackgame", "run", "--seed", "3"])
    one = m.manifest(seed=3, scenario_hash="abc", rounds=6)
    two = m.manifest(seed=3, scenario_hash="abc", rounds=6)
    assert one == two
    assert one["command"] == "stackgame run --seed 3"
    assert one["seed"] == 3 and one["scenario_hash"] == "abc" and one["rounds"] == 6
    assert m.manifest(command="stackgame batch x")["command"] == "stackgame batch x"
    assert m.manifest(command=["a", "b"])["command"] == "a b"


def test_write_manifest_writes_sorted_json(tmp_path):
    path = m.write_manifest(tmp_path, command="stackgame run", seed=1)
    assert path == tmp_path / "manifest.json"
    data = json.loads(path.read_text())
    assert data["seed"] == 1 and data["command"] == "stackgame run"
    assert list(data) == sorted(data)


def test_versions_skip_a_package_that_is_not_installed(monkeypatch):
    monkeypatch.setattr(m, "_PACKAGES", ("numpy", "no-such-package-xyz"))
    v = m.versions()
    assert set(v) == {"python", "numpy"}


def test_git_revision_is_none_outside_git_or_without_git(monkeypatch):
    import subprocess
    from types import SimpleNamespace

    monkeypatch.setattr(
        subprocess, "run", lambda *a, **k: SimpleNamespace(returncode=128, stdout="")
    )
    assert m.git_revision() is None

    def missing(*a, **k):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", missing)
    assert m.git_revision() is None


def test_git_revision_marks_uncommitted_changes(monkeypatch):
    import subprocess
    from types import SimpleNamespace

    answers = iter(
        [SimpleNamespace(returncode=0, stdout="a" * 40 + "\n"),
         SimpleNamespace(returncode=0, stdout=" M stackgame/cli.py\n")]
    )  # fmt: skip
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: next(answers))
    assert m.git_revision() == "a" * 40 + "-dirty"
