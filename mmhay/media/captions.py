"""Text drawn onto frames: subtitle captions (with an alpha mask), full-frame title cards, and
pictures with a caption band under them.

Uses the FreeType font that ships inside Pillow, so the same text gives the same pixels on every
machine with the same Pillow.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["render_caption", "render_title_card", "font", "text_height", "captioned_areas", "render_captioned"]

CAPTION_SHARE = 0.22  # of a captioned picture's height, taken by its caption band


@lru_cache(maxsize=32)
def font(size: int):
    """Pillow's built-in FreeType font at ``size`` pixels."""
    from PIL import ImageFont

    return ImageFont.load_default(size=max(6, size))


def _fitted_font(text: str, width: int, height: int, lines: int = 1):
    """The largest font at which ``text`` fits in ``width`` x ``height`` on at most ``lines`` lines."""
    size = max(6, int(height / (lines * 1.35)))
    while size > 6:
        left, top, right, bottom = font(size).getbbox(text)
        if right - left <= width:
            break
        size -= 1
    return font(size)


def render_caption(text: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A subtitle: white text with a dark outline on a translucent band, as RGB and alpha (0..1).

    ``size`` is the (width, height) of the band; the text is centred and sized to fit it.
    """
    from PIL import Image, ImageDraw

    width, height = size
    band = Image.new("RGBA", (width, height), (16, 16, 16, 170))
    draw = ImageDraw.Draw(band)
    font = _fitted_font(text, int(width * 0.94), height)
    stroke = max(1, font.size // 12)
    draw.text((width / 2, height / 2), text, font=font, fill=(255, 255, 255, 255), anchor="mm", stroke_width=stroke, stroke_fill=(0, 0, 0, 255))
    rgba = np.asarray(band)
    return np.ascontiguousarray(rgba[..., :3]), rgba[..., 3].astype(np.float32) / 255.0


def captioned_areas(size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The (width, height) of the picture and of the caption band under it, in a frame of ``size``."""
    width, height = size
    band = max(1, min(height - 1, round(height * CAPTION_SHARE)))
    return (width, height - band), (width, band)


def render_captioned(picture: np.ndarray, text: str, size: tuple[int, int]) -> np.ndarray:
    """One frame of ``size``: ``picture`` (already at the first of ``captioned_areas``) above a
    subtitle band saying ``text``, the band laid on black."""
    upper, lower = captioned_areas(size)
    if picture.shape[1::-1] != upper:
        raise ValueError(f"the picture is {picture.shape[1::-1]}, not the {upper} the caption leaves")
    rgb, alpha = render_caption(text, lower)
    band = np.rint(rgb.astype(np.float32) * alpha[..., None]).astype(np.uint8)
    return np.concatenate([picture, band], axis=0)


def _card_lines(text: str) -> list[str]:
    """A title card's lines: the words wrapped onto up to three lines."""
    words, lines = text.split(), []
    per_line = max(1, -(-len(words) // 3)) if len(text) > 24 else len(words)
    for start in range(0, len(words), per_line):
        lines.append(" ".join(words[start : start + per_line]))
    return lines


def render_title_card(text: str, size: tuple[int, int]) -> np.ndarray:
    """A full frame of white text on a dark background, wrapped onto up to three lines."""
    from PIL import Image, ImageDraw

    width, height = size
    card = Image.new("RGB", (width, height), (24, 28, 36))
    lines = _card_lines(text)
    font = _fitted_font(max(lines, key=len), int(width * 0.86), int(height * 0.5), len(lines))
    draw = ImageDraw.Draw(card)
    draw.multiline_text((width / 2, height / 2), "\n".join(lines), font=font, fill=(245, 245, 245), anchor="mm", align="center", spacing=font.size // 3)
    return np.asarray(card).copy()


@lru_cache(maxsize=256)
def text_height(text: str, size: tuple[int, int], *, card: bool) -> int:
    """The height in pixels of ``text``'s glyphs as drawn in a band of ``size`` (a caption) or on
    a full frame of ``size`` (``card``): what a reader has to make out."""
    width, height = size
    if not card:
        left, top, right, bottom = _fitted_font(text, int(width * 0.94), height).getbbox(text)
        return int(bottom - top)
    lines = _card_lines(text)
    fitted = _fitted_font(max(lines, key=len), int(width * 0.86), int(height * 0.5), len(lines))
    # one line's glyphs: capitals and descenders of the tallest line
    return max(int(fitted.getbbox(line)[3] - fitted.getbbox(line)[1]) for line in lines)
