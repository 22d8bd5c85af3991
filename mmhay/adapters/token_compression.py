"""Visual-token compression after the vision tower (``--compress``), for transformers video models.

The processor prepares the video as usual; the vision tower encodes it; mmhay's compressor
(``mmhay.compression``) reduces each video's ``[F, h, w, C]`` features; the prompt gets one
placeholder per kept token; generation starts from the compressed features (transformers'
``mm_encoder_outputs``), so the language model sees only them. Families:

* Qwen2-VL, Qwen2.5-VL and Qwen3-VL: features after the 2x2 patch merger, one grid per temporal
  patch (two frames). Qwen3-VL's deepstack features (one ``[F, h, w, C]`` grid per level) are
  compressed exactly as the main ones (``compress(..., carry=...)``), and its prompt keeps one
  placeholder run per temporal patch between the ``<t seconds>`` stamps: a kept token goes in the
  run of its origin's temporal patch, so a run may be left empty.
* LLaVA-OneVision: features after its own 2x2 bilinear pooling, plus the newline token it appends
  to each video (kept, after the kept tokens).
* LLaVA-NeXT-Video: features after its own 2x2 pooling (``vision_resampler``) and the projector,
  ``[F, side, side, C]`` (the tower's square patch grid halved), one placeholder run per video
  and no newline.
* InternVL and SmolVLM: each frame encoded alone (one tile: their processors neither tile nor
  split a video's frames), its features after the pixel shuffle (2x2 patches into one token's
  channels) and the projector, ``[F, side, side, C]`` row-major as the prompt holds them; the
  prompt keeps one placeholder run per frame between the processor's text (InternVL's
  ``FrameN: <img>...</img>``, SmolVLM's ``Frame from MM:SS:`` and image markers): a kept token
  goes in the run of its origin's frame, so a run may be left empty. Their tokens go back as the
  ``image`` output (they read a video as its frames' pictures).
* Gemma 3, for frame scales only (it takes frames as pictures, so ``--compress`` stays refused):
  each picture, resized by its processor to one size, becomes ``mm_tokens_per_image`` soft tokens
  (the projector's average pooling of the tower's patch grid), a square ``[side, side]`` grid
  row-major; one ``<start_of_image>`` run per picture, its ``token_type_ids`` (its bidirectional
  attention within a picture) resized with the runs.

Positions: the compressors that keep a frame grid (``spatial_pool``, ``temporal_pool``,
``dct_lowpass``) give the positions of the smaller video they make: on Qwen the compressed grid
is passed as the video's grid (Qwen2.5-VL's time step ``second_per_grid_ts`` multiplied by the
frames per kept grid frame, so ``temporal_pool:k`` steps k times as far), on the others (1-D
positions) the tokens sit at consecutive positions. Every other compressor (``evs_prune``, ``tome``, ...) gives
each kept token the position of its origin token in the uncompressed prompt and leaves the text
at its own (``mmhay.adapters.kept_positions``): M-RoPE ids from the model's ``get_rope_index`` on
Qwen, 1-D positions with gaps on the others (vLLM's EVS keeps the kept tokens' M-RoPE
positions too; where it differs, see ``mmhay.adapters.kept_positions``).

Without ``--compress``, the same path keeps a sampler's frame scales in video mode, and on Gemma 3
for frames as pictures (``keyclip``'s shrunk frames, ``Request.frame_scales``; a batch whose frames
are all whole does not take it): each shrunk frame's features are pooled to its scale
(``mmhay.adapters.frame_scales``), at their origins' positions. With ``--compress`` the
compressor alone sets the tokens, on the frames as shown.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmhay.errors import ConfigError

__all__ = ["FAMILIES", "check_family", "compressed_generation_inputs", "scales_apply"]

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava_onevision", "llava_next_video", "internvl", "smolvlm")
_GRID_KEEPING = ("spatial_pool", "temporal_pool", "dct_lowpass")


@dataclass(frozen=True)
class _Layout:
    """Where a family's visual tokens go back: its placeholder id (a config attribute), the key of
    ``mm_encoder_outputs`` it reads them from, and whether its prompt holds one placeholder run
    per frame (Qwen3-VL: per temporal patch) with text between, rather than one run a video."""

    token: str
    key: str = "video"
    per_frame: bool = False
    types: str = ""  # the input of per-token types resized with the runs and passed on ("" none)


_LAYOUTS = {
    "qwen2_vl": _Layout("video_token_id", types="mm_token_type_ids"),
    "qwen2_5_vl": _Layout("video_token_id", types="mm_token_type_ids"),
    "qwen3_vl": _Layout("video_token_id", per_frame=True, types="mm_token_type_ids"),
    "llava_onevision": _Layout("video_token_index"),
    "llava_next_video": _Layout("video_token_index"),
    "internvl": _Layout("image_token_id", "image", per_frame=True),
    "smolvlm": _Layout("image_token_id", "image", per_frame=True),
    "gemma3": _Layout("image_token_id", "image", per_frame=True, types="token_type_ids"),  # frames as pictures
}
_PICTURE_FAMILIES = ("gemma3",)  # frame scales kept for frames given as pictures; no --compress


@dataclass(frozen=True)
class _Video:
    """One video's features as a frame grid, and what goes back around it."""

    grid: Any  # [F, h, w, C]
    times: list[float]
    extra: Any = None  # LLaVA-OneVision's newline token [1, C]
    carry: tuple = ()  # Qwen3-VL's deepstack features, [F, h, w, C_i] per level


