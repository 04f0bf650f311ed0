"""What ``stackgame calibrate`` shows and writes: the residual table and the calibrated TOML.

The calibrated scenario is the source scenario's own TOML text with the fitted values put
in place, comments and layout kept: a line ``key = value  # comment`` becomes
``key = fitted  # calibrated (was value); comment``, and a field the text leaves at its
default gains a line at the end of its table. The result is checked: parsed, it must be
the source with exactly those fields changed. A source the rewriting cannot handle (no
text, a dotted or inline key, a table that is not there) is written whole from the
scenario's fields instead, without comments. Either way a header of ``# calibrate:``
lines says what produced it (a rerun replaces the header, never stacks a second one).
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from stackgame.simulation.report import Money, table

HEADER_PREFIX = "# calibrate:"
"""How every line of the header written by ``stackgame calibrate`` begins."""

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_-]+)(?P<eq>\s*=\s*)"
    r"(?P<value>[-+]?(?:inf|nan|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9_]+)?)"
    r"|true|false|\"[^\"\\]*\")"
    r"(?P<rest>\s*(?:#.*)?)$"
)
_ANY_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")
_EARLIER_NOTE = re.compile(r"^calibrated \(was [^)]*\)(; )?")
_NAME = re.compile(r"^\s*name\s*=\s*\"([^\"\\]*)\"")

UNITS = {"fraction": "", "$B/quarter": "$B/q", "$B/year": "$B/y"}


# -- the residual table ------------------------------------------------------------------


def _cell(value: float | None, unit: str) -> Any:
    if value is None:
        return None
    return value if unit == "fraction" else Money(value)


def _sig(value: float) -> str:
    return f"{value:.4g}"


def _res(value: float | None) -> Any:
    return None if value is None else Money(value)


def render(report: Mapping[str, Any]) -> str:
    """The fit as text: the parameters next to their bounds, then every target's residual."""
    seeds = report["seeds"]
    span = f"seeds {seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    n = len(report["targets"])
    out = [
        f"Calibration of {report['scenario']} to the target table {report['table']}",
        f"Weighted least squares on {len(seeds)} common {span}: residual = (model - target)",
        "/ (max(half-range, bar) / sqrt(weight)), bar 5 points or 25% of the figure,",
        "the model the mean over the seeds; objective = the sum",
        f"of squared residuals: {report['objective_before']:,.2f} before, "
        f"{report['objective_after']:,.2f} after.",
        f"{report['evaluations']} evaluations ({report['runs']} runs) in "
        f"{report['seconds']:.1f} s; {report['status']}.",
        f"Targets inside their range: {report['inside_before']} of {n} before, "
        f"{report['inside_after']} of {n} after.",
        "",
    ]
    params = [
        [
            p["path"],
            _sig(p["low"]),
            _sig(p["high"]),
            p["scale"],
            _sig(p["before"]),
            _sig(p["after"]),
            "yes" if p["at_bound"] else "no",
        ]
        for p in report["parameters"]
    ]
    for col in (1, 2, 4, 5):  # numbers to the right: every cell of a column as wide
        width = max(len(row[col]) for row in params)
        for row in params:
            row[col] = row[col].rjust(width)
    out.append(
        table(
            ["parameter", "low", "high", "scale", "before", "after", "at bound"],
            params,
            "Parameters (bounds from the target table)",
        )
    )
    out.append("")
    rows = []
    for t in report["targets"]:
        unit = t["unit"]
        rows.append(
            [
                t["name"] + ("" if t["fitted"] else " (not measured)"),
                UNITS.get(unit, unit),
                _cell(t["target"], unit),
                _cell(t["low"], unit),
                _cell(t["high"], unit),
                _cell(t["model_before"], unit),
                _cell(t["model_after"], unit),
                _res(t["residual_after"]),
                t["inside_before"],
                t["inside_after"],
            ]
        )
    out.append(
        table(
            [
                "target",
                "unit",
                "target",
                "low",
                "high",
                "before",
                "after",
                "residual",
                "in before",
                "in after",
            ],
            rows,
            "Targets (model: mean over the seeds; residual after the fit, in half-ranges)",
        )  # fmt: skip
    )
    left_out = [t["name"] for t in report["targets"] if not t["fitted"]]
    if left_out:
        out.append(
            "Left out of the fit (the scenario's run does not measure them): " + ", ".join(left_out)
        )
    return "\n".join(out)


