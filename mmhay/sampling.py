"""Frame samplers: which times of a video a model gets to see, and at what scale each.

A sampler is a registered function ``(footage, n, **options) -> FramePlan``: ``n`` is the budget
in full-resolution frames (``--frames``), the options come from the spec ``name:key=value,...``
(``fps:rate=1,multiple_of=2``). Times are exact (``Fraction`` seconds) and fall inside the video;
``scales`` says how much each frame is shrunk per side (1: full resolution, 2: half the width and
height, a quarter of the pixels), so a sampler that shows more frames at lower resolution keeps
the pixel and token budget. Samplers that look at the video (``scene``, ``keyclip``; ``bolt`` and
``aks`` in ``mmhay.query_sampling``) render small proxies through ``footage.look``; ``every`` needs its frame rate; the others need only its duration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor, sqrt

import numpy as np

from mmhay.errors import ConfigError
from mmhay.media.timing import FrameGrid
from mmhay.registry import registry
from mmhay.specs import bind_options, parse_spec

__all__ = ["SAMPLERS", "SCORERS", "Footage", "FramePlan", "plan_frames", "check_sampler", "uniform_times", "candidate_relevance", "footage_for", "frame_rate", "render_plan"]

SAMPLERS = registry("sampler")
SCORERS = registry("scorer")  # frames [N, H, W, 3] uint8 and a question -> relevance [N], embeddings [N, D]


@dataclass(frozen=True)
class Footage:
    """What a sampler may know of the video it samples.

    ``look(times, size)`` renders the frames shown at ``times`` as uint8 ``[N, height, width, 3]``
    at ``size = (width, height)``; ``question`` is the text asked (query-aware samplers); ``key``
    names the sample, so random draws differ between samples and repeat between runs.
    """

    duration: Fraction
    rate: Fraction | None = None
    look: Callable[[Sequence[Fraction], tuple[int, int]], np.ndarray] | None = None
    question: str = ""
    key: str = ""
    seed: int = 0


@dataclass(frozen=True)
class FramePlan:
    """Frame times in seconds, in order, and the downscale per side of each frame."""

    times: tuple[Fraction, ...]
    scales: tuple[float, ...]

    @property
    def full_frames(self) -> float:
        """The plan's pixels in full-resolution frames (a frame at scale 2 counts a quarter)."""
        return sum(1 / (s * s) for s in self.scales)


def frame_rate(media) -> Fraction | None:
    """A composition's frame rate: its own, or its first source's (for information only: frames
    are found by timestamp)."""
    if media.rate is not None:
        return Fraction(media.rate)
    info = getattr(media.segments[0].ref, "info", None) if media.segments else None
    return Fraction(info.rate) if info is not None and info.rate else None


def footage_for(sample) -> Footage:
    """What samplers may know of a video sample. Query-aware ones score frames against the
    question and its options, sorted, and draws are keyed by the question, so that every rotation
    of the options is shown the same frames."""
    media = sample.media
    question = " ".join([sample.question, *sorted(sample.options)])
    return Footage(media.duration, frame_rate(media), media.frames, question, sample.group or sample.id)


def render_plan(media, plan: FramePlan, *, each_at_its_scale: bool = False) -> tuple[np.ndarray | tuple[np.ndarray, ...], tuple[float, ...]]:
    """The frames ``plan`` shows of ``media`` and the times they were shown. Frames of one scale
    are rendered at that size (even sides, as codecs and processors like); frames of mixed
    scales are rendered whole, as one video holds one size, or ``each_at_its_scale`` as a tuple
    of pictures of their own sizes."""
    scales = set(plan.scales)
    if len(scales) > 1 and each_at_its_scale:
        frames: list = [None] * len(plan.times)
        times: list = [0.0] * len(plan.times)
        for scale in sorted(scales):
            picked = [i for i, s in enumerate(plan.scales) if s == scale]
            rendered = media.render([plan.times[i] for i in picked], _scaled_size(media.size, scale))
            for j, i in enumerate(picked):
                frames[i], times[i] = rendered.pixels[j], float(rendered.times[j])
        return tuple(frames), tuple(times)
    size = _scaled_size(media.size, plan.scales[0]) if len(scales) == 1 else None
    rendered = media.render(plan.times, size)
    return rendered.pixels, tuple(float(t) for t in rendered.times)


