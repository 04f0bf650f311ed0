"""Archetypes: the strategies the source articles attribute to the firms of the AI stack.

Each class is one behaviour named in ``../shared/STACK_FACTS.md`` with its seed file:
Nvidia's antitrust-aware restraint, TSMC's protection through downcycles, the
hyperscalers' cloud flywheel, the labs' integration into their suppliers' layer, Meta's
commoditised complement and its later turn to closed models, the neoclouds' chase of
utilisation, supply locks, equity-for-capacity financing and the three regime-change
triggers of ``000_e3319be9a08c4b37.txt``.

Layer names are the scenario's (``foundry``, ``chips``, ``cloud``, ``models``,
``apps``); a rule about a layer the firm does not sell in simply does not apply, so
every archetype also plays a one-layer matrix game (there it reduces to a fixed or
trigger-driven posture). Thresholds are constructor arguments with documented defaults.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import numpy as np
from stackgame.strategies.base import (
    EXTRACT,
    RESTRAIN,
    Action,
    Classifier,
    ContractOffer,
    Integration,
    Move,
    Observation,
    Posture,
    Strategy,
)
from stackgame.strategies.exact_stats import exact_mean
from stackgame.strategies.learners import markup_action
from stackgame.strategies.registry import register

#: The built-in stack, bottom first: the fallback order when market data is missing.
STACK_ORDER = ("foundry", "chips", "cloud", "models", "apps")


def _fraction(name: str, value: float) -> float:
    if not (np.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of rounds >= 1, got {value!r}")
    return value


def mean_utilisation(observation: Observation) -> float | None:
    """Mean of last round's utilisation over the firm's layers (``None`` before data)."""
    util = observation.utilisation
    values = [util[x] for x in observation.layers if x in util]
    return exact_mean(values) if values else None


def mean_supplier_margin(observation: Observation) -> float | None:
    """Mean of the suppliers' last operating margins (``None`` without suppliers)."""
    margins = list(observation.supplier_margins.values())
    return exact_mean(margins) if margins else None


def split_postures(
    observation: Observation, special: Collection[str], inside: Posture, outside: Posture
) -> dict[str, Posture]:
    """Posture ``inside`` for the firm's layers in ``special``, ``outside`` for the rest."""
    return {x: inside if x in special else outside for x in observation.layers}


def priced_below(observation: Observation, layers: Collection[str], markup: float | None) -> Action:
    """Restrain (at ``markup`` when given) in ``layers`` and extract in the firm's others.

    The shape of a loss leader: the bait layers carry a low explicit markup (or the
    restrain posture when ``markup`` is ``None``); every other layer extracts.
    """
    postures = split_postures(observation, layers, RESTRAIN, EXTRACT)
    if markup is None:
        return Action(postures=postures, default=EXTRACT)
    markups = {x: markup for x in observation.layers if x in layers}
    return Action(postures=postures, default=EXTRACT, markups=markups)


_RANKS: dict[tuple[str, ...], dict[str, int]] = {}
"""Position of each layer in a stack order (the orders seen so far: a handful)."""


def adjacent_layer(observation: Observation, below: bool) -> str | None:
    """Find the integrable layer right below (``below``) or above the firm's layers.

    The stack's order comes from the market data (the engine lists layers bottom first)
    or else from :data:`STACK_ORDER`; with neither, the first integrable layer.
    """
    candidates = [x for x in observation.integrable if x not in observation.layers]
    if not candidates:
        return None
    for order in (tuple(observation.market), STACK_ORDER):
        rank = _RANKS.get(order)
        if rank is None:
            rank = _RANKS[order] = {x: i for i, x in enumerate(order)}
        if (
            not candidates
            or not observation.layers
            or not rank.keys() >= {*candidates, *observation.layers}
        ):
            continue
        own = [rank[x] for x in observation.layers]
        if below:
            side = [x for x in candidates if rank[x] < min(own)]
            return max(side, key=rank.__getitem__, default=None)
        side = [x for x in candidates if rank[x] > max(own)]
        return min(side, key=rank.__getitem__, default=None)
    return candidates[0] if candidates else None


def first_not_in(names: Iterable[str], done: Collection[str]) -> str | None:
    """Return the first name not yet in ``done``."""
    return next((n for n in names if n not in done), None)


