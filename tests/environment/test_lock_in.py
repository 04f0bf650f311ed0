"""Switching costs that move with the play (``docs/MODEL.md`` 5.4), checked by hand.

A two-supplier market: sellers ``a`` and ``b`` in layer ``up`` (unit cost 1, quality 0,
restrain markup 0.25, extract markup 1.5, ample capacity) sell to one buyer ``c`` in
layer ``down``, whose supplier logit has ``choice_mu = 0.25``. With equal prices the
buyer's share at ``a`` is ``1 / (1 + exp((u_b - u_a) / mu))`` with ``u_a - u_b`` the
difference in switching costs.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from stackgame.environment import lock_in as dyn
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import LockInSpec, ScenarioError, from_dict, resolve

_OP = {"capacity": 1000.0, "unit_cost": 1.0, "quality": 0.0, "restrain_markup": 0.25,
       "extract_markup": 1.5, "capital": 10.0}  # fmt: skip
_TWO: dict[str, Any] = {
    "name": "two-suppliers",
    "rounds": 4,
    "layers": [{"name": "up", "choice_mu": 0.25}, {"name": "down"}, {"name": "top"}],
    "allow_integration": False,
    "firms": [
        {"name": "a", "strategy": "always_restrain", "ops": {"up": dict(_OP)}},
        {"name": "b", "strategy": "always_restrain", "ops": {"up": dict(_OP)}},
        {"name": "c", "ops": {"down": {"capacity": 1000.0, "unit_cost": 0.1}}},
        {"name": "d", "ops": {"top": {"capacity": 1000.0, "unit_cost": 0.1, "quality": 5.0}}},
    ],
    "demand": {"market_size": 10.0, "mu": 1.0},
    "regulator": {"enabled": False},
}


def _two(lock_in: dict[str, Any], events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    raw = copy.deepcopy(_TWO)
    raw["lock_in"] = lock_in
    raw["events"] = events or []
    return raw


def _shares_at_a(raw: dict[str, Any], rounds: int) -> list[float]:
    """The buyer's share of its purchases at ``a``, round by round."""
    model = StackModel(from_dict(raw, "two"), 0, rounds=rounds)
    st = model.state
    a, b, c = (st.op(st.firm_index[f], st.layer_index[k]) for f, k in
               (("a", "up"), ("b", "up"), ("c", "down")))  # fmt: skip
    out = []
    for _ in range(rounds):
        model.step()
        assert model.last_round is not None
        flow = model.last_round.clearing.flow
        out.append(float(flow[c, a] / (flow[c, a] + flow[c, b])))
    return out


_EXTRACT_ONCE = [
    {"kind": "set", "name": "a_extracts", "round": 0,
     "set": {"firms.a.strategy": "always_extract"}},
    {"kind": "set", "name": "a_restrains", "round": 1,
     "set": {"firms.a.strategy": "always_restrain"}},
]  # fmt: skip


def test_a_hike_in_round_0_loses_share_that_persists_after_the_hike_ends() -> None:
    """``a`` extracts in round 0 only; its buyer remembers (eta 0.5, recovery 0.5, cap 1).

    Round 0: ``a``'s hike ``x = (1.5 - 0.25) / (1 + 0.25) = 1``, so ``h_a = 0.5 x 1 = 0.5``.
    From round 1 both restrain (equal prices), so the share at ``a`` is
    ``1 / (1 + exp(h_a / 0.25))`` with ``h_a`` halving each round:
    round 1: ``h = 0.5``, ``1 / (1 + e^2) = 0.119203``; round 2: ``h = 0.25``,
    ``1 / (1 + e) = 0.268941``; round 3: ``h = 0.125``, ``1 / (1 + e^0.5) = 0.377541``.
    Without the memory the share is 1/2 from round 1 on.
    """
    spec = {"hike_memory": 0.5, "hike_recovery": 0.5, "hike_cap": 1.0}
    got = _shares_at_a(_two(spec, _EXTRACT_ONCE), 4)
    assert got[1:] == pytest.approx([0.119203, 0.268941, 0.377541], abs=1e-6)
    assert got[0] < got[1]  # in round 0 it lost share by its price alone
    without = _shares_at_a(_two({}, _EXTRACT_ONCE), 4)
    assert without[1:] == pytest.approx([0.5, 0.5, 0.5], abs=1e-12)
    assert got[0] == pytest.approx(without[0], abs=1e-12)  # the memory acts from round 1