def _scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int] | None:
    return None if scale == 1 else tuple(max(2, round(side / scale / 2) * 2) for side in size)


def plan_frames(spec: str, footage: Footage, n: int) -> FramePlan:
    """The frames the sampler ``spec`` (``name`` or ``name:key=value,...``) picks, at most ``n``
    full-resolution frames' worth."""
    if n < 1:
        raise ConfigError("--frames", "", "must be at least 1", n)
    sampler, options = _bind(spec)
    return sampler(footage, n, **options)


def check_sampler(spec: str) -> None:
    """Raise ConfigError naming ``--sampler`` if ``spec`` names no sampler or a wrong option."""
    _bind(spec)


def _bind(spec: str) -> tuple[Callable, dict]:
    name, raw = parse_spec(spec, "--sampler")
    sampler = SAMPLERS.get(name, source="--sampler").obj
    return sampler, bind_options(sampler, raw, "--sampler", skip=2)


def _plan(times: Sequence[Fraction], scale: float = 1.0) -> FramePlan:
    return FramePlan(tuple(times), (float(scale),) * len(times))


def _frames_at(scale: float, n: int) -> int:
    """Frames of ``scale`` that cost what ``n`` full frames do (scale 2: four times as many)."""
    if not 1 <= scale <= 8:
        raise ConfigError("--sampler", "scale", "must be within 1..8 (the downscale per side)", scale)
    return max(1, floor(n * scale * scale + 1e-9))


def uniform_times(duration: Fraction, n: int) -> list[Fraction]:
    """n times at the midpoints of n equal intervals of ``duration`` (the "middle" rule)."""
    if n < 1:
        raise ValueError("a sampler needs at least one frame")
    return [Fraction(duration) * (2 * i + 1) / (2 * n) for i in range(n)]


@SAMPLERS.register("uniform")
def uniform(footage: Footage, n: int, mode: str = "middle", scale: float = 1.0) -> FramePlan:
    """n frames spread evenly: midpoints of n equal intervals (middle), or both ends included (linspace, Qwen-VL's; linspace_int, LLaVA-OneVision's)."""
    n = _frames_at(scale, n)
    if mode == "middle":
        return _plan(uniform_times(footage.duration, n), scale)
    if mode not in ("linspace", "linspace_int"):
        raise ConfigError("--sampler", "mode", "must be middle, linspace or linspace_int", mode)
    last = _last_frame_time(footage)
    if n == 1:
        return _plan([Fraction(0)], scale)
    if footage.rate is not None:  # Qwen-VL: round(linspace(0, T - 1, n)) over the frame indices
        frames = ceil(footage.duration * footage.rate)
        indices = [round(Fraction(i * (frames - 1), n - 1)) for i in range(n)]
        if mode == "linspace_int":  # LLaVA-OneVision: np.linspace(0, T - 1, n, dtype=int), its float steps truncated
            indices = np.linspace(0, frames - 1, n, dtype=int).tolist()
        return _plan([Fraction(k) / footage.rate for k in indices], scale)
    return _plan([last * i / (n - 1) for i in range(n)], scale)


@SAMPLERS.register("fps")
def fps(footage: Footage, n: int, rate: float = 2.0, min_frames: int = 4, max_frames: int = 0, multiple_of: int = 2, scale: float = 1.0) -> FramePlan:
    """`rate` frames a second within [min_frames, max_frames (default --frames)], a multiple of `multiple_of` (Qwen-VL's smart frame count)."""
    if rate <= 0 or min_frames < 1 or multiple_of < 1 or max_frames < 0:
        raise ConfigError("--sampler", "fps", "needs rate > 0, min_frames >= 1, max_frames >= 0, multiple_of >= 1", f"{rate}, {min_frames}, {max_frames}, {multiple_of}")
    n = _frames_at(scale, n)
    top = min(max_frames or n, n)
    if footage.rate is not None:
        top = min(top, ceil(footage.duration * footage.rate))  # never more frames than the video has
    wanted = float(footage.duration) * rate
    count = min(max(wanted, _ceil_to(min_frames, multiple_of)), _floor_to(top, multiple_of))
    count = max(_floor_to(int(count), multiple_of), min(multiple_of, top))
    return _plan(uniform_times(footage.duration, count), scale)


