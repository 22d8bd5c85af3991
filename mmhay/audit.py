"""``mmhay audit``: is a suite fit to measure with? Balance, coverage, duplicates, a blind
baseline, and every sample's truth checked against its media.

A benchmark that a model can pass without looking (a favoured letter, more "yes" than "no", an
answer prior) measures the shortcut, not the model; one whose truth is off measures nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from math import sqrt

from mmhay.schema import AnswerType, Sample
from mmhay.scoring.score import chance

__all__ = ["Finding", "audit"]


@dataclass(frozen=True)
class Finding:
    """One check: its name, whether the suite passes it, what was found, and the figures."""

    check: str
    ok: bool
    detail: str
    figures: dict = field(default_factory=dict)
    warning: bool = False  # passes, but says something a user should know before measuring

    def to_json(self) -> dict:
        return {"check": self.check, "ok": self.ok, "warning": self.warning, "detail": self.detail, "figures": self.figures}


def audit(
    samples: Iterable[Sample],
    *,
    recheck: int | None = None,
    progress: Callable[[int], None] | None = None,
    sampler: str = "uniform",
    frames: int = 16,
) -> list[Finding]:
    """Audit ``samples``; ``recheck`` limits the truth check to the first so many (all by
    default); ``sampler`` and ``frames`` are the sampling whose shown rate is reported."""
    from mmhay.verify import check_sample

    seen: list[Sample] = []
    problems: list[str] = []
    for k, sample in enumerate(samples):
        seen.append(sample)
        if recheck is None or k < recheck:
            problems += [f"{sample.id}: {p}" for p in check_sample(sample)]
        if progress:
            progress(k + 1)
    checked = len(seen) if recheck is None else min(recheck, len(seen))
    return [
        _letters(seen),
        _presence(seen),
        _coverage(seen),
        _duplicates(seen),
        _blind(seen),
        _shown(seen, sampler, frames),
        Finding(
            "truth",
            not problems,
            f"{checked} samples re-checked against their media: " + ("every needle where its truth says" if not problems else f"{len(problems)} problems, first: {problems[0]}"),
            {"checked": checked, "problems": problems[:20]},
        ),
    ]


SHOWN_WARNING = 0.5  # a cell shown less often than this measures the sampler more than the model


def _shown(samples: list[Sample], sampler: str, frames: int) -> Finding:
    """The shown rate at ``sampler`` and ``frames`` (``mmhay.exposure``), with a warning for the
    grid cells whose needles would be shown less than half the time."""
    from mmhay.evaluate import EvalSettings
    from mmhay.exposure_survey import exposure_record
    from mmhay.scoring.metrics import exposure_summary

    settings = EvalSettings(frames=frames, sampler=sampler)
    summary = exposure_summary([exposure_record(sample, settings) for sample in samples])
    overall = summary["overall"] if summary else None
    if not overall or overall["shown_rate"] is None:
        return Finding("shown", True, "no sample whose answer depends on a needle")
    cells = (summary.get("grid") or {}).get("cells") or {f"task {k}": v for k, v in summary["by_task"].items()}
    low = {key: cell["shown_rate"] for key, cell in cells.items() if cell["shown_rate"] is not None and cell["shown_rate"] < SHOWN_WARNING}
    detail = f"{100 * overall['shown_rate']:.1f}% of the needles are shown at {frames} frames ({sampler})"
    if low:
        named = ", ".join(f"{key.replace('|', ' x ')} ({100 * rate:.0f}%)" for key, rate in list(low.items())[:6])
        detail += f"; warning: {len(low)} of {len(cells)} cells are shown less than half the time, where accuracy measures the sampler: {named}"
    figures = {"sampler": sampler, "frames": frames, "shown_rate": overall["shown_rate"], "cells_below_half": sorted(low)}
    return Finding("shown", True, detail, figures, warning=bool(low))


def _letters(samples: list[Sample]) -> Finding:
    """Correct letters spread evenly over the positions (chi-square test, per option count)."""
    from scipy.stats import chisquare

    by_count: dict[int, Counter] = {}
    for sample in samples:
        if sample.answer_type is AnswerType.CHOICE and sample.options:
            by_count.setdefault(len(sample.options), Counter())[sample.answer] += 1
    if not by_count:
        return Finding("letters", True, "no multiple-choice questions")
    details, ok, figures = [], True, {}
    for k, counts in sorted(by_count.items()):
        observed = [counts.get(chr(65 + i), 0) for i in range(k)]
        p = float(chisquare(observed).pvalue) if sum(observed) >= k else 1.0
        ok &= p >= 0.01
        figures[str(k)] = {"counts": observed, "p": round(p, 6)}
        details.append(f"{k} options: {' '.join(f'{chr(65 + i)} {n}' for i, n in enumerate(observed))} (p = {p:.3g})")
    return Finding("letters", ok, "; ".join(details), figures)


def _presence(samples: list[Sample]) -> Finding:
    """Questions about present and absent needles balance within one in every cell."""
    asking = {s.task for s in samples if isinstance(s.truth.get("asked"), dict) and s.truth["asked"].get("present") is False}
    cells: dict[str, Counter] = {}
    for sample in samples:
        asked = sample.truth.get("asked")
        if sample.task in asking and isinstance(asked, dict) and "present" in asked:
            cells.setdefault(json.dumps([sample.task, dict(sample.facets)], sort_keys=True), Counter())[bool(asked["present"])] += 1
    if not cells:
        return Finding("presence", True, "no question about an absent needle")
    worst = max(abs(c[True] - c[False]) for c in cells.values())
    total = Counter()
    for c in cells.values():
        total.update(c)
    return Finding(
        "presence",
        worst <= 1,
        f"{total[True]} present, {total[False]} absent; the largest difference in a cell is {worst}",
        {"present": total[True], "absent": total[False], "largest_difference": worst},
    )


def _coverage(samples: list[Sample]) -> Finding:
    """Every facet cell holds about as many samples as the others."""
    cells = Counter(json.dumps(dict(s.facets), sort_keys=True) for s in samples if not s.rotation)
    if not cells:
        return Finding("coverage", True, "no samples")
    low, high = min(cells.values()), max(cells.values())
    return Finding(
        "coverage", high - low <= max(1, high // 10), f"{len(cells)} cells, {low} to {high} samples each", {"cells": len(cells), "fewest": low, "most": high}
    )


def _duplicates(samples: list[Sample]) -> Finding:
    """No two samples ask the same question about the same media."""
    keys = Counter(
        json.dumps([s.question, list(s.options), s.answer, s.media.to_json()], sort_keys=True) for s in samples if not s.rotation
    )
    repeated = {k: n for k, n in keys.items() if n > 1}
    return Finding("duplicates", not repeated, f"{sum(repeated.values())} samples repeat another" if repeated else "none", {"repeated": sum(repeated.values())})


def _blind(samples: list[Sample]) -> Finding:
    """A baseline that never looks: it answers each question with the most frequent answer of its
    kind (task, answer type, option count). It must sit at chance: within 3 standard errors."""
    kinds: dict[tuple, Counter] = {}
    for s in samples:
        kinds.setdefault((s.task, s.answer_type, len(s.options)), Counter())[s.answer] += 1
    scored = [s for s in samples if chance(s.answer_type.value, len(s.options)) is not None and not s.rotation]
    if not scored:
        return Finding("blind baseline", True, "no question with a finite answer space")
    guess = {kind: min(counts.items(), key=lambda item: (-item[1], item[0]))[0] for kind, counts in kinds.items()}
    right = sum(guess[(s.task, s.answer_type, len(s.options))] == s.answer for s in scored)
    n = len(scored)
    level = sum(chance(s.answer_type.value, len(s.options)) for s in scored) / n
    accuracy = right / n
    error = sqrt(level * (1 - level) / n)
    ok = abs(accuracy - level) <= 3 * error
    return Finding(
        "blind baseline",
        ok,
        f"{100 * accuracy:.1f}% on {n} questions without looking, chance {100 * level:.1f}% ± {300 * error:.1f} (3 standard errors)",
        {"accuracy": round(accuracy, 6), "chance": round(level, 6), "n": n, "standard_error": round(error, 6)},
    )
