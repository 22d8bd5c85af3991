"""Relevance scorers for query-aware samplers: how much each frame has to do with the question.

A scorer is registered in ``mmhay.sampling.SCORERS`` as ``(frames, question, argument) ->
(relevance [N], embeddings [N, D])``; ``keyclip:scorer=NAME:ARGUMENT`` picks it. Embeddings let
the sampler tell redundant frames apart; relevance ranks them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mmhay.errors import ConfigError, ModelError
from mmhay.sampling import SCORERS

__all__ = ["clip_relevance"]


@SCORERS.register("clip")
def clip_relevance(frames: np.ndarray, question: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    """A CLIP or SigLIP checkpoint (clip:PATH): cosine of each frame's image embedding with the question's text embedding."""
    import torch

    if not path:
        raise ConfigError("--sampler", "scorer", "clip needs a checkpoint: clip:PATH_OR_ID", "clip")
    model, processor = _load(path)
    padding = "max_length" if "siglip" in type(model).__name__.lower() else True  # SigLIP was trained on padded text
    # cut the question to the text model's positions, whatever the tokenizer says its limit is
    # (a tokenizer saved without model_max_length would keep a long question whole, and fail)
    positions = getattr(getattr(model.config, "text_config", None), "max_position_embeddings", None)
    limits = {"max_length": positions} if positions and padding is True else {}
    inputs = processor(text=[question], images=list(frames), return_tensors="pt", padding=padding, truncation=True, **limits)
    with torch.inference_mode():
        images = _embedding(model.get_image_features(pixel_values=inputs["pixel_values"].to(model.device, model.dtype)))
        text_inputs = {k: v.to(model.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        text = _embedding(model.get_text_features(**text_inputs))
    images = torch.nn.functional.normalize(images.float(), dim=-1)
    text = torch.nn.functional.normalize(text.float(), dim=-1)
    return (images @ text[0]).cpu().numpy(), images.cpu().numpy()


def _embedding(output):
    """transformers 5 returns model outputs where 4.x returned the projected tensor."""
    return output if hasattr(output, "shape") else output.pooler_output


@lru_cache(maxsize=2)
def _load(path: str):
    import torch
    from transformers import AutoModel, AutoProcessor

    from mmhay.adapters.hf import quiet_progress_bars

    try:
        with quiet_progress_bars():
            model = AutoModel.from_pretrained(path)
            processor = AutoProcessor.from_pretrained(path)
    except Exception as error:  # transformers raises OSError, ValueError, KeyError... for bad checkpoints
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"clip:{path}: cannot load ({type(error).__name__}: {reason})") from None
    if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
        raise ModelError(f"clip:{path}: not an image-text embedding model (no get_image_features)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval(), processor
