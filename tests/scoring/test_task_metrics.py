"""Every task metric against values worked out by hand."""

import numpy as np
import pytest

from mmhay.scoring.bootstrap import bootstrap_interval, seed_for
from mmhay.scoring.metrics import summarize
from mmhay.scoring.task_metrics import circular, counting, kendall_tau, localization, negatives, ordering


def test_counting_exact_within_one_and_mean_absolute_error():
    records = [
        {"answer_type": "integer", "answer": "3", "parsed": "3"},  # exact
        {"answer_type": "integer", "answer": "3", "parsed": "4"},  # off by one
        {"answer_type": "integer", "answer": "2", "parsed": "5"},  # off by three
        {"answer_type": "integer", "answer": "4", "parsed": None},  # unread: wrong, no error counted
        {"answer_type": "choice", "answer": "B", "parsed": "C", "options": ["1", "2", "3", "4"]},  # 2 asked, 3 said
    ]
    assert counting(records) == {"n": 5, "exact": 0.2, "within_one": 0.6, "mean_absolute_error": 1.25, "unread": 1}


def test_kendall_tau_by_hand():
    assert kendall_tau("ABC", "ABC") == 1.0
    assert kendall_tau("ABC", "CBA") == -1.0
    assert kendall_tau("ABC", "BAC") == pytest.approx(1 / 3)  # pairs AB wrong, AC right, BC right
    assert kendall_tau("ABC", "AC") == pytest.approx(-1 / 3)  # B left out: AB and BC count against, AC right


def test_ordering_exact_tau_and_pairwise():
    records = [
        {"answer_type": "sequence", "answer": "A,B,C", "parsed": "A,B,C"},
        {"answer_type": "sequence", "answer": "A,B,C", "parsed": "B,A,C"},
        {"answer_type": "sequence", "answer": "C,A,B", "parsed": None},
        {"answer_type": "choice", "answer": "A", "parsed": "B", "options": ["x, then y, then z", "z, then y, then x"]},
    ]
    # taus 1, 1/3, -1 (nothing said), -1 (the chosen order reverses the truth)
    assert ordering(records) == {"n": 4, "exact": 0.25, "kendall_tau": pytest.approx(-1 / 6, abs=1e-6), "pairwise_accuracy": pytest.approx(5 / 12, abs=1e-6)}


def test_negatives_hallucination_and_presence_scores():
    def twin(index, present, said):
        return {"answer_type": "boolean", "index": index, "asked_present": present, "parsed": said, "suite": "s"}

    records = [
        twin(0, True, "yes"), twin(1, False, "no"),  # a right pair
        twin(2, True, "yes"), twin(3, False, "yes"),  # a hallucination
        twin(4, True, "no"), twin(5, False, "no"),  # a miss
        twin(6, True, None), twin(7, False, None),  # unread: a miss, no hallucination
        twin(9, False, "yes"),  # its twin was not answered: counts for hallucination, not for the pairs
    ]  # fmt: skip
    # absent 5, hallucinated 2; pairs 4: TP 2, FN 2, FP 1
    assert negatives(records) == {"absent": 5, "hallucination_rate": 0.4, "pairs": 4, "precision": pytest.approx(2 / 3, abs=1e-6), "recall": 0.5, "f1": pytest.approx(4 / 7, abs=1e-6)}
    choice = [{"answer_type": "choice", "index": 1, "asked_present": False, "parsed": "A", "options": ["a", "b", "c", "none of these"]}]
    assert negatives(choice)["hallucination_rate"] == 1.0


def test_localization_iou_and_recalls():
    records = [
        {"answer_type": "span", "answer": "10,12", "parsed": "10,12"},  # IoU 1
        {"answer_type": "span", "answer": "10,12", "parsed": "11,13"},  # IoU 1/3
        {"answer_type": "span", "answer": "10,12", "parsed": "10,11.2"},  # IoU 0.6
        {"answer_type": "span", "answer": "10,12", "parsed": None},  # IoU 0
        {"answer_type": "choice", "answer": "A", "parsed": "A", "options": ["from 3 s to 4 s", "from 8 s to 9 s"]},  # IoU 1
    ]
    assert localization(records) == {
        "n": 5,
        "mean_iou": pytest.approx((1 + 1 / 3 + 0.6 + 0 + 1) / 5, abs=1e-6),
        "recall_at_0.3": 0.8,
        "recall_at_0.5": 0.6,
        "recall_at_0.7": 0.4,
    }


def test_circular_accuracy_of_a_model_that_always_answers_a():
    """Always "A" is right in one rotation of each question: 1/K plain, 0 circular."""
    records = []
    for question in range(20):
        right = question % 4
        for rotation in range(4):
            answer = "ABCD"[(right + rotation) % 4]
            records.append({"id": f"q{question}-r{rotation}", "group": f"q{question}", "rotation": rotation, "correct": answer == "A", "parsed": "A", "task": "retrieval", "answer": answer})
    assert circular(records) == {"questions": 20, "accuracy": 0.0}
    summary = summarize(records)
    assert summary["overall"]["accuracy"] == 0.25 and summary["circular"]["accuracy"] == 0.0


def test_bootstrap_intervals_are_reproducible_and_cover_at_about_the_nominal_rate():
    values = [1.0] * 30 + [0.0] * 70
    assert bootstrap_interval(values, seed_for("x")) == bootstrap_interval(values, seed_for("x"))
    rng = np.random.default_rng(7)
    truth, covered, trials = 0.3, 0, 300
    for trial in range(trials):
        sample = (rng.random(200) < truth).astype(float)
        low, high = bootstrap_interval(sample, seed_for("trial", trial), resamples=1000)
        covered += low <= truth <= high
    assert 0.91 <= covered / trials <= 0.98, covered / trials
