"""Adapters: turn requests (frames and a prompt) into the model's text answers.

A model is named by a spec, as on the command line: ``random``, ``hf:PATH_OR_ID``, or a name with
``--model-args key=value,...`` in the lmms-eval manner (``--model hf --model-args pretrained=PATH``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mmhay.errors import ConfigError
from mmhay.registry import registry

__all__ = ["ADAPTERS", "Adapter", "Answer", "Request", "chat_messages", "create_adapter", "parse_model_args", "prompt_parts", "split_at_pictures", "with_generation"]

ADAPTERS = registry("adapter")


@dataclass(frozen=True)
class Request:
    """One question for a model: the prompt text and, when the model looks, what it is shown.

    A video sample gives ``frames``, with ``frame_times`` (the seconds at which each is shown)
    and ``fps`` (the video's rate, when known): processors that encode time use both. An image
    sample gives ``images``, and in ``interleaved`` the texts and image indices in reading
    order when the images come with text between them; ``option_images`` are options that are
    pictures, shown inside the prompt at its ``<image>`` placeholders (``A. <image>``), in order
    (``prompt_parts``). A sample with sound gives ``audio`` at
    ``audio_rate`` to models that hear. ``facets`` describe the answer space (baselines use them).
    ``reference`` is the right answer, given only to likelihood scoring of an open answer, which
    teacher-forces it (``mmhay.adapters.likelihood``); empty otherwise. ``system`` is the system
    prompt (``--system-prompt``) and ``generation`` the user's decoding settings (``--gen-kwargs``,
    ``mmhay.adapters.generation``), the same for every request of a run; empty: the model's own.
    """

    key: str
    prompt: str
    answer_type: str
    options: tuple[str, ...] = ()
    frames: np.ndarray | tuple[np.ndarray, ...] | None = None  # [N, H, W, 3], or N frames of their own sizes
    frame_times: tuple[float, ...] = ()
    frame_scales: tuple[float, ...] = ()  # each frame's downscale per side, where a sampler shrank some
    duration: float = 0.0
    fps: float | None = None
    images: tuple[np.ndarray, ...] = ()
    interleaved: tuple[str | int, ...] = ()  # text and image indices in reading order, before the prompt
    option_images: tuple[np.ndarray, ...] = ()  # the options' pictures, at the prompt's <image>s
    audio: np.ndarray | None = None  # float32 [channels, samples]
    audio_rate: int | None = None
    facets: Mapping[str, Any] = field(default_factory=dict)
    compress: str = ""  # a token compressor to apply after the vision tower (``--compress``)
    reference: str = ""  # the answer teacher-forced by ``--scoring likelihood`` (open answers only)
    system: str = ""
    generation: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A model's reply to one request: its text, what it was given as text (the chat template
    applied, media as placeholders, when the adapter knows it), the tokens it cost, or the error
    that kept it from answering (the evaluator keeps the other answers and asks again next run).

    ``received`` says what the model's input was, where the adapter changed what it was sent
    (``mmhay.exposure.Given``): ``frame_sizes`` and ``image_sizes`` ([w, h] each, after the
    processor's or the API's resize), ``tokens`` (the compressor's grid and kept provenance),
    ``audio_seconds`` (the sound the feature extractor took). Absent keys: as sent.

    ``likelihood`` holds what likelihood scoring read from the model's token probabilities, where
    it answered (``--scoring likelihood``, ``mmhay.adapters.likelihood``); empty otherwise."""

    text: str
    prompt: str | None = None
    usage: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None
    received: Mapping[str, Any] = field(default_factory=dict)
    likelihood: Mapping[str, Any] = field(default_factory=dict)


class Adapter(Protocol):
    """What every model offers to the evaluator. One that reads its token probabilities also
    offers ``score_likelihood(requests) -> list[Answer]`` (``--scoring likelihood``: hf models)."""

    name: str
    needs_frames: bool  # whether the model looks at the media at all (baselines do not)
    takes_audio: bool  # whether it hears: samples whose answer is in the sound are skipped if not
    batch_size: int  # requests per call when the user gives no --batch-size

    def identity(self) -> dict[str, Any]:
        """What identifies the model and its generation settings (recorded with the run)."""
        ...

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        """One answer per request, in order. A batch is of one kind of media (video, images,
        audio or none), as the evaluator groups them."""
        ...


def prompt_parts(request: Request, shows_pictures: bool = True) -> list[str | int]:
    """The prompt as text pieces and option picture indices, in reading order: each ``<image>``
    of the prompt is the next of ``option_images`` (MM-NIAH's ``A. <image>``); the prompt alone
    where there are none. A ``ModelError`` where the adapter does not show pictures with this
    request's media (``shows_pictures``), and the options would be lost."""
    from mmhay.errors import ModelError

    if request.option_images and not shows_pictures:
        raise ModelError(f"{request.key}: its options are pictures, which this model is not shown with this media; evaluate it with one that takes images")
    return split_at_pictures(request.prompt, len(request.option_images), request.key)


def split_at_pictures(prompt: str, pictures: int, key: str = "") -> list[str | int]:
    """``prompt`` cut at its ``<image>`` placeholders into text pieces and the indices 0, 1, ...
    of the ``pictures`` shown there; the prompt alone where there are none."""
    from mmhay.errors import ModelError
    from mmhay.gallery import IMAGE_PLACEHOLDER

    if not pictures:
        return [prompt]
    pieces = prompt.split(IMAGE_PLACEHOLDER)
    if len(pieces) - 1 != pictures:
        raise ModelError(f"{key}: the prompt has {len(pieces) - 1} {IMAGE_PLACEHOLDER} places for {pictures} option pictures")
    parts: list[str | int] = []
    for k, piece in enumerate(pieces):
        parts += [piece] if piece else []
        parts += [k] if k < pictures else []
    return parts


def chat_messages(request: Request, content: list[dict], *, parts: bool = True) -> list[dict]:
    """The messages a chat model is sent for ``request``: its system prompt first, where it has
    one, then the user's turn holding ``content``. The system text goes as text parts (the chat
    templates of processors) or, with ``parts=False``, as a string (chat completions APIs)."""
    messages = [{"role": "user", "content": content}]
    if not request.system:
        return messages
    return [{"role": "system", "content": [{"type": "text", "text": request.system}] if parts else request.system}, *messages]


def with_generation(options: Mapping[str, Any], request: Request) -> dict[str, Any]:
    """A model's own decoding ``options`` with the user's (``request.generation``) over them."""
    return {**options, **request.generation}


def parse_model_args(text: str | None) -> dict[str, str]:
    """``"a=1,b=x"`` -> ``{"a": "1", "b": "x"}`` (lmms-eval's ``--model_args`` form)."""
    if not text:
        return {}
    args = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--model-args", "", f"expected key=value pairs separated by commas, got {part!r}")
        args[key.strip()] = value.strip()
    return args


def create_adapter(spec: str, model_args: Mapping[str, str] | None = None, *, seed: int | None = None) -> Adapter:
    """The model named by ``spec`` (``NAME`` or ``NAME:ARGUMENT``), loaded and ready to answer.

    ``seed`` (``--seed``) seeds whatever the model draws at random, unless ``model_args`` names
    a seed of its own.
    """
    name, _, argument = spec.partition(":")
    entry = ADAPTERS.get(name, source="--model")
    args = dict(model_args or {})
    if seed is not None:
        args.setdefault("seed", str(seed))
    return entry.obj(argument or None, args)
