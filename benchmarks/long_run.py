"""A long build and a long evaluation: is memory flat, are file handles and processes given back?

    nice python benchmarks/long_run.py [--samples 5000] [--num-proc 2] [--work DIR]

Runs the real commands, ``mmhay build`` (with ``--num-proc`` render processes) of a cheap video
suite (128x72 at 8 fps, 4 or 8 s haystacks: the tests' small suite) and then ``mmhay eval --model random --batch-size 1``
on what it built, each in a fresh folder. While each runs, the process tree is sampled every 0.2 s: resident
memory (``VmRSS`` of the command and every process below it, summed), open file descriptors
(``/proc/PID/fd``, summed) and processes. The samples done are counted from the output (videos
under their final names; lines of samples.jsonl). Prints, per command, the figures at 10% of the
samples and at the last sampling before all were done (within 0.2 s of it, while the workers still
run; the peak covers what comes after: the dataset, the metrics and report), and whether any process it started outlived it, as a
markdown table. Exits 1 if RSS at the end is more than 20% above RSS at 10%, or a process is left.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SUITE = """\
name: longrun
seed: 0
samples: {samples}
video: {{size: [128, 72], fps: 8}}
haystack: {{shot_seconds: [2, 4]}}
grid: {{length: [4, 8], depth: [0.0, 0.25, 0.5, 0.75, 1.0]}}
"""
EVERY = 0.2  # seconds between samples of the process tree
ALLOWED_GROWTH = 1.20  # RSS at the end over RSS at a tenth of the samples


@dataclass
class Trace:
    """What the sampler saw of one command: (seconds, samples done, RSS bytes, fds, processes)."""

    points: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)  # every process of the tree seen while it ran
    seconds: float = 0.0
    returncode: int = 0
    left: list[int] = field(default_factory=list)  # processes still running after the command ended

    def at(self, done: int) -> tuple[float, int, int, int, int]:
        """The first point with at least ``done`` samples done."""
        return next(point for point in self.points if point[1] >= done)

    def peak(self) -> int:
        return max(point[2] for point in self.points)


def _tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(parents.get(pid, []))
    return found


def _rss_and_fds(pids: list[int]) -> tuple[int, int]:
    rss = fds = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:  # ended between the listing and the read
            continue
    return rss, fds


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class _LineCounter:
    """Lines of a file that only grows (samples.jsonl during a run), read from where it stopped."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.lines, self.inode = path, 0, 0, None

    def __call__(self) -> int:
        try:
            with open(self.path, "rb") as file:
                inode = os.fstat(file.fileno()).st_ino
                if inode != self.inode:  # rewritten in the data's order at the end: count afresh
                    self.inode, self.offset, self.lines = inode, 0, 0
                file.seek(self.offset)
                chunk = file.read()
        except FileNotFoundError:
            return self.lines
        self.offset += len(chunk)
        self.lines += chunk.count(b"\n")
        return self.lines


def _videos_done(folder: Path):
    def count() -> int:
        try:
            return sum(1 for entry in os.scandir(folder) if not entry.name.startswith("."))
        except FileNotFoundError:
            return 0

    return count


def run(command: list[str], done) -> Trace:
    """Run ``command``, sampling its process tree until it ends; ``done()`` counts samples done."""
    trace = Trace()
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    count = 0
    while process.poll() is None:
        pids = _tree(process.pid)
        trace.pids.update(pids)
        rss, fds = _rss_and_fds(pids)
        count = done()  # after the memory: the count is never behind the memory it is paired with
        trace.points.append((time.monotonic() - started, count, rss, fds, len(pids)))
        time.sleep(EVERY)
    stderr = process.stderr.read()
    trace.seconds, trace.returncode = time.monotonic() - started, process.returncode
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stderr}")
    trace.points.append((trace.seconds, done(), 0, 0, 0))  # the end, for the count only
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in trace.pids - {process.pid}) and time.monotonic() < deadline:
        time.sleep(0.1)
    trace.left = sorted(pid for pid in trace.pids - {process.pid} if _alive(pid))
    return trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--num-proc", type=int, default=2, help="render processes of the build (default 2)")
    parser.add_argument("--batch-size", type=int, default=1, help="eval requests a call (default 1: the most turns of the loop)")
    parser.add_argument("--work", type=Path, help="folder to build and evaluate in (default: a temporary one, removed)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mmhay-long-run-"))
    work.mkdir(parents=True, exist_ok=True)
    early = max(1, args.samples // 10)
    mmhay = [sys.executable, "-m", "mmhay"]
    try:
        config = work / "longrun.yaml"
        config.write_text(SUITE.format(samples=args.samples))
        data, runs = work / "data", work / "run"
        shutil.rmtree(data, ignore_errors=True), shutil.rmtree(runs, ignore_errors=True)
        traces = {
            f"build --num-proc {args.num_proc}": run([*mmhay, "build", str(config), "--out", str(data), "--num-proc", str(args.num_proc)], _videos_done(data / "videos")),
        }
        eval_command = [*mmhay, "eval", "--model", "random", "--data", str(data), "--out", str(runs), "--batch-size", str(args.batch_size)]
        traces[f"eval --model random --batch-size {args.batch_size}"] = run(eval_command, _LineCounter(runs / "samples.jsonl"))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    mib = 1 << 20
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; {args.samples} samples\n")
    print(f"| command | seconds | samples/s | RSS @{early} MiB | RSS @end MiB (samples done) | end / {early} | peak RSS MiB | fds @{early} / @end | processes @{early} / @end | left after exit |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    failed = False
    for label, trace in traces.items():
        first = trace.at(early)
        last = max((p for p in trace.points if p[1] < args.samples and p[2]), key=lambda p: p[0])
        ratio = last[2] / first[2]
        failed |= ratio > ALLOWED_GROWTH or bool(trace.left)
        print(
            f"| `mmhay {label}` | {trace.seconds:.0f} | {args.samples / trace.seconds:.1f} | {first[2] / mib:.1f} | {last[2] / mib:.1f} ({last[1]}) "
            f"| {ratio:.3f} | {trace.peak() / mib:.0f} | {first[3]} / {last[3]} | {first[4]} / {last[4]} | {len(trace.left)} |"
        )
    print("\nRSS of the process tree (MiB) by samples done:\n")
    for label, trace in traces.items():
        marks = [next((p for p in trace.points if p[1] >= k and p[2]), None) for k in range(early, args.samples + 1, early)]
        print(f"- `mmhay {label}`: " + ", ".join(f"{p[1]}: {p[2] / mib:.1f}" for p in marks if p))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
