"""Default output folders are named by what made them; a what-if never lands in the baseline."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import pytest

from stackgame import manifest as m
from stackgame.cli import main
from stackgame.manifest import output_name, scenario_change


def test_plain_baseline_keeps_the_readme_name() -> None:
    assert output_name("ai-stack-2026", 0) == "ai-stack-2026-seed0"
    assert output_name("smoke") == "smoke"
    assert (
        output_name("monopoly-chain", 3, prefix="equilibria/") == "equilibria/monopoly-chain-seed3"
    )


def test_overrides_and_strategies_are_readable_and_hashed() -> None:
    name = output_name(
        "ai-stack-2026",
        0,
        overrides={"events.nvidia_value_pricing.enabled": True},
        strategies={"nvidia": "q_learning"},
    )
    head, digest = name.rsplit("-", 1)
    assert head == "ai-stack-2026-seed0-events.nvidia_value_pricing.enabled=true"
    assert len(digest) == 8 and int(digest, 16) >= 0


def test_names_are_stable_and_distinct() -> None:
    a = output_name("s", 0, overrides={"x.a": 1, "x.b": 2})
    assert a == output_name("s", 0, overrides={"x.b": 2, "x.a": 1})  # order does not matter
    others = [
        output_name("s", 0, overrides={"x.a": 1, "x.b": 3}),
        output_name("s", 1, overrides={"x.a": 1, "x.b": 2}),
        output_name("s", 0, overrides={"x.a": 1, "x.b": 2}, strategies={"f": "g"}),
        output_name("s", 0, overrides={"x.a": 1, "x.b": 2}, rounds=5),
        output_name("s", 0, overrides={"x.a": 1, "x.b": 2}, extra={"scenario": "abc"}),
    ]
    assert len({a, *others}) == 6
    # a long list of changes is cut in its readable part, never in its hash
    long = {f"firms.firm{i}.markup": i for i in range(20)}
    assert len(output_name("s", 0, overrides=long)) < 80
    assert output_name("s", 0, overrides=long) != output_name("s", 0, overrides=dict(long, z=1))


def test_unsafe_characters_never_reach_the_folder_name() -> None:
    name = output_name("my scenario", 0, overrides={"a/b": "../x y"})
    assert "/" not in name and " " not in name and ".." not in name.split("-")[0]


def test_scenario_file_changes_the_name_unless_identical(tmp_path: Path) -> None:
    from stackgame.environment.scenario import builtin_text, resolve

    assert scenario_change("monopoly-chain", "monopoly-chain", "whatever") == {}
    copy = tmp_path / "copy.toml"
    copy.write_text(builtin_text("monopoly-chain"))
    sc = resolve(str(copy))
    assert scenario_change(str(copy), sc.name, sc.digest()) == {}
    edited = tmp_path / "edited.toml"
    edited.write_text(builtin_text("monopoly-chain").replace("rounds = 20", "rounds = 21"))
    sc2 = resolve(str(edited))
    assert sc2.digest() != sc.digest()
    assert scenario_change(str(edited), sc2.name, sc2.digest()) == {"scenario": sc2.digest()}


def test_run_what_if_writes_beside_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["run", "--scenario", "monopoly-chain", "--json", "--no-plots"]
    assert main(base) == 0
    assert main([*base, "--set", "regulator.stance=0.9"]) == 0
    assert main([*base, "--strategy", "upstream_monopolist=always_restrain"]) == 0
    capsys.readouterr()
    folders = sorted(p.name for p in (tmp_path / "runs" / "out").iterdir())
    assert len(folders) == 3
    assert "monopoly-chain-seed0" in folders
    what_if = [f for f in folders if "regulator.stance=0.9" in f]
    assert len(what_if) == 1
    manifest = json.loads((tmp_path / "runs/out" / what_if[0] / "manifest.json").read_text())
    assert manifest["overrides"] == {"regulator.stance": 0.9}


def test_batch_with_another_seed_writes_beside_the_spec_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = Path(__file__).resolve().parents[2] / "runs" / "smoke.toml"
    monkeypatch.chdir(tmp_path)
    assert main(["batch", str(spec), "--dry-run", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)["out"]
    assert main(["batch", str(spec), "--dry-run", "--json", "--seed", "5"]) == 0
    seeded = json.loads(capsys.readouterr().out)["out"]
    assert Path(plain) == Path("runs/out/smoke")
    assert Path(seeded) == Path("runs/out/smoke-seed5")


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
