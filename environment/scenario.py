"""Scenario schema: the stack as data, validated on load.

A scenario is a TOML file: layers (bottom of the stack first), firms and the layers they
operate in, supply relations with switching costs, equity stakes, final demand, the
regulator and scheduled or conditional events. Every number is checked (finite, in
range) and every name is resolved (layers, firms, strategies), so a bad file gets one
:class:`ScenarioError` naming the file, the field and the problem.

Field names are the single source of defaults: the Model's constructor, the SolaraViz
controls and the batch specs address the same fields by dotted path
(``regulator.stance``, ``demand.growth``, ``firms.nvidia.strategy``,
``firms.nvidia.ops.chips.extract_markup``), see :func:`apply_overrides`.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from stackgame.environment.validation import format_validation

Number = Annotated[float, Field(allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]

TRIGGERS = ("nvidia_value_pricing", "tsmc_long_term_agreements", "custom_silicon_sale")


class ScenarioError(ValueError):
    """A scenario that cannot be used: names the source, the field and the problem."""


def read_toml(
    path: str | Path,
    *,
    error: type[ValueError] = ScenarioError,
    what: str = "file",
    prefix: str = "",
) -> dict[str, Any]:
    """Read and parse a TOML file, or raise ``error`` with one line naming the file.

    Parameters
    ----------
    path
        The file.
    error
        The exception class to raise (a ``ValueError`` subclass the CLI maps to exit 2).
    what
        What the file is, for the message ("spec file", "file").
    prefix
        Put before the message (a flag name such as ``"--spec: "``).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{prefix}{file}: no such {what}") from None
    except OSError as err:
        raise error(f"{prefix}{file}: cannot read ({err.strerror})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise error(f"{prefix}{file}: malformed TOML: {err}") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)


class LayerSpec(_Strict):
    """One layer of the stack.

    Attributes
    ----------
    name
        Layer name (``foundry``, ``chips``, ``cloud``, ``models``, ``apps``).
    input_coefficient
        Units of the layer below needed per unit of this layer's output.
    choice_mu
        Logit scale of buyers' choice among this layer's sellers (dimensionless: price
        enters relative to the layer's mean price). Small means price-sensitive.
    competition
        ``bertrand`` (sellers set markups) or ``cournot`` (sellers offer quantities; only
        for the top layer under linear demand).
    build_cost
        Capital per unit of capacity for a firm that integrates into this layer by building.
    build_lead_time
        Rounds between the decision to build and the first output.
    entrant_cost_penalty
        Multiplier on the entrant's unit cost in its first rounds (learning by doing).
    allow_negative_markup
        Whether sellers here may price below cost (a loss leader).
    capital_goods
        Whether this layer buys from the layer below as capital goods (the buildout,
        ``docs/MODEL.md`` 15): its operations order units of installed capacity, pay
        their suppliers when the units ship, and hold them as a stock that depreciates
        and retires at the operation's ``depreciation_rate`` (a life of ``1 / rate``
        rounds). The supplier's sales follow this layer's investment, not its use.
        Off (a flow market: inputs bought per unit of output, each round) by default.
    install_lead_time
        Capital-goods layers: rounds from a unit's shipment (and payment) to its first
        output (1: it produces from the next round).
    infrastructure_cost
        Capital-goods layers: money per unit of capacity spent outside the stack with
        each unit installed (buildings, power, cooling: the data center around the
        chips, ``docs/MODEL.md`` 15.2). Paid as capex when the units ship and carried in
        the book like the chips; 0 (the default): capex is the chips alone.
    """

    name: str
    input_coefficient: Positive = 1.0
    choice_mu: Positive = 0.25
    competition: Literal["bertrand", "cournot"] = "bertrand"
    build_cost: NonNeg = 1.0
    build_lead_time: Annotated[int, Field(ge=0)] = 4
    entrant_cost_penalty: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 1.25
    allow_negative_markup: bool = False
    capital_goods: bool = False
    install_lead_time: Annotated[int, Field(ge=1, le=40)] = 1
    infrastructure_cost: NonNeg = 0.0


class TrainingSpec(_Strict):
    """A lab's training: compute bought each round that builds its model stock.

    ``docs/MODEL.md`` 20. The operation rents training compute from the layer below (the
    clouds) at their price, or runs it on its own firm's capacity there at cost, each
    round; what it spends accumulates into a model stock (money) that amortises over
    ``life`` rounds and raises the operation's quality in its buyers' logit, concavely:
    ``q = quality + quality_weight * (ln(1 + S / scale) - ln(1 + stock / scale))``. When a
    rival's stock passes its own, ``writedown`` of its stock is written off. Off (no
    table) by default.

    Attributes
    ----------
    ratio
        The default rule's training spend over the firm's revenue from others last
        round (before the first round: the spend that replaces the initial stock's
        amortisation, ``stock / life``); capped at the funds it can raise.
    stock
        Model stock at the start, money (the capitalised cost of the models in use).
    life
        Rounds over which the stock amortises (rate ``1 / life``): "likely the fastest
        depreciating assets in human history" (``003_66598766ffe6fae0.txt``).
    quality_weight
        Quality units per unit of ``ln(1 + S / scale)``.
    scale
        Money: the stock at which the concave term ``ln(1 + S / scale)`` equals ``ln 2``.
    writedown
        Share of the stock written off when a rival's stock passes it.
    max_share
        The largest share of any one seller's capacity (its own firm's operation below
        included) its training may take in a round: training clusters are reserved
        ahead, and the rest of the capacity serves inference.
    accounting
        ``capitalise``: operating income is charged the amortisation and write-downs;
        ``expense``: it is charged the spend as it is paid (R&D under GAAP), and the
        stock only drives quality.
    """

    ratio: NonNeg = 0.0
    stock: NonNeg = 0.0
    life: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 4.0
    quality_weight: NonNeg = 0.0
    scale: Positive = 1.0
    writedown: Fraction = 0.0
    max_share: Fraction = 0.5
    accounting: Literal["capitalise", "expense"] = "capitalise"


class OperationSpec(_Strict):
    """A firm's operation in one layer.

    Attributes
    ----------
    capacity
        Units of output per round.
    unit_cost
        Own variable cost per unit of output, dollars (excluding inputs bought below).
    quality
        Quality index in the buyers' logit (same units as ``choice_mu`` for intermediate
        layers, dollars per unit at the top layer).
    restrain_markup, extract_markup
        Markup over unit cost (own plus input) that restrain and extract mean for this
        firm here: ``price = (unit_cost + input_cost) * (1 + markup)``.
    capital
        Installed capital backing the capacity, dollars (book value).
    depreciation_rate
        Share of capital written off per round.
    fixed_cost
        Other operating cost per round, dollars (R&D, SG&A).
    capacity_growth
        Growth of capacity per round (a build-out), fraction.
    captive
        Output only for the firm's own use (custom silicon before it is sold outside:
        Google's TPU, Amazon's Trainium, `000_e3319be9a08c4b37.txt`).
    training
        Training compute this operation buys each round (:class:`TrainingSpec`; a lab's
        models operation). ``None`` (the default): it trains nothing.
    """

    capacity: NonNeg
    unit_cost: NonNeg
    quality: Number = 0.0
    restrain_markup: Number = 0.1
    extract_markup: Number = 0.5
    capital: NonNeg = 0.0
    depreciation_rate: Fraction = 0.05
    fixed_cost: NonNeg = 0.0
    capacity_growth: Annotated[float, Field(ge=-1, allow_inf_nan=False)] = 0.0
    captive: bool = False
    training: TrainingSpec | None = None


class FirmSpec(_Strict):
    """A firm: the layers it operates in, its strategy and its cash.

    Attributes
    ----------
    name
        Identifier (lower case), used in paths and on the command line.
    label
        Display name.
    strategy
        Registry name of its strategy.
    strategy_params
        Keyword arguments for the strategy's constructor (e.g. an integrator's
        ``threshold``).
    cash
        Starting cash, dollars.
    ops
        Operation per layer name.
    can_integrate
        Whether it may build into adjacent layers.
    named
        Shown by name in the summary tables (the others are grouped by layer).
    debt
        Debt outstanding at the start, dollars (``docs/MODEL.md`` 16).
    outside_cash_flow
        Cash from businesses outside the stack, dollars per round (a hyperscaler's
        advertising, retail or software profits: the exogenous inflow that funds its
        buildout).
    raises_equity
        Whether it can raise new equity when it needs cash (a lab raising on its
        growth); the amount depends on its revenue and on investors' appetite.
    """

    name: str
    label: str = ""
    strategy: str = "always_restrain"
    strategy_params: dict[str, Number | int | str | bool] = Field(default_factory=dict)
    cash: Number = 0.0
    ops: dict[str, OperationSpec]
    can_integrate: bool = True
    named: bool = True
    debt: NonNeg = 0.0
    outside_cash_flow: Number = 0.0
    raises_equity: bool = False

    @model_validator(mode="after")
    def _has_ops(self) -> FirmSpec:
        if not self.ops:
            raise ValueError("a firm must operate in at least one layer")
        if not self.label:
            self.label = self.name
        return self


class RelationSpec(_Strict):
    """A supply relation with lock-in: the buyer prefers this seller in ``layer``.

    ``switching_cost`` is added to this seller's utility in the buyer's logit (CUDA,
    `001_098523a2e050d583.txt`, `003_66598766ffe6fae0.txt`; data
    gravity, a long-term contract): the cost in utility units of moving elsewhere.
    ``exclusive`` restricts the buyer to its related sellers in that layer.
    """

    buyer: str
    seller: str
    layer: str
    switching_cost: NonNeg = 0.0
    exclusive: bool = False


class StakeSpec(_Strict):
    """An equity stake: ``holder`` receives ``share`` of ``investee``'s operating profit."""

    holder: str
    investee: str
    share: Fraction


class ContractSpec(_Strict):
    """A multi-round supply contract between two firms (``docs/MODEL.md`` 17).

    From round ``start`` for ``duration`` rounds the buyer's orders in ``layer`` go to
    the seller first, up to ``quantity`` units a round, at the contract ``price`` (fixed,
    dollars per unit) or, with no ``price``, the seller's market price times
    ``1 + premium`` (indexed). Take-or-pay: the buyer pays for at least ``take_or_pay``
    of ``quantity`` each round whether it takes the units or not. ``prepayment`` is paid
    at the start and credited against the payments that follow.

    Attributes
    ----------
    name
        Identifier (defaults to ``buyer-seller-layer``).
    buyer, seller
        Firm names: the seller operates in ``layer``, the buyer in the layer just above.
    layer
        The seller's layer.
    quantity
        Units a round.
    price
        Fixed price per unit, dollars; ``None`` for an indexed price.
    premium
        Indexed contracts: the markup over the market price (``-0.1`` is a discount).
    start, duration
        First round and number of rounds.
    prepayment
        Paid by the buyer to the seller in round ``start``, dollars.
    take_or_pay
        Share of ``quantity`` paid for whether taken or not.
    """

    name: str = ""
    buyer: str
    seller: str
    layer: str
    quantity: Positive
    price: NonNeg | None = None
    premium: Annotated[float, Field(gt=-1, allow_inf_nan=False)] = 0.0
    start: Annotated[int, Field(ge=0)] = 0
    duration: Annotated[int, Field(ge=1)]
    prepayment: NonNeg = 0.0
    take_or_pay: Fraction = 1.0

    @model_validator(mode="after")
    def _named(self) -> ContractSpec:
        if not self.name:
            self.name = f"{self.buyer}-{self.seller}-{self.layer}"
        return self


class FinanceSpec(_Strict):
    """How firms pay for the buildout, and when they fail (``docs/MODEL.md`` 16).

    Off by default: investment is paid from cash, which may go negative, and nobody
    fails. On: each round a firm pays interest ``interest_rate * debt``; when its cash
    falls below ``min_cash`` it borrows up to its limit, ``loan_to_value`` times its
    book capital plus contracted revenue (backlog), then (if it ``raises_equity``)
    raises up to ``appetite * equity_multiple`` times its last revenue; a firm still
    short of cash fails (its capacity is sold to its layer's survivors at
    ``fire_sale_discount`` of book value). Cash above ``min_cash`` repays debt.
    Investors' appetite falls by ``appetite_drop`` after a round the firm lost money
    and recovers by ``appetite_recovery`` toward 1 after a profitable one.
    """

    enabled: bool = False
    interest_rate: Fraction = 0.02
    loan_to_value: Fraction = 0.5
    min_cash: NonNeg = 0.0
    equity_multiple: NonNeg = 2.0
    appetite_drop: Fraction = 0.5
    appetite_recovery: Fraction = 0.1
    fire_sale_discount: Fraction = 0.5


class LockInSpec(_Strict):
    """Switching costs that move with the play: memory of price hikes and data gravity.

    Both are off by default (zero ``hike_memory`` and ``gravity``); ``docs/MODEL.md`` 5.4
    gives the equations. Each round, after the clearing, every seller's *hike memory*
    ``h_s`` (utility units, as a switching cost) decays by ``hike_recovery`` and grows by
    ``hike_memory`` times the seller's hike ``x_s``, the share by which its price exceeds
    the price at its restrain markup; ``h_s`` is capped at ``hike_cap`` and subtracted
    from the seller's utility in every buyer's supplier logit (buyers qualify a second
    source after a hike: TSMC's "relationship durability", `000_e3319be9a08c4b37.txt`).
    Each buyer's *data gravity* ``g_bs`` at a seller in one of ``gravity_layers`` decays
    by ``gravity_decay`` and grows by ``gravity`` times the share of the buyer's market
    purchases the seller served that round, capped at ``gravity_cap``, and is added to the
    buyer's switching cost for that seller (000: "every Trainium hour booked is a
    customer one step deeper into the AWS data gravity well").

    Attributes
    ----------
    hike_memory
        Utility lost per round per unit of hike (``x = 0.3``: a price 30% above restrain).
    hike_recovery
        Share of the memory forgiven each round (per round, in ``[0, 1]``).
    hike_cap
        Largest memory (utility units).
    gravity
        Utility gained per round in which the buyer bought all its input from the seller.
    gravity_decay
        Share of the gravity lost each round (per round, in ``[0, 1]``).
    gravity_cap
        Largest gravity (utility units).
    gravity_layers
        The layers whose sellers gather data gravity (the clouds: ``["cloud"]``); not the
        top layer, whose buyers are consumers.
    """

    hike_memory: NonNeg = 0.0
    hike_recovery: Fraction = 0.1
    hike_cap: NonNeg = 1.0
    gravity: NonNeg = 0.0
    gravity_decay: Fraction = 0.05
    gravity_cap: NonNeg = 0.5
    gravity_layers: list[str] = Field(default_factory=list)

    @property
    def enabled(self) -> bool:
        """Whether either mechanism moves a switching cost."""
        return (self.hike_memory > 0 and self.hike_cap > 0) or (
            self.gravity > 0 and self.gravity_cap > 0 and bool(self.gravity_layers)
        )


class DemandSpec(_Strict):
    """Final demand at the top layer.

    ``logit``: ``Q_j = M s_j`` with
    ``s_j = exp((a_j - p_j)/mu) / (sum_k exp((a_k - p_k)/mu) + exp(a0/mu))`` (Calvano et
    al. 2020), ``a_j`` the seller's quality. ``linear``: inverse demand ``P = A - B Q``
    for a homogeneous good: the cheapest sellers serve first, sellers at the same price
    share equally, a full seller's excess spills (efficient rationing).

    ``volatility`` is the standard deviation of a mean-one log-normal shock to the market
    size each round, ``M_{t+1} = M_t (1 + g) exp(sigma e - sigma^2 / 2)``, ``e ~ N(0, 1)``
    drawn from the model's own shock generator (adoption is uncertain: the bubble case of
    `002_1456f2d9411f9331.txt`).

    ``expected_growth_premium`` is what the builders of capacity expect beyond the trend,
    per round: the default investment rule (``docs/MODEL.md`` 15.3) forecasts demand
    growing at ``g + premium`` (the buildout made ahead of demand on expectations, 002;
    0, the default: they expect the trend). Events that change ``g`` move the
    expectation with it.

    ``usage_elasticity`` (``epsilon``), ``usage_reference_ratio`` (``rho_ref``, the
    top price over its zero-markup cost at which usage is on trend) and
    ``usage_adjustment`` (``lambda``, per round) are the usage channel
    (``docs/MODEL.md`` 6.5): the price of capability over its cost this round,
    ``rho_t``, sets how far usage expands by the next, ``log U_{t+1} = (1 - lambda)
    log U_t + lambda epsilon log(rho_ref / rho_t)``, and the market size is multiplied by
    ``U_{t+1} / U_t``. Off (``epsilon = 0``) by default; ``001_098523a2e050d583.txt``:
    "10x capability drives 20x usage".
    """

    kind: Literal["logit", "linear"] = "logit"
    market_size: NonNeg = 100.0
    growth: Annotated[float, Field(ge=-1, allow_inf_nan=False)] = 0.0
    mu: Positive = 0.25
    outside_quality: Number = 0.0
    intercept: NonNeg = 10.0
    slope: Positive = 1.0
    volatility: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0
    expected_growth_premium: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] = 0.0
    usage_elasticity: NonNeg = 0.0
    usage_reference_ratio: Positive = 1.0
    usage_adjustment: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 1.0


