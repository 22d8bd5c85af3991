"""What the model was shown of each needle, and whether it was shown enough to be found.

A sample's truth says where every needle is (its time span, frames and box; its image and cell;
its stretch of sound). ``Given`` says what the model actually received: the times and sizes of
the frames the sampler picked, their sizes after the model's processor, the visual tokens a
compressor kept and where each came from, the pictures of an image sample at their input size,
the window of sound. ``exposure`` puts the two together, needle by needle (and distractor by
distractor), and gives the sample one verdict, ``shown``: every needle the answer depends on
was given at least at the ``Minimums`` (docs/metrics.md, "Exposure"). A wrong answer to a
sample not shown is a sampler's (or a processor's, or a compressor's) miss, not the model's.

Verdicts are ``None`` where the answer depends on no needle (a negative question about a needle
that is absent: there is nothing to show).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from math import ceil, floor

import numpy as np

from mmhay.errors import ConfigError

__all__ = ["Minimums", "Given", "exposure", "parse_minimums", "given_by_plan", "frame_given", "shown_times", "COUNTING_TASKS"]

COUNTING_TASKS = ("counting", "count_kind", "count_instances", "count_spread")
_EPS = 1e-6  # seconds: frame times and needle spans are exact fractions written as floats


@dataclass(frozen=True)
class Minimums:
    """How much of a needle counts as shown: ``frames`` frames inside its span, each showing it at
    least ``height`` pixels high at the model's input; at least ``tokens`` of its visual tokens
    kept by a compressor; at least ``sound`` of its sound inside the window given (and heard)."""

    frames: int = 1
    height: float = 8.0
    tokens: float = 0.5
    sound: float = 0.5

    def to_json(self) -> dict:
        return asdict(self)


def parse_minimums(text: str | None, source: str = "--min-shown") -> Minimums:
    """``"frames=2,height=16"`` -> Minimums (the others at their defaults)."""
    if not text:
        return Minimums()
    known = {f.name: f.type for f in fields(Minimums)}
    values: dict = {}
    for part in text.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or key not in known:
            raise ConfigError(source, key or part, f"expected key=value with key one of: {', '.join(known)}", text)
        try:
            number = int(value) if key == "frames" else float(value)
        except ValueError:
            raise ConfigError(source, key, "must be a number", value) from None
        if number < 0 or (key in ("tokens", "sound") and number > 1):
            raise ConfigError(source, key, "must be at least 0" + (" and at most 1 (a share)" if key in ("tokens", "sound") else ""), value)
        values[key] = number
    return Minimums(**values)


@dataclass(frozen=True)
class Given:
    """What a model received of one sample.

    ``frame_times`` (seconds) and ``frame_sizes`` ((w, h) as rendered, after the sampler's
    scale) of the frames shown; ``input_sizes`` the size of each at the model's input (after
    its processor), None where the adapter does not resize. ``tokens`` where a compressor ran:
    ``grid`` (t, h, w) of the tokens it was given, ``step`` frames per grid frame (Qwen-VL's
    temporal patch: 2) and ``kept`` [[f0, f1, y0, x0, y1, x1], ...], each kept token's source
    grid frames and cells, half-open. ``image_sizes``/``image_inputs`` the same for the pictures
    of an image sample (None: at their own size). ``audio_seconds``: the sound given, from time 0
    (None: no sound was given).
    """

    frame_times: tuple[float, ...] = ()
    frame_sizes: tuple[tuple[int, int], ...] = ()
    input_sizes: tuple[tuple[int, int], ...] | None = None
    tokens: Mapping | None = None
    image_sizes: tuple[tuple[int, int], ...] | None = None
    image_inputs: tuple[tuple[int, int], ...] | None = None
    audio_seconds: float | None = None


def frame_given(frames, frame_times: Sequence[float], received: Mapping | None, audio=None, audio_rate=None, images=()) -> Given:
    """``Given`` from what a request carried (its rendered frames, pictures and sound) and what
    the adapter says its input was (``Answer.received``)."""
    received = received or {}
    if frames is None:
        sizes: tuple = ()
    elif isinstance(frames, np.ndarray):
        sizes = ((int(frames.shape[2]), int(frames.shape[1])),) * int(frames.shape[0])
    else:
        sizes = tuple((int(f.shape[1]), int(f.shape[0])) for f in frames)
    audio_seconds = None
    if audio is not None and audio_rate:
        audio_seconds = float(received.get("audio_seconds", audio.shape[-1] / audio_rate))
    inputs = received.get("frame_sizes")
    image_inputs = received.get("image_sizes")
    return Given(
        frame_times=tuple(float(t) for t in frame_times),
        frame_sizes=sizes,
        input_sizes=tuple(tuple(s) for s in inputs) if inputs and len(inputs) == len(sizes) else None,
        tokens=received.get("tokens"),
        image_sizes=tuple((int(i.shape[1]), int(i.shape[0])) for i in images) or None,
        image_inputs=tuple(tuple(s) for s in image_inputs) if image_inputs and len(image_inputs) == len(images) else None,
        audio_seconds=audio_seconds,
    )


def given_by_plan(sample, sampler: str, frames: int) -> Given:
    """What the pipeline prepares for ``sample`` before any model resizes it: the sampler's
    frames (snapped to the frames they show, at their scale), the pictures at their own size, the
    whole sound. Baselines, which look at nothing, are credited with this, so their chance line
    splits by exposure as a model's accuracy does; ``mmhay exposure`` reports it without a model."""
    from mmhay.gallery import Gallery
    from mmhay.sampling import _scaled_size, footage_for, plan_frames

    media = sample.media
    if isinstance(media, Gallery):
        return Given(image_sizes=tuple(m.size for m in media.images))
    audio = float(media.duration) if media.soundtrack else None
    if not media.segments:
        return Given(audio_seconds=audio)
    plan = plan_frames(sampler, footage_for(sample), frames)
    sizes = tuple(_scaled_size(media.size, s) or tuple(media.size) for s in plan.scales)
    return Given(frame_times=shown_times(media, plan.times), frame_sizes=sizes, audio_seconds=audio)


