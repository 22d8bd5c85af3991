"""The attention each patch receives inside a video model's vision tower, and the keys there, on the
grid that ``--compress`` gives its compressor (what ``visionzip`` needs).

Captured by a forward pre-hook on the attention module of the layer the model takes its features
from: the hook reads that module's input and computes ``softmax(q k^T * scale)`` in float32 from the
module's own projections, so the model's forward runs as it would without it (any attention
implementation), and the hook is removed afterwards. The tower runs once more for this, under no_grad.

* LLaVA-OneVision (SigLIP, no CLS token): the layer whose output is ``hidden_states[vision_feature_layer]``.
  The features are pooled 2x2 bilinearly (ceil) after the projector, so the attention map and the
  keys are pooled the same way (``interpolate(..., mode="bilinear")``): a pooled cell's attention
  is the interpolation-weighted mean of its patches'.
* Qwen2-VL / Qwen2.5-VL: the last block (a full-attention block in Qwen2.5-VL: its window blocks
  attend within windows only); queries and keys after the block's rotary embedding, attention
  within each temporal patch. A merged token's attention is the sum over its 2x2 patches, its key
  their mean; Qwen2.5-VL's window order is undone as its merger output is.
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmhay.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["TowerAttention", "compressor_inputs", "received_attention", "tower_attention"]

# Attention weights computed per chunk of at most this many floats (one chunk: 256 MiB).
_CHUNK_FLOATS = 1 << 26


@dataclass(frozen=True)
class TowerAttention:
    """One video's attention received and keys, on the compressor's grid (float32, on the model's device)."""

    attention: torch.Tensor  # [F, h, w]: attention each token receives, mean over heads and queries
    keys: torch.Tensor  # [F, h, w, D]: the layer's keys, mean over heads


def tower_attention(model, inputs: dict) -> list[TowerAttention]:
    """Per video of the processor's ``inputs`` (one a row), the attention each token of the
    compressor's grid receives in the vision tower, and the keys there."""
    family = model.config.model_type
    if family == "llava_onevision":
        return _llava_onevision(model, inputs)
    if family in ("qwen2_vl", "qwen2_5_vl"):
        return _qwen(model, inputs)
    raise ConfigError("--compress", "", f"the vision tower's attention is captured for llava_onevision, qwen2_vl and qwen2_5_vl; this model is {family}")


def compressor_inputs(model, inputs: dict, spec: str) -> list[dict]:
    """Per video of ``inputs``, the keyword arguments of ``mmhay.compression.compress`` that the
    compressor of ``spec`` takes from the tower (``attention``, ``keys``); empty dicts, and no
    tower pass, for the compressors that take none."""
    from mmhay.compression import COMPRESSORS, parse_compressor

    meta = COMPRESSORS.get(parse_compressor(spec)[0]).meta
    if not {*meta.get("needs", ()), *meta.get("takes", ())} & {"attention", "keys"}:
        return [{} for _ in range(len(inputs["input_ids"]))]  # one video a row
    return [{"attention": video.attention, "keys": video.keys} for video in tower_attention(model, inputs)]


def received_attention(query: torch.Tensor, key: torch.Tensor, scaling: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """[B, N] float32: the mean over heads and queries of ``softmax(query key^T * scaling + mask)``
    for query, key [B, H, N, d], in chunks of the batch."""
    import torch

    batch, heads, n, _ = query.shape
    step = max(1, _CHUNK_FLOATS // (heads * n * n))
    parts = []
    for start in range(0, batch, step):
        logits = query[start : start + step].float() @ key[start : start + step].float().transpose(-1, -2) * scaling
        if mask is not None:
            logits = logits + mask[start : start + step].float()
        parts.append(logits.softmax(-1).mean((1, 2)))
    return torch.cat(parts)


def _llava_onevision(model, inputs: dict) -> list[TowerAttention]:
    import torch
    import torch.nn.functional as nnf

    base, config = getattr(model, "model", model), model.config
    tower = base.vision_tower
    layers = _encoder_layers(tower)
    layer = config.vision_feature_layer
    if not isinstance(layer, int):
        raise ConfigError("--compress", "", "the tower's attention needs one vision_feature_layer, not a list", layer)
    index = layer % (len(layers) + 1)  # hidden_states[0] is the embeddings, [i] the output of layer i - 1
    if index == 0:
        raise ConfigError("--compress", "", "the features are the tower's embeddings, which no attention layer made", layer)
    pixels = inputs["pixel_values_videos"]
    batch, frames = pixels.shape[:2]
    found: dict = {}

    def record(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        mask = args[1] if len(args) > 1 else kwargs.get("attention_mask")
        shape = (*hidden.shape[:-1], -1, module.head_dim)
        query, key = (projection(hidden).view(shape).transpose(1, 2) for projection in (module.q_proj, module.k_proj))
        found["attention"] = received_attention(query, key, module.scale, mask)
        found["keys"] = key.float().mean(1)

    with torch.no_grad(), _pre_hook(layers[index - 1].self_attn, record):
        tower(pixels.reshape(batch * frames, *pixels.shape[2:]).to(tower.dtype), return_dict=True)
    attention, keys = found["attention"], found["keys"]
    if config.vision_feature_select_strategy == "default":  # the features drop the first token
        attention, keys = attention[:, 1:], keys[:, 1:]
    side = config.vision_config.image_size // config.vision_config.patch_size
    pooled = [math.ceil(side / 2)] * 2  # as LlavaOnevisionModel.apply_pooling
    attention = nnf.interpolate(attention.view(-1, 1, side, side), size=pooled, mode="bilinear")[:, 0]
    keys = nnf.interpolate(keys.view(-1, side, side, keys.shape[-1]).permute(0, 3, 1, 2), size=pooled, mode="bilinear").permute(0, 2, 3, 1)
    return [TowerAttention(a, k) for a, k in zip(attention.view(batch, frames, *pooled), keys.reshape(batch, frames, *pooled, -1))]


def _qwen(model, inputs: dict) -> list[TowerAttention]:
    import torch

    base = getattr(model, "model", model)
    visual = base.visual
    block = len(visual.blocks) - 1
    full = getattr(visual, "fullatt_block_indexes", None)
    if full is not None and block not in full:
        raise ConfigError("--compress", "", f"the tower's last block {block} attends within windows only", full)
    grids = inputs["video_grid_thw"]
    found: dict = {}
    rotary = sys.modules[type(visual.blocks[block].attn).__module__].apply_rotary_pos_emb_vision

    def record(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        cu_seqlens = kwargs["cu_seqlens"] if "cu_seqlens" in kwargs else args[1]
        cos, sin = kwargs["position_embeddings"]
        seq = hidden.shape[0]
        query, key, _ = module.qkv(hidden).reshape(seq, 3, module.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        query, key = rotary(query, key, cos, sin)
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
        received = [
            received_attention(q.transpose(0, 1)[None], k.transpose(0, 1)[None], module.scaling)[0]
            for q, k in zip(torch.split(query, lengths), torch.split(key, lengths))
        ]
        found["attention"], found["keys"] = torch.cat(received), key.float().mean(1)

    with torch.no_grad(), _pre_hook(visual.blocks[block].attn, record):
        visual(inputs["pixel_values_videos"].to(visual.dtype), grid_thw=grids)
    unit = visual.spatial_merge_size**2  # a merged token's patches are consecutive
    attention = found["attention"].view(-1, unit).sum(-1)
    keys = found["keys"].view(-1, unit, found["keys"].shape[-1]).mean(1)
    if full is not None:  # Qwen2.5-VL runs its blocks in window order
        back = torch.argsort(_window_index(visual, grids).to(attention.device))
        attention, keys = attention[back], keys[back]
    merge = visual.spatial_merge_size
    shapes = [(t, h // merge, w // merge) for t, h, w in grids.tolist()]
    counts = [t * h * w for t, h, w in shapes]
    return [TowerAttention(a.view(s), k.view(*s, -1)) for a, k, s in zip(attention.split(counts), keys.split(counts), shapes)]


def _window_index(visual, grids):
    """Qwen2.5-VL's window order of the merged tokens: ``get_window_index`` of its vision model
    (transformers 4.5x) or ``transformers.vision_utils.get_vision_window_index`` (5.x)."""
    if hasattr(visual, "get_window_index"):
        return visual.get_window_index(grids)[0]
    from transformers.vision_utils import get_vision_window_index

    return get_vision_window_index(grids, spatial_merge_size=visual.spatial_merge_size, window_size=visual.window_size, patch_size=visual.patch_size)[0]


def _encoder_layers(tower):
    """The encoder's layers of a vision tower (``encoder.layers``, under ``vision_model`` or not)."""
    for name, module in tower.named_modules():
        if name.endswith("encoder.layers"):
            return module
    raise ConfigError("--compress", "", f"found no encoder layers in the vision tower {type(tower).__name__}")


@contextmanager
def _pre_hook(module, record):
    """Within the block, ``record(module, args, kwargs)`` runs before each call of ``module``."""
    handle = module.register_forward_pre_hook(record, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()
