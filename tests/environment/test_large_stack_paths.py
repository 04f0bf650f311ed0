"""The large-stack paths (issue 14) against the general ones: the same run, bit for bit.

A model made with ``_lazy_observations`` off builds each observation whole
(``Observation.deferred``) and with ``_latest_markups`` off the learners' mean counterpart
markup walks the names (``HistoryMap.last_of``); the defaults make each field on its first
read (``Observation.lazy``) and gather the latest markups once a round. Every history
array, every firm's history and every observation must be the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import from_dict, resolve

from benchmarks.bench_core import synthetic_stack


def _run(scenario: Any, seed: int, rounds: int, fast: bool) -> tuple[StackModel, list[Any]]:
    """The model after ``rounds`` rounds, and each round's observations."""
    model = StackModel(scenario, seed, rounds=rounds, collect=False)
    if not fast:
        model._lazy_observations = False
        model._latest_markups = None
    seen: list[Any] = []
    observe = model.observe

    def kept() -> Any:
        obs = observe()
        seen.append(obs)
        return obs

    model.observe = kept  # type: ignore[method-assign]
    return model.run(), seen


def _same_arrays(a: Any, b: Any) -> None:
    """Equal entries, dtype and shape, compared as bits (NaN equal to itself)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    ("name", "seed", "rounds"),
    [("synthetic-120", 0, 6), ("synthetic-120", 5, 4), ("ai-stack-2026", 1, 8)],
)
def test_fast_paths_give_the_general_paths_run_bit_for_bit(
    name: str, seed: int, rounds: int
) -> None:
    scenario = from_dict(synthetic_stack(120), name) if name != "ai-stack-2026" else resolve(name)
    fast, fast_obs = _run(scenario, seed, rounds, fast=True)
    slow, slow_obs = _run(scenario, seed, rounds, fast=False)
    for kind in ("op_rows", "firm_rows", "layer_rows", "finance_rows"):
        rows_a, rows_b = getattr(fast.history, kind), getattr(slow.history, kind)
        assert len(rows_a) == len(rows_b) == (rounds if kind != "finance_rows" else len(rows_b))
        for ra, rb in zip(rows_a, rows_b, strict=True):
            assert ra.keys() == rb.keys()
            for key in ra:
                _same_arrays(ra[key], rb[key])
    assert fast.history.round_rows == slow.history.round_rows
    _same_arrays(fast.history.cum_payments, slow.history.cum_payments)
    for fa, fb in zip(fast.firms, slow.firms, strict=True):
        assert fa.history == fb.history
    # every observation, every field (the lazy ones made now, rounds after: the same)
    assert len(fast_obs) == len(slow_obs) == rounds
    for round_a, round_b in zip(fast_obs, slow_obs, strict=True):
        assert round_a.keys() == round_b.keys()
        for i in round_a:
            assert round_a[i] == round_b[i]
    if name == "synthetic-120":  # (the stack has learners reading their counterparts)
        assert any(type(f.strategy).__name__ == "QLearning" for f in fast.firms)


@pytest.mark.parametrize(
    ("name", "seed", "rounds"), [("synthetic-120", 2, 6), ("ai-stack-2026", 3, 12)]
)
def test_payments_held_per_pair_equal_the_dense_sum(name: str, seed: int, rounds: int) -> None:
    """``History.cum_payments`` (added per pair, laid out when read) against a dense sum.

    The reference adds each round's payments into an ``[n, n]`` matrix as the engine did
    before (``add_pair_payments``: the same flow x price at each pair, scattered); the
    history is read after some rounds (written back, then added to again), and
    ``ai-stack-2026`` grows its operations and changes its pairs (contracts, builds).
    """
    from stackgame.environment.jit import compiled

    scenario = from_dict(synthetic_stack(120), name) if name != "ai-stack-2026" else resolve(name)
    model = StackModel(scenario, seed, rounds=rounds, collect=False)
    ref = [np.zeros((0, 0))]
    append = model.history.append

    def checked(round_: int, state: Any, clearing: Any, *args: Any, **kwargs: Any) -> None:
        append(round_, state, clearing, *args, **kwargs)
        flows = clearing.flows
        if ref[0].shape[0] < flows.n:
            grown = np.zeros((flows.n, flows.n))
            grown[: ref[0].shape[0], : ref[0].shape[0]] = ref[0]
            ref[0] = grown
        compiled("add_pair_payments")(ref[0], flows.pairs, flows.values, clearing.price)
        if round_ % 3 == 1:  # read mid-run: laid out, then added to per pair again
            _same_arrays(model.history.cum_payments, ref[0])

    model.history.append = checked  # type: ignore[method-assign]
    model.run()
    _same_arrays(model.history.cum_payments, ref[0])
    assert model.history.cum_payments.any()


def _fingerprint(model: StackModel) -> str:
    """SHA-256 over every history array, the payments, the purchase shares, firm histories."""
    import hashlib

    h = hashlib.sha256()
    hist = model.history
    for kind in ("op_rows", "firm_rows", "layer_rows", "finance_rows"):
        for row in getattr(hist, kind):
            for key in sorted(row):
                a = np.asarray(row[key])
                h.update(key.encode())
                h.update(str(a.dtype).encode())
                h.update(a.tobytes())
    for scalars in hist.round_rows:
        h.update(repr(sorted(scalars.items())).encode())
    h.update(np.ascontiguousarray(hist.cum_payments).tobytes())
    if model.memory.mix is not None:
        h.update(np.asarray(model.memory.mix.values).tobytes())
    for f in model.firms:
        for v in f.history:
            h.update(np.asarray(list(v), dtype=float).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize(
    ("sparse", "seed", "digest"),
    [
        (False, 0, "021f0a07b91c508f5202420ac6de545dd0d83c7361a0bced533d82b74df9dc2c"),
        (True, 4, "a7ee9c4da296ac73405abea89160c6b6bb2a43116aee88936693dce07744afd9"),
    ],
)
def test_300_firm_runs_keep_their_fingerprint(sparse: bool, seed: int, digest: str) -> None:
    """A 12-round, 300-firm synthetic run (all pairs; 4 sellers per buyer) bit for bit.

    The digests were taken on main at ea30d08, before issue 14's fourth pass fused and cut
    the clearing's and the rationing's passes over the pairs (``docs/DECISIONS.md``), with
    the compiled kernels and the plain ones alike: a change of a kernel's loops that moves
    one floating-point addition changes them. Re-take them only with a change of results
    that is meant (and say so), as for the goldens.
    """
    from benchmarks.bench_scale import sparse_stack

    make = sparse_stack if sparse else synthetic_stack
    model = StackModel(from_dict(make(300), "synthetic-300"), seed, rounds=12, collect=False)
    assert _fingerprint(model.run()) == digest
