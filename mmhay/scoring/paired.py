"""Two runs compared on the samples both answered: the difference in accuracy with a paired
cluster bootstrap interval, and McNemar's test (definitions in docs/metrics.md, "Paired
comparison of two runs")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import comb, erfc, sqrt

from mmhay.scoring.bootstrap import bootstrap_interval
from mmhay.scoring.clusters import cluster_keys

__all__ = ["mcnemar", "paired_comparison", "EXACT_BELOW"]

# McNemar's exact binomial test below this many discordant pairs; the chi-square approximation
# with continuity correction from it on (the usual rule: b + c < 25 is too few for chi-square)
EXACT_BELOW = 25


def mcnemar(only_first: int, only_second: int) -> dict:
    """McNemar's test of two paired 0/1 scores from its discordant counts: ``only_first`` samples
    right in the first run alone (b), ``only_second`` right in the second alone (c).

    With b + c < ``EXACT_BELOW``: the exact two-sided binomial test, p = min(1, 2 P(X <= min(b, c)))
    for X ~ Binomial(b + c, 1/2). Otherwise the chi-square statistic with Edwards' continuity
    correction, (|b - c| - 1)^2 / (b + c) (0 where b = c), and p its upper tail at 1 degree of
    freedom. No discordant pair: p = 1, nothing tells the runs apart.
    """
    n = only_first + only_second
    if n == 0:
        return {"test": "none (no discordant samples)", "statistic": None, "p_value": 1.0}
    if n < EXACT_BELOW:
        tail = sum(comb(n, k) for k in range(min(only_first, only_second) + 1))
        return {"test": "exact binomial", "statistic": None, "p_value": min(1.0, 2 * tail / 2**n)}
    statistic = max(abs(only_first - only_second) - 1, 0) ** 2 / n
    return {"test": "chi-square, continuity-corrected", "statistic": round(statistic, 6), "p_value": erfc(sqrt(statistic / 2))}


def _scored(records: Sequence[Mapping]) -> list[Mapping]:
    """The records accuracy counts: scored, and the first rotation of each question."""
    return [r for r in records if "skipped" not in r and not r.get("rotation")]


def paired_comparison(first: Sequence[Mapping], second: Sequence[Mapping], seed: int) -> dict | None:
    """The two runs' records compared on the samples both scored (matched by id, and by task and
    right answer, so that ids of other data are not taken for the same sample); None when they
    share none.

    ``difference`` is the first run's accuracy minus the second's over those samples; its
    interval resamples the clusters of the first run (docs/metrics.md, "Intervals over
    clusters"), each cluster with both runs' scores of its samples, from a generator seeded by
    ``seed``.
    """
    mine = _scored(first)
    keys = dict(zip((r["id"] for r in mine), cluster_keys(mine)))
    theirs = {r["id"]: r for r in _scored(second)}
    pairs = [(r, theirs[r["id"]]) for r in mine if r["id"] in theirs and (r.get("task"), r.get("answer")) == (theirs[r["id"]].get("task"), theirs[r["id"]].get("answer"))]
    if not pairs:
        return None
    a = [bool(x["correct"]) for x, _ in pairs]
    b = [bool(y["correct"]) for _, y in pairs]
    clusters = [keys[x["id"]] for x, _ in pairs]
    n = len(pairs)
    only_first = sum(1 for x, y in zip(a, b) if x and not y)
    only_second = sum(1 for x, y in zip(a, b) if y and not x)
    low, high = bootstrap_interval([float(x) - float(y) for x, y in zip(a, b)], seed, clusters=clusters)
    return {
        "samples": n,
        "clusters": len(set(clusters)),
        "only_in_first": len(mine) - n,
        "only_in_second": len(theirs) - n,
        "first_accuracy": round(sum(a) / n, 6),
        "second_accuracy": round(sum(b) / n, 6),
        "difference": round((sum(a) - sum(b)) / n, 6),
        "low": round(low, 6),
        "high": round(high, 6),
        "both_right": sum(1 for x, y in zip(a, b) if x and y),
        "only_first_right": only_first,
        "only_second_right": only_second,
        "both_wrong": sum(1 for x, y in zip(a, b) if not x and not y),
        "mcnemar": mcnemar(only_first, only_second),
    }