def test_memory_is_capped() -> None:
    """``a`` extracts every round with eta 0.5, no recovery, cap 0.75: ``h = 0.5, 0.75, 0.75``.

    With ``a`` at 2.5 and ``b`` at 1.25 (mean 1.875), the price term of the utility
    difference is ``(2.5 - 1.25) / 1.875 / 0.25 = 2.6667``; the share at ``a`` in round 3 is
    ``1 / (1 + exp(2.6667 + 0.75 / 0.25)) = 1 / (1 + e^5.6667) = 0.003448``.
    """
    raw = _two({"hike_memory": 0.5, "hike_recovery": 0.0, "hike_cap": 0.75})
    raw["firms"][0]["strategy"] = "always_extract"
    got = _shares_at_a(raw, 4)
    assert got[0] == pytest.approx(1 / (1 + math.exp(8 / 3)), abs=1e-9)
    assert got[3] == pytest.approx(1 / (1 + math.exp(8 / 3 + 3.0)), abs=1e-9)
    assert got[2] == pytest.approx(got[3], abs=1e-12)  # capped since round 2's clearing


def test_data_gravity_raises_the_switching_cost_after_k_rounds_of_purchases() -> None:
    """``c`` buys (almost) all from ``a`` while ``b``'s quality is -10; gravity 0.1, decay 0.5.

    ``g_ca`` after ``k`` rounds: ``0.1 (1 - 0.5^k) / 0.5``: 0.1, 0.15, 0.175 (k = 1, 2, 3),
    capped at 0.16 from k = 3. From round 3 ``b`` has quality 0 again (equal prices), so
    the share at ``a`` in round 3 is ``1 / (1 + exp(-0.16 / 0.25)) = 0.654753``; ``g_cb``
    stays below ``1e-15``. The switching cost the logit reads is the static one (0) plus
    gravity.
    """
    raw = _two({"gravity": 0.1, "gravity_decay": 0.5, "gravity_cap": 0.16,
                "gravity_layers": ["up"]})  # fmt: skip
    raw["firms"][1]["ops"]["up"]["quality"] = -10.0
    raw["events"] = [{"kind": "set", "name": "b_catches_up", "round": 3,
                      "set": {"firms.b.ops.up.quality": 0.0}}]  # fmt: skip
    model = StackModel(from_dict(raw, "two"), 0, rounds=4)
    st = model.state
    a, b, c = st.op(0, 0), st.op(1, 0), st.op(2, 1)
    held = []
    for _ in range(3):
        model.step()
        assert st.gravity is not None
        held.append(float(st.gravity[c, a]))
    assert held == pytest.approx([0.1, 0.15, 0.16], abs=1e-12)
    assert st.gravity is not None and st.gravity[c, b] < 1e-15
    assert st.lock_in_now()[c, a] == pytest.approx(0.16, abs=1e-12)
    model.step()
    assert model.last_round is not None
    flow = model.last_round.clearing.flow
    assert flow[c, a] / (flow[c, a] + flow[c, b]) == pytest.approx(0.654753, abs=1e-6)