class RegulatorSpec(_Strict):
    """Antitrust regulator (``docs/MODEL.md`` section 12).

    Each round (a quarter) and for each operation with no investigation open, an
    investigation opens with probability ``base_rate * stance *
    L((share - share_threshold)/share_width) * L((margin - margin_threshold +
    downstream_weight * (downstream margin - downstream_threshold))/margin_width)``,
    ``L`` the logistic function and the downstream margin the operating margin of the
    layers above the operation's. It ends closed without remedy (``closed_chance``), in
    commitments (a markup cap at ``cap_markup``, or at ``cap_fraction`` of the operation's
    restrain markup when lower, for ``cap_rounds``: ``commitment_chance``),
    in a structural remedy (the fine, the cap and the sale of ``divest_share`` of the
    operation's capacity to its rivals: ``structural_chance``), or else in an
    infringement decision: a fine of ``fine_rate`` of the operation's revenue over
    ``fine_rounds`` rounds (at most 10% of the firm's annual turnover) and the cap.
    """

    enabled: bool = True
    stance: Fraction = 0.5
    base_rate: Fraction = 0.2
    share_threshold: Fraction = 0.5
    margin_threshold: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] = 0.6
    share_width: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.05
    margin_width: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.05
    downstream_weight: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 0.0
    downstream_threshold: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] = 0.0
    fine_rate: Fraction = 0.05
    fine_rounds: Annotated[int, Field(ge=1, le=40)] = 1
    cap_markup: NonNeg = 1.0
    cap_fraction: Fraction | None = None
    cap_rounds: Annotated[int, Field(ge=0)] = 8
    closed_chance: Fraction = 0.0
    commitment_chance: Fraction = 0.0
    structural_chance: Fraction = 0.0
    divest_share: Fraction = 0.5

    @model_validator(mode="after")
    def _chances(self) -> RegulatorSpec:
        total = self.closed_chance + self.commitment_chance + self.structural_chance
        if total > 1.0 + 1e-12:
            raise ValueError(
                "closed_chance + commitment_chance + structural_chance must be at most 1 "
                f"(the rest is the chance of an infringement decision), got {total:g}"
            )
        return self


