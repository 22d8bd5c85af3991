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


from mmhay.scoring.parse import parse_answer, parse_boolean, parse_integer, parse_sequence, parse_span, parse_text  # noqa: E402
from mmhay.scoring.score import chance, is_correct, span_iou  # noqa: E402


@pytest.mark.parametrize(
    "text, expected",
    [("3", "3"), ("three", "3"), ("3 times", "3"), ("There are 3.", "3"), ("It appears twice.", "2"), ("**4**", "4"), ("none", "0"), ("I am not sure", None)],
)
def test_integer_answers(text, expected):
    assert parse_integer(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("yes", "yes"),
        ("Yes, it does.", "yes"),
        ("No.", "no"),
        ("it does not appear", "no"),
        ("The red star is not present in the video.", "no"),
        ("I saw it, yes", "yes"),
        ("maybe", None),
    ],
)
def test_boolean_answers(text, expected):
    assert parse_boolean(text) == expected


ITEMS = ("a red star", "an orange circle", "a blue heart")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("B, A, C", "B,A,C"),
        ("[B, A, C]", "B,A,C"),
        ("B->A->C", "B,A,C"),
        ("first B then A then C", "B,A,C"),
        ("b, a, c", "B,A,C"),
        ("The orange circle came first, then the red star, then the blue heart.", "B,A,C"),
        ("nothing", None),
    ],
)
def test_sequence_answers(text, expected):
    assert parse_sequence(text, ITEMS) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("from 12.5 s to 15 s", "12.5,15"),
        ("00:12-00:15", "12,15"),
        ("at 13 seconds", "13,13"),
        ("between 1:02:03 and 1:02:05", "3723,3725"),
        ("15 - 12.5", "12.5,15"),
        ("never", None),
    ],
)
def test_span_answers(text, expected):
    assert parse_span(text) == expected


@pytest.mark.parametrize("text, expected", [("Lemon.", "lemon"), ("The secret word is lemon", "lemon"), ("A red star", "red star"), ("", None)])
def test_text_answers(text, expected):
    assert parse_text(text) == expected


@given(st.sampled_from(["choice", "integer", "boolean", "sequence", "span", "text", "grid"]), st.text(max_size=200), st.lists(st.text(max_size=12), max_size=6))
def test_no_parser_raises(answer_type, text, options):
    parse_answer(answer_type, text, options)


def test_scoring_by_answer_type():
    assert is_correct("span", "12,14", "12.5,14") and not is_correct("span", "20,21", "12.5,14")
    assert span_iou("0,2", "1,3") == pytest.approx(1 / 3)
    assert is_correct("text", "red star", "red star") and not is_correct("text", "blue star", "red star")
    assert not is_correct("integer", None, "3")
    assert chance("choice", 4) == 0.25 and chance("boolean", 0) == 0.5 and chance("sequence", 3) == pytest.approx(1 / 6)
    assert chance("integer", 0) is None and chance("span", 0) is None
