"""Recall in order: the secret words of 2 to 4 needles, written in the order they appear (TimeScope's OCR task)."""

from __future__ import annotations

import numpy as np

from mmhay.generators.insertion import SUBTITLE_BOX
from mmhay.generators.needles import SECRET_WORDS, Needle
from mmhay.generators.tasks import Plan, Question, Scene, Settings, noun, pick, register_task
from mmhay.schema import AnswerType
from mmhay.timeline import GeneratorRef

__all__ = ["recall_order", "WORDS_RANGE"]

WORDS_RANGE = (2, 4)  # secret words per question when the grid does not say (TimeScope's 2 to 4 clips)


def plan_words(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """``count`` needles each showing a different secret word: captions or title cards (kind
    text), or clips with the word captioned over them for as long as they show (kind clip)."""
    k = count if count is not None else int(rng.integers(WORDS_RANGE[0], WORDS_RANGE[1] + 1))
    chosen = pick(pool, k, rng)
    if chosen[0].kind == "text":
        return Plan(tuple(chosen))
    words = [SECRET_WORDS[int(i)] for i in rng.choice(len(SECRET_WORDS), size=k, replace=False)]
    return Plan(tuple(captioned(clip, word) for clip, word in zip(chosen, words)))


def captioned(clip: Needle, word: str) -> Needle:
    """A built-in clip with the caption 'The secret word is "word".' over it while it shows."""
    assert isinstance(clip.ref, GeneratorRef)
    box = [SUBTITLE_BOX.x, SUBTITLE_BOX.y, SUBTITLE_BOX.w, SUBTITLE_BOX.h]
    params = {"clip": {"name": clip.ref.name, "params": dict(clip.ref.params)}, "text": f'The secret word is "{word}".', "box": box}
    return Needle(word, f'{clip.description}, captioned "{word}"', "clip", ref=GeneratorRef("captioned_clip", params), attributes={"first letter": word[0]}, aspect=clip.aspect)


def _check(settings: Settings) -> None:
    if settings.kind not in ("text", "clip"):
        raise ValueError("shows secret words in captions or captioned clips; use kind text or clip")
    if settings.kind == "clip" and not settings.builtin:
        raise ValueError("captions the built-in clips; use needle.source builtin (or kind text)")
    if settings.needles is not None and settings.needles < 2:
        raise ValueError("needs at least 2 secret words to recall in order; set grid.needles to 2 or more")


@register_task("recall_order", plan=plan_words, needles=None, distinct=True, check=_check)
def recall_order(scene: Scene) -> Question:
    """The secret words of K needles in the order they appear, written out (no options)."""
    words = [p.needle.label for p in scene.needles]
    kind = scene.needles[0].needle.kind
    subject = "number" if scene.needles[0].needle.attributes.get("template") == "passkey" else "word"
    shown = "in a caption" if kind == "text" else "in a caption over it"
    text = (
        f"{len(words)} {noun(kind, plural=True)} {scene.where} each show a secret {subject} ({shown}). "
        f"Write the secret {subject}s in the order they appear, separated by commas."
    )
    return Question(text, (), ", ".join(words), AnswerType.TEXT)
