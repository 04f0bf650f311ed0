"""Condition tests for the archetypes: each does what its seed article says, when it says."""

from __future__ import annotations

import pytest
from stackgame.strategies import EXTRACT, RESTRAIN, STAY, ContractOffer, Integration, Move, make
from stackgame.strategies.archetypes import (
    AntitrustAwareRestraint,
    CloudFlywheel,
    Financier,
    FullStack,
    Integrator,
    OpenThenClosed,
    OutletBuyer,
    SecuresSupplyEarly,
    UtilisationChaser,
    adjacent_layer,
)

from tests.strategies.scripted_matches import GRID, make_obs, stack_obs, view

C, D = RESTRAIN, EXTRACT


def lab(**fields):
    """A lab selling models, able to build into cloud (below) or apps (above)."""
    base = dict(
        firm="openai",
        layers=("models",),
        suppliers=("aws", "coreweave"),
        customers=("cursor",),
        counterparts=("aws", "coreweave", "cursor"),
        integrable=("cloud", "apps"),
    )
    return stack_obs(**{**base, **fields})


# -- triggers -------------------------------------------------------------------------------
def test_trigger_value_pricing_extracts_after_the_trigger():
    strategy = make("trigger_value_pricing")
    assert strategy.decide(stack_obs()).headline is C
    assert strategy.decide(stack_obs(triggers=frozenset({"custom_silicon_sale"}))).headline is C
    assert strategy.decide(stack_obs(triggers=frozenset({"nvidia_value_pricing"}))).headline is D
    assert strategy.decide(make_obs(triggers=frozenset({"nvidia_value_pricing"}))).headline is D


def test_long_term_agreements_extract_after_trigger_two():
    strategy = make("long_term_agreements")
    upcycle = stack_obs(round=3, demand_growth=0.05, utilisation={"chips": 0.9, "cloud": 0.9})
    assert strategy.decide(upcycle).headline is C
    fired = upcycle.replace(triggers=frozenset({"tsmc_long_term_agreements"}))
    assert strategy.decide(fired).headline is D


def test_custom_silicon_seller_monetises_chips_after_trigger_three():
    strategy = make("custom_silicon_seller")
    before = strategy.decide(stack_obs())
    assert before.markups == {"chips": 0.0} and before.posture("cloud") is D
    after = strategy.decide(stack_obs(triggers=frozenset({"custom_silicon_sale"})))
    assert after.markups == {} and after.posture("chips") is D and after.posture("cloud") is D


# -- Nvidia: antitrust-aware restraint ------------------------------------------------------
def test_antitrust_aware_restraint_restrains_under_investigation():
    strategy = make("antitrust_aware_restraint")
    assert strategy.decide(stack_obs(regulator_stance=0.0, under_investigation=True)).headline is C
    assert strategy.decide(stack_obs(regulator_stance=0.0)).headline is D


@pytest.mark.parametrize(
    ("stance", "hhi", "margin", "expected"),
    [
        (0.9, 0.6, 0.1, C),  # dominant layer, strict regulator
        (0.9, 0.1, 0.7, C),  # outsized margin, strict regulator
        (0.9, 0.1, 0.1, D),  # competitive, modest margin: nothing to fear
        (0.2, 0.6, 0.7, D),  # lax regulator (trigger 1's softened antitrust posture)
    ],
)
def test_antitrust_aware_restraint_weighs_stance_share_and_margin(stance, hhi, margin, expected):
    market = {
        "chips": view(hhi=hhi, operating_margin=margin),
        "cloud": view(hhi=0.05, operating_margin=0.0),
    }
    obs = stack_obs(round=1, regulator_stance=stance, market=market)
    assert make("antitrust_aware_restraint").decide(obs).headline is expected


def test_antitrust_aware_restraint_assumes_exposure_before_market_data():
    assert make("antitrust_aware_restraint").decide(stack_obs(regulator_stance=0.8)).headline is C
    with pytest.raises(ValueError, match="antitrust_aware_restraint: stance"):
        AntitrustAwareRestraint(stance=2.0)


# -- TSMC -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("growth", "utilisation", "expected"),
    [(0.05, 0.9, C), (-0.02, 0.9, D), (0.05, 0.4, D), (0.0, 0.6, C)],
)
def test_protect_through_downcycles_runs_against_the_cycle(growth, utilisation, expected):
    obs = stack_obs(round=4, demand_growth=growth, utilisation={"chips": utilisation})
    assert make("protect_through_downcycles").decide(obs).headline is expected


