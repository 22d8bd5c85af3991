"""Scoring one parsed answer against the truth, by answer type."""

from __future__ import annotations

from math import factorial

from mmhay.scoring.parse import normalise_text

__all__ = ["is_correct", "span_iou", "chance", "SPAN_IOU_CORRECT"]

# A span answer counts as correct from this temporal IoU on (docs/metrics.md).
SPAN_IOU_CORRECT = 0.5


def span_iou(a: str, b: str) -> float:
    """Temporal intersection over union of two "start,end" spans; equal points count as 1."""
    (a0, a1), (b0, b1) = (tuple(float(v) for v in s.split(",")) for s in (a, b))
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = max(a1, b1) - min(a0, b0)
    if union == 0:
        return 1.0 if (a0, a1) == (b0, b1) else 0.0
    return inter / union


def is_correct(answer_type: str, parsed: str | None, answer: str) -> bool:
    """Whether a parsed answer matches the truth (None never does)."""
    if parsed is None:
        return False
    if answer_type == "span":
        return span_iou(parsed, answer) >= SPAN_IOU_CORRECT
    if answer_type == "text":
        return normalise_text(parsed) == normalise_text(answer)
    return parsed == answer


def chance(answer_type: str, options: int) -> float | None:
    """The probability of a right answer by guessing uniformly, where the answer space is finite."""
    if answer_type == "choice" and options:
        return 1 / options
    if answer_type == "boolean":
        return 0.5
    if answer_type == "sequence" and options:
        return 1 / factorial(options)
    return None
