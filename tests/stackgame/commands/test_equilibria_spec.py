"""``stackgame equilibria --spec FILE``: a TOML [equilibria] table whose keys mirror the flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackgame.cli import main

# monopoly-chain (header of environment/scenarios/monopoly-chain.toml): A = 10, B = 1,
# c = 2, extract margin 8/3, restrain margin 4/3. Row firm's profit per round:
#   restrain vs restrain: (4/3)(8 - 8/3) = 64/9;  restrain vs extract: (4/3)(8 - 4) = 16/3
#   extract vs restrain:  (8/3)(8 - 4) = 32/3;    extract vs extract: (8/3)(8 - 16/3) = 64/9
# so extract is dominant and both-extract the one pure equilibrium (the margins are
# rounded to the markup grid, hence the 1e-4 tolerance).
TINY = """\
[equilibria]
description = "the monopoly chain's posture game, two runs a profile"
scenario = "monopoly-chain"
seed = 3
seats = ["upstream_monopolist", "downstream_monopolist"]
strategies = ["always_restrain", "always_extract"]
repetitions = 2
rounds = 3
check_repetitions = 1
"""


def _spec(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["equilibria", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_spec_runs_the_game_it_describes(tmp_path, capsys):
    spec = _spec(tmp_path, TINY)
    code, out, _ = _run(
        ["--spec", str(spec), "--json", "--no-progress", "--out", str(tmp_path / "o")], capsys
    )
    assert code == 0
    report = json.loads(out)
    assert report["scenario"] == "monopoly-chain"
    assert report["seed"] == 3
    assert report["repetitions"] == 2
    assert report["seats"] == ["upstream_monopolist", "downstream_monopolist"]
    table = {
        (e["profile"]["upstream_monopolist"], e["profile"]["downstream_monopolist"]): e["payoff"]
        for e in report["payoffs"]
    }
    up = {k: v["upstream_monopolist"]["mean"] for k, v in table.items()}
    assert up[("always_restrain", "always_restrain")] == pytest.approx(64 / 9, rel=1e-4)
    assert up[("always_restrain", "always_extract")] == pytest.approx(16 / 3, rel=1e-4)
    assert up[("always_extract", "always_restrain")] == pytest.approx(32 / 3, rel=1e-4)
    assert up[("always_extract", "always_extract")] == pytest.approx(64 / 9, rel=1e-4)
    [eq] = report["equilibria"]
    assert eq["profile"] == {
        "upstream_monopolist": "always_extract",
        "downstream_monopolist": "always_extract",
    }
    assert eq["check"]["repetitions"] == 1


def test_flags_override_the_spec(tmp_path, capsys):
    text = TINY.replace(
        'strategies = ["always_restrain", "always_extract"]',
        '[equilibria.strategies]\nupstream_monopolist = ["always_restrain", "always_extract"]\n'
        'downstream_monopolist = ["always_extract"]',
    )
    # the table must come last in TOML: move the scalar keys above it
    head, table = text.split("[equilibria.strategies]\n")
    lines = table.splitlines()
    text = head + "\n".join(lines[2:]) + "\n[equilibria.strategies]\n" + "\n".join(lines[:2]) + "\n"
    spec = _spec(tmp_path, text)
    argv = ["--spec", str(spec), "--json", "--no-progress", "--out", str(tmp_path / "o")]
    code, out, _ = _run([*argv, "--repetitions", "1", "--seed", "5", "--no-check"], capsys)
    assert code == 0
    report = json.loads(out)
    assert (report["repetitions"], report["seed"]) == (1, 5)
    assert report["strategies"] == {
        "upstream_monopolist": ["always_restrain", "always_extract"],
        "downstream_monopolist": ["always_extract"],
    }
    assert report["profiles"]["total"] == 2


def test_spec_set_and_strategy_tables_reach_the_scenario(tmp_path, capsys):
    from stackgame.commands.equilibria import load_spec

    spec = _spec(
        tmp_path,
        TINY + '[equilibria.set]\n"demand.market_size" = 2.0\nregulator = { stance = 0.1 }\n'
        '[equilibria.strategy]\nnobody = "always_extract"\n',
    )
    loaded = load_spec(str(spec))
    assert loaded["set"] == {"demand.market_size": 2.0, "regulator.stance": 0.1}
    assert loaded["strategy"] == {"nobody": "always_extract"}
    code, _, err = _run(
        ["--spec", str(spec), "--no-progress", "--out", str(tmp_path / "o")], capsys
    )
    assert code == 2
    assert "nobody" in err or "regulator" in err or "market_size" in err


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            ("repetitions = 2", "repetitions = 2\nprocesses = 2"),
            "equilibria.processes: unknown key",
        ),
        (
            ("repetitions = 2", 'repetitions = "two"'),
            "equilibria.repetitions: must be an integer >= 1",
        ),
        (("repetitions = 2", "repetitions = 0"), "equilibria.repetitions: must be an integer >= 1"),
        (("seed = 3", "seed = true"), "equilibria.seed: must be an integer"),
        (("rounds = 3", "rounds = 2.5"), "equilibria.rounds: must be an integer"),
        (
            (
                'seats = ["upstream_monopolist", "downstream_monopolist"]',
                'seats = "upstream_monopolist"',
            ),
            "equilibria.seats: must be a non-empty list",
        ),
        (
            ('strategies = ["always_restrain", "always_extract"]', "strategies = 3"),
            "equilibria.strategies: must be a list",
        ),
        (
            ("check_repetitions = 1", "discount_rate = -0.1"),
            "equilibria.discount_rate: must be a finite",
        ),
        (
            ("check_repetitions = 1", "discount_rate = nan"),
            "equilibria.discount_rate: must be a finite",
        ),
        (("check_repetitions = 1", "set = 1"), "equilibria.set: must be a table"),
        (
            ("check_repetitions = 1", "strategy = { upstream_monopolist = 1 }"),
            "equilibria.strategy.upstream_monopolist",
        ),
        (("[equilibria]", "[equilibrium]"), "equilibrium: unknown table"),
        (("seed = 3", "seed = = 3"), "not valid TOML"),
    ],
)
def test_a_bad_spec_is_one_line_naming_file_and_key_exit_2(tmp_path, capsys, change, match):
    old, new = change
    assert old in TINY
    spec = _spec(tmp_path, TINY.replace(old, new))
    code, out, err = _run(["--spec", str(spec), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert out == ""
    line = err.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(spec) in line
    assert match in line
    assert not (tmp_path / "o").exists()


def test_a_strategies_table_must_name_the_seats(tmp_path, capsys):
    text = TINY.replace('strategies = ["always_restrain", "always_extract"]\n', "") + (
        "[equilibria.strategies]\n"
        'upstream_monopolist = ["always_extract"]\namd = ["always_extract"]\n'
    )
    spec = _spec(tmp_path, text)
    code, _, err = _run(["--spec", str(spec), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert f"{spec}: equilibria.strategies.amd: not one of the spec's seats" in err


def test_without_spec_or_seats_it_asks_for_seats(tmp_path, capsys):
    code, _, err = _run(["--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert "--seats" in err
    missing = tmp_path / "missing.toml"
    code, _, err = _run(["--spec", str(missing), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert str(missing) in err
