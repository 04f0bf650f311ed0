"""The control of issue 17 (runs/restraint-control.toml): with no future, extraction wins.

Over two rounds with the regulator off, nothing a firm does today can change what it
earns later (no investigation, almost no demand that a lower price could grow), so the
only equilibrium of the Nvidia x TSMC posture game must be both-extract, and every
deviation to a restraining strategy must lose. If this fails, the model (or the spec) is
broken: extraction is the one-shot best reply by construction of the markups.
"""

from __future__ import annotations

import json
from pathlib import Path

from stackgame.cli import main

SPEC = Path(__file__).resolve().parents[3] / "runs" / "restraint-control.toml"


def test_the_control_spec_finds_extraction_the_only_equilibrium(tmp_path, capsys):
    argv = ["equilibria", "--spec", str(SPEC), "--repetitions", "2", "--no-progress"]
    assert main([*argv, "--json", "--out", str(tmp_path / "o")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rounds"] == 2
    assert report["overrides"]["regulator.enabled"] is False
    assert [eq["kind"] for eq in report["equilibria"]] == ["pure"]
    [eq] = report["equilibria"]
    assert eq["profile"] == {"nvidia": "always_extract", "tsmc": "always_extract"}
    deviations = eq["check"]["deviations"]
    assert {(d["seat"], d["strategy"]) for d in deviations} == {
        ("nvidia", "always_restrain"),
        ("nvidia", "antitrust_aware_restraint"),
        ("tsmc", "always_restrain"),
        ("tsmc", "protect_through_downcycles"),
    }
    for d in deviations:
        assert d["ci"][1] < 0, d  # every deviation loses, beyond its interval
