"""Needles: the pictures hidden in haystacks, each with the label and description questions use."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from mmhay.config import SuiteConfig
from mmhay.errors import ConfigError, MediaError
from mmhay.media.pictures import load_picture
from mmhay.media.probe import IMAGE_SUFFIXES, walk_files
from mmhay.media.procedural import COLORS, SHAPES
from mmhay.timeline import FileRef, GeneratorRef, MediaRef

__all__ = ["Needle", "builtin_needles", "folder_needles", "needle_pool"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Needle:
    """A picture to hide: ``label`` is its short name, ``description`` what a question calls it."""

    label: str
    description: str
    ref: MediaRef


def builtin_needles() -> tuple[Needle, ...]:
    """Every coloured shape (10 shapes x 10 colours), described exactly: "a red star"."""
    return tuple(
        Needle(
            f"{color} {shape}",
            f"{'an' if color[0] in 'aeiou' else 'a'} {color} {shape}",
            GeneratorRef("shape", {"shape": shape, "color": color}),
        )
        for shape in SHAPES
        for color in COLORS
    )


def folder_needles(folder: Path, *, strict: bool = False) -> tuple[Needle, ...]:
    """Needles from the image files under ``folder`` (recursive), described by their file names.

    ``golden_retriever.jpg`` is described as "golden retriever". Unreadable images and names that
    repeat an earlier description are skipped with a warning (an error with ``strict``).
    """
    needles, seen = [], set()
    for path in walk_files(folder, IMAGE_SUFFIXES):
        description = re.sub(r"[\s_\-]+", " ", path.stem).strip()
        try:
            load_picture(path)
            if not description:
                raise MediaError(path, "a needle's file name must describe it")
            if description.lower() in seen:
                raise MediaError(path, f"describes the same needle as an earlier file ({description!r})")
        except MediaError as error:
            if strict:
                raise
            log.warning("skipped needle %s", error)
            continue
        seen.add(description.lower())
        needles.append(Needle(description, description, FileRef.image(path)))
    return tuple(needles)


def needle_pool(suite: SuiteConfig, *, strict: bool = False) -> tuple[Needle, ...]:
    """The needles a suite draws from, checked to be enough for its questions."""
    source = suite.needle.source
    if source == "builtin":
        pool = builtin_needles()
    else:
        folder = suite.resolve(source)
        if not folder.is_dir():
            problem = "directory does not exist" if not folder.exists() else "not a directory"
            raise ConfigError(suite.origin, "needle.source", problem, source)
        pool = folder_needles(folder, strict=strict)
    if len(pool) < suite.question.options:
        raise ConfigError(
            suite.origin,
            "needle.source",
            f"has {len(pool)} usable pictures; questions with {suite.question.options} options need at least that many",
            source,
        )
    return pool