def render_starts(report: Mapping[str, Any]) -> str:
    """The starts of a multi-start fit, then the targets every start misses (conflicts)."""
    starts = report["starts"]
    k = len(starts)
    rows = [
        [
            str(s["start"]) + (" (best)" if s["best"] else ""),
            s["point"],
            None if s["objective_start"] is None else f"{s['objective_start']:,.1f}",
            f"{s['objective_final']:,.1f}",
            s["inside_final"],
            s["evaluations"],
            f"{s['seconds']:.0f}",
        ]
        for s in starts
    ]
    out = [
        table(
            ["start", "from", "objective at start", "final", "inside", "evaluations", "s"],
            rows,
            f"Starts ({report['design']}; each with its own budget)",
        ),
        "",
    ]
    lines = []
    for c in report["outside"]:
        unit = c["unit"]
        lines.append(
            [
                c["name"],
                UNITS.get(unit, unit),
                _cell(c["target"], unit),
                _cell(c["low"], unit),
                _cell(c["high"], unit),
                _cell(c["model_min"], unit),
                _cell(c["model_max"], unit),
                f"{c['outside_in']} of {k}",
                c["side"],
            ]
        )
    head = [*"target unit target low high".split(), "model min", "model max", "outside in"]
    out.append(
        table(
            [*head, "side"],
            lines,
            "Targets outside their range in a start's final point (model across the starts)",
        )
    )
    names = [c["name"] for c in report["conflicts"]]
    out.append(
        f"Conflicts: {len(names)} targets outside their range in all {k} starts"
        + (": " + ", ".join(names) if names else "")
        + "."
    )
    return "\n".join(out)


# -- the calibrated scenario as TOML ----------------------------------------------------------


def number_text(value: Any) -> str:
    """A TOML literal of a value (floats in their shortest form, always with a point)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} as a scenario value")
        text = repr(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, str):
        if '"' in value or "\\" in value or "\n" in value:
            raise ValueError(f"cannot write the string {value!r} in place")
        return f'"{value}"'
    raise ValueError(f"cannot write a {type(value).__name__} in place")


def set_raw(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in a parsed TOML dictionary (lists by their entries' ``name``).

    Raises ``KeyError`` when a table or list entry on the way is not there (the last key
    may be new).
    """
    keys = path.split(".")
    node: Any = raw
    for key in keys[:-1]:
        if isinstance(node, list):
            named = [e for e in node if isinstance(e, dict) and e.get("name") == key]
            if named:
                node = named[0]
            elif key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise KeyError(path)
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            raise KeyError(path)
    if not isinstance(node, dict):
        raise KeyError(path)
    node[keys[-1]] = value


def _table_paths(lines: Sequence[str]) -> list[str | None]:
    """For each line, the dotted path of the table it sits in ("" at the top; lists by name).

    ``None`` for a line whose table cannot be named (an array entry without a ``name``
    before its keys is named by its index).
    """
    paths: list[str | None] = []
    current: str | None = ""
    arrays: dict[str, list[str]] = {}  # raw header of an array of tables -> entry ids
    raw_header = ""
    for line in lines:
        m = _HEADER.match(line)
        if m and not _ANY_KEY.match(line):
            raw_header = m.group(1).replace(" ", "")
            is_array = line.lstrip().startswith("[[")
            if is_array:
                arrays.setdefault(raw_header, []).append(str(len(arrays.get(raw_header, []))))
            current = _resolve(raw_header, arrays)
            paths.append(current)
            continue
        name = _NAME.match(line)
        if name and raw_header in arrays and current is not None:
            entries = arrays[raw_header]
            if entries[-1].isdigit():  # the entry's name, in place of its index
                entries[-1] = name.group(1)
                current = _resolve(raw_header, arrays)
        paths.append(current)
    return paths


def _resolve(raw_header: str, arrays: Mapping[str, list[str]]) -> str:
    """``firms.ops.chips`` -> ``firms.nvidia.ops.chips`` (arrays of tables by their entry)."""
    parts = raw_header.split(".")
    out: list[str] = []
    for i, part in enumerate(parts):
        out.append(part)
        prefix = ".".join(parts[: i + 1])
        if prefix in arrays and arrays[prefix]:
            out.append(arrays[prefix][-1])
    return ".".join(out)


def rewrite(text: str, changes: Mapping[str, Any], notes: Mapping[str, str]) -> str:
    """``text`` with each dotted path of ``changes`` set in place; ``ValueError`` if it cannot.

    An existing ``key = value`` line gets the new value and ``notes[path]`` before its
    comment; a missing key gets a new line at the end of its table (after its last key).
    The result is checked against the source with the changes set (:func:`set_raw`).
    """
    lines = text.splitlines()
    tables = _table_paths(lines)
    todo = dict(changes)
    last_key: dict[str, int] = {}
    for i, (line, where) in enumerate(zip(lines, tables, strict=True)):
        if where is None:
            continue
        header = _HEADER.match(line) and not _ANY_KEY.match(line)
        if header:
            last_key.setdefault(where, i)
            continue
        m = _KEY.match(line)
        key = m.group("key") if m else (k.group(1) if (k := _ANY_KEY.match(line)) else None)
        if key is None:
            continue
        last_key[where] = i
        path = f"{where}.{key}" if where else key
        if path not in todo:
            continue
        if m is None:
            raise ValueError(f"{path}: its value is not a plain literal on one line")
        value = todo.pop(path)
        rest = m.group("rest")
        note = notes.get(path, "")
        comment = rest.strip()[1:].strip() if rest.strip().startswith("#") else ""
        comment = _EARLIER_NOTE.sub("", comment)  # a rerun's note replaces the last one
        joined = "; ".join(part for part in (note, comment) if part)
        old_pad = len(rest) - len(rest.lstrip()) if rest.strip() else 2
        # the comment stays in its column where the new value leaves room
        pad = " " * max(2, old_pad - (len(number_text(value)) - len(m.group("value"))))
        lines[i] = f"{m.group('indent')}{key}{m.group('eq')}{number_text(value)}" + (
            f"{pad}# {joined}" if joined else ""
        )
    inserts: dict[int, list[str]] = {}
    for path, value in todo.items():
        where, _, key = path.rpartition(".")
        if where not in last_key:
            raise ValueError(f"{path}: its table is not in the text")
        note = notes.get(path, "")
        line = f"{key} = {number_text(value)}" + (f"  # {note}" if note else "")
        inserts.setdefault(last_key[where], []).append(line)
    out: list[str] = []
    for i, line in enumerate(lines):
        out.append(line)
        out.extend(inserts.get(i, []))
    result = "\n".join(out) + ("\n" if text.endswith("\n") else "")
    expected = tomllib.loads(text)
    for path, value in changes.items():
        try:
            set_raw(expected, path, value)
        except KeyError:
            raise ValueError(f"{path}: not in the text") from None
    if tomllib.loads(result) != expected:
        raise ValueError("the rewritten text does not parse to the source with the changes")
    return result


