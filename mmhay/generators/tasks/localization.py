"""Localization: when the needle appears, as a time span in seconds."""

from __future__ import annotations

from fractions import Fraction

from mmhay.generators.tasks import Question, Scene, choice_question, mention, register_task
from mmhay.generators.tasks.retrieval import plan_one
from mmhay.schema import AnswerType


def _seconds(t: Fraction) -> str:
    return f"{float(t):.3f}".rstrip("0").rstrip(".")


@register_task("localization", plan=plan_one)
def localization(scene: Scene) -> Question:
    """When does the needle appear: start and end seconds, or a choice of time spans."""
    placed = scene.needles[0]
    if scene.medium == "images":
        return _which_image(scene, placed)
    text = f"When does {mention(placed.needle)} appear {scene.where}?"
    if scene.form == "open":
        return Question(text, (), f"{_seconds(placed.start)},{_seconds(placed.end)}", AnswerType.SPAN, placed.needle)
    length = placed.end - placed.start
    spans: list[Fraction] = []
    room = scene.duration - length
    # other spans of the same length that do not overlap the right one or each other
    for _ in range(200):
        if len(spans) == scene.options - 1 or room <= 0:
            break
        start = Fraction(round(float(scene.rng.uniform(0, float(room))) * 10), 10)
        if all(abs(start - other) >= length for other in [placed.start, *spans]):
            spans.append(start)
    if len(spans) < scene.options - 1:
        raise ValueError("the video is too short for that many distinct time spans")
    spell = lambda s: f"from {_seconds(s)} s to {_seconds(s + length)} s"  # noqa: E731
    wrong = [spell(s) for s in spans]  # in drawn order: sorted, the right one would stand out
    text, options, answer = choice_question(text, spell(placed.start), wrong, scene.position(scene.options))
    return Question(text, options, answer, AnswerType.CHOICE, placed.needle)


def _which_image(scene: Scene, placed) -> Question:
    """Which image (numbered from 1) shows the needle: a number, or a choice of image numbers."""
    number = int(placed.start) + 1
    text = f"The images are numbered from 1 to {int(scene.duration)}. Which image shows {mention(placed.needle)}?"
    if scene.form == "open":
        return Question(text, (), str(number), AnswerType.INTEGER, placed.needle)
    others = [k for k in range(1, int(scene.duration) + 1) if k != number]
    wrong = [f"image {int(k)}" for k in scene.rng.choice(others, size=min(scene.options - 1, len(others)), replace=False)]
    text, options, answer = choice_question(text, f"image {number}", wrong, scene.position(len(wrong) + 1))
    return Question(text, options, answer, AnswerType.CHOICE, placed.needle)
