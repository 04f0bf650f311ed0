"""The five theses of ``STACK_FACTS.md`` as predicates on results, and where each holds.

The source articles disagree on purpose; the model does not pick a side but says under
which conditions each thesis holds. Each thesis is split into *claims*. A claim is a named
predicate on one run's flat metrics (:meth:`RunResult.metrics` plus a few per-round
extras, see :func:`run_metrics`) that returns the statistic it tests; the claim holds in
a run when that statistic is positive. A claim is either

* *within* a variant: evaluated on each run of every variant (so the table shows under
  which conditions it holds), or
* a *contrast*: evaluated on the pair (treatment variant, reference variant) run with the
  same seed (common random numbers), for the treatments that matter.

For each claim and condition the evaluation reports "positive in k of n seeds", the mean
of the statistic with a 95% Student-t interval over the seeds (for a contrast, over the
paired differences), and a verdict that the interval decides (:func:`verdict`): ``holds``
when the interval lies above zero (the claimed direction), ``fails`` when it lies below
zero, ``undecided`` when it contains zero or there is no interval (one seed: no interval,
said in ``note``), and ``n/a`` when the scenario lacks a firm, layer or event the claim
needs. A claim positive on every one of three noisy seeds is therefore not yet said to
hold. Each thesis then gets an overall verdict over its conditions (:func:`conclusions`):
it holds in a condition when every claim evaluated there holds, fails when any fails, and
is undecided otherwise; its sentence reads "holds when ..., fails when ..., undecided when
...".

The variants (:func:`variants`) change one thing at a time from the scenario as given
(the built-in ``ai-stack-2026`` has every trigger off): each regime-change trigger of
``000_e3319be9a08c4b37.txt`` on (and all three at once), upstream extracting (Nvidia and
TSMC on ``always_extract``), the regulator's stance low or high, a demand boom or the bust
of ``002_1456f2d9411f9331.txt``, integration forbidden; and, for the buildout
(``docs/MODEL.md`` 15, 17), the new hardware generation switched off, a lab
(:data:`SUPPLY_LAB`) that secures supply early against the same lab restraining without
contracts, and the bust with take-or-pay supply contracts against the bust without any.

Claims that hold by construction are not claims. Every claim was checked for it; two
were dropped (their codes are retired, not reused):

* old 3b, "TSMC long-term agreements raise the later foundry price": the trigger's
  ``set`` table raises TSMC's restraint markup from 1.0 to 1.5 and the statistic read the
  price that markup sets, so it echoed the scenario's parameter; and the trigger is not a
  contract. Replaced by 3c and 3d, which test early contracts themselves
  (``secures_supply_early``) against the same lab without them.
* old 4b, "apps revenue = final spend and revenue falls down the stack": the first half is
  an identity of the model (the top layer's revenue *is* final spend, section 7.3), the
  second was nearly one in a flow market (a layer's revenue is its inputs plus its value
  added). Replaced by 4c, "the buildout is paid from what flows down": cumulative
  investment within the cloud layer's cumulative revenue, which fails when the clouds
  build ahead of the money coming down.

The rest can fail in the model and are kept: margins, shares and HHI depend on the
strategies, the parameters and the demand draws (1a, 2a, 2b, 4a, 5a), and each contrast
compares two runs whose difference has no sign fixed by construction (1b-1e, 3a, 5b);
1d and 1e compare payoffs discounted at the scenario's rate (or ``--discount-rate``).
The new-generation write-down is charged to the layer above the chips by construction,
so 2c does not test *where* it is charged but who ends up poorer once prices, investment
and the lower book value after it have played out.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stackgame import seeds
from stackgame.stats import mean_ci

Metrics = Mapping[str, float]

TRIGGER_EVENTS = ("nvidia_value_pricing", "tsmc_long_term_agreements", "custom_silicon_sale")

# -- variants ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One condition: a name, what it changes, and the dotted overrides that change it."""

    name: str
    description: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


AFTER_ROUNDS = 8
"""Rounds a switched-on event leaves before the end of the run: two years of quarterly
rounds, so that a claim about its effect reads several rounds after it, not the horizon.
"""


