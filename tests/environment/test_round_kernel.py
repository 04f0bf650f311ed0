"""The round's kernels as plain Python: prepare, settle, and numpy's pairwise row sums."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stackgame.environment.payouts import pair_layout
from stackgame.environment.round_kernel import (
    _maximum,
    _minimum,
    prepare_kernel,
    row_sums,
    settle_kernel,
)


def test_maximum_and_minimum_follow_numpy_for_nan() -> None:
    nan = math.nan
    for a, b in [(1.0, 2.0), (2.0, 1.0), (nan, 1.0), (1.0, nan), (0.0, -0.0), (-0.0, 0.0)]:
        want_max = float(np.maximum(a, b))
        want_min = float(np.minimum(a, b))
        got_max, got_min = _maximum(a, b), _minimum(a, b)
        assert (math.isnan(got_max) and math.isnan(want_max)) or got_max == want_max
        assert (math.isnan(got_min) and math.isnan(want_min)) or got_min == want_min
        # ties give the second argument: the sign of zero shows which
        if a == b:
            assert math.copysign(1.0, got_max) == math.copysign(1.0, b)
            assert math.copysign(1.0, got_min) == math.copysign(1.0, b)


def _prepare(round_: int = 2, **changes: object) -> np.ndarray:
    # three ops: 0 (chips) supplies 1 (cloud, owned by the same firm); 2 is a cloud rival
    args: dict[str, object] = {
        "chosen": np.array([0.5, 0.8, -0.5]),
        "cap_until": np.array([-1, 5, -1]),
        "cap_markup": np.array([np.inf, 0.3, np.inf]),
        "floor": np.array([0.0, 0.0, -0.95]),
        "online_round": np.array([0, 0, 3]),
        "active": np.array([True, True, True]),
        "capacity": np.array([10.0, 20.0, 30.0]),
        "quality": np.array([1.0, 2.0, 3.0]),
        "inactive_quality": -1e9,
        "penalty_until": np.array([-1, 4, -1]),
        "integrated_at": np.array([-1, 0, -1]),
        "unit_cost": np.array([1.0, 2.0, 3.0]),
        "base_unit_cost": np.array([0.5, 1.5, 2.5]),
        "own_below": np.array([-1, 0, -1]),
        "last_need": np.array([0.0, 40.0, 0.0]),
        "input_coefficient": np.array([0.0, 1.0]),
        "layer_of": np.array([0, 1, 1]),
    }
    args.update(changes)
    return prepare_kernel(round_, **args)  # type: ignore[arg-type]


def test_prepare_caps_floors_and_masks_by_hand() -> None:
    markup, live_cap, live_quality, cost, share = _prepare()
    # op 1 is capped to 0.3 until round 5; op 2's -0.5 is above its floor of -0.95
    np.testing.assert_array_equal(markup, [0.5, 0.3, -0.5])
    # op 2 comes online in round 3
    np.testing.assert_array_equal(live_cap, [10.0, 20.0, 0.0])
    np.testing.assert_array_equal(live_quality, [1.0, 2.0, 3.0])
    # integrated op 1 pays the entrant's cost until its penalty ends; the others never
    # integrated pay their own unit cost
    np.testing.assert_array_equal(cost, [1.0, 2.0, 3.0])
    # op 1 needed 40 input units last round; its own supplier has 10: a quarter
    np.testing.assert_array_equal(share, [0.0, 0.25, 0.0])


def test_prepare_after_the_cap_and_penalty_end() -> None:
    markup, live_cap, _, cost, _ = _prepare(round_=5, floor=np.array([0.6, 0.0, 0.0]))
    np.testing.assert_array_equal(markup, [0.6, 0.8, 0.0])  # floored; cap over
    np.testing.assert_array_equal(live_cap, [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(cost, [1.0, 1.5, 3.0])  # op 1 at its base cost


def test_prepare_inactive_ops_have_no_capacity_and_unchoosable_quality() -> None:
    _, live_cap, live_quality, _, share = _prepare(active=np.array([False, True, True]))
    assert live_cap[0] == 0.0 and live_quality[0] == -1e9
    assert share[1] == 0.0  # its own supplier has nothing to give


def test_prepare_in_round_zero_plans_on_full_capacity() -> None:
    # no history: op 1 expects to need 1.0 * 20 units; its supplier has 10: half
    share = _prepare(round_=0, online_round=np.zeros(3, dtype=np.int64))[4]
    assert share[1] == 0.5
    # ample own supply is capped at all of it; no need at all is read as all of it
    assert _prepare(last_need=np.array([0.0, 4.0, 0.0]))[4][1] == 1.0
    assert _prepare(last_need=np.array([0.0, 0.0, 0.0]))[4][1] == 1.0


def _settle(**changes: object) -> tuple[np.ndarray, ...]:
    # two firms: firm 0 runs op 0 (chips) and op 1 (apps); firm 1 runs op 2 (apps)
    args: dict[str, object] = {
        "layer_of": np.array([0, 1, 1]),
        "firm_of": np.array([0, 0, 1]),
        "n_layers": 2,
        "n_firms": 2,
        "revenue": np.array([10.0, 30.0, 10.0]),
        "input_cost": np.array([0.0, 6.0, 4.0]),
        "variable_cost": np.array([2.0, 3.0, 1.0]),
        "internal_revenue": np.array([6.0, 0.0, 0.0]),
        "quantity": np.array([5.0, 3.0, 1.0]),
        "capacity": np.array([10.0, 0.0, 4.0]),
        "capital": np.array([10.0, 0.0, 0.0]),
        "depreciation_rate": np.array([0.1, 0.0, 0.0]),
        "fixed_cost": np.array([1.0, 0.0, 0.0]),
        "writedown": np.array([0.0, 0.0, 2.0]),
        "fines": np.array([0.0, 1.0, 0.0]),
        "markup": np.array([0.5, 0.2, 0.2]),
        "restrain_markup": np.array([0.2, 0.2, 0.2]),
        "active": np.array([True, True, False]),
        "unit_input_cost": np.array([0.0, 9.0, 9.0]),
        "flow": np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
        "wear_in_gross": np.zeros(3),
        "cum": np.zeros(0),
        "price": np.zeros(0),
    }
    args.update(changes)
    # the kernel takes the flows per pair that traded (each buyer's sellers ascending) and
    # gives the purchase shares per pair: laid out here as the matrices they stand for
    flow = np.asarray(args.pop("flow"))
    pairs = np.array(np.nonzero(flow), dtype=np.int64).reshape(2, -1)
    starts, sellers = pair_layout(pairs)
    args.update(starts=starts, sellers=sellers, flow=flow[pairs[0], pairs[1]], flow_n=flow.shape[0])
    *rest, mix = settle_kernel(**args)  # type: ignore[arg-type]
    dense = np.zeros(flow.shape)
    dense[pairs[0], pairs[1]] = mix
    return (*rest, dense)


def test_settle_per_operation_by_hand() -> None:
    per_op, posture, _, _, _ = _settle()
    gross, depreciation, operating, utilisation, margin, unit_input, share = per_op
    np.testing.assert_allclose(gross, [8.0, 21.0, 5.0])  # revenue - inputs - variable
    np.testing.assert_allclose(depreciation, [1.0, 0.0, 2.0])  # rate x capital + writedown
    np.testing.assert_allclose(operating, [6.0, 20.0, 3.0])  # less fixed cost and fines
    np.testing.assert_allclose(utilisation, [0.5, 0.0, 0.25])  # no capacity: zero
    np.testing.assert_allclose(margin, [6.0 / 4.0, 20.0 / 30.0, 3.0 / 10.0])  # on external
    np.testing.assert_allclose(unit_input, [0.0, 2.0, 4.0])
    np.testing.assert_allclose(share, [1.0, 0.75, 0.25])
    assert posture.tolist() == [1, 0, 0]  # only op 0 prices above its restrain markup


def test_settle_per_firm_and_per_layer_by_hand() -> None:
    _, _, per_firm, lay, _ = _settle()
    profit, revenue, gross, writedown, margin = per_firm
    np.testing.assert_allclose(profit, [26.0, 3.0])
    np.testing.assert_allclose(revenue, [34.0, 10.0])  # revenue from others
    np.testing.assert_allclose(gross, [29.0, 5.0])
    np.testing.assert_allclose(writedown, [0.0, 2.0])
    np.testing.assert_allclose(margin, [26.0 / 34.0, 3.0 / 10.0])
    np.testing.assert_allclose(lay[0], [5.0, 4.0])  # quantity
    np.testing.assert_allclose(lay[1], [10.0, 40.0])  # revenue
    np.testing.assert_allclose(lay[2], [4.0, 40.0])  # external revenue
    np.testing.assert_allclose(lay[6], [1.0, 0.75**2 + 0.25**2])  # HHI
    np.testing.assert_allclose(lay[7], [0.0, 1.0])  # restraining sellers (active only)
    np.testing.assert_allclose(lay[8], [1.0, 1.0])  # active sellers
    np.testing.assert_allclose(lay[9], [8.0 / 4.0, 26.0 / 40.0])  # gross margin
    np.testing.assert_allclose(lay[10], [6.0 / 4.0, 23.0 / 40.0])  # operating margin
    np.testing.assert_allclose(lay[11], [2.0, 10.0])  # mean price: revenue / quantity
    np.testing.assert_allclose(lay[12], [10.0, 30.0])  # value added: revenue - inputs


def test_settle_purchase_shares_are_rows_over_their_sums() -> None:
    flow = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    mix = _settle(flow=flow)[4]
    np.testing.assert_array_equal(mix, [[0, 0, 0], [0.75, 0.25, 0], [0.5, 0, 0.5]])


def test_settle_with_nothing_sold_leaves_ratios_at_zero() -> None:
    zeros = np.zeros(3)
    per_op, _, per_firm, lay, _ = _settle(
        revenue=zeros, input_cost=zeros, quantity=zeros, internal_revenue=zeros
    )
    assert not per_op[[3, 4, 6]].any()
    np.testing.assert_array_equal(per_op[5], [0.0, 9.0, 9.0])  # last known inputs per unit
    assert not per_firm[4].any() and not lay[[6, 9, 10, 11]].any()


def test_row_sums_of_an_empty_row_are_zero() -> None:
    np.testing.assert_array_equal(row_sums(np.zeros((2, 0))), [0.0, 0.0])
    assert row_sums(np.ones((0, 3))).shape == (0,)


def test_compiled_row_sums_add_as_numpy_does() -> None:
    # the purchase shares divide by row sums; numpy adds rows pairwise (eight running sums
    # from eight terms up, halves above 128): the kernel gives the same last bits, as
    # plain Python and compiled
    pytest.importorskip("numba")
    from stackgame.environment import jit
    from stackgame.environment.round_kernel import row_sums

    fast = jit.compile_kernel("row_sums")
    rng = np.random.default_rng(5)
    for n in [*range(1, 40), 127, 128, 129, 200, 257, 1000, 4099]:
        m = rng.normal(size=(3, n)) * rng.choice([1e-9, 1.0, 1e9], size=(1, n))
        m[rng.random(m.shape) < 0.3] = 0.0
        np.testing.assert_array_equal(row_sums(m), m.sum(axis=1))
        np.testing.assert_array_equal(fast(m), m.sum(axis=1))


def test_compiled_pair_row_sums_add_as_numpy_adds_the_dense_row() -> None:
    # the purchase shares divide each buyer's flows by its row sum, taken over the pairs
    # it traded on only: numpy's pairwise order over the dense row, its zeros left out,
    # gives the same last bits (plain Python and compiled), on rows of every block shape
    pytest.importorskip("numba")
    from stackgame.environment import jit
    from stackgame.environment.round_kernel import pairwise_sum_pairs

    fast = jit.compile_kernel("pairwise_sum_pairs")
    rng = np.random.default_rng(7)
    for n in [*range(1, 40), 127, 128, 129, 136, 200, 257, 1000, 1100, 4099]:
        for density in (0.01, 0.3, 1.0):
            row = rng.normal(size=n) * rng.choice([1e-9, 1.0, 1e9], size=n)
            row[rng.random(n) >= density] = 0.0
            pos = np.flatnonzero(row).astype(np.int64)
            vals = np.concatenate([[5.0], row[pos]])  # (an entry before: pa = 1)
            pos = np.concatenate([[-1], pos]).astype(np.int64)
            for kernel in (pairwise_sum_pairs, fast):
                got = kernel(pos, vals, 1, pos.shape[0], n)
                assert got == row.sum() and np.signbit(got) == np.signbit(row.sum()), n


@pytest.mark.parametrize("jit", [False, True])
def test_add_pair_payments_adds_flow_times_price_at_the_pairs(jit: bool) -> None:
    # by hand: buyer 0 bought 2 units of seller 1 at 3.0 (6 dollars) and 1 of seller 2
    # at 0.5 (0.5); on top of 1.0 paid before to seller 1: 7.0; the rest untouched
    if jit:
        pytest.importorskip("numba")
    from stackgame.environment.jit import compiled

    kernel = compiled("add_pair_payments", jit)
    cum = np.zeros((2, 3))
    cum[0, 1] = 1.0
    cum[1, 0] = 4.0
    kernel(cum, np.array([[0, 0], [1, 2]]), np.array([2.0, 1.0]), np.array([4.0, 3.0, 0.5]))
    np.testing.assert_array_equal(cum, [[0.0, 7.0, 0.5], [4.0, 0.0, 0.0]])


@pytest.mark.parametrize("jit", [False, True])
def test_add_pair_values_adds_flow_times_price_per_pair(jit: bool) -> None:
    # by hand: pair 0 (seller 1 at 3.0) held 1.0 and buys 2 units: 1 + 6 = 7.0; pair 1
    # (seller 2 at 0.5) held 4.0 and buys 1 unit: 4.5
    if jit:
        pytest.importorskip("numba")
    from stackgame.environment.jit import compiled

    kernel = compiled("add_pair_values", jit)
    cum = np.array([1.0, 4.0])
    kernel(cum, np.array([1, 2]), np.array([2.0, 1.0]), np.array([4.0, 3.0, 0.5]))
    np.testing.assert_array_equal(cum, [7.0, 4.5])


@pytest.mark.parametrize("jit", [False, True])
def test_settlement_adds_each_pairs_payment_with_the_purchase_shares(jit: bool) -> None:
    # by hand: buyer 1 bought 2 units and buyer 2 1 unit of seller 0 at 4.0 (8 and 4
    # dollars), on top of 1.0 and 0.5 paid before: 9.0 and 4.5; each bought only from
    # seller 0, so both purchase shares are 1; without ``cum`` nothing is added
    if jit:
        pytest.importorskip("numba")
    from stackgame.environment.jit import compiled

    kernel = compiled("settle_kernel", jit)
    n = 3
    zeros = np.zeros(n)
    starts, sellers = pair_layout(np.array([[1, 2], [0, 0]], dtype=np.int64))
    flow = np.array([2.0, 1.0])
    price = np.array([4.0, 3.0, 0.5])
    for cum, want in ((np.array([1.0, 0.5]), [9.0, 4.5]), (np.zeros(0), [])):
        out = kernel(
            np.array([0, 1, 1]), np.array([0, 0, 1]), 2, 2, zeros, zeros, zeros, zeros,
            zeros, zeros, zeros, zeros, zeros, zeros, zeros, zeros, zeros,
            np.ones(n, dtype=np.bool_), zeros, starts, sellers, flow, n, zeros, cum, price,
        )  # fmt: skip
        np.testing.assert_array_equal(out[-1], [1.0, 1.0])
        np.testing.assert_array_equal(cum, want)


def test_purchase_shares_divide_by_numpys_row_sums_on_rows_of_many_leaves() -> None:
    # the shares' row sums follow numpy's pairwise plan over the dense row (made once per
    # settlement, _sum_plan): rows of one leaf, of several, with short tails and empty
    # leaves, sparse and dense, give flow / row.sum() bit for bit, plain and compiled
    pytest.importorskip("numba")
    from stackgame.environment.jit import compiled

    plain, fast = compiled("settle_kernel", False), compiled("settle_kernel", True)
    rng = np.random.default_rng(5)
    for n in (5, 8, 127, 129, 300, 1095, 2051):
        for density in (0.02, 0.4, 1.0):
            shape = (min(n, 9), n)  # (buyers 0..8 of the n operations)
            dense = rng.random(shape) * rng.choice([1e-9, 1.0, 1e9], size=shape)
            dense[rng.random(shape) >= density] = 0.0
            dense[shape[0] // 2] = 0.0  # (a buyer that bought nothing)
            pairs = np.array(np.nonzero(dense), dtype=np.int64).reshape(2, -1)
            starts, sellers = pair_layout(pairs)
            flow = dense[pairs[0], pairs[1]]
            want = flow / dense.sum(axis=1)[pairs[0]]
            z = np.zeros(n)
            for kernel in (plain, fast):
                mix = kernel(
                    np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), 1, 1, z, z, z,
                    z, z, z, z, z, z, z, z, z, z, np.ones(n, dtype=np.bool_), z, starts,
                    sellers, flow, n, z, np.zeros(0), z,
                )[-1]  # fmt: skip
                assert np.array_equal(mix.view(np.int64), want.view(np.int64)), (n, density)


def test_pairwise_sum_pairs_of_a_contiguous_run_in_a_long_row() -> None:
    # the all-pairs stack's rows: a buyer's sellers are one run of columns in a longer row
    # (whole eight-way blocks inside the run take the plain block sum)
    pytest.importorskip("numba")
    from stackgame.environment import jit
    from stackgame.environment.round_kernel import pairwise_sum_pairs

    fast = jit.compile_kernel("pairwise_sum_pairs")
    rng = np.random.default_rng(11)
    for n in (130, 300, 1250, 4099):
        for lo, hi in ((0, n), (3, n - 5), (n // 3, min(n // 3 + 129, n)), (n // 2, n - 1)):
            row = np.zeros(n)
            row[lo:hi] = rng.random(hi - lo) * rng.choice([1e-9, 1.0, 1e9], size=hi - lo)
            pos = np.arange(lo, hi, dtype=np.int64)
            for kernel in (pairwise_sum_pairs, fast):
                assert kernel(pos, row[lo:hi].copy(), 0, hi - lo, n) == row.sum(), (n, lo)


@pytest.mark.parametrize("jit", [False, True])
def test_add_payments_adds_flow_times_price_in_place(jit: bool) -> None:
    # by hand: buyer 0 bought 2 units of seller 1 at 3.0 (6 dollars) and 1 of seller 2
    # at 0.5 (0.5); buyer 1 bought nothing; on top of 1.0 paid before to seller 1: 7.0
    if jit:
        pytest.importorskip("numba")
    from stackgame.environment.jit import compiled

    kernel = compiled("add_payments", jit)
    cum = np.zeros((2, 3))
    cum[0, 1] = 1.0
    flow = np.array([[0.0, 2.0, 1.0], [0.0, 0.0, 0.0]])
    kernel(cum, flow, np.array([4.0, 3.0, 0.5]))
    np.testing.assert_array_equal(cum, [[0.0, 7.0, 0.5], [0.0, 0.0, 0.0]])
    # the same bits as numpy's two passes, on numbers whose sums round
    rng = np.random.default_rng(3)
    flow = rng.random((40, 40)) * (rng.random((40, 40)) < 0.3)
    price = rng.normal(size=40) * 3.7
    got = rng.normal(size=(40, 40))
    want = got + flow * price[None, :]
    kernel(got, flow, price)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
