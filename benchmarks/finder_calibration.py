"""The needle-finder as a calibrated instrument: accuracy given shown and not shown, held out.

    python benchmarks/finder_calibration.py [--footage DIR] [--out out/finder-calibration]

Evaluates the shipped finder (``mmhay tiny-model needle-finder``) at its 8 frames on the suites of
``recipes/calibration/``: 300 quickstart-shaped retrieval samples (uncompressed, and through a
keep-everything compressor, ``spatial_pool:k=2`` and ``temporal_pool:k=2``), 300 negative twins
and, with ``--footage``, retrieval over a folder of real camera footage (any videos; docs/training.md
names two that install from the package index). Prints a markdown table: shown rate, accuracy given
shown and given not shown against chance +- 3 standard errors, and for the twins the "yes" rate to
the absent look-alike where the video's needle was shown.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITES = HERE.parent / "recipes" / "calibration"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", type=Path, help="a folder of real camera footage for the haystacks")
    parser.add_argument("--out", type=Path, default=Path("out/finder-calibration"))
    parser.add_argument("--limit", type=int, help="evaluate only this many samples of each suite")
    args = parser.parse_args()

    from mmhay.adapters import create_adapter
    from mmhay.adapters.tiny import make_tiny_checkpoint
    from mmhay.adapters.tiny.finder import FINDER_FRAMES
    from mmhay.evaluate import EvalSettings, evaluate, open_data

    finder = make_tiny_checkpoint("needle-finder", args.out / "needle-finder")
    adapter = create_adapter(f"hf:{finder}")
    runs = [("retrieval", SUITES / "retrieval.yaml", ""), ("retrieval", SUITES / "retrieval.yaml", "spatial_pool:k=1")]
    runs += [("retrieval", SUITES / "retrieval.yaml", "spatial_pool:k=2"), ("retrieval", SUITES / "retrieval.yaml", "temporal_pool:k=2")]
    runs += [("negative twins", SUITES / "negative.yaml", "")]
    if args.footage:
        camera = Path(tempfile.mkdtemp(prefix="finder_camera_")) / "camera.yaml"
        camera.write_text((SUITES / "camera.yaml").read_text().replace("source: FOOTAGE", f"source: {args.footage.resolve()}"))
        runs.append(("real camera footage", camera, ""))
    rows, answers = [], {}
    for name, config, compress in runs:
        folder = args.out / f"{config.stem}-{compress.replace(':', '-').replace('=', '') or 'none'}"
        started = time.perf_counter()
        result = evaluate(open_data(config, limit=args.limit), adapter, folder, EvalSettings(frames=FINDER_FRAMES, compress=compress, batch_size=8))
        seconds = time.perf_counter() - started
        records = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
        answers[(config.stem, compress)] = {r["id"]: r["output"] for r in records}
        exposure = result.metrics["exposure"]
        shown, not_shown = exposure["overall"]["given_shown"], exposure["overall"]["given_not_shown"]
        absent = exposure.get("absent", {}).get("given_shown")
        rows.append((name, compress or "none", result.metrics["overall"]["n"], exposure["overall"]["shown_rate"], shown, not_shown, absent, seconds))
    same = answers[("retrieval", "")] == answers[("retrieval", "spatial_pool:k=1")]
    print(f"\nkeep-everything compressor (spatial_pool:k=1) gives the uncompressed answers exactly: {same}\n")
    print("| suite | compressor | samples | shown % | accuracy given shown % | accuracy given not shown % | chance +- 3 SE % | absent look-alike \"yes\" given shown % | seconds |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, compress, n, rate, shown, not_shown, absent, seconds in rows:
        given = f"{100 * shown['accuracy']:.1f} (n={shown['n']})" if shown else "—"
        if not_shown:
            chance, spread = not_shown["chance"], 3 * math.sqrt(not_shown["chance"] * (1 - not_shown["chance"]) / not_shown["n"])
            missed, window = f"{100 * not_shown['accuracy']:.1f} (n={not_shown['n']})", f"{100 * chance:.0f} +- {100 * spread:.1f}"
        else:
            missed, window = "—", "—"
        lookalike = f"{100 * absent['hallucination_rate']:.1f} (n={absent['n']})" if absent and absent["n"] else "—"
        print(f"| {name} | {compress} | {n} | {100 * rate:.1f} | {given} | {missed} | {window} | {lookalike} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