def shown_times(media, times) -> tuple[float, ...]:
    """The time of the frame a video composition shows at each of ``times``, without rendering:
    its frame grid (the composition's rate, else its source's), as ``Composition.render`` maps
    times to frames; times outside the video fall on its first or last frame."""
    from mmhay.media.timing import FrameGrid, frame_at
    from mmhay.sampling import frame_rate

    rate = frame_rate(media)
    if rate is None:
        return tuple(float(min(max(Fraction(t), Fraction(0)), media.duration)) for t in times)
    grid = FrameGrid(rate, ceil(media.duration * rate))
    return tuple(float(grid[frame_at(Fraction(t), grid)]) for t in times)


def exposure(sample, given: Given, minimums: Minimums = Minimums()) -> dict:
    """Each needle's, distractor's and sound's exposure in ``given``, and the sample's verdict.

    ``shown`` is True when every needle the answer depends on was given at least at
    ``minimums``, False when one was not, None when the answer depends on none. Counting
    samples also get ``shown_count`` (the appearances given) beside ``true_count``.
    """
    from mmhay.gallery import Gallery

    truth, media = sample.truth, sample.media
    if isinstance(media, Gallery):
        measure = lambda entry: _picture(entry, media, given, minimums)  # noqa: E731
    elif sample.modality == "audio" or truth.get("kind") == "sound":
        measure = lambda entry: _sound(entry, given, minimums)  # noqa: E731
    else:
        measure = lambda entry: _visual(entry, tuple(media.size), given, minimums)  # noqa: E731
    needles = [measure(entry) for entry in truth.get("needles", [])]
    result: dict = {"needles": needles, "distractors": [measure(entry) for entry in truth.get("distractors", [])]}
    sounds = [_sound(entry, given, minimums) for entry in truth.get("sounds", [])]
    if sounds:
        result["sounds"] = sounds
    asked = truth.get("asked")
    if isinstance(asked, Mapping) and asked.get("present") is False or not needles:
        result["shown"] = None  # the asked needle is absent: there is nothing to show
    else:
        depends = list(needles)
        if sounds and isinstance(asked, Mapping):
            # a question about the sound heard with a picture depends on that sound too
            first = truth["needles"][0]
            depends += [s for s, e in zip(sounds, truth["sounds"]) if e["label"] == asked.get("label") and abs(e["start"] - first["start"]) < _EPS]
        result["shown"] = all(part["shown"] for part in depends)
    if sample.task in COUNTING_TASKS:
        labels = [entry["label"] for entry in truth.get("needles", [])]
        shown = [label for label, part in zip(labels, needles) if part["shown"]]
        distinct = sample.task == "count_kind"
        result["true_count"] = len(set(labels)) if distinct else len(labels)
        result["shown_count"] = len(set(shown)) if distinct else len(shown)
    result["minimums"] = minimums.to_json()
    return result


