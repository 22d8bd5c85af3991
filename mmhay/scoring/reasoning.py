"""The reasoning of a reply kept apart from its answer: what a thinking model writes between its
think tags is not parsed for the answer (docs/metrics.md, "Reasoning").

A reply is read in one of four shapes:

- ``<think>…</think>The answer is B.``: the answer is what is left outside the reasoning;
- ``…</think>The answer is B.``: the chat template opened ``<think>`` in the prompt, so the reply
  starts inside the reasoning and only closes it; the answer is what follows the close;
- ``<think>… option A is tempting`` (or, after a prompt that opened ``<think>``, a reply that
  never closes it): the token limit cut the model off inside its reasoning; there is no answer,
  and the sample is counted as cut off, not as unparsed;
- no tags: the reply is the answer, as it always was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_TAGS", "Reasoned", "ThinkTags", "opened_in", "reasoning_summary", "split_reasoning"]


@dataclass(frozen=True)
class ThinkTags:
    """The tags a model writes around its reasoning."""

    open: str = "<think>"
    close: str = "</think>"


DEFAULT_TAGS = ThinkTags()


@dataclass(frozen=True)
class Reasoned:
    """A reply split: ``answer`` is the text parsed for the answer, ``reasoning`` what the model
    thought, ``cut_off`` whether the reply ended inside it, ``thought`` whether it reasoned at
    all (a tag in the reply, or a block the prompt opened; an empty ``<think></think>`` counts)."""

    answer: str
    reasoning: str = ""
    cut_off: bool = False
    thought: bool = False


def opened_in(prompt: str | None, tags: ThinkTags = DEFAULT_TAGS) -> bool:
    """Whether ``prompt`` (the chat template applied) ends inside an open reasoning block: the
    template wrote ``<think>`` for the model, and the reply continues it."""
    if not prompt:
        return False
    return prompt.rfind(tags.open) > prompt.rfind(tags.close)


def split_reasoning(text: str, tags: ThinkTags = DEFAULT_TAGS, opened: bool = False) -> Reasoned:
    """``text`` split into its answer and its reasoning.

    ``opened``: the prompt left a reasoning block open (``opened_in``), so the reply starts in it.
    Every closed block is taken out; the text after an open tag that is never closed is
    reasoning cut off by the token limit, and what came before it is the answer.
    """
    rest, pieces, answer, cut_off = text, [], [], False
    inside = opened
    while rest:
        if inside:
            end = rest.find(tags.close)
            if end < 0:
                pieces.append(rest)
                cut_off = True
                break
            pieces.append(rest[:end])
            rest, inside = rest[end + len(tags.close) :], False
        else:
            start = rest.find(tags.open)
            stray = rest.find(tags.close)
            if 0 <= stray and (start < 0 or stray < start):  # a close with no open: all before it was reasoning
                pieces, answer = pieces + [" ".join(answer), rest[:stray]], []
                rest = rest[stray + len(tags.close) :]
                continue
            if start < 0:
                answer.append(rest)
                break
            answer.append(rest[:start])
            rest, inside = rest[start + len(tags.open) :], True
    else:
        cut_off = inside  # the reply ended right after an open tag, or the prompt's open was all
    thought = opened or tags.open in text or tags.close in text
    return Reasoned(" ".join(answer).strip(), " ".join(pieces).strip(), cut_off, thought)


def reasoning_summary(records: Sequence[Mapping]) -> dict | None:
    """How the answers that reasoned went: how many held reasoning, how many were cut off inside
    it (apart from ``unparsed``), and the mean reasoning length in characters and, where the
    adapter counted them, tokens. None when no record reasoned."""
    reasoned = [r["reasoning"] for r in records if "reasoning" in r]
    if not reasoned:
        return None
    tokens = [r["tokens"] for r in reasoned if r.get("tokens") is not None]
    summary = {
        "n": len(reasoned),
        "cut_off": sum(1 for r in reasoned if r["cut_off"]),
        "mean_chars": round(sum(r["chars"] for r in reasoned) / len(reasoned), 2),
    }
    if tokens:
        summary["mean_tokens"] = round(sum(tokens) / len(tokens), 2)
    return summary
