"""DivPrune's greedy max-min selection in one launch: every step of the loop inside one program.

The torch reference (``mmhay.token_selection._max_min_picks``) takes four or five small kernels a
step (argmax, one row, a minimum, a scatter), each a launch that waits on the last: 2048 picks of
8192 tokens cost 129 ms on an H100, twice a Qwen2-VL-2B prefill over those tokens. Here one
program per set keeps the running score in registers, and a step is one row read (the picked
token's distances) and one argmax, ties to the first index as ``torch.argmax``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["MAX_TOKENS", "max_min_picks"]

MAX_TOKENS = 16384  # the score of a whole set stays in one program's registers


@triton.jit(do_not_specialize=["n", "keep"])
def _max_min_kernel(distance, first, picks, n, keep, stride_set, stride_row, BLOCK: tl.constexpr):
    s = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    live = offs < n
    base = distance + s * stride_set
    score = tl.load(first + s * n + offs, mask=live, other=float("-inf"))
    for step in range(keep):
        pick = tl.argmax(score, axis=0, tie_break_left=True)
        tl.store(picks + s * keep + step, pick.to(tl.int64))
        row = tl.load(base + pick.to(tl.int64) * stride_row + offs, mask=live, other=float("-inf"))
        # the first pick's score was its nearest other token; from then on, the distance to the picked set
        score = tl.where(step == 0, row, tl.minimum(score, row))
        score = tl.where(offs == pick, float("-inf"), score)


def max_min_picks(distance: torch.Tensor, first: torch.Tensor, keep: int) -> torch.Tensor:
    """[S, keep] int64: the picks, in pick order, from each of S distance matrices ``distance``
    [S, n, n] (float32, rows contiguous) given the first step's scores ``first`` [S, n]."""
    sets, n, _ = distance.shape
    if distance.dtype != torch.float32 or first.dtype != torch.float32:
        raise ValueError(f"distance and first scores must be float32, got {distance.dtype} and {first.dtype}")
    if distance.stride(2) != 1 or first.shape != (sets, n):
        raise ValueError(f"distance must have contiguous rows and first must be [{sets}, {n}], got {tuple(first.shape)}")
    if not 1 <= keep <= n or n > MAX_TOKENS:
        raise ValueError(f"keep must be within 1..{n} and a set at most {MAX_TOKENS} tokens, got keep={keep}, n={n}")
    block = triton.next_power_of_2(n)
    picks = torch.empty(sets, keep, dtype=torch.int64, device=distance.device)
    _max_min_kernel[(sets,)](distance, first.contiguous(), picks, n, keep, distance.stride(0), distance.stride(1), BLOCK=block, num_warps=min(32, max(4, block // 512)))
    return picks
