"""Target tables (``docs/MODEL.md`` 19): the schema, the windows, each kind's number.

The hand-checked case is the contracts' textbook chain: linear demand ``P = 10 - Q``, a
maker (unit cost 1, markup 0.5: price 1.5) selling to a buyer (unit cost 1, markup 0:
price 2.5), ``Q = 7.5`` units a round. Per round the maker's revenue is
``7.5 x 1.5 = 11.25``, its gross and operating profit ``11.25 - 7.5 = 3.75`` (no capital,
no fixed cost), its margin ``1/3``, its utilisation ``7.5 / 100``; the buyer pays all of
it. Capex comes from the buildout's textbook stack: an investor ordering 3 units of
capacity a round, 2 chips a unit at 1.1, pays ``6.6`` a round.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from stackgame.environment import targets
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import ScenarioError, from_dict, load, resolve
from stackgame.environment.summary import summarize

from tests.environment.test_buildout import _model as buildout_model
from tests.environment.test_contracts import chain

Q = 7.5


def _target(**changes: Any) -> dict[str, Any]:
    base = {
        "name": "t",
        "figure": "a figure",
        "kind": "revenue",
        "firm": "maker",
        "layer": "up",
        "value": 11.25,
        "unit": "$B/quarter",
        "period": "2025",
        "low": 10.0,
        "high": 12.0,
        "source": "a report (1 Jan 2026)",
        "window": "all",
    }
    base.update(changes)
    return base


def _write(folder: Path, entries: list[dict[str, Any]], **table: Any) -> Path:
    path = folder / "targets.toml"
    entries = [{k: v for k, v in e.items() if v is not None} for e in entries]
    raw = {"name": "test", "targets": entries, **table}
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path


def _run(tmp_path: Path, entries: list[dict[str, Any]], **scenario: Any) -> StackModel:
    path = _write(tmp_path, entries)
    raw = chain(**{"targets": str(path), "start_quarter": "2025Q1", **scenario})
    return StackModel(from_dict(raw, "chain"), 0).run()


def _measured(model: StackModel, entry: dict[str, Any]) -> float | None:
    return targets.measure(targets.TargetSpec.model_validate(entry), model)


# -- schema --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"colour": "red"}, "targets.t.colour: unknown field"),
        ({"value": "x"}, "targets.t.value: Input should be a valid number"),
        ({"value": 20.0}, "targets.t: value: 20 is outside its range [10, 12]"),
        ({"unit": "fraction"}, "targets.t: unit: revenue is money"),
        ({"kind": "gross_margin"}, "targets.t: unit: gross_margin is a fraction"),
        ({"window": "2025Q5"}, "targets.t.window: '2025Q5' is not a quarter"),
        ({"window": "2026Q1-2025Q4"}, "the span ends before it starts"),
        (
            {"kind": "customer_share", "unit": "fraction", "value": 1.0, "low": 0, "high": 1},
            "customers: customer_share needs a firm, its layer and customers",
        ),
        ({"firm": None, "layer": None}, "firm: a target needs a firm, a layer or both"),
    ],  # fmt: skip
)
def test_a_bad_target_is_one_line_naming_the_file_and_the_field(
    tmp_path: Path, change: dict[str, Any], fragment: str
) -> None:
    entry = {k: v for k, v in _target(**change).items() if v is not None}
    path = _write(tmp_path, [entry])
    with pytest.raises(targets.TargetError) as err:
        targets.load_table(path)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert fragment in text


def test_a_missing_field_and_a_duplicate_name(tmp_path: Path) -> None:
    entry = _target()
    del entry["source"]
    with pytest.raises(targets.TargetError, match=r"targets\.t\.source: required field"):
        targets.load_table(_write(tmp_path, [entry]))
    with pytest.raises(targets.TargetError, match="the name 't' appears twice"):
        targets.load_table(_write(tmp_path, [_target(), _target()]))
    with pytest.raises(targets.TargetError, match="no such target file"):
        targets.load_table(tmp_path / "nowhere.toml")


@pytest.mark.parametrize(
    ("change", "scenario", "fragment"),
    [
        ({"firm": "nobody"}, {}, "targets.t.firm: unknown firm 'nobody'"),
        ({"layer": "down"}, {}, "targets.t.layer: maker does not operate in down"),
        ({"window": "2024Q4"}, {}, "begins before the run's first quarter, 2025Q1"),
        ({"window": "2025Q2"}, {"start_quarter": None}, "the scenario has no start_quarter"),
    ],
)
def test_a_target_is_checked_against_its_scenario(
    tmp_path: Path, change: dict[str, Any], scenario: dict[str, Any], fragment: str
) -> None:
    path = _write(tmp_path, [_target(**change)])
    raw = chain(targets=str(path), start_quarter="2025Q1")
    raw.update(scenario)
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ScenarioError) as err:
        from_dict(raw, "chain")
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_parameters_name_numeric_scenario_fields(tmp_path: Path) -> None:
    good = {"path": "demand.intercept", "low": 5.0, "high": 20.0}
    path = _write(tmp_path, [_target()], parameters=[good])
    from_dict(chain(targets=str(path)), "chain")  # fine
    path = _write(tmp_path, [_target()], parameters=[{**good, "path": "demand.nope"}])
    with pytest.raises(ScenarioError, match=r"parameters\.demand\.nope: .*no field 'nope'"):
        from_dict(chain(targets=str(path)), "chain")
    path = _write(tmp_path, [_target()], parameters=[{**good, "low": 30.0}])
    with pytest.raises(targets.TargetError, match="high: 20 is not above low 30"):
        targets.load_table(path)


def test_a_relative_target_path_is_read_beside_the_scenario_file(tmp_path: Path) -> None:
    folder = tmp_path / "sc"
    folder.mkdir()
    _write(folder, [_target()])
    scenario_file = folder / "chain.toml"
    raw = chain(targets="targets.toml", start_quarter="2025Q1")
    scenario_file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    scenario = load(scenario_file)
    assert scenario.origin == folder.resolve()
    table = targets.resolve(scenario)
    assert table is not None and [t.name for t in table.targets] == ["t"]


def test_the_built_in_table_loads_and_leaves_the_scenario_hash_alone() -> None:
    scenario = resolve("ai-stack-2026")
    table = targets.resolve(scenario)
    assert table is not None and len(table.targets) >= 20
    assert {t.kind for t in table.targets} == set(targets.KINDS)
    assert all(t.source for t in table.targets) and table.parameters
    bare = from_dict(
        {**scenario.model_dump(mode="python"), "targets": None, "start_quarter": None}, "bare"
    )
    assert bare.digest() == scenario.digest()


def test_bad_start_quarter_is_named() -> None:
    with pytest.raises(ScenarioError, match="start_quarter: .*'2025-01' is not a quarter"):
        from_dict(chain(start_quarter="2025-01"), "chain")


# -- windows -------------------------------------------------------------------------------


def test_windows_find_their_rounds() -> None:
    assert targets.window_rounds("all", None, 4) == [0, 1, 2, 3]
    assert targets.window_rounds("first", None, 4) == [0]
    assert targets.window_rounds("last", None, 4) == [3]
    assert targets.window_rounds("2025Q3", "2025Q1", 4) == [2]
    assert targets.window_rounds("2025", "2025Q1", 4) == [0, 1, 2, 3]
    assert targets.window_rounds("2025Q2-2025Q3", "2025Q1", 4) == [1, 2]
    assert targets.window_rounds("2026Q1", "2025Q1", 4) is None  # after the run
    assert targets.quarter_name(targets.parse_quarter("2030Q4")) == "2030Q4"


# -- each kind, by hand --------------------------------------------------------------------


def test_each_kind_on_the_textbook_chain(tmp_path: Path) -> None:
    frac = {"unit": "fraction", "value": 0.5, "low": 0.0, "high": 1.0}
    entries = {
        "revenue": _target(),
        "run_rate": _target(name="r", unit="$B/year", value=45.0, low=40.0, high=50.0),
        "operating_income": _target(name="o", kind="operating_income", value=3.75, low=3, high=4),
        "net_income": _target(name="n", kind="net_income", layer=None, value=3.75, low=3, high=4),
        "gross_margin": _target(name="g", kind="gross_margin", **frac),
        "operating_margin": _target(name="om", kind="operating_margin", **frac),
        "utilisation": _target(name="u", kind="utilisation", **frac),
        "customer_share": _target(name="c", kind="customer_share", customers=["buyer"], **frac),
        "layer_revenue": _target(name="l", firm=None, layer="down", value=18.75, low=18, high=19),
        "one_quarter": _target(name="q", window="2025Q2"),
        "after_the_run": _target(name="a", window="2026Q1"),
    }
    model = _run(tmp_path, list(entries.values()))
    got = {k: _measured(model, e) for k, e in entries.items()}
    assert got["revenue"] == pytest.approx(Q * 1.5)
    assert got["run_rate"] == pytest.approx(4 * Q * 1.5)
    assert got["operating_income"] == pytest.approx(Q * 0.5)
    assert got["net_income"] == pytest.approx(Q * 0.5)
    assert got["gross_margin"] == pytest.approx(1 / 3)
    assert got["operating_margin"] == pytest.approx(1 / 3)
    assert got["utilisation"] == pytest.approx(Q / 100)
    assert got["customer_share"] == pytest.approx(1.0)
    assert got["layer_revenue"] == pytest.approx(Q * 2.5)
    assert got["one_quarter"] == pytest.approx(Q * 1.5)
    assert got["after_the_run"] is None  # the chain runs 4 rounds: 2025Q1-2025Q4


def test_capex_is_what_the_buyer_pays_for_capital_goods_a_round(tmp_path: Path) -> None:
    model = buildout_model(3.0).run()
    entry = _target(kind="capex", firm="cloudco", layer="cloud", value=6.6, low=6, high=7)
    assert _measured(model, entry) == pytest.approx(2.0 * 3.0 * 1.1)
    assert _measured(model, {**entry, "firm": "fab", "layer": "chips"}) == 0.0


def test_the_summary_rows_carry_every_key_and_the_range(tmp_path: Path) -> None:
    model = _run(tmp_path, [_target(), _target(name="off", value=20.0, low=19.0, high=21.0)])
    rows = summarize(model)["calibration"]
    keys = {"figure", "source", "kind", "target", "model", "low", "high", "inside"}
    keys |= {"firm", "layer", "metric", "window", "residual", "unit", "period", "estimate"}
    assert all(keys <= set(r) for r in rows)
    assert [r["inside"] for r in rows] == [True, False]
    assert rows[1]["residual"] == pytest.approx(Q * 1.5 - 20.0)
    summary = summarize(model)
    assert summary["calendar"] == {
        "first_round": "2025Q1",
        "last_round": "2025Q4",
        "targets_until": None,
        "projected_from": None,
    }


def test_calibration_entries_get_a_range_from_their_tolerance() -> None:
    raw = copy.deepcopy(chain())
    raw["calibration"] = [
        {"figure": "f", "source": "001", "firm": "maker", "layer": "up",
         "metric": "gross_margin", "target": 0.3, "tolerance": 0.05},
        {"figure": "g", "source": "001", "firm": "maker", "layer": "up",
         "metric": "gross_margin", "target": 0.5},
    ]  # fmt: skip
    rows = summarize(StackModel(from_dict(raw, "chain"), 0).run())["calibration"]
    assert [(r["low"], r["high"], r["inside"]) for r in rows] == [
        (pytest.approx(0.25), pytest.approx(0.35), True),
        (pytest.approx(0.45), pytest.approx(0.55), False),
    ]


def test_close_is_inside_or_within_five_points_or_a_quarter() -> None:
    from stackgame.environment.targets import close

    # a margin: 60% figure, range [55, 66]: 70% is outside it and 10 points off
    assert close(0.70, 0.60, 0.55, 0.66, "fraction") is False
    assert close(0.645, 0.60, 0.50, 0.64, "fraction") is True  # 4.5 points off
    assert close(0.63, 0.60, 0.55, 0.66, "fraction") is True  # inside
    # money: $4B figure, narrow range [3.9, 4.1]: $4.9B is 22.5% off, $5.1B is 27.5% off
    assert close(4.9, 4.0, 3.9, 4.1, "$B/quarter") is True
    assert close(5.1, 4.0, 3.9, 4.1, "$B/quarter") is False
    # a loss: -$5.2B, within 25% of its size either way
    assert close(-6.4, -5.2, -5.5, -5.0, "$B/quarter") is True
    assert close(None, 1.0, 0.0, 2.0, "fraction") is None


def test_a_margin_counts_the_sales_to_the_firms_own_operations() -> None:
    # Google's cloud mostly serves Google's own labs at cost: its margin is its operating
    # profit over all it sold, those internal sales included (over external revenue alone
    # it came to 130-160%)
    model = StackModel(resolve("ai-stack-2026"), 0).run()
    h = model.history
    entry = _target(
        kind="operating_margin", firm="google", layer="cloud", unit="fraction",
        value=0.3, low=0.2, high=0.35, window="2025",
    )  # fmt: skip
    rounds = range(4)
    st = model.scenario
    g, c = st.firm_names.index("google"), st.layer_names.index("cloud")

    def total(column: str) -> float:
        return sum(
            float(h.op_rows[t][column][(h.op_firm[t] == g) & (h.op_layer[t] == c)].sum())
            for t in rounds
        )

    internal = total("internal_revenue")
    assert internal > 0.1 * total("revenue")  # it does serve its own firm
    assert _measured(model, entry) == pytest.approx(total("operating_profit") / total("revenue"))
    model.release()


def test_survival_is_one_while_the_firms_of_the_record_are_in_business() -> None:
    """The financing test's failing run: ``fab2`` fails in round 0, its rival ``fab`` lives.

    Survival of ``fab2`` is 0 (whatever the window's end), of ``fab`` 1; the chips layer's
    is 0 (``fab2`` owned a chips operation in round 0), the cloud layer's 1.
    """
    from tests.environment.test_finance import _failing_run

    model = StackModel(from_dict(_failing_run(rounds=3), "tiny"), 0).run()
    frac = {"kind": "survival", "unit": "fraction", "value": 1.0, "low": 1.0, "high": 1.0}
    dead = _target(firm="fab2", layer=None, **frac)
    assert _measured(model, dead) == 0.0
    assert _measured(model, {**dead, "window": "first"}) == 0.0  # failed in round 0
    assert _measured(model, {**dead, "firm": "fab"}) == 1.0
    assert _measured(model, {**dead, "firm": None, "layer": "chips"}) == 0.0
    assert _measured(model, {**dead, "firm": None, "layer": "cloud"}) == 1.0
    model.release()
