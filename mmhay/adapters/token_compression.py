"""Visual-token compression after the vision tower (``--compress``), for transformers video models.

The processor prepares the video as usual; the vision tower encodes it; mmhay's compressor
(``mmhay.compression``) reduces each video's ``[F, h, w, C]`` features; the prompt gets one
placeholder per kept token; generation starts from the compressed features (transformers'
``mm_encoder_outputs``), so the language model sees only them. Families:

* Qwen2-VL and Qwen2.5-VL: features after the 2x2 patch merger, one grid per temporal patch (two
  frames). Their 3-D rotary positions need a grid, so only compressors that keep one
  (``spatial_pool``, ``temporal_pool``, ``dct_lowpass``) apply; the compressed grid is passed as
  the video's grid, which gives the kept tokens the positions of a smaller video.
* LLaVA-OneVision: features after its own 2x2 bilinear pooling, plus the newline token it appends
  to each video (kept). One-dimensional positions: every compressor applies.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmhay.errors import ConfigError

__all__ = ["FAMILIES", "check_family", "compressed_generation_inputs"]

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "llava_onevision")
_GRID_KEEPING = ("spatial_pool", "temporal_pool", "dct_lowpass")


@dataclass(frozen=True)
class _Video:
    """One video's features as a frame grid, and what goes back around it."""

    grid: Any  # [F, h, w, C]
    times: list[float]
    extra: Any = None  # LLaVA-OneVision's newline token [1, C]


def check_family(model, spec: str) -> None:
    """Refuse ``spec`` for a model it cannot be applied to, before anything runs."""
    from mmhay.compression import parse_compressor

    family = model.config.model_type
    if family not in FAMILIES:
        raise ConfigError("--compress", "", f"token compression supports {', '.join(FAMILIES)}; this model is {family}", spec)
    if "mm_encoder_outputs" not in inspect.signature(model.forward).parameters:
        raise ConfigError("--compress", "", "needs a transformers release whose generate takes mm_encoder_outputs (5.2x or later)", spec)
    name, _ = parse_compressor(spec)
    if family.startswith("qwen") and name not in _GRID_KEEPING:
        raise ConfigError("--compress", "", f"Qwen-VL positions need a frame grid: use {', '.join(_GRID_KEEPING)}", spec)


def compressed_generation_inputs(model, inputs: dict, spec: str, frame_times: Sequence[Sequence[float]]) -> tuple[dict, list[int], list[dict]]:
    """``generate`` keyword arguments that start from compressed video features, the visual
    tokens each row kept, and each row's provenance as ``mmhay.exposure.Given.tokens`` (the grid
    compressed, frames per grid frame, each kept token's source frames and cells). ``inputs`` is
    the processor's output for a batch of videos, one a row."""
    import torch
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    from mmhay.adapters.tower_attention import compressor_inputs
    from mmhay.compression import compress

    family = model.config.model_type
    with torch.inference_mode():
        videos = _qwen_videos(model, inputs, frame_times) if family.startswith("qwen") else _llava_videos(model, inputs, frame_times)
        kept = [compress(spec, video.grid, video.times, **extra) for video, extra in zip(videos, compressor_inputs(model, inputs, spec))]
    token = model.config.video_token_id if family.startswith("qwen") else model.config.video_token_index
    counts = [len(k) + (0 if v.extra is None else len(v.extra)) for k, v in zip(kept, videos)]
    ids, mask, types = _with_placeholders(inputs, token, counts, model.generation_config.pad_token_id or 0)
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
    if family.startswith("qwen"):
        kwargs["mm_token_type_ids"] = types
        kwargs["video_grid_thw"] = torch.tensor([_qwen_grid(k, v) for k, v in zip(kept, videos)], dtype=torch.long, device=ids.device)
        pooled = tuple(k.tokens for k in kept)
    else:
        pooled = torch.cat([torch.cat([k.tokens, v.extra]) for k, v in zip(kept, videos)])[None]
    kwargs["mm_encoder_outputs"] = {"video": BaseModelOutputWithPooling(pooler_output=pooled)}
    step = model.config.vision_config.temporal_patch_size if family.startswith("qwen") else 1
    provenance = [
        {"grid": list(v.grid.shape[:3]), "step": int(step), "kept": torch.cat([k.frames, k.boxes], 1).tolist()} for k, v in zip(kept, videos)
    ]
    return kwargs, counts, provenance


