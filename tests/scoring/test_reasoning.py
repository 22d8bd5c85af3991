import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmhay.scoring.metrics import summarize
from mmhay.scoring.parse import parse_answer
from mmhay.scoring.reasoning import ThinkTags, opened_in, reasoning_summary, split_reasoning

OPTIONS = ("a red star", "an orange circle", "a blue heart")


@pytest.mark.parametrize(
    "text, opened, answer, cut_off",
    [
        ("<think>… option A is tempting …</think>The answer is B.", False, "B", False),  # read as A before
        ("<think>… option A is tempting, but", False, None, True),  # the token limit came first
        ("… option A is tempting …</think>The answer is B.", False, "B", False),  # the template opened it
        ("… option A is tempting …</think>The answer is B.", True, "B", False),
        ("… option A is tempting", True, None, True),  # opened in the prompt, never closed
        ("<think>A?</think><think>C?</think> Option B", False, "B", False),
        ("The answer is C.", False, "C", False),  # no tags: as it always was (the property test below says more)
        ("<think></think>C", False, "C", False),
    ],
)
def test_the_reasoning_is_not_read_for_the_answer(text, opened, answer, cut_off):
    reasoned = split_reasoning(text, opened=opened)
    assert parse_answer("choice", reasoned.answer, OPTIONS) == answer
    assert reasoned.cut_off == cut_off and reasoned.thought == ("think" in text or opened)
    assert "tempting" not in reasoned.answer


@settings(max_examples=50)
@given(st.text(alphabet=st.characters(blacklist_characters="<>◁▷")))
def test_a_reply_without_tags_is_its_own_answer(text):
    assert split_reasoning(text) == split_reasoning(text, ThinkTags("◁think▷", "◁/think▷"))
    reasoned = split_reasoning(text)
    assert (reasoned.answer, reasoned.reasoning, reasoned.cut_off, reasoned.thought) == (text.strip(), "", False, False)


def test_other_tags_and_prompts_that_open_them():
    kimi = ThinkTags("◁think▷", "◁/think▷")
    assert split_reasoning("◁think▷A is wrong◁/think▷B", kimi).answer == "B"
    assert opened_in("<|im_start|>assistant\n<think>\n") and not opened_in("assistant\n<think>\n\n</think>\n\n") and not opened_in(None)


def test_lmms_eval_reads_past_the_reasoning_too():
    from mmhay.lmms_eval_task import process_results

    doc = {"id": "s", "task": "t", "answer_type": "choice", "options": list(OPTIONS), "answer": "B"}
    assert process_results(doc, ["<think>option A is tempting</think>The answer is B."])["mmhay_accuracy"]["parsed"] == "B"


def _record(parsed, correct, reasoning=None):
    record = {"task": "t", "parsed": parsed, "correct": correct, "chance": 0.5, "facets": {}}
    return {**record, "reasoning": reasoning} if reasoning else record


def test_answers_cut_off_in_their_reasoning_are_counted_apart_from_unparsed_ones():
    records = [
        _record("B", True, {"chars": 20, "tokens": 6, "cut_off": False, "final_text": "B"}),
        _record(None, False, {"chars": 40, "tokens": 32, "cut_off": True, "final_text": ""}),
        _record(None, False, {"chars": 0, "cut_off": False, "final_text": "no idea"}),  # reasoned, then unreadable
        _record(None, False),  # no reasoning, unreadable
    ]
    metrics = summarize(records)
    assert metrics["overall"]["unparsed"] == 2 and metrics["overall"]["n"] == 4
    assert metrics["reasoning"] == {"n": 3, "cut_off": 1, "mean_chars": 20.0, "mean_tokens": 19.0}
    assert reasoning_summary(records[3:]) is None and "reasoning" not in summarize(records[3:])