def test_hike_measures_the_price_above_the_restrain_price() -> None:
    """Ad valorem: ``(1 + 1.6) / (1 + 1.0) - 1 = 0.3`` (TSMC); per unit: ``0.5 / 2 = 0.25``.

    Per unit, the price 2.5 at markup 1.0 with restrain markup 0.5 has a restrain price of
    2.0; a markup at or below restrain is no hike.
    """
    x = dyn.hike(np.array([1.6, 1.0, 0.5]), np.array([1.0, 1.0, 1.0]), np.ones(3), False)
    assert x.tolist() == pytest.approx([0.3, 0.0, 0.0])
    y = dyn.hike(np.array([1.0, 0.2]), np.array([0.5, 0.5]), np.array([2.5, 1.0]), True)
    assert y.tolist() == pytest.approx([0.25, 0.0])


def test_off_by_default_and_in_the_textbook_scenarios() -> None:
    """The default spec moves nothing; the textbook scenarios read the static lock-in."""
    assert not LockInSpec().enabled
    for name in ("monopoly-chain", "logit-bertrand-duopoly", "cournot-duopoly"):
        model = StackModel(name, 0, rounds=2)
        assert not model.state.dynamic_lock_in
        assert model.state.lock_in_now() is model.state.structure.lock_in
    assert resolve("ai-stack-2026").lock_in.enabled


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"hike_memory": -1.0}, "lock_in.hike_memory: Input should be greater than or equal to 0"),
        ({"hike_recovery": 1.5}, "lock_in.hike_recovery: Input should be less than or equal"),
        ({"gravity_cap": float("nan")}, "lock_in.gravity_cap: Input should be a finite number"),
        ({"gravity": 0.1}, "lock_in.gravity: data gravity is set but lock_in.gravity_layers"),
        ({"gravity_layers": ["nope"]}, "lock_in.gravity_layers: unknown layer 'nope'"),
        ({"gravity_layers": ["top"]}, "lock_in.gravity_layers: 'top' is the top layer"),
        ({"trust": 1.0}, "lock_in.trust: unknown field"),
    ],
)
def test_bad_lock_in_gets_one_clear_message(spec: dict[str, Any], message: str) -> None:
    """Negative, out of range, NaN, unknown layer or field: one line naming the field."""
    with pytest.raises(ScenarioError) as err:
        from_dict(_two(spec), "two")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_an_event_can_switch_the_memory_on() -> None:
    """``lock_in.hike_memory`` set by an event from round 1: ``a``'s round-1 hike counts."""
    events = [{"kind": "set", "name": "remember", "round": 1, "set": {"lock_in.hike_memory": 0.5}}]
    raw = _two({"hike_recovery": 0.5}, events)
    raw["firms"][0]["strategy"] = "always_extract"
    model = StackModel(from_dict(raw, "two"), 0, rounds=2)
    assert not model.state.dynamic_lock_in
    model.step()  # (round 1's events apply at the end of round 0)
    assert model.state.dynamic_lock_in and model.state.hike_memory[0] == 0.0
    model.step()
    assert model.state.hike_memory[0] == pytest.approx(0.5)  # x = 1 in round 1 only


def test_a_new_operation_starts_with_no_history() -> None:
    """Integration appends an operation: the dynamic arrays grow with zeros."""
    raw = _two({"hike_memory": 0.5, "gravity": 0.1, "gravity_layers": ["up"]})
    model = StackModel(from_dict(raw, "two"), 0, rounds=2)
    model.step()
    st = model.state
    n = st.n_ops
    st.add_op(st.firm_index["d"], 0, 5.0, online_round=2)
    model._structure_changed()  # (as StackModel._build does)
    assert st.hike_memory.shape == (n + 1,) and st.hike_memory[-1] == 0.0
    assert st.gravity is not None and st.gravity.shape == (n + 1, n + 1)
    assert not st.gravity[-1].any() and not st.gravity[:, -1].any()
    model.step()


def test_bad_override_names_the_field() -> None:
    """``--set lock_in.hike_cap=-1`` style overrides are validated like the file."""
    from stackgame.environment.scenario import apply_overrides

    with pytest.raises(ScenarioError, match="lock_in.hike_cap"):
        apply_overrides(resolve("ai-stack-2026"), {"lock_in.hike_cap": -1.0})


