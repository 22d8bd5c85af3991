"""Retrieval: what was shown, or what the caption said."""

from __future__ import annotations

import numpy as np

from mmhay.generators.tasks import Plan, Question, Scene, Settings, choice_question, noun, pick, register_task
from mmhay.schema import AnswerType


def plan_one(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """One needle, drawn at random."""
    return Plan(tuple(pick(pool, 1, rng)))


def _check(settings: Settings) -> None:
    if settings.form == "open" and settings.kind != "text" and settings.distractors:
        raise ValueError("an open-ended question about one of several pictures or clips is ambiguous; use form choice or no distractors")


@register_task("retrieval", plan=plan_one, check=_check)
def retrieval(scene: Scene) -> Question:
    """What was shown (pictures, clips) or what the caption said (text): multiple choice or open."""
    needle = scene.needles[0].needle
    if needle.attributes.get("template") == "dtmf":
        text = "A telephone keypad dials a number in the recording. Which digits are dialed?"
        wrong = [n.label for n in pick(scene.pool, scene.options - 1, scene.rng, scene.shown_labels)]
        right = needle.label
    elif needle.attributes.get("template") == "spoken":
        text = "A voice reads out a number in the recording. What is the number?"
        wrong = [n.label for n in pick(scene.pool, scene.options - 1, scene.rng, scene.shown_labels)]
        right = needle.label
    elif needle.kind == "text":
        subject = "passkey" if needle.attributes.get("template") == "passkey" else "secret word"
        text = f"A caption {scene.where} tells a {subject}. What is the {subject}?"
        # the words of distractor captions were shown too: the hardest wrong options
        shown = [p.needle for p in scene.placed if p.role == "distractor"]
        wrong = [n.label for n in shown if n.label != needle.label][: scene.options - 1]
        wrong += [n.label for n in pick(scene.pool, scene.options - 1 - len(wrong), scene.rng, {needle.label, *wrong})]
        right = needle.label
    else:
        if any(p.role == "distractor" for p in scene.placed) or (scene.medium == "images" and scene.form == "choice"):
            text = f"Which of the following {noun(needle.kind, plural=True)} appears {scene.where}?"
        elif scene.medium == "audio":
            text = "A sound that does not belong to the rest of the recording is heard once. What is it?"
        elif scene.medium == "images":
            text = "One of the images does not belong with the others. What does it show?"
        else:
            text = f"A {noun(needle.kind)} that does not belong to the rest of the video appears for a moment. What does it show?"
        wrong = [n.description for n in pick(scene.pool, scene.options - 1, scene.rng, scene.shown_labels)]
        right = needle.description
    if scene.form == "open":
        return Question(text, (), needle.label, AnswerType.TEXT, needle)
    text, options, answer = choice_question(text, right, wrong, scene.position(scene.options))
    return Question(text, options, answer, AnswerType.CHOICE, needle)
