"""Exact time: seconds as ``Fraction`` and the one rule that maps a time to a frame."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import floor
from typing import overload

__all__ = ["seconds", "frame_at", "FrameGrid"]


def seconds(value: float | int | str | Fraction) -> Fraction:
    """An exact ``Fraction`` of seconds from a number as written (``0.1`` is 1/10, not a binary float)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise TypeError("a time cannot be a bool")
    if isinstance(value, int):
        return Fraction(value)
    return Fraction(str(value))


def frame_at(t: Fraction, timestamps: Sequence[Fraction]) -> int:
    """Index of the frame shown at time ``t``: the last whose timestamp is <= ``t``.

    Times before the first frame give the first frame, times after the last give the last.
    ``timestamps`` must be sorted; a ``FrameGrid`` stands for a constant-rate stream.
    """
    if len(timestamps) == 0:
        raise ValueError("a stream with no frames shows nothing")
    index = bisect_right(timestamps, t) - 1
    return min(max(index, 0), len(timestamps) - 1)


@dataclass(frozen=True)
class FrameGrid(Sequence):
    """Timestamps ``k / rate`` for ``k`` in ``0..count-1``: a constant-rate stream, without a list."""

    rate: Fraction
    count: int

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, k: int) -> Fraction: ...

    @overload
    def __getitem__(self, k: slice) -> list[Fraction]: ...

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(self.count))]
        if k < 0:
            k += self.count
        if not 0 <= k < self.count:
            raise IndexError(k)
        return Fraction(k) / self.rate

    def frames_in(self, start: Fraction, end: Fraction) -> range:
        """Indices of the frames whose timestamps lie in ``[start, end)``."""
        first = max(0, -floor(-start * self.rate))
        last = min(self.count, -floor(-end * self.rate))
        return range(first, max(first, last))

