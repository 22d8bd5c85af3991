"""Distractors: needles of the same kind with other content, shown where the question does not look."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmhay.generators.needles import Needle, as_distractor, similar
from mmhay.generators.tasks import Plan

__all__ = ["offset_start", "pick_distractors", "periodic_starts"]


def pick_distractors(pool: Sequence[Needle], plan: Plan, count: int, similarity: str, rng: np.random.Generator) -> list[Needle]:
    """``count`` distractors: never a needle the question is about, never of a kind it counts.

    With ``similarity`` "similar", those sharing a shape or colour with the first needle (or, where
    none is shown, the absent one asked about) come first (in random order); the rest are drawn at random. Repeats only when the pool runs out.
    """
    if count == 0:
        return []
    taken = {n.label for n in (*plan.shown, *plan.decoys)} | ({plan.absent.label} if plan.absent is not None else set())
    candidates = [
        n for n in pool if n.label not in taken and not any(n.attributes.get(k) == v for k, v in plan.avoid.items())
    ]
    if not candidates:
        raise ValueError("no needle of the pool can serve as a distractor")
    order = [candidates[int(i)] for i in rng.permutation(len(candidates))]
    anchor = plan.shown[0] if plan.shown else plan.absent  # a count of 0 shows none: like the asked one
    if similarity == "similar" and anchor is not None:
        alike = similar(anchor, order)
        order = alike + [n for n in order if n not in alike]
    chosen = [order[i % len(order)] for i in range(count)]
    return [as_distractor(n) for n in chosen]


def periodic_starts(length: int, count: int, width: int) -> list[int]:
    """Evenly spaced starts for ``count`` items of ``width`` frames over ``length`` frames (V-NIAH-D)."""
    return [max(0, round(length * (j + 1) / (count + 1) - width / 2)) for j in range(count)]


def offset_start(needle: int, needle_width: int, width: int, length: int, offset: int, rng) -> int | None:
    """Where V-NIAH-D's look-alike goes: ``offset`` haystack frames before the needle's start or
    after it, on the side that fits (VideoRoPE, ``vision_niah_d/eval_vision_niah_interrupt.py``:
    after when the needle is within ``offset`` of the start, before when within ``offset`` of the
    end, else either at random); None when neither side fits. ``width`` is the look-alike's frames
    in the haystack (0 when inserted), which must neither leave it nor overlap the needle."""
    before = needle - offset
    after = needle + offset
    sides = []
    if before >= 0 and before + width <= needle:
        sides.append(before)
    if after + max(width, 1) <= length and after >= needle + needle_width:
        sides.append(after)
    if not sides:
        return None
    return sides[0] if len(sides) == 1 else sides[int(rng.random() < 0.5)]
