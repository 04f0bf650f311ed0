"""The empirical game: payoff tables with confidence intervals, solved and checked."""

from __future__ import annotations

import numpy as np
import pytest

from stackgame.equilibria import empirical, solvers
from stackgame.equilibria.empirical import GameSpec
from stackgame.errors import UserError

FAKE = "tests.stackgame.equilibria.test_empirical:fake_simulate"
MARGIN = {"always_restrain": 0, "always_extract": 1, "tit_for_tat": 0}


class FakeResult:
    """What ``simulate`` returns, for a stage game with seeded noise."""

    def __init__(self, pay: dict[str, float], metrics: dict[str, float]) -> None:
        self._pay = pay
        self._metrics = metrics

    def payoffs(self) -> dict[str, float]:
        return self._pay

    def metrics(self) -> dict[str, float]:
        return self._metrics


def fake_simulate(scenario, *, rounds=None, seed=0, strategies=None, overrides=None):
    """The chain-of-monopolists posture game plus noise: up and down choose margins.

    Default play (no strategies) is both restraining. ``overrides["noise"]`` sets the
    noise scale.
    """
    game = empirical.chain_posture_game()
    strategies = strategies or {}
    i = MARGIN[strategies.get("up", "always_restrain")]
    j = MARGIN[strategies.get("down", "always_restrain")]
    rng = np.random.default_rng(seed)
    noise = (overrides or {}).get("noise", 0.5)
    up = float(game[0, i, j] + noise * rng.standard_normal())
    down = float(game[1, i, j] + noise * rng.standard_normal())
    total = up + down
    metrics = {
        "value_share.layer.chips": up / total,
        "value_share.layer.models": down / total,
        "value_share.firm.up": up / total,
        "value_share.firm.down": down / total,
        "operating_margin.layer.chips": 0.1 * (1 + i),
        "final_spend": total,
    }
    return FakeResult({"up": up, "down": down}, metrics)


def spec(**kw) -> GameSpec:
    base = dict(
        scenario="fake",
        seats=("up", "down"),
        strategies=(("always_restrain", "always_extract"),) * 2,
        repetitions=6,
        seed=3,
        simulator=FAKE,
    )
    base.update(kw)
    return GameSpec(**base)


def test_chain_posture_game_matches_the_closed_form_and_is_a_prisoners_dilemma():
    intercept, cost = 16.0, 4.0
    a = intercept - cost
    game = empirical.chain_posture_game(intercept=intercept, cost=cost)
    margins = (a / 4, a / 3)
    for i, j in np.ndindex(2, 2):
        q = a - margins[i] - margins[j]
        assert game[0, i, j] == pytest.approx(margins[i] * q)
        assert game[1, i, j] == pytest.approx(margins[j] * q)
    r, p, t, s = game[0, 0, 0], game[0, 1, 1], game[0, 1, 0], game[0, 0, 1]
    assert t > r > p > s
    assert solvers.pure_equilibria(game) == [(1, 1)]
    assert solvers.alpha_rank(game / np.ptp(game), alpha=10).ranking[0] == (1, 1)
    (eq,) = solvers.mixed_equilibria(game)
    np.testing.assert_allclose(eq[0], [0, 1])


def test_choose_profiles_samples_with_a_seed():
    rng = np.random.default_rng(0)
    full, sampled = empirical.choose_profiles((2, 3), 10, rng)
    assert not sampled and len(full) == 6 and full[0] == (0, 0) and full[-1] == (1, 2)
    a, sa = empirical.choose_profiles((4, 4, 4), 5, np.random.default_rng(1))
    b, _ = empirical.choose_profiles((4, 4, 4), 5, np.random.default_rng(1))
    assert sa and a == b and len(set(a)) == 5


def test_mean_ci_uses_student_t():
    out = empirical.mean_ci([1.0, 2.0, 3.0])
    assert out["mean"] == pytest.approx(2.0)
    assert out["se"] == pytest.approx(1 / np.sqrt(3))
    # t(0.975, 2 df) = 4.302653
    assert out["ci"][1] - 2.0 == pytest.approx(4.302653 / np.sqrt(3), rel=1e-5)