def _qwen_videos(model, inputs: dict, frame_times) -> list[_Video]:
    grids = inputs["video_grid_thw"]
    encoded = model.model.get_video_features(pixel_values_videos=inputs["pixel_values_videos"], video_grid_thw=grids, return_dict=True)
    merge = model.model.visual.spatial_merge_size
    step = model.config.vision_config.temporal_patch_size  # frames per grid (the processor repeats the last to fill one)
    videos = []
    for features, (t, h, w), times in zip(encoded.pooler_output, grids.tolist(), frame_times):
        padded = list(times) + [times[-1]] * (t * step - len(times))
        patch_times = [sum(padded[i * step : (i + 1) * step]) / step for i in range(t)]
        videos.append(_Video(features.view(t, h // merge, w // merge, -1), patch_times))
    return videos


def _qwen_grid(kept, video: _Video) -> list[int]:
    """The (t, h, w) patch grid whose merged tokens are the kept ones, row-major per frame group."""
    groups = int(kept.frames[:, 0].unique().numel())
    per = len(kept) // groups
    rows = int(kept.boxes[:per, 0].unique().numel())
    return [groups, 2 * rows, 2 * (per // rows)]


def _llava_videos(model, inputs: dict, frame_times) -> list[_Video]:
    config = model.config
    encoded = model.model.get_video_features(
        pixel_values_videos=inputs["pixel_values_videos"],
        vision_feature_layer=config.vision_feature_layer,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        return_dict=True,
    )
    videos = []
    for features, times in zip(encoded.pooler_output, frame_times):
        frames = len(times)
        side = round(((features.shape[0] - 1) // frames) ** 0.5)
        videos.append(_Video(features[:-1].view(frames, side, side, -1), list(times), features[-1:]))
    return videos


def _with_placeholders(inputs: dict, token: int, counts: Sequence[int], pad: int):
    """input_ids, attention_mask and mm_token_type_ids with each row's run of video placeholders
    resized to ``counts[row]``, padded on the left again."""
    import torch

    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    types = inputs.get("mm_token_type_ids")
    rows = []
    for row in range(ids.shape[0]):
        keep = mask[row].bool()
        row_ids = ids[row][keep]
        row_types = types[row][keep] if types is not None else torch.zeros_like(row_ids)
        where = (row_ids == token).nonzero().flatten()
        start, end = int(where[0]), int(where[-1]) + 1
        fill = torch.full((counts[row],), token, dtype=ids.dtype, device=ids.device)
        kind = torch.full((counts[row],), int(row_types[start]), dtype=row_types.dtype, device=ids.device)
        rows.append((torch.cat([row_ids[:start], fill, row_ids[end:]]), torch.cat([row_types[:start], kind, row_types[end:]])))
    width = max(len(r) for r, _ in rows)
    new_ids = torch.full((len(rows), width), pad, dtype=ids.dtype, device=ids.device)
    new_mask = torch.zeros((len(rows), width), dtype=mask.dtype, device=ids.device)
    new_types = torch.zeros((len(rows), width), dtype=rows[0][1].dtype, device=ids.device)
    for i, (row_ids, row_types) in enumerate(rows):
        new_ids[i, width - len(row_ids) :] = row_ids
        new_mask[i, width - len(row_ids) :] = 1
        new_types[i, width - len(row_ids) :] = row_types
    return new_ids, new_mask, new_types
