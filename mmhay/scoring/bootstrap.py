"""Bootstrap confidence intervals, seeded so that the same records give the same interval; over
clusters of records where records are not independent (mmhay/scoring/clusters.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence

import numpy as np

__all__ = ["bootstrap_interval", "cluster_totals", "seed_for"]

RESAMPLES = 2000


def seed_for(*parts: object) -> int:
    """A seed from any labels (a run, a cell), so each interval has its own and reruns agree."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


def bootstrap_interval(
    values: Sequence[float], seed: int, *, clusters: Sequence[Hashable] | None = None, level: float = 0.95, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` (0/1 for accuracies, -1/0/1 for
    paired differences).

    ``resamples`` resamples, with replacement, from a generator seeded by ``seed``; the interval
    runs between the (1 - level) / 2 and (1 + level) / 2 quantiles of their means. With
    ``clusters`` (a key per value), whole clusters are resampled: as many as there are, each
    resample's mean is its values' total over its values' count. Where every cluster holds one
    value this is the plain bootstrap, draw for draw. No values give (0, 1): nothing is known.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    order = {} if clusters is None else {key: None for key in clusters}
    if len(order) in (0, data.size):
        means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    else:
        totals, sizes = cluster_totals(data, clusters)
        picks = rng.integers(0, totals.size, size=(resamples, totals.size))
        means = totals[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def cluster_totals(values: np.ndarray, clusters: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """The total of the values of each cluster and how many there are, clusters in the order they
    first appear (integer-valued scores sum exactly, whatever the order of the additions)."""
    if len(clusters) != values.size:
        raise ValueError(f"{len(clusters)} cluster keys for {values.size} values")
    number: dict = {}
    ids = np.fromiter((number.setdefault(key, len(number)) for key in clusters), dtype=np.int64, count=values.size)
    return np.bincount(ids, weights=values, minlength=len(number)), np.bincount(ids, minlength=len(number)).astype(np.float64)