def test_table_has_means_and_intervals_and_common_random_numbers():
    table = empirical.build_table(spec(), progress=False)
    assert table.samples.shape == (2, 2, 2, 6)
    truth = empirical.chain_posture_game()
    low, high = table.ci()
    # Noise 0.5 over 6 repetitions: the true payoff lies in the interval.
    assert np.all(low <= truth + 1e-9) and np.all(truth <= high + 1e-9)
    assert np.all(table.se > 0)
    # Repetition r uses the same seed in every profile: noise draws are shared.
    noise = table.samples - truth[..., None]
    np.testing.assert_allclose(noise[0, 0, 0], noise[0, 1, 1])
    assert table.regret()[1, 1] == 0.0


def test_analysis_finds_extract_extract_checks_it_and_reports_value_capture(tmp_path):
    report = empirical.analyse(spec(), progress=False, store_dir=tmp_path / "runs")
    assert report["profiles"] == {"total": 4, "simulated": 4, "sampled": False}
    eqs = report["equilibria"]
    assert [e["kind"] for e in eqs] == ["pure"]
    assert eqs[0]["profile"] == {"up": "always_extract", "down": "always_extract"}
    check = eqs[0]["check"]
    assert check["repetitions"] == 6 and len(check["deviations"]) == 2
    for dev in check["deviations"]:
        # Deviating to restrain loses about P - S = 1 (16 vs 15).
        assert dev["strategy"] == "always_restrain"
        assert dev["gain"] < 0 and dev["ci"][0] <= dev["gain"] <= dev["ci"][1]
    assert check["epsilon"] == 0.0
    outcome = eqs[0]["outcome"]
    assert outcome["value_share.layer.chips"]["mean"] == pytest.approx(0.5, abs=0.05)
    assert outcome["operating_margin.layer.chips"]["mean"] == pytest.approx(0.2)
    assert report["default_play"]["outcome"]["operating_margin.layer.chips"]["mean"] == (
        pytest.approx(0.1)
    )
    ranking = report["alpha_rank"]["ranking"]
    assert ranking[0]["profile"] == {"up": "always_extract", "down": "always_extract"}
    assert ranking[0]["mass"] > 0.9
    assert report["replicator"]["up"]["always_extract"] > 0.9
    # The deviation check draws its seeds from a stream the estimation does not use.
    est, chk, _ = empirical.streams(3)
    est_seeds = {int(c.generate_state(1, dtype=np.uint32)[0]) for c in est.spawn(6)}
    chk_seeds = {int(c.generate_state(1, dtype=np.uint32)[0]) for c in chk.spawn(6)}
    assert not est_seeds & chk_seeds


def test_analysis_is_reproducible_and_resumes_from_its_store(tmp_path):
    a = empirical.analyse(spec(), progress=False, store_dir=tmp_path / "runs")
    b = empirical.analyse(spec(), progress=False, store_dir=tmp_path / "runs")
    c = empirical.analyse(spec(), progress=False)
    assert a == b == c


def test_mixed_equilibrium_of_a_noisy_matching_game_is_checked():
    # A game with only a mixed equilibrium: up wants to match down, down to mismatch.
    report = empirical.analyse(
        spec(simulator="tests.stackgame.equilibria.test_empirical:pennies_simulate", repetitions=4),
        progress=False,
    )
    kinds = [e["kind"] for e in report["equilibria"]]
    assert kinds == ["mixed"]
    eq = report["equilibria"][0]
    assert eq["strategies"]["up"]["always_restrain"] == pytest.approx(0.5, abs=1e-9)
    # Without noise the re-estimated game equals the estimated one: epsilon 0.
    assert eq["check"]["epsilon"] == pytest.approx(0.0, abs=1e-9)
    masses = [r["mass"] for r in report["alpha_rank"]["ranking"]]
    np.testing.assert_allclose(masses, 0.25, atol=1e-9)


def pennies_simulate(scenario, *, rounds=None, seed=0, strategies=None, overrides=None):
    strategies = strategies or {}
    i = MARGIN[strategies.get("up", "always_restrain")]
    j = MARGIN[strategies.get("down", "always_restrain")]
    up = 1.0 if i == j else -1.0
    return FakeResult({"up": up, "down": -up}, {"value_share.firm.up": 0.5})


def test_sampled_game_reports_candidates_only_and_checks_every_deviation():
    three = ("always_restrain", "always_extract", "tit_for_tat")
    s = spec(strategies=(three, three), max_profiles=5, repetitions=3)
    table = empirical.build_table(s, progress=False)
    assert table.sampled and len(table.simulated) == 5
    assert np.isnan(table.mean).any()
    report = empirical.analyse(s, progress=False)
    assert report["profiles"]["sampled"] and "alpha_rank" not in report
    for eq in report["equilibria"]:
        assert eq["kind"] == "pure"
        # Every unilateral deviation (2 per seat) was re-simulated.
        assert len(eq["check"]["deviations"]) == 4


