"""Writing a run's files: plots drawn in a forked child beside the tables, same files."""

from __future__ import annotations

import pytest

from stackgame.simulation import report
from stackgame.simulation.simulate import simulate

FILES = ["firms.csv", "firms.parquet", "layers.csv", "layers.parquet", "log.csv", "summary.json",
         "money_flows.csv", "money_flows.parquet"]  # fmt: skip
PLOTS = ["margins_by_layer.png", "stack_network.png", "value_share_by_layer.png",
         "money_flows_by_kind.png"]  # fmt: skip


@pytest.fixture(scope="module")
def result():
    return simulate("ai-stack-2026", rounds=6, seed=2)


def test_write_files_writes_the_tables_and_the_plots(result, tmp_path):
    paths = report.write_files(result, tmp_path / "both")
    assert sorted(p.name for p in paths) == sorted(FILES + PLOTS)
    assert all(p.stat().st_size > 0 for p in paths)
    alone = report.write_tables(result, tmp_path / "alone")
    for p in alone:  # the tables are the same bytes as written without a child
        assert (tmp_path / "both" / p.name).read_bytes() == p.read_bytes()
    only = report.write_files(result, tmp_path / "only", plots=False)
    assert sorted(p.name for p in only) == sorted(FILES)


def test_a_failure_in_the_plotting_child_is_raised_here(result, tmp_path, monkeypatch):
    def broken(result, folder):
        raise ValueError("no ink")

    monkeypatch.setattr(report, "write_plots", broken)
    with pytest.raises(RuntimeError, match="ValueError: no ink"):
        report.write_files(result, tmp_path / "x")
    assert (tmp_path / "x" / "summary.json").exists()  # the tables were written


def test_tables_are_built_column_by_column_like_the_rows(result):
    import pandas as pd

    frame = result.per_firm_round()
    rows = []
    for t in range(result.firms["value"].shape[0]):
        for i, name in enumerate(result.firm_names):
            rows.append({"round": t, "firm": name, "revenue": result.firms["revenue"][t, i],
                         "operating_profit": result.firms["profit"][t, i],
                         "value": result.firms["value"][t, i], "cash": result.firms["cash"][t, i],
                         "posture": int(result.firms["posture"][t, i]),
                         "markup": result.firms["markup"][t, i],
                         "capex": result.firms["capex"][t, i],
                         "capacity": result.firms["capacity"][t, i],
                         "utilisation": result.firms["used"][t, i] / result.firms["capacity"][t, i]
                         if result.firms["capacity"][t, i] > 1e-12 else 0.0,
                         "debt": result.firms["debt"][t, i]})  # fmt: skip
    pd.testing.assert_frame_equal(frame, pd.DataFrame(rows))
    layers = result.per_round()
    assert list(layers.columns[:3]) == ["round", "layer", "value_share"]
    assert layers["round"].dtype == "int64" and len(layers) == 6 * len(result.layer_names)


def test_write_csv_is_pandas_to_csv_byte_for_byte(result, tmp_path):
    """The run's tables, and floats at every format numpy and Python might differ on."""
    import numpy as np
    import pandas as pd

    edge = [0.0, -0.0, 0.1, 1 / 3, 1e-5, 1e-4, 123456.789, 1e15, 1e16, 1.5e16, 2.0**60, -1e300,
            5e-324, np.inf, -np.inf, 0.30000000000000004, 7.0, -2.5e-17]  # fmt: skip
    rng = np.random.default_rng(3)
    noisy = np.concatenate([edge, rng.lognormal(0, 12, 300) * rng.choice([-1, 1], 300)])
    frames = {
        "layers": result.per_round(),
        "firms": result.per_firm_round(),
        "money_flows": report.money_flows_frame(result.summary),
        "edge": pd.DataFrame(
            {
                "x": noisy,
                "n": np.arange(noisy.size, dtype=np.int64),
                "s": pd.array(["a,b", 'q"t', "plain"] * 106, dtype="string"),
                "o": ["x y"] * noisy.size,
            }
        ),  # fmt: skip
        # no field to quote: the fields joined without the csv writer
        "unquoted": pd.DataFrame(
            {"x": noisy, "n": np.arange(noisy.size, dtype=np.int64), "o": ["x y", "é"] * 159}
        ),
        # repeated values (a steady state's rounds), 0.0 beside -0.0: formatted once each
        "repeated": pd.DataFrame(
            {"x": np.tile(edge, 7), "n": np.tile([3, -1, 0], 42), "u": np.full(126, 2**63 + 5)}
        ),
        "blank": pd.DataFrame({"s": ["", "a"], "x": [1.0, 2.0]}),
        "one": pd.DataFrame({"x": [1.0, 2.5]}),
        "mixed": pd.DataFrame({"o": ["a", 1], "x": [1.0, 2.0]}),
        "missing": pd.DataFrame({"x": [1.0, np.nan], "s": ["a", None]}),  # pandas: '' for NaN
        "flags": pd.DataFrame({"b": [True, False], "x": [1.5, 2.0]}),
        "empty": pd.DataFrame([]),
    }
    for name, frame in frames.items():
        report.write_csv(frame, tmp_path / f"{name}.csv")
        frame.to_csv(tmp_path / f"{name}.pandas.csv", index=False)
        got = (tmp_path / f"{name}.csv").read_bytes()
        assert got == (tmp_path / f"{name}.pandas.csv").read_bytes(), name