@register
class AntitrustAwareRestraint(Strategy):
    """Nvidia's voluntary restraint: restrain while antitrust risk is high, else extract.

    ``000_e3319be9a08c4b37.txt``: "aggressively repricing systems to fully capture the
    value delivered risks drawing further attention, particularly if it results in
    outsized margin expansion". The firm restrains when it is under investigation, or
    when the regulator's stance is at least ``stance`` and one of its layers is
    concentrated (last HHI at least ``hhi``) or highly profitable (last operating margin
    at least ``margin``); before any market data a strict regulator alone is enough.
    Otherwise (a lax regulator: trigger 1's "softening in the antitrust posture") it
    extracts.

    Parameters
    ----------
    stance
        Regulator stance from which it feels exposed.
    hhi
        Layer concentration that counts as dominance (0.25 is the US merger
        guidelines' "highly concentrated" 2,500).
    margin
        Layer operating margin that counts as "outsized".
    """

    name = "antitrust_aware_restraint"
    classifier = Classifier(memory_depth=1, family="archetype")

    def __init__(self, stance: float = 0.5, hhi: float = 0.25, margin: float = 0.5) -> None:
        super().__init__()
        self.stance = _fraction("antitrust_aware_restraint: stance", stance)
        self.hhi = _fraction("antitrust_aware_restraint: hhi", hhi)
        self.margin = margin

    def decide(self, observation: Observation) -> Action:
        """Restrain while exposed to the regulator, extract otherwise."""
        return Action.uniform(RESTRAIN if self.at_risk(observation) else EXTRACT)

    def at_risk(self, observation: Observation) -> bool:
        """Whether antitrust risk is high this round."""
        if observation.under_investigation:
            return True
        views = [observation.market[x] for x in observation.layers if x in observation.market]
        exposed = any(v.hhi >= self.hhi or v.operating_margin >= self.margin for v in views)
        return observation.regulator_stance >= self.stance and (exposed or not views)


def downcycle(observation: Observation, growth_floor: float, utilisation_floor: float) -> bool:
    """Detect a downcycle: demand growth below ``growth_floor`` or utilisation below its floor."""
    u = mean_utilisation(observation)
    return observation.demand_growth < growth_floor or (u is not None and u < utilisation_floor)


@register
class ProtectThroughDowncycles(Strategy):
    """TSMC's stable pricing: restrain in upcycles, hold margins in downcycles.

    ``000_e3319be9a08c4b37.txt``: TSMC's pricing "remains relatively stable. Customers
    would pay more", its strategy being to "protect profitability through downcycles",
    which "blunts upside during upcycles". So the posture runs against the cycle: in an
    upcycle (demand growing, capacity used) it restrains; in a downcycle (last demand
    growth below ``growth_floor`` or mean utilisation below ``utilisation_floor``) it
    holds its margin at the extract markup instead of cutting price.

    Parameters
    ----------
    growth_floor
        Demand growth per round below which the cycle is down.
    utilisation_floor
        Mean utilisation below which the cycle is down.
    """

    name = "protect_through_downcycles"
    classifier = Classifier(memory_depth=1, family="archetype")

    def __init__(self, growth_floor: float = 0.0, utilisation_floor: float = 0.6) -> None:
        super().__init__()
        self.growth_floor = growth_floor
        self.utilisation_floor = _fraction(
            "protect_through_downcycles: utilisation_floor", utilisation_floor
        )

    def decide(self, observation: Observation) -> Action:
        """Extract (hold margin) in a downcycle, restrain in an upcycle."""
        down = downcycle(observation, self.growth_floor, self.utilisation_floor)
        return Action.uniform(EXTRACT if down else RESTRAIN)


