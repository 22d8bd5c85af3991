import pytest

from mmhay.scoring.parse import parse_grid
from mmhay.scoring.task_metrics import mmneedle, mmneedle_multi


def _record(answer, text):
    return {"answer": answer, "parsed": parse_grid(text), "answer_type": "grid"}


def test_mmneedle_metrics_on_answers_worked_out_by_hand():
    records = [
        _record("2,1,3", "2, 1, 3"),  # right
        _record("2,1,3", "image 2, row 2, column 2"),  # right image, wrong cell
        _record("1,1,1", "-1"),  # missed a needle that is there
        _record("-1", "-1"),  # rightly absent
        _record("-1", "(3, 1, 1)"),  # hallucinated
        _record("1,2,2;2,1,1", "1, 2, 2; 2, 2, 1"),  # two needles: both images right, one cell wrong
        _record("-1;-1", "I cannot tell"),  # unreadable
    ]
    # existence right: 1, 2, 4, 6 of 7; of the 4 positives (1, 2, 3, 6) the image is right in
    # 1, 2, 6 and the cell in 1; of the 3 negatives (4, 5, 7) one has a cell given (5)
    assert mmneedle(records) == {
        "n": 7,
        "positives": 4,
        "negatives": 3,
        "existence_accuracy": pytest.approx(4 / 7, abs=1e-6),
        "index_accuracy": 0.75,
        "exact_accuracy": 0.25,
        "hallucination_rate": pytest.approx(1 / 3, abs=1e-6),
    }


def test_multi_needle_metrics_on_answers_worked_out_by_hand_from_evaluate_multi():
    # Wang-ML-Lab/multimodal-needle-in-a-haystack @ debcaae, evaluate_multi.py: index = every
    # caption's image right, exact = the whole reply right, first_* = the first caption's,
    # all_* = caption by caption over min(len(truth), len(reply)) pairs, pooled over samples;
    # exist = a positive's reply is not one of its -1 forms ('-1', one -1 a caption, three a caption),
    # a negative's is; index / exact / first / all are reported for positive samples only
    # (evaluate_multi.py itself, run on these replies in its own format, prints the same numbers)
    two = [
        _record("1,2,2;2,1,1", "1, 2, 2; 2, 1, 1"),  # a: all right
        _record("1,2,2;2,1,1", "1, 1, 1; 2, 1, 1"),  # b: both images right, the first cell wrong
        _record("3,1,1;1,1,2", "2, 1, 1; 1, 1, 2"),  # c: the first wrong, the second right
        _record("3,1,1;1,1,2", "-1"),  # d: said absent; one pair compared, wrong
        _record("-1;-1", "-1; -1"),  # e: rightly absent
        _record("-1;-1", "-1"),  # f: rightly absent ('-1' once)
        _record("-1;-1", "1, 1, 1; -1"),  # g: a cell given
        _record("-1;-1", "I see none of them"),  # h: unreadable: not a -1 form, so "exists"
    ]
    five = [
        _record("1,1,1;2,1,1;3,1,1;4,1,1;5,1,1", "1, 1, 1; 2, 1, 1; 3, 1, 1"),  # i: three of five given, all right
        _record("-1;-1;-1;-1;-1", "; ".join(["-1, -1, -1"] * 5)),  # j: three -1 a caption: absent
        _record("-1;-1;-1;-1;-1", "-1; -1"),  # k: two -1 for five captions is none of the -1 forms
    ]
    single = [_record("2,1,3", "2, 1, 3")]  # one caption: evaluate.py's, not evaluate_multi.py's
    blocks = mmneedle_multi(two + five + single)
    assert list(blocks) == ["2", "5"]
    # two captions: existence a b c e f right, d g h wrong = 5/8; over the positives a-d:
    # index a b = 2/4, exact a = 1/4, first index a b = 2/4, first exact a = 1/4;
    # pairs a 2 + b 2 + c 2 + d 1 = 7: images right a 2 + b 2 + c 1 = 5/7, answers right a 2 + b 1 + c 1 = 4/7
    assert blocks["2"] == {
        "n": 8,
        "positives": 4,
        "negatives": 4,
        "existence_accuracy": 0.625,
        "index_accuracy": 0.5,
        "exact_accuracy": 0.25,
        "first_index_accuracy": 0.5,
        "first_exact_accuracy": 0.25,
        "all_index_accuracy": pytest.approx(5 / 7, abs=1e-6),
        "all_exact_accuracy": pytest.approx(4 / 7, abs=1e-6),
        "captions_compared": 7,
    }
    # five captions: existence i j right, k wrong = 2/3; i alone is positive: index and exact 0
    # (three answers for five), first 1, all 3/3 (three pairs compared): first and all differ from index / exact
    assert blocks["5"] == {
        "n": 3,
        "positives": 1,
        "negatives": 2,
        "existence_accuracy": pytest.approx(2 / 3, abs=1e-6),
        "index_accuracy": 0.0,
        "exact_accuracy": 0.0,
        "first_index_accuracy": 1.0,
        "first_exact_accuracy": 1.0,
        "all_index_accuracy": 1.0,
        "all_exact_accuracy": 1.0,
        "captions_compared": 3,
    }
    assert mmneedle_multi(single) == {}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2, 1, 3", "2,1,3"),
        ("The needle is in image 2, row 1, column 3.", "2,1,3"),
        ("-1", "-1"),
        ("1,1,2; -1", "1,1,2;-1"),
        ("(1, 2, 2)\n(2, 1, 1)", "1,2,2;2,1,1"),
        ("no idea", None),
    ],
)
def test_grid_answers(text, expected):
    assert parse_grid(text) == expected
