"""How real models answer, and what each answer must read as: one table across every answer type."""

import pytest

from mmhay.scoring.parse import parse_answer

SHAPES = ("a red star", "an orange circle", "a blue heart", "a green square")
ORDER = ("a red star", "an orange circle", "a blue heart")
COUNTS = ("2", "4", "1", "3")
NEGATIVE = ("a red star", "a blue heart", "a green square", "none of these")

TABLE = [
    # choice
    ("choice", SHAPES, "B", "B"),
    ("choice", SHAPES, "B.", "B"),
    ("choice", SHAPES, "(B)", "B"),
    ("choice", SHAPES, "**B**", "B"),
    ("choice", SHAPES, "b", "B"),
    ("choice", SHAPES, "The answer is B.", "B"),
    ("choice", SHAPES, "The answer is (C) a blue heart.", "C"),
    ("choice", SHAPES, "Answer: D", "D"),
    ("choice", SHAPES, "ANSWER: A", "A"),
    ("choice", SHAPES, "Based on the video, the correct answer is A.", "A"),
    ("choice", SHAPES, "I believe the correct option is C, because a blue heart flashes by at the end.", "C"),
    ("choice", SHAPES, "C. a blue heart", "C"),
    ("choice", SHAPES, "D) a green square", "D"),
    ("choice", SHAPES, "A: a red star", "A"),
    ("choice", SHAPES, "Option B", "B"),
    ("choice", SHAPES, "B - an orange circle", "B"),
    ("choice", SHAPES, "an orange circle", "B"),
    ("choice", SHAPES, "The video shows a green square for a moment.", "D"),
    ("choice", SHAPES, "A red star.", "A"),
    ("choice", SHAPES, "The picture that does not belong is the blue heart.", "C"),
    ("choice", SHAPES, "<answer>B</answer>", "B"),
    ("choice", SHAPES, "[C]", "C"),
    ("choice", SHAPES, "C\n\nThe blue heart appears about halfway through.", "C"),
    ("choice", SHAPES, "Considering the frames, the answer is D", "D"),
    ("choice", SHAPES, "Either A or B.", None),
    ("choice", SHAPES, "None of the options.", None),
    ("choice", SHAPES, "I'm sorry, I can't see any pictures.", None),
    ("choice", SHAPES, "E", None),
    ("choice", SHAPES, "", None),
    ("choice", NEGATIVE, "D. none of these", "D"),
    ("choice", NEGATIVE, "none of these", "D"),
    ("choice", COUNTS, "B", "B"),
    ("choice", COUNTS, "4", "B"),
    # integer
    ("integer", (), "3", "3"),
    ("integer", (), "three", "3"),
    ("integer", (), "3 times", "3"),
    ("integer", (), "There are 3.", "3"),
    ("integer", (), "The red star appears twice.", "2"),
    ("integer", (), "It appears once.", "1"),
    ("integer", (), "**5**", "5"),
    ("integer", (), "I counted 4 appearances in total.", "4"),
    ("integer", (), "It never appears.", "0"),
    ("integer", (), "Twelve", "12"),
    ("integer", (), "I cannot count them.", None),
    # boolean
    ("boolean", (), "yes", "yes"),
    ("boolean", (), "Yes.", "yes"),
    ("boolean", (), "Yes, it appears near the end.", "yes"),
    ("boolean", (), "No.", "no"),
    ("boolean", (), "no", "no"),
    ("boolean", (), "It does not appear in the video.", "no"),
    ("boolean", (), "The red star is not present.", "no"),
    ("boolean", (), "I did not see it.", "no"),
    ("boolean", (), "True", "yes"),
    ("boolean", (), "Absent.", "no"),
    ("boolean", (), "Maybe.", None),
    # sequence
    ("sequence", ORDER, "B, A, C", "B,A,C"),
    ("sequence", ORDER, "[B, A, C]", "B,A,C"),
    ("sequence", ORDER, "B->A->C", "B,A,C"),
    ("sequence", ORDER, "B > A > C", "B,A,C"),
    ("sequence", ORDER, "first B then A then C", "B,A,C"),
    ("sequence", ORDER, "The order is C, B, A.", "C,B,A"),
    ("sequence", ORDER, "b, c, a", "B,C,A"),
    ("sequence", ORDER, "1. C\n2. A\n3. B", "C,A,B"),
    ("sequence", ORDER, "The orange circle came first, then the red star, and finally the blue heart.", "B,A,C"),
    ("sequence", ORDER, "I don't remember.", None),
    # span
    ("span", (), "from 12.5 s to 15 s", "12.5,15"),
    ("span", (), "00:12-00:15", "12,15"),
    ("span", (), "at 13 seconds", "13,13"),
    ("span", (), "12.5 - 15", "12.5,15"),
    ("span", (), "It appears between 1:05 and 1:07.", "65,67"),
    ("span", (), "Around the 40 second mark, until 42 seconds.", "40,42"),
    ("span", (), "Start: 3.2, end: 4.7", "3.2,4.7"),
    ("span", (), "0:00:30 to 0:00:31", "30,31"),
    ("span", (), "It does not appear.", None),
    # grid
    ("grid", (), "2, 1, 3", "2,1,3"),
    ("grid", (), "(2, 1, 3)", "2,1,3"),
    ("grid", (), "The needle is in image 2, row 1, column 3.", "2,1,3"),
    ("grid", (), "-1", "-1"),
    ("grid", (), "1, 2, 2; 2, 1, 1", "1,2,2;2,1,1"),
    ("grid", (), "1,1,4\n-1", "1,1,4;-1"),
    ("grid", (), "No sub-image matches.", None),
    # text
    ("text", (), "Lemon.", "lemon"),
    ("text", (), "The secret word is lemon.", "lemon"),
    ("text", (), "lemon", "lemon"),
    ("text", (), "A red star", "red star"),
    ("text", (), "The answer is: kettle", "kettle"),
    ("text", (), "The digits are 4 8 2 7 1.", "4 8 2 7 1"),
    ("text", (), "", None),
]


@pytest.mark.parametrize("answer_type, options, text, expected", TABLE)
def test_what_models_write_reads_as_expected(answer_type, options, text, expected):
    assert parse_answer(answer_type, text, options) == expected


def test_the_table_covers_every_answer_type_and_enough_outputs():
    assert len(TABLE) >= 80
    assert {row[0] for row in TABLE} == {"choice", "integer", "boolean", "sequence", "span", "grid", "text"}
