"""The clearing against textbook closed forms.

Every equilibrium here is found *through* :func:`market.clear`: best responses are solved
numerically on the clearing's own gross profits (Brent's bounded method), never from
the formulas; the formulas are only the reference the result is compared with.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from stackgame.environment import market

from tests.environment.conftest import BIG, argmax, chain, one_layer

A, B = 10.0, 2.0  # inverse demand P = A - B Q (dollars, dollars per unit squared)
C_UP, C_DOWN = 1.0, 1.0  # own unit costs upstream and downstream (dollars per unit)
C = C_UP + C_DOWN
TOL = 1e-3


def _linear(**kw: float | bool) -> market.Demand:
    return market.Demand(kind="linear", intercept=A, slope=B, **kw)  # type: ignore[arg-type]


def _chain_clear(
    structure: market.Structure, margins: list[float], costs: list[float], per_unit: bool = True
) -> market.Clearing:
    n = len(margins)
    return market.clear(
        structure,
        np.asarray(costs, float),
        np.asarray(margins, float),
        np.zeros(n),
        np.full(n, BIG),
        _linear(),
        per_unit=per_unit,
    )


def _best_margin(
    structure: market.Structure, margins: list[float], i: int, costs: list[float]
) -> float:
    """Firm ``i``'s profit-maximising per-unit margin given the others' (through clear)."""

    def profit(t: float) -> float:
        m = list(margins)
        m[i] = t
        return float(_chain_clear(structure, m, costs).gross_profit[i])

    return argmax(profit, 0.0, A)


@functools.cache
def _complements_equilibrium(n: int) -> tuple[list[float], market.Clearing]:
    costs = [C / n] * n
    s = chain(list(range(n)))
    margins = [0.0] * n
    for _ in range(60):  # Gauss-Seidel best responses; BR slope -1/2, a contraction
        old = list(margins)
        for i in range(n):
            margins[i] = _best_margin(s, margins, i, costs)
        if max(abs(a - b) for a, b in zip(margins, old, strict=True)) < 1e-7:
            break
    return margins, _chain_clear(s, margins, costs)


def test_chain_simultaneous_margins_are_cournot_complements() -> None:
    """Simultaneous per-unit margins along a chain: Cournot's (1838) complements.

    Firm ``i`` maximises ``t_i (A - c - sum_j t_j) / B``; the first-order conditions
    ``A - c - sum_j t_j - t_i = 0`` give ``t_i = (A - c)/(n + 1)`` and
    ``p = c + n (A - c)/(n + 1)``: with A=10, B=2, c=2, n=2: t=8/3, p=22/3.
    """
    margins, res = _complements_equilibrium(2)
    t_star = (A - C) / 3
    assert margins == pytest.approx([t_star, t_star], abs=TOL)
    assert res.price[1] == pytest.approx(C + 2 * (A - C) / 3, abs=TOL)
    assert res.quantity[1] == pytest.approx((A - res.price[1]) / B, abs=1e-9)
    assert res.gross_profit == pytest.approx([t_star * (A - C) / (3 * B)] * 2, abs=TOL)


def test_three_layer_chain_is_cournot_complements_with_n_3() -> None:
    """Three monopolists in series: ``t = (A - c)/4`` each, ``p = c + 3(A - c)/4``."""
    margins, res = _complements_equilibrium(3)
    assert margins == pytest.approx([(A - C) / 4] * 3, abs=TOL)
    assert res.price[2] == pytest.approx(C + 3 * (A - C) / 4, abs=TOL)


@functools.cache
def _spengler() -> tuple[float, float, market.Clearing]:
    s = chain([0, 1])
    costs = [C_UP, C_DOWN]

    def upstream_profit(t_up: float) -> float:
        t_down = _best_margin(s, [t_up, 0.0], 1, costs)
        return float(_chain_clear(s, [t_up, t_down], costs).gross_profit[0])

    t_up = argmax(upstream_profit, 0.0, A)
    t_down = _best_margin(s, [t_up, 0.0], 1, costs)
    return t_up, t_down, _chain_clear(s, [t_up, t_down], costs)


def test_chain_sequential_margins_are_spengler_successive_monopolies() -> None:
    """Spengler (1950): the upstream monopolist sets its price first, downstream responds.

    Downstream, given the wholesale price ``w``: ``p = (A + c_d + w)/2``, ``Q = (A - c_d -
    w)/(2B)``. Upstream maximises ``(w - c_u) Q``: ``w = (A - c_d + c_u)/2``. Hence
    ``p = (3A + c)/4`` with ``c = c_u + c_d``: here 32/4 = 8.
    """
    t_up, t_down, res = _spengler()
    w = (A - C_DOWN + C_UP) / 2
    assert res.price[0] == pytest.approx(w, abs=TOL)
    assert t_up == pytest.approx(w - C_UP, abs=TOL)
    assert res.price[1] == pytest.approx((3 * A + C) / 4, abs=TOL)
    assert t_down == pytest.approx((A - C) / 4, abs=TOL)


def test_integration_removes_double_marginalisation() -> None:
    """One firm in both layers supplies itself at cost: the integrated monopoly price.

    Its downstream input cost is ``c_u`` whatever its upstream markup (no double
    marginalisation); the optimal downstream margin gives ``p = (A + c)/2`` and joint
    profit ``(A - c)^2/(4B)`` = 8, above the complements' ``2(A - c)^2/(9B)`` = 7.11 and
    Spengler's ``3(A - c)^2/(16B)`` = 6; prices rank the other way: 8 > 7.33 > 6.
    """
    s = chain([0, 0])
    costs = [C_UP, C_DOWN]
    # the upstream markup is irrelevant to the integrated firm's own input cost
    r1 = _chain_clear(s, [0.0, 1.0], costs)
    r2 = _chain_clear(s, [5.0, 1.0], costs)
    assert r1.price[1] == r2.price[1] == pytest.approx(C + 1.0)
    assert r2.self_supply[1] == pytest.approx(r2.quantity[1])
    assert r2.gross_profit[0] == pytest.approx(0.0, abs=1e-9)  # transferred at cost

    t = _best_margin(s, [0.0, 0.0], 1, costs)
    integrated = _chain_clear(s, [0.0, t], costs)
    assert integrated.price[1] == pytest.approx((A + C) / 2, abs=TOL)
    joint_integrated = float(integrated.gross_profit.sum())
    assert joint_integrated == pytest.approx((A - C) ** 2 / (4 * B), abs=TOL)

    _, complements = _complements_equilibrium(2)
    _, _, spengler = _spengler()
    joint_complements = float(complements.gross_profit.sum())
    joint_spengler = float(spengler.gross_profit.sum())
    assert joint_complements == pytest.approx(2 * (A - C) ** 2 / (9 * B), abs=TOL)
    assert joint_spengler == pytest.approx(3 * (A - C) ** 2 / (16 * B), abs=TOL)
    assert joint_integrated > joint_complements > joint_spengler
    assert spengler.price[1] > complements.price[1] > integrated.price[1]


def test_chain_simultaneous_ad_valorem_markups() -> None:
    """Ad valorem markups ``p = cost (1 + m)`` chosen simultaneously along a chain.

    Downstream (own cost 0) buys at ``w = c_u (1 + m_u)`` and sells at ``p = w (1 + m_d)``;
    its best response is ``p = (A + w)/2``. Upstream takes ``m_d`` as given, so ``p``
    moves by ``1 + m_d`` per dollar of ``w``; its first-order condition
    ``A = (1 + m_d)(2w - c_u)`` with ``1 + m_d = (A + w)/(2w)`` gives ``2 w^2 = c_u (A + w)``:
    ``w = (c_u + sqrt(c_u^2 + 8 A c_u))/4``. With A=10, c_u=2: w=3.7016, p=6.8508, below
    the per-unit complements price (22/3 at the same cost), above integration (6).
    """
    c_u = 2.0
    s = chain([0, 1])
    costs = [c_u, 0.0]

    def profit(i: int, markups: list[float]) -> float:
        return float(_chain_clear(s, markups, costs, per_unit=False).gross_profit[i])

    m = [0.5, 0.5]
    for _ in range(80):
        old = list(m)
        for i in range(2):
            m[i] = argmax(
                lambda x, i=i: profit(i, [x if j == i else m[j] for j in range(2)]), 0, 10
            )
        if max(abs(a - b) for a, b in zip(m, old, strict=True)) < 1e-8:
            break
    res = _chain_clear(s, m, costs, per_unit=False)
    w = (c_u + math.sqrt(c_u**2 + 8 * A * c_u)) / 4
    assert res.price[0] == pytest.approx(w, abs=TOL)
    assert res.price[1] == pytest.approx((A + w) / 2, abs=TOL)
    complements_price = c_u + 2 * (A - c_u) / 3
    assert (A + c_u) / 2 < res.price[1] < complements_price


@pytest.mark.parametrize("n", [2, 3])
def test_cournot_best_responses_converge_to_nash(n: int) -> None:
    """Cournot (1838) oligopoly: ``q* = (A - c)/(B (n + 1))``, ``P = (A + n c)/(n + 1)``.

    Best responses are iterated one firm at a time (Gauss-Seidel): the simultaneous
    (Jacobi) iteration does not converge for ``n >= 3`` (Theocharis 1960), but the
    sequential one does, because the first-order system is symmetric positive definite.
    """
    c = 1.0
    s = one_layer(n)
    demand = market.Demand(kind="linear", intercept=A, slope=B, cournot=True)
    q = np.full(n, 0.1)

    def profit(i: int, x: float) -> float:
        offer = q.copy()
        offer[i] = x
        res = market.clear(
            s,
            np.full(n, c),
            np.zeros(n),
            np.zeros(n),
            np.full(n, BIG),
            demand,
            quantity_offer=offer,
        )
        return float(res.gross_profit[i])

    for _ in range(100):
        old = q.copy()
        for i in range(n):
            q[i] = argmax(lambda x, i=i: profit(i, x), 0.0, A / B)
        if np.abs(q - old).max() < 1e-8:
            break
    assert q == pytest.approx(np.full(n, (A - c) / (B * (n + 1))), abs=TOL)
    res = market.clear(
        s, np.full(n, c), np.zeros(n), np.zeros(n), np.full(n, BIG), demand, quantity_offer=q
    )
    assert res.price[0] == pytest.approx((A + n * c) / (n + 1), abs=TOL)
    assert res.final_spend == pytest.approx(res.price[0] * q.sum())


def _calvano(markups: np.ndarray) -> market.Clearing:
    demand = market.Demand(kind="logit", market_size=1.0, mu=0.25, outside_quality=0.0)
    return market.clear(
        one_layer(2),
        np.ones(2),
        np.asarray(markups, float),
        np.full(2, 2.0),
        np.full(2, BIG),
        demand,
    )


def test_logit_bertrand_duopoly_calvano_baseline() -> None:
    """Calvano, Calzolari, Denicolo and Pastorello (2020), baseline: a=2, a0=0, c=1, mu=1/4.

    Nash: each price solves ``p - c = mu/(1 - s)`` (logit first-order condition),
    ``p^N = 1.4729``; joint-profit (monopoly) price ``p^M = 1.9250``. Markups are ad
    valorem over ``c = 1``, so ``p = 1 + m``.
    """
    m = np.array([0.0, 0.0])
    for _ in range(100):
        old = m.copy()
        for i in range(2):
            m[i] = argmax(
                lambda x, i=i: float(_calvano(np.where(np.arange(2) == i, x, m)).gross_profit[i]),
                0.0,
                3.0,
            )
        if np.abs(m - old).max() < 1e-9:
            break
    nash = _calvano(m)
    assert nash.price == pytest.approx([1.4729, 1.4729], abs=TOL)
    share = nash.quantity[0]  # market size 1
    assert nash.price[0] - 1.0 == pytest.approx(0.25 / (1 - share), abs=1e-5)

    m_joint = argmax(lambda x: float(_calvano(np.array([x, x])).gross_profit.sum()), 0.0, 3.0)
    assert 1 + m_joint == pytest.approx(1.9249, abs=TOL)


def test_logit_bertrand_restrain_extract_is_a_prisoners_dilemma() -> None:
    """With restrain = Nash markup and extract = joint-profit markup, T > R > P > S, 2R > T + S.

    R = pi(p^M, p^M) = 0.3375, P = pi(p^N, p^N) = 0.2229, T = pi(p^N, p^M) = 0.3679 (the
    restrainer undercuts), S = pi(p^M, p^N) = 0.1180.
    """
    nash, joint = 0.4729, 0.9249
    payoff = {
        (a, b): float(_calvano(np.array([a, b])).gross_profit[0])
        for a in (nash, joint)
        for b in (nash, joint)
    }
    t, r, p, s = payoff[nash, joint], payoff[joint, joint], payoff[nash, nash], payoff[joint, nash]
    assert (t, r, p, s) == pytest.approx((0.3679, 0.3375, 0.2229, 0.1180), abs=TOL)
    assert t > r > p > s
    assert 2 * r > t + s


# -- the shipped textbook scenarios ------------------------------------------------------

TEXTBOOK = ("monopoly-chain", "logit-bertrand-duopoly", "cournot-duopoly")


@pytest.mark.parametrize("name", TEXTBOOK)
def test_textbook_scenarios_are_built_in_and_valid(name: str) -> None:
    from stackgame.environment.scenario import builtin_names, resolve

    assert name in builtin_names()
    scenario = resolve(name)
    assert scenario.name == name
    assert not scenario.regulator.enabled and not scenario.allow_integration


def _posture_payoffs(
    name: str, firms: tuple[str, str]
) -> dict[tuple[str, str], tuple[float, float]]:
    """Per-round gross profit of both firms for each pair of fixed postures, via the model."""
    from stackgame.environment.model import StackModel

    table = {}
    for a in ("restrain", "extract"):
        for b in ("restrain", "extract"):
            strategies = {firms[0]: f"always_{a}", firms[1]: f"always_{b}"}
            model = StackModel(name, seed=0, rounds=2, strategies=strategies)
            model.step()
            clearing = model.last_clearing
            model.release()
            assert clearing is not None
            table[a, b] = (float(clearing.gross_profit[0]), float(clearing.gross_profit[1]))
    return table


def test_monopoly_chain_scenario_reproduces_the_complements_equilibrium() -> None:
    """Both extract: margins 8/3, p = 22/3, profit 64/9 each; extract is weakly dominant and
    mutual restraint pays the same 64/9 (margins symmetric around the joint optimum)."""
    pay = _posture_payoffs("monopoly-chain", ("upstream_monopolist", "downstream_monopolist"))
    assert pay["extract", "extract"] == pytest.approx((64 / 9, 64 / 9), abs=1e-3)
    assert pay["restrain", "restrain"] == pytest.approx((64 / 9, 64 / 9), abs=1e-3)
    assert pay["extract", "restrain"] == pytest.approx((32 / 3, 16 / 3), abs=1e-3)
    assert pay["restrain", "extract"] == pytest.approx((16 / 3, 32 / 3), abs=1e-3)


def test_logit_bertrand_scenario_posture_game_is_a_prisoners_dilemma() -> None:
    """Restrain = Nash markup, extract = joint-profit markup (see the scenario's comments)."""
    pay = _posture_payoffs("logit-bertrand-duopoly", ("firm_1", "firm_2"))
    p, r = pay["restrain", "restrain"][0], pay["extract", "extract"][0]
    t, s = pay["restrain", "extract"]
    assert (p, r, t, s) == pytest.approx((0.2229, 0.3375, 0.3679, 0.1180), abs=TOL)
    assert t > r > p > s and 2 * r > t + s


def test_cournot_scenario_postures_are_a_prisoners_dilemma() -> None:
    """Restrain offers the capacity q* = 3, extract withholds to K/(1 + 1/3) = 2.25.

    Hand-computed with P = 10 - (x_1 + x_2), c = 1: both restrain, P = 4, (4 - 1) 3 = 9
    each (the Cournot outcome, the default play); both extract, P = 5.5, 4.5 x 2.25 =
    10.125 each, the joint-profit outcome (A - c)^2/(8B); one extracts, P = 4.75, it
    earns 3.75 x 2.25 = 8.4375 and the restrainer 3.75 x 3 = 11.25.
    """
    pay = _posture_payoffs("cournot-duopoly", ("firm_1", "firm_2"))
    assert pay["restrain", "restrain"] == pytest.approx((9.0, 9.0))
    assert pay["extract", "extract"] == pytest.approx((10.125, 10.125))
    assert pay["extract", "restrain"] == pytest.approx((8.4375, 11.25))
    assert pay["restrain", "extract"] == pytest.approx((11.25, 8.4375))
    t, r, p, s = 11.25, pay["extract", "extract"][0], pay["restrain", "restrain"][0], 8.4375
    assert t > r > p > s and 2 * r > t + s
