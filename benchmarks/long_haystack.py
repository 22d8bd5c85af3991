"""Preparing 32 frames of a V-NIAH sample: a 1-minute haystack vs a 1-hour one.

    python benchmarks/long_haystack.py

Generates the first sample of each haystack length of configs/vniah.yaml and renders 32
uniformly sampled frames of it (median of 5), in one run. The cost should follow the frames
sampled, not the haystack's length: the printed ratio is the 1-hour time over the 1-minute time.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from pathlib import Path

from mmhay.config import load_suite
from mmhay.generators import create_generator
from mmhay.sampling import uniform_times


def main() -> None:
    generator = create_generator(load_suite(Path(__file__).parent.parent / "configs" / "vniah.yaml"))
    firsts = {}
    for index in range(len(generator)):
        length = generator.sample(index).facets["length"]
        firsts.setdefault(length, index)
    rows = []
    for length, index in sorted(firsts.items()):
        sample = generator.sample(index)
        times = uniform_times(sample.media.duration, 32)
        seconds = []
        for _ in range(5):
            started = time.perf_counter()
            rendered = sample.media.render(times)
            seconds.append(time.perf_counter() - started)
        rows.append((length, len(sample.media.segments), statistics.median(seconds), rendered.stats.generated))
    base = rows[0][2]
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB\n")
    print("| haystack | shots | frames computed | seconds for 32 frames | / 1 minute |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for length, shots, seconds, generated in rows:
        print(f"| {length / 60:g} min | {shots} | {generated} | {seconds:.3f} | {seconds / base:.2f} |")


if __name__ == "__main__":
    main()
