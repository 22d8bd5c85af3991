"""BOLT's inverse-transform sampling and AKS's adaptive split against hand-computed picks, and both through plan_frames with a tiny CLIP."""

import heapq
from fractions import Fraction

import numpy as np
import pytest

from mmhay.errors import ConfigError
from mmhay.query_sampling import adaptive_split_picks, inverse_transform_picks
from mmhay.sampling import Footage, candidate_relevance, plan_frames


def test_bolt_inverts_the_cdf_of_the_normalised_powered_scores():
    relevance = [0.2, 0.4, 0.2, 0.6]
    # min-max: [0, 1/2, 0, 1]; power 1: p = [0, 1/3, 0, 2/3], CDF [0, 1/3, 1/3, 1];
    # n=4 points linspace(1/4, 3/4, 4) = 1/4, 5/12, 7/12, 3/4 -> first CDF >= each: 1, 3, 3, 3
    assert inverse_transform_picks(relevance, 4, power=1.0) == [1, 3, 3, 3]
    # power 3: [0, 1/8, 0, 1] -> CDF [0, 1/9, 1/9, 1]: every point lands on candidate 3
    assert inverse_transform_picks(relevance, 4, power=3.0) == [3, 3, 3, 3]
    # n=8, power 1: points 1/8 + 3k/28 (k = 0..7) = .125 .232 .339 ...: the two below 1/3 pick
    # candidate 1, the rest candidate 3; the scores' scale and offset do not matter
    assert inverse_transform_picks(relevance, 8, power=1.0) == [1, 1, 3, 3, 3, 3, 3, 3]
    assert inverse_transform_picks([10 * r - 7 for r in relevance], 8, power=1.0) == [1, 1, 3, 3, 3, 3, 3, 3]


def test_bolt_edge_cases_flat_scores_more_frames_than_candidates_and_n_of_one_or_two():
    # flat: uniform p = 1/10 each, CDF k/10; points 1/4, 5/12, 7/12, 3/4 -> candidates 2, 4, 5, 7
    assert inverse_transform_picks([0.3] * 10, 4) == [2, 4, 5, 7]
    # 5 frames of 3 flat candidates: points .2 .35 .5 .65 .8 against CDF 1/3, 2/3, 1 -> repeats kept, n frames
    assert inverse_transform_picks([1.0, 1.0, 1.0], 5) == [0, 1, 1, 1, 2]
    # n=2: linspace(1/2, 1/2, 2), the median twice; n=1: the point 1 -> the last candidate reaching it
    assert inverse_transform_picks([0.0, 1.0, 1.0, 0.5], 2, power=1.0) == [2, 2]  # CDF 0 .4 .8 1: first >= .5
    assert inverse_transform_picks([0.0, 1.0], 1) == [1]
    # a point on a CDF step: [1, 0, 1] gives CDF [1/2, 1/2, 1]; searchsorted's left side takes the first
    # candidate reaching 1/2, candidate 0 (the right side would give 2)
    assert inverse_transform_picks([1.0, 0.0, 1.0], 2, power=1.0) == [0, 0]


def _upstream_aks(score, n, t1=0.8, t2=-100, all_depth=5):
    """AKS's frame_select.py main + meanstd as they run, recursion and heapq included (test's own transcription)."""
    if len(score) < n:
        return list(range(len(score)))
    score = np.asarray(score, dtype=np.float64)
    score = (score - score.min()) / (score.max() - score.min())

    def split(bins):  # bins: (scores, indices, depth)
        kept, deeper = [], []
        for part, index, depth in bins:
            top = [part[t] for t in heapq.nlargest(n, range(len(part)), part.__getitem__)]
            if len(part) and np.mean(top) - np.mean(part) > t1 and np.std(part) > t2:
                kept.append((part, index, depth))
            elif depth < all_depth:
                half = len(part) // 2
                deeper += [(part[:half], index[:half], depth + 1), (part[half:], index[half:], depth + 1)]
            else:
                kept.append((part, index, depth))
        return kept + (split(deeper) if deeper else [])

    out = []
    for part, index, depth in split([(score, list(range(len(score))), 0)]):
        out += [index[t] for t in heapq.nlargest(int(n / 2**depth), range(len(part)), part.__getitem__)]
    return sorted(out)


