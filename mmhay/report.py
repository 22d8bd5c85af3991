"""``mmhay report``: runs side by side as one self-contained HTML page, with their plots and failures.

The page holds the tables, the depth x length heatmaps per task (image grids: image x grid
size and row x column), accuracy against haystack
length, accuracy against the frame budget (for runs that differ only in frames), and the worst
failures of each run with the frames the model saw and its raw answer. Heatmaps are also written
as PNG files beside the page. Two runs are also compared on the samples both answered
(``paired_runs``: the difference in accuracy with a paired interval, and McNemar's test).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from mmhay.atomic import output_folder, write_bytes_atomic, write_text_atomic
from mmhay.errors import DatasetError
from mmhay.scoring.bootstrap import seed_for
from mmhay.scoring.html import data_uri, page
from mmhay.scoring.paired import paired_comparison
from mmhay.scoring.plots import budget_curve_png, exposure_heatmaps_png, heatmap_png, length_curve_png
from mmhay.scoring.report import run_labels

__all__ = ["load_run", "paired_runs", "write_report", "FAILURES_SHOWN"]

FAILURES_SHOWN = 8


def load_run(run: Path) -> tuple[dict, list[dict]]:
    """A run folder's metrics and its records; a ``DatasetError`` if it is not a finished run."""
    metrics = run / "metrics.json"
    if not metrics.is_file():
        raise DatasetError(run, "not a finished run (no metrics.json); run `mmhay eval` first")
    try:
        loaded = json.loads(metrics.read_text())
        records = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(run, f"unreadable run: {error}") from None
    if loaded.get("predict_only"):
        raise DatasetError(run, f"holds answers not scored yet (--predict-only); score them with `mmhay score {run}`")
    return loaded, records


def paired_runs(first: Path, second: Path) -> dict | None:
    """Two runs compared on the samples both scored (``paired_comparison``), with their folders
    and labels; None when they share no sample: runs on data of another config or seed (their
    sample ids name other samples), or on samples none of which the other answered (two runs of
    different suites are still shown side by side, unpaired)."""
    (a, records_a), (b, records_b) = load_run(Path(first)), load_run(Path(second))
    labels = run_labels([a, b])
    # the config key and seed name the samples: ids of other data are other samples
    same_data = all(a["data"].get(key) == b["data"].get(key) for key in ("config_key", "seed") if key in a["data"] and key in b["data"])
    compared = paired_comparison(records_a, records_b, seed_for("paired", *labels)) if same_data else None
    if compared is None:
        return None
    return {"first": str(first), "second": str(second), "first_label": labels[0], "second_label": labels[1], **compared}


def write_report(
    runs: Sequence[Path], out: Path, *, pictures: bool = True, samples: Mapping[str, Any] | None = None, paired: Mapping[str, Any] | None = None
) -> Path:
    """Write ``out/report.html`` (and the heatmap PNGs) for ``runs``; return the page's path.

    ``samples`` (by id) are the runs' samples where the caller already holds them, as ``mmhay
    eval`` does: the failures' pictures come from them instead of reading the data again (a
    config's source folders would be probed and hashed a second time). ``paired`` is the
    comparison of two runs (``paired_runs``), shown on the page under the runs' table."""
    output_folder(out)
    loaded = [load_run(Path(run)) for run in runs]
    labels = run_labels([metrics for metrics, _ in loaded])
    heatmaps: list[tuple[str, bytes]] = []
    for label, (metrics, _) in zip(labels, loaded):
        grids = metrics.get("grid_by_task") or ({"all": metrics["grid"]} if "grid" in metrics else {})
        for task, grid in grids.items():
            title = f"{label} · {task}"
            png = heatmap_png(grid, title)
            heatmaps.append((title, png))
            name = "".join(c if c.isalnum() else "-" for c in title).strip("-").lower()
            write_bytes_atomic(out / f"heatmap-{name}.png", png)
    image_maps: list[tuple[str, bytes]] = []
    for label, (metrics, _) in zip(labels, loaded):
        for kind, grid in metrics.get("image_grid", {}).items():
            title = f"{label} · {kind.replace('_', ' ')}"
            png = heatmap_png(grid, title)
            image_maps.append((title, png))
            name = "".join(c if c.isalnum() else "-" for c in title).strip("-").lower()
            write_bytes_atomic(out / f"heatmap-{name}.png", png)
    exposure: list[tuple[str, bytes]] = []
    for label, (metrics, _) in zip(labels, loaded):
        shown = metrics.get("exposure", {}).get("grid")
        if shown and "grid" in metrics:  # runs made before mmhay recorded exposure have none
            png = exposure_heatmaps_png(shown, metrics["grid"], f"{label} · what the model was shown")
            exposure.append((f"{label} · shown rate, accuracy, accuracy given shown", png))
            name = "".join(c if c.isalnum() else "-" for c in label).strip("-").lower()
            write_bytes_atomic(out / f"exposure-{name}.png", png)
    labelled = [(label, m) for label, (m, _) in zip(labels, loaded)]
    curves = [("accuracy by haystack length", png) for png in [length_curve_png(labelled)] if png]
    budget = [("accuracy by frames shown", png) for png in [budget_curve_png(labelled)] if png]
    failures = {label: _failures(m, records, pictures, samples) for label, (m, records) in zip(labels, loaded)}
    html = page(
        [m for m, _ in loaded],
        {
            "Where the needle is lost (depth x length)": heatmaps,
            "Where the needle is lost in image grids (the first caption's image x grid size, its row x column)": image_maps,
            "Shown, or missed? Shown rate, accuracy and accuracy given shown (depth x length)": exposure,
            "Haystack length": curves,
            "Frame budget": budget,
        },
        failures,
        paired,
    )
    path = out / "report.html"
    write_text_atomic(path, html)
    return path


