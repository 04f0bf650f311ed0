"""Batch specs: parsing, one clear error per bad field, designs, stable run ids and seeds."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from stackgame.errors import UserError
from stackgame.experiments.batch import SpecError, load_spec, parse_spec

GOOD = """
[batch]
name = "t"
scenario = "ai-stack-2026"
rounds = 3
seed = 7
replicates = 2

[parameters]
"regulator.stance" = [0.0, 0.5, 1.0]
"firms.nvidia.strategy" = ["always_restrain", "always_extract"]
"""


def write(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_factorial_enumeration_is_stable(tmp_path):
    path = write(tmp_path, GOOD)
    spec = load_spec(path)
    assert spec.runs_total == 12
    tasks = list(spec.tasks())
    again = list(load_spec(path).tasks())
    assert tasks == again
    ids = [t.run_id for t in tasks]
    assert ids == sorted(ids) and len(set(ids)) == 12
    assert ids[0].startswith("00000-000-") and ids[-1].startswith("00005-001-")
    assert len({t.seed for t in tasks}) == 12
    assert tasks[0].params == {
        "design_point": 0,
        "replicate": 0,
        "regulator.stance": 0.0,
        "firms.nvidia.strategy": "always_restrain",
    }
    # the parameters vary in spec order, the last fastest
    assert [t.params["firms.nvidia.strategy"] for t in tasks[:4:2]] == [
        "always_restrain",
        "always_extract",
    ]


def test_seeds_follow_seedsequence_spawn_by_run_index(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    children = np.random.SeedSequence(7).spawn(12)
    want = [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]
    assert [t.seed for t in spec.tasks()] == want


def test_common_random_numbers_share_seeds_across_points(tmp_path):
    text = GOOD.replace("replicates = 2", "replicates = 2\ncommon_random_numbers = true")
    tasks = list(load_spec(write(tmp_path, text)).tasks())
    by_rep = {r: {t.seed for t in tasks if t.params["replicate"] == r} for r in (0, 1)}
    assert len(by_rep[0]) == 1 and len(by_rep[1]) == 1 and by_rep[0] != by_rep[1]


def test_a_changed_spec_or_seed_changes_the_run_ids(tmp_path):
    base = [t.run_id for t in load_spec(write(tmp_path, GOOD)).tasks()]
    other = [
        t.run_id
        for t in load_spec(write(tmp_path, GOOD.replace("rounds = 3", "rounds = 4"))).tasks()
    ]
    reseeded = [t.run_id for t in load_spec(write(tmp_path, GOOD), seed=8).tasks()]
    assert not set(base) & set(other) and not set(base) & set(reseeded)
    # comments and layout do not matter
    commented = [t.run_id for t in load_spec(write(tmp_path, "# hello\n" + GOOD)).tasks()]
    assert commented == base


def test_nested_tables_equal_dotted_keys(tmp_path):
    nested = GOOD.replace(
        '"regulator.stance" = [0.0, 0.5, 1.0]', "regulator.stance = [0.0, 0.5, 1.0]"
    )
    a, b = load_spec(write(tmp_path, GOOD)), load_spec(write(tmp_path, nested, "b.toml"))
    assert a.parameter_names == b.parameter_names
    assert [t.params for t in a.tasks()] == [t.params for t in b.tasks()]


def test_factorial_range_with_levels(tmp_path):
    spec = load_spec(
        write(
            tmp_path,
            """
            [batch]
            [parameters]
            "demand.growth" = {min = 0.0, max = 0.04, levels = 5}
            "events.nvidia_value_pricing.round" = {min = 4, max = 8, levels = 3, integer = true}
            """,
        )
    )
    points = spec.points()
    assert len(points) == 15
    assert sorted({p["demand.growth"] for p in points}) == pytest.approx(
        [0, 0.01, 0.02, 0.03, 0.04]
    )
    assert sorted({p["events.nvidia_value_pricing.round"] for p in points}) == [4, 6, 8]


@pytest.mark.parametrize(
    ("design", "samples", "n_points"),
    [("lhs", 10, 10), ("sobol", 8, 8 * (3 + 2)), ("morris", 4, 4 * (3 + 1))],
)
def test_sampled_designs(tmp_path, design, samples, n_points):
    spec = load_spec(
        write(
            tmp_path,
            f"""
            [batch]
            design = "{design}"
            samples = {samples}
            [parameters]
            "regulator.stance" = {{min = 0.2, max = 0.8}}
            "demand.growth" = {{min = -0.01, max = 0.03}}
            "firms.nvidia.strategy" = ["always_restrain", "always_extract"]
            """,
        )
    )
    points = spec.points()
    assert len(points) == n_points == spec.runs_total
    stance = [p["regulator.stance"] for p in points]
    assert 0.2 <= min(stance) and max(stance) <= 0.8
    assert {p["firms.nvidia.strategy"] for p in points} == {"always_restrain", "always_extract"}
    assert spec.points() == points  # seeded from the root seed


BAD = [
    ("[batch\n", "malformed TOML"),
    ("[batch]\n[params]\nx = [1]\n", "params: unknown table"),
    (
        "[batch]\nreplicate = 2\n[parameters]\n'regulator.stance' = [0.1]\n",
        "batch.replicate: unknown field",
    ),
    (
        "[batch]\nreplicates = 0\n[parameters]\n'regulator.stance' = [0.1]\n",
        "batch.replicates: must be at least 1",
    ),
    (
        "[batch]\nrounds = 'ten'\n[parameters]\n'regulator.stance' = [0.1]\n",
        "batch.rounds: must be an integer",
    ),
    ("[batch]\n[parameters]\n'regulator.stanse' = [0.1]\n", 'parameters."regulator.stanse"'),
    (
        "[batch]\n[parameters]\n'firms.nvidia.strategy' = ['always_extrac']\n",
        "unknown strategy 'always_extrac'",
    ),
    ("[batch]\n[parameters]\n'firms.nvdia.strategy' = ['always_extract']\n", "nvdia"),
    (
        "[batch]\n[parameters]\n'regulator.stance' = [0.5, nan]\n",
        'regulator.stance"[1]: must be a finite number',
    ),
    ("[batch]\n[parameters]\n'regulator.stance' = [0.5, 7.0]\n", "regulator.stance"),
    (
        "[batch]\n[parameters]\n'regulator.stance' = {min = 0.0, max = inf, levels = 2}\n",
        "max: must be a finite number",
    ),
    ("[batch]\n[parameters]\n'regulator.stance' = {min = 0.0, max = 1.0}\n", "needs 'levels'"),
    ("[batch]\n[parameters]\n'regulator.stance' = 0.5\n", "give a list of values or a range"),
    ("[batch]\n[parameters]\n", "parameters: vary at least one parameter"),
    (
        "[batch]\ndesign = 'grid'\n[parameters]\n'regulator.stance' = [0.1]\n",
        "batch.design: unknown design 'grid'",
    ),
    (
        "[batch]\ndesign = 'sobol'\nsamples = 10\n"
        "[parameters]\n'regulator.stance' = {min=0.0, max=1.0}\n",
        "power of 2",
    ),
    (
        "[batch]\ndesign = 'lhs'\n[parameters]\n'regulator.stance' = {min=0.0, max=1.0}\n",
        "needs 'samples'",
    ),
    (
        "[batch]\nscenario = 'no-such'\n[parameters]\n'regulator.stance' = [0.1]\n",
        "batch.scenario: unknown scenario",
    ),
    (
        "[batch]\n[fixed]\n'regulator.stance' = 0.2\n[parameters]\n'regulator.stance' = [0.1]\n",
        "also set in [fixed]",
    ),
    (
        "[batch]\n[fixed]\n'regulator.nope' = 0.2\n[parameters]\n'regulator.stance' = [0.1]\n",
        'fixed."regulator.nope"',
    ),
    (
        "[batch]\n[parameters]\n'regulator.stance' = [0.1]\n[report]\nx = 'demand.growth'\n",
        "report.x",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_specs_get_one_clear_message(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    text = str(info.value)
    assert isinstance(info.value, UserError)
    assert text.startswith(f"{path}: ") and message in text
    assert "\n" not in text and "Traceback" not in text


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "nope.toml")


def test_parse_spec_without_a_file():
    spec = parse_spec(
        {"parameters": {"regulator.stance": [0.1, 0.2]}}, source="inline", check=False
    )
    assert spec.runs_total == 2 and spec.name == "inline"


BATCH_SPECS = [
    "smoke",
    "trigger-nvidia",
    "trigger-tsmc",
    "trigger-custom-silicon",
    "regulator-sweep",
    "demand-bust",
    "integration-threshold",
    "sobol-sensitivity",
]


@pytest.mark.parametrize("name", BATCH_SPECS)
def test_every_spec_in_runs_is_valid(name):
    spec = load_spec(
        Path(__file__).resolve().parents[3] / "runs" / f"{name}.toml"
    )  # paths, strategies, values and metric patterns checked
    assert 0 < spec.runs_total <= 500


def test_labels_and_report_options_do_not_change_the_runs(tmp_path):
    base = load_spec(write(tmp_path, GOOD))
    relabelled = GOOD.replace('name = "t"', 'name = "u"\ndescription = "x"')
    relabelled += '\n[report]\nx = "regulator.stance"\ntitle = "T"\n'
    other = load_spec(write(tmp_path, relabelled, "b.toml"))
    assert other.digest() == base.digest()
    assert [t.run_id for t in other.tasks()] == [t.run_id for t in base.tasks()]
