from math import sqrt

import numpy as np

from mmhay.scoring.bootstrap import bootstrap_interval, seed_for

# Monte-Carlo size: 1,000 simulated suites put the standard error of a coverage near 95% at
# sqrt(0.95 * 0.05 / 1000) = 0.7 points, so the +-3-point band is over 4 standard errors wide on
# either side of the nominal rate (the percentile bootstrap of 100 clusters covers about 94.5%,
# still 3.5 standard errors inside); 500 resamples a suite keep the simulation near half a
# second. (That twins counted as independent give too narrow an interval is tests/test_report.py's.)
SUITES, RESAMPLES, PAIRS, TRUTH, SHARED = 1000, 500, 100, 0.7, 0.5


def _twin_suites(rng: np.random.Generator) -> np.ndarray:
    """``SUITES`` suites of ``PAIRS`` twin pairs, 0/1 scores of a model right with probability
    ``TRUTH``: with probability ``SHARED`` both twins of a pair get one draw (the model saw the
    scene or not), else a draw each; so every score is right with probability ``TRUTH`` and twins
    are correlated (correlation ``SHARED``)."""
    shared = rng.random((SUITES, PAIRS, 1)) < SHARED
    one = rng.random((SUITES, PAIRS, 1)) < TRUTH
    each = rng.random((SUITES, PAIRS, 2)) < TRUTH
    return np.where(shared, one, each).reshape(SUITES, 2 * PAIRS).astype(np.float64)


def test_the_cluster_bootstrap_covers_a_known_accuracy_at_95_percent():
    standard_error = sqrt(0.95 * 0.05 / SUITES)
    assert 0.03 >= 4 * standard_error  # the band is wide enough for a fixed seed not to matter
    suites = _twin_suites(np.random.default_rng(2026))
    twins = [k // 2 for k in range(2 * PAIRS)]
    covered = 0
    for k, scores in enumerate(suites):
        low, high = bootstrap_interval(scores, seed_for("coverage", k), clusters=twins, resamples=RESAMPLES)
        covered += low <= TRUTH <= high
    assert abs(covered / SUITES - 0.95) <= 0.03, covered / SUITES


def test_clusters_of_one_are_the_plain_bootstrap_and_whole_clusters_are_resampled():
    scores = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    assert bootstrap_interval(scores, 7, clusters=list("abcdefg")) == bootstrap_interval(scores, 7)
    # every cluster all right or all wrong, in equal halves: a resample is a mean of whole clusters
    low, high = bootstrap_interval([1.0] * 6 + [0.0] * 6, 7, clusters=[k // 6 for k in range(12)], level=0.99)
    assert (low, high) == (0.0, 1.0)
    assert bootstrap_interval([], 7, clusters=[]) == (0.0, 1.0)
