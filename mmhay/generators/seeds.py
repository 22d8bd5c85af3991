"""Per-sample random generators: every draw depends on (config, seed, index) and nothing else."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Stream", "sample_rng"]


class Stream(IntEnum):
    """Independent random streams, so that adding draws to one never shifts another."""

    SAMPLE = 0  # everything drawn for one scene (a sample, or twins about one video)
    ANSWER_POSITIONS = 1  # the permutation of correct-option positions over a block of samples
    QUESTION = 2  # the draws of one question (its wrong options)


def sample_rng(config_key: str, seed: int, index: int, stream: Stream) -> np.random.Generator:
    """A fresh generator for ``index`` of the suite with ``config_key`` (hex digest) and ``seed``."""
    entropy = [int(config_key[:32], 16), int(seed), int(index), int(stream)]
    return np.random.default_rng(np.random.SeedSequence(entropy))
