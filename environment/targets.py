"""Target tables: the figures a baseline must match, as data, and the model's number for each.

A target table is a TOML file named by a scenario's ``targets`` field (a built-in table's
name, or a path: ``environment/scenarios/targets/ai-stack-2026.toml`` is the built-in
``ai-stack-2026``). It holds ``[[targets]]``, each a public figure with its value, unit,
period, plausible range and source, and ``[[parameters]]``, the scenario fields a fit may
move, each with bounds (``docs/MODEL.md`` 19). :func:`load_table` validates a file, with
one :class:`TargetError` naming the file and the field; :func:`check_against` resolves its
names and windows against a scenario; :func:`measure` computes the model's number for a
target from a run.

Time. A scenario's ``start_quarter`` names the calendar quarter of its first round (round
0 in the engine's numbering, used by events, contracts and the summary); a target's
``window`` is then a quarter (``"2025Q4"``), a year (``"2025"``: its four quarters) or a
span (``"2025Q1-2026Q2"``), as well as ``"first"``, ``"last"`` or ``"all"`` (rounds of the
run, whatever their dates).

Kinds, and how each is computed from a run over the window's rounds ``W`` (money in the
scenario's unit; a firm's operations are those it owns in each round; ``layer`` restricts
them to one layer; with no ``firm`` a target covers every operation of ``layer``):

``revenue``
    External revenue (sales to other firms and to consumers; a firm's self-supply at cost
    is internal and left out), summed over the operations and averaged over ``W``: money
    per round. With unit ``$B/year`` the average is annualised (times the rounds in a
    year: a revenue run rate, ARR).
``operating_income``
    Operating profit (revenue less inputs, own variable cost, depreciation, fixed cost
    and fines; ``docs/MODEL.md`` 10), averaged over ``W``.
``net_income``
    A firm's value: operating profit after equity stakes and after the interest it paid
    (``docs/MODEL.md`` 16; no taxes), averaged over ``W``. Firm only, no layer.
``capex``
    Capital goods bought (``docs/MODEL.md`` 15: what a capital-goods layer pays its
    suppliers when the units ship, plus the infrastructure around them bought outside
    the stack), averaged over ``W``.
``gross_margin``, ``operating_margin``
    Gross (operating) profit summed over ``W`` over revenue summed over ``W``: external
    revenue plus the operations' sales to their own firm at cost (the model charges an
    operation the cost of serving its own firm too; over external revenue alone a cloud
    serving mostly its own labs would show a margin above 100%).
``utilisation``
    Output summed over ``W`` over capacity in force summed over ``W``.
``survival``
    Whether the firms of the record are still in business at the window's last round
    (not failed: ``docs/MODEL.md`` 16; an acquisition is not a failure): with a
    ``firm``, 1 if that firm is, else 0; with only a ``layer``, 1 if every firm owning
    an operation in that layer in the first round is, else 0. Averaged over seeds it is
    the chance that they survive: a fit that reaches the record's figures by letting a
    firm fail after the record's window pays for it (``docs/MODEL.md`` 19.2).
``customer_share``
    The share of what the operations of ``firm`` in ``layer`` were paid on the market
    that came from the operations of the firms in ``customers`` (payments at market
    prices, ``History.cum_payments``; contract premiums left out). The history keeps
    these payments cumulated over the run, so the window must be ``"all"``.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from stackgame.environment.validation import format_validation

if TYPE_CHECKING:
    from stackgame.environment.model import StackModel
    from stackgame.environment.scenario import Scenario

Number = Annotated[float, Field(allow_inf_nan=False)]

Kind = Literal[
    "revenue",
    "operating_income",
    "net_income",
    "capex",
    "gross_margin",
    "operating_margin",
    "utilisation",
    "customer_share",
    "survival",
]
KINDS: tuple[str, ...] = get_args(Kind)
MONEY_KINDS = ("revenue", "operating_income", "net_income", "capex")
"""Kinds measured in money (units ``$B/quarter`` or ``$B/year``); the others are fractions."""

Unit = Literal["$B/quarter", "$B/year", "fraction"]
UNITS: tuple[str, ...] = get_args(Unit)

ROUNDS_PER_YEAR = {"quarter": 4, "month": 12, "year": 1}
"""Rounds in a year by ``Scenario.round_length``: annualises a ``$B/year`` target."""

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


class TargetError(ValueError):
    """A target table that cannot be used: names the file, the field and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def parse_quarter(text: str) -> int:
    """A quarter ``"2025Q1"`` as a count of quarters (``year * 4 + quarter - 1``).

    Raises ``ValueError`` for anything else.
    """
    m = _QUARTER.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a quarter such as '2025Q1'")
    return int(m.group(1)) * 4 + int(m.group(2)) - 1


