"""Frame-accurate reading of video frames at given times, decoding only what those times need.

Times count from the first frame of the file (``VideoInfo.start``). The frame shown at time ``t``
is the last frame whose presentation timestamp is <= ``t`` (``timing.frame_at``); timestamps come
from the stream, never from an index and the average rate, so variable-frame-rate files read right.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from mmhay.errors import MediaError
from mmhay.media.probe import VideoInfo, probe_video
from mmhay.media.timing import seconds
from mmhay.registry import registry

__all__ = ["DecodedFrames", "DecodeStats", "read_frames", "iter_frames", "DECODERS"]

DECODERS = registry("decoder")

# A first guess of the keyframe spacing, in seconds, until the stream shows its own.
_INITIAL_GOP = Fraction(2)


@dataclass
class DecodeStats:
    """What producing media cost: frames decoded from files, seeks made, procedural frames computed, audio samples made."""

    decoded: int = 0
    seeks: int = 0
    generated: int = 0
    audio_samples: int = 0  # soundtrack samples computed or decoded, per channel


@dataclass(frozen=True)
class DecodedFrames:
    """Frames in the order the times were asked, with the timestamp of each frame delivered."""

    pixels: np.ndarray
    times: tuple[Fraction, ...]
    stats: DecodeStats = field(default_factory=DecodeStats)


def read_frames(
    path: str | Path,
    times: Sequence[Fraction],
    size: tuple[int, int] | None = None,
    *,
    backend: str = "pyav",
) -> DecodedFrames:
    """The frames shown at ``times`` (seconds from the first frame), as uint8 ``[N, H, W, 3]`` RGB.

    ``size`` is the (width, height) to deliver, scaled by the decoder; the displayed size if None.
    Times are sorted and deduplicated and the file is read in one pass.
    """
    stats = DecodeStats()
    if not times:
        info = probe_video(path)
        width, height = size or (info.width, info.height)
        return DecodedFrames(np.zeros((0, height, width, 3), np.uint8), (), stats)
    found = dict(iter_frames(path, sorted(set(times)), size, backend=backend, stats=stats))
    pixels = np.stack([found[t][1] for t in times])
    return DecodedFrames(pixels, tuple(found[t][0] for t in times), stats)


def iter_frames(
    path: str | Path,
    times: Sequence[Fraction],
    size: tuple[int, int] | None = None,
    *,
    backend: str = "pyav",
    stats: DecodeStats | None = None,
) -> Iterator[tuple[Fraction, tuple[Fraction, np.ndarray]]]:
    """Yield ``(asked time, (frame timestamp, pixels))`` for sorted ``times``, in one pass."""
    if any(b < a for a, b in zip(times, times[1:])):
        raise ValueError("times must be sorted")
    info = probe_video(path)
    decoder = DECODERS.get(backend, key="backend").obj
    yield from decoder(Path(path), info, list(times), size, stats if stats is not None else DecodeStats())


def _to_array(frame, info: VideoInfo, size: tuple[int, int] | None) -> np.ndarray:
    quarter_turns = (info.rotation // 90) % 4
    width, height = size or (info.width, info.height)
    if quarter_turns % 2:
        width, height = height, width
    if (width, height) == (frame.width, frame.height):
        array = frame.to_ndarray(format="rgb24")
    else:
        shrinking = width * height < frame.width * frame.height
        array = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA" if shrinking else "BILINEAR")
    if quarter_turns:
        array = np.ascontiguousarray(np.rot90(array, k=quarter_turns))
    return array


@DECODERS.register("pyav")
def decode_pyav(path: Path, info: VideoInfo, times: list[Fraction], size, stats: DecodeStats):
    """PyAV (FFmpeg): seek to the keyframe before a time, decode forward, match timestamps."""
    import av

    if not times:
        return
    try:
        container = av.open(str(path))
    except Exception as error:
        raise MediaError(path, f"cannot open ({type(error).__name__}: {error})") from None
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base
        step = 1 / info.rate if info.rate else Fraction(1, 30)

        def seek(t: Fraction):
            """A fresh decoder positioned at the keyframe at or before ``t``, and its first frame."""
            back = Fraction(0)
            while True:
                target = info.start + t - back
                container.seek(max(int(target / base), 0), stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
                first = next(frames, None)
                stats.seeks += 1
                if first is None and target <= info.start:
                    raise MediaError(path, "no frame could be decoded")
                if first is not None and (first.pts is None or stamp(first, None) <= t or target <= info.start):
                    return frames, first
                # the demuxer landed after the time asked for (edit lists, open GOPs): step back further
                back = max(2 * back, Fraction(1))

        def stamp(frame, previous: Fraction | None) -> Fraction:
            if frame.pts is not None:
                return Fraction(frame.pts) * base - info.start
            return Fraction(0) if previous is None else previous + step

        gop = _INITIAL_GOP
        last_key: Fraction | None = None
        frames = None
        shown = None  # (timestamp, frame) of the latest decoded frame
        converted = None  # (frame, pixels) of the last frame converted; the frame itself, not its id, which can be reused
        seeked_for: Fraction | None = None
        i = 0
        try:
            while i < len(times):
                t = times[i]
                if frames is None or (shown is not None and t - shown[0] > gop and seeked_for != t):
                    before = shown[0] if shown is not None else None
                    frames, frame = seek(t)
                    seeked_for = t
                    shown = None
                    last_key = None  # keyframe spacing is measured within one run of decoding
                    if before is not None and stamp(frame, None) <= before:
                        gop *= 2  # that seek went back to where we were: keyframes are further apart
                else:
                    frame = next(frames, None)
                if frame is None:
                    break
                stats.decoded += 1
                now = stamp(frame, shown[0] if shown else None)
                if frame.key_frame:
                    if last_key is not None and now > last_key:
                        gop = max(gop, now - last_key)
                    last_key = now
                while i < len(times) and times[i] < now:
                    current = shown if shown is not None else (now, frame)
                    if converted is None or converted[0] is not current[1]:
                        converted = (current[1], _to_array(current[1], info, size))
                    yield times[i], (current[0], converted[1])
                    i += 1
                shown = (now, frame)
        except MediaError:
            raise
        except Exception as error:
            raise MediaError(path, f"decoding failed ({type(error).__name__}: {error})") from None
        if i < len(times):
            if shown is None:
                raise MediaError(path, f"no frame at or after {float(times[i]):.3f} s")
            array = _to_array(shown[1], info, size)
            for t in times[i:]:
                yield t, (shown[0], array)


@DECODERS.register("decord")
def decode_decord(path: Path, info: VideoInfo, times: list[Fraction], size, stats: DecodeStats):
    """decord (opt-in): fast batched reads; unmaintained, with known wrong frames on some files."""
    try:
        import decord
    except ImportError:
        raise MediaError(path, "the decord backend needs `pip install decord`") from None
    if not times:
        return
    width, height = size or (info.width, info.height)
    if ((info.rotation // 90) % 2) == 1:
        width, height = height, width
    try:
        reader = decord.VideoReader(str(path), width=width, height=height, num_threads=1)
        starts = reader.get_frame_timestamp(range(len(reader)))[:, 0]
    except Exception as error:
        raise MediaError(path, f"decord cannot read ({type(error).__name__}: {error})") from None
    origin = float(starts[0])
    # decord gives float seconds: a tolerance of a microsecond stands in for exact comparison
    indices = [max(0, bisect_right(starts, origin + float(t) + 1e-6) - 1) for t in times]
    unique = sorted(set(indices))
    batch = reader.get_batch(unique).asnumpy()
    stats.decoded += len(unique)
    quarter_turns = (info.rotation // 90) % 4
    by_index = {k: (np.ascontiguousarray(np.rot90(a, quarter_turns)) if quarter_turns else a) for k, a in zip(unique, batch)}
    for t, k in zip(times, indices):
        yield t, (seconds(round(float(starts[k]) - origin, 6)), by_index[k])
