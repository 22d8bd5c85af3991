"""Frame samplers against hand-computed cases: times, counts, scales, determinism, bad specs."""

from fractions import Fraction

import numpy as np
import pytest

from mmhay.errors import ConfigError
from mmhay.sampling import SCORERS, Footage, plan_frames, select_key_clips


def _times(spec, footage, n):
    return list(plan_frames(spec, footage, n).times)


def test_uniform_takes_midpoints_or_both_ends_of_the_frame_grid():
    ten = Footage(Fraction(10), rate=Fraction(8))
    assert _times("uniform", ten, 4) == [Fraction(5, 4), Fraction(15, 4), Fraction(25, 4), Fraction(35, 4)]
    # 80 frames: round(linspace(0, 79, 4)) = 0, 26, 53, 79, at 1/8 s each
    assert _times("uniform:mode=linspace", ten, 4) == [Fraction(0), Fraction(26, 8), Fraction(53, 8), Fraction(79, 8)]
    assert plan_frames("uniform", ten, 4).scales == (1.0,) * 4


def test_fps_counts_frames_like_qwen_smart_nframes():
    def count(duration, n, spec="fps", rate=None):
        return len(plan_frames(spec, Footage(Fraction(duration), rate=rate), n).times)

    assert count(10, 64) == 20  # 2 fps
    assert count(10, 64, "fps:rate=0.5") == 4  # 5 wanted, rounded down to a multiple of 2
    assert count(1, 64) == 4  # min_frames
    assert count(100, 64) == 64  # the budget caps it
    assert count(100, 63) == 62  # a multiple of 2 within the budget
    assert count(10, 64, "fps:rate=1,multiple_of=4,min_frames=1") == 8
    assert count(3, 64, "fps:rate=8", rate=Fraction(4)) == 12  # never more frames than the video has
    assert _times("fps:rate=1,min_frames=2", Footage(Fraction(4)), 8) == [Fraction(1, 2), Fraction(3, 2), Fraction(5, 2), Fraction(7, 2)]


def test_random_draws_one_time_per_interval_reproducibly_and_differently_per_sample():
    footage = Footage(Fraction(8), key="sample-1")
    first = _times("random", footage, 4)
    assert first == _times("random", footage, 4), "same sample, same draw"
    assert first != _times("random", Footage(Fraction(8), key="sample-2"), 4)
    assert first != _times("random", Footage(Fraction(8), key="sample-1", seed=1), 4)
    assert all(2 * i <= t < 2 * (i + 1) for i, t in enumerate(first))
    free = _times("random:jitter=free", footage, 6)
    assert free == sorted(free) and all(0 <= t < 8 for t in free)


def _shots(boundaries, duration):
    """A video whose luma jumps at each boundary (seconds): shot k is a flat grey of 40 * k."""

    def look(times, size):
        width, height = size
        shots = [sum(t >= b for b in boundaries) for t in times]
        return np.stack([np.full((height, width, 3), 40 * k, np.uint8) for k in shots])

    return Footage(Fraction(duration), look=look)


def test_scene_takes_the_middle_of_each_shot_and_fills_the_budget_over_the_widest_gaps():
    video = _shots([4, 6], 12)  # shots [0, 4), [4, 6), [6, 12)
    assert _times("scene", video, 3) == [Fraction(2), Fraction(5), Fraction(9)]
    # a fourth frame goes to the widest gap (the ends count double: 4, 3, 4, 6): after 9 s
    assert _times("scene", video, 4) == [Fraction(2), Fraction(5), Fraction(9), Fraction(21, 2)]
    # without filling, only gaps over max_gap get frames
    assert _times("scene:fill=false", video, 8) == [Fraction(2), Fraction(5), Fraction(9)]
    assert _times("scene:fill=false,max_gap=5", video, 8) == [Fraction(2), Fraction(5), Fraction(9), Fraction(21, 2)]


def test_scene_merges_the_most_alike_neighbouring_shots_when_over_budget():
    # grey 0 | 40 | 80 | 120 over [0,2) [2,4) [4,6) [6,8); with luma steps of 40 each neighbour differs
    # alike; a budget of 2 merges down to two shots, both inside the video
    times = _times("scene", _shots([2, 4, 6], 8), 2)
    assert len(times) == 2 and times == sorted(times) and 0 < times[0] < times[1] < 8


def test_scene_needs_frames():
    with pytest.raises(ConfigError, match="scene"):
        plan_frames("scene", Footage(Fraction(5)), 4)


