"""The text a model is asked: the question, its lettered options and how to write the answer.

A suite config's ``prompts`` section replaces that text per task or per answer type with a
template over ``{question}``, ``{options}`` (the lettered options, one a line) and
``{instruction}`` (the default line that says how to answer); a task's template wins over its
answer type's. The prompt is built when a sample is asked, so a template changes no sample.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

from mmhay.schema import AnswerType, Sample, option_letter

__all__ = ["prompt_for", "prompt_text", "template_problem", "INSTRUCTIONS", "TEMPLATE_FIELDS"]

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

TEMPLATE_FIELDS = ("question", "options", "instruction")


def prompt_for(sample: Sample, templates: Mapping[str, str] | None = None) -> str:
    """The prompt for one sample (its media is passed separately), through the suite's
    ``templates`` (task or answer type to template) where one applies."""
    template = (templates or {}).get(sample.task) or (templates or {}).get(sample.answer_type.value)
    return prompt_text(sample.question, sample.options, sample.answer_type, template)


def prompt_text(question: str, options: Sequence[str], answer_type: AnswerType, template: str | None = None) -> str:
    """The question, its options lettered A, B, ..., and the line that says how to answer;
    with ``template``, those three filled into it."""
    lettered = [f"{option_letter(i)}. {option}" for i, option in enumerate(options)]
    if template is not None:
        return template.format(question=question, options="\n".join(lettered), instruction=INSTRUCTIONS[answer_type])
    return "\n".join([question, *lettered, INSTRUCTIONS[answer_type]])


def template_problem(template: str) -> str | None:
    """What is wrong with a prompt template, or None: unknown fields, unbalanced braces."""
    try:
        fields = [name for _, name, spec, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        return f"is not a valid template ({error}; write a literal brace as {{{{ or }}}})"
    for name in fields:
        if name not in TEMPLATE_FIELDS:
            return f"names {{{name}}}; a template may use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
    if "question" not in fields:
        return "must contain {question}"
    return None

