"""Generators: index-addressable producers of samples (haystacks, needles, tasks).

``generator.sample(i)`` depends only on (config, seed, i), so builds shard by index range, resume,
and training streams never repeat by accident. Generators know nothing of models or scoring.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from mmhay.config import SuiteConfig
from mmhay.registry import registry
from mmhay.schema import Sample

__all__ = ["Generator", "create_generator", "combinations", "GENERATORS", "TASKS"]

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


def combinations(axes: Mapping[str, Sequence | None]) -> list[dict[str, Any]]:
    """Every combination of the values of ``axes`` (name to values; an axis given as None is left
    out), as name to value, the last axis varying fastest: the cells of a suite's grid."""
    given = {name: values for name, values in axes.items() if values is not None}
    return [dict(zip(given, values)) for values in itertools.product(*given.values())]
