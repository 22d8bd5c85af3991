"""Multi-hop chains (VideoChat-Flash's multi-hop NIAH): each needle names the one to look for next.

A chain of n pictures: picture i carries a caption band "Next: look for <picture i+1>", the last
carries none. One decoy outside the chain, which no chain picture names, points to a picture that
is never shown, so a model that starts from the wrong picture goes astray. The question names the
first picture and asks what the last shows. The chain and the decoy take evenly spaced slots in a
random order in time, as VideoChat-Flash's needle lists are shuffled
(``xtuner-eval_niah/vision_niah/multi_eval_vision_niah.py:244-265``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mmhay.generators.needles import Needle
from mmhay.generators.tasks import Plan, Question, Scene, Settings, choice_question, pick, register_task
from mmhay.schema import AnswerType
from mmhay.timeline import GeneratorRef

__all__ = ["pointer_caption", "pointing", "plan_chain", "multihop"]


def pointer_caption(target: Needle) -> str:
    """The caption by which a needle names the next one."""
    return f"Next: look for {target.description}"


def pointing(needle: Needle, target: Needle) -> Needle:
    """``needle`` with a caption band under its picture naming ``target``."""
    assert needle.ref is not None
    ref = GeneratorRef("captioned", {"picture": needle.ref.to_json(), "caption": pointer_caption(target)})
    return replace(needle, ref=ref)


def plan_chain(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """A chain of ``count`` (3 when the grid does not say) different pictures, each pointing to the
    next, a decoy pointing to a picture never shown (``absent``), and the order of their slots."""
    n = count or 3
    drawn = pick(pool, n + 2, rng)
    chain, decoy, target = drawn[:n], drawn[n], drawn[n + 1]
    shown = tuple(pointing(needle, after) for needle, after in zip(chain, chain[1:])) + (chain[-1],)
    slots = tuple(int(s) for s in rng.permutation(n + 1))
    return Plan(shown, absent=target, decoys=(pointing(decoy, target),), slots=slots)


def _check(settings: Settings) -> None:
    if settings.kind != "image":
        raise ValueError("chains pictures that carry a caption; use kind image")
    if settings.needles is not None and settings.needles < 2:
        raise ValueError("needs a chain of at least 2 needles; set grid.needles to 2 or more")


@register_task("multihop", plan=plan_chain, needles=3, distinct=True, check=_check, media=("video",), decoys=1, spaced=True)
def multihop(scene: Scene) -> Question:
    """Follow a chain of pictures, each naming the next, from the first named: what does the last show?"""
    chain, decoy, target = scene.plan.shown, scene.plan.decoys[0], scene.plan.absent
    assert target is not None
    first, last = chain[0], chain[-1]
    where = {p.needle.label: [p.frames.start, p.frames.stop] for p in scene.placed}
    truth = {
        "chain": [
            {"label": needle.label, "frames": where[needle.label], "next": after.label if after is not None else None}
            for needle, after in zip(chain, (*chain[1:], None))
        ],
        "decoy": {"label": decoy.label, "frames": where[decoy.label], "next": target.label},
    }
    text = (
        f"Find the picture of {first.description} {scene.where}. A caption under a picture names the picture "
        "to look for next; follow the captions to the picture that has none. What does that last picture show?"
    )
    if scene.form == "open":
        return Question(text, (), last.label, AnswerType.TEXT, last, truth=truth)
    # the hardest wrong answers: the decoy, where it leads, and the pictures passed on the way
    hard = [decoy, target, *chain[1:-1]]
    wrong = [hard[int(i)] for i in scene.rng.permutation(len(hard))][: scene.options - 1]
    taken = {n.label for n in (*chain, decoy, target)}
    wrong += pick(scene.pool, scene.options - 1 - len(wrong), scene.rng, taken)
    wrong = [wrong[int(i)] for i in scene.rng.permutation(len(wrong))]
    text, options, answer = choice_question(text, last.description, [n.description for n in wrong], scene.position(scene.options))
    return Question(text, options, answer, AnswerType.CHOICE, last, truth=truth)
