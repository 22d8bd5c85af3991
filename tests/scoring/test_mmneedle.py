import pytest

from mmhay.scoring.parse import parse_grid
from mmhay.scoring.task_metrics import mmneedle


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