# -- hyperscalers ---------------------------------------------------------------------------
def test_cloud_flywheel_prices_chips_as_bait_and_extracts_in_cloud():
    action = make("cloud_flywheel").decide(stack_obs())
    assert action.markups == {"chips": 0.0}
    assert action.postures == {"chips": C, "cloud": D}
    assert action.headline is D
    posture_only = CloudFlywheel(bait_markup=None).decide(stack_obs())
    assert posture_only.markups == {} and posture_only.postures == {"chips": C, "cloud": D}
    loss_leader = CloudFlywheel(bait_markup=-0.1).decide(stack_obs())
    assert loss_leader.markups == {"chips": -0.1}
    assert make("cloud_flywheel").decide(stack_obs(layers=("cloud",))).postures == {"cloud": D}


def test_squeezed_cloud_restrains_while_idle_and_follows_its_layer_when_busy():
    strategy = make("squeezed_cloud")
    idle = stack_obs(round=2, utilisation={"cloud": 0.5}, layers=("cloud",))
    busy = idle.replace(utilisation={"cloud": 0.9})
    assert strategy.decide(idle.replace(market={"cloud": view(restraint_rate=0.1)})).headline is C
    assert strategy.decide(busy.replace(market={"cloud": view(restraint_rate=0.1)})).headline is D
    assert strategy.decide(busy.replace(market={"cloud": view(restraint_rate=0.9)})).headline is C


# -- labs -----------------------------------------------------------------------------------
def test_integrator_builds_into_the_supplier_layer_after_k_high_margin_rounds():
    strategy = make("integrator")
    high, low = {"aws": 0.6, "coreweave": 0.5}, {"aws": 0.3, "coreweave": 0.2}
    script = [high, high, high, low, high, high, high, high]
    moves = [
        strategy.decide(lab(round=t, supplier_margins=m)).integration for t, m in enumerate(script)
    ]
    assert moves[:7] == [STAY] * 7  # the dip at round 3 restarts the count
    assert moves[7] == Integration(Move.BUILD, layer="cloud")
    assert strategy.decide(lab(round=8, supplier_margins=high)).integration == STAY  # counts afresh


def test_integrator_needs_a_layer_below_and_suppliers():
    strategy = Integrator(k=1)
    assert (
        strategy.decide(lab(supplier_margins={"aws": 0.9}, integrable=("apps",))).integration
        == STAY
    )
    assert strategy.decide(lab(supplier_margins={})).integration == STAY
    assert strategy.decide(lab(supplier_margins={"aws": 0.9})).headline is D
    with pytest.raises(ValueError, match="integrator: k"):
        Integrator(k=0)


def test_compute_constrained_lab_extracts_when_capacity_binds():
    strategy = make("compute_constrained_lab")
    assert strategy.decide(lab(utilisation={"models": 0.97})).headline is D
    assert strategy.decide(lab(utilisation={"models": 0.8})).headline is C
    assert strategy.decide(lab()).headline is C


# -- open weights ---------------------------------------------------------------------------
def test_commoditise_complement_gives_models_away_and_extracts_in_apps():
    action = make("commoditise_complement").decide(stack_obs(layers=("models", "apps")))
    assert action.markups == {"models": 0.0}
    assert action.postures == {"models": C, "apps": D}


def test_open_then_closed_goes_closed_for_good_once_its_apps_are_taxed():
    strategy = make("open_then_closed")
    meta = dict(layers=("models", "apps"), suppliers=("openai",))
    assert strategy.decide(
        stack_obs(round=1, supplier_margins={"openai": 0.3}, **meta)
    ).markups == {"models": 0.0}
    taxed = strategy.decide(stack_obs(round=2, supplier_margins={"openai": 0.7}, **meta))
    assert taxed.markups == {} and taxed.postures == {"models": D, "apps": D}
    later = strategy.decide(stack_obs(round=3, supplier_margins={"openai": 0.1}, **meta))
    assert later.postures == {"models": D, "apps": D}  # no way back
    strategy.reset()
    assert strategy.decide(stack_obs(round=4, **meta)).markups == {"models": 0.0}


def test_open_then_closed_switches_at_the_switch_round_or_on_a_taxing_model_layer():
    meta = dict(layers=("models", "apps"))
    dated = OpenThenClosed(switch_round=5)
    assert dated.decide(stack_obs(round=4, **meta)).postures["models"] is C
    assert dated.decide(stack_obs(round=5, **meta)).postures["models"] is D
    by_layer = make("open_then_closed")
    assert (
        by_layer.decide(
            stack_obs(round=1, market={"models": view(operating_margin=0.7)}, **meta)
        ).headline
        is D
    )