class ConditionSpec(_Strict):
    """A condition on last round's public data that makes an event fire."""

    metric: Literal["operating_margin", "gross_margin", "price", "quantity", "hhi", "demand"]
    layer: str | None = None
    above: Number | None = None
    below: Number | None = None

    @model_validator(mode="after")
    def _bound(self) -> ConditionSpec:
        if self.above is None and self.below is None:
            raise ValueError("a condition needs 'above' or 'below'")
        return self


class EventSpec(_Strict):
    """A scheduled (``round``) or conditional (``when``, from ``round`` on) event.

    Kinds
    -----
    trigger
        A named regime change (``name``): raises a flag every strategy sees, and applies
        ``set``.
    demand_shock
        Multiplies the market size by ``factor`` and sets growth to ``growth`` if given.
    cost_decline
        Unit costs in ``layer`` (all layers if none) fall by ``factor`` in total, spread
        geometrically over ``span`` rounds; with ``target = "input_coefficient"`` the
        input needed per unit of output falls instead (efficiency).
    new_generation
        A new hardware generation: capital in ``layer`` (and the layers above that run on
        it) is written down by ``writedown``; unit costs in ``layer`` fall by ``factor``.
    set
        Applies ``set`` (dotted path to value).

    Any kind may also sign ``contracts`` (``docs/MODEL.md`` 17: each starts ``start``
    rounds after the round the event takes effect, so a conditional event's contracts
    start when it fires) and end ``end_contracts`` (contract names, of the scenario or of
    an earlier event: their last round in force is the one before the event's, and their
    prepayment credit lapses to the seller: the buyers renege, or do not renew).
    """

    kind: Literal["trigger", "demand_shock", "cost_decline", "new_generation", "set"]
    round: Annotated[int, Field(ge=0)] = 0
    name: str = ""
    layer: str | None = None
    factor: Positive = 1.0
    growth: Annotated[float, Field(ge=-1, allow_inf_nan=False)] | None = None
    span: Annotated[int, Field(ge=1)] = 1
    writedown: Fraction = 0.0
    target: Literal["unit_cost", "input_coefficient"] = "unit_cost"
    enabled: bool = True
    when: ConditionSpec | None = None
    set: dict[str, Number | str | bool] = Field(default_factory=dict)
    contracts: list[ContractSpec] = Field(default_factory=list)
    end_contracts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _named(self) -> EventSpec:
        if self.kind == "trigger" and not self.name:
            raise ValueError("a trigger event needs a name")
        if not self.name:
            self.name = self.kind
        return self


