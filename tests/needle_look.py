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
    # the shape's inside, and the background's, without their shared edge (edges of small shapes
    # blur under chroma subsampling): a star inside a hexagon of its colour fails on the second
    kernel = np.ones((5, 5), np.uint8)
    inside = cv2.erode(shape, kernel).astype(bool)
    outside = cv2.erode(1 - shape, kernel).astype(bool)
    return picture, [everything] + [mask for mask in (inside, outside) if mask.any()]


def error(frame: np.ndarray, entry: dict, t: Fraction, size: tuple[int, int]) -> float:
    """How far the frame's region is from how ``entry`` should look at ``t``: the largest mean
    absolute error over the deciding masks; for drawn shapes also how much of the shape is
    missing or of the background taken, against the shape's area, in percent (a red cross is
    not a red star, though many of their pixels agree)."""
    expected, masks = appearance(entry, t, size)
    got = region(frame, entry).astype(np.int16)
    difference = np.abs(got - expected.astype(np.int16))
    worst = max(float(difference[mask].mean()) for mask in masks)
    if "name" in entry["source"]:
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


def times_inside(entry: dict, rate: int) -> list[Fraction]:
    """The first, a middle and the last frame time of ``entry``."""
    first, stop = entry["frames"]
    return [Fraction(k, rate) for k in sorted({first, (first + stop) // 2, stop - 1})]
