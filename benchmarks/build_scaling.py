"""Build throughput with 1 and 2 local processes and on a local Ray cluster of 2 CPUs.

    python benchmarks/build_scaling.py [--config configs/quickstart.yaml] [--limit 40]

Each setup builds the same samples into a fresh folder; the figure is rendered samples a second
over the whole build (planning, rendering, the dataset and manifest), and the ratio is against
one process. The outputs are checked to be the same bytes. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from mmhay.build import build_suite
from mmhay.config import load_suite


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    suite = load_suite(args.config)
    work = Path(tempfile.mkdtemp(prefix="mmhay-build-scaling-"))
    rows, reference = [], None
    try:
        for label, options in (("1 process", {"num_proc": 1}), ("2 processes", {"num_proc": 2}), ("Ray, local, 2 CPUs", {"ray": ""})):
            if "ray" in options:
                import ray

                ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            out = work / label.split()[0]
            started = time.perf_counter()
            result = build_suite(suite, out, limit=args.limit, **options)
            seconds = time.perf_counter() - started
            if "ray" in options:
                ray.shutdown()
            files = _files(out)
            reference = reference or files
            rows.append((label, result.rendered, seconds, files == reference))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.limit} samples of {args.config}\n")
    print("| build | samples | seconds | samples/s | vs 1 process | same bytes |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    base = rows[0][1] / rows[0][2]
    for label, samples, seconds, same in rows:
        print(f"| {label} | {samples} | {seconds:.1f} | {samples / seconds:.2f} | {samples / seconds / base:.2f}x | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
