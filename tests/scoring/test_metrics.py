import pytest

from mmhay.scoring.metrics import accuracy, summarize, wilson_interval


def _record(correct, depth, length, parsed="A", task="retrieval"):
    return {"correct": correct, "parsed": parsed, "chance": 0.25, "task": task, "facets": {"depth": depth, "length": length}}


def test_wilson_interval_matches_the_textbook_value():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_accuracy_counts_unparsed_answers_as_wrong():
    records = [_record(True, 0, 10), _record(False, 0, 10, parsed=None), _record(False, 0.5, 10), _record(True, 0.5, 20)]
    result = accuracy(records)
    assert (result.n, result.correct, result.unparsed) == (4, 2, 1)
    assert result.accuracy == 0.5 and result.chance == 0.25
    assert result.stderr == pytest.approx(0.25)


def test_chance_averages_only_finite_answer_spaces():
    records = [_record(True, 0, 10), {**_record(False, 0, 10), "chance": None}, {**_record(True, 0, 10), "chance": 0.5}]
    assert accuracy(records).chance == 0.375
    assert accuracy([{**_record(True, 0, 10), "chance": None}]).chance is None


def test_summary_splits_by_facet_and_grid():
    records = [_record(True, 0.0, 10.0), _record(False, 0.0, 20.0), _record(True, 0.5, 20.0), _record(True, 0.5, 20.0)]
    summary = summarize(records)
    assert summary["overall"]["n"] == 4
    assert summary["by_facet"]["depth"]["0"]["accuracy"] == 0.5
    assert summary["by_facet"]["length"]["20"]["n"] == 3
    assert summary["grid"]["cells"]["0.5|20"] == summary["by_facet"]["depth"]["0.5"]
    assert list(summary["by_facet"]["length"]) == ["10", "20"]
