"""What a transformers processor made of a request's media: the sizes the model received.

The evaluator knows what it sent (frames as rendered, pictures, sound); the processor resizes
frames and pictures by its own rules (Qwen-VL's pixel budgets, fixed sizes elsewhere), and a
Whisper-style feature extractor takes at most its window of sound. ``received_inputs`` reads
both back from the processor's output, for ``Answer.received`` (``mmhay.exposure``).
"""

from __future__ import annotations

from collections.abc import Sequence

from mmhay.adapters import Request
from mmhay.adapters.audio_visual import sound_extractor

__all__ = ["received_inputs"]


def received_inputs(processor, config, requests: Sequence[Request], inputs, kind: str) -> list[dict]:
    """Per request of one ``kind`` (video, audio+video, images, frames, audio): ``frame_sizes``
    or ``image_sizes`` ([w, h] each, where the processor's output says them unambiguously) and
    ``audio_seconds`` (the sound the feature extractor took)."""
    received: list[dict] = [{} for _ in requests]
    if kind in ("video", "audio+video"):
        sizes = _video_input_sizes(processor, config, inputs, len(requests))
        if sizes:
            for row, request, size in zip(received, requests, sizes):
                row["frame_sizes"] = [size] * len(request.frames)
    elif kind in ("images", "frames"):
        counts = [len(r.images) + len(r.option_images) if kind == "images" else len(r.frames) for r in requests]
        sizes = _image_input_sizes(processor, config, inputs, sum(counts))
        if sizes:
            for row, count in zip(received, counts):
                row["frame_sizes" if kind == "frames" else "image_sizes"], sizes = sizes[:count], sizes[count:]
    if kind.startswith("audio"):
        extractor = sound_extractor(processor)
        limit, rate = getattr(extractor, "n_samples", None), getattr(extractor, "sampling_rate", None)
        hop = getattr(extractor, "hop_length", None)
        mask = inputs.get("feature_attention_mask")
        taken = mask.sum(-1).tolist() if mask is not None and hop and rate and mask.shape[0] == len(requests) else None
        for k, (row, request) in enumerate(zip(received, requests)):
            seconds = request.audio.shape[-1] / request.audio_rate
            if taken is not None:  # the feature frames the extractor kept (Whisper: 10 ms each)
                seconds = min(seconds, taken[k] * hop / rate)
            elif limit and rate:  # a Whisper-style extractor pads or cuts the sound to n_samples
                seconds = min(seconds, limit / rate)
            row["audio_seconds"] = round(float(seconds), 6)
    return received


def _patch_size(part, config) -> int | None:
    return getattr(part, "patch_size", None) or getattr(getattr(config, "vision_config", None), "patch_size", None)


def _video_input_sizes(processor, config, inputs, videos: int) -> list[list[int]] | None:
    """[w, h] of each video's frames at the input: Qwen-family grids of patches, or the pixels' shape."""
    if "video_grid_thw" in inputs:
        patch = _patch_size(processor.video_processor, config)
        return [[int(w) * patch, int(h) * patch] for _, h, w in inputs["video_grid_thw"].tolist()] if patch else None
    pixels = inputs.get("pixel_values_videos")
    if pixels is not None and pixels.dim() == 5 and pixels.shape[0] == videos:
        return [[int(pixels.shape[-1]), int(pixels.shape[-2])]] * videos
    return None


def _image_input_sizes(processor, config, inputs, images: int) -> list[list[int]] | None:
    """[w, h] of each picture at the input, where the processor's output says it unambiguously."""
    if "image_grid_thw" in inputs:
        patch = _patch_size(processor.image_processor, config)
        grids = inputs["image_grid_thw"].tolist()
        return [[int(w) * patch, int(h) * patch] for _, h, w in grids] if patch and len(grids) == images else None
    pixels = inputs.get("pixel_values")
    if pixels is not None and pixels.dim() == 4 and pixels.shape[0] == images:
        return [[int(pixels.shape[-1]), int(pixels.shape[-2])]] * images
    return None
