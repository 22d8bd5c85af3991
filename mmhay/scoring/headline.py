"""Headline numbers as published: a suite's headline metric computed as the published suite it
is shaped like computes it, beside mmhay's own (docs/metrics.md, "Headline numbers as published").

A suite names that suite with ``protocol:``; ``headline(records, protocol)`` gives the block
metrics.json holds for it. Records are scored samples as summarize reads them (``correct``,
``task``, ``facets``, ``group``, ``rotation``, ``options``, ``answer_type``). Answers are read
by mmhay's parsers, not the suites' own (which misread some answers, docs/metrics.md); only the
aggregation follows their code. Accuracies are fractions (the papers print them x100).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

__all__ = ["SOURCES", "headline", "headlines", "vnbench_type"]

# Where each protocol's headline is computed (repository@commit path:lines), read from the code.
SOURCES = {
    "vnbench": "joez17/VideoNIAH@8193a3b evaluation/eval.py:12-13 (no answer: skipped), 51-56 (a question counts if all 4 rotations are right), 57-62 (overall: mean over task types)",
    "vniah": "EvolvingLMMs-Lab/LongVA@f4c8781 vision_niah/eval_vision_niah.py:260-264 (a cell: mean over its needles), 332 (overall: mean over cells)",
    "vniah_d": "Wiselnn570/VideoRoPE@7712ca3 vision_niah_d/eval_vision_niah_interrupt.py:460-464 (a cell: mean over its needles), 532 (overall: mean over cells)",
    "timescope": "EvolvingLMMs-Lab/lmms-eval@75571cf lmms_eval/tasks/timescope/utils.py:105-117 (length x task type), 122-129 (by length), 131-136 (overall: over all samples)",
    "mlvu_needle": "EvolvingLMMs-Lab/lmms-eval@75571cf lmms_eval/tasks/mlvu/utils.py:101-117 (the needle category: accuracy over its samples)",
}

_METRICS = {
    "vnbench": "circular accuracy (a question counts if every rotation is right), mean over task types",
    "vniah": "accuracy, mean over depth x length cells",
    "vniah_d": "accuracy, mean over depth x length cells",
    "timescope": "accuracy over all samples (micro), by length x task type",
    "mlvu_needle": "multiple-choice accuracy over all samples",
}

# mmhay's tasks as VNBench's task families (its types are ret_*, ord_*, cnt_*)
_VNBENCH_FAMILY = {"retrieval": "ret", "ordering": "ord", "counting": "cnt"}
# how a needle goes in, as VNBench names it: frames edited (subtitles) or frames inserted
_VNBENCH_INSERTION = {"overlay": "edit", "replace": "edit", "insert": "insert"}
_VNBENCH_KIND = {"text": "edit", "image": "insert", "clip": "insert"}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell(records: Sequence[Mapping]) -> dict:
    right = sum(1 for r in records if r["correct"])
    return {"n": len(records), "correct": right, "accuracy": _round(right / len(records))}


def _by(records: Sequence[Mapping], key: Callable[[Mapping], str]) -> dict[str, list[Mapping]]:
    groups: dict[str, list[Mapping]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    return dict(sorted(groups.items()))


def _first_rotations(records: Sequence[Mapping]) -> list[Mapping]:
    """Each question once, as mmhay's accuracy counts it (rotations only enter circular scores)."""
    return [r for r in records if not r.get("rotation")]


def vnbench_type(record: Mapping) -> str:
    """VNBench's task type of a record: its family (``ret``, ``ord``, ``cnt``; another task keeps
    its name), then ``edit`` (a needle drawn onto frames) or ``insert`` (frames added), read from
    the ``insertion`` facet, else the ``kind`` facet; the family alone where neither is a facet."""
    family = _VNBENCH_FAMILY.get(record["task"], record["task"])
    facets = record.get("facets", {})
    if "insertion" in facets:
        how = _VNBENCH_INSERTION.get(facets["insertion"], facets["insertion"])
    elif "kind" in facets:
        how = _VNBENCH_KIND.get(facets["kind"], facets["kind"])
    else:
        return family
    return f"{family}_{how}"


