"""Negative needles: the asked-about needle is absent, so any "yes" is a hallucination.

Samples come in twins over one scene: the first asks about the needle that is there (yes), the
second about a similar one that is not (no), so positives and negatives balance in every cell.
"""

from __future__ import annotations

import numpy as np

from mmhay.generators.needles import similar
from mmhay.generators.tasks import Plan, Question, Scene, choice_question, mention, noun, pick, register_task
from mmhay.schema import AnswerType

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
    k = scene.options
    # one option is "none of these"; the right option (the needle, or "none of these") goes to a
    # balanced place, and "none of these" takes another at random when it is wrong, so that no
    # letter is right more often than another
    others = [mention(n) for n in pick(scene.pool, k - 2, scene.rng, scene.shown_labels | absent)]
    if present:
        others.insert(int(scene.rng.integers(len(others) + 1)), NONE_OF_THESE)
        right = mention(shown)
    else:
        others.insert(int(scene.rng.integers(len(others) + 1)), mention(scene.plan.absent))
        right = NONE_OF_THESE
    text = f"Which of the following {noun(asked.kind, plural=True)} appears {scene.where}?"
    text, options, answer = choice_question(text, right, others, scene.position(k))
    return Question(text, options, answer, AnswerType.CHOICE, asked, present)