@register
class RelationshipKeeper(Strategy):
    """Restrain while the relationship is at stake, extract once the buyers are held.

    Reads its buyers' lock-in, read-only, from the observation (``docs/MODEL.md`` 5.4,
    17). In each layer it sells in, the dynamic part of its buyers' switching cost is
    ``g - h``: their data gravity at it (``customer_gravity``) less their memory of its
    price hikes (``hike_memory``), the terms the supplier logit adds to the static lock.
    It extracts where ``h - g <= tolerance`` (its buyers hold no grudge that gravity
    does not outweigh: locked in, or over its last hike) and restrains where ``h - g >
    tolerance`` (a hike would push them on to a second source, and the memory recovers
    only while it restrains). While it has contracted sales to come
    (``contract_backlog > 0``: long-term agreements with prepayment, trigger 2 of
    ``000_e3319be9a08c4b37.txt``) it restrains everywhere: the agreements are what its
    stable pricing buys ("long-term relationship durability and ecosystem stability are
    the priorities", 000). Before the first round (nothing read yet) it restrains.

    TSMC's restraint for relationship durability, made conditional on the state it
    protects: with no gravity (the foundry's buyers) it hikes, then waits until its
    buyers' memory recovers below ``tolerance``; a cloud whose customers are deep in its
    data gravity (000: "one step deeper into the AWS data gravity well") extracts sooner.

    Parameters
    ----------
    tolerance
        The grudge ``h - g`` (utility) above which it restrains; 0.25 is below one
        round of TSMC's extraction in ``ai-stack-2026`` (``hike_memory`` 1.0 x a hike of
        0.3), so after a hike it waits until the memory has recovered (10% a round there).
    """

    name = "relationship_keeper"
    classifier = Classifier(memory_depth=1, family="archetype")
    reads_lock_in = True

    def __init__(self, tolerance: float = 0.25) -> None:
        super().__init__()
        if not (np.isfinite(tolerance) and tolerance >= 0.0):
            raise ValueError(f"relationship_keeper: tolerance must be >= 0, got {tolerance!r}")
        self.tolerance = float(tolerance)

    def decide(self, observation: Observation) -> Action:
        """Per layer: restrain while the grudge ``h - g`` exceeds the tolerance."""
        if observation.round == 0 or observation.contract_backlog > 0.0:
            return Action.uniform(RESTRAIN)
        postures = {layer: self.posture_in(observation, layer) for layer in observation.layers}
        return Action(postures=postures, default=RESTRAIN)

    def posture_in(self, observation: Observation, layer: str) -> Posture:
        """``RESTRAIN`` where ``h - g > tolerance`` in ``layer``, else ``EXTRACT``."""
        h = observation.hike_memory.get(layer, 0.0)
        g = observation.customer_gravity.get(layer, 0.0)
        return RESTRAIN if h - g > self.tolerance else EXTRACT


@register
class LongTermAgreements(Strategy):
    """TSMC after trigger 2: protect through downcycles until long-term agreements, then extract.

    ``000_e3319be9a08c4b37.txt``, trigger 2: "long-term agreements with prepayments and
    guaranteed capacity commitments. Either way, more value flows to TSMC". Plays
    ``protect_through_downcycles`` until the ``tsmc_long_term_agreements`` trigger has
    fired, then extracts in every round.

    Parameters
    ----------
    trigger
        Name of the trigger that switches it to extraction.
    growth_floor, utilisation_floor
        As in ``protect_through_downcycles``.
    """

    name = "long_term_agreements"
    classifier = Classifier(memory_depth=1, family="archetype")

    def __init__(
        self,
        trigger: str = "tsmc_long_term_agreements",
        growth_floor: float = 0.0,
        utilisation_floor: float = 0.6,
    ) -> None:
        super().__init__()
        self.trigger = trigger
        self.growth_floor = growth_floor
        self.utilisation_floor = _fraction(
            "long_term_agreements: utilisation_floor", utilisation_floor
        )

    def decide(self, observation: Observation) -> Action:
        """Extract once the trigger fired; before, hold margins only in downcycles."""
        fired = self.trigger in observation.triggers
        down = downcycle(observation, self.growth_floor, self.utilisation_floor)
        return Action.uniform(EXTRACT if fired or down else RESTRAIN)