def check_family(model, spec: str) -> None:
    """Refuse ``spec`` for a model it cannot be applied to, before anything runs."""
    from mmhay.adapters.fastv import check_fastv, inside_llm
    from mmhay.compression import parse_compressor

    if inside_llm(spec):  # FastV prunes inside the language model (mmhay.adapters.fastv)
        return check_fastv(model, spec)
    family = model.config.model_type
    if family not in FAMILIES:
        raise ConfigError("--compress", "", f"token compression supports {', '.join(FAMILIES)}; this model is {family}", spec)
    if "mm_encoder_outputs" not in inspect.signature(model.forward).parameters:
        raise ConfigError("--compress", "", "needs a transformers release whose generate takes mm_encoder_outputs (5.2x or later)", spec)
    parse_compressor(spec)


def scales_apply(model, frame_scales: Sequence[Sequence[float]], kind: str = "video") -> bool:
    """Whether a batch's frame scales are kept by pooling after the vision tower: some frame was
    planned smaller, and the model is of a family this module serves for frames of that ``kind``
    (``video``: ``FAMILIES``; ``frames``, frames as pictures: Gemma 3, whose encoder resizes
    every picture to one size, so a smaller picture would cost a whole one's tokens)
    (``mmhay.adapters.frame_scales``)."""
    from mmhay.adapters.frame_scales import shrinks_frames

    families = {"video": FAMILIES, "frames": _PICTURE_FAMILIES}.get(kind, ())
    supported = model.config.model_type in families and "mm_encoder_outputs" in inspect.signature(model.forward).parameters
    return supported and shrinks_frames(frame_scales)