_PARAMETER_LINE = re.compile(
    r"^\s+(?P<path>[A-Za-z0-9_.-]+) = (?P<after>\S+) \(was (?P<before>[^;]+);"
)
_SEEDS = re.compile(r"common seeds (?P<first>-?\d+)(?:\.\.(?P<last>-?\d+))?")
_EVALS = re.compile(r"--max-evals (?P<n>\d+)(?:, --method (?P<method>[a-z_]+))?")
_STARTS = re.compile(r"--starts (?P<k>\d+): best start (?P<best>\d+)")


def parse_header(text: str) -> dict[str, Any] | None:
    """What a ``# calibrate:`` header records: the fit's seeds, budget and parameters.

    Returns ``None`` when ``text`` has no such header (a scenario written by hand);
    otherwise ``seeds`` (the common seeds), ``max_evals`` and ``parameters``: a list of
    ``{"path", "before", "after"}`` (the value the fit started from and the one it wrote),
    ``method`` (the search), and ``starts`` and ``start`` (how many starts the fit had
    and which one it wrote: 1 and 0 for a one-start fit).
    """
    lines = []
    for line in text.splitlines():
        if not line.startswith(HEADER_PREFIX):
            break
        lines.append(line[len(HEADER_PREFIX) :])
    if not lines:
        return None
    prose = " ".join(x.strip() for x in lines if not _PARAMETER_LINE.match(x))
    seeds = _SEEDS.search(prose)
    evals = _EVALS.search(prose)
    if seeds is None or evals is None:
        return None
    first = int(seeds["first"])
    last = int(seeds["last"]) if seeds["last"] is not None else first
    parameters = [
        {"path": m["path"], "before": float(m["before"]), "after": float(m["after"])}
        for x in lines
        if (m := _PARAMETER_LINE.match(x))
    ]
    return {
        "seeds": list(range(first, last + 1)),
        "max_evals": int(evals["n"]),
        "method": evals["method"] or "least_squares",
        "parameters": parameters,
        "starts": int(starts["k"]) if (starts := _STARTS.search(prose)) else 1,
        "start": int(starts["best"]) if starts else 0,
    }


def strip_header(text: str) -> str:
    """``text`` without a leading block of ``# calibrate:`` lines (and the blank after it)."""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and lines[i].startswith(HEADER_PREFIX):
        i += 1
    if i and i < len(lines) and not lines[i].strip():
        i += 1
    return "".join(lines[i:])


def calibrated_toml(
    source_text: str | None,
    scenario_raw: Mapping[str, Any],
    changes: Mapping[str, Any],
    notes: Mapping[str, str],
    header: Sequence[str],
) -> str:
    """The calibrated scenario as TOML: the source rewritten in place, or written whole.

    Parameters
    ----------
    source_text
        The source scenario's TOML (``None``: none; the scenario is written whole).
    scenario_raw
        The source scenario's fields (``Scenario.model_dump(mode="json")``), for the
        whole form.
    changes
        Dotted paths to their new values.
    notes
        Per path, the note put before the line's comment (``calibrated (was 2.9)``).
    header
        The header's lines, without the ``# calibrate:`` prefix.
    """
    import tomli_w

    head = "".join(f"{HEADER_PREFIX} {line}".rstrip() + "\n" for line in header) + "\n"
    if source_text is not None:
        try:
            return head + rewrite(strip_header(source_text), changes, notes)
        except (ValueError, tomllib.TOMLDecodeError):
            pass
    raw = _drop_none(copy.deepcopy(dict(scenario_raw)))
    for path, value in changes.items():
        set_raw(raw, path, value)
    return head + tomli_w.dumps(raw)


def _drop_none(value: Any) -> Any:
    """TOML has no null: leave out every ``None`` (a field at its default of none)."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
