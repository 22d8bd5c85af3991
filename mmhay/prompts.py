"""The text a model is asked: the question, its lettered options and how to write the answer."""

from __future__ import annotations

from mmhay.schema import AnswerType, Sample, option_letter

__all__ = ["prompt_for", "INSTRUCTIONS"]

# How to answer, by answer type. The choice line is the one most video benchmarks use
# (Video-MME, MVBench, lmms-eval tasks).
INSTRUCTIONS = {
    AnswerType.CHOICE: "Answer with the option's letter from the given choices directly.",
    AnswerType.SEQUENCE: "Answer with the letters in the order the items appear, separated by commas (for example: C, A, B).",
    AnswerType.INTEGER: "Answer with a number.",
    AnswerType.BOOLEAN: "Answer yes or no.",
    AnswerType.SPAN: "Answer with the start and end time in seconds, as: start - end.",
    AnswerType.TEXT: "Answer with a word or a short phrase.",
    AnswerType.GRID: (
        "Answer as 'index, row, column' (for example: 2, 1, 3), or -1 if no sub-image matches; "
        "for several captions, one answer per caption in their order, separated by semicolons."
    ),
}


def prompt_for(sample: Sample) -> str:
    """The prompt for one sample (its media is passed separately)."""
    lines = [sample.question]
    lines += [f"{option_letter(i)}. {option}" for i, option in enumerate(sample.options)]
    lines.append(INSTRUCTIONS[sample.answer_type])
    return "\n".join(lines)
