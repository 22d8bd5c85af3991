"""Hugging Face transformers vision-language models, through ``AutoProcessor`` chat templates.

``hf:PATH_OR_ID`` loads ``AutoModelForImageTextToText`` and ``AutoProcessor`` the way a user's
checkpoint is loaded anywhere else. Frames go in as one video when the processor has a video
processor, otherwise as a list of images. Decoding is greedy.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmhay.adapters import ADAPTERS, Request
from mmhay.errors import ConfigError, ModelError

__all__ = ["HFModel", "HFSettings", "hf_model", "load_hf_model", "quiet_progress_bars"]

log = logging.getLogger(__name__)

_OPTIONS = {"pretrained", "dtype", "device", "device_map", "attn_implementation", "max_new_tokens", "frames_as"}


@dataclass(frozen=True)
class HFSettings:
    """How a checkpoint is loaded and asked (from ``--model-args``)."""

    pretrained: str
    dtype: str = "auto"  # auto (float32 on CPU, the checkpoint's own on GPU), float32, bfloat16, float16
    device: str = "auto"  # auto (cuda if present), cpu, cuda, cuda:N
    device_map: str | None = None  # e.g. "auto" to shard a large model over GPUs
    attn_implementation: str | None = None  # eager, sdpa, flash_attention_2
    max_new_tokens: int = 32
    frames_as: str = "auto"  # auto, video, images


@ADAPTERS.register("hf")
def hf_model(argument: str | None, args: dict[str, str]) -> "HFModel":
    """A transformers checkpoint (hf:PATH_OR_ID; model-args: dtype, device, device_map, attn_implementation, max_new_tokens, frames_as)."""
    unknown = set(args) - _OPTIONS
    if unknown:
        raise ConfigError("--model-args", sorted(unknown)[0], f"unknown option; expected one of: {', '.join(sorted(_OPTIONS))}")
    pretrained = argument or args.pop("pretrained", None)
    args.pop("pretrained", None)
    if not pretrained:
        raise ConfigError("--model", "hf", "needs a checkpoint: hf:PATH_OR_ID or --model-args pretrained=PATH_OR_ID")
    try:
        max_new_tokens = int(args.pop("max_new_tokens", "32"))
    except ValueError:
        raise ConfigError("--model-args", "max_new_tokens", "must be an integer") from None
    settings = HFSettings(pretrained=pretrained, max_new_tokens=max_new_tokens, **args)
    if settings.frames_as not in ("auto", "video", "images"):
        raise ConfigError("--model-args", "frames_as", "must be auto, video or images", settings.frames_as)
    return load_hf_model(settings)


def load_hf_model(settings: HFSettings) -> "HFModel":
    """Load processor and model; a ``ModelError`` naming the checkpoint if either fails."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoModelForMultimodalLM, AutoProcessor

    source = settings.pretrained
    local = Path(source).expanduser()
    if not local.exists() and (source.startswith((".", "/", "~")) or source.count("/") != 1):
        raise ModelError(f"hf:{source}: no such checkpoint directory")
    if local.exists() and not (local / "config.json").is_file():
        raise ModelError(f"hf:{source}: not a transformers checkpoint (no config.json)")
    device = settings.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype: Any = settings.dtype
    if dtype == "auto" and device == "cpu":
        dtype = "float32"  # half precision is slow or unsupported on most CPUs
    if dtype != "auto":
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ConfigError("--model-args", "dtype", "must be auto, float32, bfloat16 or float16", settings.dtype)
        dtype = getattr(torch, dtype)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if settings.attn_implementation:
        kwargs["attn_implementation"] = settings.attn_implementation
    if settings.device_map:
        kwargs["device_map"] = settings.device_map
    path = str(local) if local.exists() else source
    try:
        with quiet_progress_bars():
            processor = AutoProcessor.from_pretrained(path)
            try:
                model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
            except ValueError:  # not an image-text model: one that hears (Qwen2-Audio) loads as multimodal
                model = AutoModelForMultimodalLM.from_pretrained(path, **kwargs)
    except Exception as error:  # transformers raises OSError, ValueError, KeyError... for bad checkpoints
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"hf:{source}: cannot load ({type(error).__name__}: {reason})") from None
    if not settings.device_map:
        model = model.to(device)
    model.eval()
    has_video = getattr(processor, "video_processor", None) is not None
    as_video = has_video if settings.frames_as == "auto" else settings.frames_as == "video"
    if as_video and not has_video and settings.frames_as == "video":
        raise ConfigError("--model-args", "frames_as", "this processor has no video processor; use images", "video")
    return HFModel(settings, processor, model, as_video, _fingerprint(local) if local.exists() else source)