@SAMPLERS.register("every")
def every(footage: Footage, n: int, scale: float = 1.0) -> FramePlan:
    """Every frame of the video, at k / rate (V-NIAH's protocol: the needle is always shown); refuses a video of more frames than the budget."""
    if footage.rate is None:
        raise ConfigError("--sampler", "every", "needs the video's frame rate, and this video has none (it is shown by its own timestamps); use uniform or fps")
    grid = FrameGrid(footage.rate, ceil(footage.duration * footage.rate))
    budget = _frames_at(scale, n)
    if len(grid) > budget:
        # dropping frames would make this another sampler, and the needle might be among them
        needed = ceil(len(grid) / (scale * scale) - 1e-9)
        at = f" at scale={scale:g}" if scale != 1 else ""
        raise ConfigError("--sampler", "every", f"the video has {len(grid)} frames, more than --frames {n} holds{at}; give --frames {needed} or more")
    return _plan(grid[:], scale)


@SAMPLERS.register("random")
def random(footage: Footage, n: int, jitter: str = "interval", scale: float = 1.0) -> FramePlan:
    """One random time in each of n equal intervals (interval, TSN-style) or n sorted random times (free); for training."""
    n = _frames_at(scale, n)
    rng = np.random.default_rng(_seed(footage))
    ticks = 1_000_000
    if jitter == "interval":
        draws = rng.integers(0, ticks, size=n)
        return _plan([footage.duration * (i * ticks + int(d)) / (n * ticks) for i, d in enumerate(draws)], scale)
    if jitter != "free":
        raise ConfigError("--sampler", "jitter", "must be interval or free", jitter)
    draws = np.sort(rng.integers(0, ticks, size=n))
    return _plan([footage.duration * int(d) / ticks for d in draws], scale)


@SAMPLERS.register("scene")
def scene(
    footage: Footage, n: int, threshold: float = 0.1, max_gap: float = 0.0, proxy_fps: float = 2.0, fill: bool = True, slowfast: bool = False, fast_share: float = 0.3
) -> FramePlan:
    """One frame per shot (mean luma change > threshold on a 64x64 proxy), no gap over max_gap s, at most n (fill: use the whole budget; slowfast: Keye-VL's smaller frames where little changed).

    With ``slowfast``, a frame at least 95% like the last full-size ("slow") frame is "fast" and
    shown at ``fast_share`` of a full frame's pixels, so more frames fit the budget of n.
    """
    if footage.look is None:
        raise ConfigError("--sampler", "scene", "needs the video's frames; this source gives only its duration")
    times = _proxy_times(footage.duration, proxy_fps)
    luma = _luma(footage.look(times, (64, 64)))
    starts = [0]
    key = luma[0]
    for i in range(1, len(times)):
        if float(np.abs(luma[i] - key).mean()) / 255 > threshold:
            starts.append(i)
            key = luma[i]
    shots = [(a, b) for a, b in zip(starts, starts[1:] + [len(times)])]
    while len(shots) > n:  # merge the two most alike neighbouring shots
        change = [float(np.abs(luma[shots[j][0]:shots[j][1]].mean(0) - luma[shots[j + 1][0]:shots[j + 1][1]].mean(0)).mean()) for j in range(len(shots) - 1)]
        j = int(np.argmin(change))
        shots[j : j + 2] = [(shots[j][0], shots[j + 1][1])]
    bounds = [Fraction(0)] + [(times[a - 1] + times[a]) / 2 for a, _ in shots[1:]] + [footage.duration]
    picks = sorted((bounds[j] + bounds[j + 1]) / 2 for j in range(len(shots)))
    if not 0 < fast_share <= 1:
        raise ConfigError("--sampler", "fast_share", "must be within 0..1 (a fast frame's share of a full frame's pixels)", fast_share)
    gap_limit = Fraction(max_gap).limit_denominator(1000) if max_gap > 0 else None
    rate = Fraction(proxy_fps).limit_denominator(1000)
    fast_scale = float(np.sqrt(1 / fast_share))

    def scales(chosen: list[Fraction]) -> list[float]:
        return _slow_fast_scales([luma[min(int(t * rate), len(luma) - 1)] for t in chosen], fast_scale) if slowfast else [1.0] * len(chosen)

    while True:
        width, middle = _widest_gap(picks, footage.duration)
        if not fill and (gap_limit is None or width <= gap_limit):
            break
        wider = sorted(picks + [middle])
        if sum(1 / (scale * scale) for scale in scales(wider)) > n + 1e-9:
            break
        picks = wider
    return FramePlan(tuple(picks), tuple(scales(picks)))


