"""Data-parallel evaluation under torchrun (two processes on the CPU, over gloo): one run folder,
each sample once, the same answers as one process gives."""

import json
import subprocess
import sys

from mmhay.cli import main


def _command(model, data, out):
    return ["eval", "--model", f"hf:{model}", "--model-args", "max_new_tokens=4", "--data", str(data), "--out", str(out), "--frames", "4", "--batch-size", "1"]


def test_two_ranks_give_one_run_with_the_answers_of_one_process(tiny_qwen2_vl, built_small, tmp_path):
    single, parallel = tmp_path / "single", tmp_path / "parallel"
    assert main(_command(tiny_qwen2_vl, built_small, single)) == 0
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "mmhay"]
    done = subprocess.run(launch + _command(tiny_qwen2_vl, built_small, parallel), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "asked 12, reused 0" in done.stdout, "rank 0 reports the answers of both ranks"
    assert sorted(path.name for path in parallel.glob("samples*.jsonl")) == ["samples.jsonl"], "the ranks' files are merged"
    ours = [json.loads(line) for line in (parallel / "samples.jsonl").read_text().splitlines()]
    theirs = [json.loads(line) for line in (single / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in ours] == [r["id"] for r in theirs], "each sample once, in the data's order"
    assert [r["output"] for r in ours] == [r["output"] for r in theirs]
    assert json.loads((parallel / "metrics.json").read_text())["overall"] == json.loads((single / "metrics.json").read_text())["overall"]
