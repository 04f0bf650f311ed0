"""The short-list mean, median and standard deviation equal numpy's to the last bit."""

from __future__ import annotations

import numpy as np
import pytest
from stackgame.strategies.exact_stats import exact_mean, exact_median, exact_std, exact_sum

LENGTHS = [*range(1, 40), 63, 64, 65, 127, 128, 129, 300]


def _same(got: float, want: float) -> bool:
    return (got == want and np.signbit(got) == np.signbit(want)) or (got != got and want != want)


@pytest.mark.parametrize("n", LENGTHS)
def test_sum_mean_std_median_are_numpys(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(30):
        scale = rng.choice([0.0, -0.0, 1e-9, 1.0, 1e9], size=n)
        values = (rng.normal(size=n) * scale).tolist()
        assert _same(exact_sum(values), float(np.add.reduce(np.array(values)))), values
        assert _same(exact_mean(values), float(np.mean(values))), values
        assert _same(exact_std(values), float(np.std(values))), values
        assert _same(exact_median(values), float(np.median(values))), values
        ties = rng.choice([-1.0, -0.0, 0.0, 2.5], size=n).tolist()  # ties and signed zeros
        assert _same(exact_median(ties), float(np.median(ties))), ties


def test_median_with_a_nan_is_numpys() -> None:
    assert np.isnan(exact_median([1.0, float("nan"), 2.0]))
