"""The verdict on one generated answer: what it says (parsed) and whether it is right.

``mmhay eval`` gives it as each answer comes; ``mmhay score`` gives it later, from what a
``--predict-only`` run recorded, by the same function, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmhay.scoring.parse import parse_answer
from mmhay.scoring.score import is_correct

__all__ = ["verdict", "counts_shown"]


def verdict(kind: str, options: Sequence[str], answer: str, output: str, *, shown_count: int | None = None, read: tuple | None = None) -> dict[str, Any]:
    """``parsed`` and ``correct`` of ``output`` to a question of answer type ``kind``; with
    ``shown_count`` (counting tasks), also ``correct_vs_shown_count``. ``read`` is the (parsed,
    correct) pair likelihood scoring found instead of parsing (``likelihood_verdict``)."""
    parsed, correct = read or (parse_answer(kind, output, tuple(options)), None)
    record = {"parsed": parsed, "correct": is_correct(kind, parsed, answer) if correct is None else correct}
    if shown_count is not None:
        record["correct_vs_shown_count"] = counts_shown(kind, options, parsed, shown_count)
    return record


def counts_shown(kind: str, options: Sequence[str], parsed, count: int) -> bool:
    """Whether the answer is the count of appearances the model was given (not the true count)."""
    if kind != "choice":
        return is_correct(kind, parsed, str(count))
    letters = [chr(ord("A") + i) for i, option in enumerate(options) if option == str(count)]
    return bool(letters) and is_correct("choice", parsed, letters[0])
