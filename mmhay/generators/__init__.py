"""Generators: index-addressable producers of samples (haystacks, needles, tasks).

``generator.sample(i)`` depends only on (config, seed, i), so builds shard by index range, resume,
and training streams never repeat by accident. Generators know nothing of models or scoring.
"""

from __future__ import annotations

from typing import Protocol

from mmhay.config import SuiteConfig
from mmhay.registry import registry
from mmhay.schema import Sample

__all__ = ["Generator", "create_generator", "GENERATORS", "TASKS"]

GENERATORS = registry("generator")
TASKS = registry("task")


class Generator(Protocol):
    """What every generator offers: a length, a sample per index, and the sources it draws from."""

    suite: SuiteConfig

    def __len__(self) -> int: ...

    def sample(self, index: int) -> Sample: ...

    def sources(self) -> dict: ...


def create_generator(suite: SuiteConfig, *, strict: bool = False) -> Generator:
    """The generator a suite names, with its sources scanned and checked.

    Unreadable media in source folders is skipped with a logged warning, or raises with ``strict``.
    """
    entry = GENERATORS.get(suite.generator, source=suite.origin, key="generator")
    return entry.obj(suite, strict=strict)