def quarter_name(index: int) -> str:
    """The quarter ``"2025Q1"`` of a count of quarters (the inverse of :func:`parse_quarter`)."""
    return f"{index // 4}Q{index % 4 + 1}"


def window_quarters(window: str) -> tuple[int, int] | None:
    """The first and last quarter (counts) of a dated window; ``None`` for first/last/all.

    ``"2025Q4"`` is one quarter, ``"2025"`` its four, ``"2025Q1-2026Q2"`` a span (first
    not after last). Raises ``ValueError`` for a window of no known form.
    """
    text = window.strip()
    if text in ("first", "last", "all"):
        return None
    if _YEAR.match(text):
        year = int(text)
        return year * 4, year * 4 + 3
    if "-" in text:
        head, tail = (part.strip() for part in text.split("-", 1))
        lo, hi = parse_quarter(head), parse_quarter(tail)
        if lo > hi:
            raise ValueError(f"{window!r}: the span ends before it starts")
        return lo, hi
    q = parse_quarter(text)
    return q, q


def _check_window(value: str) -> str:
    try:
        window_quarters(value)
    except ValueError as err:
        raise ValueError(
            f"{err}; a window is 'first', 'last', 'all', a quarter ('2025Q4'), a year "
            "('2025') or a span ('2025Q1-2026Q2')"
        ) from None
    return value.strip()


class TargetSpec(_Strict):
    """One figure the baseline must match.

    Attributes
    ----------
    name
        Identifier, unique in the table (used by the fit and in error messages).
    figure
        The figure in words, as the table prints it.
    kind
        What is measured (the module docstring says how each is computed from a run).
    firm, layer
        Whose figure: a firm (all its operations, or those in ``layer``), or a whole
        layer (no ``firm``).
    customers
        ``customer_share`` only: the buying firms whose share is measured.
    value
        The figure, in ``unit``.
    unit
        ``$B/quarter`` (money per round of a quarterly scenario, in the scenario's unit),
        ``$B/year`` (annualised: a run rate) or ``fraction`` (margins, shares).
    period
        The period the source reports, in words (``"FY2026 (Feb 2025-Jan 2026)"``).
    low, high
        The plausible range, in ``unit``: ``low <= value <= high``; wider for estimates
        and where a company's segment is not the model's operation.
    estimate
        Whether the figure is an estimate (reported by the press, a projection, a
        segment split, or a seed article's round number) rather than a reported result.
    source
        The report and its date, or the seed article's file name.
    window
        Which rounds of the run it is compared with (module docstring).
    weight
        Relative weight in a fit (1 by default).
    note
        Anything an analyst should know about the mapping (optional).
    """

    name: str
    figure: str
    kind: Kind
    firm: str | None = None
    layer: str | None = None
    customers: list[str] = Field(default_factory=list)
    value: Number
    unit: Unit
    period: str
    low: Number
    high: Number
    estimate: bool = False
    source: str
    window: str
    weight: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    note: str = ""

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        return _check_window(value)

    @model_validator(mode="after")
    def _consistent(self) -> TargetSpec:
        if not self.low <= self.value <= self.high:
            raise ValueError(
                f"value: {self.value:g} is outside its range [{self.low:g}, {self.high:g}]"
            )
        money = self.kind in MONEY_KINDS
        if money and self.unit == "fraction":
            raise ValueError(f"unit: {self.kind} is money ('$B/quarter' or '$B/year')")
        if not money and self.unit != "fraction":
            raise ValueError(f"unit: {self.kind} is a fraction (unit 'fraction')")
        if self.firm is None and self.layer is None:
            raise ValueError("firm: a target needs a firm, a layer or both")
        if self.kind == "net_income" and (self.firm is None or self.layer is not None):
            raise ValueError("layer: net_income is a firm's, with no layer")
        if self.kind == "customer_share":
            if self.firm is None or self.layer is None or not self.customers:
                raise ValueError("customers: customer_share needs a firm, its layer and customers")
            if self.window != "all":
                raise ValueError(
                    "window: customer_share is measured over the whole run ('all'): the "
                    "history keeps payments between firms cumulated"
                )
        elif self.customers:
            raise ValueError(f"customers: only for customer_share, not {self.kind}")
        return self