def latest_event_round(rounds: int) -> int:
    """The latest round a variant's event may fire in a run of ``rounds`` rounds.

    ``rounds - AFTER_ROUNDS`` when the run is at least twice :data:`AFTER_ROUNDS` long
    (24 rounds: round 16, leaving rounds 16 to 23 after it); in a shorter run the middle,
    ``rounds // 2`` (at least 1), which leaves half the run after it.
    """
    if rounds >= 2 * AFTER_ROUNDS:
        return rounds - AFTER_ROUNDS
    return max(1, rounds // 2)


def event_round(scheduled: int, rounds: int) -> int:
    """The round a variant fires an event scheduled for ``scheduled``.

    Moved earlier, to :func:`latest_event_round`, when it would leave too few rounds after it.
    """
    return min(scheduled, latest_event_round(rounds))


def event_rounds(rounds: int, scenario: Any = None) -> dict[str, int]:
    """The rounds the windows of the buildout claims start: ``bust`` and ``generation``.

    ``bust``: the demand bust's round as :func:`variants` schedules it (:func:`event_round`:
    moved earlier when it would leave fewer than :data:`AFTER_ROUNDS` rounds after it);
    ``generation``: the new hardware generation's round as scheduled (it is on in the
    scenario as given, so it is not moved). An event the scenario lacks has no window.
    """
    out: dict[str, int] = {}
    bust = _event_round(scenario, "demand_bust")
    if bust is not None:
        out["bust"] = event_round(bust, rounds)
    generation = _event_round(scenario, "new_generation")
    if generation is not None:
        out["generation"] = generation
    return out


GENERATION_WINDOW = 4
"""Rounds after a new hardware generation the write-down claim (2c) looks at: a year."""

SUPPLY_LAB = "anthropic"
"""The lab of the early-supply contrast (3c, 3d): ``002_1456f2d9411f9331.txt``, "the labs
that secured supply in 2025 will determine inference pricing"."""

CONTRACTED = (("aws", "anthropic"), ("microsoft", "openai"))
"""(seller, buyer) of the cloud supply contracts of the ``bust_contracts`` variant: AWS's
Anthropic deal of over $100B in its backlog (``000_e3319be9a08c4b37.txt``) and Azure's
OpenAI capacity."""


def bust_contracts(rounds: int, scenario: Any = None) -> list[dict[str, Any]]:
    """The scenario's contracts plus take-or-pay cloud contracts that outlast the run.

    One contract per :data:`CONTRACTED` pair: from round 0 until after the last round (so
    the seller still has a backlog at the end), a quarter of the seller's cloud capacity at
    the start (the clouds host the labs' training as well as their inference: a half
    was more than a lab could pay for, and it failed before the bust), indexed at the
    market price (no premium: only the take-or-pay obligation differs from the spot
    market), take-or-pay 1. Pass the resolved ``scenario`` to keep
    its own contracts and size the new ones (without it: one unit a round).
    """
    own: list[dict[str, Any]] = []
    capacity: dict[str, float] = {}
    if scenario is not None:
        own = [c.model_dump(mode="json") for c in scenario.contracts]
        for firm in scenario.firms:
            cloud = firm.ops.get("cloud")
            if cloud is not None:
                capacity[firm.name] = float(cloud.capacity)
    added = [
        {
            "name": f"bust-{buyer}-{seller}-cloud",
            "buyer": buyer,
            "seller": seller,
            "layer": "cloud",
            "quantity": 0.25 * capacity.get(seller, 4.0),
            "start": 0,
            "duration": rounds + 4,
            "take_or_pay": 1.0,
        }
        for seller, buyer in CONTRACTED
    ]
    return own + added


def variants(rounds: int, scenario: Any = None) -> list[Variant]:
    """The variants that matter for the theses, for runs of ``rounds`` rounds.

    A trigger or the demand bust that would leave fewer than :data:`AFTER_ROUNDS` rounds
    after it (or fewer than half the run, in a run shorter than twice that) is moved
    earlier, to :func:`latest_event_round`, so that its effect can show within the
    horizon: in the built-in 24-round scenario trigger 3 (scheduled in round 20) fires in
    round 16, with the other triggers' rounds (16 and 12) and the bust's (14) as
    scheduled. Pass the resolved ``scenario`` to read the scheduled rounds (else they are
    left as they are) and to keep its own contracts in ``bust_contracts``.
    """

    def at(name: str) -> dict[str, Any]:
        out: dict[str, Any] = {f"events.{name}.enabled": True}
        scheduled = _event_round(scenario, name)
        if scheduled is not None and event_round(scheduled, rounds) != scheduled:
            out[f"events.{name}.round"] = event_round(scheduled, rounds)
        return out

    every = {k: v for name in TRIGGER_EVENTS for k, v in at(name).items()}
    lab = f"firms.{SUPPLY_LAB}"
    return [
        Variant("baseline", "the scenario as given (built-in: every trigger off)"),
        Variant(
            "nvidia_value_pricing",
            "trigger 1: Nvidia moves to value-based pricing",
            at("nvidia_value_pricing"),
        ),
        Variant(
            "tsmc_long_term_agreements",
            "trigger 2: TSMC long-term agreements",
            at("tsmc_long_term_agreements"),
        ),
        Variant(
            "custom_silicon_sale",
            "trigger 3: Google sells TPUs as a chip business",
            at("custom_silicon_sale"),
        ),
        Variant("all_triggers", "the three triggers", every),
        Variant(
            "upstream_extracts",
            "Nvidia and TSMC always extract (no voluntary restraint)",
            {"firms.nvidia.strategy": "always_extract", "firms.tsmc.strategy": "always_extract"},
        ),
        Variant("regulator_low", "antitrust stance 0.1 (lax)", {"regulator.stance": 0.1}),
        Variant("regulator_high", "antitrust stance 0.9 (aggressive)", {"regulator.stance": 0.9}),
        Variant("demand_boom", "final demand grows 15% a quarter", {"demand.growth": 0.15}),
        Variant(
            "demand_bust",
            "the bubble bursts mid-run (market x0.6, then shrinking)",
            at("demand_bust"),
        ),
        Variant("no_integration", "integration moves not honoured", {"allow_integration": False}),
        Variant(
            "no_new_generation",
            "no new hardware generation (no write-down of the clouds' chips)",
            {"events.new_generation.enabled": False},
        ),
        Variant(
            "lab_secures_supply",
            f"{SUPPLY_LAB} secures supply early: fixed-price take-or-pay contracts with its "
            "clouds in round 1, for the rest of the run, then restrains",
            {
                f"{lab}.strategy": "secures_supply_early",
                f"{lab}.strategy_params": {"duration": rounds},
            },
        ),
        Variant(
            "lab_restrains",
            f"{SUPPLY_LAB} restrains, without contracts (the reference of lab_secures_supply)",
            {f"{lab}.strategy": "always_restrain"},
        ),
        Variant(
            "bust_contracts",
            "the bust, with take-or-pay cloud contracts (AWS-Anthropic, Microsoft-OpenAI) "
            "signed before it",
            {**at("demand_bust"), "contracts": bust_contracts(rounds, scenario)},
        ),
        Variant(
            "bust_no_contracts",
            "the bust, with every supply contract removed",
            {**at("demand_bust"), "contracts": []},
        ),
    ]


def _event_round(scenario: Any, name: str) -> int | None:
    if scenario is None:
        return None
    for event in scenario.events:
        if event.name == name:
            return int(event.round)
    return None


# -- per-run metrics -------------------------------------------------------------------------


def run_metrics(
    result: Any, windows: Mapping[str, int] | None = None, discount_rate: float | None = None
) -> dict[str, float]:
    """Flat metrics of a run: :meth:`RunResult.metrics` plus per-round extras.

    Per firm, its payoff: ``discounted_payoff.firm.<f>`` (its discounted value per round
    at ``discount_rate``, the scenario's when ``None``: the score strategies are compared
    by, ``docs/MODEL.md`` 21) and ``mean_payoff.firm.<f>`` (undiscounted).

    Extras: ``hhi.layer.<l>.first`` and ``.last`` (quantity HHI in the first and last
    round), ``price.layer.<l>.late`` (revenue over quantity, averaged over the second half
    of the run), ``revenue.layer.<l>`` (cumulative), ``investment`` (cumulative capex),
    and per firm ``gross_margin.firm.<f>.late`` (second half), ``backlog.firm.<f>`` (at
    the end) and ``failed.firm.<f>`` (1 if it failed).

    ``windows`` maps a tag (``bust``, ``generation``) to the round its event takes effect;
    for each whose round is inside the run, per-round means over the rounds before it and
    from it on (``generation``: :data:`GENERATION_WINDOW` rounds from it):
    ``operating_profit.layer.<l>.<when>_<tag>``, ``revenue.layer.<l>.<when>_<tag>``,
    ``profit.firm.<f>.<when>_<tag>``, ``revenue.firm.<f>.<when>_<tag>``,
    ``final_spend.<when>_<tag>``, ``investment.<when>_<tag>`` with ``<when>`` ``before``
    or ``after``; and ``failed.firm.<f>.after_<tag>`` (1 if it failed from that round on).
    """
    out = dict(result.metrics())
    if hasattr(result, "discounted_payoffs"):  # (a stand-in result in a test may lack it)
        for name, value in result.discounted_payoffs(discount_rate).items():
            out[f"discounted_payoff.firm.{name}"] = value
        for name, value in result.payoffs().items():
            out[f"mean_payoff.firm.{name}"] = value
    hhi = np.asarray(result.layers["hhi"], dtype=float)
    rev = np.asarray(result.layers["revenue"], dtype=float)
    qty = np.asarray(result.layers["quantity"], dtype=float)
    oper = np.asarray(result.layers["operating_profit"], dtype=float)
    price = np.divide(rev, qty, out=np.zeros_like(rev), where=qty > 1e-12)
    n = rev.shape[0]
    half = n // 2
    for k, name in enumerate(result.layer_names):
        out[f"hhi.layer.{name}.first"] = float(hhi[0, k])
        out[f"hhi.layer.{name}.last"] = float(hhi[-1, k])
        out[f"price.layer.{name}.late"] = float(price[half:, k].mean())
        out[f"revenue.layer.{name}"] = float(rev[:, k].sum())
    summary = result.summary
    flows = summary.get("money_flows", [])
    spend = np.asarray(result.rounds["final_spend"], dtype=float)
    invest = np.array([float(r["investment"]) for r in flows]) if flows else np.zeros(n)
    out["investment"] = float(summary.get("investment", 0.0))
    frev = np.asarray(result.firms["revenue"], dtype=float)
    fgross = np.asarray(result.firms["gross_profit"], dtype=float)
    fprofit = np.asarray(result.firms["profit"], dtype=float)
    failed_at = {f["name"]: f.get("failed") for f in summary["firms"]}
    for i, name in enumerate(result.firm_names):
        late = frev[half:, i].sum()
        if late > 1e-12:
            out[f"gross_margin.firm.{name}.late"] = float(fgross[half:, i].sum() / late)
        out[f"failed.firm.{name}"] = 0.0 if failed_at.get(name) is None else 1.0
    for row in summary["firms"]:
        out[f"backlog.firm.{row['name']}"] = float(row.get("backlog", 0.0))
    for tag, start in (windows or {}).items():
        if not 0 < start < n:
            continue
        stop = min(n, start + GENERATION_WINDOW) if tag == "generation" else n
        spans = {"before": slice(0, start), "after": slice(start, stop)}
        for when, span in spans.items():
            key = f"{when}_{tag}"
            for k, name in enumerate(result.layer_names):
                out[f"operating_profit.layer.{name}.{key}"] = float(oper[span, k].mean())
                out[f"revenue.layer.{name}.{key}"] = float(rev[span, k].mean())
            for i, name in enumerate(result.firm_names):
                out[f"profit.firm.{name}.{key}"] = float(fprofit[span, i].mean())
                out[f"revenue.firm.{name}.{key}"] = float(frev[span, i].mean())
            out[f"final_spend.{key}"] = float(spend[span].mean())
            out[f"investment.{key}"] = float(invest[span].mean())
        for name in result.firm_names:
            at = failed_at.get(name)
            out[f"failed.firm.{name}.after_{tag}"] = 0.0 if at is None or at < start else 1.0
    return out


def thesis_task(task: Any) -> dict[str, float]:
    """Run one variant under one seed (module level, for the executor's process pool)."""
    from stackgame.simulation.simulate import simulate

    p = task.params
    result = simulate(
        p["scenario"], rounds=p["rounds"], seed=int(task.seed), overrides=dict(p["overrides"])
    )
    return run_metrics(result, p.get("windows"), p.get("discount_rate"))


# -- the predicates ----------------------------------------------------------------------------


def _layer_share(m: Metrics, *layers: str) -> float:
    return sum(m[f"value_share.layer.{name}"] for name in layers)


def _firms(m: Metrics) -> list[str]:
    return sorted(k[len("value_share.firm.") :] for k in m if k.startswith("value_share.firm."))


def labs_outearn_chips(m: Metrics) -> float:
    """Thesis 1a: ``operating_margin(models) - operating_margin(chips)`` (holds if > 0)."""
    return m["operating_margin.layer.models"] - m["operating_margin.layer.chips"]


def value_moves_upstream(treated: Metrics, reference: Metrics) -> float:
    """Thesis 1b: rise of the upstream (foundry + chips) value share over the reference."""
    return _layer_share(treated, "foundry", "chips") - _layer_share(reference, "foundry", "chips")


def chips_share_rises(treated: Metrics, reference: Metrics) -> float:
    """Thesis 1c: rise of the chips layer's value share over the reference."""
    return _layer_share(treated, "chips") - _layer_share(reference, "chips")


def restraint_pays_nvidia(treated: Metrics, reference: Metrics) -> float:
    """Thesis 1d: Nvidia's discounted payoff per round restraining less extracting."""
    return treated["discounted_payoff.firm.nvidia"] - reference["discounted_payoff.firm.nvidia"]


def restraint_pays_tsmc(treated: Metrics, reference: Metrics) -> float:
    """Thesis 1e: TSMC's discounted payoff per round restraining less extracting."""
    return treated["discounted_payoff.firm.tsmc"] - reference["discounted_payoff.firm.tsmc"]


def nvidia_captures_rent(m: Metrics) -> float:
    """Thesis 2a: Nvidia's value share minus the largest other firm's (holds if > 0)."""
    others = [m[f"value_share.firm.{f}"] for f in _firms(m) if f != "nvidia"]
    return m["value_share.firm.nvidia"] - max(others)


def cloud_squeezed(m: Metrics) -> float:
    """Thesis 2b: ``min(margin(chips), margin(models)) - margin(cloud)``, operating margins."""
    chips, models = m["operating_margin.layer.chips"], m["operating_margin.layer.models"]
    return min(chips, models) - m["operating_margin.layer.cloud"]


def infrastructure_durable(treated: Metrics, reference: Metrics) -> float:
    """Thesis 3a: foundry + chips value share in a bust minus in a boom (holds if > 0)."""
    return _layer_share(treated, "foundry", "chips") - _layer_share(reference, "foundry", "chips")


def models_consolidate(m: Metrics) -> float:
    """Thesis 4a: models-layer HHI in the last round minus in the first (holds if > 0)."""
    return m["hhi.layer.models.last"] - m["hhi.layer.models.first"]


def _most_integrated(m: Metrics) -> tuple[list[str], list[str]]:
    firms = _firms(m)
    layers = {f: m[f"layers.firm.{f}"] for f in firms}
    top = max(layers.values())
    return [f for f in firms if layers[f] == top], [f for f in firms if layers[f] < top]


def integrator_wins(m: Metrics) -> float:
    """Thesis 5a: does a firm in the most layers have the largest value share.

    Returns the best value share among the firms in the most layers minus the best among
    the others (holds if > 0; ``nan`` when every firm spans as many layers).
    """
    top, rest = _most_integrated(m)
    if not rest:
        return float("nan")
    return max(m[f"value_share.firm.{f}"] for f in top) - max(
        m[f"value_share.firm.{f}"] for f in rest
    )


def integration_pays(treated: Metrics, reference: Metrics) -> float:
    """Thesis 5b: the most-integrated firms' best value share, integration allowed minus not."""

    def best(m: Metrics) -> float:
        return max(m[f"value_share.firm.{f}"] for f in _most_integrated(m)[0])

    return best(treated) - best(reference)


def _layers(m: Metrics) -> list[str]:
    return sorted(k[len("value_share.layer.") :] for k in m if k.startswith("value_share.layer."))


def _loss(treated: Metrics, reference: Metrics, layer: str, tag: str) -> float:
    """Operating profit a layer loses per dollar of its reference revenue, after ``tag``."""
    key = f"layer.{layer}.after_{tag}"
    revenue = reference[f"revenue.{key}"]
    if not revenue > 1e-12:
        return float("nan")
    return (reference[f"operating_profit.{key}"] - treated[f"operating_profit.{key}"]) / revenue


def generation_hits_buyer(treated: Metrics, reference: Metrics) -> float:
    """Thesis 2c: who carries a new hardware generation: the cloud layer, not the chips.

    With the generation (treated) against without it (reference), the operating profit
    each layer loses in the :data:`GENERATION_WINDOW` rounds from the event on, per dollar
    of its reference revenue: cloud's loss minus chips' (holds if > 0: the buyer of the
    capital goods ends up poorer than the maker; ``001_098523a2e050d583.txt``, "who gets
    paid when the chips start aging").
    """
    return _loss(treated, reference, "cloud", "generation") - _loss(
        treated, reference, "chips", "generation"
    )


def supply_secured_margin(treated: Metrics, reference: Metrics) -> float:
    """Thesis 3c: the lab that secured supply early earns a higher later gross margin.

    :data:`SUPPLY_LAB`'s gross margin over the second half of the run, securing supply
    early minus restraining without contracts (same posture, so the difference is what it
    pays for its inputs; holds if > 0).
    """
    key = f"gross_margin.firm.{SUPPLY_LAB}.late"
    return treated[key] - reference[key]


def supply_secured_price(treated: Metrics, reference: Metrics) -> float:
    """Thesis 3d: early supply contracts lower the later inference (models-layer) price.

    Relative fall of the models layer's price over the second half of the run, a lab
    securing supply early against it restraining without contracts (holds if > 0).
    """
    ref = reference["price.layer.models.late"]
    if not ref > 1e-12:
        return float("nan")
    return (ref - treated["price.layer.models.late"]) / ref


def chips_follow_investment(treated: Metrics, reference: Metrics) -> float:
    """Thesis 3e: in the bust, chips revenue falls more than final spend (the buildout).

    From the bust on, bust (treated) against no bust (reference): final spend's ratio
    minus the chips layer's revenue ratio (holds if > 0: chip makers are paid by the
    clouds' investment, which falls harder than the demand it serves).
    """
    spend = reference["final_spend.after_bust"]
    chips = reference["revenue.layer.chips.after_bust"]
    if not (spend > 1e-12 and chips > 1e-12):
        return float("nan")
    return (
        treated["final_spend.after_bust"] / spend
        - treated["revenue.layer.chips.after_bust"] / chips
    )


def bust_hits_cloud(treated: Metrics, reference: Metrics) -> float:
    """Thesis 3f: who loses money in the bust: the cloud layer loses the most.

    From the bust on, each layer's lost operating profit per dollar of its reference
    revenue (:func:`_loss`): cloud's minus the largest other layer's (holds if > 0: the
    holders of the idle capacity lose most; if not, the statistic says by how much the
    worst-hit other layer lost more).
    """
    losses = {name: _loss(treated, reference, name, "bust") for name in _layers(treated)}
    cloud = losses.pop("cloud") if "cloud" in losses else _loss(treated, reference, "cloud", "bust")
    rest = [x for x in losses.values() if not math.isnan(x)]
    if not rest:
        return float("nan")
    return cloud - max(rest)


def _drop(m: Metrics, firm: str) -> float:
    """A firm's fall in operating profit a round, before the bust minus after it."""
    return m[f"profit.firm.{firm}.before_bust"] - m[f"profit.firm.{firm}.after_bust"]


def contracts_protect(treated: Metrics, reference: Metrics) -> float:
    """Thesis 3g: a seller with take-or-pay backlog loses less in the bust.

    The sellers are the firms with a backlog at the end of the treated run (the bust
    with contracts). Their summed fall in operating profit a round from before the bust
    to after it, without contracts minus with them, over their summed revenue a round
    before the bust without contracts (holds if > 0; ``nan`` when no firm has a backlog).
    """
    sellers = [f for f in _firms(treated) if treated.get(f"backlog.firm.{f}", 0.0) > 1e-9]
    revenue = sum(reference[f"revenue.firm.{f}.before_bust"] for f in sellers)
    if not sellers or not revenue > 1e-12:
        return float("nan")
    return sum(_drop(reference, f) - _drop(treated, f) for f in sellers) / revenue


def _casualties(m: Metrics) -> int:
    return sum(
        1
        for f in _firms(m)
        if m[f"failed.firm.{f}.after_bust"] > 0 or m[f"profit.firm.{f}.after_bust"] < 0
    )


def bust_casualties(treated: Metrics, reference: Metrics) -> float:
    """Thesis 3h: the bust has casualties.

    Firms that fail from the bust on or make an operating loss a round after it, with the
    bust minus without (holds if > 0).
    """
    return float(_casualties(treated) - _casualties(reference))


def buildout_paid_from_below(m: Metrics) -> float:
    """Thesis 4c: the buildout is paid from the money flowing down the stack.

    ``(revenue(cloud) - investment) / revenue(cloud)``, cumulative: holds if > 0, when the
    capital goods the clouds bought cost less than what flowed down to them; fails when
    they built ahead of it (cash, and with finance, debt). ``nan`` without investment.
    """
    cloud = m["revenue.layer.cloud"]
    if not m["investment"] > 1e-12 or not cloud > 1e-12:
        return float("nan")
    return (cloud - m["investment"]) / cloud


# -- the theses ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One testable part of a thesis.

    Attributes
    ----------
    code
        Short id (``1a``).
    text
        The predicate in words.
    predicate
        ``f(metrics) -> statistic`` (within) or ``f(treated, reference) -> statistic``
        (contrast); the claim holds in a run when the statistic is positive.
    reference
        For a contrast, the reference variant; ``None`` for a within claim.
    treatments
        For a contrast, the variants compared with the reference.
    """

    code: str
    text: str
    predicate: Callable[..., float]
    reference: str | None = None
    treatments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thesis:
    """A thesis of ``STACK_FACTS.md`` with its source article and claims."""

    number: int
    statement: str
    source: str
    claims: tuple[Claim, ...]


TRIGGER_VARIANTS = (*TRIGGER_EVENTS, "all_triggers")

THESES: tuple[Thesis, ...] = (
    Thesis(
        1,
        "The labs win, but only because upstream restrains; value moves upstream once a "
        "trigger fires.",
        "000_e3319be9a08c4b37.txt",
        (
            Claim(
                "1a",
                "models-layer operating margin > chips-layer operating margin",
                labs_outearn_chips,
            ),
            Claim(
                "1b",
                "foundry+chips value share rises when a trigger fires",
                value_moves_upstream,
                "baseline",
                TRIGGER_VARIANTS,
            ),
            Claim(
                "1c",
                "chips value share rises when a trigger fires",
                chips_share_rises,
                "baseline",
                TRIGGER_VARIANTS,
            ),
            Claim(
                "1d",
                "restraint pays Nvidia: its discounted payoff per round is higher on its "
                "scenario strategy than when upstream always extracts",
                restraint_pays_nvidia,
                "upstream_extracts",
                ("baseline",),
            ),
            Claim(
                "1e",
                "restraint pays TSMC: its discounted payoff per round is higher on its "
                "scenario strategy than when upstream always extracts",
                restraint_pays_tsmc,
                "upstream_extracts",
                ("baseline",),
            ),
        ),
    ),
    Thesis(
        2,
        "Nvidia captures the rent; clouds and neoclouds are squeezed in the middle; value "
        "accrues to who manages dependency and depreciation.",
        "001_098523a2e050d583.txt",
        (
            Claim("2a", "Nvidia's value share is the largest of any firm", nvidia_captures_rent),
            Claim("2b", "cloud-layer operating margin < both chips' and models'", cloud_squeezed),
            Claim(
                "2c",
                "a new chip generation costs the cloud layer more than the chips layer "
                "(profit lost per $ of revenue, the year after it)",
                generation_hits_buyer,
                "no_new_generation",
                ("baseline",),
            ),
        ),
    ),
    Thesis(
        3,
        "Infrastructure (memory, silicon) is the durable margin layer; early supply "
        "contracts set later prices; the buildout overshoots demand, yet contracts lock "
        "obligations in.",
        "002_1456f2d9411f9331.txt",
        (
            Claim(
                "3a",
                "foundry+chips value share is higher in a demand bust than in a boom",
                infrastructure_durable,
                "demand_boom",
                ("demand_bust",),
            ),
            Claim(
                "3c",
                "a lab that secures supply early earns a higher later gross margin",
                supply_secured_margin,
                "lab_restrains",
                ("lab_secures_supply",),
            ),
            Claim(
                "3d",
                "a lab's early supply contracts lower the later models-layer price",
                supply_secured_price,
                "lab_restrains",
                ("lab_secures_supply",),
            ),
            Claim(
                "3e",
                "in a bust chips revenue falls more than final spend (paid by investment)",
                chips_follow_investment,
                "baseline",
                ("demand_bust",),
            ),
            Claim(
                "3f",
                "in a bust the cloud layer loses the most profit per $ of revenue",
                bust_hits_cloud,
                "baseline",
                ("demand_bust",),
            ),
            Claim(
                "3g",
                "in a bust a seller with take-or-pay backlog loses less than without it",
                contracts_protect,
                "bust_no_contracts",
                ("bust_contracts",),
            ),
            Claim(
                "3h",
                "a bust has casualties: more firms fail or run at a loss after it",
                bust_casualties,
                "baseline",
                ("demand_bust",),
            ),
        ),
    ),
    Thesis(
        4,
        "Frontier models consolidate; money flows down from applications.",
        "003_66598766ffe6fae0.txt",
        (
            Claim(
                "4a",
                "models-layer HHI is higher in the last round than in the first",
                models_consolidate,
            ),
            Claim(
                "4c",
                "the buildout is paid from what flows down: investment <= cloud revenue",
                buildout_paid_from_below,
            ),
        ),
    ),
    Thesis(
        5,
        "A single layer is not enough: the firm that integrates the most layers wins.",
        "004_429f268926d2300e.txt",
        (
            Claim("5a", "a firm in the most layers has the largest value share", integrator_wins),
            Claim(
                "5b",
                "integration allowed raises the most-integrated firm's value share",
                integration_pays,
                "no_integration",
                ("baseline",),
            ),
        ),
    ),
)


# -- evaluation ------------------------------------------------------------------------------------


VERDICTS = ("holds", "fails", "undecided", "n/a")
"""A claim's verdicts in one condition, as :func:`verdict` gives them."""

NO_INTERVAL = "one seed: no interval"
"""Why a condition evaluated on one seed has no interval (and so no verdict)."""


def verdict(n: int, ci: Sequence[float] | None) -> str:
    """A claim's verdict in one condition from its ``n`` seeds and 95% interval ``ci``.

    ``holds`` when the interval lies above zero (the claimed direction: the statistic is
    positive when the claim holds), ``fails`` when it lies below zero, ``undecided`` when
    it contains zero or is missing (one seed), ``n/a`` with no seed to evaluate.

    >>> verdict(5, [0.01, 0.03]), verdict(5, [-0.02, 0.01]), verdict(5, [-0.3, -0.1])
    ('holds', 'undecided', 'fails')
    >>> verdict(1, None), verdict(0, None)
    ('undecided', 'n/a')
    """
    if n == 0:
        return "n/a"
    if ci is None:
        return "undecided"
    if ci[0] > 0:
        return "holds"
    if ci[1] < 0:
        return "fails"
    return "undecided"


def _cell(stats: Sequence[float]) -> dict[str, Any]:
    """One condition's evidence from its seeds' statistics (NaN: undefined on that seed).

    ``holds`` (seeds with a positive statistic), ``seeds``, ``verdict``, ``statistic``
    (mean, ``None`` without a seed), ``ci`` (``None`` below two seeds) and a ``note`` on a
    missing interval.
    """
    values = [s for s in stats if not math.isnan(s)]
    k = sum(1 for s in values if s > 0)
    n = len(values)
    ci: list[float] | None = None
    note = ""
    if n > 1:
        ci = [float(x) for x in mean_ci(values)["ci"]]
    elif n == 1:
        note = NO_INTERVAL
    return {
        "holds": k,
        "seeds": n,
        "verdict": verdict(n, ci),
        "statistic": float(np.mean(values)) if n else None,
        "ci": ci,
        "note": note,
    }


def evaluate(
    rows: Mapping[tuple[str, int], Metrics], variant_names: Sequence[str], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Evaluate every claim in every condition on the recorded runs.

    Parameters
    ----------
    rows
        ``(variant, seed) -> metrics`` of each run.
    variant_names
        Variants that were run, in display order.
    seeds
        The seeds (each variant ran on all of them).

    Returns
    -------
    list of dict
        One row per (claim, condition): ``thesis``, ``claim``, ``text``, ``condition``,
        ``reference``, ``holds`` (seeds with a positive statistic), ``seeds``, ``verdict``
        (:func:`verdict`), ``statistic`` (mean; ``None`` without a seed), ``ci`` (the 95%
        interval; ``None`` below two seeds), ``note`` (why a verdict or interval is missing).
    """
    out = []
    for thesis in THESES:
        for claim in thesis.claims:
            pairs: list[tuple[str, str | None]]
            if claim.reference is None:
                pairs = [(v, None) for v in variant_names]
            else:
                pairs = [(t, claim.reference) for t in claim.treatments]
            for treated, reference in pairs:
                row: dict[str, Any] = {
                    "thesis": thesis.number,
                    "claim": claim.code,
                    "text": claim.text,
                    "condition": treated,
                    "reference": reference,
                    "note": "",
                }
                if treated not in variant_names or (
                    reference is not None and reference not in variant_names
                ):
                    row.update(_cell([]))
                    row["note"] = "variant not run"
                    out.append(row)
                    continue
                try:
                    if reference is None:
                        stats = [claim.predicate(rows[(treated, s)]) for s in seeds]
                    else:
                        stats = [
                            claim.predicate(rows[(treated, s)], rows[(reference, s)]) for s in seeds
                        ]
                except KeyError as err:
                    row.update(_cell([]))
                    row["note"] = f"the scenario has no {err.args[0]}"
                    out.append(row)
                    continue
                row.update(_cell(stats))
                if not row["seeds"]:
                    row["note"] = "the statistic is undefined on every seed"
                out.append(row)
    return out


def conclusions(table: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per thesis: each claim's conditions by verdict, and the thesis's overall verdict.

    A thesis *holds* in a condition (a variant; a contrast counts in its treated variant)
    when every claim evaluated there (not ``n/a``) holds, *fails* when any fails, and is
    *undecided* otherwise. ``verdict`` says it in words: "holds when ..., fails when ...
    (the failing claims), undecided when ..."; ``conditions`` maps each condition to its
    verdict and its claims' verdicts.
    """
    out = []
    for thesis in THESES:
        claims = []
        codes = {c.code for c in thesis.claims}
        rows = [r for r in table if r["claim"] in codes]
        for claim in thesis.claims:
            mine = [r for r in rows if r["claim"] == claim.code]
            entry: dict[str, Any] = {"claim": claim.code, "text": claim.text}
            for key in VERDICTS:
                entry[key] = [_condition(r) for r in mine if r["verdict"] == key]
            claims.append(entry)
        conditions: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r["verdict"] == "n/a":
                continue
            c = conditions.setdefault(r["condition"], {"claims": {}})
            c["claims"][r["claim"]] = r["verdict"]
        for c in conditions.values():
            found = set(c["claims"].values())
            c["verdict"] = (
                "fails" if "fails" in found else "holds" if found == {"holds"} else "undecided"
            )
        out.append(
            {
                "thesis": thesis.number,
                "statement": thesis.statement,
                "source": thesis.source,
                "claims": claims,
                "conditions": conditions,
                "verdict": thesis_sentence(conditions),
            }
        )
    return out


def thesis_sentence(conditions: Mapping[str, Mapping[str, Any]]) -> str:
    """A thesis's overall verdict in words, over its conditions.

    >>> thesis_sentence({
    ...     "baseline": {"verdict": "holds", "claims": {"1a": "holds"}},
    ...     "demand_bust": {"verdict": "fails", "claims": {"1a": "fails", "1b": "holds"}},
    ...     "regulator_low": {"verdict": "undecided", "claims": {"1a": "undecided"}},
    ... })
    'holds when baseline; fails when demand_bust (1a); undecided when regulator_low (1a)'
    """
    parts = []
    for key in ("holds", "fails", "undecided"):
        names = [n for n, c in conditions.items() if c["verdict"] == key]
        if not names:
            continue
        if key == "holds":
            listed = ", ".join(names)
        else:
            listed = ", ".join(
                f"{n} ({', '.join(k for k, v in conditions[n]['claims'].items() if v == key)})"
                for n in names
            )
        parts.append(f"{key} when {listed}")
    return "; ".join(parts) or "no condition evaluated"


def _condition(row: Mapping[str, Any]) -> str:
    if row["reference"] is None:
        return str(row["condition"])
    return f"{row['condition']} vs {row['reference']}"


def seeds_for(seed: int, n: int) -> list[int]:
    """``n`` run seeds from one root seed (:func:`stackgame.seeds.seeds32`)."""
    return seeds.seeds32(seed, n)


def run_theses(
    scenario: str = "ai-stack-2026",
    *,
    seed: int = 0,
    n_seeds: int = 5,
    rounds: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    only: Sequence[str] | None = None,
    processes: int = 1,
    store_dir: str | Path | None = None,
    progress: bool = True,
    discount_rate: float | None = None,
) -> dict[str, Any]:
    """Run every variant on ``n_seeds`` seeds and evaluate the theses.

    Claims on payoffs (1d, 1e) compare discounted payoffs per round at ``discount_rate``
    (``None``: the scenario's; ``docs/MODEL.md`` 21); the report's ``scoring`` says which.

    Variants whose overrides do not apply to the scenario (a missing event or firm) are
    skipped and listed under ``skipped``. Every variant runs on the same seeds.

    Returns
    -------
    dict
        ``scenario``, ``scenario_hash``, ``seed``, ``seeds``, ``rounds``, ``variants``
        (name, description, overrides), ``skipped``, ``windows`` (the rounds the bust and
        the new generation take effect, see :func:`event_rounds`), ``events`` (each event a
        variant switches on: scheduled round, the round it fires, rounds after it; see
        :func:`scheduled_events`), ``table`` (see :func:`evaluate`), ``conclusions`` (see
        :func:`conclusions`).
    """
    from stackgame.environment.scenario import ScenarioError, apply_overrides, resolve
    from stackgame.errors import UserError

    if n_seeds < 1:
        raise UserError(f"--seeds: must be at least 1 (got {n_seeds})")
    if rounds is not None and rounds < 1:
        raise UserError(f"--rounds: must be at least 1 (got {rounds})")
    base = dict(overrides or {})
    resolved = resolve(scenario)
    if base:
        resolved = apply_overrides(resolved, base)
    n_rounds = rounds or resolved.rounds
    chosen = variants(n_rounds, resolved)
    if only:
        known = [v.name for v in chosen]
        unknown = [name for name in only if name not in known]
        if unknown:
            raise UserError(f"--variants: unknown {', '.join(unknown)}; known: {', '.join(known)}")
        chosen = [v for v in chosen if v.name in only]
    runnable, skipped = [], []
    for v in chosen:
        try:
            apply_overrides(resolved, dict(v.overrides))
            runnable.append(v)
        except ScenarioError as err:
            skipped.append({"variant": v.name, "reason": str(err)})
    seeds = seeds_for(seed, n_seeds)
    windows = event_rounds(n_rounds, resolved)
    rows = _run(
        scenario, n_rounds, base, runnable, seeds, processes, store_dir, progress, windows,
        discount_rate,
    )  # fmt: skip
    rate = float(resolved.discount_rate if discount_rate is None else discount_rate)
    names = [v.name for v in runnable]
    table = evaluate(rows, names, seeds)
    return {
        "scenario": str(scenario),
        "scenario_hash": resolved.digest(),
        "seed": seed,
        "seeds": seeds,
        "rounds": n_rounds,
        "overrides": base,
        "variants": [
            {"name": v.name, "description": v.description, "overrides": dict(v.overrides)}
            for v in runnable
        ],
        "skipped": skipped,
        "windows": windows,
        "events": scheduled_events(n_rounds, resolved),
        "table": table,
        "conclusions": conclusions(table),
        "scoring": {
            "discount_rate": rate,
            "discount_rate_source": "scenario" if discount_rate is None else "given",
            "payoff": "discounted value per round, sum_t delta^t pi_t / sum_t delta^t, "
            "delta = 1/(1+r) (metrics discounted_payoff.firm.<f>; mean_payoff.firm.<f> "
            "undiscounted)",
        },
    }


def _run(
    scenario: str,
    rounds: int,
    base: Mapping[str, Any],
    runnable: Sequence[Variant],
    seeds: Sequence[int],
    processes: int,
    store_dir: str | Path | None,
    progress: bool,
    windows: Mapping[str, int] | None = None,
    discount_rate: float | None = None,
) -> dict[tuple[str, int], Metrics]:
    import hashlib
    import json
    import tempfile

    from stackgame.environment.scenario import identity
    from stackgame.experiments import executor

    digest = hashlib.sha256(
        json.dumps(
            [identity(scenario), rounds, dict(base), dict(windows or {})]
            + ([] if discount_rate is None else [discount_rate]),
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:10]
    tasks = []
    index: dict[str, tuple[str, int]] = {}
    for v in runnable:
        for s in seeds:
            run_id = f"{digest}-{v.name}-{s:010d}"
            index[run_id] = (v.name, s)
            params = {
                "scenario": str(scenario),
                "rounds": rounds,
                "overrides": {**dict(base), **dict(v.overrides)},
                "windows": dict(windows or {}),
            }
            if discount_rate is not None:
                params["discount_rate"] = discount_rate
            tasks.append(executor.Task(run_id, s, params))
    with tempfile.TemporaryDirectory(prefix="stackgame-theses-") as tmp:
        store = executor.ResultStore(store_dir if store_dir is not None else tmp)
        executor.execute(
            tasks,
            thesis_task,
            store=store,
            workers=processes,
            progress=progress,
            description="variants x seeds",
        )
        frame = store.read()
    frame = frame[frame["run_id"].isin(index)]
    bad = frame[frame["status"] != "ok"]
    if len(bad):
        first = bad.iloc[0]
        where = (
            f"; it stays recorded in {store_dir}: delete that folder to retry" if store_dir else ""
        )
        raise RuntimeError(f"run {first['run_id']} failed: {first['error']}{where}")
    skip = {
        "run_id",
        "seed",
        "status",
        "error",
        "elapsed_seconds",
        "scenario",
        "rounds",
        "overrides",
        "windows",
        "discount_rate",
    }
    out: dict[tuple[str, int], Metrics] = {}
    for record in frame.to_dict("records"):
        out[index[str(record["run_id"])]] = {
            k: float(v) for k, v in record.items() if k not in skip and v == v
        }
    return out


# -- table and plot ---------------------------------------------------------------------


def render(report: Mapping[str, Any]) -> str:
    """The evaluation as text: one line per claim and condition, then the conclusions."""
    n = len(report["seeds"])
    lines = [
        f"theses on {report['scenario']}: {len(report['variants'])} variants x {n} seeds, "
        f"{report['rounds']} rounds (statistic > 0 in the claimed direction; shares, margins "
        "and HHI as fractions, 0 to 1)",
        "a claim holds in a condition when the 95% interval of its statistic over the seeds "
        "lies above zero, fails when below, and is undecided when it contains zero",
        _events_line(report),
    ]
    scoring = report.get("scoring")
    if scoring:
        lines.append(
            f"payoffs (1d, 1e): discounted value per round at r = {scoring['discount_rate']:g} "
            f"per round ({scoring['discount_rate_source']})"
        )
    lines += [
        "",
        f"{'claim':6s}{'condition':44s}{'> 0':>8s}  {'verdict':10s}{'statistic [95% CI]':>30s}",
    ]
    for r in report["table"]:
        if r["statistic"] is None:
            stat = r["note"] or "-"
        elif r["ci"] is None:
            stat = f"{r['statistic']:+.4f} ({r['note'] or NO_INTERVAL})"
        else:
            stat = f"{r['statistic']:+.4f} [{r['ci'][0]:+.4f}, {r['ci'][1]:+.4f}]"
        lines.append(
            f"{r['claim']:6s}{_condition(r):44s}{r['holds']:>4d}/{r['seeds']:<3d}  "
            f"{r['verdict']:10s}{stat:>30s}"
        )
    for s in report["skipped"]:
        lines.append(f"  skipped {s['variant']}: {s['reason']}")
    lines.append("")
    for c in report["conclusions"]:
        lines.append(f"thesis {c['thesis']} ({c['source']}): {c['statement']}")
        lines.append(f"  verdict: {c['verdict']}")
        for claim in c["claims"]:
            lines.append(f"  {claim['claim']} {claim['text']}")
            for key in VERDICTS:
                if claim[key]:
                    lines.append(f"     {key:9s}: {', '.join(claim[key])}")
    return "\n".join(lines)


def _events_line(report: Mapping[str, Any]) -> str:
    """Where the variants fire their events, and how many rounds that leaves after them."""
    events = report.get("events", {})
    if not events:
        return "no event switched on by a variant"
    parts = []
    for name, e in events.items():
        moved = f", moved from {e['scheduled']}" if e["fires"] != e["scheduled"] else ""
        parts.append(f"{name} round {e['fires']}{moved} ({e['rounds_after']} rounds after)")
    return "events: " + "; ".join(parts)


def scheduled_events(rounds: int, scenario: Any) -> dict[str, dict[str, int]]:
    """Each event a variant switches on, and when it fires in a run of ``rounds`` rounds.

    Per event: its ``scheduled`` round, the round it ``fires`` (:func:`event_round`) and
    the ``rounds_after`` it in the run (that round included).
    """
    out = {}
    for name in (*TRIGGER_EVENTS, "demand_bust"):
        scheduled = _event_round(scenario, name)
        if scheduled is not None:
            fires = event_round(scheduled, rounds)
            out[name] = {"scheduled": scheduled, "fires": fires, "rounds_after": rounds - fires}
    return out


def plot(report: Mapping[str, Any], path: str | Path) -> None:
    """Heat map: each claim's verdict per condition, annotated k/n (seeds positive).

    Green holds, red fails, yellow undecided.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [v["name"] for v in report["variants"]]
    claims = [c for t in THESES for c in t.claims]
    grid = np.full((len(claims), len(names)), np.nan)
    labels = [["" for _ in names] for _ in claims]
    for r in report["table"]:
        if r["condition"] not in names or not r["seeds"]:
            continue
        i = [c.code for c in claims].index(r["claim"])
        j = names.index(r["condition"])
        grid[i, j] = {"holds": 1.0, "fails": 0.0, "undecided": 0.5}[r["verdict"]]
        labels[i][j] = f"{r['holds']}/{r['seeds']}"
    fig, ax = plt.subplots(figsize=(1.0 * len(names) + 6, 0.7 * len(claims) + 2))
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i in range(len(claims)):
        for j in range(len(names)):
            if labels[i][j]:
                ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=8)
    rows = [
        textwrap.fill(f"{c.code} {c.text}" + (f" (vs {c.reference})" if c.reference else ""), 56)
        for c in claims
    ]
    ax.set_yticks(range(len(claims)), rows, fontsize=8)
    ax.set_title(
        f"where each thesis holds: 95% interval over {len(report['seeds'])} seeds above zero "
        f"(green), below (red), or containing it (yellow) ({report['scenario']}, "
        f"{report['rounds']} rounds; k/n: seeds positive)",
        fontsize=10,
    )
    bar = fig.colorbar(image, ax=ax, ticks=[0.0, 0.5, 1.0])
    bar.ax.set_yticklabels(["fails", "undecided", "holds"])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
