"""Values kept across models, by everything they are made from.

The runs of a batch, a tournament or a benchmark meet the same structures again and
again (the opening stack, a failure's fire sale, an integration move), so what a small
stack's structure gives is kept in a module-level dictionary and found again by its
inputs: the structure itself (``StackState.rebuild``), the relations and the firms' views
(``Relations``), the clearing's pair rows, the contracts' terms, the capital-goods plan.
Each cache keys on :func:`bytes_key` of the arrays it reads and is bounded by
:func:`keep`; what is kept is read only.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def bytes_key(*arrays: np.ndarray) -> tuple[Any, ...]:
    """Each array's dtype and bytes, in order: equal keys exactly where the arrays are equal.

    (The shape is not in it: a caller whose arrays may change shape at the same size adds
    it.) Written as a loop, not a generator: this runs where a failure's round runs cold.
    """
    out: list[Any] = []
    for a in arrays:
        out.append(a.dtype)
        out.append(a.tobytes())
    return tuple(out)


def keep(cache: dict[Any, Any], key: Any, value: Any, size: int) -> None:
    """Put ``value`` in ``cache`` under ``key``, the oldest entry out when it holds ``size``."""
    if len(cache) >= size:
        cache.pop(next(iter(cache)), None)
    cache[key] = value
