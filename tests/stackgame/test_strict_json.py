"""Strict JSON: undefined numbers become ``null``, numpy and pandas values plain JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from stackgame import strict_json


@pytest.mark.parametrize("value", [None, True, False, 0, -3, "x", "", 1.5, -0.0])
def test_plain_values_pass_unchanged(value):
    out = strict_json.finite_or_none(value)
    assert out == value and type(out) is type(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_become_none(value):
    assert strict_json.finite_or_none(value) is None


def test_nested_containers_keep_keys_and_become_lists():
    value = {"a": (1.0, math.nan), "b": [{"c": math.inf}], 3: "k"}
    assert strict_json.finite_or_none(value) == {"a": [1.0, None], "b": [{"c": None}], 3: "k"}


def test_numpy_scalars_and_arrays_become_python_numbers():
    out = strict_json.finite_or_none(
        {"i": np.int64(7), "f": np.float32(0.5), "nan": np.float64("nan"), "b": np.bool_(True)}
    )
    assert out == {"i": 7, "f": 0.5, "nan": None, "b": True}
    assert type(out["i"]) is int and type(out["f"]) is float and type(out["b"]) is bool
    arr = strict_json.finite_or_none(np.array([[1.0, np.nan], [np.inf, 2.0]]))
    assert arr == [[1.0, None], [None, 2.0]]


def test_pandas_missing_markers_become_none():
    assert strict_json.finite_or_none(pd.NA) is None
    assert strict_json.finite_or_none(pd.NaT) is None


def test_unknown_objects_pass_through_and_json_then_refuses_them():
    marker = object()
    assert strict_json.finite_or_none(marker) is marker
    with pytest.raises(TypeError):
        strict_json.dumps({"x": marker})


def test_dumps_writes_null_never_nan_and_parses_strictly():
    text = strict_json.dumps({"ci": [math.nan, 1.0], "ratio": math.inf})
    assert "NaN" not in text and "Infinity" not in text

    def refuse(constant):
        raise ValueError(constant)

    assert json.loads(text, parse_constant=refuse) == {"ci": [None, 1.0], "ratio": None}


def test_dumps_of_finite_values_is_byte_for_byte_json_dumps():
    value = {"b": 0.1 + 0.2, "a": [1, 2.5e-17, "é"], "c": None}
    assert strict_json.dumps(value) == json.dumps(value, indent=2)
    assert strict_json.dumps(value, indent=None, sort_keys=True) == json.dumps(
        value, sort_keys=True
    )


def test_write_adds_a_final_newline_and_returns_the_path(tmp_path):
    target = tmp_path / "out.json"
    returned = strict_json.write(str(target), {"x": math.nan, "y": 1}, indent=None)
    assert returned == target
    assert target.read_text() == '{"x": null, "y": 1}\n'


def _reference(value, indent=2):
    """json's own encoder of the finite copy: what dumps must write, byte for byte."""
    return json.dumps(strict_json.finite_or_none(value), indent=indent, allow_nan=False)


class _Text(str):
    def __str__(self):  # json writes the characters, not this
        return "other"


class _Count(int):
    def __repr__(self):
        return "other"


def test_the_one_pass_text_is_json_dumps_byte_for_byte():
    import enum

    class Kind(enum.StrEnum):
        A = "a"

    class Level(enum.IntEnum):
        HIGH = 3

    value = {
        "floats": [
            0.0,
            -0.0,
            0.1,
            1 / 3,
            1e-300,
            5e-324,
            1e16,
            2.0**60,
            -7.0,
            math.nan,
            math.inf,
            -math.inf,
        ],  # fmt: skip
        "ints": [0, -1, 2**70, True, False, None],
        "text": ["", "é ü ✓", 'q"uote\\back\nline\t', _Text("x"), Kind.A],
        "subclasses": [_Count(5), Level.HIGH, np.float64(2.5), np.float64("nan")],
        "numpy": {
            "i": np.int64(7),
            "f": np.float32(0.5),
            "b": np.bool_(False),
            "a": np.array([[1.0, np.nan], [np.inf, 2.0]]),
            "e": np.zeros(0),
        },  # fmt: skip
        "pandas": [pd.NA, pd.NaT],
        "empty": [{}, [], (), {"x": {}}, [[]]],
        "tuple": (1, (2.5, "z")),
        "nested": {"a": [{"b": [1, {"c": None}]}]},
    }
    for indent in (2, 0, 4):
        assert strict_json.dumps(value, indent=indent) == _reference(value, indent)
    for plain in (1.5, "x", None, [], {}, math.nan, np.int64(3)):  # a bare value too
        assert strict_json.dumps(plain) == _reference(plain)


def test_keys_that_are_not_strings_and_unknown_objects_go_to_json():
    value = {3: "k", 1.5: [1], None: 0, "s": 2}
    assert strict_json.dumps(value) == _reference(value)
    assert strict_json.dumps({"a": 1}, sort_keys=True) == json.dumps({"a": 1}, indent=2)


def test_a_run_summary_is_json_dumps_byte_for_byte():
    from stackgame.simulation.simulate import simulate

    summary = simulate("ai-stack-2026", rounds=5, seed=2).summary
    assert strict_json.dumps(summary) == _reference(summary)
    assert json.loads(strict_json.dumps(summary)) == json.loads(_reference(summary))
