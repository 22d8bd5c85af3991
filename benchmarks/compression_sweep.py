"""What each token-reduction method keeps of the needle, at equal visual-token budgets, with the needle-finder.

    python benchmarks/compression_sweep.py --data DATA [--model CHECKPOINT] [--budgets 24,12] [--out out/compression-sweep]

Every method reduces the visual tokens to the same budget B a sample (B = 24: what 8 uniform
frames cost the needle-finder, whose 84x56 frames make a 3 x 2 grid of merged tokens a frame
pair); each is evaluated on the built suite DATA (the quickstart: 60 samples, one 1-second
needle in 10, 20 and 40 s haystacks) by the needle-finder (docs/training.md) unless --model
names another Qwen2-VL-family checkpoint:

* samplers pick B/3 frames, uncompressed: ``uniform``, and the query-aware ``keyclip``, ``bolt``
  and ``aks`` (scoring with a tiny random CLIP made on the spot unless ``--scorer`` names one);
* compressors halve the tokens of 2B/3 uniform frames: ``temporal_pool:k=2``,
  ``dct_lowpass:kh=1,kw=3``, ``evs_prune:q=0.5``, ``tome:target=3``, ``divprune:ratio=0.5``,
  ``visionzip:dominant=2,contextual=1`` (where the family gives its tower's attention) and, inside
  the language model, ``fastv:k=2,r=0.5`` (every token in layers 0-1, half of them from layer 2).

Per method: visual tokens a sample (FastV: after layer K), the share of samples whose needle is in
a frame given ("in frames", the sampler's part), the needle's tokens kept (mean share over those
samples: the compressor's part; 1 where nothing is compressed), shown (both: docs/metrics.md,
"Exposure"), accuracy and accuracy given shown. Prints a markdown table; each run is a run folder
under --out, and one report lists them all.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SAMPLERS = ["uniform", "keyclip:scorer=clip:{scorer}", "bolt:scorer=clip:{scorer}", "aks:scorer=clip:{scorer}"]
COMPRESSORS = ["temporal_pool:k=2", "dct_lowpass:kh=1,kw=3", "evs_prune:q=0.5", "tome:target=3", "divprune:ratio=0.5", "visionzip:dominant=2,contextual=1", "fastv:k=2,r=0.5"]


def _needle_columns(run: Path) -> tuple[float, float | None]:
    """Share of samples whose needles are all in a frame given, and the mean share of those
    needles' tokens kept over them."""
    in_frames, shares, total = 0, [], 0
    for line in (run / "samples.jsonl").read_text().splitlines():
        record = json.loads(line)
        needles = (record.get("exposure") or {}).get("needles") or []
        if not needles or record["exposure"].get("shown") is None:
            continue
        total += 1
        if all(n["frames"] > 0 for n in needles):
            in_frames += 1
            shares.append(sum(n.get("tokens", 1.0) for n in needles) / len(needles))
    return (100 * in_frames / total if total else 0.0), (sum(shares) / len(shares) if shares else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, help="a Qwen2-VL-family checkpoint (default: the needle-finder)")
    parser.add_argument("--budgets", default="24,12", help="visual tokens a sample; each a multiple of 3")
    parser.add_argument("--tokens-per-frame", type=int, default=3, help="the model's visual tokens a frame, uncompressed")
    parser.add_argument("--scorer", type=Path, help="CLIP or SigLIP checkpoint for the query-aware samplers (default: a tiny random one)")
    parser.add_argument("--methods", default="", help="comma-free list of method names to run (default: all that are registered)")
    parser.add_argument("--out", type=Path, default=Path("out/compression-sweep"))
    args = parser.parse_args()

    from mmhay.adapters import create_adapter
    from mmhay.adapters.tiny import make_tiny_checkpoint
    from mmhay.compression import COMPRESSORS as REGISTERED
    from mmhay.errors import MmhayError
    from mmhay.evaluate import EvalSettings, evaluate, open_data
    from mmhay.report import write_report
    from mmhay.sampling import SAMPLERS as SAMPLING

    scorer = args.scorer or make_tiny_checkpoint("clip", args.out / "tiny-clip")
    model = args.model or make_tiny_checkpoint("needle-finder", args.out / "needle-finder")
    adapter = create_adapter(f"hf:{model}")
    wanted = set(args.methods.split()) if args.methods else None
    plans = [(s.format(scorer=scorer), "", 1) for s in SAMPLERS if s.split(":")[0] in SAMPLING.names()]
    plans += [("uniform", c, 2) for c in COMPRESSORS if c.split(":")[0] in REGISTERED.names()]
    runs, rows = [], []
    for budget in [int(b) for b in args.budgets.split(",")]:
        for sampler, compressor, factor in plans:
            method = (compressor or sampler).split(":")[0]
            if wanted and method not in wanted:
                continue
            frames = factor * budget // args.tokens_per_frame
            name = f"{budget}t-{method}"
            started = time.perf_counter()
            try:
                result = evaluate(open_data(args.data), adapter, args.out / name, EvalSettings(frames=frames, sampler=sampler, compress=compressor))
            except MmhayError as error:
                print(f"{name}: skipped ({error})")
                continue
            seconds = time.perf_counter() - started
            runs.append(args.out / name)
            overall, usage = result.metrics["overall"], result.metrics.get("usage", {})
            exposure = result.metrics["exposure"]["overall"]
            given = exposure["given_shown"] or {"accuracy": None, "n": 0}
            in_frames, kept = _needle_columns(args.out / name)
            rows.append((budget, method, frames, compressor or "none", usage.get("visual_tokens", 0), in_frames, kept, exposure["shown_rate"], overall["accuracy"], given["accuracy"], given["n"], seconds))
    report = write_report(runs, args.out / "report", pictures=False)
    (args.out / "sweep.json").write_text(json.dumps(rows, indent=1))
    print(f"\nwrote {report}\n")
    print("| budget | method | frames | compressor | visual tokens / sample | needle in frames % | needle tokens kept | shown % | accuracy % | accuracy given shown % | seconds |")
    print("| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for budget, method, frames, compressor, tokens, in_frames, kept, shown, accuracy, given, n, seconds in rows:
        kept_text = "-" if kept is None else f"{kept:.2f}"
        given_text = "-" if given is None else f"{100 * given:.1f} (n={n})"
        print(f"| {budget} | {method} | {frames} | {compressor} | {tokens:.1f} | {in_frames:.1f} | {kept_text} | {100 * shown:.1f} | {100 * accuracy:.1f} | {given_text} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
