"""Evaluation throughput with one model on one GPU: batching vs batch size 1, and mmhay vs lmms-eval.

    python benchmarks/eval_throughput.py --data DATA --model CHECKPOINT \\
        [--frames 8] [--batch-sizes 1,4,16] [--lmms-eval qwen2_vl] [--work DIR] [--json FILE]

Two measurements in one run, over the built suite DATA and the transformers checkpoint CHECKPOINT:

* **batching** (in one process, the model loaded once): ``evaluate()`` over the whole suite at each
  batch size, after a warm-up, each into a fresh run folder so nothing comes from the cache, and
  once more at the largest without rendering the next batch in worker threads. The answers at
  each batch size are compared with those at batch size 1.
* **mmhay vs lmms-eval** (``--lmms-eval MODEL_CLASS``, with lmms-eval installed): each tool's own
  command line, run as a user runs it, over the task ``mmhay export lmms-eval`` writes for DATA.
  Start-up (imports, model load, data open) is taken out by differencing: every command runs once
  with ``--limit 1`` and once over the whole suite, and the loop's rate is
  ``(N - 1) / (wall_N - wall_1)``.

Prints a markdown table; the figures in docs/benchmarks.md come from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path


def sweep_batch_sizes(data: Path, model: Path, frames: int, sizes: list[int], work: Path, repeats: int) -> list[dict]:
    """Samples per second of ``evaluate()`` at each batch size, the model loaded once."""
    from mmhay.adapters import create_adapter
    from mmhay.evaluate import EvalSettings, evaluate, open_data

    adapter = create_adapter(f"hf:{model}")
    evaluate(open_data(data, limit=2 * max(sizes)), adapter, work / "warm-up", EvalSettings(frames=frames, batch_size=max(sizes)))
    # each batch size with the next batch rendered by worker threads, and the largest without;
    # the repeats go round all of them in turn, so a slow spell of the machine hits each alike
    setups = [(size, None) for size in sizes] + [(max(sizes), 0)]
    seconds: dict[tuple, list[float]] = {setup: [] for setup in setups}
    for repeat in range(repeats):
        for size, workers in setups:
            out = work / f"bs{size}-w{workers}-{repeat}"
            started = time.perf_counter()
            result = evaluate(open_data(data), adapter, out, EvalSettings(frames=frames, batch_size=size, render_workers=workers))
            seconds[size, workers].append(time.perf_counter() - started)
            assert result.asked == result.metrics["overall"]["n"], "every answer was asked, none cached"
    rows, reference = [], None
    for size, workers in setups:
        out = work / f"bs{size}-w{workers}-0"
        outputs = [json.loads(line)["output"] for line in (out / "samples.jsonl").read_text().splitlines()]
        reference = reference or outputs
        best = min(seconds[size, workers])
        rows.append({"batch_size": size, "rendered_ahead": workers != 0, "samples": len(outputs), "seconds": best,
                     "all_seconds": seconds[size, workers], "samples_per_s": len(outputs) / best,
                     "same_answers_as_bs1": sum(a == b for a, b in zip(outputs, reference)) / len(outputs)})
    return rows


def _wall(command: list[str], out: Path, log: Path) -> float:
    """Seconds the command took; it must leave results in ``out`` (lmms-eval exits 0 on errors)."""
    started = time.perf_counter()
    with log.open("w") as sink:
        done = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not any(out.rglob("*.json")):
        raise SystemExit(f"{' '.join(command)} failed (exit {done.returncode}, no results); see {log}")
    return seconds


def compare_with_lmms_eval(data: Path, model: Path, frames: int, model_class: str, work: Path, batch_size: int) -> list[dict]:
    """Loop rate of each tool's command line at batch size 1 (and mmhay's at ``batch_size``)."""
    from mmhay.lmms_eval_task import write_lmms_eval_task

    task_folder = work / "lmms-eval-task"
    task = write_lmms_eval_task(data, task_folder)[0].stem
    total = json.loads((data / "manifest.json").read_text())["samples"]

    def mmhay(size: int, limit: int | None, out: Path) -> list[str]:
        command = [sys.executable, "-m", "mmhay", "eval", "--model", f"hf:{model}", "--data", str(data), "--out", str(out),
                   "--frames", str(frames), "--batch-size", str(size)]
        return command + (["--limit", str(limit)] if limit else [])

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"

    def lmms_eval(size: int, limit: int | None, out: Path) -> list[str]:
        model_args = f"pretrained={model},max_num_frames={frames},device={device},device_map={device}"
        command = [sys.executable, "-m", "lmms_eval", "--model", model_class, "--model_args", model_args,
                   "--tasks", task, "--include_path", str(task_folder), "--batch_size", str(size), "--output_path", str(out)]
        return command + (["--limit", str(limit)] if limit else [])

    rows = []
    for tool, make, size in (("lmms-eval", lmms_eval, 1), ("mmhay", mmhay, 1), ("mmhay", mmhay, batch_size)):
        walls = {}
        for limit in (1, None):
            out = work / f"cli-{tool}-bs{size}-{limit or 'all'}"
            shutil.rmtree(out, ignore_errors=True)
            walls[limit] = _wall(make(size, limit, out), out, work / f"{out.name}.log")
        rows.append({"tool": tool, "batch_size": size, "samples": total, "wall_1": walls[1], "wall_all": walls[None],
                     "loop_samples_per_s": (total - 1) / (walls[None] - walls[1])})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="built suite")
    parser.add_argument("--model", type=Path, required=True, help="transformers checkpoint folder")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch-sizes", default="1,4,16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lmms-eval", metavar="MODEL_CLASS", help="also time lmms-eval's loop with this model class (e.g. qwen2_vl)")
    parser.add_argument("--work", type=Path, default=Path("out/bench-eval"))
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sizes = [int(size) for size in args.batch_sizes.split(",")]
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)

    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()})"
    figures = {"device": device, "torch": torch.__version__, "frames": args.frames}
    figures["batching"] = sweep_batch_sizes(args.data.resolve(), args.model.resolve(), args.frames, sizes, args.work, args.repeats)
    if args.lmms_eval:
        figures["tools"] = compare_with_lmms_eval(args.data.resolve(), args.model.resolve(), args.frames, args.lmms_eval, args.work, max(sizes))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))

    print(f"\n{device}, torch {torch.__version__}, {args.frames} frames a sample\n")
    base = figures["batching"][0]["samples_per_s"]
    print(f"| batch size | next batch rendered ahead | samples | seconds (best of {args.repeats}) | spread | samples/s | vs batch size 1 | same answers as batch size 1 |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in figures["batching"]:
        print(f"| {row['batch_size']} | {'yes' if row['rendered_ahead'] else 'no'} | {row['samples']} | {row['seconds']:.2f} | {max(row['all_seconds']) / row['seconds'] - 1:.0%} | {row['samples_per_s']:.1f} | "
              f"{row['samples_per_s'] / base:.2f}x | {row['same_answers_as_bs1']:.0%} |")
    if args.lmms_eval:
        theirs = figures["tools"][0]["loop_samples_per_s"]
        print("\n| tool (command line) | batch size | wall, --limit 1 (s) | wall, all (s) | loop samples/s | vs lmms-eval |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in figures["tools"]:
            print(f"| {row['tool']} | {row['batch_size']} | {row['wall_1']:.1f} | {row['wall_all']:.1f} | "
                  f"{row['loop_samples_per_s']:.1f} | {row['loop_samples_per_s'] / theirs:.2f}x |")


if __name__ == "__main__":
    main()