class ParameterSpec(_Strict):
    """A scenario field a fit may move (``stackgame calibrate`` moves it: ``docs/MODEL.md`` 19.1).

    Attributes
    ----------
    path
        Dotted scenario path, as for ``--set`` (``firms.nvidia.ops.chips.restrain_markup``).
    low, high
        Bounds of the search (the built-in scenario's values lie within them).
    scale
        ``linear`` or ``log`` (search the logarithm: for sizes and rates that span
        orders of magnitude).
    note
        Why this field, and which targets it moves.
    """

    path: str
    low: Number
    high: Number
    scale: Literal["linear", "log"] = "linear"
    note: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> ParameterSpec:
        if not self.low < self.high:
            raise ValueError(f"high: {self.high:g} is not above low {self.low:g}")
        if self.scale == "log" and self.low <= 0:
            raise ValueError("low: a log-scale parameter needs a positive lower bound")
        return self


class TargetTable(_Strict):
    """A target file: its targets and the parameters a fit may move.

    Attributes
    ----------
    name
        The table's name.
    description
        What it is calibrated to, in words.
    money_unit
        The money unit of its ``$B`` figures; it must be the scenario's (``$B``).
    targets
        The ``[[targets]]`` entries.
    parameters
        The ``[[parameters]]`` entries.
    """

    name: str
    description: str = ""
    money_unit: Literal["$B"] = "$B"
    targets: list[TargetSpec] = Field(default_factory=list)
    parameters: list[ParameterSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> TargetTable:
        seen: set[str] = set()
        for t in self.targets:
            if t.name in seen:
                raise ValueError(f"targets: the name {t.name!r} appears twice")
            seen.add(t.name)
        paths: set[str] = set()
        for p in self.parameters:
            if p.path in paths:
                raise ValueError(f"parameters: the path {p.path!r} appears twice")
            paths.add(p.path)
        return self


def _entry_name(section: str, item: dict[str, Any]) -> str | None:
    """A target is named by its ``name``, a parameter by its ``path``."""
    return item.get("name") or item.get("path")


def table_from_dict(raw: dict[str, Any], source: str = "<targets>") -> TargetTable:
    """Validate a target table given as a dictionary (the parsed TOML)."""
    try:
        return TargetTable.model_validate(raw)
    except ValidationError as err:
        raise TargetError(f"{source}: {format_validation(err, raw, _entry_name)}") from None


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int) -> TargetTable:
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as err:
        raise TargetError(f"{file}: cannot read target file ({err.strerror})") from None
    except tomllib.TOMLDecodeError as err:
        raise TargetError(f"{file}: malformed TOML: {err}") from None
    return table_from_dict(raw, str(file))


def load_table(path: str | Path) -> TargetTable:
    """Load and validate a target file (parsed once per file version)."""
    file = Path(path)
    try:
        stamp = file.stat().st_mtime_ns
    except FileNotFoundError:
        raise TargetError(f"{file}: no such target file") from None
    return _load_cached(str(file), stamp)


def builtin_folder() -> Path:
    """The folder of the built-in target tables."""
    return Path(str(resources.files("stackgame.environment") / "scenarios" / "targets"))


def builtin_names() -> list[str]:
    """Names of the target tables shipped with the package."""
    folder = builtin_folder()
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def target_path(name: str, origin: Path | None = None) -> Path:
    """The file a scenario's ``targets`` names.

    A built-in table's name, or a path: relative to ``origin`` (the folder of the
    scenario file that names it) when given, else to the working directory.
    """
    if name in builtin_names():
        return builtin_folder() / f"{name}.toml"
    path = Path(name)
    if not path.is_absolute() and origin is not None:
        path = origin / path
    return path


def resolve(scenario: Scenario) -> TargetTable | None:
    """The scenario's target table, or ``None`` when it names none."""
    if scenario.targets is None:
        return None
    return load_table(target_path(scenario.targets, scenario.origin))


