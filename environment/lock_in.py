"""Switching costs that move with the play: buyers' memory of price hikes, data gravity.

The static switching cost ``Structure.lock_in[b, s]`` (``docs/MODEL.md`` 5.1) is built
with the structure from the scenario's relations and stakes. Two per-round states move
it (``docs/MODEL.md`` 5.4), both kept in :class:`~stackgame.environment.state.StackState`
and updated after each clearing by :func:`remember`; the next round's supplier logit
reads their sum with the static part (:func:`effective_lock_in`), so the structure is
never rebuilt for them.

* **Memory of price hikes**, per seller (length ``n``): ``h_s`` falls by
  ``hike_recovery`` a round and rises by ``hike_memory`` times the seller's hike ``x_s``,
  the share by which its price exceeds its price at its restrain markup, up to
  ``hike_cap``. It lowers the seller's utility in every buyer's logit: buyers who saw a
  hike qualify a second source, and the share they move persists after the hike ends
  (TSMC keeps N3 prices stable for "long-term relationship durability",
  `000_e3319be9a08c4b37.txt`).
* **Data gravity**, per buyer and seller (the dense ``[n, n]`` of ``lock_in`` and of the
  clearing's flows): ``g_bs`` falls by ``gravity_decay`` a round and rises by ``gravity``
  times the share of buyer ``b``'s market purchases that seller ``s`` served, up to
  ``gravity_cap``, for sellers in ``gravity_layers`` (000: "every Trainium hour booked is
  a customer one step deeper into the AWS data gravity well").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from stackgame.environment.jit import jitable
from stackgame.environment.scenario import LockInSpec

FloatArray = NDArray[np.float64]

_EPS = 1e-12


def hike(
    markup: FloatArray, restrain_markup: FloatArray, price: FloatArray, per_unit: bool
) -> FloatArray:
    """Each seller's price hike ``x_s``: the share its price exceeds its restrain price.

    Ad valorem (``p = base (1 + m)``): ``x = (1 + m) / (1 + m_R) - 1 = (m - m_R) / (1 + m_R)``
    at this round's costs. Per unit (``p = base + m``): ``x = (m - m_R) / (p - m + m_R)``.
    Zero where the seller charges its restrain markup or less, or where the restrain
    price is not positive (dimensionless).
    """
    excess = markup - restrain_markup
    base = price - excess if per_unit else 1.0 + restrain_markup
    ok = (excess > 0) & (base > _EPS)
    return np.where(ok, excess / np.where(ok, base, 1.0), 0.0)


def update_memory(memory: FloatArray, x: FloatArray, spec: LockInSpec) -> FloatArray:
    """``h_s <- min(hike_cap, (1 - hike_recovery) h_s + hike_memory x_s)``, in place."""
    memory *= 1.0 - spec.hike_recovery
    memory += spec.hike_memory * x
    np.minimum(memory, spec.hike_cap, out=memory)
    return memory


def purchase_shares(flow: FloatArray) -> FloatArray:
    """``flow[b, s] / sum_k flow[b, k]``: each buyer's market purchases by seller (0-rows kept)."""
    total = flow.sum(axis=1)
    return flow / np.where(total > _EPS, total, 1.0)[:, None]


def update_gravity(
    gravity: FloatArray, flow: FloatArray, seller: NDArray[np.bool_], spec: LockInSpec
) -> FloatArray:
    """``g_bs <- min(gravity_cap, (1 - gravity_decay) g_bs + gravity share_bs)``, in place.

    ``seller`` marks the operations of the gravity layers (columns elsewhere stay 0).
    """
    gravity *= 1.0 - spec.gravity_decay
    gravity += spec.gravity * (purchase_shares(flow) * seller[None, :])
    np.minimum(gravity, spec.gravity_cap, out=gravity)
    return gravity


@jitable
def remember_kernel(
    markup: FloatArray, restrain_markup: FloatArray, price: FloatArray, per_unit: bool,
    memory: FloatArray, keep: float, hike_memory: float, hike_cap: float, hikes: bool,
    gravity: FloatArray, flow: FloatArray, total: FloatArray, seller: NDArray[np.bool_],
    g_keep: float, g_coef: float, g_cap: float, gathers: bool,
) -> None:  # fmt: skip
    """:func:`hike` with :func:`update_memory`, and :func:`update_gravity`, in one pass.

    The same operations in the same order as those three (so the same floats, compiled
    or not), without their temporary arrays: ``keep = 1 - hike_recovery``, ``g_keep =
    1 - gravity_decay``, ``g_coef = gravity``; ``total`` is ``flow.sum(axis=1)`` (summed
    by numpy, as :func:`purchase_shares` sums it). Updates ``memory`` when ``hikes`` and
    ``gravity`` when ``gathers``, in place.
    """
    n = markup.shape[0]
    if hikes:
        for s in range(n):
            excess = markup[s] - restrain_markup[s]
            base = price[s] - excess if per_unit else 1.0 + restrain_markup[s]
            x = excess / base if excess > 0.0 and base > _EPS else 0.0
            h = memory[s] * keep + hike_memory * x
            memory[s] = hike_cap if h > hike_cap else h  # (np.minimum: NaN stays NaN)
    if gathers:
        for b in range(n):
            d = total[b] if total[b] > _EPS else 1.0
            for s in range(n):
                share = (flow[b, s] / d) * (1.0 if seller[s] else 0.0)
                g = gravity[b, s] * g_keep + g_coef * share
                gravity[b, s] = g_cap if g > g_cap else g


def effective_lock_in(
    static: FloatArray, memory: FloatArray | None, gravity: FloatArray | None
) -> FloatArray:
    """``lock_bs + g_bs - h_s``: the switching cost the supplier logit reads this round."""
    if gravity is None:
        return static if memory is None else static - memory[None, :]
    out = static + gravity
    if memory is not None:
        out -= memory[None, :]  # (in place: one new array a round)
    return out
