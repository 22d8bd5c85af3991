"""Metrics over scored records: accuracy with its uncertainty and chance level, overall and per facet.

Definitions are in docs/metrics.md. A record is one scored sample as written to samples.jsonl:
it has ``correct`` (bool), ``parsed`` (None when no answer could be read), ``chance`` (None
where the answer space is not finite), ``task`` and ``facets``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from math import sqrt

from mmhay.scoring.bootstrap import bootstrap_interval, seed_for
from mmhay.scoring.clusters import clustering_summary, with_clusters
from mmhay.scoring.reasoning import reasoning_summary
from mmhay.scoring.task_metrics import circular, family_metrics, mmneedle, mmneedle_multi

__all__ = ["Accuracy", "accuracy", "wilson_interval", "summarize", "usage_means", "exposure_summary", "shown_cell", "grid_axes", "image_grid_cells"]


@dataclass(frozen=True)
class Accuracy:
    """Accuracy of ``n`` answers: ``correct`` of them right, ``unparsed`` unreadable (and wrong; an
    answer cut off inside its reasoning is not one of them, see ``reasoning_summary``).

    ``stderr`` is the binomial standard error; ``low``..``high`` the 95% percentile bootstrap
    interval over the ``clusters`` the answers make (records of one scene resampled together,
    mmhay/scoring/clusters.py; seeded by the cell it describes, so a rerun gives the same);
    ``chance`` the mean probability of being right by guessing uniformly, over the answers whose
    answer space is finite (None when none is).
    """

    n: int
    correct: int
    unparsed: int
    accuracy: float
    stderr: float
    low: float
    high: float
    chance: float | None
    clusters: int

    def to_json(self) -> dict:
        return {key: round(value, 6) if isinstance(value, float) else value for key, value in asdict(self).items()}


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (well-behaved near 0 and 1 and for small n)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy(records: Sequence[Mapping], label: object = "") -> Accuracy:
    """Accuracy of ``records``; ``label`` names the cell, and seeds its bootstrap interval. Records
    with a ``cluster`` key (``with_clusters``) are resampled by cluster; a record without one is
    a cluster by itself."""
    n = len(records)
    correct = sum(1 for r in records if r["correct"])
    # an answer cut off inside its reasoning is no unreadable answer: it is counted in "reasoning" instead
    unparsed = sum(1 for r in records if r.get("parsed") is None and not r.get("reasoning", {}).get("cut_off"))
    p = correct / n if n else 0.0
    clusters = [r.get("cluster") or ("record", k) for k, r in enumerate(records)]
    low, high = bootstrap_interval([1.0 if r["correct"] else 0.0 for r in records], seed_for("accuracy", label), clusters=clusters)
    chances = [r["chance"] for r in records if r.get("chance") is not None]
    mean_chance = sum(chances) / len(chances) if chances else None
    return Accuracy(n, correct, unparsed, p, sqrt(p * (1 - p) / n) if n else 0.0, low, high, mean_chance, len(set(clusters)))


def _group(records: Iterable[Mapping], key) -> dict[str, list[Mapping]]:
    groups: dict[str, list[Mapping]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    return dict(sorted(groups.items(), key=lambda item: _sort_key(item[0])))


def _sort_key(value: str):
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _accuracy(records: Sequence[Mapping], label: object) -> dict:
    return accuracy(records, label).to_json()


def _cells(records: Sequence[Mapping], label: object, measure=_accuracy, rows: str = "depth", columns: str = "length") -> dict | None:
    """``measure`` (accuracy by default) of every (``rows``, ``columns``) cell of two facets,
    keyed ``"row|column"`` (``"depth|length"`` by default), when the records have both facets."""
    both = [r for r in records if rows in r.get("facets", {}) and columns in r.get("facets", {})]
    if not both:
        return None
    cells = _group(both, lambda r: f"{_label(r['facets'][rows])}|{_label(r['facets'][columns])}")
    return {"rows": rows, "columns": columns, "cells": {key: measure(rs, (label, key)) for key, rs in cells.items()}}


# the heatmaps of image grids: the first caption's needle by its image (MMNeedle's depth) and the
# grid size, and by its row and column (MMNeedle's sub-image heatmap, over every grid size)
IMAGE_GRID_MAPS = {"image_by_grid_size": ("needle_image", "grid_size"), "row_by_column": ("needle_row", "needle_column")}


def image_grid_cells(records: Sequence[Mapping]) -> dict:
    """Accuracy over the image-grid heatmaps of ``IMAGE_GRID_MAPS``, of the records placed in
    them (samples whose needles are there; empty when none are)."""
    maps = {name: _cells(records, ("image grid", name), rows=rows, columns=columns) for name, (rows, columns) in IMAGE_GRID_MAPS.items()}
    return {name: cells for name, cells in maps.items() if cells}


def _by_facet(records: Sequence[Mapping], measure=_accuracy) -> dict:
    """``measure`` of the records of each value of each facet."""
    names = sorted({name for r in records for name in r.get("facets", {})})
    return {
        name: {
            value: measure(rs, ("facet", name, value))
            for value, rs in _group([r for r in records if name in r.get("facets", {})], lambda r, name=name: _label(r["facets"][name])).items()
        }
        for name in names
    }


def grid_axes(cells: Mapping) -> tuple[list[str], list[str]]:
    """The rows (depths) and columns (lengths) of a grid's ``"depth|length"`` cells, in numeric order."""
    keys = [key.split("|") for key in cells]
    return sorted(dict.fromkeys(k[0] for k in keys), key=float), sorted(dict.fromkeys(k[1] for k in keys), key=float)