class CalibrationSpec(_Strict):
    """A figure from the source articles that a default run should reproduce.

    ``window`` says which rounds the model's number is taken over: ``all`` (cumulative),
    ``first`` or ``last`` round. ``stackgame run`` prints the residual model - target and
    whether the model lies within ``tolerance`` of the target (its plausible range,
    ``target - tolerance`` to ``target + tolerance``: the articles give round numbers).
    A scenario's target table (``Scenario.targets``) holds the fuller form: a figure with
    its unit, period, range and source (``environment/targets.py``).
    """

    figure: str
    source: str
    firm: str
    layer: str | None = None
    metric: Literal["gross_margin", "operating_margin"]
    window: Literal["all", "first", "last"] = "all"
    target: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
    tolerance: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.05


class Scenario(_Strict):
    """A whole scenario: the stack, its firms and the rules of the game.

    Attributes
    ----------
    timing
        ``simultaneous`` (all layers choose markups at once: Cournot's complements along
        a chain) or ``sequential`` (layers decide bottom-up, each seeing this round's
        upstream prices: Spengler's successive monopolies).
    pricing
        ``ad_valorem`` (``price = cost * (1 + markup)``) or ``per_unit``
        (``price = cost + markup``, markup in dollars).
    markup_grid
        Markups a learning strategy may choose from.
    allow_integration
        Whether integration moves are honoured.
    start_quarter
        The calendar quarter of the first round (``"2025Q1"``; round 0 in the engine's
        numbering), with quarterly rounds: the run's header names the quarters it covers
        and a target table's dated windows (``"2025Q4"``) find their rounds by it.
        ``None``: rounds are not dated.
    discount_rate
        The rate ``r`` per round at which firms discount future payoffs
        (``docs/MODEL.md`` 21): a firm values a stream of payoffs as
        ``V = sum_t delta^t pi_t`` with ``delta = 1 / (1 + r)``, ``t = 0`` the first round.
        Tournaments, equilibria and theses score strategies by it. 0: every round counts
        the same (the textbook default).
    targets
        The scenario's target table (``environment/targets.py``, ``docs/MODEL.md`` 19): a
        built-in table's name (``environment/scenarios/targets/<name>.toml``) or a path
        to a TOML file, relative to the scenario file. ``stackgame run`` prints each
        target next to the model's number. Neither this nor ``start_quarter`` changes
        what is simulated: both are left out of :meth:`digest`.
    """

    name: str
    description: str = ""
    rounds: Annotated[int, Field(ge=1)] = 40
    round_length: str = "quarter"
    timing: Literal["simultaneous", "sequential"] = "simultaneous"
    pricing: Literal["ad_valorem", "per_unit"] = "ad_valorem"
    markup_grid: list[Number] = Field(default_factory=lambda: [0.0, 0.1, 0.25, 0.5, 1.0, 2.0])
    allow_integration: bool = True
    discount_rate: NonNeg = 0.0
    layers: list[LayerSpec]
    firms: list[FirmSpec]
    relations: list[RelationSpec] = Field(default_factory=list)
    stakes: list[StakeSpec] = Field(default_factory=list)
    demand: DemandSpec = Field(default_factory=DemandSpec)
    regulator: RegulatorSpec = Field(default_factory=RegulatorSpec)
    events: list[EventSpec] = Field(default_factory=list)
    contracts: list[ContractSpec] = Field(default_factory=list)
    finance: FinanceSpec = Field(default_factory=FinanceSpec)
    lock_in: LockInSpec = Field(default_factory=LockInSpec)
    calibration: list[CalibrationSpec] = Field(default_factory=list)
    start_quarter: str | None = None
    targets: str | None = None
    _origin: Path | None = PrivateAttr(default=None)

    @field_validator("start_quarter")
    @classmethod
    def _quarter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from stackgame.environment.targets import parse_quarter

        parse_quarter(value)  # raises ValueError naming the form
        return value.strip()

    @property
    def origin(self) -> Path | None:
        """The folder of the file the scenario was loaded from (``None``: not from a file)."""
        return self._origin

    def __eq__(self, other: object) -> bool:
        """Same fields, wherever each was loaded from (``origin`` is not compared)."""
        if not isinstance(other, Scenario):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable, as before

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        layer_names = [layer.name for layer in self.layers]
        _unique(layer_names, "layers")
        if not self.layers:
            raise ValueError("layers: a scenario needs at least one layer")
        _unique([f.name for f in self.firms], "firms")
        firms = {f.name: f for f in self.firms}
        for f in self.firms:
            for layer in f.ops:
                if layer not in layer_names:
                    raise _ref_error(f"firms.{f.name}.ops.{layer}", "layer", layer, layer_names)
        for i, spec in enumerate(self.layers):
            if spec.competition == "cournot" and i != len(self.layers) - 1:
                raise ValueError(f"layers.{spec.name}.competition: cournot only at the top")
            if not any(spec.name in f.ops for f in self.firms):
                raise ValueError(f"layers.{spec.name}: no firm operates in this layer")
        for k, r in enumerate(self.relations):
            where = f"relations[{k}]"
            for role in ("buyer", "seller"):
                if getattr(r, role) not in firms:
                    raise _ref_error(f"{where}.{role}", "firm", getattr(r, role), list(firms))
            if r.layer not in layer_names:
                raise _ref_error(f"{where}.layer", "layer", r.layer, layer_names)
            if r.layer not in firms[r.seller].ops:
                raise ValueError(f"{where}.seller: {r.seller} does not operate in {r.layer}")
            idx = layer_names.index(r.layer)
            if idx + 1 >= len(layer_names) or layer_names[idx + 1] not in firms[r.buyer].ops:
                raise ValueError(
                    f"{where}.buyer: {r.buyer} does not buy from {r.layer} "
                    "(it must operate in the layer just above)"
                )
        for k, s in enumerate(self.stakes):
            for role in ("holder", "investee"):
                if getattr(s, role) not in firms:
                    raise _ref_error(f"stakes[{k}].{role}", "firm", getattr(s, role), list(firms))
            if s.holder == s.investee:
                raise ValueError(f"stakes[{k}]: a firm cannot hold a stake in itself")
        held: dict[str, float] = {}
        for k, s in enumerate(self.stakes):  # more than 100% would pay out more than it earns
            held[s.investee] = held.get(s.investee, 0.0) + s.share
            if held[s.investee] > 1.0 + 1e-9:
                raise ValueError(
                    f"stakes[{k}].share: stakes in {s.investee} add up to "
                    f"{held[s.investee]:g}, more than 1"
                )
        _unique([e.name for e in self.events], "events")
        for f in self.firms:
            for layer, op in f.ops.items():
                if op.training is None:
                    continue
                k = layer_names.index(layer)
                if k == 0:
                    raise ValueError(
                        f"firms.{f.name}.ops.{layer}.training: the bottom layer has no "
                        "layer below to rent training compute from"
                    )
                if not self.layers[k - 1].capital_goods:
                    raise ValueError(
                        f"firms.{f.name}.ops.{layer}.training: the layer below "
                        f"({layer_names[k - 1]}) must be a capital-goods layer (installed "
                        "compute, whose output needs no input bought per unit)"
                    )
        if self.layers[0].capital_goods:
            raise ValueError(
                f"layers.{self.layers[0].name}.capital_goods: the bottom layer buys nothing"
            )
        for spec in self.layers:
            if spec.infrastructure_cost > 0 and not spec.capital_goods:
                raise ValueError(
                    f"layers.{spec.name}.infrastructure_cost: only a capital-goods layer "
                    "(capital_goods = true) installs infrastructure"
                )
        signed = [c.name for c in self.contracts]
        signed += [c.name for e in self.events for c in e.contracts]
        _unique(signed, "contracts (the scenario's and its events')")
        placed = [(f"contracts.{c.name}", c) for c in self.contracts]
        placed += [
            (f"events.{e.name}.contracts.{c.name}", c) for e in self.events for c in e.contracts
        ]
        for e in self.events:
            for name in e.end_contracts:
                if name not in signed:
                    raise _ref_error(f"events.{e.name}.end_contracts", "contract", name, signed)
        for where, contract in placed:
            for role in ("buyer", "seller"):
                if getattr(contract, role) not in firms:
                    raise _ref_error(
                        f"{where}.{role}", "firm", getattr(contract, role), list(firms)
                    )
            if contract.layer not in layer_names:
                raise _ref_error(f"{where}.layer", "layer", contract.layer, layer_names)
            if contract.layer not in firms[contract.seller].ops:
                raise ValueError(
                    f"{where}.seller: {contract.seller} does not operate in {contract.layer}"
                )
            idx = layer_names.index(contract.layer)
            if idx + 1 >= len(layer_names) or layer_names[idx + 1] not in firms[contract.buyer].ops:
                raise ValueError(
                    f"{where}.buyer: {contract.buyer} does not buy from {contract.layer} "
                    "(it must operate in the layer just above)"
                )
            if contract.buyer == contract.seller:
                raise ValueError(f"{where}.seller: a firm cannot contract with itself")
        _unique(self.lock_in.gravity_layers, "lock_in.gravity_layers")
        for layer in self.lock_in.gravity_layers:
            if layer not in layer_names:
                raise _ref_error("lock_in.gravity_layers", "layer", layer, layer_names)
            if layer == layer_names[-1]:
                raise ValueError(
                    f"lock_in.gravity_layers: {layer!r} is the top layer; its buyers are "
                    "consumers, who have no switching cost"
                )
        if self.lock_in.gravity > 0 and not self.lock_in.gravity_layers:
            raise ValueError(
                "lock_in.gravity: data gravity is set but lock_in.gravity_layers names no layer"
            )
        for k, c in enumerate(self.calibration):
            if c.firm not in firms:
                raise _ref_error(f"calibration[{k}].firm", "firm", c.firm, list(firms))
            if c.layer is not None and c.layer not in firms[c.firm].ops:
                raise ValueError(f"calibration[{k}].layer: {c.firm} does not operate in {c.layer}")
        raw: dict[str, Any] | None = None
        for k, e in enumerate(self.events):
            if e.layer is not None and e.layer not in layer_names:
                raise _ref_error(f"events[{k}].layer", "layer", e.layer, layer_names)
            if e.when is not None and e.when.layer not in (None, *layer_names):
                raise _ref_error(f"events[{k}].when.layer", "layer", e.when.layer, layer_names)
            if e.set and raw is None:
                raw = self.model_dump(mode="python")  # one copy for every path checked
            for path in e.set:
                assert raw is not None
                try:
                    _locate(raw, path)
                except ScenarioError as err:
                    raise ValueError(f"events[{k}].set: {err}") from None
        return self

    # -- convenience -------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        """Layer names, bottom of the stack first."""
        return [layer.name for layer in self.layers]

    def firm(self, name: str) -> FirmSpec:
        """The firm called ``name``."""
        for f in self.firms:
            if f.name == name:
                return f
        raise ScenarioError(f"unknown firm {name!r}; known: {', '.join(self.firm_names)}")

    @property
    def firm_names(self) -> list[str]:
        """Firm names in scenario order."""
        return [f.name for f in self.firms]

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: the scenario hash in every manifest."""
        data = self.model_dump(mode="json")
        # fields added after the first release (the buildout, lock-in, discounting, the
        # usage channel, the regulator's remedies) are left out while at their defaults,
        # so that a scenario that does not use them keeps the hash it had before
        _drop_defaults(data, _LATER_FIELDS["scenario"])
        _drop_defaults(data["demand"], _LATER_FIELDS["demand"])
        _drop_defaults(data["regulator"], _LATER_FIELDS["regulator"])
        for part in ("layers", "firms", "events"):
            for entry in data[part]:
                _drop_defaults(entry, _LATER_FIELDS[part])
        for key in _MEASUREMENT_FIELDS:  # what is measured and when, not what is simulated
            data.pop(key, None)
        for entry in data.get("calibration", []):
            if entry.get("tolerance") == _CALIBRATION_TOLERANCE:
                del entry["tolerance"]
        for entry in data["firms"]:  # (training, added later: left out where absent)
            for op in entry["ops"].values():
                if op.get("training") is None:
                    op.pop("training", None)
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def _drop_defaults(data: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Delete from ``data`` every key of ``defaults`` that holds its default value."""
    for key, default in defaults.items():
        if key in data and data[key] == default:
            del data[key]


