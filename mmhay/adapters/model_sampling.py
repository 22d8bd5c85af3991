"""The frame sampling a model's authors recommend: ``--frames model``.

- Qwen-family (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, and the Omni models that share their video
  processors): qwen-vl-utils' ``smart_nframes`` (sampler ``qwen_vl``: 2 frames a second within
  4..768, an even count, at ``round(linspace(0, T - 1, n))`` of the video's T frames) and its
  pixel budget (``mmhay.adapters.pixel_budget``, its defaults where none is given).
  ``qwen-vl-utils/src/qwen_vl_utils/vision_process.py`` of QwenLM/Qwen3-VL (0.0.14, 9658872).
- LLaVA-OneVision: 32 frames, evenly over the video's frames both ends included, as its authors'
  ``load_video`` and lmms-eval's ``lmms_eval/models/simple/llava_onevision.py`` pick them
  (``max_frames_num=32``, ``np.linspace(0, total - 1, 32, dtype=int)``: sampler
  ``uniform:mode=linspace_int``).
- Others: refused with one line; their authors document no rule mmhay can follow without
  letting the processor sample again (SmolVLM2's processor samples at 1 fps up to 64 frames
  only when it samples itself; InternVL's cards show 8 or 32 segments as examples).

The run records the rule (``settings.frames_from``), so a printed number says how its frames
were chosen: ``model (qwen-vl-utils fps=2: 8 frames)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from fractions import Fraction
from math import ceil, floor

from mmhay.adapters.pixel_budget import PixelBudget, merged_patch
from mmhay.errors import ConfigError
from mmhay.sampling import SAMPLERS, Footage, FramePlan, footage_for, plan_frames

__all__ = ["frames_and_sampler", "model_sampling", "qwen_vl"]

_QWEN_MAX_FRAMES = 768  # qwen-vl-utils' FPS_MAX_FRAMES
_FRAME_FACTOR = 2


@SAMPLERS.register("qwen_vl")
def qwen_vl(footage: Footage, n: int, fps: float = 2.0, min_frames: int = 4, max_frames: int = _QWEN_MAX_FRAMES) -> FramePlan:
    """qwen-vl-utils' smart_nframes: `fps` frames a second within [min_frames, max_frames, --frames], an even count, at round(linspace(0, T - 1, count)) of the T frames."""
    if fps <= 0 or min_frames < 1 or max_frames < _FRAME_FACTOR:
        raise ConfigError("--sampler", "qwen_vl", "needs fps > 0, min_frames >= 1, max_frames >= 2", f"{fps}, {min_frames}, {max_frames}")
    total = ceil(footage.duration * footage.rate) if footage.rate is not None else None
    least = ceil(min_frames / _FRAME_FACTOR) * _FRAME_FACTOR
    most = floor(min(max_frames, n, total if total is not None else max_frames) / _FRAME_FACTOR) * _FRAME_FACTOR
    seconds = Fraction(total) / footage.rate if total is not None else footage.duration  # its total_frames / video_fps
    count = min(max(float(seconds) * fps, least), most, total if total is not None else most)
    count = floor(count / _FRAME_FACTOR) * _FRAME_FACTOR
    if count < _FRAME_FACTOR:
        raise ConfigError("--sampler", "qwen_vl", f"the video has {total} frame(s) and --frames {n}; qwen-vl-utils needs at least 2 of each")
    if total is None:  # shown by its own timestamps: even steps from the start to just before the end
        last = footage.duration * Fraction(999, 1000)
        return FramePlan(tuple(last * i / (count - 1) for i in range(count)), (1.0,) * count)
    import torch  # torch's float32 linspace and round-half-even, as qwen-vl-utils picks the indices

    indices = torch.linspace(0, total - 1, count).round().long().tolist()
    return FramePlan(tuple(Fraction(k) / footage.rate for k in indices), (1.0,) * count)


def frames_and_sampler(adapter, frames: int | str, sampler: str, samples: Callable[[], Iterable]) -> tuple[int, str, str]:
    """``(frames, sampler, frames_from)`` of a run: as given, or ``model_sampling`` for
    ``--frames model``. ``max_num_frames`` caps the model's own count only."""
    if frames == "model":
        return model_sampling(adapter, sampler, samples())
    if getattr(getattr(adapter, "settings", None), "max_num_frames", None) is not None:
        raise ConfigError("--model-args", "max_num_frames", f"caps the count of --frames model; with --frames {frames} the count is {frames}")
    return int(frames), sampler, ""


def model_sampling(adapter, sampler: str, samples: Iterable) -> tuple[int, str, str]:
    """``(frames, sampler, frames_from)`` for ``--frames model``: the budget that holds every
    sample's frames, the sampler spec, and the rule as the run records it. A Qwen-family model
    also gets qwen-vl-utils' pixel budget (its defaults where ``--model-args`` set none)."""
    if sampler != "uniform":
        raise ConfigError("--sampler", "", "--frames model uses the model's own sampling; leave --sampler out", sampler)
    processor = getattr(adapter, "processor", None)
    cap = getattr(adapter.settings, "max_num_frames", None) if processor is not None else None
    if cap is not None and cap < _FRAME_FACTOR:
        raise ConfigError("--model-args", "max_num_frames", "must be at least 2", cap)
    if processor is not None and merged_patch(processor) is not None and getattr(processor, "video_processor", None) is not None:
        spec, rule, budget = ("qwen_vl", "qwen-vl-utils fps=2", _QWEN_MAX_FRAMES) if cap is None else (f"qwen_vl:max_frames={cap}", f"qwen-vl-utils fps=2 max_frames={cap}", cap)
        adapter.settings = dataclasses.replace(adapter.settings, pixels=adapter.settings.pixels or PixelBudget())
    elif processor is not None and type(getattr(processor, "video_processor", None)).__name__.startswith("LlavaOnevision"):
        spec, rule, budget = "uniform:mode=linspace_int", "LLaVA-OneVision uniform", cap or 32
    else:
        raise ConfigError("--frames", "model", f"{adapter.name} has no recommended sampling mmhay knows (Qwen-family and LLaVA-OneVision do); give --frames N")
    counts = sorted({len(plan_frames(spec, footage_for(s), budget).times) for s in samples if _is_video(s)})
    if not spec.startswith("qwen_vl") or not counts:
        return budget, spec, f"model ({rule}: {budget} frames)"
    shown = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return counts[-1], spec, f"model ({rule}: {shown} frames)"


def _is_video(sample) -> bool:
    media = sample.media
    return hasattr(media, "segments") and bool(media.segments)
