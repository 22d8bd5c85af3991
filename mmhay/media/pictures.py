"""Still pictures: the photographs that ship inside installed packages, image files, and fitting to a frame."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from mmhay.errors import MediaError

__all__ = ["BUNDLED_PICTURES", "bundled_picture_path", "load_picture", "fit", "fitted_box"]

# Photographs and textures that scikit-image ships in its wheel (no download), by name.
BUNDLED_PICTURES = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "ihc",
    "moon",
    "motorcycle_left",
    "retina",
    "rocket",
)


def bundled_picture_path(name: str) -> Path:
    """Path of a bundled picture, found without importing scikit-image (which is slow to import)."""
    if name not in BUNDLED_PICTURES:
        raise MediaError(name, f"not a bundled picture; known: {', '.join(BUNDLED_PICTURES)}")
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise MediaError(name, "bundled pictures need scikit-image installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    for suffix in (".png", ".jpg"):
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    raise MediaError(folder / name, "bundled picture is missing from the scikit-image install")


@lru_cache(maxsize=64)
def load_picture(path: str | Path) -> np.ndarray:
    """An image file as uint8 ``[H, W, 3]`` RGB, upright (EXIF orientation applied). Cached; do not modify.

    Any mode is converted: grey, palette and CMYK to RGB, 16-bit samples scaled to 8 bits,
    transparency flattened onto white. Images over Pillow's decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS``) are refused before their pixels are decoded.
    """
    import warnings

    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            # the size is checked below, where it becomes a MediaError instead of a printed warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            width, height = image.size
            limit = Image.MAX_IMAGE_PIXELS
            if limit and width * height > limit:
                raise MediaError(path, f"is {width} x {height} pixels, over the decompression-bomb limit of {limit} (PIL.Image.MAX_IMAGE_PIXELS)")
            array = _rgb(ImageOps.exif_transpose(image))
    except MediaError:
        raise
    except Image.DecompressionBombError as error:
        raise MediaError(path, f"over the decompression-bomb limit ({error})") from None
    except Exception as error:
        raise MediaError(path, f"not a readable image ({type(error).__name__}: {error})") from None
    array.setflags(write=False)
    return array


def _rgb(image) -> np.ndarray:
    """uint8 RGB pixels of a Pillow image of any mode."""
    from PIL import Image

    if image.mode.startswith("I"):
        # 16-bit (and 32-bit integer) grey: Pillow's own conversion clips at 255 instead of scaling
        wide = np.asarray(image).astype(np.int64)
        bits = 16 if image.mode.startswith("I;16") or wide.max(initial=0) <= 65535 else 32
        grey = (np.clip(wide, 0, 2**bits - 1) >> (bits - 8)).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        # what is under a transparent pixel is arbitrary; show it as a page would, on white
        rgba = image.convert("RGBA")
        return np.asarray(Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def fitted_box(source: tuple[int, int], frame: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` of a ``source`` (w, h) scaled to fit inside ``frame`` (w, h), centred."""
    sw, sh = source
    fw, fh = frame
    scale = min(fw / sw, fh / sh)
    width = min(fw, max(1, round(sw * scale)))
    height = min(fh, max(1, round(sh * scale)))
    return (fw - width) // 2, (fh - height) // 2, width, height


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to fit inside ``size`` (w, h) with its aspect ratio kept, on black bars."""
    import cv2

    height, width = image.shape[:2]
    if (width, height) == tuple(size):
        return image
    x, y, w, h = fitted_box((width, height), size)
    interpolation = cv2.INTER_AREA if w * h < width * height else cv2.INTER_LINEAR
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    canvas[y : y + h, x : x + w] = cv2.resize(image, (w, h), interpolation=interpolation)
    return canvas
