"""Compositions: edit lists that say how a video is put together, rendered only as far as asked.

A ``Composition`` is a sequence of segments on one video track. A segment shows a source over a
stretch of time: a ``Clip`` plays a range of a video (a file, or procedural content), a ``Still``
holds one picture. Where the media lives is a ``MediaRef`` (``FileRef`` or ``GeneratorRef``), kept
apart from the edits, as OpenTimelineIO keeps references apart from clips.

Every value serialises to JSON with a versioned schema name and loads back equal.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil
from pathlib import Path
from typing import Any, Union

import numpy as np

from mmhay.media.audio import AudioInfo, probe_audio
from mmhay.media.captions import render_caption
from mmhay.media.decode import DecodeStats, iter_frames
from mmhay.media.pictures import fit, fitted_box, load_picture
from mmhay.media.probe import VideoInfo, file_sha256, probe_video
from mmhay.media.procedural import PROCEDURAL, render_image, render_video
from mmhay.media.timing import FrameGrid, frame_at

__all__ = [
    "FileRef",
    "GeneratorRef",
    "MediaRef",
    "ref_from_json",
    "TimeRange",
    "Clip",
    "Still",
    "Segment",
    "Box",
    "Overlay",
    "Sound",
    "Composition",
    "Rendered",
]

COMPOSITION_SCHEMA = "Composition.2"
# Composition.1 had no peak margin: it loads with none, its soundtrack rendered as the mix is
_OLD_COMPOSITION_SCHEMAS = ("Composition.1",)
_RENDER_CHUNK = 32


@dataclass(frozen=True)
class FileRef:
    """Media in a file: its path, the SHA-256 of its bytes and, for videos, the probed stream facts."""

    path: str
    sha256: str
    kind: str  # "video", "image" or "audio"
    info: VideoInfo | None = None
    audio: AudioInfo | None = None  # an audio file's, or a video's soundtrack's

    @classmethod
    def video(cls, path: str | Path) -> "FileRef":
        """Probe and hash a video file (``MediaError`` if it cannot be read)."""
        info = probe_video(path)
        return cls(str(path), file_sha256(path), "video", info, probe_audio(path) if info.has_audio else None)

    @classmethod
    def image(cls, path: str | Path) -> "FileRef":
        return cls(str(path), file_sha256(path), "image")

    @classmethod
    def sound(cls, path: str | Path) -> "FileRef":
        """Probe and hash an audio file (``MediaError`` if it cannot be read)."""
        return cls(str(path), file_sha256(path), "audio", audio=probe_audio(path))

    def to_json(self) -> dict:
        data: dict[str, Any] = {"schema": "FileRef.1", "path": self.path, "sha256": self.sha256, "kind": self.kind}
        if self.info is not None:
            data["info"] = self.info.to_json()
        if self.audio is not None:
            data["audio"] = self.audio.to_json()
        return data


@dataclass(frozen=True)
class GeneratorRef:
    """Procedural media: the name of a registered source and its parameters (JSON values)."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # JSON-normalised (tuples become lists), so that a round trip through JSON compares equal
        object.__setattr__(self, "params", json.loads(json.dumps(dict(self.params), sort_keys=True)))

    def to_json(self) -> dict:
        return {"schema": "GeneratorRef.1", "name": self.name, "params": dict(self.params)}


MediaRef = Union[FileRef, GeneratorRef]


@dataclass(frozen=True)
class TimeRange:
    """A stretch of a source's time: ``start`` and ``duration`` in exact seconds."""

    start: Fraction
    duration: Fraction

    @property
    def end(self) -> Fraction:
        return self.start + self.duration

    def to_json(self) -> dict:
        return {"start": str(self.start), "duration": str(self.duration)}


@dataclass(frozen=True)
class Clip:
    """Plays ``range`` of a video source (file or procedural)."""

    ref: MediaRef
    range: TimeRange

    @property
    def duration(self) -> Fraction:
        return self.range.duration

    def to_json(self) -> dict:
        return {"schema": "Clip.1", "ref": self.ref.to_json(), "range": self.range.to_json()}


@dataclass(frozen=True)
class Still:
    """Holds one picture (an image file or a procedural image) for ``duration`` seconds."""

    ref: MediaRef
    duration: Fraction

    def to_json(self) -> dict:
        return {"schema": "Still.1", "ref": self.ref.to_json(), "duration": str(self.duration)}


Segment = Union[Clip, Still]


