"""Strict JSON: what every ``--json`` output and every JSON file of stackgame goes through.

Python's :mod:`json` writes ``NaN`` and ``Infinity`` by default, which strict parsers (jq,
JavaScript's ``JSON.parse``, DuckDB's reader) reject. Here an undefined number (a
confidence interval of one observation, a ratio over zero) is written as ``null``, numpy
scalars and arrays as plain numbers and lists, and ``allow_nan=False`` guards the rest.
Finite numbers are written exactly as :func:`json.dumps` writes them, so outputs that had
no undefined values are unchanged byte for byte.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``, recursively.

    Mappings keep their keys; tuples, lists and numpy arrays become lists; numpy scalars
    become Python numbers; pandas' missing-value markers (``NA``, ``NaT``) become ``None``.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    kind = type(value)
    if kind.__module__ == "numpy":
        if hasattr(value, "tolist"):  # an array or a numpy scalar
            return finite_or_none(value.tolist())
    if kind.__name__ in ("NAType", "NaTType"):
        return None
    return value


def dumps(value: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Strict JSON text of ``value`` (undefined numbers as ``null``; never ``NaN``)."""
    return json.dumps(finite_or_none(value), indent=indent, sort_keys=sort_keys, allow_nan=False)


def write(path: str | Path, value: Any, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """Write ``value`` as strict JSON (with a final newline) to ``path``; return the path."""
    path = Path(path)
    path.write_text(dumps(value, indent=indent, sort_keys=sort_keys) + "\n")
    return path
