"""Negative needles: the asked-about needle is absent, so any "yes" is a hallucination.

Samples come in twins over one scene: the first asks about the needle that is there (yes), the
second about a similar one that is not (no), so positives and negatives balance in every cell.
"""

from __future__ import annotations

import numpy as np

from mmhay.generators.needles import similar
from mmhay.generators.tasks import Plan, Question, Scene, choice_question, mention, noun, pick, register_task
from mmhay.schema import AnswerType, option_letter

NONE_OF_THESE = "none of these"


def plan_with_absent(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """One needle to show, and a similar one (sharing a shape or colour where it can) that stays out."""
    needle = pick(pool, 1, rng)[0]
    others = [n for n in pool if n.label != needle.label]
    alike = similar(needle, others)[:8] or others
    return Plan((needle,), absent=alike[int(rng.integers(len(alike)))])


@register_task("negative", plan=plan_with_absent, group=2)
def negative(scene: Scene) -> Question:
    """Is it there? Twins over one video: the shown needle (yes) and a similar absent one (no)."""
    shown = scene.needles[0].needle
    present = scene.twin == 0
    asked = shown if present else scene.plan.absent
    assert asked is not None
    if scene.form == "open":
        text = f"Does {mention(asked)} appear {scene.where}?"
        return Question(text, (), "yes" if present else "no", AnswerType.BOOLEAN, asked, present)
    absent = {scene.plan.absent.label} if scene.plan.absent else set()
    k = scene.options - 1  # the last option is "none of these"
    wrong = pick(scene.pool, k - 1, scene.rng, scene.shown_labels | absent)
    if not present:
        wrong.insert(int(scene.rng.integers(len(wrong) + 1)), scene.plan.absent)
    text = f"Which of the following {noun(asked.kind, plural=True)} appears {scene.where}?"
    if present:
        text, options, answer = choice_question(text, mention(shown), [mention(n) for n in wrong], scene.position(k))
        return Question(text, options + (NONE_OF_THESE,), answer, AnswerType.CHOICE, asked, True)
    options = tuple(mention(n) for n in wrong) + (NONE_OF_THESE,)
    return Question(text, options, option_letter(k), AnswerType.CHOICE, asked, False)
