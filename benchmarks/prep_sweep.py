"""Sampler x compressor sweep: accuracy, shown rate and accuracy given shown, at two frame budgets, in one report.

    python benchmarks/prep_sweep.py --data DATA [--model CHECKPOINT] [--budgets 8,16] [--out out/prep-sweep]

Evaluates the model (loaded once; by default the trained needle-finder, ``mmhay tiny-model
needle-finder``) on the built suite DATA for every sampler x compressor at each frame budget, each
into its own run folder under --out, then writes one report (``--out/report/report.html``) whose
table lists the runs by visual tokens per sample, so samplers and compressors are compared at equal
token budgets. Accuracy given shown separates what the sampler did (shown %) from what the
compressor and the model did with it. ``keyclip`` uses a tiny CLIP scorer made on the spot unless
``--scorer PATH`` names a real one. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SAMPLERS = ["uniform", "fps:rate=1", "scene", "keyclip:scorer=clip:{scorer}"]
COMPRESSORS = ["", "spatial_pool:k=2", "temporal_pool:k=2", "dct_lowpass"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, help="a Qwen2-VL or LLaVA-OneVision checkpoint (default: the needle-finder)")
    parser.add_argument("--budgets", default="8,16")
    parser.add_argument("--scorer", type=Path, help="CLIP or SigLIP checkpoint for keyclip (default: a tiny random one)")
    parser.add_argument("--out", type=Path, default=Path("out/prep-sweep"))
    parser.add_argument("--no-pictures", action="store_true", help="leave the failures' frames out of the report (20 MB with them for 32 runs)")
    args = parser.parse_args()

    from mmhay.adapters import create_adapter
    from mmhay.adapters.tiny import make_tiny_checkpoint
    from mmhay.evaluate import EvalSettings, evaluate, open_data
    from mmhay.report import write_report

    scorer = args.scorer or make_tiny_checkpoint("clip", args.out / "tiny-clip")
    model = args.model or make_tiny_checkpoint("needle-finder", args.out / "needle-finder")
    adapter = create_adapter(f"hf:{model}")
    runs, rows = [], []
    for budget in [int(b) for b in args.budgets.split(",")]:
        for sampler in (s.format(scorer=scorer) for s in SAMPLERS):
            for compressor in COMPRESSORS:
                name = f"{budget}f-{sampler.split(':')[0]}-{compressor.split(':')[0] or 'none'}"
                started = time.perf_counter()
                result = evaluate(open_data(args.data), adapter, args.out / name, EvalSettings(frames=budget, sampler=sampler, compress=compressor))
                seconds = time.perf_counter() - started
                runs.append(args.out / name)
                overall, usage = result.metrics["overall"], result.metrics.get("usage", {})
                exposure = result.metrics["exposure"]["overall"]
                given = exposure["given_shown"] or {"accuracy": None, "n": 0}
                row = (budget, sampler.split(":")[0], compressor or "none", usage.get("visual_tokens", 0), overall["accuracy"], exposure["shown_rate"], given["accuracy"], given["n"], overall["unparsed"], seconds)
                rows.append(row)
    report = write_report(runs, args.out / "report", pictures=not args.no_pictures)
    (args.out / "sweep.json").write_text(json.dumps(rows, indent=1))
    print(f"\nwrote {report}\n")
    print("| frames | sampler | compressor | visual tokens / sample | accuracy % | shown % | accuracy given shown % | unparsed | seconds |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for budget, sampler, compressor, tokens, accuracy, shown, given, n, unparsed, seconds in sorted(rows, key=lambda r: (r[0], r[3], r[1])):
        given_text = f"{100 * given:.1f} (n={n})" if given is not None else "—"
        print(f"| {budget} | {sampler} | {compressor} | {tokens:g} | {100 * accuracy:.1f} | {100 * shown:.1f} | {given_text} | {unparsed} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
