"""The default investment and training rules run as kernels give the strategies' numbers.

The engine does not ask, one by one, the firms whose strategy keeps the default rule
(:meth:`FirmAgent.default_investment`, :meth:`FirmAgent.trains_by_default`): it runs the
rule for all of them in one kernel (``buildout.default_orders_kernel``,
``training.training_orders_kernel``). These tests hold the kernels, plain and compiled,
to :func:`default_investment` and :func:`default_training` bit for bit, and a model to
the orders its strategies would have given when asked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest
from stackgame.environment.buildout import default_orders_kernel
from stackgame.environment.model import StackModel
from stackgame.strategies.base import (
    CapitalPosition,
    Observation,
    Strategy,
    TrainingPosition,
    default_investment,
    default_training,
)
from stackgame.strategies.fixed import AlwaysRestrain


def _kernels(name: str, module: str) -> list[object]:
    from stackgame.environment.buildout import default_orders_kernel as plain_orders
    from stackgame.environment.training import training_orders_kernel as plain_training

    plain = {"buildout": plain_orders, "training": plain_training}[module]
    out: list[object] = [plain]
    try:
        import numba  # noqa: F401
    except ImportError:
        return out
    from stackgame.environment import jit

    out.append(jit.compile_kernel(name, module))
    return out


def test_the_default_order_by_hand() -> None:
    # installed 10, pipeline 1, used 9, contracted 0, retirement 0.1, lead 1, growth 0.05,
    # u* 0.8, ahead 0: D = 9 x 1.05^2 = 9.9225; then = 10 x 0.9 + 1 = 10;
    # I = 9.9225 / 0.8 - 10 = 2.403125 units of capacity; a = 2: 4.80625 units ordered
    orders = np.zeros(1)
    default_orders_kernel(
        np.array([0]), np.array([1]), np.array([2.0]), np.array([1]), np.array([0]),
        np.array([0.8]), np.array([0]), np.array([10.0]), np.array([1.0]), np.array([9.0]),
        np.array([0.1]), np.array([0.0]), np.array([0.0, 1.5]), np.array([0.0, 0.0]),
        np.array([math.inf]), 0.05, orders,
    )  # fmt: skip
    assert orders[0] == pytest.approx(2.403125 * 2.0, abs=1e-12)
    # funds of 6 at a unit price of 2 x 1.5 = 3 buy 2 units of capacity (4 ordered)
    orders[:] = 0.0
    default_orders_kernel(
        np.array([0]), np.array([1]), np.array([2.0]), np.array([1]), np.array([0]),
        np.array([0.8]), np.array([0]), np.array([10.0]), np.array([1.0]), np.array([9.0]),
        np.array([0.1]), np.array([0.0]), np.array([0.0, 1.5]), np.array([0.0, 0.0]),
        np.array([6.0]), 0.05, orders,
    )  # fmt: skip
    assert orders[0] == pytest.approx(4.0, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_the_order_kernel_matches_default_investment(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n_firms, n_layers = 40, 6, 3
    ops = np.arange(m, dtype=np.int64)
    lead = rng.integers(1, 5, m)
    a = rng.uniform(0.5, 3.0, m)
    layer = rng.integers(1, n_layers, m)
    firm = rng.integers(0, n_firms, m)
    target = rng.uniform(0.6, 1.0, n_firms)
    target[0] = 0.0  # a firm not asked by the default rule
    ahead = rng.integers(0, 3, n_firms)
    capacity = rng.uniform(0.0, 20.0, m)
    pipeline = rng.uniform(0.0, 5.0, m)
    used = rng.uniform(0.0, 25.0, m - 3)  # (an operation past the end: used 0)
    rate = rng.uniform(0.0, 0.3, m)
    sold = np.where(rng.random(m) < 0.3, rng.uniform(0.0, 30.0, m), 0.0)
    below = rng.uniform(0.0, 2.0, n_layers)
    below[1] = 0.0  # a free input: no funds limit
    infra = rng.uniform(0.0, 0.5, n_layers)
    funds = np.where(rng.random(n_firms) < 0.5, rng.uniform(-5.0, 40.0, n_firms), math.inf)
    growth = float(rng.uniform(-0.05, 0.1))
    want = np.zeros(m)
    for j in range(m):
        f = int(firm[j])
        if not target[f] > 0.0:
            continue
        o, k = int(ops[j]), int(layer[j])
        position = CapitalPosition(
            float(capacity[o]), float(pipeline[o]), float(used[o]) if o < used.shape[0] else 0.0,
            float(rate[o]), int(lead[j]), float(sold[o]), float(a[j] * below[k] + infra[k]),
            float(funds[f]), growth,
        )  # fmt: skip
        units = default_investment(position, float(target[f]), int(ahead[f]))
        if units > 0.0:
            want[o] = units * float(a[j])
    for kernel in _kernels("default_orders_kernel", "buildout"):
        got = np.zeros(m)
        kernel(  # type: ignore[operator]
            ops, lead, a, layer, firm, target, ahead, capacity, pipeline, used, rate, sold,
            below, infra, funds, growth, got,
        )  # fmt: skip
        assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("financing", [True, False])
def test_the_training_kernel_matches_default_training(financing: bool) -> None:
    rng = np.random.default_rng(7)
    n, n_firms, n_layers = 30, 8, 4
    ask = rng.integers(0, 3, n)  # 0 not asked, 1 the default rule, 2 its own rule
    firm_of = rng.integers(0, n_firms, n)
    layer_of = rng.integers(0, n_layers, n)
    stock = rng.uniform(0.0, 10.0, n)
    rate = rng.uniform(0.05, 0.3, n)
    ratio = rng.uniform(0.0, 0.5, n)
    revenue = np.where(rng.random(n_firms - 2) < 0.3, 0.0, rng.uniform(0.0, 50.0, n_firms - 2))
    available = rng.uniform(-1.0, 30.0, n_firms) if financing else np.full(n_firms, math.inf)
    appetite = rng.uniform(0.2, 1.0, n_firms)
    last_revenue = rng.uniform(-5.0, 40.0, n_firms)
    raises = rng.random(n_firms) < 0.5
    drop, multiple = 0.3, 2.0
    paid_units = np.where(rng.random(n - 4) < 0.5, rng.uniform(0.0, 5.0, n - 4), 0.0)
    paid_spend = rng.uniform(0.0, 8.0, n - 4)
    fallback = rng.uniform(0.0, 2.0, n_layers)
    fallback[0] = 0.0  # no price yet: no order
    lost = (appetite * drop * multiple * np.maximum(last_revenue, 0.0)) * raises
    funds = available - lost if financing else available
    want = np.zeros(n)
    want_price = np.zeros(n)
    for o in range(n):
        if ask[o] == 0:
            continue
        if o < paid_units.shape[0] and paid_units[o] > 0:
            price = float(paid_spend[o] / paid_units[o])
        else:
            price = float(fallback[layer_of[o]])
        want_price[o] = price
        if ask[o] != 1:
            continue
        f = int(firm_of[o])
        position = TrainingPosition(
            float(stock[o]), float(rate[o]),
            float(revenue[f]) if f < revenue.shape[0] else 0.0, float(ratio[o]), price,
            float(funds[f]),
        )  # fmt: skip
        units = default_training(position)
        if units > 0.0 and math.isfinite(units):
            want[o] = units
    for kernel in _kernels("training_orders_kernel", "training"):
        got = np.zeros(n)
        price, got_funds = kernel(  # type: ignore[operator]
            ask, firm_of, layer_of, stock, rate, ratio, revenue, available, financing,
            appetite, last_revenue, raises, drop, multiple, paid_units, paid_spend, fallback,
            got,
        )  # fmt: skip
        assert got.tobytes() == want.tobytes()
        assert price.tobytes() == want_price.tobytes()
        assert got_funds.tobytes() == funds.tobytes()


class _AskedDefault(Strategy):
    """Test-only: the default rules, but its own methods (so the engine asks it)."""

    name = "test_asked_default"

    def invest(
        self, observation: Observation, positions: Mapping[str, CapitalPosition]
    ) -> Mapping[str, float]:
        """The default rule, asked."""
        return Strategy.invest(self, observation, positions)

    def train(self, observation: Observation, position: TrainingPosition) -> float:
        """The default rule, asked."""
        return Strategy.train(self, observation, position)


def test_a_run_is_the_same_when_every_firm_is_asked() -> None:
    # the shipped scenario with every strategy's rule computed in the kernels, against
    # the same run where every firm is asked through its agent (same decisions, same
    # draws: only the invest and train calls differ)
    fast = StackModel("ai-stack-2026", 3, rounds=8)
    slow = StackModel("ai-stack-2026", 3, rounds=8)
    for agent in slow.firms:
        base = type(agent.strategy)
        asked = type(f"Asked{base.__name__}", (base,), {
            "invest": _AskedDefault.invest, "train": _AskedDefault.train,
        })  # fmt: skip
        agent.strategy.__class__ = asked
        assert agent.default_investment() is None
        assert not agent.trains_by_default()
    assert any(a.default_investment() is not None for a in fast.firms)
    assert any(a.trains_by_default() for a in fast.firms)
    fast.run()
    slow.run()
    for name in ("capacity", "capital", "cash", "debt"):
        assert getattr(fast.state, name).tobytes() == getattr(slow.state, name).tobytes(), name
    assert fast.training.stock.tobytes() == slow.training.stock.tobytes()
    fast.release()
    slow.release()


class _FixedOrder(AlwaysRestrain):
    """Test-only: orders 3 units of capacity in every capital-goods layer, and says when."""

    name = "test_fixed_order"

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[int] = []

    def invest(
        self, observation: Observation, positions: Mapping[str, CapitalPosition]
    ) -> Mapping[str, float]:
        """3 units in each layer offered."""
        self.asked.append(observation.round)
        return dict.fromkeys(positions, 3.0)


class _RunsCold(AlwaysRestrain):
    """Test-only: the default rule with another target utilisation and horizon."""

    name = "test_runs_cold"
    target_utilisation = 0.5
    builds_ahead = 3


def _capital_op(model: StackModel, firm: str) -> tuple[int, int, float]:
    """``firm``'s index, its capital-goods operation and the layer's ``a_l``."""
    st = model.state
    i = st.firm_index[firm]
    for j, ops in enumerate(st.firm_of.tolist()):
        if ops == i and st.active[j] and st.capital_goods[st.layer_of[j]]:
            return i, j, float(st.input_coefficient[st.layer_of[j]])
    raise AssertionError(firm)


def test_a_strategy_swapped_mid_run_is_asked_by_its_new_rule() -> None:
    # the investment stage keeps who it asks and how (StackModel._invest_plan) while the
    # structure and the strategy objects stay; a strategy set mid-run must be asked by
    # its own rule from the next round on, and a default rule read from the new object
    model = StackModel("ai-stack-2026", 5, rounds=12)
    for _ in range(4):
        model.step()
    i, o, a = _capital_op(model, "coreweave")
    before = model.invest(model.observe())
    # an own rule: asked through the agent every round, its answer ordered (3 a_l units)
    fixed = _FixedOrder()
    model.firms[i].set_strategy(fixed)
    orders = model.invest(model.observe())
    assert fixed.asked == [model.round]
    assert orders[o] == 3.0 * a
    model.step()
    model.step()
    assert fixed.asked == [4, 4, 5]
    # back to a default rule with other parameters: the kernel's numbers are the ones
    # the strategy gives when asked through its agent
    model.firms[i].set_strategy(_RunsCold())
    obs = model.observe()
    cold = model.invest(obs)
    assert cold[o] != before[o] and cold[o] != orders[o]
    model.firms[i].strategy.__class__ = type(
        "AskedRunsCold", (_RunsCold,), {"invest": _AskedDefault.invest}
    )
    assert model.firms[i].default_investment() is None  # (now asked one by one)
    assert model.invest(obs).tobytes() == cold.tobytes()
    model.release()


def test_a_structure_change_rebuilds_the_investment_plan() -> None:
    # a merger moves capital-goods operations between firms (a new structure version):
    # the plan is rebuilt, each entry carries its new owner's rule, and the orders are
    # the ones a plan built from nothing gives
    model = StackModel("ai-stack-2026", 5, rounds=12)
    for _ in range(3):
        model.step()
    model.invest(model.observe())
    plan = model._plan
    assert plan is not None and plan.version == model.state.version
    st = model.state
    buyer, target = st.firm_index["aws"], st.firm_index["coreweave"]
    kept = model.invest(model.observe())
    assert model._plan is plan  # (nothing changed: kept)
    st.merge_firm(buyer, target, model.round)
    obs = model.observe()
    orders = model.invest(obs)
    rebuilt = model._plan
    assert rebuilt is not plan and rebuilt.version == st.version
    entries, values = rebuilt.entries, rebuilt.values
    assert target not in entries[3].tolist()
    for j in range(entries.shape[1]):
        o, f = int(entries[0, j]), int(entries[3, j])
        assert st.firm_of[o] == f and st.active[o]
        strategy = model.firms[f].strategy
        assert values[1, j] == strategy.target_utilisation
        assert entries[4, j] == strategy.builds_ahead
    model._plan = None
    assert model.invest(obs).tobytes() == orders.tobytes()
    assert orders.tobytes() != kept.tobytes()
    model.release()
