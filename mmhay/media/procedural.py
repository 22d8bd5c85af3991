"""Procedural media: content computed from a name and parameters, so nothing has to be downloaded.

Each source is registered with its kind: ``video`` sources render frames at any times and size,
``image`` sources render one picture at any size. The same parameters always give the same pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from math import cos, pi, sin

import numpy as np

from mmhay.media.pictures import bundled_picture_path, load_picture
from mmhay.registry import registry

__all__ = ["PROCEDURAL", "render_video", "render_image", "draw_shape", "SHAPES", "COLORS"]

PROCEDURAL = registry("procedural")

SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross", "hexagon", "heart", "crescent", "arrow")
COLORS = {
    "red": (220, 30, 35),
    "orange": (245, 135, 20),
    "yellow": (245, 215, 30),
    "green": (40, 160, 60),
    "cyan": (40, 200, 215),
    "blue": (35, 75, 220),
    "purple": (135, 50, 175),
    "pink": (245, 125, 185),
    "brown": (125, 75, 35),
    "black": (25, 25, 25),
}
_SHAPE_BACKGROUND = (236, 236, 230)


def render_video(name: str, params: Mapping, times: Sequence[Fraction], size: tuple[int, int]) -> np.ndarray:
    """Frames of the procedural video ``name`` at ``times`` (seconds), uint8 ``[N, H, W, 3]``."""
    entry = PROCEDURAL.get(name, key="generator")
    if entry.meta.get("kind") != "video":
        raise ValueError(f"procedural source {name!r} is not a video")
    return entry.obj(params, times, size)


def render_image(name: str, params: Mapping, size: tuple[int, int]) -> np.ndarray:
    """The procedural picture ``name`` rendered at ``size`` (w, h), uint8 ``[H, W, 3]``."""
    entry = PROCEDURAL.get(name, key="generator")
    if entry.meta.get("kind") != "image":
        raise ValueError(f"procedural source {name!r} is not an image")
    return entry.obj(params, size)


@PROCEDURAL.register("pan_zoom", kind="video")
def pan_zoom(params: Mapping, times: Sequence[Fraction], size: tuple[int, int]) -> np.ndarray:
    """A slow camera move over a bundled photograph: pan and zoom from one framing to another.

    params: ``picture`` (a bundled picture name), ``start`` and ``end`` framings ``[cx, cy, zoom]``
    (centre in 0..1 of the picture, zoom >= 1 where 1 is the widest framing of the frame's aspect
    ratio), ``duration`` (seconds, as a string fraction) over which the move runs.
    """
    import cv2

    picture = load_picture(bundled_picture_path(params["picture"]))
    ph, pw = picture.shape[:2]
    width, height = size
    aspect = width / height
    base_w, base_h = (pw, pw / aspect) if pw / ph <= aspect else (ph * aspect, ph)
    duration = Fraction(params["duration"])
    start, end = np.asarray(params["start"], float), np.asarray(params["end"], float)
    out = np.empty((len(times), height, width, 3), np.uint8)
    for i, t in enumerate(times):
        progress = float(min(max(t / duration, 0), 1)) if duration > 0 else 0.0
        eased = progress * progress * (3 - 2 * progress)
        cx, cy, zoom = start + (end - start) * eased
        window_w, window_h = base_w / zoom, base_h / zoom
        left = min(max(cx * pw - window_w / 2, 0), pw - window_w)
        top = min(max(cy * ph - window_h / 2, 0), ph - window_h)
        scale_x, scale_y = window_w / width, window_h / height
        # maps output pixel centres to picture coordinates
        matrix = np.array(
            [[scale_x, 0, left + 0.5 * scale_x - 0.5], [0, scale_y, top + 0.5 * scale_y - 0.5]], np.float64
        )
        out[i] = cv2.warpAffine(
            picture, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
        )
    return out


@PROCEDURAL.register("shape", kind="image")
def shape(params: Mapping, size: tuple[int, int]) -> np.ndarray:
    """A coloured shape on a plain light background (params: shape, color)."""
    width, height = size
    return draw_shape(size, params["shape"], params["color"], (width / 2, height / 2), 0.38 * min(width, height))


@PROCEDURAL.register("shape_motion", kind="video")
def shape_motion(params: Mapping, times: Sequence[Fraction], size: tuple[int, int]) -> np.ndarray:
    """A coloured shape gliding to and fro on a plain background (params: shape, color, start, end, duration).

    ``start`` and ``end`` are the shape's centre as fractions of the frame; one pass takes
    ``duration`` seconds, then it glides back, and so on.
    """
    width, height = size
    duration = Fraction(params["duration"])
    (x0, y0), (x1, y1) = params["start"], params["end"]
    out = np.empty((len(times), height, width, 3), np.uint8)
    for i, t in enumerate(times):
        p = float(max(t, 0) / duration % 2) if duration > 0 else 0.0
        p = 2 - p if p > 1 else p
        centre = ((x0 + (x1 - x0) * p) * width, (y0 + (y1 - y0) * p) * height)
        out[i] = draw_shape(size, params["shape"], params["color"], centre, 0.3 * min(width, height))
    return out


@PROCEDURAL.register("captioned_clip", kind="video")
def captioned_clip(params: Mapping, times: Sequence[Fraction], size: tuple[int, int]) -> np.ndarray:
    """A procedural video with a caption band over it (params: clip {name, params}, text, box).

    ``box`` is the band's ``[x, y, w, h]`` in fractions of the frame; the caption is drawn as
    subtitles are (translucent band, white text), over every frame.
    """
    from mmhay.media.captions import render_caption

    frames = render_video(params["clip"]["name"], params["clip"]["params"], times, size).astype(np.float32)
    width, height = size
    x, y, w, h = params["box"]
    left, top = min(max(0, round(x * width)), width - 1), min(max(0, round(y * height)), height - 1)
    w, h = max(1, min(width - left, round(w * width))), max(1, min(height - top, round(h * height)))
    rgb, alpha = render_caption(params["text"], (w, h))
    band = frames[:, top : top + h, left : left + w]
    frames[:, top : top + h, left : left + w] = band * (1 - alpha[..., None]) + rgb.astype(np.float32) * alpha[..., None]
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


@PROCEDURAL.register("crop", kind="image")
def crop(params: Mapping, size: tuple[int, int]) -> np.ndarray:
    """A region of a bundled photograph, scaled to ``size`` (params: picture, box [x, y, w, h] in fractions)."""
    import cv2

    picture = load_picture(bundled_picture_path(params["picture"]))
    height, width = picture.shape[:2]
    x, y, w, h = params["box"]
    left, top = int(x * width), int(y * height)
    right, bottom = max(left + 1, int((x + w) * width)), max(top + 1, int((y + h) * height))
    region = picture[top:bottom, left:right]
    shrinking = size[0] * size[1] < region.shape[0] * region.shape[1]
    return cv2.resize(region, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


@PROCEDURAL.register("plain", kind="image")
def plain(params: Mapping, size: tuple[int, int]) -> np.ndarray:
    """One colour over the whole picture (params: rgb, three values 0..255)."""
    width, height = size
    return np.broadcast_to(np.asarray(params["rgb"], np.uint8), (height, width, 3)).copy()


@PROCEDURAL.register("text_card", kind="image")
def text_card(params: Mapping, size: tuple[int, int]) -> np.ndarray:
    """White text on a dark full-frame card (params: text)."""
    from mmhay.media.captions import render_title_card

    return render_title_card(params["text"], size)


@PROCEDURAL.register("captioned", kind="image")
def captioned(params: Mapping, size: tuple[int, int]) -> np.ndarray:
    """A picture with a caption band under it (params: picture, a media reference's JSON of an image; caption).

    The picture keeps its aspect ratio within the space the band leaves (a multi-hop needle's
    pointer to the next needle is such a caption)."""
    from mmhay.media.captions import captioned_areas, render_captioned
    from mmhay.media.pictures import fit

    area, _ = captioned_areas(size)
    inner = params["picture"]
    if inner.get("schema") == "GeneratorRef.1":
        picture = fit(render_image(inner["name"], inner.get("params", {}), area), area)
    else:
        picture = fit(load_picture(inner["path"]), area)
    return render_captioned(picture, params["caption"], size)


def draw_shape(size: tuple[int, int], kind: str, color_name: str | tuple[int, int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    """A frame of ``size`` with one shape of ``radius`` pixels at ``centre``, drawn at 4x and reduced
    (``color_name`` one of ``COLORS``, or an RGB triple)."""
    import cv2

    width, height = size
    ss = 4
    canvas = np.empty((height * ss, width * ss, 3), np.uint8)
    canvas[:] = _SHAPE_BACKGROUND
    color = tuple(int(c) for c in (COLORS[color_name] if isinstance(color_name, str) else color_name))
    cx, cy, r = centre[0] * ss, centre[1] * ss, radius * ss

    def poly(points: list[tuple[float, float]]) -> None:
        pts = np.array([[cx + x * r, cy + y * r] for x, y in points], np.int32)
        cv2.fillPoly(canvas, [pts], color)

    if kind == "circle":
        cv2.circle(canvas, (int(cx), int(cy)), int(r), color, -1)
    elif kind == "square":
        poly([(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)])
    elif kind == "triangle":
        poly([(0, -1), (0.95, 0.75), (-0.95, 0.75)])
    elif kind == "star":
        poly([((1 if k % 2 == 0 else 0.42) * sin(k * pi / 5), -(1 if k % 2 == 0 else 0.42) * cos(k * pi / 5)) for k in range(10)])
    elif kind == "diamond":
        poly([(0, -1), (0.7, 0), (0, 1), (-0.7, 0)])
    elif kind == "cross":
        a, b = 0.3, 0.9
        poly([(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)])
    elif kind == "hexagon":
        poly([(0.95 * cos(k * pi / 3), 0.95 * sin(k * pi / 3)) for k in range(6)])
    elif kind == "heart":
        steps = [2 * pi * k / 96 for k in range(96)]
        poly([(16 * sin(s) ** 3 / 17, -(13 * cos(s) - 5 * cos(2 * s) - 2 * cos(3 * s) - cos(4 * s)) / 17 - 0.1) for s in steps])
    elif kind == "crescent":
        cv2.circle(canvas, (int(cx), int(cy)), int(r), color, -1)
        cv2.circle(canvas, (int(cx + 0.45 * r), int(cy - 0.2 * r)), int(0.85 * r), _SHAPE_BACKGROUND, -1)
    elif kind == "arrow":
        poly([(-0.9, -0.25), (0.2, -0.25), (0.2, -0.65), (0.95, 0), (0.2, 0.65), (0.2, 0.25), (-0.9, 0.25)])
    else:
        raise ValueError(f"unknown shape {kind!r}; known: {', '.join(SHAPES)}")
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
