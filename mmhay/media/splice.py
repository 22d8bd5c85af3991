"""Splicing H.264: copy whole GOPs of a source stream and encode only what changed, into one mp4.

The output stream's parameter sets come from mmhay's own encoder; copied GOPs carry their
source's parameter sets in-band (``h264_mp4toannexb`` puts them before each IDR frame), so a
decoder switches to them and decodes the copied frames exactly as in the source.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from mmhay.atomic import temporary_path
from mmhay.errors import MediaError
from mmhay.media.encode import x264_options

__all__ = ["Gop", "StreamLayout", "stream_layout", "copy_blocker", "CopyRun", "EncodeRun", "splice"]


@dataclass(frozen=True)
class Gop:
    """A closed group of pictures: frames ``first..stop`` (source frame indices) from one keyframe."""

    first: int
    stop: int
    delay: int  # how many frames decoding runs ahead of display inside the GOP (B-frame reordering)


@dataclass(frozen=True)
class StreamLayout:
    """How a source's H.264 stream can be cut: its frame step and its closed GOPs (empty if none)."""

    codec: str
    pix_fmt: str
    width: int
    height: int
    step: Fraction | None  # seconds between frames; None if the rate varies
    gops: tuple[Gop, ...]
    problem: str  # why no GOP can be copied, or ""
    origin: int = 0  # pts of the first frame, in the stream's time base
    step_pts: int = 1  # pts between frames

    def frame_of(self, pts: int) -> int:
        """The source frame index of a packet's pts."""
        return (pts - self.origin) // self.step_pts


