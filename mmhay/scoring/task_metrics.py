"""The metrics of each task family, beyond accuracy (definitions in docs/metrics.md).

Counting: exact, within one, mean absolute error. Ordering: exact match, Kendall tau, pairwise
accuracy; recall in order (TimeScope's OCR task): the same over the words named. Negative
needles: hallucination rate, and presence precision / recall / F1 over matched twins. Localization: mean temporal IoU and recall at IoU 0.3 / 0.5 / 0.7. Image grids: MMNeedle's
existence, index and exact accuracy and hallucination rate, and for several needles its
first-needle and all-needle index and exact accuracy (``evaluate_multi.py``). Count lists
(MM-NIAH's counting): soft accuracy. Circular: all rotations right.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import combinations

from mmhay.scoring.parse import parse_span
from mmhay.scoring.score import span_iou

__all__ = ["counting", "ordering", "recall_order", "negatives", "localization", "mmneedle", "mmneedle_multi", "soft_accuracy", "circular", "family_metrics"]


def _letter_value(record: Mapping, letter: str | None) -> str | None:
    """The option text a letter picks, for choice answers; the answer itself otherwise."""
    if record["answer_type"] != "choice":
        return letter
    if letter is None:
        return None
    k = ord(letter) - ord("A")
    options = record.get("options", [])
    return options[k] if 0 <= k < len(options) else None


def _number(text: str | None) -> int | None:
    match = re.fullmatch(r"\s*(-?\d+)\s*", text or "")
    return int(match.group(1)) if match else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def counting(records: Sequence[Mapping]) -> dict:
    """Exact and within-one accuracy (unreadable answers wrong) and the mean absolute error of the
    readable ones."""
    exact = within = 0
    errors = []
    for record in records:
        truth = _number(_letter_value(record, record["answer"]))
        given = _number(_letter_value(record, record.get("parsed")))
        if truth is None or given is None:
            continue
        exact += given == truth
        within += abs(given - truth) <= 1
        errors.append(abs(given - truth))
    n = len(records)
    return {
        "n": n,
        "exact": _round(exact / n) if n else None,
        "within_one": _round(within / n) if n else None,
        "mean_absolute_error": _round(sum(errors) / len(errors)) if errors else None,
        "unread": n - len(errors),
    }


def _order(record: Mapping, letters: str | None) -> list[str] | None:
    """The items an answer puts in order: option letters (sequence), or the named items of a
    chosen order (choice: "a, then b, then c")."""
    if letters is None:
        return None
    if record["answer_type"] == "sequence":
        return letters.split(",")
    chosen = _letter_value(record, letters)
    return chosen.split(", then ") if chosen else None


def kendall_tau(truth: Sequence[str], given: Sequence[str]) -> float:
    """Kendall's tau between the truth's order and the answer's, over all pairs of the truth's
    items: a pair is concordant if the answer orders it the same way, discordant otherwise
    (an item the answer leaves out counts against every pair it is in)."""
    rank = {item: k for k, item in enumerate(given)}
    pairs = list(combinations(truth, 2))
    if not pairs:
        return 1.0
    concordant = sum(1 for a, b in pairs if a in rank and b in rank and rank[a] < rank[b])
    return (2 * concordant - len(pairs)) / len(pairs)


def ordering(records: Sequence[Mapping]) -> dict:
    """Exact match, mean Kendall tau and mean pairwise accuracy (unreadable answers: tau -1, pairs 0)."""
    exact, taus, pairwise = 0, [], []
    for record in records:
        truth, given = _order(record, record["answer"]), _order(record, record.get("parsed"))
        if truth is None:
            continue
        given = given or []
        exact += given == truth
        tau = kendall_tau(truth, given)
        taus.append(tau)
        pairwise.append((tau + 1) / 2)
    n = len(taus)
    return {
        "n": n,
        "exact": _round(exact / n) if n else None,
        "kendall_tau": _round(sum(taus) / n) if n else None,
        "pairwise_accuracy": _round(sum(pairwise) / n) if n else None,
    }


def recall_order(records: Sequence[Mapping]) -> dict:
    """TimeScope-style recall of secret words in order: exact match of the written words, and
    over the true words an answer names (in the order it first names them, other words aside)
    the share naming all in order, mean Kendall tau and pairwise accuracy."""
    exact = in_order = 0
    taus = []
    for record in records:
        truth = [word.strip().lower() for word in record["answer"].split(",")]
        said = (record.get("parsed") or "").split()
        named = [word for word in dict.fromkeys(said) if word in truth]
        exact += said == truth
        in_order += named == truth
        taus.append(kendall_tau(truth, named))
    n = len(taus)
    return {
        "n": n,
        "exact": _round(exact / n) if n else None,
        "in_order": _round(in_order / n) if n else None,
        "kendall_tau": _round(sum(taus) / n) if n else None,
        "pairwise_accuracy": _round(sum((tau + 1) / 2 for tau in taus) / n) if n else None,
    }


def _says_present(record: Mapping) -> bool | None:
    """Whether an answer says the asked needle is there (None: unreadable)."""
    parsed = record.get("parsed")
    if parsed is None:
        return None
    if record["answer_type"] == "boolean":
        return parsed == "yes"
    return _letter_value(record, parsed) not in (None, "none of these")


def negatives(records: Sequence[Mapping]) -> dict:
    """Hallucination rate over absent needles, and presence precision / recall / F1 over the twins
    whose both halves were answered."""
    absent = [r for r in records if r.get("asked_present") is False]
    hallucinated = sum(1 for r in absent if _says_present(r))
    twins: dict[tuple, dict[bool, Mapping]] = {}
    for record in records:
        if "asked_present" in record:
            twins.setdefault((record.get("suite"), record["index"] // 2, record.get("rotation", 0)), {})[record["asked_present"]] = record
    tp = fp = fn = 0
    pairs = 0
    for pair in twins.values():
        if len(pair) < 2:
            continue
        pairs += 1
        tp += bool(_says_present(pair[True]))
        fn += not _says_present(pair[True])
        fp += bool(_says_present(pair[False]))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else (0.0 if precision == 0 or recall == 0 else None)
    return {
        "absent": len(absent),
        "hallucination_rate": _round(hallucinated / len(absent)) if absent else None,
        "pairs": pairs,
        "precision": _round(precision),
        "recall": _round(recall),
        "f1": _round(f1),
    }


def _span(record: Mapping, text: str | None) -> str | None:
    if record["answer_type"] == "span":
        return text
    chosen = _letter_value(record, text)
    return parse_span(chosen) if chosen else None


def localization(records: Sequence[Mapping]) -> dict:
    """Mean temporal IoU and recall at IoU 0.3, 0.5 and 0.7 (unreadable answers: IoU 0)."""
    ious = []
    for record in records:
        truth = _span(record, record["answer"])
        if truth is None:
            continue
        given = _span(record, record.get("parsed"))
        ious.append(span_iou(given, truth) if given else 0.0)
    n = len(ious)
    result = {"n": n, "mean_iou": _round(sum(ious) / n) if n else None}
    for threshold in (0.3, 0.5, 0.7):
        result[f"recall_at_{threshold}"] = _round(sum(iou >= threshold for iou in ious) / n) if n else None
    return result


def mmneedle(records: Sequence[Mapping]) -> dict:
    """MMNeedle's accuracies over grid answers.

    existence: every caption's presence (a cell, or -1) read right, over all samples;
    index: every caption's image index right, and exact: every index, row and column right,
    over the samples whose needles are there; hallucination: a cell given where the answer is
    -1, over the samples whose needles are absent.
    """
    existence = index = exact = hallucinated = positives = negatives_ = 0
    for record in records:
        truth = record["answer"].split(";")
        given = record["parsed"].split(";") if record.get("parsed") else []
        present = [t != "-1" for t in truth]
        said = [g != "-1" for g in given] if len(given) == len(truth) else None
        existence += said == present
        if any(present):
            positives += 1
            if said == present:
                index += all(g.split(",")[0] == t.split(",")[0] for g, t in zip(given, truth) if t != "-1")
                exact += given == truth
        else:
            negatives_ += 1
            hallucinated += any(g != "-1" for g in given)
    return {
        "n": len(records),
        "positives": positives,
        "negatives": negatives_,
        "existence_accuracy": _round(existence / len(records)) if records else None,
        "index_accuracy": _round(index / positives) if positives else None,
        "exact_accuracy": _round(exact / positives) if positives else None,
        "hallucination_rate": _round(hallucinated / negatives_) if negatives_ else None,
    }


def _multi_block(records: Sequence[Mapping]) -> dict:
    """evaluate_multi.py's accuracies over samples that list the same number of captions."""
    existence = 0
    index, exact, first_index, first_exact = [], [], [], []
    pair_index, pair_exact = [], []
    for record in records:
        truth = record["answer"].split(";")
        # an unreadable reply is one answer that matches nothing, as evaluate_multi.py's split of any text is
        given = record["parsed"].split(";") if record.get("parsed") else [""]
        # evaluate_multi.py's no-needle replies: "-1" once, once a caption, or three times a caption
        says_absent = all(g == "-1" for g in given) and len(given) in (1, len(truth), 3 * len(truth))
        positive = any(t != "-1" for t in truth)
        existence += says_absent != positive
        if not positive:
            continue
        truth_images, given_images = [t.split(",")[0] for t in truth], [g.split(",")[0] for g in given]
        index.append(truth_images == given_images)
        exact.append(truth == given)
        first_index.append(truth_images[0] == given_images[0])
        first_exact.append(truth[0] == given[0])
        # caption by caption, over as many as both lists have
        pair_index += [t == g for t, g in zip(truth_images, given_images)]
        pair_exact += [t == g for t, g in zip(truth, given)]

    def share(hits: list[bool]) -> float | None:
        return _round(sum(hits) / len(hits)) if hits else None

    return {
        "n": len(records),
        "positives": len(index),
        "negatives": len(records) - len(index),
        "existence_accuracy": _round(existence / len(records)) if records else None,
        "index_accuracy": share(index),
        "exact_accuracy": share(exact),
        "first_index_accuracy": share(first_index),
        "first_exact_accuracy": share(first_exact),
        "all_index_accuracy": share(pair_index),
        "all_exact_accuracy": share(pair_exact),
        "captions_compared": len(pair_index),
    }


