"""SIGKILL an evaluation at a random moment, run the same command again: every sample answered
once, no question put to the model twice, the same results as a run never interrupted."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mmhay.adapters.cache import ResponseCache
from mmhay.cli import main


def _command(model, data, out):
    return ["eval", "--model", f"hf:{model}", "--model-args", "max_new_tokens=4", "--data", str(data), "--out", str(out), "--frames", "4", "--batch-size", "2"]


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


SAMPLES = 40


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """40 samples generated on the fly: rendering them takes long enough to be killed midway."""
    import yaml
    from conftest import SMALL_SUITE

    path = tmp_path_factory.mktemp("suite") / "suite.yaml"
    path.write_text(yaml.safe_dump({**SMALL_SUITE, "samples": SAMPLES}))
    return path


@pytest.fixture(scope="module")
def clean_run(tiny_qwen2_vl, suite, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "run"
    assert main(_command(tiny_qwen2_vl, suite, out)) == 0
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_run_killed_at_a_random_moment_resumes_without_asking_twice(seed, tiny_qwen2_vl, suite, clean_run, tmp_path):
    rng = np.random.default_rng(seed)
    out = tmp_path / "run"
    records = out / "samples.jsonl"
    wait_for = int(rng.integers(0, SAMPLES // 2))  # answers on disk before the kill (0: still starting up)
    extra = float(rng.uniform(0, 0.3))  # and a little more, to land anywhere in a batch
    process = subprocess.Popen([sys.executable, "-m", "mmhay", *_command(tiny_qwen2_vl, suite, out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(_lines(records)) < wait_for and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(extra)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_with = len(_lines(records))
    assert killed_with < SAMPLES, "the kill must land before the run ends"

    assert main(_command(tiny_qwen2_vl, suite, out)) == 0
    ids = [json.loads(line)["id"] for line in _lines(records)]
    assert len(ids) == len(set(ids)) == SAMPLES, "each sample exactly once"
    with ResponseCache(out / "responses.sqlite") as cache:
        stats = cache.stats()
    assert stats.repeated_calls == 0 and stats.calls == stats.answers == SAMPLES, stats
    clean = {r["id"]: r["output"] for r in map(json.loads, _lines(clean_run / "samples.jsonl"))}
    assert {r["id"]: r["output"] for r in map(json.loads, _lines(records))} == clean
    assert json.loads((out / "metrics.json").read_text())["overall"] == json.loads((clean_run / "metrics.json").read_text())["overall"]
