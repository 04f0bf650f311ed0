"""One line from a pydantic validation error: the scenario's and the target table's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError


def format_validation(
    err: ValidationError,
    raw: dict[str, Any],
    name_of: Callable[[str, dict[str, Any]], str | None],
) -> str:
    """First error of a pydantic ValidationError as ``path: message (got value)``.

    An entry of a list is named by ``name_of(section, entry)`` (``firms.nvidia``), else by
    its index (``relations[0]``).
    """
    first = err.errors()[0]
    parts: list[str] = []
    node: Any = raw
    for loc in first["loc"]:
        if isinstance(loc, int) and isinstance(node, list) and loc < len(node):
            item = node[loc]
            name = name_of(parts[-1], item) if isinstance(item, dict) else None
            parts[-1] = f"{parts[-1]}.{name}" if name else f"{parts[-1]}[{loc}]"
            node = item
            continue
        parts.append(str(loc))
        node = node.get(loc) if isinstance(node, dict) else None
    where = ".".join(parts)
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    if first["type"] == "missing":
        msg = "required field is missing"
    got = first.get("input")
    suffix = ""
    if first["type"] not in ("missing", "extra_forbidden", "value_error") and not isinstance(
        got, dict | list
    ):
        suffix = f" (got {got!r})"
    return f"{where}: {msg}{suffix}" if where else f"{msg}{suffix}"