def mmneedle_multi(records: Sequence[Mapping]) -> dict:
    """MMNeedle's multi-needle accuracies (``evaluate_multi.py``), by the number of captions a
    sample lists (only counts above one; empty when there are none).

    existence: a negative sample is right if the reply is -1 (once, once a caption, or three
    times a caption), a positive one if it is anything else; over positive samples, index: every caption's image right, exact: every answer
    right, first index / first exact: the first caption's, all index / all exact: over each
    caption compared in order (as many as both the truth and the answer list), the share right.
    """
    by_count: dict[int, list[Mapping]] = {}
    for record in records:
        count = len(record["answer"].split(";"))
        if count > 1:
            by_count.setdefault(count, []).append(record)
    return {str(count): _multi_block(rs) for count, rs in sorted(by_count.items())}


def soft_accuracy(records: Sequence[Mapping]) -> dict:
    """MM-NIAH's soft accuracy over count lists (``calculate_scores.py``, ``is_correct``): per
    sample the positional matches m between the given and the true list over the true list's
    length M (extra given counts cost nothing, missing ones match nothing), averaged; an
    unreadable answer scores 0. ``exact``: the whole list right."""
    scores, exact, unread = [], 0, 0
    for record in records:
        truth = record["answer"].split(",") if record["answer"] else []
        parsed = record.get("parsed")
        unread += parsed is None
        given = parsed.split(",") if parsed else []
        matches = sum(g == t for g, t in zip(given, truth))
        scores.append(matches / len(truth) if truth else float(given == truth))
        exact += given == truth
    n = len(records)
    return {
        "n": n,
        "soft_accuracy": _round(sum(scores) / n) if n else None,
        "exact": _round(exact / n) if n else None,
        "unread": unread,
    }


