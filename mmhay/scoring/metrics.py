"""Metrics over scored records: accuracy with its uncertainty and chance level, overall and per facet.

Definitions are in docs/metrics.md. A record is one scored sample as written to samples.jsonl:
it has ``correct`` (bool), ``parsed`` (None when no answer could be read), ``chance`` (None
where the answer space is not finite), ``task`` and ``facets``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from math import sqrt

__all__ = ["Accuracy", "accuracy", "wilson_interval", "summarize", "mmneedle"]


@dataclass(frozen=True)
class Accuracy:
    """Accuracy of ``n`` answers: ``correct`` of them right, ``unparsed`` unreadable (and wrong).

    ``stderr`` is the binomial standard error; ``low``..``high`` the 95% Wilson score interval;
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


def accuracy(records: Sequence[Mapping]) -> Accuracy:
    n = len(records)
    correct = sum(1 for r in records if r["correct"])
    unparsed = sum(1 for r in records if r.get("parsed") is None)
    p = correct / n if n else 0.0
    low, high = wilson_interval(correct, n)
    chances = [r["chance"] for r in records if r.get("chance") is not None]
    mean_chance = sum(chances) / len(chances) if chances else None
    return Accuracy(n, correct, unparsed, p, sqrt(p * (1 - p) / n) if n else 0.0, low, high, mean_chance)


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


def mmneedle(records: Sequence[Mapping]) -> dict:
    """MMNeedle's accuracies over grid answers (docs/metrics.md).

    existence: every caption's presence (a cell, or -1) read right, over all samples;
    index: every caption's image index right, and exact: every index, row and column right,
    over the samples whose needles are there; hallucination: a cell given where the answer is
    -1, over the samples whose needles are absent.
    """
    existence = index = exact = hallucinated = positives = negatives = 0
    for record in records:
        truth = record["answer"].split(";")
        given = (record.get("parsed") or "").split(";") if record.get("parsed") else []
        present = [t != "-1" for t in truth]
        said = [g != "-1" for g in given] if len(given) == len(truth) else None
        existence += said == present
        if any(present):
            positives += 1
            if said == present:
                index += all(g.split(",")[0] == t.split(",")[0] for g, t in zip(given, truth) if t != "-1")
                exact += given == truth
        else:
            negatives += 1
            hallucinated += any(g != "-1" for g in given)
    return {
        "n": len(records),
        "positives": positives,
        "negatives": negatives,
        "existence_accuracy": round(existence / len(records), 6) if records else None,
        "index_accuracy": round(index / positives, 6) if positives else None,
        "exact_accuracy": round(exact / positives, 6) if positives else None,
        "hallucination_rate": round(hallucinated / negatives, 6) if negatives else None,
    }


def summarize(records: Sequence[Mapping]) -> dict:
    """Accuracy overall, by task, by each facet, and over the depth x length grid when both exist."""
    facet_names = sorted({name for r in records for name in r.get("facets", {})})
    summary: dict = {
        "overall": accuracy(records).to_json(),
        "by_task": {task: accuracy(rs).to_json() for task, rs in _group(records, lambda r: r["task"]).items()},
        "by_facet": {
            name: {
                value: accuracy(rs).to_json()
                for value, rs in _group(
                    [r for r in records if name in r.get("facets", {})], lambda r, name=name: _label(r["facets"][name])
                ).items()
            }
            for name in facet_names
        },
    }
    grid_records = [r for r in records if r.get("answer_type") == "grid"]
    if grid_records:
        summary["mmneedle"] = mmneedle(grid_records)
    if {"depth", "length"} <= set(facet_names):
        cells = _group(
            [r for r in records if "depth" in r["facets"] and "length" in r["facets"]],
            lambda r: f"{_label(r['facets']['depth'])}|{_label(r['facets']['length'])}",
        )
        summary["grid"] = {
            "rows": "depth",
            "columns": "length",
            "cells": {key: accuracy(rs).to_json() for key, rs in cells.items()},
        }
    return summary
