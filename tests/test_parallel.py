"""Data-parallel evaluation under torchrun (two processes on the CPU, over gloo): one run folder,
each sample once, the same answers as one process gives.

The answers are compared exactly, which holds on any processor only because both runs compute
each answer the same way on it: one request a batch (the same shapes) and one thread (torchrun
gives each rank one; how many threads split a reduction can change its last bits)."""

import json
import os
import subprocess
import sys

import torch

from mmhay.cli import main


def _command(model, data, out):
    return ["eval", "--model", f"hf:{model}", "--model-args", "max_new_tokens=4", "--data", str(data), "--out", str(out), "--frames", "4", "--batch-size", "1"]


def test_two_ranks_give_one_run_with_the_answers_of_one_process(tiny_qwen2_vl, built_small, tmp_path):
    single, parallel = tmp_path / "single", tmp_path / "parallel"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(_command(tiny_qwen2_vl, built_small, single)) == 0
    finally:
        torch.set_num_threads(threads)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "mmhay"]
    one_thread = {**os.environ, "OMP_NUM_THREADS": "1"}  # torchrun's default, made explicit
    done = subprocess.run(launch + _command(tiny_qwen2_vl, built_small, parallel), capture_output=True, text=True, timeout=300, env=one_thread)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "asked 12, reused 0" in done.stdout, "rank 0 reports the answers of both ranks"
    assert sorted(path.name for path in parallel.glob("samples*.jsonl")) == ["samples.jsonl"], "the ranks' files are merged"
    ours = [json.loads(line) for line in (parallel / "samples.jsonl").read_text().splitlines()]
    theirs = [json.loads(line) for line in (single / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in ours] == [r["id"] for r in theirs], "each sample once, in the data's order"
    assert [r["output"] for r in ours] == [r["output"] for r in theirs]
    assert json.loads((parallel / "metrics.json").read_text())["overall"] == json.loads((single / "metrics.json").read_text())["overall"]
