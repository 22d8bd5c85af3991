"""Image haystacks: mosaics stitched from a grid of pictures, and galleries of images and text.

A ``Mosaic`` is one image made of ``rows`` x ``cols`` tiles, each a picture fitted to its cell
(the MMNeedle layout), with pictures ``pasted`` into boxes over it (MM-NIAH's image needles). A ``Gallery`` is the media of an image sample: a sequence of mosaics,
optionally interleaved with text. Both are recipes, rendered on demand, and round-trip through
JSON like compositions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

import numpy as np

from mmhay.timeline import MediaRef, ref_from_json

__all__ = ["Mosaic", "Paste", "Gallery", "render_tile", "document_text", "GALLERY_SCHEMA", "IMAGE_PLACEHOLDER"]

GALLERY_SCHEMA = "Gallery.1"
IMAGE_PLACEHOLDER = "<image>"  # an image's place in a document's text, as MM-NIAH's context writes it


def render_tile(ref: MediaRef, size: tuple[int, int]) -> np.ndarray:
    """A picture filling a cell of ``size`` (w, h): procedural pictures are drawn at that size,
    image files are scaled to cover the cell and centre-cropped (no bars inside a grid)."""
    import cv2

    from mmhay.media.pictures import load_picture
    from mmhay.media.procedural import render_image

    if not hasattr(ref, "path"):
        return render_image(ref.name, ref.params, size)
    picture = load_picture(ref.path)
    height, width = picture.shape[:2]
    scale = max(size[0] / width, size[1] / height)
    w, h = max(size[0], round(width * scale)), max(size[1], round(height * scale))
    resized = cv2.resize(picture, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x, y = (w - size[0]) // 2, (h - size[1]) // 2
    return np.ascontiguousarray(resized[y : y + size[1], x : x + size[0]])


@dataclass(frozen=True)
class Paste:
    """A picture filling ``box`` (x, y, width, height in pixels of the whole image), drawn over the tiles."""

    ref: MediaRef
    box: tuple[int, int, int, int]

    def to_json(self) -> dict:
        return {"ref": self.ref.to_json(), "box": list(self.box)}

    @classmethod
    def from_json(cls, data: Mapping) -> "Paste":
        return cls(ref_from_json(data["ref"]), tuple(int(v) for v in data["box"]))


@dataclass(frozen=True)
class Mosaic:
    """One image of ``rows`` x ``cols`` cells of ``cell`` (w, h) pixels; ``tiles`` in row-major
    order, then the ``pasted`` pictures in order."""

    tiles: tuple[MediaRef, ...]
    rows: int
    cols: int
    cell: tuple[int, int]
    pasted: tuple[Paste, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiles", tuple(self.tiles))
        object.__setattr__(self, "pasted", tuple(self.pasted))
        object.__setattr__(self, "cell", (int(self.cell[0]), int(self.cell[1])))
        if len(self.tiles) != self.rows * self.cols:
            raise ValueError(f"a {self.rows} x {self.cols} mosaic needs {self.rows * self.cols} tiles, not {len(self.tiles)}")

    @property
    def size(self) -> tuple[int, int]:
        return self.cols * self.cell[0], self.rows * self.cell[1]

    def render(self) -> np.ndarray:
        """The stitched image, uint8 ``[H, W, 3]``."""
        width, height = self.cell
        image = np.empty((self.rows * height, self.cols * width, 3), np.uint8)
        for k, ref in enumerate(self.tiles):
            row, col = divmod(k, self.cols)
            image[row * height : (row + 1) * height, col * width : (col + 1) * width] = render_tile(ref, self.cell)
        for paste in self.pasted:
            x, y, w, h = paste.box
            image[y : y + h, x : x + w] = render_tile(paste.ref, (w, h))
        return image

    def to_json(self) -> dict:
        data = {"schema": "Mosaic.1", "rows": self.rows, "cols": self.cols, "cell": list(self.cell), "tiles": [t.to_json() for t in self.tiles]}
        if self.pasted:  # mosaics without pastes write what they always wrote
            data["pasted"] = [p.to_json() for p in self.pasted]
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> "Mosaic":
        pasted = tuple(Paste.from_json(p) for p in data.get("pasted", ()))
        return cls(tuple(ref_from_json(t) for t in data["tiles"]), data["rows"], data["cols"], tuple(data["cell"]), pasted)


@dataclass(frozen=True)
class Gallery:
    """The media of an image sample: mosaics (and pictures) in order, with optional text between
    them. ``options`` are pictures that are a question's options (MM-NIAH's ``choices_image_path``),
    in option order: shown after the question, each at its letter, not among ``images``."""

    items: tuple[Union[Mosaic, str], ...]
    options: tuple[Mosaic, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        object.__setattr__(self, "options", tuple(self.options))

    @property
    def images(self) -> list[Mosaic]:
        return [item for item in self.items if isinstance(item, Mosaic)]

    def render(self) -> list[np.ndarray]:
        """Every image, in order."""
        return [mosaic.render() for mosaic in self.images]

    def render_options(self) -> list[np.ndarray]:
        """Every option picture, in option order."""
        return [mosaic.render() for mosaic in self.options]

    def to_json(self) -> dict:
        data = {"schema": GALLERY_SCHEMA, "items": [item if isinstance(item, str) else item.to_json() for item in self.items]}
        if self.options:  # galleries without option pictures write what they always wrote
            data["options"] = [option.to_json() for option in self.options]
        return data

    @classmethod
    def from_json(cls, data: Mapping | str) -> "Gallery":
        if isinstance(data, str):
            data = json.loads(data)
        if data.get("schema") != GALLERY_SCHEMA:
            raise ValueError(f"not a {GALLERY_SCHEMA}: {data.get('schema')!r}")
        options = tuple(Mosaic.from_json(option) for option in data.get("options", ()))
        return cls(tuple(item if isinstance(item, str) else Mosaic.from_json(item) for item in data["items"]), options)


def document_text(items) -> str:
    """A gallery's items as one string, MM-NIAH's ``context``: the texts in order, each image as
    ``IMAGE_PLACEHOLDER``. Depths over an image document are fractions of this string."""
    return "".join(item if isinstance(item, str) else IMAGE_PLACEHOLDER for item in items)