def check_against(table: TargetTable, scenario: Scenario, source: str) -> None:
    """Check a target table's names and windows against a scenario.

    Every firm, layer and customer must exist (a firm must operate in its target's
    layer), and a dated window needs the scenario's ``start_quarter`` and quarterly
    rounds and may not begin before the first round. Raises :class:`TargetError`
    naming ``source`` and the field. (Parameter paths are checked by the scenario.)
    """
    firms = {f.name: f for f in scenario.firms}
    layers = scenario.layer_names
    start = None if scenario.start_quarter is None else parse_quarter(scenario.start_quarter)
    for t in table.targets:
        where = f"{source}: targets.{t.name}"
        if t.firm is not None and t.firm not in firms:
            raise TargetError(f"{where}.firm: unknown firm {t.firm!r}; known: {', '.join(firms)}")
        if t.layer is not None and t.layer not in layers:
            raise TargetError(
                f"{where}.layer: unknown layer {t.layer!r}; known: {', '.join(layers)}"
            )
        if t.firm is not None and t.layer is not None and t.layer not in firms[t.firm].ops:
            raise TargetError(f"{where}.layer: {t.firm} does not operate in {t.layer}")
        for c in t.customers:
            if c not in firms:
                raise TargetError(
                    f"{where}.customers: unknown firm {c!r}; known: {', '.join(firms)}"
                )
        if t.unit == "$B/year" and scenario.round_length not in ROUNDS_PER_YEAR:
            raise TargetError(
                f"{where}.unit: cannot annualise rounds of one {scenario.round_length!r}"
            )
        span = window_quarters(t.window)
        if span is None:
            continue
        if start is None:
            raise TargetError(
                f"{where}.window: {t.window!r} is a date, but the scenario has no start_quarter"
            )
        if scenario.round_length != "quarter":
            raise TargetError(f"{where}.window: dated windows need quarterly rounds")
        if span[0] < start:
            raise TargetError(
                f"{where}.window: {t.window!r} begins before the run's first quarter, "
                f"{scenario.start_quarter}"
            )


def window_rounds(window: str, start_quarter: str | None, n_rounds: int) -> list[int] | None:
    """The rounds (0-based) a window covers in a run of ``n_rounds``.

    ``None`` when the run does not reach all of them (a dated window after the last round,
    or a run too short for it): the target then has no model number.
    """
    if n_rounds <= 0:
        return None
    if window == "all":
        return list(range(n_rounds))
    if window == "first":
        return [0]
    if window == "last":
        return [n_rounds - 1]
    span = window_quarters(window)
    assert span is not None and start_quarter is not None  # checked on load
    start = parse_quarter(start_quarter)
    lo, hi = span[0] - start, span[1] - start
    if lo < 0 or hi >= n_rounds:
        return None
    return list(range(lo, hi + 1))


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if abs(den) > 1e-12 else None


def _ops_sum(model: StackModel, column: str, rounds: list[int], mask_of: Any) -> float:
    """Sum of an operation column over the window's rounds and the masked operations."""
    h = model.history
    total = 0.0
    for t in rounds:
        values = h.op_rows[t][column]
        mask = mask_of(t)
        n = min(values.shape[0], mask.shape[0])
        total += float(values[:n][mask[:n]].sum())
    return total


