"""Whether a batch answers as its requests do alone, up to rounding, for greedy decoding.

A batch is computed in other shapes than its requests alone (left padding, masked attention, a
larger matrix product), so its scores differ from theirs in the last bits, by amounts that depend
on the kernels BLAS and torch pick for the processor. Comparing the texts would hang on the
near-ties of random-weight models, which another machine may break the other way. What batching
must not change is what the model computes: every step's logits agree within ``ROUNDING`` of their
scale, and the greedy tokens agree wherever the best token leads the next by more than that can
move. Past a step where they part on such a near-tie the two continuations are different prompts:
nothing after it is compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch

# Of the largest logit. A batch and its requests alone differ by 1e-7 to 1e-6 of it in float32 for
# the tiny checkpoints; the rows of a shuffled batch, right padding or a dropped attention mask
# move the first step's logits by 6e-2 of it (SmolVLM2, mask dropped) to twice it.
ROUNDING = 1e-4


@contextmanager
def _logits_kept(adapter, kept: list):
    """Let ``adapter.generate`` keep the raw logits of every step of each ``model.generate`` call."""
    model = adapter.model
    generate = model.generate

    def keeping(**kwargs):
        output = generate(**kwargs, output_logits=True, return_dict_in_generate=True)
        kept.append(torch.stack(output.logits, 1))  # [batch, steps, vocabulary]
        return output.sequences

    model.generate = keeping
    try:
        yield
    finally:
        del model.generate


def answers_and_logits(adapter, requests: Sequence) -> tuple[list, torch.Tensor]:
    """``adapter.generate(requests)`` and the logits of its one generate call, [len(requests), steps, vocabulary]."""
    kept: list = []
    with _logits_kept(adapter, kept):
        answers = adapter.generate(requests)
    assert len(kept) == 1, "requests of one kind are asked in one generate call"
    return answers, kept[0]


def assert_batch_answers_as_alone(adapter, requests: Sequence) -> None:
    """The batch's answers and every step's logits are each request's alone, up to rounding."""
    together, batch_logits = answers_and_logits(adapter, requests)
    for row, request in enumerate(requests):
        (alone,), logits = answers_and_logits(adapter, [request])
        for step, expected in enumerate(logits[0]):
            got = batch_logits[row, step]
            tolerance = ROUNDING * float(expected.abs().max())
            torch.testing.assert_close(got, expected, rtol=0, atol=tolerance, msg=lambda m: f"request {row}, step {step}: {m}")
            if int(got.argmax()) != int(expected.argmax()):
                best, second = expected.topk(2).values.tolist()
                assert best - second <= 2 * tolerance, f"request {row}, step {step}: tokens part where the best leads by {best - second:.2e}"
                break  # a near-tie broke the other way: the continuations answer different prompts
        else:
            assert together[row].text == alone.text, f"request {row}"