@register
class CloudFlywheel(Strategy):
    """The hyperscaler's flywheel: custom silicon priced as bait, margin taken in the cloud.

    ``000_e3319be9a08c4b37.txt``: "cheap custom silicon is the bait that pulls workloads
    onto GCP and AWS"; "the margin Google and Amazon optimize is the multi-year cloud
    contract, not the per-chip markup". In its bait layers (``chips`` by default) it
    prices at ``bait_markup`` (zero: at cost; negative only where the scenario allows
    loss leaders; ``None``: the restrain posture); in every other layer it extracts.

    It builds ahead to lock customers in (AWS's $364B backlog, Google Cloud's $460B
    doubled year on year, 000): in a capital-goods layer the default investment rule
    with two quarters of growth beyond the lead time (``builds_ahead = 2``) and headroom
    (``target_utilisation = 0.8``), from its cash flows outside AI.

    Parameters
    ----------
    bait_layers
        Layers sold as bait.
    bait_markup
        Explicit markup in the bait layers, or ``None`` for the restrain posture.
    """

    name = "cloud_flywheel"
    classifier = Classifier(memory_depth=0, family="archetype")
    target_utilisation = 0.8
    builds_ahead = 2

    def __init__(
        self, bait_layers: Collection[str] = ("chips",), bait_markup: float | None = 0.0
    ) -> None:
        super().__init__()
        self.bait_layers = frozenset(bait_layers)
        self.bait_markup = bait_markup

    def decide(self, observation: Observation) -> Action:
        """Bait markup in the bait layers, extract elsewhere."""
        return priced_below(observation, self.bait_layers, self.bait_markup)


@register
class CustomSiliconSeller(Strategy):
    """A hyperscaler after trigger 3: flywheel until custom silicon becomes a chip business.

    ``000_e3319be9a08c4b37.txt``, trigger 3: "If either hyperscaler decides their custom
    silicon is strategic enough to monetize as a standalone product rather than a
    cloud-lock tool, that forces Nvidia to reprice". Plays ``cloud_flywheel`` until the
    ``custom_silicon_sale`` trigger has fired, then extracts in its chip layer too.

    Parameters
    ----------
    trigger
        Name of the trigger.
    bait_layers, bait_markup
        As in ``cloud_flywheel``.
    """

    name = "custom_silicon_seller"
    classifier = Classifier(memory_depth=0, family="archetype")

    def __init__(
        self,
        trigger: str = "custom_silicon_sale",
        bait_layers: Collection[str] = ("chips",),
        bait_markup: float | None = 0.0,
    ) -> None:
        super().__init__()
        self.trigger = trigger
        self.bait_layers = frozenset(bait_layers)
        self.bait_markup = bait_markup

    def decide(self, observation: Observation) -> Action:
        """Bait pricing in chips before the trigger, extraction everywhere after."""
        if self.trigger in observation.triggers:
            return Action(postures=dict.fromkeys(observation.layers, EXTRACT), default=EXTRACT)
        return priced_below(observation, self.bait_layers, self.bait_markup)


@register
class TriggerValuePricing(Strategy):
    """Nvidia's cost-plus pricing until trigger 1, value-based pricing after.

    ``000_e3319be9a08c4b37.txt``, trigger 1: "Nvidia shifts from cost-plus to value-based
    pricing" once enterprise AI ROI is accepted or antitrust softens. Restrains until the
    ``nvidia_value_pricing`` trigger has fired, then extracts.

    Parameters
    ----------
    trigger
        Name of the trigger.
    """

    name = "trigger_value_pricing"
    classifier = Classifier(memory_depth=0, family="archetype")

    def __init__(self, trigger: str = "nvidia_value_pricing") -> None:
        super().__init__()
        self.trigger = trigger

    def decide(self, observation: Observation) -> Action:
        """Extract once the trigger fired, restrain before."""
        return Action.uniform(EXTRACT if self.trigger in observation.triggers else RESTRAIN)


@register
class CommoditiseComplement(Strategy):
    """Open weights: give the complement away at zero markup, extract where the money is.

    ``003_66598766ffe6fae0.txt`` and ``004_429f268926d2300e.txt``: Meta "gave away its
    Llama models as open-source weights, effectively scorching the earth at the model
    layer so competitors like OpenAI and Anthropic could not tax Meta's massive consumer
    app distribution"; it monetises "on the services layer". Prices its complement
    layers (``models``) at ``complement_markup`` (zero: at cost) and extracts in the
    others (``apps``).

    Parameters
    ----------
    complement
        Layers commoditised.
    complement_markup
        Markup charged there.
    """

    name = "commoditise_complement"
    classifier = Classifier(memory_depth=0, family="archetype")

    def __init__(
        self, complement: Collection[str] = ("models",), complement_markup: float = 0.0
    ) -> None:
        super().__init__()
        self.complement = frozenset(complement)
        self.complement_markup = complement_markup

    def decide(self, observation: Observation) -> Action:
        """Zero markup in the complement, extract elsewhere."""
        return priced_below(observation, self.complement, self.complement_markup)


