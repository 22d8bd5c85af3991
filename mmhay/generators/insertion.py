"""Putting needles into a haystack: insert (adds frames), replace (overwrites frames), overlay (composites).

Positions are haystack frames; the result is a composition and, for every item, where it shows
in the output video: its time span, frame indices and, for overlays, its box.

An item may show as several copies side by side in each of its frames (V-RULER's "k objects in
one frame"): each copy is an overlay in a box of its own, over the haystack (overlay) or over a
plain frame of the built-in shapes' background put in by insert or replace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from math import ceil, sqrt

import numpy as np

from mmhay.generators.needles import Needle
from mmhay.timeline import Box, Clip, Composition, GeneratorRef, Overlay, Segment, Sound, Still, TimeRange

__all__ = ["Item", "Placed", "Soundtrack", "assemble", "source_soundtrack", "overlay_box", "copy_boxes", "SUBTITLE_BOX", "INSERTIONS", "BACKDROP"]

INSERTIONS = ("insert", "replace", "overlay")

# Where text needles are captioned: a subtitle band across the bottom of the frame.
SUBTITLE_BOX = Box(0.04, 0.8, 0.92, 0.15)

# The plain frame copies are put on when inserted or replacing: the built-in shapes' own background,
# so that a shape's box does not show and the frame reads as k shapes on one field.
BACKDROP = GeneratorRef("plain", {"rgb": [236, 236, 230]})


@dataclass(frozen=True)
class Item:
    """A needle (or distractor) to place: at haystack frame ``at``, for ``frames`` frames."""

    needle: Needle
    role: str  # "needle" or "distractor"
    at: int
    frames: int
    box: Box | None = None
    copies: tuple[Box, ...] = ()  # shown as one copy in each of these boxes, in every frame


@dataclass(frozen=True)
class Placed:
    """Where an item shows in the output video."""

    needle: Needle
    role: str
    start: Fraction
    end: Fraction
    frames: range
    box: Box | None

    def to_json(self, size: tuple[int, int]) -> dict:
        return {
            "label": self.needle.label,
            "description": self.needle.description,
            "start": float(self.start),
            "end": float(self.end),
            "frames": [self.frames.start, self.frames.stop],
            "box": list(self.box.pixels(size)) if self.box is not None else None,
            "source": self.needle.ref.to_json() if self.needle.ref is not None else {"text": self.needle.text},
        }


def overlay_box(needle: Needle, scale: float, frame: tuple[int, int], position, rng: np.random.Generator) -> Box:
    """The box an overlaid needle takes: ``scale`` of the frame's width, the needle's own aspect
    ratio, centred at ``position`` (fractions of the frame) or at a random place."""
    if needle.kind == "text":
        return SUBTITLE_BOX
    width, height = frame
    w = scale
    h = scale * (width / height) / needle.aspect
    if h > 0.95:  # a tall needle: limit by height instead
        w, h = w * 0.95 / h, 0.95
    if position == "random":
        x, y = float(rng.uniform(0, 1 - w)), float(rng.uniform(0, 1 - h))
    else:
        x = min(max(position[0] - w / 2, 0.0), 1 - w)
        y = min(max(position[1] - h / 2, 0.0), 1 - h)
    return Box(round(x, 4), round(y, 4), round(w, 4), round(h, 4))


def copy_boxes(needle: Needle, count: int, scale: float, frame: tuple[int, int], rng: np.random.Generator) -> tuple[Box, ...]:
    """``count`` boxes for copies of ``needle`` in one frame that neither overlap nor touch.

    The frame is cut into a grid of at least ``count`` slots of about the needle's aspect ratio;
    each copy takes a slot drawn at random, at most ``scale`` of the frame's width and 70% of its
    slot, at a random place inside it keeping 5% of the slot clear on every side."""
    if count <= 0:
        return ()
    width, height = frame
    ratio = (width / height) / needle.aspect  # a box's height over its width, in frame fractions
    columns = max(1, ceil(sqrt(count * ratio)))
    rows = ceil(count / columns)
    slot_w, slot_h = 1 / columns, 1 / rows
    w = min(scale, 0.7 * slot_w, 0.7 * slot_h / ratio)
    h = w * ratio
    boxes = []
    for slot in sorted(int(s) for s in rng.choice(columns * rows, size=count, replace=False)):
        row, column = divmod(slot, columns)
        x = column * slot_w + float(rng.uniform(0.05 * slot_w, 0.95 * slot_w - w))
        y = row * slot_h + float(rng.uniform(0.05 * slot_h, 0.95 * slot_h - h))
        boxes.append(Box(round(x, 4), round(y, 4), round(w, 4), round(h, 4)))
    return tuple(boxes)


@dataclass(frozen=True)
class Soundtrack:
    """The sound under a composition: bed clips end to end, the rate, channels, and sounds' level
    (``snr_db`` over the bed, or ``level_dbfs`` RMS over a bed of silence)."""

    bed: tuple[Clip, ...] = ()
    rate: int = 16000
    channels: int = 1
    snr_db: float = 0.0
    level_dbfs: float | None = None


def assemble(
    haystack: Sequence[Clip],
    items: Sequence[Item],
    insertion: str,
    size: tuple[int, int],
    rate: Fraction,
    soundtrack: Soundtrack = Soundtrack(),
) -> tuple[Composition, list[Placed]]:
    """The composition with every item put in by ``insertion``, and where each item shows (in time order).

    ``rate`` is the unit of positions: video frames, or ticks of a recording with no video.
    Sound needles go into the soundtrack: mixed in (``overlay``), spliced in (``replace``), or,
    in a recording with no video, inserted: the bed is cut where the sound goes and goes on after
    it, so the recording gets longer by the sound (DASS's concatenation). The inserted sound is
    a splice with no fade over a copy of the bed that follows it, which it hides whole and whose
    level is the one its SNR is set against.
    """
    length = round(sum((clip.duration for clip in haystack or soundtrack.bed), Fraction(0)) * rate)
    segments: list[Segment] = []
    overlays: list[Overlay] = []
    sounds: list[Sound] = []
    placed: list[Placed] = []
    cursor = 0  # haystack frames used so far
    shift = 0  # output frames minus haystack frames, from inserted needles
    bed: list[Clip] = []  # a recording's bed, cut where sounds are inserted
    bed_cursor = 0
    inserting = insertion == "insert" and not haystack
    # a sound at the same place as a picture goes first, so that both start where the picture does
    for item in sorted(items, key=lambda i: (i.at, i.needle.kind != "sound")):
        if item.needle.kind == "sound":
            at = TimeRange(Fraction(item.at + shift) / rate, Fraction(item.frames) / rate)
            mode = "splice" if insertion == "replace" or inserting else "mix"  # a video's inserted pictures' sounds are mixed
            item = replace(item, needle=replace(item.needle, ref=_sound_ref(item.needle, at.duration)))  # the truth names what plays
            fade = Fraction(0) if inserting else Fraction(1, 100)
            sounds.append(Sound(item.needle.ref, at, soundtrack.snr_db, mode, fade, level_dbfs=soundtrack.level_dbfs))
            start = item.at + shift
            if inserting:
                bed += _cut(soundtrack.bed, bed_cursor, item.at, rate) + _continuation(soundtrack.bed, item.at, item.frames, length, rate)
                bed_cursor = item.at
                shift += item.frames
        elif insertion == "overlay":
            item = _measured(item, rate)
            start = item.at
            overlays += [_overlay(replace(item, box=box), start, rate) for box in item.copies] or [_overlay(item, start, rate)]
        else:
            item = _measured(item, rate)
            segments += _cut(haystack, cursor, item.at, rate)
            start = item.at + shift
            segments.append(Still(BACKDROP, Fraction(item.frames) / rate) if item.copies else _segment(item, rate))
            overlays += [_overlay(replace(item, box=box), start, rate) for box in item.copies]
            if insertion == "insert":
                shift += item.frames
                cursor = item.at
            else:
                cursor = item.at + item.frames
        span = (item.needle, item.role, start / rate, (start + item.frames) / rate, range(start, start + item.frames))
        if item.copies:
            placed += [Placed(*span, box) for box in item.copies]
        else:
            placed.append(Placed(*span, item.box if insertion == "overlay" and item.needle.kind != "sound" else None))
    if haystack:
        segments += _cut(haystack, cursor, length, rate)
    if inserting:
        bed += _cut(soundtrack.bed, bed_cursor, length, rate)
    composition = Composition(
        tuple(segments),
        size if haystack else (0, 0),
        rate if haystack else None,
        tuple(overlays),
        tuple(bed) if inserting else soundtrack.bed,
        tuple(sounds),
        soundtrack.rate,
        soundtrack.channels,
    )
    return composition, placed


def source_soundtrack(composition: Composition) -> tuple[Clip, ...]:
    """The soundtrack of a video's own sources, following its edit: each clip of a video with
    sound brings that sound, everything else is silence."""
    clips = []
    for segment in composition.segments:
        ref = getattr(segment, "ref", None)
        if isinstance(segment, Clip) and getattr(ref, "audio", None) is not None:
            clips.append(segment)
        else:
            clips.append(Clip(GeneratorRef("silence", {}), TimeRange(Fraction(0), segment.duration)))
    return tuple(clips)


def _sound_ref(needle: Needle, duration: Fraction):
    """A sound needle's source, lasting ``duration`` where it is made to measure (beeps, chirps, clicks)."""
    ref = needle.ref
    if isinstance(ref, GeneratorRef) and ref.name in ("tone", "chirp", "clicks"):
        return GeneratorRef(ref.name, {**ref.params, "duration": str(duration)})
    return ref


# Procedural clips made to measure: their motion runs over the time they show (the truth names
# that source, with the duration it was made for).
MEASURED_CLIPS = ("motion",)


def _measured(item: Item, rate: Fraction) -> Item:
    """``item`` with a made-to-measure clip's source set to last as long as the item shows."""
    ref = item.needle.ref
    if item.needle.kind != "clip" or not isinstance(ref, GeneratorRef) or ref.name not in MEASURED_CLIPS:
        return item
    fitted = GeneratorRef(ref.name, {**ref.params, "duration": str(Fraction(item.frames) / rate)})
    return replace(item, needle=replace(item.needle, ref=fitted))


def _segment(item: Item, rate: Fraction) -> Segment:
    needle, duration = item.needle, Fraction(item.frames) / rate
    if needle.kind == "text":
        return Still(GeneratorRef("text_card", {"text": needle.text}), duration)
    if needle.kind == "clip":
        return Clip(needle.ref, TimeRange(Fraction(0), duration))
    return Still(needle.ref, duration)


def _overlay(item: Item, start: int, rate: Fraction) -> Overlay:
    at = TimeRange(Fraction(start) / rate, Fraction(item.frames) / rate)
    if item.needle.kind == "text":
        return Overlay(at, item.box or SUBTITLE_BOX, text=item.needle.text)
    return Overlay(at, item.box, ref=item.needle.ref)


def _continuation(bed: Sequence[Clip], start: int, count: int, length: int, rate: Fraction) -> list[Clip]:
    """``count`` frames of ``bed`` from frame ``start`` on, from its beginning again where it ends."""
    out = []
    while count > 0:
        take = min(count, length - start)
        out += _cut(bed, start, start + take, rate)
        count, start = count - take, 0
    return out


def _cut(haystack: Sequence[Clip], start: int, end: int, rate: Fraction) -> list[Clip]:
    """The haystack's frames ``start..end`` as clips (whole clips kept, the ends trimmed)."""
    out, position = [], 0
    for clip in haystack:
        frames = round(clip.duration * rate)
        a, b = max(start, position), min(end, position + frames)
        if a < b:
            offset = Fraction(a - position) / rate
            out.append(Clip(clip.ref, TimeRange(clip.range.start + offset, Fraction(b - a) / rate)))
        position += frames
    return out