# -- neoclouds, financiers, supply locks ----------------------------------------------------
def test_utilisation_chaser_steps_down_when_idle_and_up_when_full():
    strategy = make("utilisation_chaser")
    path = [None, 0.5, 0.5, 0.5, 0.5, 0.9, 1.0, 1.0]
    markups = []
    for t, u in enumerate(path):
        util = {} if u is None else {"chips": u, "cloud": u}
        markups.append(
            strategy.decide(stack_obs(round=t, utilisation=util, markup_grid=GRID)).markups["cloud"]
        )
    assert markups == [0.5, 0.25, 0.1, 0.0, 0.0, 0.0, 0.1, 0.25]


def test_utilisation_chaser_without_a_grid_moves_between_postures():
    strategy = make("utilisation_chaser")
    path = [None, 1.0, 0.9, 0.5, 0.9]
    postures = [
        strategy.decide(stack_obs(round=t, utilisation={} if u is None else {"chips": u})).headline
        for t, u in enumerate(path)
    ]
    assert postures == [C, D, D, C, C]
    with pytest.raises(ValueError, match="full"):
        UtilisationChaser(target=0.9, full=0.5)


def test_supply_locker_stakes_each_supplier_then_extracts():
    strategy = make("supply_locker")
    actions = [strategy.decide(stack_obs(round=t)) for t in range(3)]
    assert [a.integration for a in actions] == [
        Integration(Move.STAKE, target="tsmc"),
        Integration(Move.STAKE, target="samsung"),
        STAY,
    ]
    assert [a.headline for a in actions] == [C, C, D]
    assert strategy.decide(make_obs()).integration == STAY  # nothing to lock in a matrix game


def test_secures_supply_early_contracts_for_a_share_of_its_need_once_then_restrains():
    strategy = make("secures_supply_early")
    market = {x: view() for x in ("foundry", "chips", "cloud", "models", "apps")}
    fields = dict(
        market=market,
        suppliers_by_layer={"cloud": ("aws", "coreweave")},
        input_need={"models": 10.0},
    )
    assert strategy.decide(lab(round=0)).contracts == ()  # no market data yet
    signed = strategy.decide(lab(round=1, **fields))
    assert signed.headline is C
    assert signed.contracts == (
        ContractOffer("aws", "cloud", 2.5, 12, take_or_pay=0.8),
        ContractOffer("coreweave", "cloud", 2.5, 12, take_or_pay=0.8),
    )
    later = strategy.decide(lab(round=2, **fields))
    assert later.contracts == () and later.headline is C
    # no suppliers below its lowest layer, or no need: nothing to sign
    assert strategy.decide(lab(round=1, **{**fields, "suppliers_by_layer": {}})).contracts == ()
    assert strategy.decide(lab(round=1, **{**fields, "input_need": {}})).contracts == ()
    assert strategy.decide(lab(round=1, market=market, layers=("foundry",))).contracts == ()
    assert strategy.decide(make_obs()).contracts == ()
    custom = SecuresSupplyEarly(share=1.0, duration=4, take_or_pay=0.0, at=2)
    (offer, _) = custom.decide(lab(round=2, **fields)).contracts
    assert (offer.quantity, offer.duration, offer.take_or_pay) == (5.0, 4, 0.0)
    with pytest.raises(ValueError, match="duration"):
        SecuresSupplyEarly(duration=0)


def test_financier_stakes_in_customers_while_its_capacity_idles():
    strategy = make("financier")
    idle = {"chips": 0.6, "cloud": 0.6}
    moves = [strategy.decide(stack_obs(round=t, utilisation=idle)).integration for t in range(1, 4)]
    assert moves == [
        Integration(Move.STAKE, target="anthropic"),
        Integration(Move.STAKE, target="openai"),
        STAY,
    ]
    busy = Financier()
    assert (
        busy.decide(stack_obs(round=1, utilisation={"chips": 0.95, "cloud": 0.95})).integration
        == STAY
    )
    assert busy.decide(stack_obs(round=0)).integration == STAY


def test_outlet_buyer_buys_a_customer_after_idle_rounds():
    strategy = OutletBuyer(patience=2)
    idle = {"chips": 0.5, "cloud": 0.5}
    first = strategy.decide(stack_obs(round=1, utilisation=idle))
    second = strategy.decide(stack_obs(round=2, utilisation=idle))
    assert first.integration == STAY
    assert second.integration == Integration(Move.BUY, layer="models", target="anthropic")


def test_full_stack_builds_into_the_most_profitable_adjacent_layer():
    strategy = FullStack(interval=2)
    market = {"foundry": view(gross_margin=0.6), "models": view(gross_margin=0.7)}
    assert strategy.decide(stack_obs(round=0, market=market)).integration == STAY
    assert strategy.decide(stack_obs(round=1, market=market)).integration == Integration(
        Move.BUILD, layer="models"
    )
    assert strategy.decide(stack_obs(round=3, integrable=())).integration == STAY


