"""A build and an evaluation of a few hundred samples give back every file descriptor, thread and
process they took (``benchmarks/long_run.py`` measures the same, and memory, over 5,000)."""

import os
import threading
from pathlib import Path

from conftest import child_pids

from mmhay.adapters import create_adapter
from mmhay.build import build_suite
from mmhay.config import parse_suite
from mmhay.evaluate import EvalSettings, evaluate, open_data

SUITE = {
    "name": "resources",
    "seed": 0,
    "samples": 200,
    "video": {"size": [32, 32], "fps": 4},
    "haystack": {"shot_seconds": [2, 2]},
    "needle": {"duration": 0.5},
    "grid": {"length": [2], "depth": [0.0, 0.5, 1.0]},
}


def _open_files() -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the descriptor listdir itself used, now closed
            continue
    return sorted(found)


def _build_and_evaluate(out: Path, limit: int) -> None:
    build_suite(parse_suite(SUITE), out / "data", limit=limit, num_proc=2)
    result = evaluate(open_data(out / "data"), create_adapter("random", {}), out / "run", EvalSettings(batch_size=1))
    assert result.asked == limit


def test_a_build_and_an_eval_give_back_files_threads_and_processes(tmp_path):
    _build_and_evaluate(tmp_path / "warm", 4)  # first use opens what stays open by design (imports, caches)
    files, threads, children = _open_files(), threading.active_count(), child_pids(os.getpid())  # multiprocessing's resource tracker stays
    _build_and_evaluate(tmp_path / "long", SUITE["samples"])
    assert _open_files() == files, "file descriptors left open"
    assert threading.active_count() == threads, "threads left running"
    assert child_pids(os.getpid()) == children, "processes left running"
    assert [open(f"/proc/{pid}/cmdline").read().count("resource_tracker") for pid in children] == [1] * len(children)
    assert len(os.listdir(tmp_path / "long/data/videos")) == SUITE["samples"]
