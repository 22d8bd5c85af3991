"""Motion clips: a shape making an exact number of repeated motions, for counting questions.

TimeScope's motion counting asks how many times something happens inside a clip; these clips
make the count exact and readable from the pixels. Three motions: ``bounce`` (a shape dropped
onto a floor bounces, its centre reversing from falling to rising at each bounce), ``turn`` (a
wheel with a mark on its rim makes full turns) and ``flash`` (a grey shape lights up in its
colour and goes grey again). The motions are spread evenly over the middle 80 % of the clip;
before and after it the shape rests, so a clip of 0 motions shows the same scene standing still.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from math import cos, pi, sin

import numpy as np

from mmhay.media.procedural import COLORS, PROCEDURAL, draw_shape

__all__ = ["MOTIONS", "ACTIVE", "OFF_GREY", "FLOOR_GREY"]

MOTIONS = ("bounce", "turn", "flash")
ACTIVE = (Fraction(1, 10), Fraction(9, 10))  # the part of the clip in which the motions happen
OFF_GREY = (160, 160, 160)  # a flashing shape between flashes
FLOOR_GREY = (95, 95, 95)
_BACKGROUND = (236, 236, 230)


def _progress(t: Fraction, duration: Fraction) -> float:
    """How far into the motions time ``t`` is: 0 before they start, 1 after they end."""
    if duration <= 0:
        return 0.0
    return float(min(max((t / duration - ACTIVE[0]) / (ACTIVE[1] - ACTIVE[0]), 0), 1))


@PROCEDURAL.register("motion", kind="video")
def motion(params: Mapping, times: Sequence[Fraction], size: tuple[int, int]) -> np.ndarray:
    """A shape making exactly ``count`` bounces, full turns or flashes (params: motion, count, shape, color, duration).

    ``duration`` (seconds, a string fraction) is the clip's length; the clip is made to measure
    for the time it shows. ``shape`` is one of the built-in shapes (a turn always shows a wheel).
    """
    kind, count = params["motion"], int(params["count"])
    duration = Fraction(params["duration"])
    if kind not in MOTIONS:
        raise ValueError(f"unknown motion {kind!r}; known: {', '.join(MOTIONS)}")
    width, height = size
    out = np.empty((len(times), height, width, 3), np.uint8)
    for i, t in enumerate(times):
        s = _progress(Fraction(t), duration)
        if kind == "bounce":
            out[i] = _bounce(size, params, count, s, float(min(max(Fraction(t) / duration, 0), 1)) if duration > 0 else 0.0)
        elif kind == "turn":
            out[i] = _wheel(size, params["color"], 2 * pi * count * s)
        else:
            lit = count > 0 and s < 1 and 0.25 <= (s * count) % 1 < 0.75
            out[i] = draw_shape(size, params["shape"], params["color"] if lit else OFF_GREY, (width / 2, height / 2), 0.3 * min(size))
    return out


def _bounce(size: tuple[int, int], params: Mapping, count: int, s: float, glide: float) -> np.ndarray:
    """The shape over a floor: at the top, dropped, bouncing ``count`` times, back at the top;
    resting on the floor when it makes no bounce. It glides slowly left to right all along."""
    width, height = size
    radius = 0.14 * min(size)
    floor_top = round(0.86 * height)
    lowest, highest = floor_top - radius, 0.12 * height + radius
    up = abs(cos(pi * count * s)) if count else 0.0  # 1 at the top, 0 on the floor
    centre = ((0.3 + 0.4 * glide) * width, lowest - (lowest - highest) * up)
    frame = draw_shape(size, params["shape"], params["color"], centre, radius)
    frame[floor_top:] = FLOOR_GREY
    return frame


def _wheel(size: tuple[int, int], color: str, angle: float) -> np.ndarray:
    """A disc of ``color`` with a mark near its rim, turned ``angle`` radians clockwise from 12 o'clock."""
    import cv2

    width, height = size
    radius = 0.32 * min(size)
    frame = draw_shape(size, "circle", color, (width / 2, height / 2), radius)
    mark = (250, 250, 250) if color == "black" else COLORS["black"]
    ss = 4  # drawn at 4x and reduced, as the shapes are
    big = cv2.resize(frame, (width * ss, height * ss), interpolation=cv2.INTER_NEAREST)
    x = (width / 2 + 0.58 * radius * sin(angle)) * ss
    y = (height / 2 - 0.58 * radius * cos(angle)) * ss
    cv2.circle(big, (int(x), int(y)), int(0.28 * radius * ss), tuple(int(c) for c in mark), -1)
    return cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
