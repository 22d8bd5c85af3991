"""Parsers: read the answer out of what a model wrote. They never raise; no answer is ``None``."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = [
    "parse_choice",
    "parse_integer",
    "parse_boolean",
    "parse_sequence",
    "parse_span",
    "parse_text",
    "parse_grid",
    "parse_counts",
    "normalise_text",
    "parse_answer",
    "PARSED_TYPES",
]

PARSED_TYPES = frozenset({"choice", "integer", "boolean", "sequence", "span", "text", "grid", "counts"})

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
    answer = f" {normalise_text(cleaned)} "
    found = []
    for letter, option in zip(letters, options):
        text = normalise_text(option)
        if text and f" {text} " in answer:
            found.append((len(text), letter, text))
    if not found:
        return None
    found.sort(reverse=True)
    longest = found[0]
    # options nested in the longest match ("red star" in "a red star") do not count against it
    rivals = [f for f in found[1:] if f[2] not in longest[2]]
    return None if rivals else longest[1]


_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update({"once": 1, "twice": 2, "thrice": 3, "none": 0, "never": 0})
_NUMBER = re.compile(r"(?<![\w.])(\d+)(?![\w.]*\d)|\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)


def parse_integer(text: object) -> str | None:
    """The first count an answer states: "3", "three", "3 times", "twice", "there are 3" -> "3"."""
    if not isinstance(text, str):
        return None
    match = _NUMBER.search(_clean(text))
    if not match:
        return None
    if match.group(2):
        return str(_NUMBER_WORDS[match.group(2).lower()])
    try:
        return str(int(match.group(1)))
    except ValueError:  # more digits than int() reads (4300): no count anyone meant
        return None


_YES = re.compile(r"^(yes|yeah|yep|true|correct|it does|it appears|present)\b", re.I)
_NO = re.compile(r"^(no|nope|false|incorrect|it does not|it doesn't|not present|absent)\b", re.I)
_NEGATED = re.compile(r"\b(not|never|no|doesn't|does not|did not|didn't|absent|isn't|is not)\b", re.I)


def parse_boolean(text: object) -> str | None:
    """"yes" or "no": from how the answer opens ("Yes.", "No, it does not"), or from a negation."""
    if not isinstance(text, str):
        return None
    cleaned = _clean(text)
    if _NO.match(cleaned):
        return "no"
    if _YES.match(cleaned):
        return "yes"
    if re.search(r"\b(yes|true)\b", cleaned, re.I):
        return None if _NEGATED.search(cleaned) else "yes"
    if _NEGATED.search(cleaned):
        return "no"
    return None


def parse_sequence(text: object, options: Sequence[str]) -> str | None:
    """Option letters in the order an answer gives them ("B, A, C", "B->A->C") as "B,A,C"; by option
    text when the answer names the options instead of their letters."""
    if not isinstance(text, str) or not options:
        return None
    letters = [chr(ord("A") + i) for i in range(min(len(options), 26))]
    cleaned = _clean(text)
    found: list[str] = []
    for match in re.finditer(r"(?<![A-Za-z])([A-Za-z])(?![A-Za-z])", cleaned):
        letter = match.group(1)
        if letter.upper() in letters and (letter.isupper() or len(cleaned) <= 4 * len(options)):
            if letter.upper() not in found:
                found.append(letter.upper())
    if len(found) >= 2:
        return ",".join(found)
    answer = f" {normalise_text(cleaned)} "
    positions = []
    for letter, option in zip(letters, options):
        wanted = normalise_text(option)
        where = answer.find(f" {wanted} ")
        if where >= 0 and wanted:
            positions.append((where, letter))
    return ",".join(letter for _, letter in sorted(positions)) if len(positions) >= 2 else None


_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)")
_SECONDS = re.compile(r"(?<![\d:.])(\d+(?:\.\d+)?)(?![\d:])")


def parse_span(text: object) -> str | None:
    """A time span in seconds as "start,end": "from 12.5 s to 15 s", "00:12-00:15"; one time is a
    zero-length span ("at 13 seconds" -> "13,13")."""
    if not isinstance(text, str):
        return None
    cleaned = _clean(text)
    times: list[float] = []
    try:
        for match in _CLOCK.finditer(cleaned):
            hours, minutes, secs = match.groups()
            times.append(int(hours or 0) * 3600 + int(minutes) * 60 + float(secs))
        if not times:
            times = [float(m.group(1)) for m in _SECONDS.finditer(cleaned)]
    except (ValueError, OverflowError):  # digits past what int() reads, or hours past a float
        return None
    if not times or not all(math.isfinite(t) for t in times[:2]):  # "999...9 s" overflows to inf
        return None
    start, end = (times[0], times[1]) if len(times) >= 2 else (times[0], times[0])
    start, end = min(start, end), max(start, end)
    return f"{_format(start)},{_format(end)}"


def _format(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


_LEAD_IN = re.compile(
    r"^(the\s+)?(answer|secret words?|words?|passkeys?|numbers?|keypad digits|digits|sound|picture|clip)\s+(is|was|are|were)\s*:?\s*", re.I
)


def parse_text(text: object) -> str | None:
    """A short answer, normalised: lower case, no punctuation, articles or lead-in ("The answer is")."""
    if not isinstance(text, str):
        return None
    first = _clean(text).splitlines()[0] if _clean(text) else ""
    first = _LEAD_IN.sub("", first)
    words = [w for w in _normalise(first).split() if w not in ("a", "an", "the")]
    return " ".join(words) or None


_SIGNED = re.compile(r"(?<![\w.])-?\d+(?![\w.]*\d)")


def parse_grid(text: object) -> str | None:
    """Cells named in order, MMNeedle style: "2, 1, 3" or "image 2, row 1, column 3" -> "2,1,3";
    "-1" (no such sub-image) -> "-1"; several answers -> "2,1,3;-1"."""
    if not isinstance(text, str):
        return None
    try:
        numbers = [int(m.group(0)) for m in _SIGNED.finditer(_clean(text))]
    except ValueError:  # more digits than int() reads (4300)
        return None
    answers, k = [], 0
    while k < len(numbers):
        if numbers[k] == -1:
            answers.append("-1")
            k += 1
        elif k + 2 < len(numbers) and min(numbers[k : k + 3]) >= 1:
            answers.append(",".join(str(v) for v in numbers[k : k + 3]))
            k += 3
        else:
            k += 1
    return ";".join(answers) or None


_COUNT_LIST = re.compile(r"\[\s*(\d+(?:\s*,\s*\d+)*)?\s*\]")


def parse_counts(text: object) -> str | None:
    """A list of counts, as MM-NIAH's counting tasks ask it: the first bracketed list of whole
    numbers ("[2, 0, 1]", also inside a ```json block) -> "2,0,1"; "[]" -> "" (an empty list)."""
    if not isinstance(text, str):
        return None
    match = _COUNT_LIST.search(text)
    if not match:
        return None
    try:
        return ",".join(str(int(v)) for v in re.split(r"\s*,\s*", match.group(1))) if match.group(1) else ""
    except ValueError:  # more digits than int() reads
        return None


def normalise_text(text: str) -> str:
    """How text answers compare: lower case, no punctuation, no articles, digits run together
    ("4 8 2" reads as "482")."""
    words = " ".join(w for w in _normalise(text).split() if w not in ("a", "an", "the"))
    return re.sub(r"(?<=\d) (?=\d)", "", words)


def parse_answer(answer_type: str, text: object, options: Sequence[str] = ()) -> str | None:
    """The answer of ``answer_type`` in ``text``, in its canonical written form, or None."""
    try:
        if answer_type == "choice":
            return parse_choice(text, options)
        if answer_type == "integer":
            return parse_integer(text)
        if answer_type == "boolean":
            return parse_boolean(text)
        if answer_type == "sequence":
            return parse_sequence(text, options)
        if answer_type == "span":
            return parse_span(text)
        if answer_type == "text":
            return parse_text(text)
        if answer_type == "grid":
            return parse_grid(text)
        if answer_type == "counts":
            return parse_counts(text)
    except (ValueError, IndexError, OverflowError):  # no text may raise; a reading that fails is no answer
        return None
    raise ValueError(f"no parser for {answer_type!r} answers")
