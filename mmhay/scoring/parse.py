"""Parsers: read the answer out of what a model wrote. They never raise; no answer is ``None``."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["parse_choice", "parse_answer", "PARSED_TYPES"]

PARSED_TYPES = frozenset({"choice"})

_MARKUP = re.compile(r"[*_`#]+")
_SPACES = re.compile(r"\s+")
# "B", "(B)", "b.", "[C]", "Option B", "**D**" and the like, as the whole answer
_WHOLE_LETTER = re.compile(r"^(?:option|choice)?\s*[(\[{<\"']?\s*([A-Za-z])\s*[)\]}>\"']?\s*[.:,;!]?$", re.I)
# "the answer is (B)", "Answer: C", "correct option would be D", "choice B"
_STATED = re.compile(
    r"\b(?:answer|option|choice)\b(?:\s+(?:is|would\s+be|should\s+be|will\s+be))?\s*[:\-=]?\s*[(\[]?([A-Za-z])\b([)\].:,;!]?)"
    r"(?=(\s+\w)?)",
    re.I,
)
# "B. a red star", "C) ...", "D: ..." at the start
_LEADING = re.compile(r"^[(\[]?([A-Za-z])\s*[).:\]]\s")
_LONE_CAPITAL = re.compile(r"(?<![A-Za-z0-9'])([A-Z])(?![A-Za-z0-9'])")


def _clean(text: str) -> str:
    return _SPACES.sub(" ", _MARKUP.sub("", text)).strip()


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", re.sub(r"[^a-z0-9 ]+", " ", text.lower())).strip()


def parse_choice(text: object, options: Sequence[str]) -> str | None:
    """The option letter an answer picks (``"A"``..), or None when it picks none or is ambiguous.

    Accepts a bare letter in any dress ("B", "(b)", "**C**."), a stated answer ("The answer is
    B", "Answer: C" — which reads as C, not as the A of "Answer"), a leading letter with a
    delimiter ("D. a red star"), the text of exactly one option, or exactly one capital letter
    standing alone among the option letters.
    """
    if not isinstance(text, str) or not options:
        return None
    letters = [chr(ord("A") + i) for i in range(min(len(options), 26))]
    cleaned = _clean(text)
    if not cleaned:
        return None

    whole = _WHOLE_LETTER.match(cleaned)
    if whole and whole.group(1).upper() in letters:
        return whole.group(1).upper()

    for match in _STATED.finditer(cleaned):
        letter, closer, word_follows = match.group(1), match.group(2), match.group(3)
        # a lowercase letter followed by a word is an article ("the answer is a red star")
        if letter.islower() and not closer and word_follows:
            continue
        if letter.upper() in letters:
            return letter.upper()

    leading = _LEADING.match(cleaned + " ")
    if leading and leading.group(1).upper() in letters:
        return leading.group(1).upper()

    by_text = _match_option_text(cleaned, options, letters)
    if by_text is not None:
        return by_text

    lone = {m.group(1) for m in _LONE_CAPITAL.finditer(cleaned) if m.group(1) in letters}
    # "I" as in "I think" is a pronoun, not option I
    if "I" in lone and re.search(r"(?<![A-Za-z])I\s+[a-z]", cleaned):
        lone.discard("I")
    if len(lone) == 1:
        return lone.pop()
    return None


def _match_option_text(cleaned: str, options: Sequence[str], letters: list[str]) -> str | None:
    """The letter of the one option whose text the answer contains (the longest, if nested)."""
    answer = f" {_normalise(cleaned)} "
    found = []
    for letter, option in zip(letters, options):
        text = _normalise(option)
        if text and f" {text} " in answer:
            found.append((len(text), letter, text))
    if not found:
        return None
    found.sort(reverse=True)
    longest = found[0]
    # options nested in the longest match ("red star" in "a red star") do not count against it
    rivals = [f for f in found[1:] if f[2] not in longest[2]]
    return None if rivals else longest[1]


def parse_answer(answer_type: str, text: object, options: Sequence[str] = ()) -> str | None:
    """The normalised answer of ``answer_type`` in ``text``, or None."""
    if answer_type == "choice":
        return parse_choice(text, options)
    raise ValueError(f"no parser yet for {answer_type!r} answers")