_LATER_FIELDS: dict[str, dict[str, Any]] = {
    "scenario": {
        "contracts": [],
        "finance": FinanceSpec().model_dump(mode="json"),
        "lock_in": LockInSpec().model_dump(mode="json"),
        "discount_rate": 0.0,
    },
    "demand": {
        "expected_growth_premium": 0.0,
        "usage_elasticity": 0.0,
        "usage_reference_ratio": 1.0,
        "usage_adjustment": 1.0,
    },
    "layers": {"capital_goods": False, "install_lead_time": 1, "infrastructure_cost": 0.0},
    "firms": {"debt": 0.0, "outside_cash_flow": 0.0, "raises_equity": False},
    "regulator": {
        key: RegulatorSpec.model_fields[key].default
        for key in (
            "share_width",
            "margin_width",
            "downstream_weight",
            "downstream_threshold",
            "fine_rounds",
            "closed_chance",
            "commitment_chance",
            "structural_chance",
            "divest_share",
            "cap_fraction",
        )
    },
    "events": {"contracts": [], "end_contracts": []},
}


_MEASUREMENT_FIELDS = ("start_quarter", "targets")
_CALIBRATION_TOLERANCE = 0.05


def _unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{where}: the name {n!r} appears twice")
        seen.add(n)


def _ref_error(where: str, kind: str, name: str | None, known: list[str]) -> ValueError:
    return ValueError(f"{where}: unknown {kind} {name!r}; known: {', '.join(known)}")