def _slow_fast_scales(luma: list[np.ndarray], fast_scale: float, similar: float = 0.95) -> list[float]:
    """Each frame's scale: full size where it differs from the last full-size frame by more than
    5% of the luma range (and for the first), ``fast_scale`` otherwise (Keye-VL 1.5's Slow-Fast)."""
    scales, slow = [], None
    for frame in luma:
        if slow is None or 1 - float(np.abs(frame - slow).mean()) / 255 < similar:
            scales.append(1.0)
            slow = frame
        else:
            scales.append(fast_scale)
    return scales


@SAMPLERS.register("keyclip")
def keyclip(footage: Footage, n: int, scorer: str = "", redundancy: float = 0.5, length_bonus: float = 0.05, max_scale: float = 2.0, anchors: int = 0) -> FramePlan:
    """F2C key clips: 1-fps candidates scored against the question, watershed peaks, anchors, adaptive clip length and scale (n full frames' tokens)."""
    candidates, relevance, embeddings = candidate_relevance(footage, scorer, "keyclip")
    chosen = select_key_clips(relevance, embeddings, n, redundancy=redundancy, length_bonus=length_bonus, max_scale=max_scale, anchors=anchors)
    return FramePlan(tuple(candidates[i] for i, _ in chosen), tuple(s for _, s in chosen))


def candidate_relevance(footage: Footage, scorer: str, sampler: str) -> tuple[list[Fraction], np.ndarray, np.ndarray]:
    """The 1-fps candidates of a query-aware sampler, each scored against the question by
    ``scorer`` (``NAME:ARGUMENT`` of ``SCORERS``) on a 224x224 proxy: (candidate times,
    relevance [N] float64, unit-norm embeddings [N, D] float64). ``sampler`` names the asker in errors."""
    if footage.look is None:
        raise ConfigError("--sampler", sampler, "needs the video's frames; this source gives only its duration")
    if not scorer:
        raise ConfigError("--sampler", "scorer", f"{sampler} needs a relevance scorer, e.g. {sampler}:scorer=clip:PATH (see `mmhay list scorers`)")
    name, _, argument = scorer.partition(":")
    score = SCORERS.get(name, source="--sampler", key="scorer").obj
    candidates = _candidate_times(footage.duration)
    relevance, embeddings = score(footage.look(candidates, (224, 224)), footage.question, argument)
    relevance = np.asarray(relevance, dtype=np.float64)
    embeddings = np.asarray(embeddings, dtype=np.float64)
    embeddings = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    return candidates, relevance, embeddings