@register
class OpenThenClosed(Strategy):
    """Meta's path: commoditise the complement, then go closed and extract.

    ``004_429f268926d2300e.txt``: the open strategy "failed to create a permanent moat";
    "In April 2026, the company released Muse Spark, a proprietary, completely
    closed-source multimodal model designed specifically for monetization"
    (``003_66598766ffe6fae0.txt`` for the open phase). Plays ``commoditise_complement``
    until its apps are taxed (the suppliers' mean margin, or the complement layer's
    operating margin, reaches ``tax_margin``) or round ``switch_round`` arrives; from
    then on it extracts in every layer, for good.

    Parameters
    ----------
    complement, complement_markup
        As in ``commoditise_complement``.
    tax_margin
        Margin of the model vendors at which the firm counts its apps as taxed.
    switch_round
        Round at which it goes closed regardless (``None``: only when taxed).
    """

    name = "open_then_closed"
    classifier = Classifier(memory_depth=float("inf"), family="archetype")

    def __init__(
        self,
        complement: Collection[str] = ("models",),
        complement_markup: float = 0.0,
        tax_margin: float = 0.5,
        switch_round: int | None = None,
    ) -> None:
        super().__init__()
        self.complement = frozenset(complement)
        self.complement_markup = complement_markup
        self.tax_margin = tax_margin
        self.switch_round = switch_round
        self.closed = False

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Open again."""
        super().reset(rng)
        self.closed = False

    def decide(self, observation: Observation) -> Action:
        """Open (zero-markup complement) until taxed or the switch round, then closed."""
        self.closed = self.closed or self.taxed(observation)
        if self.closed:
            return Action(postures=dict.fromkeys(observation.layers, EXTRACT), default=EXTRACT)
        return priced_below(observation, self.complement, self.complement_markup)

    def taxed(self, observation: Observation) -> bool:
        """Whether the switch condition holds this round."""
        margins = [mean_supplier_margin(observation)]
        margins += [
            observation.market[x].operating_margin
            for x in self.complement
            if x in observation.market
        ]
        late = self.switch_round is not None and observation.round >= self.switch_round
        return late or any(m is not None and m >= self.tax_margin for m in margins)


@register
class Integrator(Strategy):
    """A lab that builds into its supplier's layer when the supplier's margin stays high.

    ``001_098523a2e050d583.txt`` ("Now, owning the hardware, or the economics behind it,
    is the only way to stay profitable"; winners "absorb the most margin-dilutive
    layer") and ``004_429f268926d2300e.txt`` (OpenAI's Jalapeño chip with Broadcom: "even
    the premier software lab must build custom silicon"). When the suppliers' mean
    operating margin has been at least ``threshold`` for ``k`` rounds in a row and a
    layer below its own is integrable, it BUILDs into that layer (then counts afresh, so
    a refused move is retried after another ``k`` rounds). It prices with ``posture``.

    Parameters
    ----------
    threshold
        Supplier margin that makes building pay.
    k
        Rounds the margin must stay above the threshold.
    posture
        Pricing posture in its own layers (extract: the labs' 70% margins, ``000``).
    """

    name = "integrator"
    classifier = Classifier(memory_depth=float("inf"), uses_integration=True, family="archetype")

    def __init__(self, threshold: float = 0.5, k: int = 4, posture: Posture = EXTRACT) -> None:
        super().__init__()
        self.threshold = threshold
        self.k = _count("integrator: k", k)
        self.posture = Posture(posture)
        self.streak = 0

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Forget the run of high supplier margins."""
        super().reset(rng)
        self.streak = 0

    def decide(self, observation: Observation) -> Action:
        """BUILD into the supplier layer after ``k`` rounds of high supplier margins."""
        margin = mean_supplier_margin(observation)
        self.streak = self.streak + 1 if margin is not None and margin >= self.threshold else 0
        layer = adjacent_layer(observation, below=True)
        if self.streak < self.k or layer is None:
            return Action.uniform(self.posture)
        self.streak = 0
        return Action.uniform(self.posture, Integration(Move.BUILD, layer=layer))


@register
class FullStack(Strategy):
    """Google's path: build into every adjacent layer, the most profitable first.

    ``004_429f268926d2300e.txt``: "securing a foothold in a single layer of the AI stack
    is insufficient"; the winners are "actively diffusing into the layers above and below
    their starting points", Google in all four. Every ``interval`` rounds (rounds
    ``interval - 1``, ``2 interval - 1``, ...) it BUILDs into the integrable layer with
    the highest last gross margin (the margin it stops paying; the first integrable one
    without market data). It prices with ``posture``.

    Parameters
    ----------
    interval
        Rounds between building moves.
    posture
        Pricing posture.
    """

    name = "full_stack"
    classifier = Classifier(memory_depth=1, uses_integration=True, family="archetype")

    def __init__(self, interval: int = 4, posture: Posture = RESTRAIN) -> None:
        super().__init__()
        self.interval = _count("full_stack: interval", interval)
        self.posture = Posture(posture)

    def decide(self, observation: Observation) -> Action:
        """BUILD into the highest-margin integrable layer every ``interval`` rounds."""
        layers = [x for x in observation.integrable if x not in observation.layers]
        if not layers or (observation.round + 1) % self.interval:
            return Action.uniform(self.posture)
        margin = {
            x: observation.market[x].gross_margin if x in observation.market else -np.inf
            for x in layers
        }
        return Action.uniform(
            self.posture, Integration(Move.BUILD, layer=max(layers, key=margin.__getitem__))
        )


@register
class UtilisationChaser(Strategy):
    """The neocloud: chase utilisation, cutting price when idle and raising it when full.

    ``001_098523a2e050d583.txt``: the neoclouds "chase utilization"; Together AI "runs
    near full capacity", while idle GPUs (Oracle's 60% to 90%) kill margins. Each round
    it moves its markup one grid step down when last mean utilisation was below
    ``target`` and one step up when it was at least ``full``, else holds; it starts at
    the middle of the grid. Without a grid: restrain when below target, extract when
    full, else keep the last posture (restrain at first).

    It builds on borrowed money (CoreWeave, "financed in part by Nvidia", 001): in a
    capital-goods layer it orders for two quarters of growth beyond the lead time
    (``builds_ahead = 2``) and runs hot (``target_utilisation = 0.9``), as far as its
    funds, debt room included, allow.

    Parameters
    ----------
    target
        Utilisation below which it cuts price.
    full
        Utilisation at which it raises price.
    """

    name = "utilisation_chaser"
    classifier = Classifier(memory_depth=float("inf"), uses_markup_grid=True, family="archetype")
    target_utilisation = 0.9
    builds_ahead = 2

    def __init__(self, target: float = 0.8, full: float = 0.95) -> None:
        super().__init__()
        self.target = _fraction("utilisation_chaser: target", target)
        self.full = _fraction("utilisation_chaser: full", full)
        if self.full < self.target:
            raise ValueError(
                f"utilisation_chaser: full ({full}) must be at least target ({target})"
            )
        self.reset()

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Back to the middle of the grid (restrain without one)."""
        super().reset(rng)
        self.index: int | None = None
        self.posture = RESTRAIN

    def decide(self, observation: Observation) -> Action:
        """Step the markup toward the utilisation target."""
        u = mean_utilisation(observation)
        step = 0 if u is None else -1 if u < self.target else int(u >= self.full)
        grid = observation.markup_grid
        if not grid:
            self.posture = {-1: RESTRAIN, 1: EXTRACT}.get(step, self.posture)
            return Action.uniform(self.posture)
        start = len(grid) // 2 if self.index is None else self.index
        self.index = min(max(start + step, 0), len(grid) - 1)
        return markup_action(observation, grid[self.index])


@register
class ComputeConstrainedLab(Strategy):
    """A frontier lab that extracts when capacity binds and restrains when it has slack.

    ``000_e3319be9a08c4b37.txt``: "every frontier lab is compute-constrained. None of
    them can serve the entire market", which is why competition does not compete the
    labs' margin away. Extracts when last utilisation in any of its layers reached
    ``full``; restrains (competes for volume) otherwise and before any data.

    Parameters
    ----------
    full
        Utilisation at which capacity binds.
    """

    name = "compute_constrained_lab"
    classifier = Classifier(memory_depth=1, family="archetype")

    def __init__(self, full: float = 0.95) -> None:
        super().__init__()
        self.full = _fraction("compute_constrained_lab: full", full)

    def decide(self, observation: Observation) -> Action:
        """Extract when capacity bound last round."""
        used = [observation.utilisation.get(x, 0.0) for x in observation.layers]
        return Action.uniform(EXTRACT if max(used, default=0.0) >= self.full else RESTRAIN)


@register
class SqueezedCloud(Strategy):
    """The squeezed middle: a cloud that restrains to keep its GPUs busy.

    ``001_098523a2e050d583.txt``: clouds "caught in the middle", "profitability depends on
    utilization, not peak performance". Restrains while last mean utilisation is below
    ``target`` (or unknown); once busy, it follows its layer: extracts when most sellers
    in its layers extracted last round (restraint rate below one half), else restrains.

    Parameters
    ----------
    target
        Utilisation it defends.
    """

    name = "squeezed_cloud"
    classifier = Classifier(memory_depth=1, family="archetype")

    def __init__(self, target: float = 0.8) -> None:
        super().__init__()
        self.target = _fraction("squeezed_cloud: target", target)

    def decide(self, observation: Observation) -> Action:
        """Restrain while idle; when busy, extract if the layer mostly extracts."""
        u = mean_utilisation(observation)
        rates = [
            observation.market[x].restraint_rate
            for x in observation.layers
            if x in observation.market
        ]
        busy = u is not None and u >= self.target
        return Action.uniform(EXTRACT if busy and rates and exact_mean(rates) < 0.5 else RESTRAIN)


@register
class SupplyLocker(Strategy):
    """Lock supply early: take equity stakes in the suppliers first, set prices later.

    ``002_1456f2d9411f9331.txt``: hyperscalers lock "years of high-bandwidth memory
    supply ahead of demonstrated need", and "the labs that secured supply in 2025 will
    determine inference pricing for every competitor negotiating in 2027"
    (``000``: Google-Anthropic, "control disguised as funding"). In round ``i`` it takes
    a STAKE in its ``i``-th supplier while restraining; once every supplier is locked
    (from round ``len(suppliers)``) it extracts. Without suppliers it extracts at once.
    """

    name = "supply_locker"
    classifier = Classifier(memory_depth=0, uses_integration=True, family="archetype")

    def decide(self, observation: Observation) -> Action:
        """STAKE in the next supplier while locking, extract once locked."""
        suppliers, t = observation.suppliers, observation.round
        if t >= len(suppliers):
            return Action.uniform(EXTRACT)
        return Action.uniform(RESTRAIN, Integration(Move.STAKE, target=suppliers[t]))


@register
class SecuresSupplyEarly(Strategy):
    """A lab that secures supply early: long fixed-price contracts, then restraint.

    ``002_1456f2d9411f9331.txt``: "the labs that secured supply in 2025 will determine
    inference pricing for every competitor negotiating in 2027"; ``000`` and ``002``:
    hyperscalers lock supply years ahead of demonstrated need. In round ``at`` (the first
    with market data, by default) it offers each of its suppliers in the layer below its
    lowest layer a contract (``docs/MODEL.md`` 17) for an equal part of ``share`` of its
    last input need there, ``duration`` rounds long, at the supplier's current price fixed,
    with ``take_or_pay`` and no prepayment; in every round it plays ``always_restrain``.
    Without suppliers or market data it only restrains.

    Parameters
    ----------
    share
        Share of its last input need it contracts for.
    duration
        Rounds each contract runs.
    take_or_pay
        Share of the contracted units it pays for whether it takes them or not.
    at
        The round it signs in.
    """

    name = "secures_supply_early"
    classifier = Classifier(memory_depth=1, family="archetype")

    def __init__(
        self, share: float = 0.5, duration: int = 12, take_or_pay: float = 0.8, at: int = 1
    ) -> None:
        super().__init__()
        self.share = _fraction("secures_supply_early: share", share)
        self.duration = _count("secures_supply_early: duration", duration)
        self.take_or_pay = _fraction("secures_supply_early: take_or_pay", take_or_pay)
        self.at = _count("secures_supply_early: at", at)

    def decide(self, observation: Observation) -> Action:
        """Restrain; in round ``at``, offer its suppliers contracts for its needs."""
        if observation.round != self.at:
            return Action.uniform(RESTRAIN)
        return Action(default=RESTRAIN, contracts=self.offers(observation))

    def offers(self, observation: Observation) -> tuple[ContractOffer, ...]:
        """Contracts for ``share`` of the last input need of its lowest layer, split evenly."""
        order = tuple(observation.market)
        if not observation.layers or observation.layers[0] not in order:
            return ()
        k = order.index(observation.layers[0])
        if k == 0:
            return ()
        below = order[k - 1]
        sellers = observation.suppliers_by_layer.get(below, ())
        need = observation.input_need.get(observation.layers[0], 0.0)
        if not sellers or not need > 0.0:
            return ()
        each = self.share * need / len(sellers)
        if not each > 0.0:
            return ()
        return tuple(
            ContractOffer(s, below, each, self.duration, take_or_pay=self.take_or_pay)
            for s in sellers
        )


@register
class Financier(Strategy):
    """Equity for capacity: finance customers when its own capacity is idle.

    ``001_098523a2e050d583.txt``: "Nvidia quietly finances these firms [the neoclouds]
    because they weaken the hyperscalers' grip ... while guaranteeing Nvidia full
    utilization"; AMD's warrant to OpenAI is "vertical integration through equity".
    When last mean utilisation was below ``target`` it takes a STAKE in the next customer
    it has not financed yet (one per round, in the engine's order). It prices with
    ``posture`` (extract: Nvidia's 70% margin).

    Parameters
    ----------
    target
        Utilisation below which it finances a customer.
    posture
        Pricing posture.
    """

    name = "financier"
    classifier = Classifier(memory_depth=float("inf"), uses_integration=True, family="archetype")

    def __init__(self, target: float = 0.9, posture: Posture = EXTRACT) -> None:
        super().__init__()
        self.target = _fraction("financier: target", target)
        self.posture = Posture(posture)
        self.financed: set[str] = set()

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Forget the customers financed."""
        super().reset(rng)
        self.financed = set()

    def decide(self, observation: Observation) -> Action:
        """STAKE in an unfinanced customer while utilisation is below target."""
        u = mean_utilisation(observation)
        customer = first_not_in(observation.customers, self.financed)
        if u is None or u >= self.target or customer is None:
            return Action.uniform(self.posture)
        self.financed.add(customer)
        return Action.uniform(self.posture, Integration(Move.STAKE, target=customer))


@register
class OutletBuyer(Strategy):
    """Infrastructure buys an outlet at the top when its capacity sits idle.

    ``004_429f268926d2300e.txt``: SpaceX acquired Anysphere (Cursor) for $60B, reaching
    "all the way to the top of the stack to ensure they have an outlet for their
    compute". After ``patience`` rounds in a row with mean utilisation below ``target``
    it BUYs its first customer not yet bought, entering the layer above its own (when
    that layer is integrable); then counts afresh. It restrains meanwhile.

    Parameters
    ----------
    target
        Utilisation below which capacity counts as idle.
    patience
        Idle rounds in a row before it buys.
    """

    name = "outlet_buyer"
    classifier = Classifier(memory_depth=float("inf"), uses_integration=True, family="archetype")

    def __init__(self, target: float = 0.8, patience: int = 2) -> None:
        super().__init__()
        self.target = _fraction("outlet_buyer: target", target)
        self.patience = _count("outlet_buyer: patience", patience)
        self.reset()

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Forget idle rounds and purchases."""
        super().reset(rng)
        self.idle = 0
        self.bought: set[str] = set()

    def decide(self, observation: Observation) -> Action:
        """BUY a customer after ``patience`` idle rounds."""
        u = mean_utilisation(observation)
        self.idle = self.idle + 1 if u is not None and u < self.target else 0
        layer, customer = (
            adjacent_layer(observation, below=False),
            first_not_in(observation.customers, self.bought),
        )
        if self.idle < self.patience or layer is None or customer is None:
            return Action.uniform(RESTRAIN)
        self.idle = 0
        self.bought.add(customer)
        return Action.uniform(RESTRAIN, Integration(Move.BUY, layer=layer, target=customer))
