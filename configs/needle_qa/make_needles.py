"""Writes the small needle pictures and clips shipped beside configs/vniah_qa.yaml and
configs/mlvu_needle.yaml, with mmhay's own procedural pictures and encoder (run from the
repository root: python configs/needle_qa/make_needles.py). The questions about them are in
pictures.csv and clips.json, written by hand.

Each picture is a large shape with a small shape of another colour in its top-left corner (the
detail a question asks); each clip a shape gliding once across the frame in one direction.
"""

from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from mmhay.media.encode import write_video
from mmhay.media.procedural import render_image, render_video

HERE = Path(__file__).parent
PICTURE = (160, 120)
CLIP = (96, 64)
CLIP_FPS = 8

# file: (large shape, its colour, corner shape, its colour)
PICTURES = {
    "star_card.png": ("star", "red", "circle", "blue"),
    "heart_card.png": ("heart", "pink", "square", "green"),
    "hexagon_card.png": ("hexagon", "cyan", "triangle", "orange"),
    "arrow_card.png": ("arrow", "purple", "diamond", "yellow"),
}

# file: (shape, colour, start, end) of one glide across the frame in 2 s
CLIPS = {
    "circle_glide.mp4": ("circle", "red", [0.2, 0.5], [0.8, 0.5]),
    "square_glide.mp4": ("square", "blue", [0.8, 0.5], [0.2, 0.5]),
    "triangle_glide.mp4": ("triangle", "green", [0.5, 0.25], [0.5, 0.75]),
    "cross_glide.mp4": ("cross", "orange", [0.5, 0.75], [0.5, 0.25]),
}


def picture(shape: str, color: str, corner: str, corner_color: str) -> np.ndarray:
    """A large ``shape`` with a small ``corner`` shape in the top-left corner."""
    width, height = PICTURE
    pixels = render_image("shape", {"shape": shape, "color": color}, PICTURE).copy()
    side = height * 2 // 5
    inset = render_image("shape", {"shape": corner, "color": corner_color}, (side, side))
    pixels[4 : 4 + side, 4 : 4 + side] = inset
    pixels[4 : 4 + side, 4 + side : 6 + side] = 90  # a thin border sets the corner apart
    pixels[4 + side : 6 + side, 4 : 6 + side] = 90
    return pixels


def main() -> None:
    (HERE / "pictures").mkdir(exist_ok=True)
    (HERE / "clips").mkdir(exist_ok=True)
    for name, params in PICTURES.items():
        Image.fromarray(picture(*params)).save(HERE / "pictures" / name, optimize=True)
    frames = 2 * CLIP_FPS
    times = [Fraction(k, CLIP_FPS) for k in range(frames)]
    for name, (shape, color, start, end) in CLIPS.items():
        params = {"shape": shape, "color": color, "start": start, "end": end, "duration": str(Fraction(frames - 1, CLIP_FPS))}
        pixels = render_video("shape_motion", params, times, CLIP)
        write_video(HERE / "clips" / name, pixels, rate=Fraction(CLIP_FPS), size=CLIP, crf=28)


if __name__ == "__main__":
    main()
