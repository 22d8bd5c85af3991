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

__all__ = ["ADAPTERS", "Adapter", "Request", "create_adapter", "parse_model_args"]

ADAPTERS = registry("adapter")


@dataclass(frozen=True)
class Request:
    """One question for a model: the prompt text and, when the model looks, what it is shown.

    A video sample gives ``frames``, with ``frame_times`` (the seconds at which each is shown)
    and ``fps`` (the video's rate, when known): processors that encode time use both. An image
    sample gives ``images``, and in ``interleaved`` the texts and image indices in reading
    order when the images come with text between them. A sample with sound gives ``audio`` at
    ``audio_rate`` to models that hear. ``facets`` describe the answer space (baselines use them).
    """

    key: str
    prompt: str
    answer_type: str
    options: tuple[str, ...] = ()
    frames: np.ndarray | None = None
    frame_times: tuple[float, ...] = ()
    duration: float = 0.0
    fps: float | None = None
    images: tuple[np.ndarray, ...] = ()
    interleaved: tuple[str | int, ...] = ()  # text and image indices in reading order, before the prompt
    audio: np.ndarray | None = None  # float32 [channels, samples]
    audio_rate: int | None = None
    facets: Mapping[str, Any] = field(default_factory=dict)


class Adapter(Protocol):
    """What every model offers to the evaluator."""

    name: str
    needs_frames: bool  # whether the model looks at the media at all (baselines do not)
    takes_audio: bool  # whether it hears: samples whose answer is in the sound are skipped if not

    def identity(self) -> dict[str, Any]:
        """What identifies the model and its generation settings (recorded with the run)."""
        ...

    def generate(self, requests: Sequence[Request]) -> list[str]:
        """One text answer per request, in order."""
        ...


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


def create_adapter(spec: str, model_args: Mapping[str, str] | None = None) -> Adapter:
    """The model named by ``spec`` (``NAME`` or ``NAME:ARGUMENT``), loaded and ready to answer."""
    name, _, argument = spec.partition(":")
    entry = ADAPTERS.get(name, source="--model")
    return entry.obj(argument or None, dict(model_args or {}))
