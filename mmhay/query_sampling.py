"""Query-aware frame samplers over relevance scores: BOLT's inverse-transform sampling and AKS's adaptive split.

Both score the 1-fps candidates against the question as ``keyclip`` does
(``mmhay.sampling.candidate_relevance``: ``scorer=NAME:ARGUMENT`` of ``SCORERS``, e.g.
``bolt:scorer=clip:PATH``) and show full-size frames at candidate times. The selection itself is
a pure function of the relevance array (``inverse_transform_picks``, ``adaptive_split_picks``),
so it can be checked by hand. Upstream scores frames at whole seconds (frame ``i * fps``);
mmhay's candidates are the middles of the seconds, ``keyclip``'s, so a pick of candidate i is
shown at i + 1/2 s.
"""

from __future__ import annotations

import numpy as np

from mmhay.errors import ConfigError
from mmhay.sampling import SAMPLERS, Footage, FramePlan, candidate_relevance

__all__ = ["adaptive_split_picks", "inverse_transform_picks"]


@SAMPLERS.register("bolt")
def bolt(footage: Footage, n: int, scorer: str = "", power: float = 3.0) -> FramePlan:
    """BOLT: n frames drawn by inverse-transform sampling of the question relevance of 1-fps candidates (repeats kept).

    The selection is ``inverse_transform_picks``; ``power`` is BOLT's alpha (3, the shipped
    setting for Video-MME and MLVU; 2.5 for LongVideoBench; 1 is the script's default -1, no power).
    """
    if not power > 0:
        raise ConfigError("--sampler", "power", "must be above 0 (BOLT's alpha; 1: no power)", power)
    candidates, relevance, _ = candidate_relevance(footage, scorer, "bolt")
    picks = inverse_transform_picks(relevance, n, power)
    return FramePlan(tuple(candidates[i] for i in picks), (1.0,) * len(picks))


def inverse_transform_picks(relevance, n: int, power: float = 3.0) -> list[int]:
    """BOLT's inverse-transform sampling: n candidate indices, non-decreasing, repeats kept.

    sming256/BOLT@8a9ba45 ``select_frames.py::inverse_transform_sampling`` (BOLT, CVPR 2025,
    arXiv 2503.21483): the scores are min-max normalised to 0..1, raised to ``power``, divided by
    their sum into a distribution whose CDF is inverted at the n points ``linspace(1/n, 1 - 1/n,
    n)`` (``searchsorted``, left side: the first candidate whose CDF reaches the point). Min-max
    makes the result independent of the scorer's scale and offset (BOLT scores CLIP logits,
    mmhay cosines: the same picks). A candidate can be picked more than once, and upstream keeps
    every repeat (its lmms-eval fork, sming256/lmms-eval@dabbce6 ``llava_onevision.py::
    sample_frames``, sorts the n frames and reads each, repeats included), so the plan has n
    frames even when the video has fewer candidates; at n = 2 both points are 1/2.
    Where mmhay differs: flat scores (upstream divides 0 by 0 and picks NaNs) count as a uniform
    distribution, and a point past the last CDF value (only n = 1, whose point is 1, when the
    float sum falls short of 1) takes the last candidate instead of an index out of range.
    """
    score = np.asarray(relevance, dtype=np.float64)
    score = score - score.min()
    top = score.max()
    if top > 0:
        score = (score / top) ** power
    else:
        score = np.ones_like(score)
    cdf = np.cumsum(score / score.sum())
    points = np.linspace(1 / n, 1 - 1 / n, n)
    return np.minimum(np.searchsorted(cdf, points), len(score) - 1).tolist()


@SAMPLERS.register("aks")
def aks(footage: Footage, n: int, scorer: str = "", threshold: float = 0.8, std_threshold: float = -100.0, depth: int = 5) -> FramePlan:
    """AKS: bins of 1-fps candidates split in halves until their top-n relevance stands out (or depth), each bin's best frames shown.

    The selection is ``adaptive_split_picks`` with its defaults (AKS's ``t1=0.8``, ``t2=-100``,
    ``all_depth=5``), except that a bin stops splitting where its share of n would fall below one
    frame (depth at most log2 n): upstream allots ``int(n / 2**depth)`` frames, none at n < 32 for
    bins of depth 5, so that an 8-frame plan of a video without an outstanding bin is empty.
    """
    if depth < 0:
        raise ConfigError("--sampler", "depth", "must be at least 0 (the halvings of a bin)", depth)
    candidates, relevance, _ = candidate_relevance(footage, scorer, "aks")
    picks = adaptive_split_picks(relevance, n, threshold, std_threshold, min(depth, n.bit_length() - 1))
    return FramePlan(tuple(candidates[i] for i in picks), (1.0,) * len(picks))


def adaptive_split_picks(relevance, n: int, threshold: float = 0.8, std_threshold: float = -100.0, depth: int = 5) -> list[int]:
    """AKS's adaptive keyframe selection: at most n distinct candidate indices, in order.

    ncTimTang/AKS@4667501 ``frame_select.py::meanstd`` and its ``main`` (AKS, CVPR 2025, arXiv
    2502.21271), exactly: with fewer candidates than n, all of them. Else the scores are min-max
    normalised to 0..1 and the whole video is one bin of depth 0. A bin is kept whole when the
    mean of its n highest scores (n the whole budget, not the bin's share, so a bin of n
    candidates or fewer never stands out at a threshold >= 0) exceeds its mean by more than ``threshold`` and its
    standard deviation (population) exceeds ``std_threshold`` (-100: always); otherwise, below
    ``depth``, it is split into ``[:len // 2]`` and ``[len // 2:]`` one depth deeper, and at
    ``depth`` it is kept. A bin of depth d gets its ``int(n / 2**d)`` best candidates (ties: the
    earlier, as ``heapq.nlargest``), or all of it if it holds fewer, so the plan can fall short
    of n. Where mmhay differs: flat scores (upstream's 0 / 0) normalise to zeros, so every bin
    splits and shows its first candidates; empty bins (upstream splits a one-candidate bin into
    an empty one and itself, to the same picks) are dropped; upstream's ``ratio`` (score every
    ratio-th frame, default 1) has no counterpart, the candidates being 1 fps.
    """
    score = np.asarray(relevance, dtype=np.float64)
    if len(score) < n:
        return list(range(len(score)))
    low, high = score.min(), score.max()
    score = (score - low) / (high - low) if high > low else np.zeros_like(score)
    picks: list[int] = []
    bins = [(0, len(score), 0)]
    while bins:
        start, stop, level = bins.pop()
        part = score[start:stop]
        if not len(part):
            continue
        best = np.argsort(-part, kind="stable")
        outstanding = float(np.mean(part[best[:n]]) - np.mean(part)) > threshold and float(np.std(part)) > std_threshold
        if not outstanding and level < depth:
            middle = start + len(part) // 2
            bins += [(start, middle, level + 1), (middle, stop, level + 1)]
            continue
        picks.extend(start + int(i) for i in best[: int(n / 2**level)])
    return sorted(picks)
