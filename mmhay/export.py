"""Writing a composition to an mp4 fast: copy what is untouched, encode only around the edits.

A clip of a source file whose stream matches the output (H.264, yuv420p, the output's size and
frame rate, closed GOPs) contributes its whole GOPs by copying packets; every other frame (edges
of clips, stills, procedural footage, frames under overlays) is encoded. When nothing can be
copied, the whole composition is encoded, and the reason is logged.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from math import log10
from pathlib import Path
from typing import Any

from mmhay.media.audio import write_audio
from mmhay.media.encode import mux_audio, write_video
from mmhay.media.splice import CopyRun, EncodeRun, copy_blocker, splice, stream_layout
from mmhay.soundtrack import CHUNK, mix_gain
from mmhay.timeline import Clip, Composition, FileRef

__all__ = ["write_composition", "plan_runs"]

log = logging.getLogger(__name__)



def write_composition(composition: Composition, path: str | Path, *, fast: bool = True, **encode_options: Any) -> int:
    """Write ``composition`` to ``path``: an H.264 mp4 (with an AAC soundtrack if it has one), or,
    for sound alone, a FLAC or WAV file. Returns the frame count (the sample count for sound).

    A soundtrack with a peak margin costs two passes: one finds its gain (``mix_gain``), the
    other renders it at that gain, a chunk at a time.
    """
    if not composition.segments:
        _log_gain(composition, path)
        write_audio(path, audio_chunks(composition), composition.audio_rate, composition.audio_channels)
        return round(composition.duration * composition.audio_rate)
    if composition.rate is None:
        raise ValueError("writing a composition needs a frame rate")
    count = None
    if fast:
        runs, reasons = plan_runs(composition)
        if any(isinstance(run, CopyRun) for run in runs):
            count = splice(path, runs, rate=composition.rate, size=composition.size, **encode_options)
        else:
            for reason in reasons:
                log.info("%s: encoding every frame: %s", path, reason)
    if count is None:
        count = write_video(path, composition.iter_frames(), rate=composition.rate, size=composition.size, **encode_options)
    if composition.soundtrack:
        _log_gain(composition, path)
        mux_audio(path, audio_chunks(composition), composition.audio_rate, composition.audio_channels)
    return count


def _log_gain(composition: Composition, path: str | Path) -> None:
    gain = mix_gain(composition)
    if gain < 1:
        log.info("%s: soundtrack scaled by %.2f dB to peak at %g dBFS", path, 20 * log10(gain), composition.peak_dbfs)


def audio_chunks(composition: Composition):
    """The whole soundtrack, ``mmhay.soundtrack.CHUNK`` seconds at a time (never all of it in
    memory at once): the same windows the whole is rendered in, so the file holds what
    ``composition.audio()`` gives."""
    start = Fraction(0)
    while start < composition.duration:
        end = min(composition.duration, start + CHUNK)
        yield composition.audio(start, end)
        start = end


def plan_runs(composition: Composition) -> tuple[list[CopyRun | EncodeRun], list[str]]:
    """Copy runs for the source GOPs that can be copied, encode runs for the frames between them,
    and why clips of source files could not be copied."""
    rate = composition.rate
    assert rate is not None
    grid = composition.frame_grid
    covered = set()
    for overlay in composition.overlays:
        covered.update(grid.frames_in(overlay.at.start, overlay.at.end))
    copies: list[CopyRun] = []
    reasons: list[str] = []
    for start, segment in zip(composition.starts, composition.segments):
        if not (isinstance(segment, Clip) and isinstance(segment.ref, FileRef) and segment.ref.kind == "video"):
            continue
        ref, info = segment.ref, segment.ref.info
        assert info is not None
        layout = stream_layout(ref.path)
        blocker = copy_blocker(layout, composition.size, rate, info.rotation)
        source_first = segment.range.start * rate
        if not blocker and source_first.denominator != 1:
            blocker = "the clip starts between two frames"
        if blocker:
            reasons.append(f"{ref.path}: {blocker}")
            continue
        out_first = int(start * rate)
        count = int(segment.duration * rate)
        for gop in layout.gops:
            if gop.first < source_first or gop.stop > source_first + count:
                continue
            out = out_first + gop.first - int(source_first)
            if covered.intersection(range(out, out + gop.stop - gop.first)):
                continue
            last = copies[-1] if copies else None
            if last and last.path == ref.path and last.first + last.count == out and last.source_first + last.count == gop.first:
                copies[-1] = CopyRun(last.first, last.count + gop.stop - gop.first, ref.path, last.source_first, max(last.delay, gop.delay))
            else:
                copies.append(CopyRun(out, gop.stop - gop.first, ref.path, gop.first, gop.delay))
    runs: list[CopyRun | EncodeRun] = []
    position = 0
    for copy in copies + [None]:
        until = copy.first if copy is not None else len(grid)
        if until > position:
            frames = range(position, until)
            runs.append(EncodeRun(position, until - position, composition.iter_frames(frames=frames)))
        if copy is not None:
            runs.append(copy)
            position = copy.first + copy.count
    return runs, reasons
