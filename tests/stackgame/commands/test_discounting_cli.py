"""Scoring by discounted payoff through the CLI (docs/MODEL.md 21): a patient firm restrains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackgame.cli import main

SEAT = "upstream_monopolist"


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _equilibria(rate: list[str], tmp: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    argv = ["equilibria", "--scenario", "patient-monopolist", "--seats", SEAT]
    argv += ["--repetitions", "1", "--no-check", "--no-progress", "--json", "--out", str(tmp)]
    return _json(argv + rate, capsys)


def test_equilibria_restrain_when_patient_extract_when_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # docs/MODEL.md 21.3: v(restrain) = 10; v(extract) = 8.896 at the scenario's 0.024,
    # 15.002 at 0.5 (V = 30 + 7.5 (A - 1) over A = sum_{t<20} (2/3)^t)
    patient = _equilibria([], tmp_path / "a", capsys)
    assert patient["scoring"]["discount_rate"] == 0.024
    assert patient["scoring"]["discount_rate_source"] == "scenario"
    assert [e["profile"][SEAT] for e in patient["equilibria"]] == ["always_restrain"]
    table = {e["profile"][SEAT]: e for e in patient["payoffs"]}
    assert table["always_extract"]["payoff"][SEAT]["mean"] == pytest.approx(8.8962, abs=1e-4)
    assert table["always_extract"]["mean_payoff"][SEAT] == pytest.approx(8.625)
    assert table["always_restrain"]["present_value"][SEAT] == pytest.approx(
        10 * (1 - (1 / 1.024) ** 20) / (1 - 1 / 1.024)
    )
    impatient = _equilibria(["--discount-rate", "0.5"], tmp_path / "b", capsys)
    assert impatient["scoring"]["discount_rate_source"] == "given"
    assert [e["profile"][SEAT] for e in impatient["equilibria"]] == ["always_extract"]
    a = sum((2 / 3) ** t for t in range(20))
    table = {e["profile"][SEAT]: e for e in impatient["payoffs"]}
    assert table["always_extract"]["payoff"][SEAT]["mean"] == pytest.approx(
        (30 + 7.5 * (a - 1)) / a
    )


def test_tournament_ranks_restraint_first_only_for_a_patient_firm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["tournament", "--scenario", "patient-monopolist", "--seats", SEAT, "--strategies"]
    argv += ["always_restrain,always_extract", "--repetitions", "1", "--no-plots"]
    argv += ["--no-progress", "--json"]
    first = {}
    for rate in ("0", "0.5"):
        out = _json([*argv, "--out", str(tmp_path / rate), "--discount-rate", rate], capsys)
        first[rate] = out["ranking"][0]["strategy"]
        assert out["scoring"]["discount_rate"] == float(rate)
        row = next(r for r in out["per_seat"] if r["strategy"] == "always_extract")
        assert row["mean_payoff"] == pytest.approx(8.625)
        delta = 1 / (1 + float(rate))  # V = 30 + 7.5 sum_{t=1}^{19} delta^t (172.5 at r = 0)
        pv = 30 + 7.5 * sum(delta**t for t in range(1, 20))
        assert row["present_value"] == pytest.approx(pv)
    assert first == {"0": "always_restrain", "0.5": "always_extract"}


@pytest.mark.parametrize(
    "argv",
    [
        ["equilibria", "--seats", "nvidia", "--discount-rate", "-0.1"],
        ["equilibria", "--seats", "nvidia", "--discount-rate", "nan"],
        ["tournament", "--strategies", "tit_for_tat,defector", "--discount-rate", "0.1"],
        ["theses", "--discount-rate", "x"],
    ],
)
def test_a_bad_discount_rate_is_one_line_and_exit_2(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        code = main([*argv, "--out", str(tmp_path / "out")])
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "discount" in err and "Traceback" not in err
