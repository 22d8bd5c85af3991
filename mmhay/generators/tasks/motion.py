"""Motion counting: how many times an object in a clip bounces, turns or flashes (TimeScope's motion counting)."""

from __future__ import annotations

import numpy as np

from mmhay.generators.needles import Needle
from mmhay.generators.tasks import Plan, Question, Scene, Settings, choice_question, register_task
from mmhay.media.motion import ACTIVE, MOTIONS
from mmhay.media.procedural import COLORS, SHAPES
from mmhay.schema import AnswerType
from mmhay.timeline import GeneratorRef

__all__ = ["motion_count", "MAX_MOTIONS", "MOTION_FRAMES"]

MAX_MOTIONS = 6  # counts drawn from 0..6 when the grid does not say
MOTION_FRAMES = 4  # the fewest frames one motion may last at the suite's rate
_PLURAL = {"bounce": "bounces", "turn": "turns", "flash": "flashes"}


def plan_motion(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """One clip of a shape making ``count`` motions (0..6 at random), of a motion drawn at random."""
    k = count if count is not None else int(rng.integers(0, MAX_MOTIONS + 1))
    motion = MOTIONS[int(rng.integers(len(MOTIONS)))]
    shape = "circle" if motion == "turn" else SHAPES[int(rng.integers(len(SHAPES)))]
    color = list(COLORS)[int(rng.integers(len(COLORS)))]
    thing = f"{color} wheel" if motion == "turn" else f"{color} {shape}"
    params = {"motion": motion, "count": k, "shape": shape, "color": color, "duration": "1"}  # made to measure
    times = f"{k} {_PLURAL[motion] if k != 1 else motion}"
    needle = Needle(
        f"{thing}, {times}",
        f"a {thing} making {times}",
        "clip",
        ref=GeneratorRef("motion", params),
        attributes={"shape": shape, "color": color, "motion": motion},
        aspect=16 / 9,
    )
    return Plan((needle,))


def _check(settings: Settings) -> None:
    if settings.kind != "clip":
        raise ValueError("counts the motions in a clip; use kind clip")
    most = settings.needles if settings.needles is not None else MAX_MOTIONS
    share = float(ACTIVE[1] - ACTIVE[0])  # of the clip, in which the motions happen
    if most and settings.frames * share / most < MOTION_FRAMES:
        raise ValueError(
            f"needs {MOTION_FRAMES} frames for each of {most} motions in the middle {share:.0%} of the clip, "
            f"{int(np.ceil(MOTION_FRAMES * most / share))} frames in all; its clips show {settings.frames}: "
            "lengthen needle.duration or raise video.fps"
        )


@register_task("motion_count", plan=plan_motion, needles=None, check=_check, zero=True, shows=1)
def motion_count(scene: Scene) -> Question:
    """How many times the object in a clip bounces, turns or flashes (0 to 6): multiple choice or open."""
    needle = scene.needles[0].needle
    motion, color = needle.attributes["motion"], needle.attributes["color"]
    k = int(needle.ref.params["count"])
    if motion == "bounce":
        text = f"A short clip {scene.where} shows a {color} {needle.attributes['shape']} over a floor. How many times does it bounce on the floor?"
    elif motion == "turn":
        text = f"A short clip {scene.where} shows a {color} wheel with a mark near its rim. How many full turns does the wheel make?"
    else:
        text = f"A short clip {scene.where} shows a grey {needle.attributes['shape']} that may light up in {color}. How many times does it light up?"
    if scene.form == "open":
        return Question(text, (), str(k), AnswerType.INTEGER)
    # TimeScope's six options; in drawn order, not sorted (a sorted list with the answer put in gives it away)
    candidates = [v for v in range(0, max(MAX_MOTIONS, scene.options - 1) + 1) if v != k]
    wrong = [int(v) for v in scene.rng.choice(candidates, size=scene.options - 1, replace=False)]
    text, options, answer = choice_question(text, str(k), [str(v) for v in wrong], scene.position(scene.options))
    return Question(text, options, answer, AnswerType.CHOICE)