def test_needed_profiles_for_a_pure_and_a_mixed_profile():
    pure = empirical.needed_profiles((2, 3), empirical.one_hot((2, 3), (1, 2)))
    assert pure == [(0, 2), (1, 0), (1, 1), (1, 2)]
    mixed = empirical.needed_profiles((2, 2), [np.array([0.5, 0.5]), np.array([1.0, 0.0])])
    assert mixed == [(0, 0), (0, 1), (1, 0), (1, 1)]


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(seats=("up", "nope")), "unknown firm 'nope'"),
        (dict(seats=("up", "up")), "appears twice"),
        (dict(strategies=(("always_restrain",), ("no_such_strategy",))), "unknown strategy"),
        (dict(strategies=(("always_restrain",),)), "one list per seat"),
        (dict(repetitions=0), "--repetitions"),
        (dict(strategies=((), ("always_extract",))), "has no strategy"),
    ],
)
def test_bad_specs_are_user_errors(kw, match):
    with pytest.raises(UserError, match=match):
        empirical.validate(spec(**kw), ["up", "down"])


# -- the command --------------------------------------------------------------------------


def run_command(argv):
    import argparse

    from stackgame.commands import equilibria

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    equilibria.register(sub)
    args = parser.parse_args(["equilibria", *argv])
    return args.handler(args)


