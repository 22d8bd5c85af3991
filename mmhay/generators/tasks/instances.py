"""Counting instances: copies of one needle side by side in a frame, each copy counted (V-RULER).

``count_instances`` shows the needle k times within one needle frame; ``count_spread`` spreads
k copies over 2 or 3 needle frames, at least one holding several (V-RULER's own mix: the
answer is the sum). Both ask "how many times", count k from the grid (0 shows no needle frame),
and word the question as V-RULER does: a frame holding k copies counts k times.
"""

from __future__ import annotations

import numpy as np

from mmhay.generators.tasks import Plan, Question, Scene, Settings, mention, pick, register_task
from mmhay.generators.tasks.counting import MAX_DEFAULT_COUNT, ask_count, counted_needle

__all__ = ["MAX_COPIES", "plan_instances", "plan_spread"]

MAX_COPIES = 16  # in one frame: more would shrink each copy below what a model sees at common sizes


def plan_instances(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """One needle, ``count`` copies in one frame (1..5 at random when the grid does not say; 0: absent)."""
    k = count if count is not None else int(rng.integers(1, MAX_DEFAULT_COUNT + 1))
    needle = pick(pool, 1, rng)[0]
    return Plan((needle,), copies=(k,)) if k else Plan((), absent=needle)


def plan_spread(pool, rng: np.random.Generator, count: int | None) -> Plan:
    """One needle, ``count`` copies over several frames: 2 or 3 frames from 3 copies on, some
    frame holding several; 1 or 2 copies take one frame."""
    k = count if count is not None else int(rng.integers(1, MAX_DEFAULT_COUNT + 1))
    needle = pick(pool, 1, rng)[0]
    if not k:
        return Plan((), absent=needle)
    frames = int(rng.integers(2, min(3, k - 1) + 1)) if k >= 3 else 1
    cuts = sorted(int(c) for c in rng.choice(np.arange(1, k), size=frames - 1, replace=False)) if frames > 1 else []
    copies = tuple(b - a for a, b in zip([0, *cuts], [*cuts, k]))
    return Plan((needle,) * frames, copies=copies)


def _check(settings: Settings) -> None:
    if settings.kind not in ("image", "clip"):
        raise ValueError("shows copies of a picture or a clip side by side; use kind image or clip")
    if settings.needles is not None and settings.needles > MAX_COPIES:
        raise ValueError(f"shows at most {MAX_COPIES} copies in one frame; set grid.needles to {MAX_COPIES} or fewer")


def _ask(scene: Scene) -> Question:
    needle = counted_needle(scene)
    m = mention(needle)
    text = f"Find the frames that show {m}. If one frame shows it k times, count it k times. How many times does {m} appear {scene.where}?"
    return ask_count(scene, text, len(scene.needles), needle)


@register_task("count_instances", plan=plan_instances, needles=None, check=_check, media=("video",), zero=True, copies=1)
def count_instances(scene: Scene) -> Question:
    """How many times one needle appears, shown k times side by side in one frame (V-RULER)."""
    return _ask(scene)


@register_task("count_spread", plan=plan_spread, needles=None, check=_check, media=("video",), zero=True, copies=3)
def count_spread(scene: Scene) -> Question:
    """How many times one needle appears, its copies spread over 2 or 3 frames, several in some."""
    return _ask(scene)