def summarize(records: Sequence[Mapping]) -> dict:
    """Accuracy overall, by task, modality and each facet, over the depth x length grid (overall
    and per task), each task's own metrics, and circular accuracy where questions were rotated.

    Accuracy counts each question once: rotations after the first only enter circular accuracy.
    Every interval resamples the clusters of ``with_clusters`` (``intervals`` says how many).
    """
    plain = with_clusters([r for r in records if not r.get("rotation")])
    summary: dict = {
        "intervals": clustering_summary(plain),
        "overall": accuracy(plain, "overall").to_json(),
        "by_task": {task: accuracy(rs, ("task", task)).to_json() for task, rs in _group(plain, lambda r: r["task"]).items()},
        "by_modality": {m: accuracy(rs, ("modality", m)).to_json() for m, rs in _group(plain, lambda r: r.get("modality", "video")).items()},
        "by_facet": _by_facet(plain),
        "tasks": family_metrics(plain),
    }
    grid = _cells(plain, "grid")
    if grid:
        summary["grid"] = grid
        by_task = {task: _cells(rs, ("grid", task)) for task, rs in _group(plain, lambda r: r["task"]).items()}
        summary["grid_by_task"] = {task: cells for task, cells in by_task.items() if cells}
    grid_records = [r for r in plain if r.get("answer_type") == "grid"]
    if grid_records:
        summary["mmneedle"] = mmneedle(grid_records)
        several = mmneedle_multi(grid_records)
        if several:
            summary["mmneedle_multi"] = several
        placed = image_grid_cells(plain)
        if placed:
            summary["image_grid"] = placed
    rotated = circular(records)
    if rotated:
        summary["circular"] = rotated
    tokens = usage_means(plain)
    if tokens:
        summary["usage"] = tokens
    reasoned = reasoning_summary(plain)
    if reasoned:
        summary["reasoning"] = reasoned
    shown = exposure_summary(plain)
    if shown:
        summary["exposure"] = shown
    return summary


def shown_cell(records: Sequence[Mapping], label: object = "") -> dict:
    """Exposure of a cell of records: how many were judged (their answer depends on a needle),
    the shown rate among those (Wilson interval), and accuracy given shown and given not shown;
    records whose answer depends on no needle are counted apart (``nothing_to_show``)."""
    judged = [r for r in records if r.get("exposure", {}).get("shown") is not None]
    shown = [r for r in judged if r["exposure"]["shown"]]
    missed = [r for r in judged if not r["exposure"]["shown"]]
    low, high = wilson_interval(len(shown), len(judged))
    rate = len(shown) / len(judged) if judged else None
    return {
        "n": len(records),
        "judged": len(judged),
        "shown": len(shown),
        "nothing_to_show": len(records) - len(judged),
        "shown_rate": None if rate is None else round(rate, 6),
        "shown_rate_low": round(low, 6) if judged else None,
        "shown_rate_high": round(high, 6) if judged else None,
        "given_shown": accuracy(shown, ("shown", label)).to_json() if shown else None,
        "given_not_shown": accuracy(missed, ("not shown", label)).to_json() if missed else None,
    }


def exposure_summary(records: Sequence[Mapping]) -> dict | None:
    """Shown rate and accuracy given shown / not shown, overall, by task, by each facet and over
    the depth x length grid; counting scored against the shown count too (docs/metrics.md,
    "Exposure"). None when no record has exposure (a run made before mmhay recorded it)."""
    records = [r for r in records if "exposure" in r]
    if not records:
        return None
    if "cluster" not in records[0]:
        records = with_clusters(records)
    summary: dict = {
        "minimums": records[0]["exposure"].get("minimums", {}),
        "overall": shown_cell(records, "overall"),
        "by_task": {task: shown_cell(rs, ("task", task)) for task, rs in _group(records, lambda r: r["task"]).items()},
        "by_facet": _by_facet(records, shown_cell),
    }
    grid = _cells(records, "grid", shown_cell)
    if grid:
        summary["grid"] = grid
    counted = [r for r in records if "correct_vs_shown_count" in r]
    if counted:
        summary["counting"] = {
            "vs_true_count": accuracy(counted, ("count", "true")).to_json(),
            "vs_shown_count": accuracy([{**r, "correct": r["correct_vs_shown_count"]} for r in counted], ("count", "shown")).to_json(),
            "shown_count_below_true": sum(1 for r in counted if r["exposure"]["shown_count"] < r["exposure"]["true_count"]),
        }
    absent = absent_given_shown(records)
    if absent:
        summary["absent"] = absent
    return summary


def absent_given_shown(records: Sequence[Mapping]) -> dict | None:
    """Negative yes / no questions split by what the video's own needle did: a "yes" to the absent look-alike
    when the present needle was shown is a hallucination the model could have avoided; when it was
    not shown, the model could not have told them apart (docs/metrics.md, "Exposure")."""
    asked = [r for r in records if r.get("asked_present") is False and r.get("answer_type") == "boolean" and r["exposure"].get("needles")]
    if not asked:
        return None
    split = {}
    for name, seen in (("given_shown", True), ("given_not_shown", False)):
        rows = [r for r in asked if all(needle["shown"] for needle in r["exposure"]["needles"]) == seen]
        yes = sum(1 for r in rows if r.get("parsed") == "yes")
        split[name] = {"n": len(rows), "hallucinated": yes, "hallucination_rate": round(yes / len(rows), 6) if rows else None}
    return split


def usage_means(records: Sequence[Mapping]) -> dict:
    """Mean tokens per sample (visual, prompt, completion) over the records that report them:
    runs are compared at equal visual-token budgets through this."""
    means = {}
    for name in ("visual_tokens", "prompt_tokens", "completion_tokens"):
        counts = [r["usage"][name] for r in records if name in r.get("usage", {})]
        if counts:
            means[name] = round(sum(counts) / len(counts), 2)
    return means
