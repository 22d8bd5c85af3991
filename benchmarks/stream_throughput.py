"""Streaming throughput: 16-frame training examples a second with 0, 1 and 2 DataLoader workers.

    python benchmarks/stream_throughput.py [--config configs/quickstart.yaml] [--examples 64] [--frames 16]

Each setup draws the same number of examples from ``NeedleStream`` through a torch DataLoader
(batch size 1, examples as they come), after one warm-up example per worker; the ratio is
against the same stream read in the main process. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from torch.utils.data import DataLoader

from mmhay.stream import NeedleStream


def rate(config: str, workers: int, examples: int, frames: int) -> tuple[float, int]:
    stream = NeedleStream(config, frames=frames, workers=workers, endless=True)
    loader = DataLoader(stream, batch_size=None, num_workers=workers, prefetch_factor=4 if workers else None)
    iterator = iter(loader)
    for _ in range(max(1, workers)):
        next(iterator)  # workers started and warm
    started = time.perf_counter()
    pixels = 0
    for _ in range(examples):
        pixels += next(iterator)["videos"][0].shape[0]
    return examples / (time.perf_counter() - started), pixels // examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args()
    rows = [(workers, *rate(args.config, workers, args.examples, args.frames)) for workers in (0, 1, 2)]
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.examples} examples of {args.config}\n")
    print("| DataLoader workers | examples/s | frames an example | vs in the main process |")
    print("| ---: | ---: | ---: | ---: |")
    for workers, per_second, frames in rows:
        print(f"| {workers} | {per_second:.1f} | {frames} | {per_second / rows[0][1]:.2f}x |")


if __name__ == "__main__":
    main()
