"""The text a model is asked: question, lettered options and the answer-format instruction."""

from __future__ import annotations

from mmhay.schema import AnswerType, Sample, option_letter

__all__ = ["prompt_for", "CHOICE_INSTRUCTION"]

# The instruction most video benchmarks (Video-MME, MVBench, lmms-eval tasks) use for options.
CHOICE_INSTRUCTION = "Answer with the option's letter from the given choices directly."


def prompt_for(sample: Sample) -> str:
    """The prompt for one sample (media is passed separately)."""
    if sample.answer_type is AnswerType.CHOICE:
        lines = [sample.question]
        lines += [f"{option_letter(i)}. {option}" for i, option in enumerate(sample.options)]
        lines.append(CHOICE_INSTRUCTION)
        return "\n".join(lines)
    return sample.question