def stream_layout(path: str | Path) -> StreamLayout:
    """Read a video's packets (no decoding) to find where it can be cut without re-encoding."""
    path = Path(path)
    stat = path.stat()
    return _layout(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _layout(path: str, size: int, mtime_ns: int) -> StreamLayout:
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        codec, pix_fmt = context.name, str(context.pix_fmt or "")
        width, height = context.width, context.height
        packets = [(p.pts, bool(p.is_keyframe)) for p in container.demux(stream) if p.pts is not None]
        base = stream.time_base
    if codec != "h264":
        return StreamLayout(codec, pix_fmt, width, height, None, (), f"codec {codec}, not h264")
    stamps = sorted(p for p, _ in packets)
    steps = {b - a for a, b in zip(stamps, stamps[1:])}
    if len(steps) != 1:
        return StreamLayout(codec, pix_fmt, width, height, None, (), "variable frame rate")
    step = next(iter(steps))
    origin = stamps[0]
    gops: list[Gop] = []
    starts = [k for k, (_, key) in enumerate(packets) if key] + [len(packets)]
    for a, b in zip(starts, starts[1:]):
        frames = [(packets[k][0] - origin) // step for k in range(a, b)]
        first = frames[0]
        # closed: every frame decoded after this keyframe shows at or after it, before the next one
        if min(frames) != first or max(frames) != first + len(frames) - 1 or len(set(frames)) != len(frames):
            gops = []
            break
        delay = max(position - (frame - first) for position, frame in enumerate(frames))
        gops.append(Gop(first, first + len(frames), delay))
    problem = "" if gops else "open GOPs (frames depend on the previous group)"
    return StreamLayout(codec, pix_fmt, width, height, Fraction(step) * base, tuple(gops), problem, origin, step)


def copy_blocker(layout: StreamLayout, size: tuple[int, int], rate: Fraction, rotation: int) -> str:
    """Why frames of this source cannot be copied into a ``size`` video at ``rate``, or "" if they can."""
    if layout.problem:
        return layout.problem
    if (layout.width, layout.height) != tuple(size):
        return f"size {layout.width}x{layout.height}, not {size[0]}x{size[1]}"
    if layout.pix_fmt != "yuv420p":
        return f"pixel format {layout.pix_fmt}, not yuv420p"
    if rotation:
        return f"rotated {rotation} degrees"
    if layout.step != 1 / rate:
        return f"frame rate {1 / layout.step if layout.step else 'variable'}, not {rate}"
    return ""


@dataclass(frozen=True)
class CopyRun:
    """Output frames ``first..first+count`` are source frames ``source_first..`` of ``path``, copied."""

    first: int
    count: int
    path: str
    source_first: int
    delay: int


@dataclass(frozen=True)
class EncodeRun:
    """Output frames ``first..first+count`` are encoded from ``frames`` (uint8 RGB)."""

    first: int
    count: int
    frames: Iterable[np.ndarray]


def splice(
    path: str | Path,
    runs: Sequence[CopyRun | EncodeRun],
    *,
    rate: Fraction,
    size: tuple[int, int],
    crf: int = 18,
    preset: str = "veryfast",
    keyframe_seconds: Fraction = Fraction(2),
) -> int:
    """Write the runs, in order, as one H.264 mp4 at ``path`` (atomically); return the frame count."""
    import av

    path = Path(path)
    width, height = size
    # encoded runs without B-frames: their decode order is their display order
    options = x264_options(rate, crf, preset, keyframe_seconds, b_frames=False)
    delay = max([run.delay for run in runs if isinstance(run, CopyRun)], default=0)
    partial = temporary_path(path)
    written = 0
    try:
        with av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = dict(options)
            stream.time_base = 1 / rate
            container.start_encoding()  # opens the encoder: its parameter sets describe the track
            for run in runs:
                if run.first != written:
                    raise ValueError(f"runs must follow each other: frame {run.first} after {written}")
                packets = _copied(run, rate) if isinstance(run, CopyRun) else _encoded(run, options, rate, size)
                count = 0
                for data, frame, key in packets:
                    packet = av.Packet(data)
                    packet.stream = stream
                    packet.pts = run.first + frame
                    packet.dts = run.first + count - delay
                    packet.duration = 1
                    packet.time_base = 1 / rate
                    packet.is_keyframe = key
                    container.mux(packet)
                    count += 1
                if count != run.count:
                    raise ValueError(f"run at frame {run.first} gave {count} frames, not {run.count}")
                written += count
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, Exception) and not isinstance(error, MediaError):
            raise MediaError(path, f"splicing failed ({type(error).__name__}: {error})") from None
        raise
    return written


def _copied(run: CopyRun, rate: Fraction) -> Iterator[tuple[bytes, int, bool]]:
    """``(Annex B bytes, frame within the run, keyframe)`` of the source packets, in decode order."""
    import av
    from av.bitstream import BitStreamFilterContext

    layout = stream_layout(run.path)
    with av.open(run.path) as container:
        stream = container.streams.video[0]
        annexb = BitStreamFilterContext("h264_mp4toannexb", stream)
        # from a little before the run's first keyframe; packets before it are skipped
        before = Fraction(run.source_first) / rate - Fraction(1)
        container.seek(max(0, int(before / stream.time_base)), stream=stream, backward=True)
        started = False
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            frame, key = layout.frame_of(packet.pts), bool(packet.is_keyframe)
            if frame < run.source_first:
                continue
            if key and frame >= run.source_first + run.count:
                break
            if not started and not key:
                raise MediaError(run.path, f"frame {frame} starts a copy but is not a keyframe")
            started = True
            for filtered in annexb.filter(packet):  # the filter takes the packet over: read it first
                yield bytes(filtered), frame - run.source_first, key


def _encoded(run: EncodeRun, options: dict, rate: Fraction, size: tuple[int, int]) -> Iterator[tuple[bytes, int, bool]]:
    """``(Annex B bytes, frame within the run, keyframe)`` from a fresh encoder: the run starts with an IDR."""
    import av

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = size[0], size[1], "yuv420p"
    encoder.time_base = 1 / rate
    encoder.framerate = rate
    encoder.options = dict(options)
    for k, pixels in enumerate(run.frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        frame.pts = k
        frame.time_base = 1 / rate
        for packet in encoder.encode(frame):
            yield bytes(packet), int(packet.pts), bool(packet.is_keyframe)
    for packet in encoder.encode(None):
        yield bytes(packet), int(packet.pts), bool(packet.is_keyframe)
