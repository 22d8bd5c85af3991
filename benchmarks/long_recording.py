"""A 30-second window of a 30-minute recording vs the whole recording, for the sample's sound.

    python benchmarks/long_recording.py

Generates the 30-minute sample of configs/audio_niah.yaml (a mixed bed with one sound) and renders
(a) the 30 s around the needle and (b) the whole recording, in one run, with the samples computed
and the time each took (median of 3), after (c) the first window, which also finds the
recording's gain: one pass over the whole (mmhay.soundtrack.mix_gain).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from fractions import Fraction
from pathlib import Path

from mmhay.config import load_suite
from mmhay.generators import create_generator


def main() -> None:
    generator = create_generator(load_suite(Path(__file__).parent.parent / "configs" / "audio_niah.yaml"))
    index = next(i for i in range(len(generator)) if generator.sample(i).facets["length"] == 1800)
    sample = generator.sample(index)
    start = Fraction(sample.truth["needles"][0]["start"]).limit_denominator(100) - 15
    start = max(Fraction(0), min(start, sample.media.duration - 30))
    rows = []
    began = time.perf_counter()
    audio, stats = sample.media.render_audio(start, start + 30)
    rows.append(("the first 30 s asked (finds the gain)", audio.shape[1], stats.audio_samples, time.perf_counter() - began))
    for name, window in (("30 s around the needle", (start, start + 30)), ("the whole 30 minutes", (Fraction(0), sample.media.duration))):
        times = []
        for _ in range(3):
            began = time.perf_counter()
            audio, stats = sample.media.render_audio(*window)
            times.append(time.perf_counter() - began)
        rows.append((name, audio.shape[1], stats.audio_samples, statistics.median(times)))
    whole = rows[2][3]
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| rendered | samples returned | bed samples computed | seconds | / whole |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, returned, computed, seconds in rows:
        print(f"| {name} | {returned} | {computed} | {seconds:.3f} | {seconds / whole:.4f} |")


if __name__ == "__main__":
    main()
