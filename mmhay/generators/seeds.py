"""Per-sample random generators: every draw depends on (config, seed, index) and nothing else."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Stream", "sample_rng", "balanced_position"]


class Stream(IntEnum):
    """Independent random streams, so that adding draws to one never shifts another."""

    SAMPLE = 0  # everything drawn for one scene (a sample, or twins about one video)
    ANSWER_POSITIONS = 1  # the permutation of correct-option positions over a block of samples
    QUESTION = 2  # the draws of one question (its wrong options)


def sample_rng(config_key: str, seed: int, index: int, stream: Stream) -> np.random.Generator:
    """A fresh generator for ``index`` of the suite with ``config_key`` (hex digest) and ``seed``."""
    entropy = [int(config_key[:32], 16), int(seed), int(index), int(stream)]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def balanced_position(config_key: str, seed: int, block_index: int, k: int) -> int:
    """Where the correct one of ``k`` options goes for the ``block_index``-th question: a fresh
    random permutation of the k positions per run of k questions, so every letter is right
    equally often."""
    block = sample_rng(config_key, seed, block_index // k, Stream.ANSWER_POSITIONS).permutation(k)
    return int(block[block_index % k])
