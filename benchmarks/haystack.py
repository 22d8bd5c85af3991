"""The long haystack the benchmarks share: a procedural 720p30 H.264 video, made once and cached."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

from mmhay.timeline import Clip, Composition, GeneratorRef, TimeRange


def make_haystack(path: Path, minutes: int) -> Path:
    """A procedural 1280x720 30 fps video of ``minutes`` minutes: 20-second pans over bundled
    photographs, written by mmhay's writer (a keyframe every 2 s, B-frames)."""
    if path.exists():
        return path
    pictures = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "hubble_deep_field"]
    shot = Fraction(20)
    clips = []
    for k in range(minutes * 3):
        params = {"picture": pictures[k % len(pictures)], "start": [0.4, 0.45, 1.0], "end": [0.6, 0.55, 1.6], "duration": str(shot)}
        clips.append(Clip(GeneratorRef("pan_zoom", params), TimeRange(Fraction(0), shot)))
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    Composition(tuple(clips), (1280, 720), Fraction(30)).write(path, preset="veryfast")
    print(f"wrote {path} in {time.perf_counter() - started:.0f} s")
    return path