def compressed_generation_inputs(
    model, inputs: dict, spec: str, frame_times: Sequence[Sequence[float]], frame_scales: Sequence[Sequence[float]] = ()
) -> tuple[dict, list[int], list[dict]]:
    """``generate`` keyword arguments that start from compressed video features, the visual
    tokens each row kept, and each row's provenance as ``mmhay.exposure.Given.tokens`` (the grid
    compressed, frames per grid frame, each kept token's source frames and cells). ``inputs`` is
    the processor's output for a batch of videos, one a row. Without a compressor ``spec``, each
    row's frames are pooled to its ``frame_scales`` (``mmhay.adapters.frame_scales``); with one,
    the compressor alone sets the tokens."""
    import torch

    from mmhay.adapters.fastv import fastv_generation_inputs, inside_llm
    from mmhay.adapters.frame_scales import patch_scales, pooled_to_scales
    from mmhay.adapters.kept_positions import origin_position_ids, with_placeholder_runs
    from mmhay.adapters.tower_attention import compressor_inputs
    from mmhay.compression import compress, parse_compressor

    if inside_llm(spec):  # nothing to compress before the language model: it prunes inside (mmhay.adapters.fastv)
        return fastv_generation_inputs(model, inputs, spec, frame_times)
    family = model.config.model_type
    layout = _LAYOUTS[family]
    qwen = family.startswith("qwen")
    step = model.config.vision_config.temporal_patch_size if qwen else 1
    with torch.inference_mode():
        videos, output = _READERS.get(family, _llava_videos)(model, inputs, frame_times)
        if spec:
            extras = compressor_inputs(model, inputs, spec)  # the tower's attention, for the compressors that need it
            kept = [compress(spec, video.grid, video.times, carry=video.carry, **extra) for video, extra in zip(videos, extras)]
        else:
            scales = [patch_scales(list(s), v.grid.shape[0], step) for s, v in zip(list(frame_scales) + [()] * len(videos), videos)]
            kept = [pooled_to_scales(v.grid, v.times, s, carry=v.carry) for v, s in zip(videos, scales)]
    if layout.per_frame:
        kept = [_by_temporal_patch(k, v) for k, v in zip(kept, videos)]
    token = getattr(model.config, layout.token)
    counts = [len(k) + (0 if v.extra is None else len(v.extra)) for k, v in zip(kept, videos)]
    runs = [_run_lengths(k, v) if layout.per_frame else [n] for k, v, n in zip(kept, videos, counts)]
    ids, mask, types = with_placeholder_runs(inputs, token, runs, model.generation_config.pad_token_id or 0, layout.types or "mm_token_type_ids")
    kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
    if layout.types:
        kwargs[layout.types] = types
    if qwen:
        pooled = tuple(k.tokens for k in kept)
    else:
        pooled = torch.cat([k.tokens if v.extra is None else torch.cat([k.tokens, v.extra]) for k, v in zip(kept, videos)])[None]
    if not spec or parse_compressor(spec)[0] not in _GRID_KEEPING:
        origins = [k.origins if v.extra is None else torch.cat([k.origins, _after(v, k.origins.device)]) for k, v in zip(kept, videos)]
        kwargs["position_ids"] = origin_position_ids(model, inputs, token, ids, mask, origins)
    elif qwen:
        kwargs["video_grid_thw"] = torch.tensor([_qwen_grid(k) for k in kept], dtype=torch.long, device=ids.device)
        if "second_per_grid_ts" in inputs:  # a kept grid frame spans as many temporal patches as its first group
            spans = torch.tensor([int(k.frames[0, 1] - k.frames[0, 0]) for k in kept], device=ids.device)
            kwargs["second_per_grid_ts"] = inputs["second_per_grid_ts"] * spans
    deepstack = {"deepstack_features": [tuple(k.carried[i] for k in kept) for i in range(len(videos[0].carry))]} if videos[0].carry else {}
    kwargs["mm_encoder_outputs"] = {layout.key: output(pooler_output=pooled, **deepstack)}
    provenance = [
        {"grid": list(v.grid.shape[:3]), "step": int(step), "kept": torch.cat([k.frames, k.boxes], 1).tolist()} for k, v in zip(kept, videos)
    ]
    return kwargs, counts, provenance


