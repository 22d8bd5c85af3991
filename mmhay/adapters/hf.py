"""Hugging Face transformers vision-language models, through ``AutoProcessor`` chat templates.

``hf:PATH_OR_ID`` loads ``AutoModelForImageTextToText`` and ``AutoProcessor`` the way a user's
checkpoint is loaded anywhere else. Frames go in as one video when the processor has a video
processor, otherwise as a list of images. Decoding is greedy.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mmhay.adapters import ADAPTERS, Answer, Request, chat_messages, fingerprint, prompt_parts, with_generation
from mmhay.adapters.audio_visual import sound_arguments, sound_batch_key, sound_content, sound_extractor, thinker_config, with_soundtrack_flag, woven_prompts
from mmhay.adapters.fastv import inside_llm, pruning_inside, selection_pass
from mmhay.adapters.reasoning import Thinking, chat_switch, decoded_replies, reasoning_usage, settled, thinking_of, token_budgets, within_budgets
from mmhay.adapters.pixel_budget import PIXEL_OPTIONS, PixelBudget, budgeted_media, checked_budget, pixel_identity, parse_pixel_budget
from mmhay.adapters.received import received_inputs
from mmhay.adapters.video_metadata import video_metadata
from mmhay.errors import ConfigError, ModelError

__all__ = ["HFModel", "HFSettings", "hf_model", "load_hf_model", "quiet_progress_bars"]

log = logging.getLogger(__name__)

_OPTIONS = {
    "pretrained",
    "dtype",
    "device",
    "device_map",
    "attn_implementation",
    "max_new_tokens",
    "frames_as",
    "do_sample",
    "temperature",
    "top_p",
    "seed",
    "batch_size",
    "enable_thinking",
    *PIXEL_OPTIONS,
    "max_num_frames",  # the budgets as model authors set them (pixel_budget, model_sampling)
}


@dataclass(frozen=True)
class HFSettings:
    """How a checkpoint is loaded and asked (from ``--model-args``)."""

    pretrained: str
    dtype: str = "auto"  # auto (float32 on CPU, the checkpoint's own on GPU), float32, bfloat16, float16
    device: str = "auto"  # auto (cuda if present, the rank's own GPU under torchrun), cpu, cuda, cuda:N
    device_map: str | None = None  # e.g. "auto" to shard a large model over GPUs
    attn_implementation: str | None = None  # eager, sdpa, flash_attention_2
    max_new_tokens: int | None = None  # None: 32 (more for some answer types), or 8192 where the chat template reasons (mmhay.adapters.reasoning)
    budgets: tuple[tuple[str, int], ...] = ()  # answer types with a default budget of their own (set when max_new_tokens is not given)
    frames_as: str = "auto"  # auto, video, images
    do_sample: bool = False  # greedy unless asked; sampling is seeded per batch by ``seed``
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 1  # requests per generate() call when --batch-size is not given
    enable_thinking: bool | None = None  # passed to chat templates that take it; None: the template's own default
    pixels: PixelBudget | None = None  # qwen-vl-utils' pixel budget (None: the processor resizes by its own configuration)
    max_num_frames: int | None = None  # the cap on --frames model's count (mmhay.adapters.model_sampling)


@ADAPTERS.register("hf")
def hf_model(argument: str | None, args: dict[str, str]) -> "HFModel":
    """A transformers checkpoint (hf:PATH_OR_ID; model-args: dtype, device, device_map, attn_implementation, max_new_tokens, frames_as, do_sample, temperature, top_p, seed, batch_size, enable_thinking, max_num_frames (--frames model); Qwen-family: min_pixels, max_pixels, total_pixels)."""
    unknown = set(args) - _OPTIONS
    if unknown:
        raise ConfigError("--model-args", sorted(unknown)[0], f"unknown option; expected one of: {', '.join(sorted(_OPTIONS))}")
    pretrained = argument or args.pop("pretrained", None)
    args.pop("pretrained", None)
    if not pretrained:
        raise ConfigError("--model", "hf", "needs a checkpoint: hf:PATH_OR_ID or --model-args pretrained=PATH_OR_ID")
    typed: dict[str, Any] = dict(args, pixels=parse_pixel_budget(args))  # the budget's keys leave args first
    for key, kind in (("max_new_tokens", int), ("seed", int), ("batch_size", int), ("max_num_frames", int), ("temperature", float), ("top_p", float), ("do_sample", _boolean), ("enable_thinking", _boolean)):
        if key in typed:
            try:
                typed[key] = kind(typed[key])
            except ValueError:
                raise ConfigError("--model-args", key, f"must be {'true or false' if kind is _boolean else 'a number'}", typed[key]) from None
    settings = HFSettings(pretrained=pretrained, **typed)
    if settings.frames_as not in ("auto", "video", "images"):
        raise ConfigError("--model-args", "frames_as", "must be auto, video or images", settings.frames_as)
    if settings.batch_size < 1 or settings.max_new_tokens is not None and settings.max_new_tokens < 1:
        raise ConfigError("--model-args", "batch_size" if settings.batch_size < 1 else "max_new_tokens", "must be at least 1")
    return checked_budget(load_hf_model(settings))


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise ValueError(text)


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
        from mmhay.parallel import current_ranks, own_device

        device = own_device(current_ranks(), torch.cuda.device_count() if torch.cuda.is_available() else 0)
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
            kwargs.update(thinker_config(path))  # an omni checkpoint answers through its thinker alone
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
    _pad_on_the_left(processor)
    if getattr(processor, "chat_template", None) is None:  # Phi-4-multimodal's processor leaves its template on the tokenizer
        processor.chat_template = getattr(getattr(processor, "tokenizer", None), "chat_template", None)
    has_video = getattr(processor, "video_processor", None) is not None
    as_video = has_video if settings.frames_as == "auto" else settings.frames_as == "video"
    if as_video and not has_video and settings.frames_as == "video":
        raise ConfigError("--model-args", "frames_as", "this processor has no video processor; use images", "video")
    thinking = thinking_of(processor)  # its think tags, and whether its chat template makes it think: the token budget follows
    return HFModel(settled(settings, thinking), processor, model, as_video, fingerprint.checkpoint_fingerprint(path), thinking)


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


def _pad_on_the_left(processor) -> None:
    """Generation appends to the right, so a batch of prompts is padded on the left."""
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


@dataclass
class HFModel:
    """A loaded transformers model and its processor."""

    settings: HFSettings
    processor: Any
    model: Any
    as_video: bool
    checkpoint: dict  # revision, file digests, weights digest (``mmhay.adapters.fingerprint``)
    thinking: Thinking = Thinking()  # what the checkpoint declares about reasoning: its think tags, whether it reasons
    needs_frames: bool = field(default=True, init=False)

    @property
    def takes_frame_sizes(self) -> bool:
        """Whether frames of different sizes can go in one request: as pictures, not as a video."""
        return not self.as_video

    @property
    def takes_audio(self) -> bool:
        """Whether the processor has an audio feature extractor (Qwen2-Audio, Qwen-Omni, Phi-4-multimodal)."""
        return sound_extractor(self.processor) is not None

    @property
    def sees(self) -> bool:
        """Whether the processor takes pictures (a model that only hears is asked without them)."""
        return getattr(self.processor, "image_processor", None) is not None or getattr(self.processor, "video_processor", None) is not None

    @property
    def name(self) -> str:
        return f"hf:{self.settings.pretrained}"

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    def identity(self) -> dict:
        identity = {
            "adapter": "hf",
            "pretrained": self.settings.pretrained,
            "checkpoint": self.checkpoint,
            "dtype": self.settings.dtype,
            "max_new_tokens": self.settings.max_new_tokens,
            **({"max_new_tokens_by_type": dict(self.settings.budgets)} if self.settings.budgets else {}),
            "frames_as": "video" if self.as_video else "images",
            "decoding": "greedy",
            "software": fingerprint.output_software(),
            **pixel_identity(self.settings.pixels),
        }
        identity.update(chat_switch(self.settings))  # enable_thinking, where it was given
        if self.settings.attn_implementation:
            identity["attn_implementation"] = self.settings.attn_implementation
        if self.settings.do_sample:
            identity.update(decoding="sampling", temperature=self.settings.temperature, top_p=self.settings.top_p, seed=self.settings.seed)
        return identity

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        """Answers to ``requests``, asked in one ``generate`` call per kind of media among them."""
        return self._per_kind(requests, self._generate)

    def score_likelihood(self, requests: Sequence[Request]) -> list[Answer]:
        """Answers read from the token probabilities, not generated: one forward pass per kind
        of media among ``requests`` (``--scoring likelihood``, ``mmhay.adapters.likelihood``)."""
        from mmhay.adapters.likelihood import likelihood_answers

        return self._per_kind(requests, lambda batch: likelihood_answers(self, batch))

    def _per_kind(self, requests: Sequence[Request], ask) -> list[Answer]:
        answers: dict[int, Answer] = {}
        kinds: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            kinds.setdefault(self._kind(request) + sound_batch_key(self.processor, request, self.as_video) + _fastv_batch_key(request), []).append(i)
        for indices in kinds.values():
            for i, answer in zip(indices, ask([requests[i] for i in indices])):
                answers[i] = answer
        return [answers[i] for i in range(len(requests))]

    def check_compression(self, spec: str) -> None:
        """Refuse ``--compress spec`` where it cannot apply (family, frames given as pictures)."""
        from mmhay.adapters.token_compression import check_family

        if not self.as_video:
            raise ConfigError("--compress", "", "applies to frames given as a video; this model takes them as pictures", spec)
        check_family(self.model, spec)

    def _generate(self, requests: Sequence[Request]) -> list[Answer]:
        import torch

        texts, inputs, counts, received = self._prepared(requests)
        budgets = token_budgets(self.settings, requests)  # by answer type: generated to the largest, each cut to its own
        options: dict[str, Any] = {"max_new_tokens": max(budgets), "do_sample": self.settings.do_sample}
        if self.settings.do_sample:
            options.update(temperature=self.settings.temperature, top_p=self.settings.top_p)
        else:  # a checkpoint's generation_config may ask for sampling; greedy means greedy
            options.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode(), _seeded(self.settings.seed, [r.key for r in requests], with_generation(options, requests[0])["do_sample"]), pruning_inside(self.model, inputs):
            output = self.model.generate(**inputs, **with_generation(options, requests[0]))  # --gen-kwargs over the model args
        pad = self.processor.tokenizer.pad_token_id
        new_tokens = within_budgets(output[:, inputs["input_ids"].shape[1] :], budgets, pad)
        replies = decoded_replies(self.processor, self.thinking, new_tokens)
        eos = _eos_ids(self.model)
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()  # one copy from the device, not one a token
        media_ids = torch.tensor(sorted(self._media_token_ids), device=inputs["input_ids"].device, dtype=inputs["input_ids"].dtype)
        visual_tokens = counts or torch.isin(inputs["input_ids"], media_ids).sum(dim=1).tolist()
        answers = []
        for row, (text, reply, tokens) in enumerate(zip(texts, replies, new_tokens.tolist())):
            generated = [t for t in tokens if t != pad]
            completion = next((k + 1 for k, t in enumerate(generated) if t in eos), len(generated))
            usage = {"prompt_tokens": int(prompt_tokens[row]), "completion_tokens": completion, "visual_tokens": int(visual_tokens[row])}
            usage.update(reasoning_usage(self.thinking, [t for t in generated[:completion] if t not in eos], text))
            answers.append(Answer(reply.strip(), prompt=text, usage=usage, received=received[row]))
        return answers

    def receive(self, requests: Sequence[Request]) -> list[dict]:
        """What each request's media becomes at the model's input (``Answer.received``), without
        generating: the processor runs, and the vision tower and compressor where ``--compress``
        asks for one (``mmhay exposure --model``). Requests of one kind of media."""
        if len({_fastv_batch_key(request) for request in requests}) > 1:
            return [row for request in requests for row in self.receive([request])]
        _, inputs, _, received = self._prepared(requests)
        selection_pass(self.model, inputs)  # FastV: the prefill up to the layer it prunes at (no-op otherwise)
        return received

    def _prepared(self, requests: Sequence[Request]):
        """The prompts, the model's inputs, the visual tokens each row kept after compression
        (None: not compressed) and what each request's media became (``Answer.received``)."""
        texts = [self._chat(request) for request in requests]
        inputs = self._inputs(requests, texts).to(self.model.device)
        counts, kind = None, self._kind(requests[0])
        received = received_inputs(self.processor, self.model.config, requests, inputs, kind)
        texts = woven_prompts(self.processor, texts, inputs, kind, self.as_video)
        from mmhay.adapters.frame_scales import scaled_sizes
        from mmhay.adapters.token_compression import compressed_generation_inputs, scales_apply

        scales = [r.frame_scales for r in requests]  # a sampler's shrunk frames, pooled to their scale after the vision tower
        if (kind == "video" and (requests[0].compress or scales_apply(self.model, scales))) or (kind == "frames" and scales_apply(self.model, scales, kind)):
            inputs, counts, kept = compressed_generation_inputs(self.model, dict(inputs), requests[0].compress, [r.frame_times for r in requests], scales)
            for row, tokens, request in zip(received, kept, requests):
                row["tokens"] = tokens
                if not request.compress and "frame_sizes" in row:  # pooled to the plan's scales
                    row["frame_sizes"] = scaled_sizes(row["frame_sizes"], request.frame_scales)
        return texts, inputs, counts, received

    @cached_property
    def _media_token_ids(self) -> set[int]:
        """The ids of the placeholder tokens the processor expands into one per visual (or audio)
        embedding: counting them gives the tokens the media cost."""
        config = self.model.config
        ids = {getattr(config, name, None) for name in ("image_token_id", "video_token_id", "image_token_index", "video_token_index")}
        ids = {i for i in ids if isinstance(i, int)}
        if ids:  # the model's own: the processor's may name a marker around them (Gemma 3's <start_of_image>)
            return ids
        tokenizer = self.processor.tokenizer
        for attribute in ("image_token", "video_token"):
            token = getattr(self.processor, attribute, None) or getattr(tokenizer, attribute, None)
            if isinstance(token, str):
                token_id = tokenizer.convert_tokens_to_ids(token)
                if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
                    ids.add(token_id)
        return ids or {-1}

    def _kind(self, request: Request) -> str:
        if request.audio is not None and self.takes_audio:
            return "audio+video" if self._shows_frames(request) else "audio"
        if request.images:
            return "images"
        if request.frames is None or len(request.frames) == 0:
            return "none"
        return "video" if self.as_video else "frames"

    def _shows_frames(self, request: Request) -> bool:
        return self.sees and request.frames is not None and len(request.frames) > 0

    def _chat(self, request: Request) -> str:
        """The prompt as the model reads it: the chat template over media placeholders and text."""
        kind = self._kind(request)
        content: list[dict] = []
        if kind.startswith("audio"):
            content += sound_content(self.processor, kind, self.as_video, len(request.frames) if request.frames is not None else 0)
        elif kind == "images":
            order = request.interleaved or tuple(range(len(request.images)))
            content += [{"type": "image"} if isinstance(item, int) else {"type": "text", "text": item} for item in order]
        elif kind == "video":
            content.append({"type": "video"})
        elif kind == "frames":
            content += [{"type": "image"} for _ in request.frames]
        content += [{"type": "image"} if isinstance(part, int) else {"type": "text", "text": part} for part in prompt_parts(request, kind == "images")]
        return self.processor.apply_chat_template(chat_messages(request, content), add_generation_prompt=True, tokenize=False, **chat_switch(self.settings))

    def _inputs(self, requests: Sequence[Request], texts: Sequence[str] | None = None):
        """The processor's tensors for a batch of requests of one kind."""
        texts = list(texts) if texts is not None else [self._chat(request) for request in requests]
        kind = self._kind(requests[0])
        extra: dict[str, Any] = {}
        if kind.startswith("audio"):
            extra.update(sound_arguments(self.processor, requests, kind, self.as_video))
        if kind == "images":
            extra["images"] = [[*r.images, *r.option_images] for r in requests]  # option pictures after the images, as the prompt places them
        elif kind == "frames" or (kind == "audio+video" and not self.as_video):
            extra["images"] = [list(r.frames) for r in requests]
        elif kind in ("video", "audio+video"):
            extra.update(videos=[r.frames for r in requests], **self._video_options(requests))
        inputs = self.processor(text=texts, padding=True, return_tensors="pt", **budgeted_media(self.processor, extra, self.settings.pixels))
        return with_soundtrack_flag(self.processor, inputs, kind, self.as_video)

    def _video_options(self, requests: Sequence[Request]) -> dict[str, Any]:
        """Keep the frames mmhay sampled (the processor must not sample again), and tell the
        processor when each was shown, for the families that encode time."""
        return {"video_metadata": [video_metadata(r) for r in requests], "do_sample_frames": False}


def _fastv_batch_key(request: Request) -> str:
    """FastV's rows must drop equally many tokens: its requests batch with those of the same frame shape only."""
    return f"#{tuple(getattr(request.frames, 'shape', ()))}" if inside_llm(request.compress) else ""


def _eos_ids(model) -> set[int]:
    eos = model.generation_config.eos_token_id
    return set(eos if isinstance(eos, list) else [eos] if eos is not None else [])


@contextmanager
def _seeded(seed: int, keys: Sequence[str], active: bool):
    """Sampling drawn from a generator seeded by ``seed`` and the batch's requests, never global."""
    if not active:
        yield
        return
    import torch

    digest = hashlib.sha256(json.dumps([seed, *keys]).encode()).digest()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int.from_bytes(digest[:8], "big") % 2**63)
        yield

