"""Data-parallel evaluation as on two nodes, one process each (the environment torchrun
``--nnodes 2 --nproc-per-node 1`` gives them: the second has RANK 1 but LOCAL_RANK 0; gloo on the
CPU, meeting at 127.0.0.1): one run folder, each sample once, the same answers as one process
gives. The processes are started without torchrun's agents, which would cost a second or two;
``benchmarks/two_nodes.sh`` runs the same through two real ``torchrun`` agents (docs/benchmarks.md).

The answers are compared exactly, which holds on any processor only because both runs compute
each answer the same way on it: one request a batch (the same shapes) and one thread (torchrun
gives each rank one; how many threads split a reduction can change its last bits)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from mmhay.adapters.cache import ResponseCache
from mmhay.cli import main
from mmhay.parallel import Ranks, own_device, ranks_from
from mmhay.run_folder import rank_cache, rank_records


def _command(model, data, out):
    return ["eval", "--model", f"hf:{model}", "--model-args", "max_new_tokens=4", "--data", str(data), "--out", str(out), "--frames", "4", "--batch-size", "1"]


def test_a_rank_on_the_second_node_takes_its_machines_gpu_and_a_cache_of_its_own():
    second = ranks_from({"WORLD_SIZE": "16", "RANK": "9", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "8", "GROUP_RANK": "1"})
    assert second == Ranks(rank=9, world=16, local_rank=1, local_world=8) and second.several_nodes and not second.main
    assert own_device(second, 8) == "cuda:1", "the GPU goes by LOCAL_RANK, not RANK"
    assert own_device(second, 1) == "cuda:0", "each rank sees only its own GPU"
    assert own_device(Ranks(rank=3, world=4, local_rank=1, local_world=2), 4) == "cuda:1"
    assert own_device(second, 0) == "cpu"
    one_machine = ranks_from({"WORLD_SIZE": "8", "RANK": "3", "LOCAL_RANK": "3", "LOCAL_WORLD_SIZE": "8"})
    assert not one_machine.several_nodes and own_device(one_machine, 8) == "cuda:3"
    assert ranks_from({}) == Ranks()
    out, shared = Path("run"), Path("cache.sqlite")
    assert rank_cache(out, shared, second) == out / "responses.rank9.sqlite", "no SQLite file opened from two machines"
    assert rank_cache(out, shared, one_machine) == shared
    assert rank_cache(out, shared, Ranks(0, 16, 0, 8)) == shared
    assert rank_records(out, second) == out / "samples.rank9.jsonl", "each rank's answers in its own file, by its global rank"


def test_two_nodes_give_one_run_with_the_answers_of_one_process(tiny_qwen2_vl, built_small, tmp_path):
    single, parallel = tmp_path / "single", tmp_path / "parallel"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(_command(tiny_qwen2_vl, built_small, single)) == 0
    finally:
        torch.set_num_threads(threads)
    with socket.socket() as probe:  # a free port for rank 0's store
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    processes = []
    for node in (0, 1):  # what torchrun --nnodes 2 --nproc-per-node 1 gives the process of each node
        ranks = {"RANK": node, "LOCAL_RANK": 0, "WORLD_SIZE": 2, "LOCAL_WORLD_SIZE": 1, "GROUP_RANK": node, "GROUP_WORLD_SIZE": 2, "ROLE_RANK": node}
        env = {**os.environ, **{key: str(value) for key, value in ranks.items()}, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "mmhay", *_command(tiny_qwen2_vl, built_small, parallel)]
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    done = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err[-2000:] for _, err in done]
    assert "asked 12, reused 0" in done[0][0] and not done[1][0], "rank 0 alone reports, the answers of both ranks"
    assert sorted(path.name for path in parallel.glob("samples*.jsonl")) == ["samples.jsonl"], "the ranks' files are merged"
    assert sorted(path.name for path in parallel.glob("responses*.sqlite")) == ["responses.sqlite"]
    with ResponseCache(parallel / "responses.sqlite") as cache:
        assert cache.stats().answers == 12 and cache.stats().repeated_calls == 0, "rank 1's own cache was added to the run's"
    ours = [json.loads(line) for line in (parallel / "samples.jsonl").read_text().splitlines()]
    theirs = [json.loads(line) for line in (single / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in ours] == [r["id"] for r in theirs], "each sample once, in the data's order"
    assert [r["output"] for r in ours] == [r["output"] for r in theirs]
    assert json.loads((parallel / "metrics.json").read_text())["overall"] == json.loads((single / "metrics.json").read_text())["overall"]
