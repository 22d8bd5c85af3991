"""Fast export: writing one sample over a 10-minute 720p H.264 haystack, copying untouched GOPs,
vs decoding and re-encoding the whole video with the same encoder settings.

    python benchmarks/fast_export.py [--minutes 10] [--workdir ~/.cache/mmhay-bench]

The sample is the haystack with one picture needle inserted at its middle and one distractor
overlaid elsewhere (a suite config pointing at the haystack's folder, 1280x720 at 30 fps, so
the source matches the output). Both writes produce the same sample; the script checks that the
copied frames decode bit-identically to the source, and prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from haystack import make_haystack

from mmhay.config import parse_suite
from mmhay.export import plan_runs
from mmhay.generators import create_generator
from mmhay.media.decode import read_frames
from mmhay.media.splice import CopyRun
from mmhay.timeline import Clip, FileRef


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "mmhay-bench")
    args = parser.parse_args()

    folder = args.workdir / "haystacks"
    haystack = make_haystack(folder / f"haystack-{args.minutes}min-720p30.mp4", args.minutes)
    suite = parse_suite(
        {
            "name": "fast-export",
            "samples": 1,
            "video": {"size": [1280, 720], "fps": 30},
            "haystack": {"source": str(folder)},
            "needle": {"duration": 1.0, "insertion": "insert"},
            "grid": {"length": [args.minutes * 60 - 1], "depth": [0.5], "distractors": [1]},
        }
    )
    sample = create_generator(suite).sample(0)
    runs, _ = plan_runs(sample.media)
    copied = [k for run in runs if isinstance(run, CopyRun) for k in range(run.first, run.first + run.count)]
    total = len(sample.media.frame_grid)

    fast_path, full_path = args.workdir / "sample-fast.mp4", args.workdir / "sample-full.mp4"
    started = time.perf_counter()
    sample.media.write(fast_path)
    fast = time.perf_counter() - started
    started = time.perf_counter()
    sample.media.write(full_path, fast=False)
    full = time.perf_counter() - started

    check = copied[:: max(1, len(copied) // 40)]
    source_time = {}  # output frame -> time in the haystack file, for frames cut from it
    for start, segment in zip(sample.media.starts, sample.media.segments):
        if isinstance(segment, Clip) and isinstance(segment.ref, FileRef):
            for k in range(int(start * 30), int((start + segment.duration) * 30)):
                source_time[k] = segment.range.start + Fraction(k, 30) - start
    out = read_frames(fast_path, [Fraction(k, 30) for k in check]).pixels
    src = read_frames(haystack, [source_time[k] for k in check]).pixels
    exact = np.array_equal(out, src)

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"sample: {total} frames at 1280x720 30 fps; {len(copied)} copied ({100 * len(copied) / total:.1f}%), {total - len(copied)} encoded")
    print(f"copied frames decode bit-identically to the source (40 checked): {exact}\n")
    print("| write | seconds | full / this |")
    print("| --- | ---: | ---: |")
    print(f"| decode and re-encode every frame (libx264 veryfast, CRF 18) | {full:.1f} | 1 |")
    print(f"| mmhay fast export (copy GOPs, encode around the edits) | {fast:.2f} | {full / fast:.0f} |")


if __name__ == "__main__":
    main()
