"""Needle QA: a question about a detail of the needle shown, from the needle's own questions file
(``needle.questions``), as LongVA's V-NIAH ("What is the color of that balloon?"), VideoChat-Flash's
single-hop NIAH and MLVU's needle QA ask."""

from __future__ import annotations

import numpy as np

from mmhay.errors import ConfigError
from mmhay.generators.tasks import Plan, Question, Scene, Settings, choice_question, pick, register_task
from mmhay.schema import AnswerType


def plan_questioned(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """One needle that has questions, drawn at random."""
    return Plan(tuple(pick([n for n in pool if n.questions], 1, rng)))


def _check(settings: Settings) -> None:
    questioned = [n for n in settings.pool if n.questions]
    if not questioned:
        raise ValueError("asks the needles' own questions: give needle.questions, a questions file about the needle folder's files")
    if settings.form == "choice":
        for needle in questioned:
            for question in needle.questions:
                if not question.options:
                    # a bad file, not a cell to leave out: said at once, whatever the grid
                    raise ConfigError(
                        question.source,
                        f"{question.where}.options",
                        f"missing: needle_qa asks in form choice, and this question about {question.file} has none; "
                        "give it options, or ask open (question.form: open)",
                    )


@register_task("needle_qa", plan=plan_questioned, check=_check, media=("video",), pooled_options=False)
def needle_qa(scene: Scene) -> Question:
    """A detail of the needle shown, asked by its own question: multiple choice (its options) or open."""
    needle = scene.needles[0].needle
    k = int(scene.rng.integers(len(needle.questions)))
    question = needle.questions[k]
    detail = {"file": question.file, "index": k, "where": question.where}
    if scene.form == "open":
        return Question(question.question, (), question.answer, AnswerType.TEXT, needle, detail=detail)
    wrong = [o for o in question.options if o != question.answer]
    text, options, answer = choice_question(question.question, question.answer, wrong, scene.position(len(question.options)))
    return Question(text, options, answer, AnswerType.CHOICE, needle, detail=detail)