def circular(records: Sequence[Mapping]) -> dict | None:
    """Circular accuracy: a question counts as right only if every rotation of its options was
    answered right (None when no question was asked in rotations)."""
    groups: dict[str, list[Mapping]] = {}
    for record in records:
        if record.get("group"):
            groups.setdefault(record["group"], []).append(record)
    rotated = {g: rs for g, rs in groups.items() if len(rs) > 1}
    if not rotated:
        return None
    right = sum(all(r["correct"] for r in rs) for rs in rotated.values())
    return {"questions": len(rotated), "accuracy": _round(right / len(rotated))}


FAMILIES = {
    "counting": counting,
    "count_kind": counting,
    "count_instances": counting,
    "count_spread": counting,
    "ordering": ordering,
    "recall_order": recall_order,
    "motion_count": counting,
    "negative": negatives,
    "localization": localization,
    "locate": mmneedle,
    "counting_text": soft_accuracy,
    "counting_image": soft_accuracy,
}


def family_metrics(records: Sequence[Mapping]) -> dict:
    """Each task's own metrics, by task (tasks with none beyond accuracy are left out)."""
    by_task: dict[str, list[Mapping]] = {}
    for record in records:
        by_task.setdefault(record["task"], []).append(record)
    out = {}
    for task, rs in sorted(by_task.items()):
        measure = FAMILIES.get(task)
        if measure is None:
            continue
        if task == "localization":
            rs = [r for r in rs if r["answer_type"] == "span" or (r["answer_type"] == "choice" and parse_span(r["options"][0] if r.get("options") else ""))]
        if rs:
            out[task] = measure(rs)
    return out
