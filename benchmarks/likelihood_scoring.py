"""Likelihood scoring vs generation: time per sample and agreement, one model, one suite.

    python benchmarks/likelihood_scoring.py --data DATA --model CHECKPOINT \\
        [--frames 8] [--batch-sizes 1,8] [--limit 32] [--repeats 3] [--work DIR] [--json FILE]

DATA is a built suite or a suite config (generated on the fly), CHECKPOINT a transformers
checkpoint folder (``mmhay tiny-model needle-finder --out DIR`` writes the trained one). For each
batch size, ``evaluate()`` runs the suite with ``--scoring generate`` and with ``--scoring
likelihood``, the model loaded once, each run into a fresh folder (nothing from the cache), the
repeats taken in turn so that a slow spell of the machine hits both alike; the best of the
repeats is kept. Reported: samples/s of each, likelihood's speed as a ratio of generation's, the
share of samples where the two read the same answer (the same option letter), and each one's
accuracy. Prints a markdown table; the figures in docs/benchmarks.md come from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


def run(data: str, model: str, frames: int, sizes: list[int], limit: int, repeats: int, work: Path) -> list[dict]:
    from mmhay.adapters import create_adapter
    from mmhay.evaluate import EvalSettings, evaluate, open_data

    adapter = create_adapter(f"hf:{model}")
    for scoring in ("generate", "likelihood"):  # warm-up: imports, kernels, the first decode
        evaluate(open_data(data, limit=2), adapter, work / f"warm-up-{scoring}", EvalSettings(frames=frames, scoring=scoring))
    setups = [(size, scoring) for size in sizes for scoring in ("generate", "likelihood")]
    seconds: dict[tuple, list[float]] = {setup: [] for setup in setups}
    for repeat in range(repeats):
        for size, scoring in setups:
            started = time.perf_counter()
            result = evaluate(open_data(data, limit=limit), adapter, work / f"{scoring}-bs{size}-{repeat}", EvalSettings(frames=frames, batch_size=size, scoring=scoring))
            seconds[size, scoring].append(time.perf_counter() - started)
            assert result.asked == result.metrics["overall"]["n"], "every answer was asked, none cached"
    rows = []
    for size in sizes:
        records = {
            scoring: [json.loads(line) for line in (work / f"{scoring}-bs{size}-0" / "samples.jsonl").read_text().splitlines()]
            for scoring in ("generate", "likelihood")
        }
        same = sum(g["parsed"] == k["parsed"] for g, k in zip(records["generate"], records["likelihood"]))
        n = len(records["generate"])
        rate = {scoring: n / min(seconds[size, scoring]) for scoring in ("generate", "likelihood")}
        rows.append(
            {
                "batch_size": size,
                "samples": n,
                "generate_samples_per_s": rate["generate"],
                "likelihood_samples_per_s": rate["likelihood"],
                "likelihood_vs_generate": rate["likelihood"] / rate["generate"],
                "same_answer": same / n,
                "generate_accuracy": sum(r["correct"] for r in records["generate"]) / n,
                "likelihood_accuracy": sum(r["correct"] for r in records["likelihood"]) / n,
                "all_seconds": {scoring: seconds[size, scoring] for scoring in ("generate", "likelihood")},
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="built suite or suite config")
    parser.add_argument("--model", required=True, help="transformers checkpoint folder")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("out/bench-likelihood"))
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    import torch

    rows = run(args.data, args.model, args.frames, [int(s) for s in args.batch_sizes.split(",")], args.limit, args.repeats, args.work)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {os.cpu_count()} cores ({platform.processor() or platform.machine()})"
    print(f"{device}; torch {torch.__version__}; {args.data}, {args.limit} samples, {args.frames} frames, best of {args.repeats}\n")
    print("| batch size | generate samples/s | likelihood samples/s | likelihood vs generate | same answer | accuracy, generate / likelihood |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    for row in rows:
        print(
            f"| {row['batch_size']} | {row['generate_samples_per_s']:.2f} | {row['likelihood_samples_per_s']:.2f} | "
            f"{row['likelihood_vs_generate']:.2f}x | {row['same_answer']:.0%} | {row['generate_accuracy']:.3f} / {row['likelihood_accuracy']:.3f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"device": device, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
