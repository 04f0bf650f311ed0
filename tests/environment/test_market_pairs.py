"""The clearing over the permitted buyer-seller pairs only (compressed rows, issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
from stackgame.environment import market, market_kernel

from tests.environment.test_market_kernel import _assert_same, _kernel_and_plain


def _two_sellers_one_buyer() -> market.Structure:
    # sellers A (op 0) and B (op 1) in layer 0, buyer C (op 2) in layer 1; C's exclusive
    # relation with A leaves B out of C's permitted sellers
    return market.build_structure(
        np.array([0, 0, 1]), np.array([0, 1, 2]), 2, np.ones(2), np.ones(2),
        relations=[(2, 0, 0.0, True)],
    )  # fmt: skip


def test_pair_rows_list_the_permitted_pairs_row_by_row() -> None:
    # three sellers (ops 0, 1, 2; op 2 is the buyers' own firm's for op 4) and two buyers
    # (ops 3, 4): every other-firm pair is permitted, the own firm's is not
    s = market.build_structure(
        np.array([0, 0, 0, 1, 1]), np.array([0, 1, 2, 3, 2]), 2, np.ones(2), np.ones(2),
        relations=[(3, 1, 0.5, False)],
    )  # fmt: skip
    rows, cols, pairs, lock = s.pair_rows()
    # buyer 3 (sorted position 3) buys from 0, 1, 2; buyer 4 from 0, 1 (2 is its own)
    assert rows.tolist() == [0, 0, 0, 0, 3, 5]
    assert cols.tolist() == [0, 1, 2, 0, 1]
    assert pairs.tolist() == [[3, 3, 3, 4, 4], [0, 1, 2, 0, 1]]
    assert lock.tolist() == [0.0, 0.5, 0.0, 0.0, 0.0]
    assert s.pair_rows() is s.pair_rows()  # made once
    s.allowed[3, 2] = False
    s.pairs_changed()
    assert s.pair_rows()[1].tolist() == [0, 1, 0, 1]


def test_repeat_rows_made_with_the_pairs_match_the_kernel_of_their_own() -> None:
    # the example above: buyer 3 (three sellers) then buyer 4 (two: not a repeat); a
    # third buyer 5 (firm 5) with buyer 4's sellers 0 and 1 only (its relations exclusive)
    # and no switching costs repeats buyer 4's row: repeats [F, F, F, F, F, T]
    s = market.build_structure(
        np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 2, 3, 2, 5]), 2, np.ones(2),
        np.ones(2), relations=[(3, 1, 0.5, False), (5, 0, 0.0, True), (5, 1, 0.0, True)],
    )  # fmt: skip
    assert s.pair_rows()[0].tolist() == [0, 0, 0, 0, 3, 5, 7]
    assert s.repeat_rows().tolist() == [False] * 5 + [True]
    s.lock_in[5, 1] = 0.25  # a different switching cost at one pair: no longer a repeat
    s.pairs_changed()
    assert s.repeat_rows().tolist() == [False] * 6
    # random stacks: the repeats made in pair_rows' pass are the separate kernel's
    rng = np.random.default_rng(7)
    for _ in range(40):
        n = int(rng.integers(2, 12))
        layer_of = np.sort(rng.integers(0, 3, n))
        s = market.build_structure(layer_of, np.arange(n), 3, np.ones(3), np.ones(3))
        s.allowed &= rng.random((n, n)) < rng.choice([0.5, 1.0])
        s.lock_in[:] = np.where(rng.random((n, n)) < 0.1, 1.0, 0.0)
        s.pairs_changed()
        rows, cols, _, lock = s.pair_rows()
        expected = market_kernel.repeat_rows(s._bounds_arr, rows, cols, lock)
        np.testing.assert_array_equal(s.repeat_rows(), expected)


@pytest.mark.parametrize("contract", [0.0, 3.0])
def test_a_contract_outside_the_permitted_pairs_delivers_and_takes_no_logit_weight(
    contract: float,
) -> None:
    # by hand: C has capacity 5 and consumers want far more (1,000 consumers, C's logit
    # share about exp(-p) / (1 + exp(-p)) at a price p near 1), so C sells 5 and needs
    # 5 units of input (a = 1). A contract of 3 a round with B, a seller C may not choose
    # on the market, is served first (B has room): 3 from B, and the remaining 2 go by the
    # logit to C's only permitted seller, A. Without the contract all 5 come from A.
    pytest.importorskip("numba")
    s = _two_sellers_one_buyer()
    contracts = np.array([[2.0], [1.0], [contract]])
    fast, ref = _kernel_and_plain(
        s, np.full(3, 0.5), np.zeros(3), np.zeros(3), np.array([100.0, 100.0, 5.0]),
        market.Demand(market_size=1000.0, mu=1.0), contracts=contracts,
    )  # fmt: skip
    _assert_same(fast, ref, f"contract {contract}")
    assert fast.quantity[2] == 5.0
    assert fast.flow[2, 1] == contract
    assert fast.flow[2, 0] == 5.0 - contract
    assert fast.unmet_input[2] == 0.0