def _vnbench(records: Sequence[Mapping]) -> dict:
    questions = _by(records, lambda r: r.get("group") or r["id"])
    rotated = any(len(rs) > 1 for rs in questions.values())

    def right(rotations: Sequence[Mapping]) -> bool:
        # eval.py's `ac == 4`: as many right answers as the question has rotations
        first = rotations[0]
        wanted = len(first.get("options", [])) if rotated and first.get("answer_type") == "choice" else 1
        return sum(1 for r in rotations if r["correct"]) == max(wanted, 1)

    types: dict[str, list[bool]] = {}
    family_of: dict[str, str] = {}
    for rotations in questions.values():
        name = vnbench_type(rotations[0])
        types.setdefault(name, []).append(right(rotations))
        family_of[name] = _VNBENCH_FAMILY.get(rotations[0]["task"], rotations[0]["task"])
    by_type = {t: {"questions": len(v), "right": sum(v), "accuracy": _round(sum(v) / len(v))} for t, v in sorted(types.items())}
    families: dict[str, list[float]] = {}
    for name, cell in by_type.items():
        families.setdefault(family_of[name], []).append(cell["accuracy"])
    return {
        "overall": _round(_mean([cell["accuracy"] for cell in by_type.values()])),
        "questions": len(questions),
        "rotations": max((len(rs) for rs in questions.values()), default=0),
        "by": {"task_type": by_type, "family": {f: _round(_mean(v)) for f, v in sorted(families.items())}},
    }


def _cells(records: Sequence[Mapping]) -> dict:
    """V-NIAH's: accuracy per (depth, length) cell, the mean over cells overall. Length is the
    suite's own axis: frames where the suite is gridded in frames, else seconds."""
    placed = [r for r in _first_rotations(records) if "depth" in r.get("facets", {})]
    column = "length_frames" if any("length_frames" in r["facets"] for r in placed) else "length"
    cells = _by(placed, lambda r: f"{_label(r['facets']['depth'])}|{_label(r['facets'].get(column))}")
    by_cell = {key: _cell(rs) for key, rs in cells.items()}
    return {
        "overall": _round(_mean([cell["accuracy"] for cell in by_cell.values()])),
        "n": len(placed),
        "by": {"depth|" + column: by_cell},
    }


def _timescope(records: Sequence[Mapping]) -> dict:
    plain = _first_rotations(records)

    def length(record: Mapping) -> str:
        return _label(record.get("facets", {}).get("length"))

    return {
        "overall": _round(sum(1 for r in plain if r["correct"]) / len(plain)) if plain else None,
        "n": len(plain),
        "by": {
            "length|task": {k: _cell(rs) for k, rs in _by(plain, lambda r: f"{length(r)}|{r['task']}").items()},
            "length": {k: _cell(rs) for k, rs in _by(plain, length).items()},
            "task": {k: _cell(rs) for k, rs in _by(plain, lambda r: r["task"]).items()},
        },
    }


def _mlvu_needle(records: Sequence[Mapping]) -> dict:
    plain = _first_rotations(records)
    return {
        "overall": _round(sum(1 for r in plain if r["correct"]) / len(plain)) if plain else None,
        "n": len(plain),
        "by": {"task": {k: _cell(rs) for k, rs in _by(plain, lambda r: r["task"]).items()}},
    }


_COMPUTE = {"vnbench": _vnbench, "vniah": _cells, "vniah_d": _cells, "timescope": _timescope, "mlvu_needle": _mlvu_needle}


def headline(records: Sequence[Mapping], protocol: str) -> dict:
    """The headline block of one suite's scored records under ``protocol`` (a name of
    mmhay.config.PROTOCOLS): ``protocol``, ``metric``, ``overall``, ``by`` (its breakdowns),
    ``source`` (the anchor's file and lines)."""
    if protocol not in _COMPUTE:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(_COMPUTE)}")
    return {"protocol": protocol, "metric": _METRICS[protocol], **_COMPUTE[protocol](records), "source": SOURCES[protocol]}


def headlines(records: Sequence[Mapping], suite_of: Mapping[str, str], protocols: Mapping[str, str]) -> dict:
    """The headline block of each suite of a run that names a protocol, keyed by suite name;
    ``suite_of`` maps a record's id to its suite."""
    by_suite = _by(records, lambda r: suite_of.get(r["id"], ""))
    return {suite: headline(rs, protocols[suite]) for suite, rs in by_suite.items() if protocols.get(suite)}
