"""Faults in the middle of `mmhay build` and `mmhay eval`, each at a moment drawn from a seeded
generator: SIGKILL, SIGTERM, and a disk that fills up. Whatever the fault, every file under its
final name is complete (byte-identical to the one an uninterrupted run writes), and the same
command run again finishes with the bytes of an uninterrupted run, asking the model nothing twice.
SIGTERM stops with exit code 143 and one line; a full disk is one line naming the file, exit 2."""

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import SMALL_SUITE, child_pids

from mmhay.adapters.cache import ResponseCache
from mmhay.cli import main

SIGNALS = [pytest.param(signal.SIGKILL, id="SIGKILL"), pytest.param(signal.SIGTERM, id="SIGTERM")]
SEEDS = [0, 1, 2]
TERMINATED = "mmhay: terminated (SIGTERM); finished work is kept: run the same command again to resume"
BUILD_SAMPLES = 16
EVAL_SAMPLES = 24


def _mmhay(*args) -> list[str]:
    return [sys.executable, "-m", "mmhay", *map(str, args)]


def _is_temporary(relative: Path) -> bool:
    """A name a writer uses before the rename (``.NAME.PID.tmp``), or a folder being swapped in or out."""
    return any(part.startswith(".") and part.endswith((".tmp", ".old")) for part in relative.parts)