def select_key_clips(relevance, embeddings, budget: int, *, redundancy=0.5, length_bonus=0.05, max_scale=2.0, anchors=0) -> list[tuple[int, float]]:
    """F2C selection over candidates: (candidate index, scale) in time order (arXiv 2510.02262, Alg. 1)."""
    count = len(relevance)
    peaks = _watershed_peaks(relevance)
    wanted = min(anchors or budget, budget)
    if len(peaks) > wanted:
        peaks = _cluster_peaks(peaks, relevance, wanted)
    k_anchor = len(peaks)
    longest = max(1, min(count, floor(max_scale * max_scale * budget / k_anchor)))
    chosen: dict[int, float] = {}
    for anchor in peaks:
        best, best_score = 1, -np.inf
        for length in range(1, longest + 1):
            start = min(max(anchor - (length - 1) // 2, 0), count - length)
            window = range(start, start + length)
            score = float(relevance[list(window)].mean()) + length_bonus * length / longest
            if length > 1:
                block = embeddings[list(window)]
                similarity = block @ block.T
                score -= redundancy * float((similarity.sum() - np.trace(similarity)) / (length * (length - 1)))
            if score > best_score + 1e-12:
                best, best_score = length, score
        scale = min(max(sqrt(k_anchor * best / budget), 1.0), max_scale)
        start = min(max(anchor - (best - 1) // 2, 0), count - best)
        for i in range(start, start + best):
            chosen[i] = min(chosen.get(i, scale), scale)  # a frame in two clips keeps the sharper copy
    return sorted(chosen.items())


def _watershed_peaks(relevance) -> list[int]:
    """The highest candidate of each basin between consecutive valleys (local minima and both
    ends; a flat bottom is one valley, at its first candidate)."""
    count = len(relevance)
    valleys = [0] + [i for i in range(1, count - 1) if relevance[i] < relevance[i - 1] and relevance[i] <= relevance[i + 1]] + [count - 1]
    peaks = {int(a + np.argmax(relevance[a : b + 1])) for a, b in zip(valleys, valleys[1:])} if count > 1 else {0}
    return sorted(peaks)


def _cluster_peaks(peaks: list[int], relevance, k: int) -> list[int]:
    """k anchors: 1-D k-means of the peaks' positions (started at their quantiles), best peak of each cluster."""
    positions = np.asarray(peaks, dtype=np.float64)
    centres = np.quantile(positions, (np.arange(k) + 0.5) / k)
    for _ in range(100):
        labels = np.argmin(np.abs(positions[:, None] - centres[None, :]), axis=1)
        moved = np.array([positions[labels == c].mean() if np.any(labels == c) else centres[c] for c in range(k)])
        if np.allclose(moved, centres):
            break
        centres = moved
    best = {}
    for peak, label in zip(peaks, labels):
        if label not in best or relevance[peak] > relevance[best[label]]:
            best[label] = peak
    return sorted(best.values())


def _candidate_times(duration: Fraction, limit: int = 512) -> list[Fraction]:
    """1-fps candidates at the middle of each second (uniform over ``limit`` past that)."""
    count = max(1, floor(duration))
    if count > limit:
        return uniform_times(duration, limit)
    return [min(Fraction(2 * i + 1, 2), duration * (2 * i + 1) / (2 * count)) for i in range(count)]


def _proxy_times(duration: Fraction, rate: float) -> list[Fraction]:
    count = max(1, floor(duration * Fraction(rate).limit_denominator(1000)))
    return uniform_times(duration, count)


def _luma(frames: np.ndarray) -> np.ndarray:
    return frames[..., 0] * 0.299 + frames[..., 1] * 0.587 + frames[..., 2] * 0.114


def _widest_gap(picks: list[Fraction], duration: Fraction) -> tuple[Fraction, Fraction]:
    """The widest stretch without a pick and the time in its middle. The stretches before the
    first pick and after the last count double, so that evenly spread picks leave equal gaps."""
    if not picks:
        return duration, duration / 2
    stretches = [(2 * picks[0], picks[0] / 2)]
    stretches += [(b - a, (a + b) / 2) for a, b in zip(picks, picks[1:])]
    stretches.append((2 * (duration - picks[-1]), (picks[-1] + duration) / 2))
    return max(stretches, key=lambda stretch: stretch[0])


def _last_frame_time(footage: Footage) -> Fraction:
    if footage.rate is not None:
        return Fraction(ceil(footage.duration * footage.rate) - 1) / footage.rate
    return footage.duration * Fraction(999, 1000)


def _ceil_to(value: float, multiple: int) -> int:
    return ceil(value / multiple) * multiple


def _floor_to(value: float, multiple: int) -> int:
    return floor(value / multiple) * multiple


def _seed(footage: Footage) -> int:
    return int.from_bytes(hashlib.sha256(f"{footage.seed}:{footage.key}".encode()).digest()[:8], "big")
