"""One line from a pydantic error, entries named as the caller says (environment/validation.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from stackgame.environment.validation import format_validation


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    size: float = Field(ge=0)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[_Entry]


def _line(raw: dict[str, Any], name_of: Any = lambda section, item: item.get("name")) -> str:
    with pytest.raises(ValidationError) as caught:
        _Doc.model_validate(raw)
    return format_validation(caught.value, raw, name_of)


def test_an_entry_is_named_by_the_callers_rule_and_the_bad_value_is_shown() -> None:
    raw = {"entries": [{"name": "a", "size": 1.0}, {"name": "b", "size": -2.0}]}
    assert _line(raw) == "entries.b.size: Input should be greater than or equal to 0 (got -2.0)"
    by_index = _line(raw, lambda section, item: None)
    assert by_index.startswith("entries[1].size: ")


def test_unknown_and_missing_fields_get_plain_words() -> None:
    assert _line({"entries": [{"name": "a", "size": 1, "colour": 3}]}) == (
        "entries.a.colour: unknown field"
    )
    assert _line({"entries": [{"name": "a"}]}) == "entries.a.size: required field is missing"
    assert _line({}) == "entries: required field is missing"
