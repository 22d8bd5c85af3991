"""Lazy rendering: preparing 16 frames of a sample over a 10-minute 720p haystack vs decoding it all.

    python benchmarks/lazy_render.py [--minutes 10] [--frames 16] [--workdir ~/.cache/mmhay-bench]

Makes (once, cached in --workdir) a 10-minute 1280x720 30 fps H.264 haystack with mmhay's own
writer (a keyframe every 2 s, as streaming encoders use), puts a needle into it as a composition,
then times, in the same run:

* full decode: every frame of the haystack decoded by PyAV (threaded), the floor for any
  "decode the video, then pick frames" loader, and the same decoded to RGB arrays;
* lazy: ``Sample.media.render(times)`` for 16 uniformly sampled times, which seeks and decodes
  only near those times.

Prints a markdown table; the figures in docs/benchmarks.md come from it.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from fractions import Fraction
from pathlib import Path

from haystack import make_haystack

from mmhay.media.probe import probe_video
from mmhay.sampling import uniform_times
from mmhay.timeline import Clip, Composition, FileRef, GeneratorRef, Still, TimeRange


def full_decode(path: Path, to_rgb: bool) -> tuple[float, int]:
    import av

    started = time.perf_counter()
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if to_rgb:
                frame.to_ndarray(format="rgb24")
            count += 1
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "mmhay-bench")
    args = parser.parse_args()

    haystack = make_haystack(args.workdir / f"haystack-{args.minutes}min-720p30.mp4", args.minutes)
    info = probe_video(haystack)
    needle = Still(GeneratorRef("shape", {"shape": "star", "color": "red"}), Fraction(1))
    ref, half = FileRef.video(haystack), info.duration / 2
    segments = (Clip(ref, TimeRange(Fraction(0), half)), needle, Clip(ref, TimeRange(half, half)))
    media = Composition(segments, (1280, 720), Fraction(30))
    times = uniform_times(media.duration, args.frames)

    lazy_seconds, decoded = [], 0
    for _ in range(args.repeats):
        started = time.perf_counter()
        rendered = media.render(times)
        lazy_seconds.append(time.perf_counter() - started)
        decoded = rendered.stats.decoded
    assert rendered.pixels.shape == (args.frames, 720, 1280, 3)
    lazy = statistics.median(lazy_seconds)
    decode_only, total = full_decode(haystack, to_rgb=False)
    decode_rgb, _ = full_decode(haystack, to_rgb=True)

    print(f"\nmachine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    print(f"haystack: {info.width}x{info.height} {info.rate} fps, {float(info.duration):.0f} s, {total} frames, keyframe every 2 s\n")
    print("| approach | seconds | frames decoded | lazy / this |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| decode the whole video (PyAV, threaded) | {decode_only:.2f} | {total} | {lazy / decode_only:.3f} |")
    print(f"| decode the whole video to RGB arrays | {decode_rgb:.2f} | {total} | {lazy / decode_rgb:.3f} |")
    print(f"| mmhay lazy render of {args.frames} frames (median of {args.repeats}) | {lazy:.2f} | {decoded} | 1 |")


if __name__ == "__main__":
    main()
