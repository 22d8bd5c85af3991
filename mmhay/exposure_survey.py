"""``mmhay exposure``: how often a suite's needles are shown at all, for a sampler and a budget.

No model answers anything. Without a model, each sample's frames are planned by the sampler
(nothing is rendered unless the sampler looks at the video) and the needles are measured at the
size the pipeline renders them; with a model that looks, the frames are rendered and put
through its processor (and its vision tower and compressor, with ``compress``), so the sizes and
kept tokens are the ones it would receive. The result is the shown rate overall, by task, by
facet and over the depth x length grid (``mmhay.scoring.metrics.exposure_summary``), the number
that says how much of a suite's accuracy a sampler can allow at most.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import floor

from mmhay.evaluate import DataSource, EvalSettings, request_for, shown_media, skip_reason
from mmhay.exposure import exposure, frame_given, given_by_plan
from mmhay.scoring.metrics import exposure_summary

__all__ = ["SurveyResult", "survey_exposure", "exposure_record", "uniform_expectation"]


@dataclass(frozen=True)
class SurveyResult:
    """The exposure summary of a suite (as in metrics.json), the samples surveyed, and the
    analytic shown rate of uniform sampling for its single-needle samples (None where no
    sample has exactly one needle on screen)."""

    summary: dict
    samples: int
    skipped: int
    uniform_expectation: float | None


def survey_exposure(
    data: DataSource,
    settings: EvalSettings,
    *,
    adapter=None,
    progress: Callable[[int], None] | None = None,
) -> SurveyResult:
    """Exposure of every sample of ``data`` under ``settings`` (sampler, frames, compress,
    min_shown), for ``adapter``'s input where one is given."""
    records, skipped, expected = [], 0, []
    for done, sample in enumerate(data.samples(), 1):
        record = exposure_record(sample, settings, adapter)
        if record is None:
            skipped += 1
            continue
        records.append(record)
        needles = sample.truth.get("needles", [])
        if len(needles) == 1 and "start" in needles[0] and getattr(sample.media, "segments", None):
            expected.append(uniform_expectation(float(sample.media.duration), needles[0]["start"], needles[0]["end"], settings.frames, _rate(sample.media)))
        if progress:
            progress(done)
    summary = exposure_summary(records) or {}
    return SurveyResult(summary, len(records), skipped, sum(expected) / len(expected) if expected else None)


def exposure_record(sample, settings: EvalSettings, adapter=None) -> dict | None:
    """A record of ``sample``'s exposure alone, as ``exposure_summary`` reads it (no answer: it
    counts as wrong), or None where ``adapter`` cannot be asked it. With an adapter that looks,
    the media is rendered and put through its input (``receive``); else the sampler's plan."""
    if adapter is not None and adapter.needs_frames:
        if skip_reason(sample, adapter):
            return None
        request = request_for(sample, shown_media(sample, adapter, settings), settings)
        received = adapter.receive([request])[0] if hasattr(adapter, "receive") else {}
        given = frame_given(request.frames, request.frame_times, received, request.audio, request.audio_rate, request.images)
    else:
        given = given_by_plan(sample, settings.sampler, settings.frames)
    return {"task": sample.task, "facets": dict(sample.facets), "correct": False, "chance": None, "exposure": exposure(sample, given, settings.min_shown)}


def _rate(media) -> float | None:
    from mmhay.sampling import frame_rate

    rate = frame_rate(media)
    return None if rate is None else float(rate)


def uniform_expectation(duration: float, start: float, end: float, frames: int, rate: float | None = None) -> float:
    """The probability that uniform sampling (``frames`` midpoints of equal intervals) shows a
    needle of this length placed at a uniformly random start in the video: the share of the
    possible starts from which one of the sampled times falls inside the needle's span.

    With n frames over D seconds and a needle of d seconds this is about min(1, n d / (D - d));
    here it is exact for the midpoints, with the starts on the frame grid when ``rate`` is known.
    """
    length = end - start
    room = duration - length  # starts run over [0, room]
    if room <= 0:
        return 1.0
    times = [duration * (2 * i + 1) / (2 * frames) for i in range(frames)]
    if rate:
        # a shown time shows the frame it falls in; starts are frame boundaries 0..room
        times = [floor(t * rate + 1e-9) / rate for t in times]
        starts = range(0, floor(room * rate + 1e-9) + 1)
        hits = sum(1 for k in starts if any(k / rate - 1e-9 <= t < k / rate + length - 1e-9 for t in times))
        return hits / len(starts)
    covered, reach = 0.0, 0.0  # the union of the intervals of starts (t - d, t] over [0, room]
    for t in sorted(times):
        low, high = max(0.0, t - length, reach), min(room, t)
        if high > low:
            covered += high - low
            reach = high
    return covered / room

