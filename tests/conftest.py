"""Shared fixtures: real video files, small suites, a built suite and a tiny real checkpoint."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from counter_video import write_counter_video  # noqa: E402

from mmhay.config import parse_suite  # noqa: E402

SMALL_SUITE = {
    "name": "small",
    "seed": 3,
    "samples": 12,
    "video": {"size": [128, 72], "fps": 8},
    "haystack": {"shot_seconds": [2, 4]},
    "grid": {"length": [4, 8], "depth": [0.0, 0.5, 1.0]},
}


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from /proc, in order."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return sorted(found)


@pytest.fixture(scope="session")
def counter_video(tmp_path_factory) -> Path:
    """6 s at 10 fps, a keyframe every 12 frames, each frame showing its index."""
    return write_counter_video(tmp_path_factory.mktemp("media") / "counter.mp4", [k * 100 for k in range(60)])


@pytest.fixture
def small_suite():
    """A 12-sample suite config of tiny videos (2 lengths x 3 depths)."""
    return parse_suite(SMALL_SUITE)


@pytest.fixture(scope="session")
def built_small(tmp_path_factory) -> Path:
    """The small suite, built once for the session."""
    from mmhay.build import build_suite

    out = tmp_path_factory.mktemp("built") / "small"
    build_suite(parse_suite(SMALL_SUITE), out)
    return out


@pytest.fixture(scope="session")
def tiny_qwen2_vl(tmp_path_factory) -> Path:
    """A tiny random-weight Qwen2-VL checkpoint, saved like any user checkpoint."""
    from mmhay.adapters.tiny import make_tiny_checkpoint

    return make_tiny_checkpoint("qwen2-vl", tmp_path_factory.mktemp("models") / "tiny-qwen2-vl")


@pytest.fixture(scope="session")
def installed_software() -> dict:
    """What ``mmhay.software.software()`` lists, listed once for the session."""
    from mmhay.software import software

    return software()


@pytest.fixture
def quick_runs(monkeypatch, installed_software):
    """Runs that skip what their test does not look at: drawing report.html (about 1.5 s a run)
    and listing the installed software for run.json again (0.5 s a run: listed once instead)."""
    import mmhay.evaluate
    import mmhay.report

    monkeypatch.setattr(mmhay.report, "write_report", lambda runs, out, **options: Path(out) / "report.html")
    monkeypatch.setattr(mmhay.evaluate, "software", lambda: installed_software)
