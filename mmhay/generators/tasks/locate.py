"""Locate (MMNeedle): in which image, row and column of the image grids is the described needle.

Samples come in twins over one set of images: the first describes needles that are there, the
second needles that are nowhere (the answer is -1), so existence is balanced in every cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mmhay.generators.needles import Needle, similar
from mmhay.generators.tasks import Plan, Question, pick, register_task
from mmhay.schema import AnswerType

ABSENT = "-1"


@dataclass(frozen=True)
class Cell:
    """Where a needle sits: image ``index``, ``row`` and ``column``, all counted from 1."""

    index: int
    row: int
    column: int

    def answer(self) -> str:
        return f"{self.index},{self.row},{self.column}"


@dataclass(frozen=True)
class GridScene:
    """What was placed in the grids, and how to ask about it."""

    needles: tuple[tuple[Needle, Cell], ...]  # in the order the captions list them
    plan: Plan
    images: int
    grid: int
    twin: int
    rng: np.random.Generator
    position: Callable[[int], int]


def plan_grid(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """``count`` different needles to place, and as many look-alikes that stay out (for the absent twin)."""
    k = count or 1
    shown = pick(pool, k, rng)
    taken = {n.label for n in shown}
    absent = []
    for needle in shown:
        others = [n for n in pool if n.label not in taken]
        alike = similar(needle, others)[:8] or others
        choice = alike[int(rng.integers(len(alike)))]
        absent.append(choice)
        taken.add(choice.label)
    return Plan(tuple(shown), avoid={}, absent=None, absent_all=tuple(absent))


@register_task("locate", plan=plan_grid, group=2, needles=1, distinct=True, media=("grid",))
def locate(scene: GridScene) -> Question:
    """Where is the needle the caption describes: image, row, column (-1 if it is in no cell); MMNeedle's question."""
    present = scene.twin == 0
    asked = [needle for needle, _ in scene.needles] if present else list(scene.plan.absent_all)
    many = len(asked) > 1
    layout = (
        f"You are given {scene.images} image{'s' if scene.images > 1 else ''}, numbered 1 to {scene.images}; "
        if scene.images > 1
        else "You are given an image; "
    )
    layout += f"{'each is' if scene.images > 1 else 'it is'} a {scene.grid} x {scene.grid} grid of sub-images, with rows and columns numbered from 1."
    if many:
        listed = "\n".join(f"{k + 1}. {n.description}" for k, n in enumerate(asked))
        text = f"{layout}\nFind the sub-images that match these captions:\n{listed}"
    else:
        text = f'{layout}\nFind the sub-image that matches the caption: "{asked[0].description}".'
    answer = ";".join(cell.answer() for _, cell in scene.needles) if present else ";".join([ABSENT] * len(asked))
    return Question(text, (), answer, AnswerType.GRID, asked[0], present)
