"""Ordering: the order in which K needles first appear."""

from __future__ import annotations

import itertools
from math import factorial

import numpy as np

from mmhay.generators.tasks import Plan, Question, Scene, Settings, choice_question, mention, noun, pick, register_task
from mmhay.schema import AnswerType, option_letter


def plan_distinct(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """``count`` distinct needles."""
    return Plan(tuple(pick(pool, count or 3, rng)))


def _check(settings: Settings) -> None:
    if settings.needles is not None and settings.needles < 2:
        raise ValueError("needs at least 2 needles to order; set grid.needles to 2 or more")


@register_task("ordering", plan=plan_distinct, needles=3, distinct=True, check=_check)
def ordering(scene: Scene) -> Question:
    """The order of appearance of K different needles: a sequence of letters, or a choice of orders."""
    in_order = [p.needle for p in scene.needles]
    kind = in_order[0].kind
    if scene.form == "open":
        listed = [in_order[int(i)] for i in scene.rng.permutation(len(in_order))]
        answer = ",".join(option_letter(listed.index(n)) for n in in_order)
        text = f"Each of the following {noun(kind, plural=True)} appears once {scene.where}. In what order do they appear?"
        return Question(text, tuple(mention(n) for n in listed), answer, AnswerType.SEQUENCE)
    count = min(scene.options, factorial(len(in_order)))
    orders = [tuple(range(len(in_order)))]
    candidates = [p for p in itertools.permutations(range(len(in_order))) if p != orders[0]] if len(in_order) <= 6 else None
    while len(orders) < count:
        if candidates is not None:
            order = candidates[int(scene.rng.integers(len(candidates)))]
        else:
            order = tuple(int(i) for i in scene.rng.permutation(len(in_order)))
        if order not in orders:
            orders.append(order)
    spell = lambda order: ", then ".join(mention(in_order[i]) for i in order)  # noqa: E731
    text = f"In what order do these {noun(kind, plural=True)} appear {scene.where}?"
    text, options, answer = choice_question(text, spell(orders[0]), [spell(o) for o in orders[1:]], scene.position(count))
    return Question(text, options, answer, AnswerType.CHOICE)
