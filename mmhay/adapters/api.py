"""Models behind an OpenAI-compatible chat completions endpoint (OpenAI, vLLM, SGLang, LM Studio, ...).

``openai:MODEL`` posts each request to ``BASE_URL/chat/completions``: frames and images as
base64 data URLs (options that are pictures inside the question, each after its letter), sound
as base64 WAV (``input_audio``) when ``audio=true``. Up to ``concurrency`` requests are in
flight at once; a request that meets 429, a 5xx, a timeout or a dropped connection is tried
again after an exponential backoff (``Retry-After`` honoured). The key is read from the
environment variable ``api_key_env`` names and goes nowhere but the ``Authorization`` header:
not into the run, the cache, the logs or any error message.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmhay.adapters import ADAPTERS, Answer, Request, chat_messages, prompt_parts
from mmhay.adapters.generation import api_fields
from mmhay.errors import ConfigError

__all__ = ["APISettings", "APIModel", "api_model"]

_RETRIED_STATUS = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529}


@dataclass(frozen=True)
class APISettings:
    """How the endpoint is reached and asked (from ``--model-args``)."""

    model: str
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    max_retries: int = 5
    timeout: float = 60.0  # seconds for one attempt
    backoff: float = 1.0  # seconds before the first retry, doubled each time, at most 60
    max_tokens: int = 32
    temperature: float = 0.0
    seed: int = 0
    image_format: str = "jpeg"  # jpeg or png
    image_max_side: int = 768  # frames larger than this are scaled down before sending; 0 keeps them
    audio: bool = False  # whether the endpoint takes input_audio parts


_TYPES = {
    "concurrency": int,
    "max_retries": int,
    "timeout": float,
    "backoff": float,
    "max_tokens": int,
    "temperature": float,
    "seed": int,
    "image_max_side": int,
    "audio": lambda text: {"true": True, "1": True, "false": False, "0": False}[text.lower()],
}


@ADAPTERS.register("openai")
def api_model(argument: str | None, args: dict[str, str]) -> "APIModel":
    """An OpenAI-compatible chat endpoint (openai:MODEL; model-args: base_url, api_key_env, concurrency, max_retries, timeout, backoff, max_tokens, temperature, seed, image_format, image_max_side, audio)."""
    known = set(APISettings.__dataclass_fields__)
    unknown = set(args) - known
    if unknown:
        raise ConfigError("--model-args", sorted(unknown)[0], f"unknown option; expected one of: {', '.join(sorted(known - {'model'}))}")
    model = argument or args.pop("model", None)
    args.pop("model", None)
    if not model:
        raise ConfigError("--model", "openai", "needs a model name: openai:MODEL or --model-args model=MODEL")
    typed: dict[str, Any] = dict(args)
    for key, kind in _TYPES.items():
        if key in typed:
            try:
                typed[key] = kind(typed[key])
            except (ValueError, KeyError):
                raise ConfigError("--model-args", key, "has the wrong type", typed[key]) from None
    settings = APISettings(model=model, **typed)
    if settings.image_format not in ("jpeg", "png"):
        raise ConfigError("--model-args", "image_format", "must be jpeg or png", settings.image_format)
    if settings.concurrency < 1 or settings.max_retries < 0 or settings.timeout <= 0:
        raise ConfigError("--model-args", "concurrency", "concurrency must be >= 1, max_retries >= 0, timeout > 0")
    if not os.environ.get(settings.api_key_env):
        raise ConfigError("--model-args", "api_key_env", f"the environment variable {settings.api_key_env} is not set")
    return APIModel(settings)


@dataclass
class APIModel:
    """A chat model reached over HTTP."""

    settings: APISettings
    needs_frames: bool = field(default=True, init=False)
    takes_frame_sizes: bool = field(default=True, init=False)  # each frame is its own image
    sees: bool = field(default=True, init=False)

    @property
    def name(self) -> str:
        return f"openai:{self.settings.model}"

    @property
    def takes_audio(self) -> bool:
        return self.settings.audio

    @property
    def batch_size(self) -> int:
        return self.settings.concurrency

    def identity(self) -> dict:
        s = self.settings
        identity = {
            "adapter": "openai",
            "model": s.model,
            "base_url": s.base_url,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "image_format": s.image_format,
            "image_max_side": s.image_max_side,
        }
        if s.temperature > 0:
            identity["seed"] = s.seed
        return identity

    def check_generation(self, settings: dict) -> None:
        """Refuse a ``--gen-kwargs`` setting the chat completions API has no field for."""
        api_fields(settings)

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        """Answers to ``requests``, at most ``concurrency`` in flight; failures come back as
        answers with an ``error`` once their retries are spent."""
        if len(requests) <= 1 or self.settings.concurrency == 1:
            return [self._answer(request) for request in requests]
        with ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(requests))) as pool:
            return list(pool.map(self._answer, requests))

    def _answer(self, request: Request) -> Answer:
        body = self._body(request)
        data = json.dumps(body).encode()
        shown = _placeholders(body["messages"])
        key = os.environ.get(self.settings.api_key_env, "")
        error = "no attempt made"
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                time.sleep(self._delay(request.key, attempt, error))
            try:
                reply = self._post(data)
            except _Retry as retry:
                error = _redact(str(retry), key)  # what a server sends back (bodies, headers) may quote the key
                continue
            except _Fatal as fatal:
                return Answer("", prompt=shown, error=_redact(str(fatal), key))
            choices = reply.get("choices") or [{}]
            text = (choices[0].get("message") or {}).get("content") or ""
            if isinstance(text, list):  # some servers return content parts
                text = "".join(part.get("text", "") for part in text if isinstance(part, dict))
            usage = {k: int(v) for k, v in (reply.get("usage") or {}).items() if k in ("prompt_tokens", "completion_tokens", "total_tokens") and isinstance(v, int)}
            return Answer(_redact(text.strip(), key), prompt=shown, usage=usage, received=self._received(request))
        return Answer("", prompt=shown, error=f"{error} (gave up after {self.settings.max_retries + 1} attempts)")

    def _delay(self, key: str, attempt: int, error: str) -> float:
        """Seconds to wait before ``attempt``: Retry-After when the server gave one, else
        exponential backoff with a jitter drawn from the request's key (no global random state)."""
        if error.startswith("HTTP 429") and "retry after " in error:
            try:
                return min(float(error.rsplit("retry after ", 1)[1].split(" ")[0]), 60.0)
            except ValueError:
                pass
        jitter = int.from_bytes(hashlib.sha256(f"{key}:{attempt}".encode()).digest()[:4], "big") / 2**32
        return min(self.settings.backoff * 2 ** (attempt - 1), 60.0) * (0.5 + 0.5 * jitter)

    def _post(self, data: bytes) -> dict:
        key = os.environ.get(self.settings.api_key_env, "")
        url = self.settings.base_url.rstrip("/") + "/chat/completions"
        request = urllib.request.Request(url, data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            # redacted before it is cut short, so that no piece of the key survives the cut
            detail = _redact(error.read(4096).decode("utf-8", "replace"), key)[:200]
            status = f"HTTP {error.code}"
            if error.code in _RETRIED_STATUS:
                after = error.headers.get("Retry-After") if error.headers else None
                raise _Retry(f"{status} retry after {after} s: {detail}" if after else f"{status}: {detail}") from None
            raise _Fatal(f"{status} from {url}: {detail}") from None
        except (TimeoutError, socket.timeout):
            raise _Retry(f"timed out after {self.settings.timeout:g} s") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, (TimeoutError, socket.timeout)):
                raise _Retry(f"timed out after {self.settings.timeout:g} s") from None
            if isinstance(error.reason, ConnectionError):
                raise _Retry(f"connection failed: {error.reason}") from None
            raise _Fatal(f"cannot reach {url}: {error.reason}") from None
        except (ConnectionError, http.client.HTTPException) as error:
            raise _Retry(f"connection dropped: {type(error).__name__}") from None
        try:
            return json.loads(payload)
        except ValueError:
            raise _Retry(f"the reply from {url} is not JSON") from None

    def _body(self, request: Request) -> dict:
        s = self.settings
        content: list[dict] = []
        if request.audio is not None and s.audio:
            content.append({"type": "input_audio", "input_audio": {"data": _wav(request.audio, request.audio_rate or 16000), "format": "wav"}})
        if request.images:
            order = request.interleaved or tuple(range(len(request.images)))
            for item in order:
                content.append({"type": "text", "text": item} if isinstance(item, str) else self._image(request.images[item]))
        elif request.frames is not None and len(request.frames):
            times = ", ".join(f"{t:.1f}" for t in request.frame_times)
            content.append({"type": "text", "text": f"{len(request.frames)} frames of a {request.duration:.1f}-second video, shown at {times} seconds:"})
            content += [self._image(frame) for frame in request.frames]
        # options that are pictures go inside the question, each after its letter (MM-NIAH's A. <image>)
        content += [self._image(request.option_images[part]) if isinstance(part, int) else {"type": "text", "text": part} for part in prompt_parts(request)]
        body: dict[str, Any] = {
            "model": s.model,
            "messages": chat_messages(request, content, parts=False),
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            **api_fields(request.generation),  # --gen-kwargs over the model args
        }
        if body["temperature"] > 0:
            body.setdefault("seed", s.seed)
        return body

    def _sent_size(self, width: int, height: int) -> tuple[int, int]:
        """The size a picture of ``width`` x ``height`` is sent at (``image_max_side``)."""
        side = self.settings.image_max_side
        if side and max(width, height) > side:
            scale = side / max(width, height)
            return max(1, round(width * scale)), max(1, round(height * scale))
        return width, height

    def _received(self, request: Request) -> dict:
        """The sizes the pictures were sent at (``Answer.received``)."""
        if request.images:
            return {"image_sizes": [list(self._sent_size(i.shape[1], i.shape[0])) for i in (*request.images, *request.option_images)]}
        if request.frames is not None and len(request.frames):
            return {"frame_sizes": [list(self._sent_size(f.shape[1], f.shape[0])) for f in request.frames]}
        return {}

    def _image(self, pixels: np.ndarray) -> dict:
        from PIL import Image

        image = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
        if self._sent_size(*image.size) != image.size:
            image = image.resize(self._sent_size(*image.size), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format=self.settings.image_format.upper(), **({"quality": 90} if self.settings.image_format == "jpeg" else {}))
        data = base64.b64encode(buffer.getvalue()).decode()
        return {"type": "image_url", "image_url": {"url": f"data:image/{self.settings.image_format};base64,{data}"}}


class _Retry(Exception):
    """A failure worth another attempt."""


class _Fatal(Exception):
    """A failure no retry will mend (bad request, bad key, no such model)."""


def _redact(text: str, key: str) -> str:
    return text.replace(key, "***") if key else text


def _placeholders(messages: list[dict]) -> str:
    """The messages as text, each picture or sound a placeholder (what ``--log-samples`` keeps);
    a system prompt, where there is one, first, each turn headed by its role."""
    turns = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            turns.append((message["role"], content))
            continue
        parts = [part["text"] if part["type"] == "text" else "<image>" if part["type"] == "image_url" else "<audio>" for part in content]
        turns.append((message["role"], "\n".join(parts)))
    if len(turns) == 1:
        return turns[0][1]
    return "\n".join(f"[{role}]\n{text}" for role, text in turns)


def _wav(audio: np.ndarray, rate: int) -> str:
    """Base64 of a 16-bit mono WAV file of ``audio`` (float32 [channels, samples])."""
    import wave

    mono = np.clip(np.asarray(audio, dtype=np.float32).mean(axis=0), -1, 1)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((mono * 32767).astype("<i2").tobytes())
    return base64.b64encode(buffer.getvalue()).decode()