def measure(target: TargetSpec, model: StackModel) -> float | None:
    """The model's number for ``target`` after a run, in the target's unit.

    ``None`` when the run does not cover the window or a ratio has nothing to divide by
    (no revenue, no capacity, no sales). The module docstring says how each kind is
    computed.
    """
    h = model.history
    sc = model.scenario
    rounds = window_rounds(target.window, sc.start_quarter, len(h))
    if rounds is None:
        return None
    firm = None if target.firm is None else sc.firm_names.index(target.firm)
    layer = None if target.layer is None else sc.layer_names.index(target.layer)

    def mask_of(t: int) -> np.ndarray:
        firm_of, layer_of = h.op_firm[t], h.op_layer[t]
        mask = np.ones(firm_of.shape[0], dtype=bool)
        if firm is not None:
            mask &= firm_of == firm
        if layer is not None:
            mask &= layer_of == layer
        return mask

    kind = target.kind
    if kind == "customer_share":
        return _customer_share(model, target)
    if kind == "survival":
        return _survival(model, firm, layer, rounds[-1])
    if kind == "net_income":
        assert firm is not None
        value = float(sum(h.firm_rows[t]["value"][firm] for t in rounds))
        return _per_unit(value / len(rounds), target, sc.round_length)
    external = _ops_sum(model, "revenue", rounds, mask_of) - _ops_sum(
        model, "internal_revenue", rounds, mask_of
    )
    if kind == "revenue":
        return _per_unit(external / len(rounds), target, sc.round_length)
    if kind in ("operating_income", "capex"):
        column = "operating_profit" if kind == "operating_income" else "capex"
        return _per_unit(
            _ops_sum(model, column, rounds, mask_of) / len(rounds), target, sc.round_length
        )
    # margins over everything the operations sold, their own firm's purchases at cost
    # included: the model charges an operation all its costs, those of serving its own firm
    # too, so over external revenue alone a cloud that mostly serves its own labs (Google)
    # shows margins above 100%
    total = external + _ops_sum(model, "internal_revenue", rounds, mask_of)
    if kind == "gross_margin":
        return _ratio(_ops_sum(model, "gross_profit", rounds, mask_of), total)
    if kind == "operating_margin":
        return _ratio(_ops_sum(model, "operating_profit", rounds, mask_of), total)
    assert kind == "utilisation"
    return _ratio(
        _ops_sum(model, "quantity", rounds, mask_of), _ops_sum(model, "capacity", rounds, mask_of)
    )


def _per_unit(per_round: float, target: TargetSpec, round_length: str) -> float:
    """A money flow per round in the target's unit (annualised for ``$B/year``)."""
    if target.unit == "$B/year":
        return per_round * ROUNDS_PER_YEAR[round_length]
    return per_round


def _customer_share(model: StackModel, target: TargetSpec) -> float | None:
    st = model.state
    sc = model.scenario
    pay = model.history.cum_payments
    n = pay.shape[0]
    firm_of, layer_of = st.firm_of[:n], st.layer_of[:n]
    assert target.firm is not None and target.layer is not None
    sellers = (firm_of == sc.firm_names.index(target.firm)) & (
        layer_of == sc.layer_names.index(target.layer)
    )
    buyers = np.isin(firm_of, [sc.firm_names.index(c) for c in target.customers])
    received = float(pay[:, sellers].sum())
    return _ratio(float(pay[np.ix_(buyers, sellers)].sum()), received)


def _survival(model: StackModel, firm: int | None, layer: int | None, last: int) -> float:
    """1.0 if the firm (or every firm of the layer at the start) is in business at ``last``."""
    h = model.history
    if firm is not None:
        firms = [firm]
    else:
        firms = sorted(set(h.op_firm[0][h.op_layer[0] == layer].tolist()))
    failed = model.state.failed_round
    return float(all(not 0 <= failed[f] <= last for f in firms))


def inside(model_value: float | None, low: float, high: float) -> bool | None:
    """Whether the model's number lies in the plausible range (``None``: no number)."""
    if model_value is None or not math.isfinite(model_value):
        return None
    return bool(low <= model_value <= high)


TOLERANCE_FRACTION = 0.05
"""How close a margin, share or utilisation must be to its figure: 5 percentage points."""

TOLERANCE_MONEY = 0.25
"""How close a money figure must be to its figure: 25% of it."""


def bar(target: TargetSpec) -> float:
    """The bar a target's model number is held to: 5 points for a fraction, 25% for money.

    The fit (``stackgame calibrate``) and the uncertainty weights (``stackgame run
    --uncertainty``) count a miss in half-ranges, or in this bar where that is wider.
    """
    return _bar(target.value, target.unit)


def _bar(value: float, unit: str) -> float:
    return TOLERANCE_FRACTION if unit == "fraction" else TOLERANCE_MONEY * abs(value)


def close(
    model_value: float | None, value: float, low: float, high: float, unit: str
) -> bool | None:
    """Whether the model is inside the range or within the tolerance of the figure.

    The tolerance is :data:`TOLERANCE_FRACTION` (absolute) for a fraction and
    :data:`TOLERANCE_MONEY` of the figure for money: the bar the baseline is held to
    (a margin within 5 points, a revenue or income within 25%, or inside its range).
    ``None`` without a model number.
    """
    if model_value is None or not math.isfinite(model_value):
        return None
    if low <= model_value <= high:
        return True
    return bool(abs(model_value - value) <= _bar(value, unit))
