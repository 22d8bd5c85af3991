"""Pixel budgets as the Qwen-VL authors set them: ``min_pixels``, ``max_pixels``, ``total_pixels``.

Qwen-family checkpoints are run, in their authors' examples and in lmms-eval, through
qwen-vl-utils, which resizes every picture and video frame before the processor sees it. Its
rules (``qwen-vl-utils/src/qwen_vl_utils/vision_process.py`` of QwenLM/Qwen3-VL, package
version 0.0.14, commit 9658872; the same rules as 0.0.11 at commit 9bbccac for Qwen2.5-VL),
with ``factor`` the merged patch side (28 for Qwen2-VL and Qwen2.5-VL, 32 for Qwen3-VL):

- a picture: ``smart_resize(h, w, factor, min_pixels or 4 factor², max_pixels or 16384 factor²)``;
- a video of ``n`` frames: ``min_pixels`` or 128 factor²; a per-frame maximum of
  ``max(min(768 factor², total_pixels / n * 2), int(min_pixels * 1.05))``, with ``total_pixels``
  or 128000 * 0.9 factor² (its ``MODEL_SEQ_LEN`` context); a ``max_pixels`` given only lowers
  that maximum; every frame resized to ``smart_resize(h, w, factor, min_pixels, maximum)``.

A budget set in ``--model-args`` (or by ``--frames model``) is applied here, before the
processor, with qwen-vl-utils' own resampling (bicubic, antialiased), and the processor is told
not to resize again; without one the processor resizes by its own configuration, as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mmhay.errors import ConfigError

__all__ = ["PIXEL_OPTIONS", "PixelBudget", "budgeted_media", "checked_budget", "merged_patch", "parse_pixel_budget", "pixel_identity", "smart_resize", "video_frame_size", "image_size"]

PIXEL_OPTIONS = ("min_pixels", "max_pixels", "total_pixels")

# qwen-vl-utils' constants, in tokens of one merged patch (factor x factor pixels)
_IMAGE_MIN_TOKENS, _IMAGE_MAX_TOKENS = 4, 16384
_VIDEO_MIN_TOKENS, _VIDEO_MAX_TOKENS = 128, 768
_MODEL_SEQ_LEN = 128000
_FRAME_FACTOR = 2
_MAX_RATIO = 200


@dataclass(frozen=True)
class PixelBudget:
    """The pixel budget given (None: qwen-vl-utils' default for that value)."""

    min_pixels: int | None = None
    max_pixels: int | None = None
    total_pixels: int | None = None

    def identity(self) -> dict[str, Any]:
        """What the run records: the rule, and the values given."""
        given = {name: getattr(self, name) for name in PIXEL_OPTIONS if getattr(self, name) is not None}
        return {"rule": "qwen-vl-utils", **given}


def parse_pixel_budget(args: dict[str, Any]) -> PixelBudget | None:
    """Take ``min_pixels``, ``max_pixels``, ``total_pixels`` out of ``args`` (--model-args);
    None when none is given."""
    values: dict[str, int] = {}
    for name in PIXEL_OPTIONS:
        if name not in args:
            continue
        text = args.pop(name)
        try:
            values[name] = int(text)
        except ValueError:
            raise ConfigError("--model-args", name, "must be a whole number of pixels", text) from None
        if values[name] < 1:
            raise ConfigError("--model-args", name, "must be at least 1", text)
    if "min_pixels" in values and "max_pixels" in values and values["min_pixels"] > values["max_pixels"]:
        raise ConfigError("--model-args", "min_pixels", f"must not exceed max_pixels ({values['max_pixels']})", values["min_pixels"])
    return PixelBudget(**values) if values else None


def merged_patch(processor) -> int | None:
    """The side of one merged patch of a Qwen-family processor (patch x merge size), None for others."""
    part = getattr(processor, "video_processor", None) or getattr(processor, "image_processor", None)
    if part is None or not type(part).__name__.startswith("Qwen"):
        return None
    patch, merge = getattr(part, "patch_size", None), getattr(part, "merge_size", None)
    return patch * merge if patch and merge else None


def checked_budget(model):
    """``model`` (an hf model), refused where it has a pixel budget and is not Qwen-family: the
    budgets are qwen-vl-utils'."""
    budget, processor = model.settings.pixels, model.processor
    if budget is not None and merged_patch(processor) is None:
        given = next((name for name in PIXEL_OPTIONS if getattr(budget, name) is not None), "min_pixels")
        part = getattr(processor, "video_processor", None) or getattr(processor, "image_processor", None)
        raise ConfigError("--model-args", given, f"applies to Qwen-family processors (qwen-vl-utils' pixel budgets); this checkpoint's is {type(part).__name__}")
    return model


def pixel_identity(budget: PixelBudget | None) -> dict[str, Any]:
    """The run identity's entry for ``budget``: none without one, so other runs keep their keys."""
    return {} if budget is None else {"pixel_budget": budget.identity()}


def smart_resize(height: int, width: int, factor: int, min_pixels: float, max_pixels: float) -> tuple[int, int]:
    """qwen-vl-utils' ``smart_resize``: sides that are multiples of ``factor``, the pixels within
    [min_pixels, max_pixels], the aspect ratio kept as nearly as that allows."""
    if max(height, width) / min(height, width) > _MAX_RATIO:
        raise ConfigError("--model-args", "max_pixels", f"a {width}x{height} picture is too narrow for Qwen-VL (aspect ratio over {_MAX_RATIO})")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def video_frame_size(height: int, width: int, frames: int, factor: int, budget: PixelBudget) -> tuple[int, int]:
    """(height, width) qwen-vl-utils' ``fetch_video`` gives each of a video's ``frames``."""
    least = budget.min_pixels if budget.min_pixels is not None else _VIDEO_MIN_TOKENS * factor * factor
    total = budget.total_pixels if budget.total_pixels is not None else _MODEL_SEQ_LEN * factor * factor * 0.9
    most = max(min(_VIDEO_MAX_TOKENS * factor * factor, total / frames * _FRAME_FACTOR), int(least * 1.05))
    if budget.max_pixels is not None:
        most = min(budget.max_pixels, most)
    return smart_resize(height, width, factor, least, most)


def image_size(height: int, width: int, factor: int, budget: PixelBudget) -> tuple[int, int]:
    """(height, width) qwen-vl-utils' ``fetch_image`` gives a picture."""
    least = budget.min_pixels if budget.min_pixels is not None else _IMAGE_MIN_TOKENS * factor * factor
    most = budget.max_pixels if budget.max_pixels is not None else _IMAGE_MAX_TOKENS * factor * factor
    return smart_resize(height, width, factor, least, most)


def budgeted_media(processor, extra: dict[str, Any], budget: PixelBudget | None) -> dict[str, Any]:
    """The processor's media arguments ``extra`` (``videos``, ``images``) resized to ``budget``,
    and the processor told not to resize them again; ``extra`` as it was without a budget."""
    factor = merged_patch(processor)
    if budget is None or factor is None:
        return extra
    extra = dict(extra)
    if "videos" in extra:
        extra["videos"] = [_resized_video(video, factor, budget) for video in extra["videos"]]
        extra["videos_kwargs"] = {**extra.get("videos_kwargs", {}), "do_resize": False}
    if "images" in extra:
        extra["images"] = [[_resized_image(image, factor, budget) for image in row] for row in extra["images"]]
        extra["images_kwargs"] = {**extra.get("images_kwargs", {}), "do_resize": False}
    return extra


def _resized_video(frames, factor: int, budget: PixelBudget):
    """Frames [N, H, W, 3] uint8 resized as qwen-vl-utils does: a float tensor [N, 3, h, w]."""
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as tvf

    video = torch.as_tensor(frames).permute(0, 3, 1, 2)
    height, width = video.shape[-2:]
    size = video_frame_size(int(height), int(width), int(video.shape[0]), factor, budget)
    return tvf.resize(video, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True).float()


def _resized_image(image, factor: int, budget: PixelBudget):
    """A picture [H, W, 3] uint8 resized as qwen-vl-utils does (PIL, bicubic)."""
    import numpy as np
    from PIL import Image

    height, width = image.shape[:2]
    new_height, new_width = image_size(int(height), int(width), factor, budget)
    return np.array(Image.fromarray(np.ascontiguousarray(image)).resize((new_width, new_height), Image.Resampling.BICUBIC))