def test_key_clips_follow_the_relevance_peaks_and_keep_the_token_budget():
    relevance = np.array([0.1, 0.2, 0.9, 0.2, 0.1, 0.1, 0.3, 0.8, 0.3, 0.1])
    distinct = np.eye(10)  # no redundancy between frames
    chosen = select_key_clips(relevance, distinct, budget=2)
    picked = [i for i, _ in chosen]
    assert 2 in picked and 7 in picked, "the two peaks anchor clips"
    # 2 anchors, budget 2: clips up to 4 frames at scale up to 2; tokens stay ~ 2 full frames
    full_frames = sum(1 / s**2 for _, s in chosen)
    assert 1.5 <= full_frames <= 2.0 + 1e-9
    # with only one frame's budget and two peaks, the better peak alone is kept at full size
    assert select_key_clips(relevance, distinct, budget=1) == [(2, 1.0)]


def test_redundant_frames_shorten_the_clip():
    relevance = np.array([0.5, 0.5, 0.9, 0.5, 0.5])
    same = np.ones((5, 4)) / 2  # every frame the same: any clip longer than one pays full redundancy
    assert select_key_clips(relevance, same, budget=1, length_bonus=0.05) == [(2, 1.0)]


def test_keyclip_asks_the_scorer_about_one_fps_candidates_and_returns_scaled_frames():
    seen = {}

    @SCORERS.register("test-brightness")
    def brightness(frames, question, argument):
        """Relevance: mean brightness; embeddings: one-hot by second (no redundancy)."""
        seen.update(shape=frames.shape, question=question, argument=argument)
        return frames.mean(axis=(1, 2, 3)) / 255, np.eye(len(frames))

    video = _shots([3, 4], 8)  # grey 0 over [0, 3), 40 over [3, 4), 80 over [4, 8)
    plan = plan_frames("keyclip:scorer=test-brightness:xyz", Footage(video.duration, look=video.look, question="where?"), 2)
    assert seen == {"shape": (8, 224, 224, 3), "question": "where?", "argument": "xyz"}
    assert all(Fraction(4) <= t for t in plan.times), "the brightest stretch is chosen"
    assert list(plan.times) == sorted(plan.times) and all(1 <= s <= 2 for s in plan.scales)
    assert plan.full_frames <= 2 + 1e-9


@pytest.mark.parametrize(
    ("spec", "key"),
    [("nope", ""), ("uniform:mode=zigzag", "mode"), ("fps:rate=fast", "rate"), ("fps:speed=2", "speed"), ("uniform:mode", "mode"), ("keyclip", "scorer")],
)
def test_bad_specs_name_the_flag_and_the_key(spec, key):
    with pytest.raises(ConfigError) as caught:
        plan_frames(spec, _shots([1], 4), 4)
    assert caught.value.source == "--sampler" and caught.value.key == key


def test_a_scale_shows_more_frames_at_the_same_pixel_budget():
    footage = Footage(Fraction(8), rate=Fraction(8), key="k")
    for spec in ("uniform:scale=2", "fps:rate=4,scale=2", "random:scale=2"):
        plan = plan_frames(spec, footage, 4)
        assert plan.scales == (2.0,) * len(plan.times) and plan.full_frames <= 4
    assert len(plan_frames("uniform:scale=2", footage, 4).times) == 16
    assert len(plan_frames("fps:rate=4,scale=2", footage, 4).times) == 16  # 32 wanted, 16 fit the budget
    with pytest.raises(ConfigError, match="scale"):
        plan_frames("uniform:scale=0.5", footage, 4)


def test_slowfast_scene_shrinks_frames_like_the_last_full_one_and_fits_more():
    video = _shots([8], 10)  # a still shot [0, 8), then another [8, 10)
    plain = plan_frames("scene", video, 3)
    assert len(plain.times) == 3 and plain.scales == (1.0,) * 3
    plan = plan_frames("scene:slowfast=true", video, 3)
    fast = (1 / 0.3) ** 0.5
    assert len(plan.times) > 3 and plan.full_frames <= 3 + 1e-9
    by_time = dict(zip(plan.times, plan.scales))
    first_still, first_other = min(t for t in plan.times if t < 8), min(t for t in plan.times if t >= 8)
    assert by_time[first_still] == 1.0 and by_time[first_other] == 1.0, "the first frame of each look is full size"
    assert all(scale == pytest.approx(fast) for t, scale in by_time.items() if t not in (first_still, first_other))
    with pytest.raises(ConfigError, match="fast_share"):
        plan_frames("scene:slowfast=true,fast_share=0", video, 3)