# -- loading ---------------------------------------------------------------------------


def _entry_name(section: str, item: dict[str, Any]) -> str | None:
    """How an error names an entry of a list: its ``name`` (a contract: its default one)."""
    name = item.get("name")
    if not name and section == "contracts":
        name = _contract_name(item)
    return name


def _contract_name(item: dict[str, Any]) -> str | None:
    """The default name of a contract entry, ``buyer-seller-layer`` (``None``: not given)."""
    parts = [item.get(key) for key in ("buyer", "seller", "layer")]
    return "-".join(parts) if all(isinstance(p, str) for p in parts) else None  # type: ignore[arg-type]


def from_dict(
    raw: dict[str, Any], source: str = "<scenario>", origin: Path | None = None
) -> Scenario:
    """Validate a scenario given as a dictionary (the parsed TOML).

    ``origin`` is the folder of the scenario's file: a relative ``targets`` path is read
    from there.
    """
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(f"{source}: {format_validation(err, raw, _entry_name)}") from None
    scenario._origin = origin
    _check_strategies(scenario, source)
    _check_targets(scenario, source)
    return scenario


def _check_targets(scenario: Scenario, source: str) -> None:
    """Load the scenario's target table and check it against the scenario.

    Its names and windows (``targets.check_against``) and its parameters' paths: each
    must name a numeric field (its value may lie outside the fit's bounds: a what-if
    may move it there). A problem is one :class:`ScenarioError` naming the target file
    and the field.
    """
    from stackgame.environment import targets

    if scenario.targets is None:
        return
    path = targets.target_path(scenario.targets, scenario.origin)
    try:
        table = targets.load_table(path)
        targets.check_against(table, scenario, str(path))
    except targets.TargetError as err:
        raise ScenarioError(f"{source}: targets: {err}") from None
    raw = scenario.model_dump(mode="python") if table.parameters else {}
    for p in table.parameters:
        where = f"{source}: targets: {path}: parameters.{p.path}"
        try:
            container, key = _locate(raw, p.path)
        except ScenarioError as err:
            raise ScenarioError(f"{where}: {err}") from None
        value = container[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{where}: not a number (got {value!r})")


def _check_strategies(scenario: Scenario, source: str) -> None:
    from stackgame.strategies.registry import UnknownStrategyError, get

    for f in scenario.firms:
        try:
            cls = get(f.strategy)
        except UnknownStrategyError as err:
            raise ScenarioError(f"{source}: firms.{f.name}.strategy: {err}") from None
        if f.strategy_params:
            try:
                cls(**f.strategy_params)
            except (TypeError, ValueError) as err:
                raise ScenarioError(
                    f"{source}: firms.{f.name}.strategy_params: {f.strategy} does not take "
                    f"these parameters ({err})"
                ) from None


def load(path: str | Path) -> Scenario:
    """Load and validate a scenario TOML file."""
    file = Path(path)
    return from_dict(read_toml(file, error=ScenarioError), str(file), file.resolve().parent)


@functools.lru_cache(maxsize=1)
def _builtin_names() -> tuple[str, ...]:
    folder = resources.files("stackgame.environment") / "scenarios"
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with the package."""
    return list(_builtin_names())


def identity(scenario: str | Path) -> str:
    """What stored results of ``scenario`` are keyed by: its content, not only its name.

    A file: the SHA-256 of its bytes. A built-in: its name and the SHA-256 of its text, so
    that results recorded before a built-in changed (a refit of ``ai-stack-2026``) are not
    taken for results of the new one when a batch, a game or the theses resume. Anything
    else (an unknown name, reported elsewhere): the name itself.
    """
    path = Path(scenario)
    if path.suffix == ".toml" and path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    name = str(scenario)
    if name in _builtin_names():
        return f"{name}:{hashlib.sha256(builtin_text(name).encode()).hexdigest()}"
    return name


def builtin_text(name: str) -> str:
    """The TOML text of a built-in scenario, comments included."""
    if name not in builtin_names():
        raise ScenarioError(
            f"unknown scenario {name!r}; built-in: {', '.join(builtin_names())} "
            "(or pass a path to a .toml file)"
        )
    folder = resources.files("stackgame.environment") / "scenarios"
    return (folder / f"{name}.toml").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=32)
def _builtin(name: str) -> Scenario:
    """A built-in scenario, parsed and validated once (scenarios are never mutated)."""
    return from_dict(tomllib.loads(builtin_text(name)), f"{name} (built-in)")


def resolve(scenario: str | Path | Scenario) -> Scenario:
    """A Scenario from a built-in name, a path to a TOML file, or a Scenario."""
    if isinstance(scenario, Scenario):
        return scenario
    text = str(scenario)
    if text in builtin_names():
        return _builtin(text)
    if text.endswith(".toml") or Path(text).exists():
        return load(text)
    raise ScenarioError(
        f"unknown scenario {text!r}; built-in: {', '.join(builtin_names())} "
        "(or pass a path to a .toml file)"
    )


# -- dotted-path overrides ------------------------------------------------------------


def _did_you_mean(key: str, known: Any) -> str:
    """``"; did you mean 'stance'?"`` for the closest known name, or nothing."""
    close = difflib.get_close_matches(key, [str(k) for k in known], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _step(node: Any, key: str, path: str) -> tuple[Any, Any]:
    """Return (container, key) for one step of a dotted path; lists are indexed by name."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, dict) and item.get("name") == key:
                return node, i
        if key.isdigit() and int(key) < len(node):
            return node, int(key)
        names = [str(item.get("name")) for item in node if isinstance(item, dict)]
        raise ScenarioError(
            f"{path}: no entry named {key!r}; known: {', '.join(names)}{_did_you_mean(key, names)}"
        )
    if isinstance(node, dict):
        return node, key
    raise ScenarioError(f"{path}: cannot descend into a {type(node).__name__}")


def apply_overrides(
    scenario: Scenario, overrides: dict[str, Any], *, validate: bool = True
) -> Scenario:
    """A copy of ``scenario`` with fields changed by dotted path.

    Lists are addressed by the ``name`` of their entries: ``firms.nvidia.strategy``,
    ``layers.cloud.choice_mu``, ``events.nvidia_value_pricing.round``. A path that names
    no existing field raises :class:`ScenarioError`.
    """
    raw = copy.deepcopy(scenario.model_dump(mode="python"))
    for path, value in overrides.items():
        container, k = _locate(raw, path)
        if isinstance(value, float) and not math.isfinite(value):
            raise ScenarioError(f"{path}: must be a finite number (got {value})")
        changed = not isinstance(container, dict) or container.get(k) != value
        container[k] = value
        params = path[: -len("strategy")] + "strategy_params"
        if k == "strategy" and changed and isinstance(container, dict) and params not in overrides:
            container["strategy_params"] = {}  # the old strategy's parameters (not the same's)
    if not validate:
        return scenario
    return from_dict(raw, f"{scenario.name} (overrides)", scenario.origin)


def _locate(raw: dict[str, Any], path: str) -> tuple[Any, Any]:
    """The container and key a dotted path names in a dumped scenario (no copy, no change)."""
    keys = path.split(".")
    node: Any = raw
    for depth, key in enumerate(keys):
        container, k = _step(node, key, path)
        if not isinstance(container, list) and k not in container:
            raise ScenarioError(
                f"{path}: no field {key!r} there; known: {', '.join(map(str, container))}"
                + _did_you_mean(key, container)
            )
        if depth == len(keys) - 1:
            return container, k
        node = container[k]
    raise ScenarioError(f"{path}: empty path")