def test_adjacent_layer_uses_the_stack_order():
    assert adjacent_layer(stack_obs(), below=True) == "foundry"
    assert adjacent_layer(stack_obs(), below=False) == "models"
    custom = {x: view() for x in ("wafers", "chips", "cloud", "tokens")}
    obs = stack_obs(integrable=("wafers", "tokens"), market=custom)
    assert adjacent_layer(obs, below=True) == "wafers"
    assert adjacent_layer(obs, below=False) == "tokens"
    assert adjacent_layer(stack_obs(integrable=()), below=True) is None


# -- relationship_keeper: reads the lock-in state of its observation ---------------------
def keeper_obs(hike: dict[str, float], gravity: dict[str, float], backlog: float = 0.0):
    """A seller in ``foundry`` and ``cloud`` with a hand-made lock-in state, round 5."""
    return stack_obs(
        round=5, firm="tsmc", layers=("foundry", "cloud"), hike_memory=hike,
        customer_gravity=gravity, contract_backlog=backlog,
    )  # fmt: skip


def test_relationship_keeper_restrains_while_its_buyers_remember_its_hikes():
    strategy = make("relationship_keeper")  # tolerance 0.25
    # h - g: foundry 0.3 - 0 = 0.3 > 0.25 (restrain); cloud 0.3 - 0.1 = 0.2 (extract)
    action = strategy.decide(keeper_obs({"foundry": 0.3, "cloud": 0.3}, {"cloud": 0.1}))
    assert action.posture("foundry") is C and action.posture("cloud") is D
    # the memory recovered (0.3 x 0.9^1 = 0.27, then 0.243 <= 0.25): it hikes again
    assert strategy.decide(keeper_obs({"foundry": 0.27}, {})).posture("foundry") is C
    assert strategy.decide(keeper_obs({"foundry": 0.243}, {})).posture("foundry") is D
    # gravity outweighs the grudge: 0.6 - 0.4 = 0.2 <= 0.25, locked-in buyers: extract
    assert strategy.decide(keeper_obs({"cloud": 0.6}, {"cloud": 0.4})).posture("cloud") is D
    assert strategy.decide(keeper_obs({"cloud": 0.6}, {"cloud": 0.3})).posture("cloud") is C


def test_relationship_keeper_restrains_while_its_agreements_run_and_before_any_data():
    strategy = make("relationship_keeper")
    quiet = keeper_obs({"foundry": 0.0}, {})
    assert strategy.decide(quiet).headline is D
    assert strategy.decide(quiet.replace(contract_backlog=12.5)).headline is C
    assert strategy.decide(stack_obs(round=0)).headline is C
    with pytest.raises(ValueError, match="tolerance"):
        type(strategy)(tolerance=-1.0)


def test_the_engine_shows_the_lock_in_state_read_only():
    # ai-stack-2026-articles (the hand-set markups), TSMC and Google as relationship
    # keepers: TSMC restrains in round 0 (h = 0 after it), then extracts in round 1
    # (h - g = 0 <= 0.25); so in round 2 its
    # buyers' memory is hike_memory x x = 1.0 x (1.6 - 1.0)/(1 + 1.0) = 0.3 (MODEL.md 5.4)
    from stackgame.environment.model import StackModel

    keepers = {"tsmc": "relationship_keeper", "google": "relationship_keeper"}
    model = StackModel("ai-stack-2026-articles", 0, rounds=3, strategies=keepers)
    model.step()
    model.step()
    seen = model.observe()
    index = model.state.firm_index
    tsmc = seen[index["tsmc"]]
    assert tsmc.hike_memory["foundry"] == pytest.approx(0.3)
    assert tsmc.customer_gravity["foundry"] == 0.0  # gravity only in the cloud layer
    assert tsmc.contract_backlog == 0.0  # no agreements without trigger 2
    with pytest.raises(TypeError):
        tsmc.hike_memory["foundry"] = 0.0  # type: ignore[index]
    google = seen[index["google"]]
    # two rounds at up to gravity x share = 0.1 each, less 5% decay: at most 0.195
    assert 0.0 < google.customer_gravity["cloud"] <= 0.195
    assert google.contract_backlog > 0  # its Anthropic agreement (MODEL.md 17)
    # a strategy that does not read the lock-in state is not shown it
    assert not seen[index["nvidia"]].hike_memory and seen[index["nvidia"]].contract_backlog == 0
    model.release()
