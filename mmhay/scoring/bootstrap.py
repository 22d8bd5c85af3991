"""Bootstrap confidence intervals, seeded so that the same records give the same interval."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = ["bootstrap_interval", "seed_for"]

RESAMPLES = 2000


def seed_for(*parts: object) -> int:
    """A seed from any labels (a run, a cell), so each interval has its own and reruns agree."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


def bootstrap_interval(values: Sequence[float], seed: int, *, level: float = 0.95, resamples: int = RESAMPLES) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` (0/1 for accuracies).

    ``resamples`` resamples of the values, with replacement, from a generator seeded by ``seed``;
    the interval runs between the (1 - level) / 2 and (1 + level) / 2 quantiles of their means.
    No values give (0, 1): nothing is known.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)
