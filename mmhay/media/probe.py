"""What a media file holds: stream facts read from the container, checked by decoding one frame."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from mmhay.errors import MediaError

__all__ = ["VideoInfo", "probe_video", "file_sha256", "walk_files", "VIDEO_SUFFIXES", "IMAGE_SUFFIXES"]

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".ogv"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

log = logging.getLogger(__name__)

# Frames that stop this much (seconds) before the header's duration make the prober read all packets.
_SHORT = Fraction(1)


@dataclass(frozen=True)
class VideoInfo:
    """Facts about the first video stream of a file.

    ``width`` x ``height`` is the displayed size (after rotation). ``start`` is the presentation
    time of the first frame in the stream's clock; mmhay's times within a file count from it.
    ``rate`` is the average frame rate, for information only: frames are found by timestamp.
    """

    width: int
    height: int
    rate: Fraction
    frames: int
    duration: Fraction
    start: Fraction
    rotation: int
    codec: str
    has_audio: bool

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("rate", "duration", "start"):
            data[key] = str(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict) -> "VideoInfo":
        values = dict(data)
        for key in ("rate", "duration", "start"):
            values[key] = Fraction(values[key])
        return cls(**values)


def probe_video(path: str | Path) -> VideoInfo:
    """Read the stream facts of a video file; a ``MediaError`` if it has no decodable video."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise MediaError(path, f"cannot read: {error.strerror or error}") from None
    return _probe_cached(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=1024)
def _probe_cached(path: str, size: int, mtime_ns: int) -> VideoInfo:
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise MediaError(path, "holds no video stream")
            stream = container.streams.video[0]
            try:
                first = next(container.decode(stream), None)
            except av.EOFError:  # a stream with no packets at all
                first = None
            if first is None:
                raise MediaError(path, "no frame could be decoded")
            base = stream.time_base
            start = Fraction(first.pts) * base if first.pts is not None else Fraction(0)
            rate = Fraction(stream.average_rate) if stream.average_rate else Fraction(0)
            if stream.duration is not None:
                duration = Fraction(stream.duration) * base
                if stream.start_time is not None:
                    # the stream's duration counts from its own start, which may precede the first frame
                    duration -= start - Fraction(stream.start_time) * base
            elif container.duration is not None:
                duration = Fraction(container.duration, 1_000_000)
            else:
                duration = Fraction(0)
            # metadata durations can be short of the last frame (variable rate): the packets decide
            end, counted = _last_packet_end(container, stream), 0
            if end is None or end - start < duration - _SHORT:
                # the index points past the data (a download cut short), or there is none: read the packets through
                end, counted = _scan_packets(path, stream.index)
            if end is not None and end - start > duration:
                duration = end - start
            elif counted and end is not None and end - start < duration:
                if duration - (end - start) > _SHORT:
                    log.warning("%s: frames stop at %.3f s of the %.3f s its header gives (cut short?); using the frames there are", path, end - start, duration)
                duration = end - start
            frames = counted or stream.frames or (round(duration * rate) if rate else 0)
            if duration <= 0 and rate and frames:
                duration = frames / rate
            if duration <= 0:
                raise MediaError(path, "has no duration")
            rotation = int(getattr(first, "rotation", 0) or 0) % 360
            width, height = first.width, first.height
            if rotation in (90, 270):
                width, height = height, width
            return VideoInfo(
                width=width,
                height=height,
                rate=rate,
                frames=frames,
                duration=duration,
                start=start,
                rotation=rotation,
                codec=stream.codec_context.name,
                has_audio=bool(container.streams.audio),
            )
    except MediaError:
        raise
    except Exception as error:  # PyAV raises many kinds on broken files: all mean "unreadable"
        reason = getattr(error, "strerror", None) or str(error)  # FFmpeg's reason, without the path again
        if isinstance(error, av.EOFError):
            raise MediaError(path, f"ends before its first frame: empty or cut short ({reason})") from None
        raise MediaError(path, f"not a readable video ({reason})") from None


def _last_packet_end(container, stream) -> Fraction | None:
    """When the last frame stops showing (its pts + duration), read from the stream's last keyframe on."""
    try:
        container.seek(2**62, stream=stream, backward=True, any_frame=False)
        stamped = [(packet.pts, packet.duration or 0) for packet in container.demux(stream) if packet.pts is not None]
    except Exception:  # a container that cannot seek keeps its metadata duration
        return None
    if not stamped:
        return None
    pts, duration = max(stamped)  # the last frame shown, with how long it shows
    return Fraction(pts + duration) * stream.time_base


def _scan_packets(path: str, index: int) -> tuple[Fraction | None, int]:
    """When the last packet of stream ``index`` stops showing, and how many packets it has, read from the start."""
    import av

    end, count = None, 0
    try:
        with av.open(path) as container:
            stream = container.streams[index]
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                count += 1
                stop = Fraction(packet.pts + (packet.duration or 0)) * stream.time_base
                end = stop if end is None else max(end, stop)
    except Exception:  # the data stops mid-packet: what was read before counts
        pass
    return end, count


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (cached by path, size and modification time)."""
    path = Path(path)
    stat = path.stat()
    return _sha256_cached(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def walk_files(root: Path, suffixes: frozenset[str]) -> list[Path]:
    """Files under ``root`` (recursive, sorted, hidden ones skipped) whose suffix is in ``suffixes``."""
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                found.append(Path(directory) / name)
    return found