def test_equilibria_command_writes_files_and_identical_json(tmp_path, capsys):
    argv = ["--seats", "nvidia,tsmc", "--repetitions", "2", "--rounds", "4", "--no-progress"]
    assert run_command([*argv, "--json", "--out", str(tmp_path / "a")]) == 0
    first = capsys.readouterr().out
    assert run_command([*argv, "--json", "--out", str(tmp_path / "b")]) == 0
    second = capsys.readouterr().out
    assert first == second
    import json

    report = json.loads(first)
    assert report["seats"] == ["nvidia", "tsmc"]
    assert report["profiles"]["total"] == 4
    assert report["equilibria"], "a 2x2 game always has an equilibrium"
    for name in ("equilibria.json", "payoffs.csv", "value_capture.csv", "value_capture.png"):
        assert (tmp_path / "a" / name).exists()
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["seed"] == 0
    assert run_command([*argv, "--out", str(tmp_path / "a")]) == 0
    assert "equilibrium 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--seats", "nvidia,nobody"], "unknown firm 'nobody'"),
        (["--seats", "nvidia", "--strategies", "always_restrain,nope"], "unknown strategy"),
        (
            [
                "--seats",
                "nvidia,tsmc",
                "--strategies",
                "a",
                "--strategies",
                "b",
                "--strategies",
                "c",
            ],
            "one per seat",
        ),
        (["--seats", "nvidia,tsmc", "--strategies", "amd=always_restrain"], "not one of --seats"),
        (["--seats", "nvidia", "--repetitions", "0"], "--repetitions"),
        (["--seats", "nvidia", "--processes", "0"], "--processes"),
        (["--seats", "nvidia", "--strategy", "nvidia=always_extract"], "chosen by --strategies"),
        (["--seats", "nvidia", "--set", "regulator.nope=1"], "regulator.nope"),
    ],
)
def test_equilibria_command_bad_input_is_one_clear_error(argv, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        run_command([*argv, "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_parse_strategies_forms():
    from stackgame.commands.equilibria import parse_strategies

    seats = ["a", "b"]
    assert parse_strategies([], seats) == (("always_restrain", "always_extract"),) * 2
    assert parse_strategies(["x,y"], seats) == (("x", "y"), ("x", "y"))
    assert parse_strategies(["x", "y,z"], seats) == (("x",), ("y", "z"))
    assert parse_strategies(["b=y", "a=x,z"], seats) == (("x", "z"), ("y",))
    with pytest.raises(UserError, match="no list for seat"):
        parse_strategies(["a=x"], seats)
    with pytest.raises(UserError, match="every seat or for none"):
        parse_strategies(["a=x", "y"], seats)


def test_monopoly_chain_through_the_model_has_extract_extract_as_only_equilibrium():
    """The textbook scenario, simulated: the posture game's only equilibrium is extraction.

    Closed forms in environment/scenarios/monopoly-chain.toml: 64/9 each at (restrain,
    restrain) and (extract, extract); 32/3 for an extractor facing a restrainer, 16/3 for
    the restrainer.
    """
    from stackgame.environment.scenario import builtin_names

    if "monopoly-chain" not in builtin_names():
        pytest.skip("monopoly-chain scenario not shipped")
    seats = ("upstream_monopolist", "downstream_monopolist")
    s = GameSpec(
        scenario="monopoly-chain",
        seats=seats,
        strategies=(("always_restrain", "always_extract"),) * 2,
        repetitions=2,
        rounds=3,
        seed=0,
    )
    report = empirical.analyse(s, progress=False)
    table = {
        tuple(e["profile"][seat] for seat in seats): e["payoff"][seats[0]]["mean"]
        for e in report["payoffs"]
    }
    assert table[("always_restrain", "always_restrain")] == pytest.approx(64 / 9, rel=1e-3)
    assert table[("always_extract", "always_restrain")] == pytest.approx(32 / 3, rel=1e-3)
    assert table[("always_restrain", "always_extract")] == pytest.approx(16 / 3, rel=1e-3)
    (eq,) = report["equilibria"]
    assert eq["kind"] == "pure"
    assert eq["profile"] == {seat: "always_extract" for seat in seats}
    assert eq["check"]["epsilon"] == 0.0
    assert all(d["gain"] < 0 for d in eq["check"]["deviations"])
    top = report["alpha_rank"]["ranking"][0]
    assert top["profile"] == {seat: "always_extract" for seat in seats} and top["mass"] > 0.9


def public_goods_simulate(scenario, *, rounds=None, seed=0, strategies=None, overrides=None):
    """Three seats in a linear public-goods game: restraining is contributing 1."""
    strategies = strategies or {}
    seats = ("a", "b", "c")
    give = {s: MARGIN[strategies.get(s, "always_restrain")] == 0 for s in seats}
    pot = 1.5 * sum(give.values()) / 3
    pay = {s: pot - (1.0 if give[s] else 0.0) for s in seats}
    return FakeResult(pay, {f"value_share.firm.{s}": 1 / 3 for s in seats})


def test_three_seat_game_only_equilibrium_is_no_one_restraining():
    import importlib.util

    s = spec(
        seats=("a", "b", "c"),
        strategies=(("always_restrain", "always_extract"),) * 3,
        simulator="tests.stackgame.equilibria.test_empirical:public_goods_simulate",
        repetitions=2,
    )
    report = empirical.analyse(s, progress=False)
    assert report["profiles"]["total"] == 8
    pure = [e for e in report["equilibria"] if e["kind"] == "pure"]
    assert [e["profile"] for e in pure] == [
        {"a": "always_extract", "b": "always_extract", "c": "always_extract"}
    ]
    assert len(pure[0]["check"]["deviations"]) == 3
    for dev in pure[0]["check"]["deviations"]:
        assert dev["gain"] == pytest.approx(-0.5)
    assert report["alpha_rank"]["ranking"][0]["profile"] == pure[0]["profile"]
    if importlib.util.find_spec("pygambit") is None:
        assert "pip install pygambit" in report["gambit"]


def test_one_repetition_gives_null_intervals_not_invalid_json(tmp_path, capsys):
    argv = ["--seats", "nvidia", "--repetitions", "1", "--rounds", "3", "--no-progress"]
    assert run_command([*argv, "--json", "--no-check", "--out", str(tmp_path)]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    first = report["payoffs"][0]["payoff"]["nvidia"]
    assert first["se"] is None and first["ci"] == [None, None]
    assert isinstance(first["mean"], float)


def test_tolerance_reports_epsilon_equilibria_with_their_regret():
    # Regrets of the chain game: (R,R) 2, (R,E) and (E,R) 1, (E,E) 0.
    report = empirical.analyse(spec(repetitions=3), progress=False, tolerance=1.5, check=False)
    pure = [e for e in report["equilibria"] if e["kind"] == "pure"]
    assert len(pure) == 3
    assert sorted(round(e["regret"]) for e in pure) == [0, 1, 1]
    with pytest.raises(UserError, match="--tolerance"):
        empirical.analyse(spec(), progress=False, tolerance=-1)
