"""After ``make run`` (the core, no extras) every command works or names its extra.

The subcommands' smallest examples run in one child process whose import system refuses
every module that only the extras bring (Solara, Dask, pygambit, playwright, ...: the
list is worked out from the installed metadata, not written by hand). Each must exit 0, or
exit 2 with one line that names the extra to install; never a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: list[str]) -> set[str]:
    """Distributions (normalised names) that ``requirements`` install, extras followed."""
    from packaging.requirements import Requirement

    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        key = (_norm(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        found.add(key[0])
        for text in dist.requires or []:
            sub = Requirement(text)
            wanted = {"", *req.extras}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(sub)
    return found


def extra_only_modules() -> list[str]:
    """Top-level modules installed only because of stackgame's extras, not its core."""
    from packaging.requirements import Requirement

    requires = metadata.distribution("stackgame").requires or []
    core = [r for r in requires if Requirement(r).marker is None]
    extras = [r.split(";")[0] for r in requires if Requirement(r).marker is not None]
    only = _closure(core + extras) - _closure(core) - {"stackgame"}
    return sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if dists and all(_norm(d) in only for d in dists)
    )


BLOCKER = """
import importlib.abc, sys
BLOCKED = set({blocked!r})
class RefuseExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (core only)", name=name)
        return None
sys.meta_path.insert(0, RefuseExtras())
"""

DRIVER = """
import contextlib, io, json, sys
from stackgame.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
        except BaseException as exc:  # a traceback is exactly what this test looks for
            import traceback
            traceback.print_exc(file=err)
            code = "raised " + type(exc).__name__
    results.append({"argv": argv, "code": code, "out": out.getvalue(), "err": err.getvalue()})
blocked = [m for m in sys.modules if m.split(".")[0] in BLOCKED_NAMES]
print(json.dumps({"results": results, "imported_blocked": blocked}))
"""

TINY_BATCH = """
[batch]
name = "tiny"
scenario = "monopoly-chain"
rounds = 2
seed = 1
replicates = 1
design = "morris"        # SALib's Morris sample and indices: core, not an extra
samples = 2
levels = 4

[parameters]
"demand.growth" = {min = 0.0, max = 0.05}
"""

TINY_CALVANO = """
[tournament]
game = "stack"
scenario = "logit-bertrand-duopoly"
seats = ["firm_1", "firm_2"]
strategies = ["q_learning"]
turns = 20
repetitions = 1          # one session: the profit gain's interval is undefined
seed = 2020
score_last = 5

[calvano]
nash_profit = 0.2229
monopoly_profit = 0.3375
paper_profit_gain = 0.85
"""

CHAIN = ["--scenario", "monopoly-chain"]
SEATS = "upstream_monopolist,downstream_monopolist"


def examples(tmp: Path) -> list[tuple[list[str], str | None]]:
    """(argv, extra it needs or None) for the smallest example of every subcommand."""
    spec = tmp / "tiny.toml"
    spec.write_text(TINY_BATCH)
    calvano = tmp / "calvano.toml"
    calvano.write_text(TINY_CALVANO)
    t, b = str(tmp / "tournament"), str(tmp / "batch")
    return [
        (["run", *CHAIN, "--rounds", "2", "--out", str(tmp / "run")], None),
        (["scenarios", "--json"], None),
        (["scenarios", "--show", "monopoly-chain"], None),
        (["strategies", "--json"], None),
        (["tournament", "--strategies", "cooperator,defector", "--turns", "5",
          "--repetitions", "1", "--out", t, "--json"], None),
        (["tournament", "--spec", str(calvano), "--out", str(tmp / "calvano"), "--json"], None),
        (["evolve", "--from", t, "--dynamics", "replicator", "--steps", "5",
          "--out", str(tmp / "evolve"), "--json"], None),
        (["equilibria", *CHAIN, "--seats", SEATS, "--rounds", "2", "--repetitions", "2",
          "--no-check", "--no-progress", "--out", str(tmp / "eq"), "--json"], None),
        (["theses", "--seeds", "1", "--variants", "baseline", "--rounds", "2", "--no-plot",
          "--no-progress", "--out", str(tmp / "theses"), "--json"], None),
        (["batch", str(spec), "--out", b, "--no-progress", "--json"], None),
        (["report", b, "--no-plots", "--json"], None),
        (["batch", str(spec), "--out", str(tmp / "dask"), "--backend", "dask"], "dask"),
        (["tournament", "--strategies", "cooperator,defector", "--backend", "dask",
          "--out", str(tmp / "t-dask")], "dask"),
        (["viz"], "viz"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def core_only(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every example run once in a core-only child process: argv, extra, code, out, err."""
    tmp_path = tmp_path_factory.mktemp("core-only")
    blocked = extra_only_modules()
    assert {"solara", "dask", "distributed", "playwright"} <= set(blocked), blocked
    assert not {"nashpy", "SALib", "numpy", "mesa"} & set(blocked), blocked
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=blocked))
    cases = examples(tmp_path)
    driver = f"BLOCKED_NAMES = set({blocked!r})\n" + textwrap.dedent(DRIVER)
    proc = subprocess.run(
        [sys.executable, "-c", driver, json.dumps([argv for argv, _ in cases])],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "MPLBACKEND": "Agg"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["imported_blocked"] == []
    runs = [
        {**got, "extra": extra} for (_, extra), got in zip(cases, report["results"], strict=True)
    ]
    return {"runs": runs, "folder": tmp_path}


def test_every_command_works_or_names_its_extra_with_the_core_only(
    core_only: dict[str, Any],
) -> None:
    for got in core_only["runs"]:
        argv, extra = got["argv"], got["extra"]
        command = " ".join(argv[:2])
        assert "Traceback" not in got["err"], (command, got["err"])
        if extra is None:
            assert got["code"] == 0, (command, got["err"][-2000:])
        else:
            lines = got["err"].strip().splitlines()
            assert got["code"] == 2 and len(lines) == 1, (command, got["err"])
            assert f"pip install 'stackgame[{extra}]'" in lines[0], (command, lines[0])


def test_a_missing_module_deep_in_a_command_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stackgame.cli import main
    from stackgame.commands import scenarios

    def needs_dask(args: object) -> int:
        raise ModuleNotFoundError("No module named 'distributed'", name="distributed")

    monkeypatch.setattr(scenarios, "run", needs_dask)
    assert main(["scenarios"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "stackgame scenarios: error: needs distributed (not installed): "
        "pip install 'stackgame[dask]'"
    ]


def _refuse(constant: str) -> None:
    raise ValueError(f"not strict JSON: {constant}")


def test_every_json_output_and_file_is_strict(core_only: dict[str, Any]) -> None:
    """NaN and Infinity never reach --json or a JSON file (a strict parser reads them all)."""
    outputs = [got for got in core_only["runs"] if "--json" in got["argv"] and got["code"] == 0]
    assert len(outputs) >= 9
    for got in outputs:
        json.loads(got["out"], parse_constant=_refuse)
    files = sorted(Path(core_only["folder"]).rglob("*.json"))
    assert {f.name for f in files} >= {
        "summary.json", "manifest.json", "result.json", "evolution.json", "equilibria.json",
        "theses.json", "tournament.json",
    }  # fmt: skip
    for path in files:
        json.loads(path.read_text(), parse_constant=_refuse)
    calvano = next(g for g in outputs if "--spec" in g["argv"])
    gain = json.loads(calvano["out"])["calvano"]
    assert gain["ci_low"] is None and gain["ci_high"] is None  # one run: undefined, not NaN
