"""The needle-finder's learning curve as a PNG: held-out accuracy per task and form, and the loss.

    python recipes/plot_curve.py recipes/results/needle_finder_curve.json --out docs/needle_finder_curve.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LABELS = {
    "retrieval-choice": "retrieval, 4 options (letter)",
    "retrieval-open": "retrieval, open (name it)",
    "negative-open": "negative, yes / no",
    "negative-choice": "negative, 4 options + none",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curve", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--names-steps", type=int, default=500, help="where the first stage ended")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = json.loads(args.curve.read_text())
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=[3, 1.4])
    examples = [point["examples"] / 1000 for point in curve]
    for kind, label in LABELS.items():
        values = [100 * point["held_out"].get(kind, 0.0) for point in curve]
        top.plot(examples, values, marker="o", markersize=3, label=label)
    for chance, kind in ((25, "retrieval"), (50, "negative")):
        top.axhline(chance, color="grey", linestyle=":", linewidth=1)
        top.text(examples[-1], chance + 1, f"chance ({kind})", ha="right", fontsize=8, color="grey")
    names_end = next((p["examples"] / 1000 for p in curve if p["step"] >= args.names_steps), None)
    for axis in (top, bottom):
        if names_end:
            axis.axvline(names_end, color="black", linewidth=0.8, linestyle="--")
    if names_end:
        top.text(names_end, 2, " stage 2: letters", fontsize=8)
        top.text(2, 2, "stage 1: names", fontsize=8)
    top.set_ylabel("held-out accuracy %")
    top.set_ylim(0, 102)
    top.legend(loc="lower right", fontsize=8)
    top.set_title("needle-finder: a 4.6M-parameter Qwen2-VL trained from random weights", fontsize=10)
    losses = [(e, p["loss"]) for e, p in zip(examples, curve) if p["loss"] is not None]
    bottom.plot([e for e, _ in losses], [v for _, v in losses], color="black", marker="o", markersize=3)
    bottom.set_yscale("log")
    bottom.set_ylabel("training loss")
    bottom.set_xlabel("training examples (thousands)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