def _failures(metrics: Mapping, records: Sequence[Mapping], pictures: bool, known: Mapping[str, Any] | None = None) -> list[dict]:
    """The worst failures: wrong answers in the shortest haystacks first (where finding the needle
    should be easiest), readable answers before unreadable ones, across tasks."""
    wrong = [r for r in records if "skipped" not in r and not r.get("correct") and not r.get("rotation")]
    wrong.sort(key=lambda r: (r.get("parsed") is None, float(r.get("facets", {}).get("length", 0)), r["index"]))
    chosen, per_task = [], {}
    cap = max(2, FAILURES_SHOWN // max(1, len({r["task"] for r in wrong})))  # the tasks share the room
    for record in wrong:
        if per_task.get(record["task"], 0) < cap:
            chosen.append(record)
            per_task[record["task"]] = per_task.get(record["task"], 0) + 1
        if len(chosen) == FAILURES_SHOWN:
            break
    shown = {r["id"]: r for r in chosen}
    if not pictures or not shown:
        samples = {}
    elif known is not None and all(i in known for i in shown):
        samples = {i: known[i] for i in shown}
    else:
        samples = _find_samples(metrics, set(shown))
    items = []
    for record in chosen:
        sample = samples.get(record["id"])
        items.append(
            {
                "id": record["id"],
                "task": record["task"],
                "facets": record.get("facets", {}),
                "question": sample.question if sample else record.get("prompt", ""),
                "options": record.get("options", []),
                "answer": record["answer"],
                "parsed": record.get("parsed"),
                "output": record.get("output", ""),
                "exposure": _exposure_label(record),
                "pictures": _pictures(sample, record) if sample else [],
            }
        )
    return items


def _exposure_label(record: Mapping) -> str | None:
    """Whose miss a failure is: "never shown" (the needle was not given), "shown, missed"."""
    if "exposure" not in record:
        return None  # a run made before mmhay recorded exposure
    verdict = record["exposure"].get("shown")
    return {True: "shown, missed", False: "never shown", None: "nothing to show (the asked needle is absent)"}[verdict]


def _find_samples(metrics: Mapping, ids: set[str]) -> dict:
    """The samples of a run's data with these ids (the data is read again; none if it is gone)."""
    from mmhay.errors import MmhayError
    from mmhay.evaluate import open_data

    source = metrics["data"].get("built") or metrics["data"].get("config")
    if not source or not Path(source).exists():
        return {}
    try:
        found = {}
        for sample in open_data(source).samples():
            if sample.id in ids:
                found[sample.id] = sample
                if len(found) == len(ids):
                    break
        return found
    except MmhayError:
        return {}


def _pictures(sample, record: Mapping) -> list[tuple[str, str]]:
    """Small pictures of what the model saw: its frames, or the sample's images."""
    from PIL import Image

    from mmhay.gallery import Gallery

    def small(pixels: np.ndarray) -> bytes:
        import io

        image = Image.fromarray(pixels)
        image.thumbnail((160, 120))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    media = sample.media
    if isinstance(media, Gallery):
        return [(f"image {k + 1}", data_uri(small(pixels))) for k, pixels in enumerate(media.render()[:12])]
    times = record.get("frame_times") or []
    if not times or not media.segments:
        return []
    frames = media.frames([Fraction(t).limit_denominator(1_000_000) for t in times], size=_small_size(media.size))
    return [(f"{t:.2f} s", data_uri(small(frame))) for t, frame in zip(times, frames)]


def _small_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, 160 / width)
    return max(2, round(width * scale) // 2 * 2), max(2, round(height * scale) // 2 * 2)