def _visual(entry: Mapping, media_size: tuple[int, int], given: Given, minimums: Minimums) -> dict:
    """A picture, clip, overlay or caption: the frames that show it and its height in each."""
    width, height = media_size
    start, end = entry["start"], entry["end"]
    hits = [j for j, t in enumerate(given.frame_times) if start - _EPS <= t < end - _EPS]
    box = entry.get("box")
    text = (entry.get("source") or {}).get("text")
    heights = []
    for j in hits:
        rendered = given.frame_sizes[j]
        hi = given.input_sizes[j][1] if given.input_sizes else rendered[1]
        if text is not None:
            from mmhay.media.captions import text_height

            band = rendered if box is None else (max(1, round(box[2] * rendered[0] / width)), max(1, round(box[3] * rendered[1] / height)))
            drawn = text_height(text, band, card=box is None)
            heights.append(round(drawn * hi / rendered[1], 2))
        else:
            heights.append(round((box[3] if box else height) * hi / height, 2))
    big_enough = sum(1 for h in heights if h >= minimums.height)
    result = {
        "label": entry["label"],
        "frames": len(hits),
        "times": [round(given.frame_times[j], 6) for j in hits],
        "height_px": heights,
    }
    if box and hits:  # the box as the first frame that shows it gave it
        wi, hi = given.input_sizes[hits[0]] if given.input_sizes else given.frame_sizes[hits[0]]
        result["box_px"] = [round(box[0] * wi / width, 1), round(box[1] * hi / height, 1), round(box[2] * wi / width, 1), round(box[3] * hi / height, 1)]
    shown = len(hits) > 0 and big_enough >= max(1, minimums.frames)
    if given.tokens is not None:
        result["tokens"] = round(_token_share(hits, box, media_size, given.tokens), 4)
        shown = shown and result["tokens"] >= minimums.tokens - 1e-9
    result["shown"] = shown
    return result


def _token_share(hits: Sequence[int], box, media_size: tuple[int, int], tokens: Mapping) -> float:
    """The share of the needle's visual tokens (the grid frames holding its shown frames x the
    cells its box covers) that a kept token came from."""
    t, gh, gw = (int(v) for v in tokens["grid"])
    step = int(tokens.get("step", 1))
    groups = sorted({j // step for j in hits if j // step < t})
    if not groups:
        return 0.0
    covered = np.zeros((t, gh, gw), bool)
    for f0, f1, y0, x0, y1, x1 in tokens["kept"]:
        covered[f0:f1, y0:y1, x0:x1] = True
    if box:
        width, height = media_size
        r0, c0 = floor(box[1] / height * gh), floor(box[0] / width * gw)
        r1, c1 = max(r0 + 1, ceil((box[1] + box[3]) / height * gh)), max(c0 + 1, ceil((box[0] + box[2]) / width * gw))
    else:
        r0, c0, r1, c1 = 0, 0, gh, gw
    return float(covered[groups, r0:r1, c0:c1].mean())


def _sound(entry: Mapping, given: Given, minimums: Minimums) -> dict:
    """A sound: the share of it inside the window of sound given, and whether it was heard."""
    start, end = entry["start"], entry["end"]
    window = given.audio_seconds
    inside = 0.0 if window is None else max(0.0, min(end, window) - start)
    share = inside / (end - start) if end > start else float(window is not None and start < window)
    heard = window is not None
    return {"label": entry["label"], "share": round(share, 4), "heard": heard, "shown": heard and share >= minimums.sound - 1e-9}


def _picture(entry: Mapping, media, given: Given, minimums: Minimums) -> dict:
    """A needle picture among images: the height of its cell (or its whole image) at the input."""
    index = int(entry["image"]) - 1
    images = media.images
    if not 0 <= index < len(images):
        return {"label": entry["label"], "image": entry["image"], "height_px": 0.0, "shown": False}
    mosaic = images[index]
    width, height = mosaic.size
    sizes = given.image_inputs or given.image_sizes
    wi, hi = sizes[index] if sizes and index < len(sizes) else (width, height)
    part = (entry["box"][2], entry["box"][3]) if entry.get("box") else (mosaic.cell[0], mosaic.cell[1]) if "row" in entry else (width, height)
    result = {
        "label": entry["label"],
        "image": entry["image"],
        "height_px": round(part[1] * hi / height, 2),
        "width_px": round(part[0] * wi / width, 2),
    }
    result["shown"] = result["height_px"] >= minimums.height
    return result
