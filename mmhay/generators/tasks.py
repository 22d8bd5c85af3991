"""Tasks: turn the needles placed in a haystack into a question, its options and its answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmhay.generators import TASKS
from mmhay.generators.needles import Needle
from mmhay.schema import AnswerType, option_letter

__all__ = ["Question", "retrieval"]


@dataclass(frozen=True)
class Question:
    """The asked part of a sample."""

    text: str
    options: tuple[str, ...]
    answer: str
    answer_type: AnswerType


@TASKS.register("retrieval", answer_type=AnswerType.CHOICE.value)
def retrieval(
    shown: Sequence[Needle],
    pool: Sequence[Needle],
    rng: np.random.Generator,
    *,
    options: int,
    answer_position: int,
) -> Question:
    """Which picture appeared in the video: multiple choice among needles of the pool."""
    needle = shown[0]
    others = [candidate for candidate in pool if candidate.description != needle.description]
    picks = rng.choice(len(others), size=options - 1, replace=False)
    choices = [others[int(k)] for k in picks]
    choices.insert(answer_position, needle)
    return Question(
        "A picture that does not belong to the rest of the video is shown for a moment. What does it show?",
        tuple(choice.description for choice in choices),
        option_letter(answer_position),
        AnswerType.CHOICE,
    )
