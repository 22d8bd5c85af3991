"""Builds on a Ray cluster started by the test (loopback only): the same dataset, byte for byte,
as the local build, also when a worker is killed in the middle of a shard."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import ray
from conftest import SMALL_SUITE

from mmhay.build import build_suite
from mmhay.config import parse_suite

SUITE = {**SMALL_SUITE, "name": "raybuild", "samples": 24}


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "build"
    build_suite(parse_suite(SUITE), out)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_ray_build_is_the_local_build_byte_for_byte(cluster, local_build, tmp_path):
    result = build_suite(parse_suite(SUITE), tmp_path / "ray", ray="")
    assert result.rendered == 24
    assert _files(tmp_path / "ray") == _files(local_build)


def _render_workers() -> list[int]:
    """Processes of this machine running a shard right now (Ray titles them by their task)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and b"_render_shard" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def test_killing_a_worker_mid_build_still_completes_the_same_build(cluster, local_build, tmp_path):
    killed = []

    def kill_one():
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for pid in _render_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one)
    killer.start()
    build_suite(parse_suite(SUITE), tmp_path / "ray", ray="")
    killer.join()
    assert killed, "a worker was killed while it rendered"
    assert _files(tmp_path / "ray") == _files(local_build)