@dataclass(frozen=True)
class Box:
    """A rectangle in fractions of the frame: left ``x``, top ``y``, width ``w``, height ``h`` (0..1)."""

    x: float
    y: float
    w: float
    h: float

    def pixels(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(x, y, width, height)`` in pixels of a frame of ``size``, inside the frame, at least 1 x 1."""
        width, height = size
        x = min(max(0, round(self.x * width)), width - 1)
        y = min(max(0, round(self.y * height)), height - 1)
        return x, y, max(1, min(width - x, round(self.w * width))), max(1, min(height - y, round(self.h * height)))

    def to_json(self) -> list[float]:
        return [self.x, self.y, self.w, self.h]


@dataclass(frozen=True)
class Overlay:
    """Media composited over the frames shown during ``at`` (composition time), inside ``box``.

    The media is a picture or a video (``ref``; a video plays from ``source_start``), or a
    caption (``text``), drawn over the frame with ``opacity``.
    """

    at: TimeRange
    box: Box
    ref: MediaRef | None = None
    text: str | None = None
    opacity: float = 1.0
    source_start: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        if (self.ref is None) == (self.text is None):
            raise ValueError("an overlay shows either media (ref) or a caption (text)")

    def to_json(self) -> dict:
        data: dict[str, Any] = {"schema": "Overlay.1", "at": self.at.to_json(), "box": self.box.to_json(), "opacity": self.opacity}
        if self.ref is not None:
            data["ref"] = self.ref.to_json()
            data["source_start"] = str(self.source_start)
        else:
            data["text"] = self.text
        return data


@dataclass(frozen=True)
class Sound:
    """A sound put into the soundtrack during ``at`` (composition time).

    ``mix`` adds it on top of the soundtrack at ``snr_db`` (its power over the soundtrack's
    during ``at``); ``splice`` replaces the soundtrack there, at the same relative level, with
    crossfades of ``fade`` seconds (a splice with no fade over a copy of the bed that follows is
    how a sound is inserted, the recording made longer). A source plays from ``source_start``.
    With ``level_dbfs`` (over a bed of silence) the sound is set to that RMS level instead.
    """

    ref: MediaRef
    at: TimeRange
    snr_db: float = 0.0
    mode: str = "mix"
    fade: Fraction = Fraction(1, 100)
    source_start: Fraction = Fraction(0)
    level_dbfs: float | None = None

    def to_json(self) -> dict:
        data = {
            "schema": "Sound.1",
            "ref": self.ref.to_json(),
            "at": self.at.to_json(),
            "snr_db": self.snr_db,
            "mode": self.mode,
            "fade": str(self.fade),
            "source_start": str(self.source_start),
        }
        if self.level_dbfs is not None:  # sounds with an SNR serialize as they always did
            data["level_dbfs"] = self.level_dbfs
        return data


@dataclass(frozen=True)
class Rendered:
    """Rendered frames (uint8 ``[N, H, W, 3]``), the composition time of each frame shown, and the cost."""

    pixels: np.ndarray
    times: tuple[Fraction, ...]
    stats: DecodeStats


@dataclass(frozen=True)
class Composition:
    """Segments played one after another, shown at ``size`` (w, h), with overlays on top, and a
    soundtrack (audio clips end to end, with sounds mixed or spliced in) at ``audio_rate`` Hz.
    A composition with no segments is audio alone.

    With a ``rate``, the composition is a constant-rate video: frame ``k`` is shown from ``k / rate``
    and every time is first mapped to its frame. Without one (a composition of one file read back),
    times go straight to the source, which keeps variable-frame-rate files exact.

    With ``peak_dbfs``, the whole soundtrack (bed and sounds together, so every SNR holds) is
    scaled down where its peak would pass that level (``mmhay.soundtrack.mix_gain``); without
    it the mix is rendered as it is (a file read back, a composition made by hand).
    """

    segments: tuple[Segment, ...]
    size: tuple[int, int]
    rate: Fraction | None = None
    overlays: tuple[Overlay, ...] = ()
    soundtrack: tuple[Clip, ...] = ()  # audio clips laid end to end from time 0
    sounds: tuple[Sound, ...] = ()
    audio_rate: int = 16000
    audio_channels: int = 1
    peak_dbfs: float | None = None  # the soundtrack's peak margin (dBFS), or None: the mix as it is

    def __post_init__(self) -> None:
        for name in ("segments", "overlays", "soundtrack", "sounds"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        if self.rate is not None:
            object.__setattr__(self, "rate", Fraction(self.rate))
        if self.peak_dbfs is not None:
            object.__setattr__(self, "peak_dbfs", float(self.peak_dbfs))
        if not self.segments and not self.soundtrack:
            raise ValueError("a composition needs at least one segment or soundtrack clip")

    @classmethod
    def from_file(cls, path: str | Path) -> "Composition":
        """The whole of one video file, at its own size and timestamps."""
        ref = FileRef.video(path)
        assert ref.info is not None
        whole = Clip(ref, TimeRange(Fraction(0), ref.info.duration))
        if ref.audio is None:
            return cls((whole,), (ref.info.width, ref.info.height))
        return cls((whole,), (ref.info.width, ref.info.height), soundtrack=(whole,), audio_rate=ref.audio.rate, audio_channels=ref.audio.channels)

    @classmethod
    def from_sound_file(cls, path: str | Path) -> "Composition":
        """The whole of one audio file, at its own rate and channels."""
        ref = FileRef.sound(path)
        assert ref.audio is not None
        return cls((), (0, 0), soundtrack=(Clip(ref, TimeRange(Fraction(0), ref.audio.duration)),), audio_rate=ref.audio.rate, audio_channels=ref.audio.channels)

    @property
    def duration(self) -> Fraction:
        parts = self.segments or self.soundtrack
        return sum((part.duration for part in parts), Fraction(0))

    def audio(self, start: Fraction = Fraction(0), end: Fraction | None = None) -> np.ndarray:
        """The soundtrack from ``start`` to ``end`` seconds (all of it by default), float32
        ``[audio_channels, samples]`` at ``audio_rate``, at the composition's gain; only that
        window and the sounds in it are computed, except that the first window of a composition
        with a peak margin pays one pass over the whole soundtrack for its gain (remembered)."""
        return self.render_audio(start, end)[0]

    def render_audio(self, start: Fraction = Fraction(0), end: Fraction | None = None) -> tuple[np.ndarray, DecodeStats]:
        """Like ``audio``, with what it cost (``stats.audio_samples``: bed samples computed)."""
        from mmhay.soundtrack import render_window

        stats = DecodeStats()
        return render_window(self, Fraction(start), self.duration if end is None else Fraction(end), stats), stats

    @property
    def starts(self) -> list[Fraction]:
        """Start time of each segment in the composition."""
        starts, t = [], Fraction(0)
        for segment in self.segments:
            starts.append(t)
            t += segment.duration
        return starts

    @property
    def frame_grid(self) -> FrameGrid:
        if self.rate is None:
            raise ValueError("a composition without a rate has no frame grid")
        return FrameGrid(self.rate, ceil(self.duration * self.rate))

    def frames(self, times: Sequence[Fraction], size: tuple[int, int] | None = None) -> np.ndarray:
        """The frames shown at ``times`` (seconds), uint8 ``[N, H, W, 3]``, at ``size`` or the composition's."""
        return self.render(times, size).pixels

    def render(self, times: Sequence[Fraction], size: tuple[int, int] | None = None) -> Rendered:
        """Like ``frames``, with the time of each frame shown and what decoding cost.

        Only the frames the times need are decoded or computed, one pass per segment.
        """
        size = tuple(size or self.size)
        stats = DecodeStats()
        starts = self.starts
        if self.rate is not None:
            grid = self.frame_grid
            shown = [grid[frame_at(Fraction(t), grid)] for t in times]
        else:
            shown = [min(max(Fraction(t), Fraction(0)), self.duration) for t in times]
        by_segment: dict[int, set[Fraction]] = {}
        for t in shown:
            j = max(0, bisect_right(starts, t) - 1)
            by_segment.setdefault(j, set()).add(t - starts[j])
        found: dict[tuple[int, Fraction], tuple[Fraction, np.ndarray]] = {}
        for j, local in by_segment.items():
            wanted = sorted(local)
            for u, (at, pixels) in zip(wanted, _render_segment(self.segments[j], wanted, size, stats)):
                # a constant-rate composition shows its own frame times; a file shows its timestamps
                found[j, u] = (starts[j] + (u if self.rate is not None else at), pixels)
        pixels, result_times = [], []
        for t in shown:
            j = max(0, bisect_right(starts, t) - 1)
            at, frame = found[j, t - starts[j]]
            pixels.append(frame)
            result_times.append(at)
        array = np.stack(pixels) if pixels else np.zeros((0, size[1], size[0], 3), np.uint8)
        for overlay in self.overlays:
            hits = [i for i, t in enumerate(shown) if overlay.at.start <= t < overlay.at.end]
            if hits:
                layers = _overlay_layers(overlay, sorted({shown[i] for i in hits}), size, stats)
                for i in hits:
                    _paint(array[i], overlay.box.pixels(size), *layers[shown[i]], overlay.opacity)
        return Rendered(array, tuple(result_times), stats)

    def iter_frames(self, size: tuple[int, int] | None = None, frames: range | None = None) -> Iterator[np.ndarray]:
        """The frames of the constant-rate video (all, or the indices in ``frames``), in order,
        computed as they are consumed."""
        size = tuple(size or self.size)
        grid = self.frame_grid
        wanted = frames if frames is not None else range(len(grid))
        stats = DecodeStats()
        layers = [
            _overlay_layers(o, [grid[k] for k in _overlap(grid.frames_in(o.at.start, o.at.end), wanted)], size, stats)
            for o in self.overlays
        ]
        for start, segment in zip(self.starts, self.segments):
            frames = _overlap(grid.frames_in(start, start + segment.duration), wanted)
            if not frames:
                continue
            local = [grid[k] - start for k in frames]
            for k, (_, pixels) in zip(frames, _render_segment(segment, local, size, stats)):
                t = grid[k]
                active = [(o, layer[t]) for o, layer in zip(self.overlays, layers) if t in layer]
                if active:
                    pixels = pixels.copy()
                    for overlay, (rgb, alpha) in active:
                        _paint(pixels, overlay.box.pixels(size), rgb, alpha, overlay.opacity)
                yield pixels

    def write(self, path: str | Path, *, fast: bool = True, **encode_options: Any) -> int:
        """Write the composition as an H.264 mp4 at ``path`` (atomically); return the frame count.

        With ``fast``, whole GOPs of source files that match the output are copied and only the
        frames around the edits are encoded (``mmhay.export``); otherwise everything is encoded.
        """
        from mmhay.export import write_composition

        return write_composition(self, path, fast=fast, **encode_options)

    def to_json(self) -> dict:
        return {
            "schema": COMPOSITION_SCHEMA,
            "size": list(self.size),
            "rate": None if self.rate is None else str(self.rate),
            "segments": [segment.to_json() for segment in self.segments],
            "overlays": [overlay.to_json() for overlay in self.overlays],
            "soundtrack": [clip.to_json() for clip in self.soundtrack],
            "sounds": [sound.to_json() for sound in self.sounds],
            "audio_rate": self.audio_rate,
            "audio_channels": self.audio_channels,
            "peak_dbfs": self.peak_dbfs,
        }

    @classmethod
    def from_json(cls, data: Mapping | str) -> "Composition":
        if isinstance(data, str):
            data = json.loads(data)
        if data.get("schema") != COMPOSITION_SCHEMA and data.get("schema") not in _OLD_COMPOSITION_SCHEMAS:
            raise ValueError(f"not a {COMPOSITION_SCHEMA}: {data.get('schema')!r}")
        rate = data.get("rate")
        segments = tuple(_segment_from_json(s) for s in data["segments"])
        overlays = tuple(_overlay_from_json(o) for o in data.get("overlays", ()))
        soundtrack = tuple(_segment_from_json(c) for c in data.get("soundtrack", ()))
        sounds = tuple(
            Sound(
                ref_from_json(d["ref"]),
                TimeRange(Fraction(d["at"]["start"]), Fraction(d["at"]["duration"])),
                d["snr_db"],
                d["mode"],
                Fraction(d["fade"]),
                Fraction(d["source_start"]),
                d.get("level_dbfs"),
            )
            for d in data.get("sounds", ())
        )
        return cls(
            segments,
            tuple(data["size"]),
            None if rate is None else Fraction(rate),
            overlays,
            soundtrack,
            sounds,
            data.get("audio_rate", 16000),
            data.get("audio_channels", 1),
            data.get("peak_dbfs"),
        )


def _render_segment(
    segment: Segment, local: Sequence[Fraction], size: tuple[int, int], stats: DecodeStats
) -> Iterator[tuple[Fraction, np.ndarray]]:
    """``(time shown, pixels)`` for sorted times ``local`` (seconds from the segment's start)."""
    local = [min(u, segment.duration) for u in local]
    if isinstance(segment, Still):
        picture = _still_picture(segment.ref, size)
        for u in local:
            yield u, picture
        return
    ref, offset = segment.ref, segment.range.start
    if isinstance(ref, GeneratorRef):
        for i in range(0, len(local), _RENDER_CHUNK):
            chunk = local[i : i + _RENDER_CHUNK]
            stats.generated += len(chunk)
            for u, pixels in zip(chunk, render_video(ref.name, ref.params, [offset + u for u in chunk], size)):
                yield u, pixels
        return
    assert ref.info is not None
    x, y, w, h = fitted_box((ref.info.width, ref.info.height), size)
    canvas_needed = (w, h) != tuple(size)
    for _, (at, pixels) in iter_frames(ref.path, [offset + u for u in local], (w, h), stats=stats):
        if canvas_needed:
            canvas = np.zeros((size[1], size[0], 3), np.uint8)
            canvas[y : y + h, x : x + w] = pixels
            pixels = canvas
        yield at - offset, pixels


def _overlap(a: range, b: range) -> range:
    return range(max(a.start, b.start), max(max(a.start, b.start), min(a.stop, b.stop)))


def _overlay_layers(
    overlay: Overlay, times: Sequence[Fraction], size: tuple[int, int], stats: DecodeStats
) -> dict[Fraction, tuple[np.ndarray, np.ndarray | float]]:
    """What ``overlay`` draws at each composition time in ``times``: RGB at its box size, and alpha."""
    _, _, w, h = overlay.box.pixels(size)
    if overlay.text is not None:
        rgb, alpha = render_caption(overlay.text, (w, h))
        return {t: (rgb, alpha) for t in times}
    ref = overlay.ref
    if isinstance(ref, FileRef) and ref.kind == "image":
        return {t: (_resized(load_picture(ref.path), (w, h)), 1.0) for t in times}
    if isinstance(ref, GeneratorRef) and PROCEDURAL.get(ref.name, key="generator").meta.get("kind") == "image":
        picture = render_image(ref.name, ref.params, (w, h))
        return {t: (picture, 1.0) for t in times}
    # a video: its frames from source_start on, one per time
    clip = Clip(ref, TimeRange(overlay.source_start, overlay.at.duration))
    local = sorted({t - overlay.at.start for t in times})
    frames = dict(zip(local, (pixels for _, pixels in _render_segment(clip, local, (w, h), stats))))
    return {t: (frames[t - overlay.at.start], 1.0) for t in times}


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if image.shape[1::-1] == tuple(size):
        return image
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _paint(frame: np.ndarray, box: tuple[int, int, int, int], rgb: np.ndarray, alpha, opacity: float) -> None:
    """Composite ``rgb`` with ``alpha`` (scalar or per pixel) x ``opacity`` into ``frame`` at ``box``, in place."""
    x, y, w, h = box
    rgb = rgb[:h, :w]
    region = frame[y : y + h, x : x + w]
    weight = np.asarray(alpha, np.float32) * opacity
    if weight.ndim == 0 and weight >= 1:
        region[...] = rgb
        return
    if weight.ndim == 2:
        weight = weight[:h, :w, None]
    region[...] = np.rint(rgb.astype(np.float32) * weight + region.astype(np.float32) * (1 - weight)).astype(np.uint8)


def _still_picture(ref: MediaRef, size: tuple[int, int]) -> np.ndarray:
    if isinstance(ref, GeneratorRef):
        return render_image(ref.name, ref.params, size)
    return fit(load_picture(ref.path), size)


def ref_from_json(data: Mapping) -> MediaRef:
    """A media reference from its JSON (``FileRef.1`` or ``GeneratorRef.1``)."""
    schema = data.get("schema")
    if schema == "FileRef.1":
        info, audio = data.get("info"), data.get("audio")
        return FileRef(
            data["path"],
            data["sha256"],
            data["kind"],
            VideoInfo.from_json(info) if info else None,
            AudioInfo.from_json(audio) if audio else None,
        )
    if schema == "GeneratorRef.1":
        return GeneratorRef(data["name"], data.get("params", {}))
    raise ValueError(f"unknown media reference schema {schema!r}")


def _overlay_from_json(data: Mapping) -> Overlay:
    if data.get("schema") != "Overlay.1":
        raise ValueError(f"unknown overlay schema {data.get('schema')!r}")
    at = TimeRange(Fraction(data["at"]["start"]), Fraction(data["at"]["duration"]))
    box = Box(*data["box"])
    if "text" in data:
        return Overlay(at, box, text=data["text"], opacity=data.get("opacity", 1.0))
    return Overlay(at, box, ref=ref_from_json(data["ref"]), opacity=data.get("opacity", 1.0), source_start=Fraction(data.get("source_start", "0")))


def _segment_from_json(data: Mapping) -> Segment:
    schema = data.get("schema")
    if schema == "Clip.1":
        r = data["range"]
        return Clip(ref_from_json(data["ref"]), TimeRange(Fraction(r["start"]), Fraction(r["duration"])))
    if schema == "Still.1":
        return Still(ref_from_json(data["ref"]), Fraction(data["duration"]))
    raise ValueError(f"unknown segment schema {schema!r}")
