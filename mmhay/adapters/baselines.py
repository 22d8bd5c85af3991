"""Baselines that give every report its chance line."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmhay.adapters import ADAPTERS, Answer, Request
from mmhay.errors import ConfigError
from mmhay.schema import option_letter

__all__ = ["RandomBaseline", "random_baseline"]


@ADAPTERS.register("random")
def random_baseline(argument: str | None, args: dict[str, str]) -> "RandomBaseline":
    """Answers uniformly at random: a letter, yes or no, an order, a count of 1..5, a span (model-args: seed=N)."""
    unknown = set(args) - {"seed"}
    if argument or unknown:
        raise ConfigError("--model-args", ", ".join(sorted(unknown)) or "random", "the random baseline takes only seed=N")
    try:
        seed = int(args.get("seed", "0"))
    except ValueError:
        raise ConfigError("--model-args", "seed", "must be an integer", args["seed"]) from None
    return RandomBaseline(seed)


@dataclass(frozen=True)
class RandomBaseline:
    """Uniform random answers; each depends only on the seed and the request's key, never on order."""

    seed: int = 0
    name: str = "random"
    needs_frames: bool = False
    takes_audio: bool = False
    batch_size: int = 64

    def identity(self) -> dict:
        return {"adapter": "random", "seed": self.seed}

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        return [Answer(self._answer(request)) for request in requests]

    def _answer(self, request: Request) -> str:
        key = int.from_bytes(hashlib.sha256(request.key.encode()).digest()[:8], "big")
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, key]))
        kind = request.answer_type
        if kind == "choice" and request.options:
            return option_letter(int(rng.integers(len(request.options))))
        if kind == "boolean":
            return "yes" if rng.integers(2) else "no"
        if kind == "sequence" and request.options:
            return ", ".join(option_letter(int(i)) for i in rng.permutation(len(request.options)))
        if kind == "integer":
            return str(int(rng.integers(1, 6)))
        if kind == "span":
            length = request.duration / 10
            start = float(rng.uniform(0, max(request.duration - length, 0)))
            return f"{start:.2f} - {start + length:.2f}"
        if kind == "grid":
            m, n = int(request.facets.get("images", 1)), int(request.facets.get("grid_size", 1))
            count = int(request.facets.get("needles", 1))
            cells = [
                "-1" if rng.integers(2) else f"{rng.integers(1, m + 1)},{rng.integers(1, n + 1)},{rng.integers(1, n + 1)}"
                for _ in range(count)
            ]
            return "; ".join(cells)
        return "I don't know"  # no guess at free text: its chance is zero
