"""Checking a sample's truth against its media: does each needle show where the truth says?

From a truth entry (its source, time span, box or cell) these functions draw what the media
should show there with the media modules directly, never through the composition, so that a
check compares the composition and the encoder against the truth rather than against
themselves. ``mmhay audit`` and the tests use them.
"""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from mmhay.media.captions import render_caption, render_title_card
from mmhay.media.procedural import render_image, render_video

# Mean absolute error (0..255) under which a region shows the needle, and over which it does not.
# CRF 18 keeps flat drawn needles within a few levels; any haystack region is tens of levels off.
SHOWS = 10.0
ABSENT = 20.0


def region(frame: np.ndarray, entry: dict) -> np.ndarray:
    """The part of a frame where ``entry`` shows: its box for overlays, else the whole frame."""
    if entry["box"] is None:
        return frame
    x, y, w, h = entry["box"]
    return frame[y : y + h, x : x + w]


def appearance(entry: dict, t: Fraction, size: tuple[int, int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """What ``entry`` looks like at output time ``t``: pixels of its region, and masks of the pixels
    that decide whether it shows (each must match)."""
    width, height = (entry["box"][2], entry["box"][3]) if entry["box"] is not None else size
    source = entry["source"]
    everything = np.ones((height, width), bool)
    if "text" in source:
        if entry["box"] is None:
            return render_title_card(source["text"], (width, height)), [everything]
        rgb, alpha = render_caption(source["text"], (width, height))
        return rgb, [alpha > 0.99]  # a caption is translucent: only its opaque text decides
    if "path" in source and "frames" in entry:  # a file in a video: a still on bars, or filling an overlay's box
        return _file_in_video(entry, t, (width, height)), [everything]
    if "path" in source:  # a picture from a file, as a tile fills a cell
        from mmhay.gallery import render_tile
        from mmhay.timeline import ref_from_json

        return render_tile(ref_from_json(source), (width, height)), [everything]
    if source["name"] in ("shape", "crop", "captioned"):
        picture = render_image(source["name"], source["params"], (width, height))
    else:
        local = t - Fraction(entry["start"]).limit_denominator(10_000)
        picture = render_video(source["name"], source["params"], [local], (width, height))[0]
    # the whole picture, and the shape's own pixels: on the plain background two similar shapes
    # (a yellow square, a yellow star) look nearly alike as a whole
    shape = (np.abs(picture.astype(np.int16) - picture[0, 0]).sum(axis=2) > 30).astype(np.uint8)
    # the shape's inside, and the background's, without their shared edge (edges of small shapes
    # blur under chroma subsampling): a star inside a hexagon of its colour fails on the second
    kernel = np.ones((5, 5), np.uint8)
    inside = cv2.erode(shape, kernel).astype(bool)
    outside = cv2.erode(1 - shape, kernel).astype(bool)
    return picture, [everything] + [mask for mask in (inside, outside) if mask.any()]


def _file_in_video(entry: dict, t: Fraction, size: tuple[int, int]) -> np.ndarray:
    """How a picture or clip file shows in a video at output time ``t``: fitted on black bars
    inside the frame (inserted, replacing), or scaled to its box (an overlay's box has its aspect)."""
    from mmhay.media.decode import read_frames
    from mmhay.media.pictures import fit, load_picture

    source = entry["source"]
    if source.get("kind") == "video":
        local = t - Fraction(entry["start"]).limit_denominator(10_000)
        picture = read_frames(source["path"], [max(local, Fraction(0))]).pixels[0]
    else:
        picture = load_picture(source["path"])
    if entry["box"] is not None:
        return cv2.resize(picture, size, interpolation=cv2.INTER_AREA if size[0] * size[1] < picture.shape[0] * picture.shape[1] else cv2.INTER_LINEAR)
    return fit(picture, size)


def error(frame: np.ndarray, entry: dict, t: Fraction, size: tuple[int, int]) -> float:
    """How far the frame's region is from how ``entry`` should look at ``t``: the largest mean
    absolute error over the deciding masks; for drawn shapes also how much of the shape is
    missing or of the background taken, against the shape's area, in percent (a red cross is
    not a red star, though many of their pixels agree)."""
    expected, masks = appearance(entry, t, size)
    got = region(frame, entry).astype(np.int16)
    difference = np.abs(got - expected.astype(np.int16))
    worst = max(float(difference[mask].mean()) for mask in masks)
    if entry["source"].get("name") in ("shape", "shape_motion"):
        background = expected[0, 0].astype(np.int16)
        want = (np.abs(expected.astype(np.int16) - background).sum(axis=2) > 60).astype(np.uint8)
        kernel = np.ones((5, 5), np.uint8)
        inside, outside = cv2.erode(want, kernel).astype(bool), cv2.erode(1 - want, kernel).astype(bool)
        # a pixel shows the shape where it is nearer the shape's colour than the background's
        colour = expected[want.astype(bool)].astype(np.int16).mean(axis=0) if want.any() else background
        have = np.abs(got - colour).sum(axis=2) < np.abs(got - background).sum(axis=2)
        wrong = (inside & ~have).sum() + (outside & have).sum()  # shape missing, or something else there
        worst = max(worst, 100 * wrong / max(1, inside.sum()))
    return worst


def times_inside(entry: dict, rate) -> list[Fraction]:
    """The first, a middle and the last frame time of ``entry``."""
    first, stop = entry["frames"]
    return [Fraction(k) / Fraction(rate) for k in sorted({first, (first + stop) // 2, stop - 1})]


def normalised_xcorr(signal: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Pearson-like correlation of ``template`` with every window of ``signal``, by lag (FFT).

    A window 60 dB or more under the signal's mean power (silence, where a needle was put into a
    bed of silence) scores about 0: its energy, a difference of running sums, is rounding noise there.
    """
    from scipy.signal import correlate

    n = len(template)
    template = (template - template.mean()) / (np.linalg.norm(template - template.mean()) + 1e-12)
    full = correlate(signal.astype(np.float64), template, mode="valid", method="fft")
    sums = np.concatenate([[0.0], np.cumsum(signal.astype(np.float64))])
    squares = np.concatenate([[0.0], np.cumsum(signal.astype(np.float64) ** 2)])
    window_sum, window_square = sums[n:] - sums[:-n], squares[n:] - squares[:-n]
    floor = max(1e-12, 1e-6 * float(np.mean(signal.astype(np.float64) ** 2)) * n)
    energy = np.sqrt(np.maximum(window_square - window_sum**2 / n, floor))
    return full / energy


def sound_template(entry: dict, rate: int) -> np.ndarray:
    """The sound a truth entry names, alone, mono at ``rate``."""
    from mmhay.soundtrack import source_audio
    from mmhay.timeline import ref_from_json

    duration = Fraction(entry["end"] - entry["start"]).limit_denominator(1000)
    return source_audio(ref_from_json(entry["source"]), Fraction(0), duration, rate, 1)[0]


def check_sample(sample) -> list[str]:
    """What in ``sample``'s media disagrees with its truth (empty if nothing): every needle and
    distractor must show where and when the truth says."""
    from mmhay.gallery import Gallery

    problems = []
    entries = [*sample.truth.get("needles", []), *sample.truth.get("distractors", [])]
    media = sample.media
    if isinstance(media, Gallery):
        images = media.render()
        for entry in entries:
            image = images[entry["image"] - 1]
            if "row" in entry:
                height, width = image.shape[0] // sample.truth["grid"], image.shape[1] // sample.truth["grid"]
                image = image[(entry["row"] - 1) * height : entry["row"] * height, (entry["column"] - 1) * width : entry["column"] * width]
            box = entry.get("box")  # a picture pasted into a box of the image (MM-NIAH's image needles)
            shown = error(image, {"box": box, "source": entry["source"], "start": 0}, Fraction(0), image.shape[1::-1])
            if shown >= SHOWS:
                problems.append(f"{entry['label']} does not show in image {entry['image']} (error {shown:.1f})")
        if media.options and entries:  # options that are pictures: the answer's is the pasted one
            picture = media.options[ord(sample.answer) - ord("A")].render()
            shown = error(picture, {"box": [0, 0, *picture.shape[1::-1]], "source": entries[0]["source"], "start": 0}, Fraction(0), picture.shape[1::-1])
            if shown >= SHOWS:
                problems.append(f"the option picture at {sample.answer} is not {entries[0]['label']} (error {shown:.1f})")
        return problems
    if not media.segments or "samples" in (entries[0] if entries else {}):
        audio = media.audio()[0]
        for entry in entries:
            if "source" not in entry:
                continue
            at = int(np.argmax(normalised_xcorr(audio, sound_template(entry, media.audio_rate)))) / media.audio_rate
            if abs(at - entry["start"]) > 0.010:
                problems.append(f"{entry['label']} is heard best at {at:.3f} s, not at {entry['start']:.3f} s")
        return problems
    rate = media.rate or Fraction(entry_rate(media))
    for entry in entries:
        if "frames" not in entry:
            continue
        times = times_inside(entry, rate)
        frames = media.frames(times)
        for t, frame in zip(times, frames):
            shown = error(frame, entry, t, media.size)
            if shown >= SHOWS:
                problems.append(f"{entry['label']} does not show at {float(t):.3f} s (error {shown:.1f})")
    return problems


def entry_rate(media) -> Fraction:
    """The frame rate truth frames count in: the composition's, or its one file's."""
    info = getattr(media.segments[0].ref, "info", None)
    return Fraction(info.rate) if info is not None else Fraction(1)