@contextmanager
def quiet_progress_bars():
    """transformers draws progress bars while loading and saving; library code must not print."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _fingerprint(folder: Path) -> str:
    """A short digest of a local checkpoint's config and weights index, so runs of two checkpoints differ."""
    digest = hashlib.sha256()
    for name in ("config.json", "generation_config.json", "model.safetensors.index.json"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    for weights in sorted(folder.glob("*.safetensors")):
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}".encode())
    return digest.hexdigest()[:16]


@dataclass
class HFModel:
    """A loaded transformers model and its processor."""

    settings: HFSettings
    processor: Any
    model: Any
    as_video: bool
    checkpoint: str
    needs_frames: bool = field(default=True, init=False)

    @property
    def takes_audio(self) -> bool:
        """Whether the processor has an audio feature extractor (Qwen2-Audio, Qwen2.5-Omni, ...)."""
        return getattr(self.processor, "feature_extractor", None) is not None

    @property
    def sees(self) -> bool:
        """Whether the processor takes pictures (a model that only hears is asked without them)."""
        return getattr(self.processor, "image_processor", None) is not None or getattr(self.processor, "video_processor", None) is not None

    @property
    def name(self) -> str:
        return f"hf:{self.settings.pretrained}"

    def identity(self) -> dict:
        return {
            "adapter": "hf",
            "pretrained": self.settings.pretrained,
            "checkpoint": self.checkpoint,
            "dtype": self.settings.dtype,
            "max_new_tokens": self.settings.max_new_tokens,
            "frames_as": "video" if self.as_video else "images",
            "decoding": "greedy",
        }

    def generate(self, requests: Sequence[Request]) -> list[str]:
        return [self._answer(request) for request in requests]

    def _answer(self, request: Request) -> str:
        import torch

        inputs = self._inputs(request)
        inputs = inputs.to(self.model.device)
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.settings.max_new_tokens, do_sample=False)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()

    def _inputs(self, request: Request):
        if request.audio is not None and self.takes_audio:
            content = [{"type": "audio"}]
            with_frames = self.sees and request.frames is not None and len(request.frames) > 0
            if with_frames:
                content.append({"type": "video"})
            content.append({"type": "text", "text": request.prompt})
            text = self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
            mono = request.audio.mean(axis=0)
            extra = {"videos": [request.frames]} if with_frames else {}
            return self.processor(text=[text], audio=[mono], sampling_rate=request.audio_rate, return_tensors="pt", **extra)
        if request.images:
            order = request.interleaved or tuple(range(len(request.images)))
            content = [{"type": "image"} if isinstance(item, int) else {"type": "text", "text": item} for item in order]
            content.append({"type": "text", "text": request.prompt})
            text = self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
            return self.processor(text=[text], images=[list(request.images)], return_tensors="pt")
        frames = request.frames
        if frames is None or len(frames) == 0:
            content = [{"type": "text", "text": request.prompt}]
            text = self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
            return self.processor(text=[text], return_tensors="pt")
        if self.as_video:
            content = [{"type": "video"}, {"type": "text", "text": request.prompt}]
            text = self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
            return self.processor(
                text=[text],
                videos=[frames],
                video_metadata=[_video_metadata(request)],
                do_sample_frames=False,
                return_tensors="pt",
            )
        content = [{"type": "image"} for _ in frames] + [{"type": "text", "text": request.prompt}]
        text = self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
        return self.processor(text=[text], images=[list(frames)], return_tensors="pt")


def _video_metadata(request: Request):
    """transformers' description of the frames: their indices in a stream of the video's rate."""
    from transformers.video_utils import VideoMetadata

    count = len(request.frame_times)
    fps = request.fps or (count / request.duration if request.duration else 1.0)
    return VideoMetadata(
        total_num_frames=max(count, round(request.duration * fps)),
        fps=fps,
        duration=request.duration,
        frames_indices=[int(round(t * fps)) for t in request.frame_times],
        height=int(request.frames.shape[1]) if request.frames is not None else None,
        width=int(request.frames.shape[2]) if request.frames is not None else None,
    )