def test_aks_keeps_an_outstanding_bin_whole_and_splits_the_others():
    # 16 candidates at 0.2, candidate 2 at 0.3 and 5 at 0.29: normalised 1 and 0.9, the rest 0.
    # n=2: the top-2 mean 0.95 exceeds the mean 1.9/16 = 0.119 by 0.83 > 0.8: one bin, its best two
    scores = [0.2] * 16
    scores[2], scores[5] = 0.3, 0.29
    assert adaptive_split_picks(scores, 2, depth=1) == [2, 5]
    # candidate 5 at 0.25 (normalised 0.5): 0.75 - 1.5/16 = 0.656 is not enough, so the video splits into
    # [0, 8) and [8, 16) at depth 1, one frame each: candidate 2, and the first of eight equal zeros, 8
    scores[5] = 0.25
    assert adaptive_split_picks(scores, 2, depth=1) == [2, 8]


def test_aks_allots_n_over_two_to_the_depth_and_falls_short_where_that_is_zero():
    peak = [0.0] * 8
    peak[3] = 1.0
    # n=1: the top-1 mean 1 exceeds the mean 1/8 by 0.875: the whole video keeps its best, 3
    assert adaptive_split_picks(peak, 1) == [3]
    # n=2, depth 1: 0.5 - 0.125 = 0.375 splits; halves [0, 4), [4, 8) get int(2/2) = 1 each: 3, and 4 (ties: first)
    assert adaptive_split_picks(peak, 2, depth=1) == [3, 4]
    # upstream's depth 5 at n=2: bins of <= 2 candidates never stand out, so all reach depth 5 and get int(2/32) = 0
    assert adaptive_split_picks(peak, 2, depth=5) == [] == _upstream_aks(peak, 2)
    # fewer candidates than n: every candidate; flat: zeros everywhere, each bin's first candidate
    assert adaptive_split_picks([0.5, 0.1], 4) == [0, 1]
    assert adaptive_split_picks([0.7] * 8, 4, depth=2) == [0, 2, 4, 6]


def test_aks_matches_a_transcription_of_upstream_on_random_scores():
    rng = np.random.default_rng(0)
    for trial in range(60):
        count, n = int(rng.integers(1, 90)), int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
        scores = rng.random(count) ** int(rng.integers(1, 12))  # high powers make outstanding bins
        assert adaptive_split_picks(scores, n) == _upstream_aks(scores, n), (trial, count, n)


def _shots(boundaries, duration, question="a"):
    """A video whose frames are flat greys stepping by 60 at each boundary (seconds)."""

    def look(times, size):
        width, height = size
        return np.stack([np.full((height, width, 3), 60 * sum(t >= b for b in boundaries), np.uint8) for t in times])

    return Footage(Fraction(duration), look=look, question=question)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from mmhay.adapters.tiny import make_tiny_checkpoint

    return make_tiny_checkpoint("clip", tmp_path_factory.mktemp("clip") / "clip")


def test_bolt_and_aks_pick_the_candidates_their_rules_give_for_a_tiny_clips_scores(tiny_clip):
    video = _shots([2, 4], 6, question="the bright part?")
    candidates, relevance, _ = candidate_relevance(video, f"clip:{tiny_clip}", "bolt")
    assert candidates == [Fraction(2 * i + 1, 2) for i in range(6)] and len(set(relevance.tolist())) == 3, "three shots, three scores"
    bolt = plan_frames(f"bolt:scorer=clip:{tiny_clip}", video, 4)
    assert list(bolt.times) == [candidates[i] for i in inverse_transform_picks(relevance, 4, 3.0)] and bolt.scales == (1.0,) * 4
    aks = plan_frames(f"aks:scorer=clip:{tiny_clip},threshold=0.3", video, 2)  # depth capped at log2 2 = 1
    assert list(aks.times) == [candidates[i] for i in adaptive_split_picks(relevance, 2, 0.3, -100.0, 1)]
    assert 1 <= len(aks.times) <= 2 and len(set(aks.times)) == len(aks.times)


@pytest.mark.parametrize(("spec", "key"), [("bolt", "scorer"), ("aks", "scorer"), ("bolt:scorer=x,power=0", "power"), ("aks:scorer=x,depth=-1", "depth"), ("aks:scorer=nope:1", "scorer")])
def test_bad_query_sampler_specs_name_the_key(spec, key):
    with pytest.raises(ConfigError) as caught:
        plan_frames(spec, _shots([1], 4), 4)
    assert caught.value.source == "--sampler" and caught.value.key == key


def test_query_samplers_need_the_frames():
    with pytest.raises(ConfigError, match="bolt"):
        plan_frames("bolt:scorer=clip:x", Footage(Fraction(5)), 4)
