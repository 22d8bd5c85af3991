"""What a checkpoint declares about reasoning: the tags it thinks between, whether its chat template
makes it think, the token budget that follows, and its ``enable_thinking`` switch.

The tags are read from the tokenizer's added tokens (Qwen3's, DeepSeek-R1's and GLM's ``<think>``,
Kimi-VL's ``◁think▷``, Seed's ``<seed:think>``), then from the chat template's text (Keye's and
InternVL's thinking templates write ``<think>`` as plain text); ``<think>`` when neither names any.
A checkpoint reasons when its chat template writes its tags or takes ``enable_thinking``: the
tokenizer alone says little, since Qwen3-VL's Instruct checkpoints carry the think tokens too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mmhay.errors import ConfigError
from mmhay.scoring.reasoning import DEFAULT_TAGS, ThinkTags, opened_in

__all__ = ["ANSWER_MAX_NEW_TOKENS", "ANSWER_TYPE_MAX_NEW_TOKENS", "REASONING_MAX_NEW_TOKENS", "Thinking", "chat_switch", "decoded_replies", "reasoning_usage", "settled", "thinking_of", "token_budgets", "within_budgets"]

# The default token budgets (docs/metrics.md, "Reasoning"): an answer fits in 32 tokens, but for
# the answer types that list one item per needle or image (MMNeedle's "10, 4, 4; 3, 1, 2; ..." for
# up to 5 captions, MM-NIAH's count per image), which get more; a reasoning model gets room to
# think first, whatever it answers.
ANSWER_MAX_NEW_TOKENS = 32
ANSWER_TYPE_MAX_NEW_TOKENS = (("counts", 64), ("grid", 96))
REASONING_MAX_NEW_TOKENS = 8192

_TAG = re.compile(r"[<◁][^<>◁▷\s{}'\"]*think[^<>◁▷\s{}'\"]*[>▷]", re.I)


@dataclass(frozen=True)
class Thinking:
    """A checkpoint's reasoning: its ``tags``, their token ids where each is one token (``None``
    otherwise), whether they are special tokens (which decoding would drop), whether the chat
    template makes the model reason, and whether it takes ``enable_thinking``."""

    tags: ThinkTags = DEFAULT_TAGS
    ids: tuple[int, int] | None = None
    special: bool = False
    reasons: bool = False
    switch: bool = False


def _pair(names: Sequence[str]) -> ThinkTags | None:
    """The first open tag among ``names`` whose close (the same with one "/") is there too."""
    closes = {name.replace("/", "", 1): name for name in names if "/" in name}
    opens = [name for name in names if "/" not in name and name in closes and "no_think" not in name.lower()]
    opens.sort(key=lambda name: name != DEFAULT_TAGS.open)
    return ThinkTags(opens[0], closes[opens[0]]) if opens else None


def thinking_of(processor) -> Thinking:
    """What ``processor`` (its tokenizer and chat template) declares about reasoning."""
    tokenizer = getattr(processor, "tokenizer", processor)
    template = getattr(processor, "chat_template", None) or getattr(tokenizer, "chat_template", None) or ""
    template = template if isinstance(template, str) else " ".join(str(t) for t in dict(template).values())
    added = dict(tokenizer.get_added_vocab()) if hasattr(tokenizer, "get_added_vocab") else {}
    tags = _pair([name for name in added if _TAG.fullmatch(name)]) or _pair(_TAG.findall(template)) or DEFAULT_TAGS
    ids = (added[tags.open], added[tags.close]) if tags.open in added and tags.close in added else None
    special = ids is not None and tokenizer.decode([ids[1]], skip_special_tokens=True) == ""  # as decoding the reply would drop it
    switch = "enable_thinking" in template
    return Thinking(tags, ids, special, switch or tags.open in template or tags.close in template, switch)


def settled(settings, thinking: Thinking):
    """``settings`` (``HFSettings``) with its token budget chosen where the user gave none, and
    ``enable_thinking`` refused where the chat template takes no such switch."""
    if settings.enable_thinking is not None and not thinking.switch:
        raise ConfigError("--model-args", "enable_thinking", "this checkpoint's chat template takes no enable_thinking switch", settings.enable_thinking)
    if settings.max_new_tokens is not None:
        return settings
    if thinking.reasons and settings.enable_thinking is not False:
        return replace(settings, max_new_tokens=REASONING_MAX_NEW_TOKENS)
    return replace(settings, max_new_tokens=ANSWER_MAX_NEW_TOKENS, budgets=ANSWER_TYPE_MAX_NEW_TOKENS)


def token_budgets(settings, requests: Sequence) -> list[int]:
    """Each request's token budget: ``--gen-kwargs max_new_tokens`` where given, else its answer
    type's default (``settings.budgets``), else ``settings.max_new_tokens``."""
    given = requests[0].generation.get("max_new_tokens") if requests else None
    by_type = dict(settings.budgets)
    return [given or by_type.get(request.answer_type, settings.max_new_tokens) for request in requests]


def within_budgets(new_tokens, budgets: Sequence[int], pad: int):
    """``new_tokens`` (one row a request, generated to the largest budget) with each row's tokens
    past its own budget made padding, as if it had stopped there: a reply is what it would be if
    it were asked alone (later steps never change earlier tokens)."""
    cut = new_tokens.clone()
    for row, budget in enumerate(budgets):
        cut[row, budget:] = pad
    return cut


def chat_switch(settings) -> dict[str, Any]:
    """The chat template's variables from the settings: ``enable_thinking`` where the user set it."""
    return {} if settings.enable_thinking is None else {"enable_thinking": settings.enable_thinking}


def decoded_replies(processor, thinking: Thinking, new_tokens) -> list[str]:
    """The generated tokens as text, special tokens left out but the think tags kept, even where
    the tokenizer calls them special (the reply is recorded as the model wrote it)."""
    if not thinking.special:
        return processor.batch_decode(new_tokens, skip_special_tokens=True)
    tags = dict(zip(thinking.ids, (thinking.tags.open, thinking.tags.close)))
    replies = []
    for row in new_tokens.tolist():
        text, run = "", []
        for token in row + [None]:
            if token in tags or token is None:
                text += processor.batch_decode([run], skip_special_tokens=True)[0] if run else ""
                text += tags.get(token, "")
                run = []
            else:
                run.append(token)
        replies.append(text)
    return replies


def reasoning_usage(thinking: Thinking, tokens: Sequence[int], prompt: str | None) -> dict[str, int]:
    """``{"reasoning_tokens": n}``: the generated ``tokens`` inside the think tags (the tags left
    out), where the tags are single tokens and the reply reasoned; empty otherwise."""
    if thinking.ids is None:
        return {}
    start, end = thinking.ids
    inside = opened_in(prompt, thinking.tags)
    if not inside and start not in tokens and end not in tokens:
        return {}
    count = 0
    for token in tokens:
        if token in (start, end):
            inside = token == start
        elif inside:
            count += 1
    return {"reasoning_tokens": count}
