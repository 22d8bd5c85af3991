"""Plots of a run's metrics as PNG bytes: depth x length heatmaps, accuracy against haystack
length, accuracy against the frame budget. matplotlib draws them off screen."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence

from mmhay.scoring.metrics import grid_axes

__all__ = ["heatmap_png", "exposure_heatmaps_png", "length_curve_png", "budget_curve_png"]


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


# what each heatmap axis is, by the facet it is drawn over
AXIS_NAMES = {
    "depth": "needle depth (0 = start, 1 = end)",
    "length": "haystack length (s)",
    "needle_image": "needle's image (1 = first)",
    "grid_size": "grid size N (N x N sub-images)",
    "needle_row": "needle's row",
    "needle_column": "needle's column",
}


def _draw_heat(figure, axes, cells: Mapping, depths, lengths, value_of, title: str, label: str, names: tuple[str, str] = ("depth", "length")) -> None:
    """One panel of ``names`` (rows, columns; depth x length by default): ``value_of(cell)``
    gives (value 0..1 or None, count)."""
    import numpy as np

    values = np.full((len(depths), len(lengths)), np.nan)
    for i, depth in enumerate(depths):
        for j, length in enumerate(lengths):
            cell = cells.get(f"{depth}|{length}")
            value, count = value_of(cell) if cell is not None else (None, 0)
            if value is None:
                if cell is not None:
                    axes.text(j, i, f"—\nn={count}", ha="center", va="center", fontsize=7, color="black")
                continue
            values[i, j] = value
            shade = "white" if value < 0.6 else "black"
            axes.text(j, i, f"{100 * value:.0f}%\nn={count}", ha="center", va="center", fontsize=7, color=shade)
    image = axes.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(lengths)), [f"{float(v):g}" for v in lengths])
    axes.set_yticks(range(len(depths)), [f"{float(v):g}" for v in depths])
    axes.set_xlabel(AXIS_NAMES.get(names[1], names[1]))
    axes.set_ylabel(AXIS_NAMES.get(names[0], names[0]))
    # about 13 characters an inch at 9 points: wrap a long title (settings in it) to the panel's width
    axes.set_title(textwrap.fill(title, width=max(30, int(13 * figure.get_figwidth() / len(figure.axes or [axes])))), fontsize=9)
    figure.colorbar(image, ax=axes, label=label)


def heatmap_png(grid: Mapping, title: str) -> bytes:
    """Accuracy in each cell of a grid (depth x length, or the facets its ``rows`` and
    ``columns`` name): colour fixed to 0..1, each cell labelled with its accuracy and sample
    count; rows down, columns across."""
    depths, lengths = grid_axes(grid["cells"])
    figure, axes = _figure(1.4 + 0.9 * len(lengths), 1.2 + 0.45 * len(depths))
    names = (grid.get("rows", "depth"), grid.get("columns", "length"))
    _draw_heat(figure, axes, grid["cells"], depths, lengths, lambda c: (c["accuracy"], c["n"]), title, "accuracy", names)
    return _png(figure)


def exposure_heatmaps_png(shown: Mapping, accuracy: Mapping, title: str) -> bytes:
    """Three depth x length panels side by side: the shown rate, accuracy, and accuracy given
    shown, so that a cell lost by the sampler is told from one lost by the model."""
    from matplotlib import pyplot

    depths, lengths = grid_axes(shown["cells"])
    width = 1.4 + 0.9 * len(lengths)
    figure, panels = pyplot.subplots(1, 3, figsize=(3 * width, 1.5 + 0.45 * len(depths)), dpi=110)
    figure.suptitle(textwrap.fill(title, width=max(40, int(13 * 3 * width))), fontsize=10)
    given = lambda c: (c["given_shown"]["accuracy"], c["given_shown"]["n"]) if c["given_shown"] else (None, 0)  # noqa: E731
    _draw_heat(figure, panels[0], shown["cells"], depths, lengths, lambda c: (c["shown_rate"], c["judged"]), "shown rate", "shown rate")
    _draw_heat(figure, panels[1], accuracy["cells"], depths, lengths, lambda c: (c["accuracy"], c["n"]), "accuracy", "accuracy")
    _draw_heat(figure, panels[2], shown["cells"], depths, lengths, given, "accuracy given shown", "accuracy")
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
