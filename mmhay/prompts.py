"""The text a model is asked: the question, its lettered options and how to write the answer."""

from __future__ import annotations

from collections.abc import Sequence

from mmhay.schema import AnswerType, Sample, option_letter

__all__ = ["prompt_for", "prompt_text", "INSTRUCTIONS"]

# How to answer, by answer type. The choice line is the one most video benchmarks use
# (Video-MME, MVBench, lmms-eval tasks).
INSTRUCTIONS = {
    AnswerType.CHOICE: "Answer with the option's letter from the given choices directly.",
    AnswerType.SEQUENCE: "Answer with the letters in the order the items appear, separated by commas (for example: C, A, B).",
    AnswerType.INTEGER: "Answer with a number.",
    AnswerType.BOOLEAN: "Answer yes or no.",
    AnswerType.SPAN: "Answer with the start and end time in seconds, as: start - end.",
    AnswerType.TEXT: "Answer with a word or a short phrase.",
    AnswerType.COUNTS: "Answer with a list of numbers in square brackets, for example: [2, 0, 1].",
    AnswerType.GRID: (
        "Answer as 'index, row, column' (for example: 2, 1, 3), or -1 if no sub-image matches; "
        "for several captions, one answer per caption in their order, separated by semicolons."
    ),
}


def prompt_for(sample: Sample) -> str:
    """The prompt for one sample (its media is passed separately)."""
    return prompt_text(sample.question, sample.options, sample.answer_type)


def prompt_text(question: str, options: Sequence[str], answer_type: AnswerType) -> str:
    """The question, its options lettered A, B, ..., and the line that says how to answer."""
    lines = [question]
    lines += [f"{option_letter(i)}. {option}" for i, option in enumerate(options)]
    lines.append(INSTRUCTIONS[answer_type])
    return "\n".join(lines)
