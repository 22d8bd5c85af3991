import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmhay.scoring.parse import parse_choice

OPTIONS = ("a red star", "an orange circle", "a blue heart", "a green square")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("B", "B"),
        ("b", "B"),
        ("(C)", "C"),
        ("D.", "D"),
        ("**A**", "A"),
        ("[B]", "B"),
        (" c) ", "C"),
        ("The answer is B.", "B"),
        ("the answer is (d)", "D"),
        ("Answer: C", "C"),
        ("answer:C", "C"),
        ("The correct option would be A, since the star is red.", "A"),
        ("Option B", "B"),
        ("B. an orange circle", "B"),
        ("D: a green square is shown", "D"),
        ("C because the heart was blue", "C"),
        ("I think the answer is D.", "D"),
        ("a blue heart", "C"),
        ("It showed an orange circle.", "B"),
        ("The answer is a red star.", "A"),
        ("A red star appeared briefly.", "A"),
        ("The picture was **C** (a blue heart).", "C"),
        ("", None),
        ("I don't know", None),
        ("E", None),
        ("Either A or B", None),
        ("a purple crescent", None),
        ("red star or blue heart", None),
    ],
)
def test_choice_answers_as_models_write_them(text, expected):
    assert parse_choice(text, OPTIONS) == expected


def vnbench_first_letter(text: str) -> str | None:
    """VNBench's reference rule: the first of A, B, C, D found anywhere in the answer."""
    for letter in "ABCD":
        if letter in text:
            return letter
    return None


@pytest.mark.parametrize("text, truth", [("Answer: C", "C"), ("Based on the video, D", "D"), ("Considering the frames, the answer is D", "D")])
def test_unlike_vnbench_a_capital_inside_a_word_is_not_an_answer(text, truth):
    assert vnbench_first_letter(text) != truth, "the reference rule misreads this answer"
    assert parse_choice(text, OPTIONS) == truth


def test_the_letters_in_range_depend_on_the_option_count():
    assert parse_choice("C", OPTIONS[:2]) is None
    assert parse_choice("I", [f"option {k}" for k in range(10)]) == "I"
    assert parse_choice("I think it is J", [f"option {k}" for k in range(10)]) == "J"


@given(st.text(max_size=200), st.lists(st.text(max_size=20), max_size=8))
def test_never_raises_and_answers_only_in_range(text, options):
    result = parse_choice(text, options)
    assert result is None or (re.fullmatch(r"[A-Z]", result) and ord(result) - ord("A") < len(options))


def test_non_text_is_no_answer():
    assert parse_choice(None, OPTIONS) is None
    assert parse_choice(3, OPTIONS) is None
