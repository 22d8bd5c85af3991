"""Likelihood scoring (``mmhay eval --scoring likelihood``): answers read from a transformers
model's token probabilities, with no generation and no parsing.

The model is given exactly what generation gives it (``HFModel._prepared``: the chat template
with its generation prompt, the media, left padding, ``--compress``), and a continuation is
appended to each prompt's tokens:

- a **choice** question scores every option letter (``A``, ``B``, ... as the prompt letters
  them) as the model would write it first after the assistant turn begins; the answer is the
  letter of the highest mean log-probability per token (the earlier letter on a tie);
- any other question teacher-forces its reference answer, written as the prompt asks for it
  (``written_answer``); it is right iff every answer token is the argmax at its position, as
  LongVA's V-NIAH scores (``vision_niah/eval_vision_niah.py``). The reply is the reference when
  it is, else the argmax tokens decoded.

A continuation's tokens are those the tokenizer gives the prompt's text followed by it, past
the prompt's own (the continuation alone where those are no prefix). Token ``j`` of a
continuation is predicted by the logits at the position before it, so a row holds the prompt and
the continuation less its last token: a one-token letter needs the prompt alone, and the rows of
one request that are alike are run once. All the rows of a batch go through one forward pass,
the extra tokens padded on the right. ``docs/metrics.md`` (Likelihood scoring) defines it all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mmhay.adapters import Answer, Request
from mmhay.adapters.fastv import KEY
from mmhay.errors import ConfigError
from mmhay.schema import option_letter

if TYPE_CHECKING:
    from mmhay.adapters.hf import HFModel

__all__ = ["SCORINGS", "check_scoring", "likelihood_answers", "likelihood_verdict", "written_answer"]

# how ``mmhay eval`` reads a model's answer: generated text, parsed; or token probabilities
SCORINGS = ("generate", "likelihood")


def check_scoring(scoring: str, adapter) -> None:
    """Refuse a scoring mode that is unknown, or that ``adapter`` cannot give, before anything runs."""
    from mmhay.errors import ConfigError

    if scoring not in SCORINGS:
        raise ConfigError("--scoring", "", f"must be one of: {', '.join(SCORINGS)}", scoring)
    if scoring == "likelihood" and not hasattr(adapter, "score_likelihood"):
        raise ConfigError("--scoring", "", f"{adapter.name} gives no token probabilities; likelihood scoring needs an hf: model", scoring)


def written_answer(answer_type: str, answer: str) -> str:
    """The reference ``answer`` (canonical form) written as the prompt's instruction line asks
    for it (``mmhay.prompts.INSTRUCTIONS``): ``B,A,C`` -> ``B, A, C``, ``12.5,15`` -> ``12.5 - 15``,
    ``2,1,3;-1`` -> ``2, 1, 3; -1``; other types as they are."""
    if answer_type == "sequence":
        return ", ".join(answer.split(","))
    if answer_type == "span":
        return " - ".join(answer.split(","))
    if answer_type == "grid":
        return "; ".join(", ".join(cell.split(",")) for cell in answer.split(";"))
    if answer_type == "counts":
        return "[" + ", ".join(answer.split(",")) + "]"
    return answer


def likelihood_verdict(answer: Answer, answer_type: str, reference: str) -> tuple[str | None, bool] | None:
    """``(parsed, correct)`` of an answer likelihood scoring gave (None for a generated one).

    A choice's reply is the letter chosen. An open answer is right iff every reference token was
    the argmax; its parsed form is then the reference, else the argmax text as the parser reads
    it (for the task metrics only: a miss stays wrong whatever it reads as)."""
    if not answer.likelihood:
        return None
    if answer_type == "choice":
        return answer.text, answer.text == reference
    if answer.likelihood["argmax_matched"] == answer.likelihood["tokens"]:
        return reference, True
    from mmhay.scoring.parse import parse_answer

    return parse_answer(answer_type, answer.text), False


def likelihood_answers(model: "HFModel", requests: Sequence[Request]) -> list[Answer]:
    """One answer per request (of one kind of media), from one forward pass over them all."""
    import torch

    tokenizer = model.processor.tokenizer
    texts = [model._chat(request) for request in requests]
    wanted: list[dict[str, list[int]] | str] = [_continuations(tokenizer, text, request) for text, request in zip(texts, requests)]
    rows: dict[tuple[int, tuple[int, ...]], int] = {}
    for i, continuations in enumerate(wanted):
        for tokens in continuations.values() if isinstance(continuations, dict) else ():
            rows.setdefault((i, tuple(tokens[:-1])), len(rows))
    if not rows:
        return [Answer("", prompt=text, error=str(problem)) for text, problem in zip(texts, wanted)]
    order = list(rows)
    _, inputs, counts, received = model._prepared([requests[i] for i, _ in order])
    if inputs.pop(KEY, None) is not None:  # FastV would rank by the options' last token, not the prompt's
        raise ConfigError("--compress", "", "fastv ranks tokens by the prompt's last token; --scoring likelihood scores options after it: use --scoring generate", requests[0].compress)
    prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
    media_ids = torch.tensor(sorted(model._media_token_ids), device=inputs["input_ids"].device, dtype=inputs["input_ids"].dtype)
    visual_tokens = counts or torch.isin(inputs["input_ids"], media_ids).sum(dim=1).tolist()
    inputs, extra = _with_continuations(dict(inputs), [prefix for _, prefix in order], tokenizer.pad_token_id)
    with torch.inference_mode():
        logits = model.model(**inputs, use_cache=False, **_last_logits(model.model, extra + 1)).logits
    # the logits that predict each continuation token: from the prompt's last position on
    logprobs = torch.log_softmax(logits[:, -(extra + 1) :].float(), dim=-1)
    answers = []
    for i, (request, continuations) in enumerate(zip(requests, wanted)):
        if isinstance(continuations, str):
            answers.append(Answer("", prompt=texts[i], error=continuations))
            continue
        scored = {label: _scored(logprobs[rows[(i, tuple(tokens[:-1]))]], tokens) for label, tokens in continuations.items()}
        first = rows[(i, tuple(next(iter(continuations.values()))[:-1]))]
        usage = {"prompt_tokens": int(prompt_tokens[first]), "completion_tokens": 0, "visual_tokens": int(visual_tokens[first])}
        if request.answer_type == "choice":
            best = max(scored, key=lambda label: scored[label]["mean"])  # max keeps the earlier letter on a tie
            likelihood: dict[str, Any] = {
                "mean_logprob": {label: s["mean"] for label, s in scored.items()},
                "tokens": {label: len(s["argmax"]) for label, s in scored.items()},
            }
            text = best
        else:
            [(reference, s)] = scored.items()
            matched = sum(a == t for a, t in zip(s["argmax"], continuations[reference]))
            likelihood = {"mean_logprob": s["mean"], "tokens": len(s["argmax"]), "argmax_matched": matched}
            text = reference if matched == len(s["argmax"]) else tokenizer.decode(s["argmax"], skip_special_tokens=True).strip()
        answers.append(Answer(text, prompt=texts[i], usage=usage, received=received[first], likelihood=likelihood))
    return answers


def _continuations(tokenizer, prompt: str, request: Request) -> dict[str, list[int]] | str:
    """The continuations to score for ``request``, by label (its option letters, or the written
    reference), as token ids; or why there are none."""
    if request.answer_type == "choice":
        if not request.options:
            return "a choice question with no options cannot be scored by likelihood"
        labels = [option_letter(k) for k in range(len(request.options))]
    elif not request.reference:
        return "likelihood scoring of an open answer needs the reference answer; the request has none"
    else:
        labels = [written_answer(request.answer_type, request.reference)]
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    continuations = {}
    for label in labels:
        whole = tokenizer.encode(prompt + label, add_special_tokens=False)
        tokens = whole[len(prompt_ids) :] if whole[: len(prompt_ids)] == prompt_ids else tokenizer.encode(label, add_special_tokens=False)
        if not tokens:
            return f"the continuation {label!r} has no tokens"
        continuations[label] = tokens
    return continuations


def _with_continuations(inputs: dict, prefixes: Sequence[tuple[int, ...]], pad: int):
    """``inputs`` with each row's ``prefixes`` tokens appended after its prompt, padded on the
    right to the longest, and how many columns were added. Every tensor laid out per token (the
    mask, token-type ids, position ids) grows with them; the media tensors stay as they are."""
    import torch

    ids = inputs["input_ids"]
    extra = max(len(prefix) for prefix in prefixes)
    if not extra:
        return inputs, 0
    rows, length = ids.shape
    added = torch.full((rows, extra), pad, dtype=ids.dtype, device=ids.device)
    mask = torch.zeros((rows, extra), dtype=inputs["attention_mask"].dtype, device=ids.device)
    for row, prefix in enumerate(prefixes):
        added[row, : len(prefix)] = torch.tensor(prefix, dtype=ids.dtype)
        mask[row, : len(prefix)] = 1
    grown = {}
    for key, value in inputs.items():
        if key == "input_ids":
            grown[key] = torch.cat([ids, added], dim=1)
        elif key == "attention_mask":
            grown[key] = torch.cat([value, mask], dim=1)
        elif key == "position_ids":  # given where --compress keeps positions ([B, L], or Qwen-VL's [4, B, L]): go on by one
            grown[key] = torch.cat([value, value[..., -1:] + torch.arange(1, extra + 1, device=value.device)], dim=-1)
        elif isinstance(value, torch.Tensor) and value.dim() == 2 and not value.is_floating_point() and value.shape == (rows, length):
            # token-type ids: text tokens carry type 0
            grown[key] = torch.cat([value, value.new_zeros((rows, extra))], dim=1)
        else:
            grown[key] = value
    return grown, extra


def _last_logits(model, keep: int) -> dict:
    """Ask for the logits of the last ``keep`` positions only, where the model's forward can:
    the whole prompt's logits over the vocabulary would not fit beside a long video's tokens."""
    import inspect

    return {"logits_to_keep": keep} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}


def _scored(logprobs, tokens: Sequence[int]) -> dict:
    """A continuation's mean log-probability per token and the argmax token at each of its
    positions; ``logprobs`` are one row's, from the prompt's last position on."""
    positions = range(len(tokens))
    picked = logprobs[list(positions), list(tokens)]
    return {"mean": float(picked.mean()), "argmax": logprobs[: len(tokens)].argmax(dim=-1).tolist()}
