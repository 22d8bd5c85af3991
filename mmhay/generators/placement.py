"""Where needles go: start frames for items in a haystack, apart from each other, at random or fixed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["NoRoom", "allocate", "fits", "spaced_starts"]


class NoRoom(ValueError):
    """The items cannot all be placed apart in the haystack."""


def fits(limit: int, widths: Sequence[int], gap: int) -> bool:
    """Whether items of ``widths`` frames, ``gap`` frames apart, fit in ``0..limit`` at all."""
    return sum(w + gap for w in widths) - gap <= limit


def spaced_starts(limit: int, count: int, width: int) -> list[int]:
    """``count`` evenly spaced starts in ``0..limit`` for items of ``width`` frames, the first at 0
    and the last ending at ``limit``: VideoChat-Flash's multi-hop spacing, the haystack cut into
    ``count - 1`` equal stretches (``xtuner-eval_niah/vision_niah/multi_eval_vision_niah.py:254-263``)."""
    if count == 1:
        return [0]
    return [j * (limit - width) // (count - 1) for j in range(count)]


def allocate(
    limit: int,
    widths: Sequence[int],
    rng: np.random.Generator,
    *,
    fixed: Mapping[int, int] | None = None,
    preferred: Mapping[int, int] | None = None,
    gap: int = 1,
) -> list[int]:
    """Start frames (``0..limit``, minus each item's width) for items of ``widths`` frames.

    No two items come closer than ``gap`` frames. Items in ``fixed`` go exactly where given; items
    in ``preferred`` go to the free start nearest to the one given; the rest uniformly at random
    among the free starts.
    """
    fixed, preferred = dict(fixed or {}), dict(preferred or {})
    starts: dict[int, int] = {}
    for i, start in fixed.items():
        starts[i] = min(max(0, start), limit - widths[i])
    for i, start in preferred.items():
        free = _free(limit, widths, starts, i, gap)
        if not free:
            raise NoRoom(f"no room for item {i}")
        starts[i] = min((min(max(start, a), b) for a, b in free), key=lambda s: (abs(s - start), s))
    placed_first = dict(starts)
    loose = [i for i in range(len(widths)) if i not in starts]
    # uniform random starts one after another; where early picks leave no room, try again,
    # and in the end pack the rest tightly into the free stretches
    for _attempt in range(8):
        starts = dict(placed_first)
        for i in loose:
            free = _free(limit, widths, starts, i, gap)
            total = sum(b - a + 1 for a, b in free)
            if total <= 0:
                break
            pick = int(rng.integers(total))
            for a, b in free:
                if pick <= b - a:
                    starts[i] = a + pick
                    break
                pick -= b - a + 1
        else:
            return [starts[i] for i in range(len(widths))]
    starts = dict(placed_first)
    for i in sorted(loose, key=lambda i: -widths[i]):
        free = _free(limit, widths, starts, i, gap)
        if not free:
            raise NoRoom(f"no room for item {i}")
        starts[i] = free[0][0]
    return [starts[i] for i in range(len(widths))]


def _free(limit: int, widths: Sequence[int], starts: Mapping[int, int], i: int, gap: int) -> list[tuple[int, int]]:
    """Inclusive ranges of starts for item ``i`` that keep ``gap`` frames from every placed item."""
    free = [(0, limit - widths[i])]
    for j, start in starts.items():
        banned = (start - widths[i] - gap + 1, start + widths[j] + gap - 1)
        free = [piece for a, b in free for piece in _subtract((a, b), banned)]
    return [(a, b) for a, b in free if a <= b]


def _subtract(span: tuple[int, int], banned: tuple[int, int]) -> list[tuple[int, int]]:
    (a, b), (c, d) = span, banned
    if d < a or c > b:
        return [span]
    return [piece for piece in ((a, c - 1), (d + 1, b)) if piece[0] <= piece[1]]