def _files(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder``, temporary ones included, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _gone(pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while any(_running(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _check_stopped(process: subprocess.Popen, sig: int, stderr: str) -> None:
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
        return
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == TERMINATED, stderr


def _check_final_files_complete(out: Path, clean: dict[str, str], sig: int, growing: tuple[str, ...] = ()) -> None:
    """Every file under its final name is the uninterrupted run's file, byte for byte (``growing``
    files, appended to as the run goes, are checked by the caller); SIGTERM leaves no temporary file."""
    now = _files(out)
    for name, digest in now.items():
        if _is_temporary(Path(name)):
            assert sig == signal.SIGKILL, f"{name}: a temporary file after a clean stop"
        elif name not in growing:
            assert clean.get(name) == digest, f"{name}: under its final name but not the complete file"


# ----- build


@pytest.fixture(scope="module")
def build_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "suite.yaml"
    path.write_text(yaml.safe_dump({**SMALL_SUITE, "name": "faults", "samples": BUILD_SAMPLES}))
    return path


@pytest.fixture(scope="module")
def clean_build(build_config, tmp_path_factory):
    """The uninterrupted build, by the command, timed from its claim of the folder to its end."""
    out = tmp_path_factory.mktemp("clean") / "build"
    process = subprocess.Popen(_mmhay("build", build_config, "--out", out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not (out / ".mmhay-build.json").exists() and process.poll() is None:
        time.sleep(0.005)
    claimed = time.monotonic()
    assert process.wait(timeout=300) == 0, process.stderr.read()
    return out, _files(out), time.monotonic() - claimed


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sig", SIGNALS)
def test_a_build_stopped_at_a_random_moment_resumes_to_the_same_bytes(sig, seed, build_config, clean_build, tmp_path):
    clean_out, clean, span = clean_build
    rng = np.random.default_rng(seed)
    # one seed renders in worker processes: SIGKILL (to the build alone) must not leave them running;
    # SIGTERM goes to the whole process group, as a service manager sends it, and still stops cleanly
    num_proc = 2 if seed == 1 else 1
    to_group = num_proc > 1 and sig == signal.SIGTERM
    at = float(rng.uniform(0.02, 0.95))  # the moment, as a share of the clean build after its claim
    out = tmp_path / "build"
    command = _mmhay("build", build_config, "--out", out, "--num-proc", num_proc)
    for attempt in range(4):  # a busy machine can make the run shorter than the clean one: come earlier
        shutil.rmtree(out, ignore_errors=True)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=to_group)
        while not (out / ".mmhay-build.json").exists() and process.poll() is None:
            time.sleep(0.002)
        time.sleep(at * span / 2**attempt)
        workers = child_pids(process.pid)
        if process.poll() is None:
            os.killpg(process.pid, sig) if to_group else process.send_signal(sig)
            _, stderr = process.communicate(timeout=120)
            break
        process.communicate()
    else:
        pytest.fail("the build always ended before the signal")
    _check_stopped(process, sig, stderr)
    assert _gone(workers, within=10), "render workers outlived the build"
    _check_final_files_complete(out, clean, sig)
    assert (out / "manifest.json").exists() == (_files(out).keys() >= clean.keys()), "a manifest vouches only for a finished build"

    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert _files(out) == clean, "the resumed build is the uninterrupted one, byte for byte, and leaves nothing else"


# ----- eval


def _eval_command(model, data, out):
    return ["eval", "--model", f"hf:{model}", "--model-args", "max_new_tokens=4", "--data", str(data), "--out", str(out), "--frames", "4", "--batch-size", "2"]


def _lines(path):
    return path.read_text().splitlines(keepends=True) if path.exists() else []


@pytest.fixture(scope="module")
def eval_suite(tmp_path_factory):
    """Samples generated on the fly: rendering them takes long enough to be stopped midway."""
    path = tmp_path_factory.mktemp("suite") / "suite.yaml"
    path.write_text(yaml.safe_dump({**SMALL_SUITE, "samples": EVAL_SAMPLES}))
    return path


@pytest.fixture(scope="module")
def clean_eval(tiny_qwen2_vl, eval_suite, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "run"
    assert main(_eval_command(tiny_qwen2_vl, eval_suite, out)) == 0
    return out


# each eval is a tiny model's whole run, twice: one moment a signal (the builds above take three)
@pytest.mark.parametrize(("sig", "seed"), [pytest.param(signal.SIGKILL, 0, id="SIGKILL-0"), pytest.param(signal.SIGTERM, 1, id="SIGTERM-1")])
def test_an_eval_stopped_at_a_random_moment_resumes_without_asking_twice(sig, seed, tiny_qwen2_vl, eval_suite, clean_eval, tmp_path):
    rng = np.random.default_rng(seed)
    out = tmp_path / "run"
    records = out / "samples.jsonl"
    wait_for = int(rng.integers(0, EVAL_SAMPLES // 2))  # answers on disk before the signal (0: still starting up)
    extra = float(rng.uniform(0, 0.3))  # and a little more, to land anywhere in a batch
    command = _mmhay(*_eval_command(tiny_qwen2_vl, eval_suite, out))
    # SIGTERM before mmhay's own code runs is Python's: the process ends having written nothing
    started = out / "run.json" if sig == signal.SIGTERM else out
    for attempt in range(4):  # a busy machine can leave this loop late: come earlier
        shutil.rmtree(out, ignore_errors=True)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while (not started.exists() or len(_lines(records)) < wait_for >> attempt) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(extra / 2**attempt)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=120)
        if len(_lines(records)) < EVAL_SAMPLES:
            break
    else:
        pytest.fail("the run always ended before the signal")
    _check_stopped(process, sig, stderr)

    clean = _files(clean_eval)
    _check_final_files_complete(out, clean, sig, growing=("samples.jsonl", "responses.sqlite", "responses.sqlite-wal", "responses.sqlite-shm"))
    written = _lines(records)
    if written and not written[-1].endswith("\n"):
        assert sig == signal.SIGKILL, "SIGTERM cut a line short"
        written = written[:-1]  # a line cut short by SIGKILL: the next run drops it
    assert set(written) <= set(_lines(clean_eval / "samples.jsonl")), "every whole line is a final answer"

    assert main(_eval_command(tiny_qwen2_vl, eval_suite, out)) == 0
    resumed = _files(out)
    for name in ("responses.sqlite", "responses.sqlite-wal", "responses.sqlite-shm"):  # an answer log: its pages are in the order they came
        resumed.pop(name, None), clean.pop(name, None)
    assert resumed == clean, "samples.jsonl, metrics, results and report of the uninterrupted run, and nothing else"
    with ResponseCache(out / "responses.sqlite") as cache:
        stats = cache.stats()
    assert stats.repeated_calls == 0 and stats.calls == stats.answers == EVAL_SAMPLES, stats


# ----- a full disk


def _one_line_disk_full(result, name: str, reason: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mmhay: error: ") and name in lines[0] and reason in lines[0], lines[0]


def test_a_build_past_the_file_size_limit_names_the_file_and_keeps_what_it_finished(build_config, clean_build, tmp_path):
    """RLIMIT_FSIZE (``ulimit -f``) makes the write of the largest video fail with EFBIG."""
    clean_out, clean, _ = clean_build
    sizes = {name: (clean_out / name).stat().st_size for name in clean if name.startswith("videos/")}
    largest = max(sizes, key=sizes.get)
    limit = max(size for name, size in sizes.items() if name != largest) + 1  # every other video fits

    def limit_file_size():  # Python ignores SIGXFSZ, so the write fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "build"
    command = _mmhay("build", build_config, "--out", out)
    failed = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size)
    _one_line_disk_full(failed, f"{out}/{largest}:", "file-size limit (EFBIG")
    left = _files(out)
    assert not [name for name in left if _is_temporary(Path(name))], "the partial video is removed"
    assert all(clean[name] == digest for name, digest in left.items()), "what is there is complete"
    assert "manifest.json" not in left

    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert _files(out) == clean


def _user_namespace_tmpfs() -> bool:
    try:
        done = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


needs_tmpfs = pytest.mark.skipif(not _user_namespace_tmpfs(), reason="cannot mount a small tmpfs in a user namespace here")


def _on_small_disk(tmp_path: Path, kilobytes: int, *args) -> tuple[subprocess.CompletedProcess, dict[str, int]]:
    """Run mmhay with ``DISK`` (in ``args``) a fresh tmpfs of ``kilobytes``; its result and the
    files it left there (path: size), listed before the tmpfs goes away with the namespace."""
    disk = tmp_path / "disk"
    disk.mkdir()
    command = " ".join(f"'{a}'" for a in _mmhay(*args)).replace("DISK", str(disk))
    listing = tmp_path / "left.txt"
    script = f"mount -t tmpfs -o size={kilobytes}k tmpfs '{disk}' && {command}; rc=$?; (cd '{disk}' && find . -type f -printf '%P %s\\n') > '{listing}'; exit $rc"
    result = subprocess.run(["unshare", "-Urm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    left = dict(line.rsplit(" ", 1) for line in listing.read_text().splitlines())
    return result, {name: int(size) for name, size in left.items()}


@needs_tmpfs
def test_a_build_on_a_full_disk_says_so_in_one_line(build_config, clean_build, tmp_path):
    clean_out, clean, _ = clean_build
    result, left = _on_small_disk(tmp_path, 400, "build", build_config, "--out", "DISK/build")  # room for a few videos
    _one_line_disk_full(result, "/build/videos/", "no space left on the disk (ENOSPC)")
    assert sum(name.startswith("build/videos/") for name in left) >= 2, left
    assert not [name for name in left if _is_temporary(Path(name))], left
    for name, size in left.items():
        assert size == (clean_out / name.removeprefix("build/")).stat().st_size, f"{name} is not complete"


@needs_tmpfs
def test_an_eval_on_a_full_disk_says_so_in_one_line(tmp_path):
    suite = tmp_path / "suite.yaml"  # 200 answers: more than the disk holds
    suite.write_text(yaml.safe_dump({**SMALL_SUITE, "samples": 200}))
    result, left = _on_small_disk(tmp_path, 128, "eval", "--model", "random", "--data", suite, "--out", "DISK/run", "--batch-size", "4")
    _one_line_disk_full(result, "/run/", "no space left on the disk (ENOSPC)")
    assert any(name in result.stderr for name in ("samples.jsonl", "responses.sqlite", "metrics.json", "report.html")), result.stderr
    assert not [name for name in left if _is_temporary(Path(name))], left
