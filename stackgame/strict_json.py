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
from json.encoder import encode_basestring_ascii as _ascii
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
    """Strict JSON text of ``value`` (undefined numbers as ``null``; never ``NaN``).

    Indented and unsorted (the default), the text is built in one pass over ``value``
    (:func:`_indented`), the same bytes as :func:`json.dumps` of :func:`finite_or_none`
    writes at about twice its speed (with an indent, :mod:`json` encodes in Python; a
    long run's summary holds 125,000 values); a value that pass does not cover (a key
    that is not a string, a type :mod:`json` refuses) goes the way it went.
    """
    if type(indent) is int and not sort_keys:
        parts: list[str] = []
        try:
            _indented(value, parts, "\n", " " * indent)
        except _Unhandled:
            pass
        else:
            return "".join(parts)
    return json.dumps(finite_or_none(value), indent=indent, sort_keys=sort_keys, allow_nan=False)


class _Unhandled(Exception):
    """A value :func:`_indented` leaves to :func:`json.dumps`."""


def _indented(value: Any, out: list[str], newline: str, step: str) -> None:
    """Append the JSON text of ``value`` to ``out``, as :func:`dumps` with an indent writes it.

    ``newline`` is a line break followed by the indentation of the line ``value`` starts
    on; ``step`` is one level of indentation. What :mod:`json`'s encoder writes, after
    :func:`finite_or_none`: ``", "`` between items on their own lines, ``": "`` after a
    key, ``[]`` and ``{}`` for empty containers, :func:`repr` of a float (``null`` if not
    finite), ``int.__repr__`` of an int, ASCII-escaped strings.
    """
    kind = type(value)
    if kind is str:
        out.append(_ascii(value))
    elif kind is float:
        out.append(float.__repr__(value) if math.isfinite(value) else "null")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is dict or isinstance(value, Mapping):
        if not value:
            out.append("{}")
            return
        inner = newline + step
        out.append("{" + inner)
        first = True
        for key, item in value.items():
            if type(key) is not str:
                raise _Unhandled
            if first:
                first = False
            else:
                out.append("," + inner)
            out.append(_ascii(key) + ": ")
            _indented(item, out, inner, step)
        out.append(newline + "}")
    elif kind is list or isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = newline + step
        out.append("[" + inner)
        first = True
        for item in value:
            if first:
                first = False
            else:
                out.append("," + inner)
            _indented(item, out, inner, step)
        out.append(newline + "]")
    elif isinstance(value, str):  # (subclasses: as json writes them)
        out.append(_ascii(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):  # (numpy's float64 among them)
        out.append(float.__repr__(value) if math.isfinite(value) else "null")
    else:
        plain = finite_or_none(value)  # numpy's other scalars and arrays, pandas' NA
        if plain is value:
            raise _Unhandled  # (json's error, or its default, is json's to give)
        _indented(plain, out, newline, step)


def write(path: str | Path, value: Any, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """Write ``value`` as strict JSON (with a final newline) to ``path``; return the path."""
    path = Path(path)
    path.write_text(dumps(value, indent=indent, sort_keys=sort_keys) + "\n")
    return path
