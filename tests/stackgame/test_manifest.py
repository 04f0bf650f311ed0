"""Default output folders are named by what made them; a what-if never lands in the baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
