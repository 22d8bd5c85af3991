"""Samples and answer types: what a generator produces and a scorer reads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Union

from mmhay.timeline import Composition

if TYPE_CHECKING:
    from mmhay.gallery import Gallery

__all__ = ["AnswerType", "Sample", "option_letter", "rotations", "SAMPLE_SCHEMA"]

SAMPLE_SCHEMA = "Sample.1"


class AnswerType(str, Enum):
    """How an answer is written and compared."""

    CHOICE = "choice"  # an option letter: "B"
    INTEGER = "integer"  # a count: "3"
    SEQUENCE = "sequence"  # ordered letters or labels: "B,A,C"
    BOOLEAN = "boolean"  # "yes" or "no"
    SPAN = "span"  # start and end seconds: "12.5,15"
    GRID = "grid"  # image index, row, column (or a set of them)
    TEXT = "text"  # free form, compared after normalisation
    COUNTS = "counts"  # a list of counts, one per image or per needle, in order: "2,0,1"


def option_letter(position: int) -> str:
    """``0 -> "A"``, ``1 -> "B"``, ... (at most 26 options)."""
    if not 0 <= position < 26:
        raise ValueError(f"option position {position} is outside A..Z")
    return chr(ord("A") + position)


@dataclass(frozen=True)
class Sample:
    """One question about one piece of media, with its answer and the ground truth behind it.

    ``truth`` holds the needle placements (times in seconds, frame indices, labels); ``facets``
    the grid coordinates the sample belongs to. Both hold JSON values only.
    """

    id: str
    suite: str
    task: str
    modality: str
    question: str
    options: tuple[str, ...]
    answer: str
    answer_type: AnswerType
    media: Union[Composition, "Gallery"]
    truth: Mapping[str, Any] = field(default_factory=dict)
    facets: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    index: int = 0
    group: str = ""  # circular evaluation: the id of the question this is a rotation of
    rotation: int = 0  # circular evaluation: how many places the options were turned

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        object.__setattr__(self, "answer_type", AnswerType(self.answer_type))
        # JSON-normalised, so that a round trip compares equal
        object.__setattr__(self, "truth", json.loads(json.dumps(dict(self.truth), sort_keys=True)))
        object.__setattr__(self, "facets", json.loads(json.dumps(dict(self.facets), sort_keys=True)))

    def to_json(self) -> dict:
        return {
            "schema": SAMPLE_SCHEMA,
            "id": self.id,
            "suite": self.suite,
            "task": self.task,
            "modality": self.modality,
            "question": self.question,
            "options": list(self.options),
            "answer": self.answer,
            "answer_type": self.answer_type.value,
            "media": self.media.to_json(),
            "truth": dict(self.truth),
            "facets": dict(self.facets),
            "seed": self.seed,
            "index": self.index,
            "group": self.group,
            "rotation": self.rotation,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> "Sample":
        if data.get("schema") != SAMPLE_SCHEMA:
            raise ValueError(f"not a {SAMPLE_SCHEMA}: {data.get('schema')!r}")
        from mmhay.gallery import GALLERY_SCHEMA, Gallery

        values = {k: v for k, v in data.items() if k != "schema"}
        values["group"] = values.get("group") or ""
        media = values["media"]
        if media.get("schema") == GALLERY_SCHEMA:
            values["media"] = Gallery.from_json(media)
        else:
            values["media"] = Composition.from_json(media)
        return cls(**values)


def rotations(sample: Sample) -> list[Sample]:
    """The K rotations of a multiple-choice sample (its options turned 0..K-1 places), linked by
    ``group``: circular evaluation counts the question right only if every rotation is. Other
    answer types have one rotation, the sample itself. Options that are pictures (a gallery's
    ``options``) turn with their letters."""
    from dataclasses import replace

    if sample.answer_type is not AnswerType.CHOICE or len(sample.options) < 2:
        return [replace(sample, group=sample.id, rotation=0)]
    k = len(sample.options)
    right = ord(sample.answer) - ord("A")
    pictures = getattr(sample.media, "options", ())
    turned = []
    for r in range(k):
        options = tuple(sample.options[(i - r) % k] for i in range(k))
        media = replace(sample.media, options=tuple(pictures[(i - r) % k] for i in range(k))) if pictures else sample.media
        turned.append(
            replace(sample, id=f"{sample.id}-r{r}" if r else sample.id, options=options, answer=option_letter((right + r) % k), media=media, group=sample.id, rotation=r)
        )
    return turned
