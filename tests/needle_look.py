"""How a placed needle should look in a decoded frame, rendered independently of the composition.

From a truth entry (its source, time span and box) these functions draw what the frame should
show there, with the media modules directly, so that tests check the composition and the encoder
against the truth rather than against themselves.
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
    if source["name"] == "shape":
        picture = render_image("shape", source["params"], (width, height))
    else:
        local = t - Fraction(entry["start"]).limit_denominator(10_000)
        picture = render_video(source["name"], source["params"], [local], (width, height))[0]
    # the whole picture, and the shape's own pixels: on the plain background two similar shapes
    # (a yellow square, a yellow star) look nearly alike as a whole
    shape = (np.abs(picture.astype(np.int16) - picture[0, 0]).sum(axis=2) > 30).astype(np.uint8)
    # its inside only: edges of small shapes blur under chroma subsampling
    inside = cv2.erode(shape, np.ones((5, 5), np.uint8)).astype(bool)
    return picture, [everything, inside if inside.any() else shape.astype(bool)]


def error(frame: np.ndarray, entry: dict, t: Fraction, size: tuple[int, int]) -> float:
    """How far the frame's region is from how ``entry`` should look at ``t``: the largest mean
    absolute error over the deciding masks."""
    expected, masks = appearance(entry, t, size)
    difference = np.abs(region(frame, entry).astype(np.int16) - expected.astype(np.int16))
    return max(float(difference[mask].mean()) for mask in masks)


def times_inside(entry: dict, rate: int) -> list[Fraction]:
    """The first, a middle and the last frame time of ``entry``."""
    first, stop = entry["frames"]
    return [Fraction(k, rate) for k in sorted({first, (first + stop) // 2, stop - 1})]
