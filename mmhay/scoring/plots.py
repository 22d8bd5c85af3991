"""Plots of a run's metrics as PNG bytes: depth x length heatmaps, accuracy against haystack
length, accuracy against the frame budget. matplotlib draws them off screen."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence

__all__ = ["heatmap_png", "length_curve_png", "budget_curve_png"]


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot.subplots(figsize=(width, height), dpi=110)


def _png(figure) -> bytes:
    from matplotlib import pyplot

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    pyplot.close(figure)
    return buffer.getvalue()


def heatmap_png(grid: Mapping, title: str) -> bytes:
    """Accuracy in each (depth, length) cell: colour fixed to 0..1, each cell labelled with its
    accuracy and sample count; depth down, haystack length across."""
    import numpy as np

    keys = [key.split("|") for key in grid["cells"]]
    depths = sorted({k[0] for k in keys}, key=float)
    lengths = sorted({k[1] for k in keys}, key=float)
    values = np.full((len(depths), len(lengths)), np.nan)
    figure, axes = _figure(1.4 + 0.9 * len(lengths), 1.2 + 0.45 * len(depths))
    for i, depth in enumerate(depths):
        for j, length in enumerate(lengths):
            cell = grid["cells"].get(f"{depth}|{length}")
            if cell is None:
                continue
            values[i, j] = cell["accuracy"]
            shade = "white" if cell["accuracy"] < 0.6 else "black"
            axes.text(j, i, f"{100 * cell['accuracy']:.0f}%\nn={cell['n']}", ha="center", va="center", fontsize=7, color=shade)
    image = axes.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(lengths)), [f"{float(v):g}" for v in lengths])
    axes.set_yticks(range(len(depths)), [f"{float(v):g}" for v in depths])
    axes.set_xlabel("haystack length (s)")
    axes.set_ylabel("needle depth (0 = start, 1 = end)")
    # about 13 characters an inch at 9 points: wrap a long title (settings in it) to the figure's width
    axes.set_title(textwrap.fill(title, width=max(30, int(13 * figure.get_figwidth()))), fontsize=9)
    figure.colorbar(image, ax=axes, label="accuracy")
    return _png(figure)


def length_curve_png(runs: Sequence[tuple[str, Mapping]]) -> bytes | None:
    """Accuracy against haystack length, with its 95% interval, one line per (label, metrics)."""
    figure, axes = _figure(5.2, 3.2)
    drawn = False
    ticks: set[float] = set()
    for label, metrics in runs:
        cells = metrics.get("by_facet", {}).get("length")
        if not cells or len(cells) < 2:
            continue
        lengths = sorted(cells, key=float)
        x = [float(v) for v in lengths]
        y = [cells[v]["accuracy"] for v in lengths]
        low = [cells[v]["accuracy"] - cells[v]["low"] for v in lengths]
        high = [cells[v]["high"] - cells[v]["accuracy"] for v in lengths]
        axes.errorbar(x, y, yerr=[low, high], marker="o", capsize=3, label=label)
        ticks.update(x)
        drawn = True
    if not drawn:
        from matplotlib import pyplot

        pyplot.close(figure)  # pyplot keeps every figure until it is closed
        return None
    axes.set_xscale("log")
    axes.set_xticks(sorted(ticks), [f"{t:g}" for t in sorted(ticks)])
    axes.minorticks_off()
    axes.set_ylim(0, 1)
    axes.set_xlabel("haystack length (s)")
    axes.set_ylabel("accuracy")
    axes.legend(fontsize=7)
    return _png(figure)


def budget_curve_png(runs: Sequence[tuple[str, Mapping]]) -> bytes | None:
    """Accuracy against the frames a model was shown, for runs of one model on one suite that
    differ only in their frame budget (None when there are no two such runs)."""
    groups: dict[tuple, list[Mapping]] = {}
    for _, metrics in runs:
        key = (metrics["model"]["name"], str(metrics["data"].get("suite")), metrics["settings"].get("sampler"))
        groups.setdefault(key, []).append(metrics)
    series = {key: sorted(ms, key=lambda m: m["settings"]["frames"]) for key, ms in groups.items() if len({m["settings"]["frames"] for m in ms}) > 1}
    if not series:
        return None
    figure, axes = _figure(5.2, 3.2)
    for (model, suite, _), ms in series.items():
        x = [m["settings"]["frames"] for m in ms]
        y = [m["overall"]["accuracy"] for m in ms]
        errors = [[m["overall"]["accuracy"] - m["overall"]["low"] for m in ms], [m["overall"]["high"] - m["overall"]["accuracy"] for m in ms]]
        axes.errorbar(x, y, yerr=errors, marker="o", capsize=3, label=f"{model} on {suite}")
    axes.set_ylim(0, 1)
    axes.set_xlabel("frames shown per sample")
    axes.set_ylabel("accuracy")
    axes.legend(fontsize=7)
    return _png(figure)
