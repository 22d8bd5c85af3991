"""Cross-modal: which sound is heard while a picture is shown (the answer is in the soundtrack)."""

from __future__ import annotations

from mmhay.generators.tasks import Question, Scene, Settings, choice_question, mention, pick, register_task
from mmhay.generators.tasks.retrieval import plan_one
from mmhay.schema import AnswerType


def _check(settings: Settings) -> None:
    if settings.kind not in ("image", "clip", "text"):
        raise ValueError("asks about a sound heard with a picture, clip or caption; use kind image, clip or text")


@register_task("cross_modal", plan=plan_one, check=_check, media=("video",), companions=True)
def cross_modal(scene: Scene) -> Question:
    """What sound is heard while the needle picture is shown (each picture shown has its own sound)."""
    needle = scene.needles[0]
    heard = {p.start: p.needle for p in scene.placed if p.role == "sound"}
    right = heard[needle.start]
    text = f"What sound is heard while {mention(needle.needle)} is shown?"
    if scene.form == "open":
        return Question(text, (), right.label, AnswerType.TEXT, right)
    # the sounds that go with the distractors were heard too: the hardest wrong options
    others = [heard[p.start] for p in scene.placed if p.role == "distractor" and heard[p.start].label != right.label]
    wrong = [n.description for n in others][: scene.options - 1]
    taken = {right.label, *(n.label for n in others)}
    wrong += [n.description for n in pick(scene.sounds, scene.options - 1 - len(wrong), scene.rng, taken)]
    text, options, answer = choice_question(text, right.description, wrong, scene.position(scene.options))
    return Question(text, options, answer, AnswerType.CHOICE, right)
