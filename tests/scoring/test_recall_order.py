"""Scoring TimeScope's recall in order: the words written out, read and compared by hand."""

from mmhay.scoring.parse import parse_answer
from mmhay.scoring.score import is_correct
from mmhay.scoring.task_metrics import family_metrics


def _record(reply, answer="lemon, apple, kite"):
    parsed = parse_answer("text", reply)
    return {"task": "recall_order", "answer_type": "text", "answer": answer, "parsed": parsed, "correct": is_correct("text", parsed, answer)}


def test_recall_order_scores_the_words_in_order():
    replies = [
        "The secret words are: Lemon, Apple, Kite.",  # exact
        "lemon -> apple -> kite",  # exact: punctuation is no word
        "I saw lemon, then apple, then kite",  # not exact; all named in order
        "kite, apple, lemon",  # reversed: tau -1
        "lemon, kite",  # apple left out: pairs (l,a) (a,k) discordant, (l,k) concordant -> tau -1/3
        "",  # unreadable: tau -1
        "lemon, apple, lemon, kite",  # not exact; in order by first mention
    ]
    records = [_record(r) for r in replies]
    assert [r["correct"] for r in records] == [True, True, False, False, False, False, False]
    metrics = family_metrics(records)["recall_order"]
    taus = [1, 1, 1, -1, -1 / 3, -1, 1]
    assert metrics == {
        "n": 7,
        "exact": round(2 / 7, 6),
        "in_order": round(4 / 7, 6),
        "kendall_tau": round(sum(taus) / 7, 6),
        "pairwise_accuracy": round(sum((t + 1) / 2 for t in taus) / 7, 6),
    }


def test_motion_count_is_scored_as_a_count():
    record = {"task": "motion_count", "answer_type": "choice", "answer": "B", "parsed": "C", "options": ["0", "3", "4", "1", "6", "2"]}
    assert family_metrics([record])["motion_count"] == {"n": 1, "exact": 0.0, "within_one": 1.0, "mean_absolute_error": 1.0, "unread": 0}
