"""A video and its soundtrack into one transformers processor call, for the models that see and hear.

Omni checkpoints (Qwen2.5-Omni, Qwen3-Omni) answer in text through their thinker, loaded alone
(``thinker_config``): the talker that speaks the answer is not needed to score it. Their
processors interleave a video's own soundtrack with its frames, chunk by chunk in time
(``load_audio_from_video``; ``use_audio_in_video`` before transformers 5.24), and the thinker's
time-aligned positions need the same flag at ``generate``; a cross-modal question (which sound
plays with a picture) is asked as it is meant only so. Models with no video processor
(Phi-4-multimodal) get the frames as pictures after the recording.

The sound given is the stretch of the soundtrack the frames cover (for frames at the midpoints
of equal intervals, the whole video), mixed to mono and resampled to the feature extractor's rate;
an interleaving processor is told the frames' rate over that stretch, so the frames sit at the
times of the sound heard with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmhay.adapters import Request

__all__ = [
    "interleaves_soundtrack",
    "shown_span",
    "sound_arguments",
    "sound_batch_key",
    "sound_content",
    "sound_extractor",
    "thinker_config",
    "with_soundtrack_flag",
    "woven_prompts",
]


def thinker_config(path: str | Path) -> dict[str, Any]:
    """``{"config": ...}`` of the part that answers in text, for checkpoints that also speak
    (an omni model's thinker config; its weights load from the whole checkpoint); else ``{}``."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    thinker = getattr(config, "thinker_config", None)
    return {"config": thinker} if thinker is not None else {}


def sound_extractor(processor):
    """The processor's audio feature extractor (``feature_extractor``; Phi-4's ``audio_processor``), or None."""
    return getattr(processor, "feature_extractor", None) or getattr(processor, "audio_processor", None)


def interleaves_soundtrack(processor) -> bool:
    """Whether the processor weaves a video's soundtrack into its frames' placeholders (Qwen-Omni)."""
    return callable(getattr(processor, "replace_video_with_audio_token", None)) or callable(getattr(processor, "get_chunked_index", None))


def sound_content(processor, kind: str, as_video: bool, frames: int) -> list[dict]:
    """The chat-template parts for a request of ``kind`` audio or audio+video, before its text."""
    if kind == "audio":
        return [{"type": "audio"}]
    if as_video and interleaves_soundtrack(processor):
        return [{"type": "video"}]  # the soundtrack has no placeholder of its own: it goes in the video's
    return [{"type": "audio"}] + ([{"type": "video"}] if as_video else [{"type": "image"} for _ in range(frames)])


def shown_span(request: Request) -> tuple[float, float]:
    """The seconds of the soundtrack the frames cover: from half a frame interval before the
    first to half one after the last, within the recording; all of it without frames."""
    total = request.audio.shape[-1] / request.audio_rate
    times = request.frame_times
    if not times:
        return 0.0, total
    step = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else (request.duration or total)
    return max(0.0, times[0] - step / 2), min(total, times[-1] + step / 2)


def sound_batch_key(processor, request: Request, as_video: bool) -> str:
    """What must be equal across a batch besides its kind: an interleaving processor takes one frame rate a batch."""
    if not (as_video and interleaves_soundtrack(processor) and request.frame_times):
        return ""
    return f"@{_frame_rate(request):.6f}"


def sound_arguments(processor, requests: Sequence[Request], kind: str, as_video: bool) -> dict[str, Any]:
    """The processor's keyword arguments for the sound of a batch of ``kind`` audio or audio+video."""
    rate = int(getattr(sound_extractor(processor), "sampling_rate", 0) or requests[0].audio_rate)
    audio = [_soundtrack(request, rate, kind) for request in requests]
    arguments: dict[str, Any] = {"audio": audio, "sampling_rate": rate}
    if kind == "audio+video" and as_video and interleaves_soundtrack(processor):
        arguments["fps"] = _frame_rate(requests[0])
        if hasattr(type(processor), "load_audio_from_video"):  # transformers >= 5.24
            arguments.update(load_audio_from_video=True, audio_from_video_indices=list(range(len(requests))))
        else:
            arguments["use_audio_in_video"] = True
    return arguments


def with_soundtrack_flag(processor, inputs, kind: str, as_video: bool):
    """The processor's output, with the flag the thinker needs where the soundtrack was woven in."""
    if kind == "audio+video" and as_video and interleaves_soundtrack(processor):
        inputs["use_audio_in_video"] = True
    return inputs


def _frame_rate(request: Request) -> float:
    start, end = shown_span(request)
    return len(request.frame_times) / (end - start) if end > start else 1.0


def _soundtrack(request: Request, rate: int, kind: str) -> np.ndarray:
    """The request's sound as the model hears it: mono, at ``rate``, the shown stretch of a video's."""
    mono = np.asarray(request.audio, dtype=np.float32).mean(axis=0)
    if kind == "audio+video":
        start, end = shown_span(request)
        mono = mono[int(round(start * request.audio_rate)) : int(round(end * request.audio_rate))]
    return mono if request.audio_rate == rate else _resampled(mono, request.audio_rate, rate)


def _resampled(mono: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``mono`` from ``rate`` to ``target`` Hz through PyAV's resampler (band-limited, as decoding resamples)."""
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono[None, :], dtype=np.float32), format="fltp", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=target)
    pieces = [piece.to_ndarray()[0] for piece in [*resampler.resample(frame), *resampler.resample(None)]]
    out = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return out[: int(round(len(mono) * target / rate))].astype(np.float32)


def woven_prompts(processor, texts: Sequence[str], inputs, kind: str, as_video: bool) -> list[str]:
    """The prompts as logged: where the soundtrack went into the video, the text the processor
    made of it, each run of one placeholder written once, so that the log shows the chunks of
    frames and sound in their order (``<|VIDEO|><|AUDIO|><|VIDEO|><|AUDIO|>``); else ``texts``."""
    if not (kind == "audio+video" and as_video and interleaves_soundtrack(processor)):
        return list(texts)
    import re

    tokenizer = processor.tokenizer
    runs = re.compile("|".join(f"({re.escape(token)})(?:{re.escape(token)})*" for token in (processor.video_token, processor.audio_token)))
    woven = []
    for ids, mask in zip(inputs["input_ids"].tolist(), inputs["attention_mask"].tolist()):
        text = tokenizer.decode([token for token, kept in zip(ids, mask) if kept], skip_special_tokens=False)
        woven.append(runs.sub(lambda run: run.group(run.lastindex), text))
    return woven