def _remember_case(per_unit: bool) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Inputs of :func:`dyn.remember_kernel` and what the numpy rules make of them.

    Four operations: seller 0 charges above its restrain markup (a hike), 1 at it, 2
    below it, 3 above it with a non-positive restrain price (per unit: no hike); buyer
    row 3 bought nothing (its shares stay 0); only sellers 0-2 gather gravity; the caps
    bind on seller 0's memory and on one gravity cell.
    """
    markup = np.array([0.9, 0.25, 0.1, 2.0])
    restrain = np.array([0.25, 0.25, 0.3, 0.5])
    price = np.array([3.0, 1.25, 1.1, 1.2])
    memory = np.array([0.4, 0.1, 0.0, 0.05])
    gravity = np.array([[0.0, 0.2, 0.05, 0.0], [0.3, 0.0, 0.0, 0.1],
                        [0.1, 0.1, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])  # fmt: skip
    flow = np.array([[0.0, 2.0, 1.0, 1.0], [3.0, 0.0, 0.0, 1.0],
                     [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])  # fmt: skip
    seller = np.array([True, True, True, False])
    spec = LockInSpec(hike_memory=0.7, hike_recovery=0.2, hike_cap=0.45,
                      gravity=0.3, gravity_decay=0.1, gravity_cap=0.33,
                      gravity_layers=["up"])  # fmt: skip
    want_memory = dyn.update_memory(
        memory.copy(), dyn.hike(markup, restrain, price, per_unit), spec
    )
    want_gravity = dyn.update_gravity(gravity.copy(), flow, seller, spec)
    args = [markup, restrain, price, per_unit, memory.copy(), 1.0 - spec.hike_recovery,
            spec.hike_memory, spec.hike_cap, True, gravity.copy(), flow, flow.sum(axis=1),
            seller, 1.0 - spec.gravity_decay, spec.gravity, spec.gravity_cap, True]  # fmt: skip
    return args, want_memory, want_gravity


@pytest.mark.parametrize("per_unit", [False, True])
@pytest.mark.parametrize("compiled", [False, True])
def test_remember_kernel_gives_the_numpy_rules_floats(per_unit: bool, compiled: bool) -> None:
    """The one-pass kernel the rounds run equals hike/update_memory/update_gravity exactly.

    By hand (ad valorem): seller 0's hike is (0.9 - 0.25) / 1.25 = 0.52, its memory
    0.8 * 0.4 + 0.7 * 0.52 = 0.684, capped at 0.45; seller 1's 0.8 * 0.1 = 0.08. Buyer
    1 bought 3 of its 4 units from seller 0: gravity 0.9 * 0.3 + 0.3 * 0.75 = 0.495,
    capped at 0.33; its cell at seller 3 (no gravity layer) decays to 0.09.
    """
    from stackgame.environment import jit

    kernel = jit.compile_kernel("remember_kernel", "lock_in") if compiled else dyn.remember_kernel
    args, want_memory, want_gravity = _remember_case(per_unit)
    kernel(*args)
    assert args[4].tolist() == want_memory.tolist()  # the same floats, not merely close
    assert args[9].tolist() == want_gravity.tolist()
    if not per_unit:
        assert args[4][0] == 0.45 and args[4][1] == pytest.approx(0.08)
    assert args[9][1, 0] == 0.33 and args[9][1, 3] == pytest.approx(0.09)
    assert args[9][3].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_remember_kernel_leaves_off_parts_untouched() -> None:
    """``hikes``/``gathers`` false: memory and gravity are left as they were."""
    args, _, _ = _remember_case(False)
    args[8] = args[16] = False
    memory, gravity = args[4].copy(), args[9].copy()
    dyn.remember_kernel(*args)
    assert args[4].tolist() == memory.tolist() and args[9].tolist() == gravity.tolist()