def _qwen_videos(model, inputs: dict, frame_times) -> tuple[list[_Video], Any]:
    """Each video's merged features per temporal patch (and Qwen3-VL's deepstack levels), and the
    class of the vision tower's output, to hand the compressed features back in."""
    grids = inputs["video_grid_thw"]
    encoded = model.model.get_video_features(pixel_values_videos=inputs["pixel_values_videos"], video_grid_thw=grids, return_dict=True)
    merge = model.model.visual.spatial_merge_size
    step = model.config.vision_config.temporal_patch_size  # frames per grid (the processor repeats the last to fill one)
    levels = getattr(encoded, "deepstack_features", None) or []
    videos = []
    for i, (features, (t, h, w), times) in enumerate(zip(encoded.pooler_output, grids.tolist(), frame_times)):
        padded = list(times) + [times[-1]] * (t * step - len(times))
        patch_times = [sum(padded[j * step : (j + 1) * step]) / step for j in range(t)]
        shape = (t, h // merge, w // merge, -1)
        videos.append(_Video(features.view(shape), patch_times, carry=tuple(level[i].view(shape) for level in levels)))
    return videos, type(encoded)


def _qwen_grid(kept) -> list[int]:
    """The (t, h, w) patch grid whose merged tokens are the kept ones, row-major per frame group."""
    groups = int(kept.frames[:, 0].unique().numel())
    per = len(kept) // groups
    rows = int(kept.boxes[:per, 0].unique().numel())
    return [groups, 2 * rows, 2 * (per // rows)]


def _by_temporal_patch(kept, video: _Video):
    """``kept`` reordered (stably) by the temporal patch of each token's origin: Qwen3-VL's prompt
    shows each temporal patch's tokens in its own run."""
    import dataclasses

    import torch

    patch = kept.origins // (video.grid.shape[1] * video.grid.shape[2])
    order = torch.argsort(patch, stable=True)
    if torch.equal(order, torch.arange(len(order), device=order.device)):
        return kept
    index = order.to(kept.tokens.device)
    fields = {name: getattr(kept, name)[order] for name in ("frames", "boxes", "sizes", "times", "origins")}
    return dataclasses.replace(kept, tokens=kept.tokens[index], carried=tuple(c[index] for c in kept.carried), **fields)


def _after(video: _Video, device):
    """The indices of the tokens the family appends after a video's grid (LLaVA-OneVision's newline)."""
    import torch

    cells = video.grid.shape[:3].numel()
    return torch.arange(cells, cells + len(video.extra), device=device)


def _run_lengths(kept, video: _Video) -> list[int]:
    """Kept tokens per temporal patch (Qwen3-VL's placeholder runs)."""
    import torch

    patch = kept.origins // (video.grid.shape[1] * video.grid.shape[2])
    return torch.bincount(patch, minlength=video.grid.shape[0]).tolist()


def _llava_videos(model, inputs: dict, frame_times) -> tuple[list[_Video], Any]:
    """Each video's pooled features per frame (and LLaVA-OneVision's newline), and the class of
    the vision tower's output."""
    config = model.config
    encoded = model.model.get_video_features(
        pixel_values_videos=inputs["pixel_values_videos"],
        vision_feature_layer=config.vision_feature_layer,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        return_dict=True,
    )
    newline = int(config.model_type == "llava_onevision")  # LLaVA-NeXT-Video appends none to a video
    videos = []
    for features, times in zip(encoded.pooler_output, frame_times):
        frames = len(times)
        side = round(((features.shape[0] - newline) // frames) ** 0.5)
        grid = features[: features.shape[0] - newline].view(frames, side, side, -1)
        videos.append(_Video(grid, list(times), features[-1:] if newline else None))
    return videos, type(encoded)


def _internvl_videos(model, inputs: dict, frame_times) -> tuple[list[_Video], Any]:
    """Each video's features per frame after InternVL's pixel shuffle (2x2 patches into one
    token's channels, ``downsample_ratio`` 0.5) and projector: ``[F, side, side, C]`` row-major as
    the prompt holds them. The processor gives a video's frames to the tower as one tile each (no
    tiling for videos), its rows' frames one after another in ``pixel_values``."""
    config = model.config
    frames = [len(times) for times in frame_times]
    if len(inputs["pixel_values"]) != sum(frames):
        raise ValueError(f"{len(inputs['pixel_values'])} tiles for {sum(frames)} frames: a video's frames are expected as one tile each")
    encoded = model.model.get_image_features(
        pixel_values=inputs["pixel_values"],
        vision_feature_layer=config.vision_feature_layer,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        return_dict=True,
    )
    per_row = encoded.pooler_output.split(frames)
    return [_square_frames(features, times) for features, times in zip(per_row, frame_times)], type(encoded)


def _smolvlm_videos(model, inputs: dict, frame_times) -> tuple[list[_Video], Any]:
    """Each video's features per frame after SmolVLM's connector (a pixel shuffle by
    ``scale_factor`` and the projection): ``[F, side, side, C]`` row-major as the prompt holds
    them. The video processor gives each frame to the tower whole (no splitting for videos)."""
    encoded = model.model.get_image_features(inputs["pixel_values"], inputs.get("pixel_attention_mask"), return_dict=True)
    return [_square_frames(features, times) for features, times in zip(encoded.pooler_output, frame_times)], type(encoded)


def _square_frames(features, times) -> _Video:
    """A video's tokens ``[F * side * side, C]`` (or ``[F, side * side, C]``) as its frame grid."""
    frames = len(times)
    side = round((features.numel() // features.shape[-1] // frames) ** 0.5)
    if frames * side * side * features.shape[-1] != features.numel():  # SmolVLM drops all-zero frames as padding
        raise ValueError(f"{frames} frames, but {features.numel() // features.shape[-1]} visual tokens are not a square grid each")
    return _Video(features.reshape(frames, side, side, -1), list(times))


def _gemma3_pictures(model, inputs: dict, frame_times) -> tuple[list[_Video], Any]:
    """Each request's frames, given as pictures, as Gemma 3's soft tokens: its projector averages
    the tower's patch grid of every picture (resized to one size) into ``mm_tokens_per_image``
    tokens, a square grid row-major as the prompt holds them (one ``<start_of_image>`` run each)."""
    frames = [len(times) for times in frame_times]
    if len(inputs["pixel_values"]) != sum(frames):
        raise ValueError(f"{len(inputs['pixel_values'])} pictures for {sum(frames)} frames: pan and scan crops are not pooled to frame scales")
    encoded = model.model.get_image_features(inputs["pixel_values"], return_dict=True)
    per_row = encoded.pooler_output.split(frames)
    return [_square_frames(features, times) for features, times in zip(per_row, frame_times)], type(encoded)


_READERS = {
    "qwen2_vl": _qwen_videos,
    "qwen2_5_vl": _qwen_videos,
    "qwen3_vl": _qwen_videos,
    "internvl": _internvl_videos,
    "smolvlm": _smolvlm_videos,
    "gemma3": _gemma3_pictures,
}
