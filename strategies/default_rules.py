"""The default investment and training rules, written once for one firm's operation.

A strategy that keeps the default rule calls these functions (through
:func:`stackgame.strategies.base.default_investment` and
:func:`~stackgame.strategies.base.default_training`, from its Mesa agent); the engine,
for all the firms whose strategy keeps it, calls the same functions from its kernels
(:func:`stackgame.environment.buildout.default_orders_kernel`,
:func:`stackgame.environment.training.training_orders_kernel`), compiled by numba or as
plain Python. So the two paths cannot drift apart: one set of expressions, in one order.

Written in the subset of Python numba compiles (floats and ints in, a float out;
``math.pow`` for powers, which is C's ``pow``, as Python's ``x ** n`` on floats; no
``max``/``min`` on mixed arguments: the comparisons written out so that NaN and -0.0
fall where Python's ``max(0.0, x)`` and ``min(x, y)`` put them). The environment marks
them :func:`~stackgame.environment.jit.jitable` where its kernels use them (this layer
imports nothing from the environment), and :data:`stackgame.environment.jit.KERNEL_SOURCES`
lists this module, so that editing a rule here recompiles the kernels that inline it.
"""

from __future__ import annotations

import math


def investment_units(
    used: float,
    contracted: float,
    growth: float,
    lead: int,
    ahead: int,
    installed: float,
    retirement_rate: float,
    pipeline: float,
    target_utilisation: float,
    unit_price: float,
    funds: float,
) -> float:
    """Units of capacity to order (``docs/MODEL.md`` 15.3), never negative.

    ::

        D = max(used, contracted) (1 + g)^(L + 1 + ahead)
        I = max(0, D / u* - (installed (1 - delta)^L + pipeline))
        I <= funds / unit_price            (unit_price > 0)

    ``lead`` is ``L``, ``ahead`` the rounds built ahead, ``target_utilisation`` ``u*``
    (positive); ``retirement_rate`` is ``delta``.
    """
    base = used
    if contracted > base:  # max(used, contracted)
        base = contracted
    demand = base * math.pow(1.0 + growth, float(lead + 1 + ahead))
    then = installed * math.pow(1.0 - retirement_rate, float(lead)) + pipeline
    units = demand / target_utilisation - then
    units = units if units > 0.0 else 0.0  # max(0.0, units)
    if unit_price > 0 and units * unit_price > funds:
        units = funds / unit_price
        units = units if units > 0.0 else 0.0  # max(0.0, funds / unit_price)
    return units


def training_units(
    revenue: float,
    ratio: float,
    amortisation_rate: float,
    stock: float,
    funds: float,
    unit_price: float,
) -> float:
    """Units of training compute to buy (``docs/MODEL.md`` 20.2); 0.0 when none.

    ::

        B = ratio * R               (R > 0)
        B = rho * S                 (otherwise)
        T = min(B, max(0, funds)) / unit price     (unit price > 0, budget > 0)

    ``revenue`` is ``R`` (last round's revenue from others), ``amortisation_rate``
    ``rho``, ``stock`` ``S`` (the model stock).
    """
    if revenue > 0.0:
        budget = ratio * revenue
    else:
        budget = amortisation_rate * stock
    means = funds if funds > 0.0 else 0.0  # max(0.0, funds)
    if means < budget:  # min(budget, means)
        budget = means
    if not unit_price > 0.0 or not budget > 0.0:
        return 0.0
    return budget / unit_price
