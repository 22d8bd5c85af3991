"""Frame samplers: which times of a video a model gets to see."""

from __future__ import annotations

from fractions import Fraction

from mmhay.registry import registry

__all__ = ["SAMPLERS", "uniform", "sample_times"]

SAMPLERS = registry("sampler")


@SAMPLERS.register("uniform")
def uniform(duration: Fraction, n: int) -> list[Fraction]:
    """n times at the midpoints of n equal intervals of the video (the LLaVA / VideoChat "middle" rule)."""
    if n < 1:
        raise ValueError("a sampler needs at least one frame")
    return [Fraction(duration) * (2 * i + 1) / (2 * n) for i in range(n)]


def sample_times(name: str, duration: Fraction, n: int) -> list[Fraction]:
    """The times the sampler ``name`` picks from a video of ``duration`` seconds."""
    return SAMPLERS.get(name, key="sampler").obj(duration, n)
