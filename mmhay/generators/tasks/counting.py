"""Counting: how many times a needle appears, or how many needles of a kind appear.

A count of 0 (V-RULER's) shows none: the question still names the needle (or the kind), the
needle is recorded as asked and absent, and distractors are drawn as for any other count.
"""

from __future__ import annotations

import numpy as np

from mmhay.generators.needles import Needle
from mmhay.generators.tasks import Plan, Question, Scene, Settings, choice_question, mention, noun, pick, register_task
from mmhay.schema import AnswerType

MAX_DEFAULT_COUNT = 5


def plan_repeats(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """One needle shown ``count`` times (1..5 at random when the grid does not say; 0: absent)."""
    k = count if count is not None else int(rng.integers(1, MAX_DEFAULT_COUNT + 1))
    needle = pick(pool, 1, rng)[0]
    return Plan((needle,) * k, absent=None if k else needle)


def counted_needle(scene: Scene) -> Needle:
    """The needle a count is about: the one shown, or for a count of 0 the one kept out."""
    if scene.needles:
        return scene.needles[0].needle
    assert scene.plan.absent is not None
    return scene.plan.absent


def ask_count(scene: Scene, text: str, k: int, asked: Needle | None = None) -> Question:
    """A question whose answer is the count ``k``: open, or among options (from 0 when the
    suite's counts include 0, else from 1), with ``asked`` recorded as present when ``k > 0``."""
    if scene.form == "open":
        return Question(text, (), str(k), AnswerType.INTEGER, asked, k > 0)
    low = 0 if scene.zero_counts else 1
    candidates = [v for v in range(low, max(k + 4, scene.options + low)) if v != k]
    # in drawn order, not sorted: a sorted list with the answer put in would give it away
    wrong = [int(v) for v in scene.rng.choice(candidates, size=scene.options - 1, replace=False)]
    text, options, answer = choice_question(text, str(k), [str(v) for v in wrong], scene.position(scene.options))
    return Question(text, options, answer, AnswerType.CHOICE, asked, k > 0)


@register_task("counting", plan=plan_repeats, needles=None, zero=True)
def counting(scene: Scene) -> Question:
    """How many times one needle appears (each appearance apart from the others; 0 to 50)."""
    needle = counted_needle(scene)
    text = f"How many times does {mention(needle)} appear {scene.where}?"
    # suites without 0 keep their truth as it always was (no asked needle recorded)
    return ask_count(scene, text, len(scene.needles), needle if scene.zero_counts else None)


def plan_kind(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """``count`` different needles sharing a shape or a colour; distractors have neither."""
    k = count if count is not None else int(rng.integers(1, MAX_DEFAULT_COUNT + 1))
    attribute = ("color", "shape")[int(rng.integers(2))]
    values = sorted({n.attributes[attribute] for n in pool})
    value = values[int(rng.integers(len(values)))]
    members = [n for n in pool if n.attributes.get(attribute) == value]
    return Plan(tuple(pick(members, min(k, len(members)), rng)), avoid={attribute: value})


def _check_kind(settings: Settings) -> None:
    if not settings.builtin or settings.kind == "text":
        raise ValueError("counting by kind needs the built-in shape needles (kind image or clip, source builtin)")
    if settings.needles is not None and settings.needles > 10:
        raise ValueError("there are 10 shapes of each colour and 10 colours of each shape: at most 10 needles")


@register_task("count_kind", plan=plan_kind, needles=None, distinct=True, check=_check_kind, zero=True)
def count_kind(scene: Scene) -> Question:
    """How many different needles of one kind (a colour, or a shape) appear."""
    attribute, value = next(iter(scene.plan.avoid.items()))
    what = f"{value} shapes" if attribute == "color" else (f"{value}es" if value.endswith(("s", "x")) else f"{value}s")
    kind = scene.needles[0].needle.kind if scene.needles else scene.kind
    text = f"How many different {what} appear {scene.where} (as {noun(kind, plural=True)})?"
    return ask_count(scene, text, len({p.needle.label for p in scene.needles}))
