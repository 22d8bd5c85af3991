"""One round of ToMe bipartite soft matching per frame: two Triton kernels around a little torch.

A frame's tokens alternate between A (even positions) and B (odd positions). ``_match_kernel``
finds each A token's most similar B token without writing the A x B similarity matrix anywhere:
one program takes ``rows_a`` A tokens of one frame, walks the frame's B tokens ``rows_b`` at a
time, and for each pair of tiles accumulates ``A Bᵀ`` over the channels ``channels`` at a time on
the tensor cores (bf16/fp16 products are exact, accumulation fp32; fp32 inputs use exact fp32
products). The squared norms come from the same loads, and the tile's cosines update a running
max and argmax. The programs of one frame are adjacent in the launch, so the frame's B tokens come
from L2 after the first read.

Choosing the r best-matched A tokens (a stable sort of ``[F, N/2]`` scores) and numbering the
surviving tokens (scatters and a cumsum over ``[F, N]`` integers) stay in torch. ``_merge_kernel``
then writes each output token as the size-weighted mean of its sources, listed per output by a
sort of the tokens by destination, reading each input token once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from mmhay.kernels.ragged import output_buffer

__all__ = ["MatchTiling", "MergeTiling", "best_match", "destinations", "merge_tokens", "tome_round"]

EPS = 1e-12  # torch.nn.functional.normalize's default: a zero token scores 0 against everything


@dataclass(frozen=True)
class MatchTiling:
    """Launch shape of the matching kernel: ``rows_a`` A tokens per program against ``rows_b`` B
    tokens at a time, ``channels`` channels per step (each at least 16, for the tensor cores),
    ``warps`` warps and ``stages`` software-pipelining stages per program.

    Check a new shape's partners against an fp32 reference on the GPU before using it (the
    benchmark does): with triton 3.6 on an H100, 128 x 128 tiles of 64 channels gave scores off by
    up to 1e-2 and other partners for 0.06% of A tokens, where 128 channels give the reference's."""

    rows_a: int = 128
    rows_b: int = 128
    channels: int = 128
    warps: int = 8
    stages: int = 3


@dataclass(frozen=True)
class MergeTiling:
    """Launch shape of the merging kernel: ``rows`` output tokens by ``channels`` channels (capped
    at C rounded up to a power of two) per program, ``warps`` warps per program."""

    rows: int = 16
    channels: int = 128
    warps: int = 4


@triton.jit
def _match_kernel(
    x, best, partner, blocks, n_tokens, C, stride_f, stride_n, eps,
    EXACT: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_K: tl.constexpr, STAGES: tl.constexpr,
):
    pid = tl.program_id(0)
    f = pid // blocks
    n_a = (n_tokens + 1) // 2
    n_b = n_tokens // 2
    i = (pid - f * blocks) * BLOCK_A + tl.arange(0, BLOCK_A)
    a_ok = i < n_a
    frame = x + f.to(tl.int64) * stride_f
    a_rows = frame + (2 * i)[:, None] * stride_n
    k = tl.arange(0, BLOCK_K)

    sq_a = tl.zeros([BLOCK_A], dtype=tl.float32)
    for c0 in tl.range(0, C, BLOCK_K, num_stages=STAGES):
        c = c0 + k
        a = tl.load(a_rows + c[None, :], mask=a_ok[:, None] & (c < C)[None, :], other=0.0).to(tl.float32)
        sq_a += tl.sum(a * a, axis=1)
    inv_a = 1.0 / tl.maximum(tl.sqrt_rn(sq_a), eps)

    top = tl.full([BLOCK_A], float("-inf"), dtype=tl.float32)
    arg = tl.zeros([BLOCK_A], dtype=tl.int32)
    for j0 in range(0, n_b, BLOCK_B):
        j = j0 + tl.arange(0, BLOCK_B)
        b_ok = j < n_b
        b_rows = frame + (2 * j + 1)[:, None] * stride_n
        acc = tl.zeros([BLOCK_A, BLOCK_B], dtype=tl.float32)
        sq_b = tl.zeros([BLOCK_B], dtype=tl.float32)
        for c0 in tl.range(0, C, BLOCK_K, num_stages=STAGES):
            c = c0 + k
            c_ok = (c < C)[None, :]
            a = tl.load(a_rows + c[None, :], mask=a_ok[:, None] & c_ok, other=0.0)
            b = tl.load(b_rows + c[None, :], mask=b_ok[:, None] & c_ok, other=0.0)
            if EXACT:
                acc = tl.dot(a, tl.trans(b), acc, input_precision="ieee")
            else:
                acc = tl.dot(a, tl.trans(b), acc)
            b32 = b.to(tl.float32)
            sq_b += tl.sum(b32 * b32, axis=1)
        inv_b = 1.0 / tl.maximum(tl.sqrt_rn(sq_b), eps)
        score = acc * inv_a[:, None] * inv_b[None, :]
        score = tl.where(b_ok[None, :], score, float("-inf"))
        tile_top = tl.max(score, axis=1)
        tile_arg = tl.argmax(score, axis=1, tie_break_left=True) + j0
        # strictly greater: on ties the earlier tile, so the first index overall, as torch.argmax
        better = tile_top > top
        top = tl.where(better, tile_top, top)
        arg = tl.where(better, tile_arg, arg)
    out = f.to(tl.int64) * n_a + i
    tl.store(best + out, top, mask=a_ok)
    tl.store(partner + out, arg, mask=a_ok)


@triton.jit
def _merge_kernel(
    x, sizes, members, first, out, out_sizes, blocks, n_tokens, n_out, C,
    stride_f, stride_n, stride_sf, stride_of, stride_on, stride_osf,
    BLOCK_O: tl.constexpr, BLOCK_C: tl.constexpr,
):
    pid = tl.program_id(0)
    f = (pid // blocks).to(tl.int64)
    o = (pid - f * blocks) * BLOCK_O + tl.arange(0, BLOCK_O)
    o_ok = o < n_out
    # members[f, first[f, o] : first[f, o + 1]] are the input positions merged into output o
    lo = tl.load(first + f * (n_out + 1) + o, mask=o_ok, other=0)
    count = tl.load(first + f * (n_out + 1) + o + 1, mask=o_ok, other=0) - lo
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = (c < C)[None, :]
    frame = x + f * stride_f
    acc = tl.zeros([BLOCK_O, BLOCK_C], dtype=tl.float32)
    total = tl.zeros([BLOCK_O], dtype=tl.float32)
    for m in range(0, tl.max(count, axis=0)):
        live = m < count
        src = tl.load(members + f * n_tokens + lo + m, mask=live, other=0)
        size = tl.load(sizes + f * stride_sf + src, mask=live, other=0.0)
        row = tl.load(frame + src[:, None] * stride_n + c[None, :], mask=live[:, None] & c_ok, other=0.0)
        acc += size[:, None] * row.to(tl.float32)
        total += size
    mean = acc / tl.where(o_ok, total, 1.0)[:, None]
    dst = out + f * stride_of + o[:, None] * stride_on + c[None, :]
    tl.store(dst, mean.to(out.dtype.element_ty), mask=o_ok[:, None] & c_ok)
    tl.store(out_sizes + f * stride_osf + o, total, mask=o_ok & (tl.program_id(1) == 0))


def _check(x: torch.Tensor, sizes: torch.Tensor, r: int) -> None:
    if x.dim() != 3 or x.stride(2) != 1:
        raise ValueError(f"x must be [F, N, C] with contiguous channels, got shape {tuple(x.shape)} strides {x.stride()}")
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"x must be float32, float16 or bfloat16, got {x.dtype}")
    if sizes.shape != x.shape[:2] or sizes.dtype != torch.float32 or sizes.device != x.device or sizes.stride(1) != 1:
        raise ValueError(f"sizes must be a float32 {list(x.shape[:2])} tensor on {x.device} with contiguous rows")
    if not 0 <= r <= x.shape[1] // 2:
        raise ValueError(f"r = {r}: a round merges 0..N//2 = {x.shape[1] // 2} tokens per frame")


# fp32 tokens take exact fp32 products (no tensor cores) and twice the shared memory a stage
FP32_MATCH = MatchTiling(rows_a=64, rows_b=64, channels=32, warps=4, stages=3)


def best_match(x: torch.Tensor, *, tiling: MatchTiling | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each A token's (even position's) highest cosine similarity to a B token (odd position) of
    its frame, and that B token's index among the B tokens: fp32 and int32, ``[F, ceil(N/2)]``.

    ``x`` is ``[F, N, C]``; norms are clamped at 1e-12 as ``normalize`` does; ties go to the first B.
    ``tiling`` None takes ``MatchTiling()`` for 16-bit tokens and ``FP32_MATCH`` for fp32.
    """
    frames, n, channels = x.shape
    n_a = (n + 1) // 2
    best = torch.empty(frames, n_a, dtype=torch.float32, device=x.device)
    partner = torch.empty(frames, n_a, dtype=torch.int32, device=x.device)
    if best.numel() == 0 or n < 2:
        return best.fill_(float("-inf")), partner.zero_()
    tiling = tiling or (FP32_MATCH if x.dtype == torch.float32 else MatchTiling())
    blocks = triton.cdiv(n_a, tiling.rows_a)
    block_k = max(16, min(tiling.channels, triton.next_power_of_2(channels)))
    _match_kernel[(frames * blocks,)](
        x, best, partner, blocks, n, channels, x.stride(0), x.stride(1), EPS,
        EXACT=x.dtype == torch.float32, BLOCK_A=tiling.rows_a, BLOCK_B=tiling.rows_b, BLOCK_K=block_k,
        STAGES=tiling.stages, num_warps=tiling.warps,
    )
    return best, partner


def destinations(best: torch.Tensor, partner: torch.Tensor, n: int, r: int) -> torch.Tensor:
    """int64 ``[F, N]``: the output position of each input token after merging the r best-matched
    A tokens into their partners; outputs are ordered by the first input position they hold."""
    frames, n_a = best.shape
    device = best.device
    partner = partner.long()
    order = torch.argsort(best, dim=1, descending=True, stable=True)
    source = order[:, :r]
    target = partner.gather(1, source)
    n_b = n // 2
    # a B token's key is its first member: itself or an A token merged into it
    key_b = (2 * torch.arange(n_b, device=device) + 1).expand(frames, n_b).contiguous()
    key_b.scatter_reduce_(1, target, 2 * source, "amin")
    merged = torch.zeros(frames, n_a, dtype=torch.bool, device=device).scatter_(1, source, True)
    key_a = torch.where(merged, n, 2 * torch.arange(n_a, device=device))  # n: not an output
    # survivors' keys are distinct positions; an output's number is how many keys come before its own
    marks = torch.zeros(frames, n + 1, dtype=torch.int32, device=device)
    marks.scatter_(1, key_a, 1).scatter_(1, key_b, 1)
    number = marks[:, :n].cumsum(1) - 1
    out_b = number.gather(1, key_b)
    out_a = torch.where(merged, out_b.gather(1, partner), number.gather(1, key_a.clamp(max=n - 1)))
    dst = torch.empty(frames, n, dtype=torch.int64, device=device)
    dst[:, 0::2] = out_a
    dst[:, 1::2] = out_b
    return dst


def merge_tokens(
    x: torch.Tensor,
    sizes: torch.Tensor,
    dst: torch.Tensor,
    n_out: int,
    *,
    out: torch.Tensor | None = None,
    out_sizes: torch.Tensor | None = None,
    dtype: torch.dtype | None = None,
    tiling: MergeTiling = MergeTiling(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each output token the size-weighted mean of the input tokens sent to it: ``[F, n_out, C]`` in
    ``dtype`` (x's if None; the sums are fp32 either way), and the summed fp32 sizes ``[F, n_out]``.

    ``dst`` is int64 ``[F, N]``, each input token's output position (``destinations``); every
    output must receive at least one token. Each input token is read once.
    """
    frames, n, channels = x.shape
    shape = (frames, n_out, channels)
    out = output_buffer(out, shape, dtype or x.dtype, x.device)
    out_sizes = output_buffer(out_sizes, shape[:2], torch.float32, x.device, "out_sizes")
    if out.numel() == 0 and out_sizes.numel() == 0:
        return out, out_sizes
    ordered, members = torch.sort(dst, dim=1, stable=True)
    outputs = torch.arange(n_out + 1, device=x.device).expand(frames, -1).contiguous()
    first = torch.searchsorted(ordered, outputs).to(torch.int32)
    members = members.to(torch.int32)
    blocks = triton.cdiv(n_out, tiling.rows)
    block_c = min(tiling.channels, triton.next_power_of_2(channels))
    grid = (frames * blocks, triton.cdiv(channels, block_c))
    _merge_kernel[grid](
        x, sizes, members, first, out, out_sizes, blocks, n, n_out, channels,
        x.stride(0), x.stride(1), sizes.stride(0), out.stride(0), out.stride(1), out_sizes.stride(0),
        BLOCK_O=tiling.rows, BLOCK_C=block_c, num_warps=tiling.warps,
    )
    return out, out_sizes


def tome_round(
    x: torch.Tensor,
    sizes: torch.Tensor,
    r: int,
    *,
    out: torch.Tensor | None = None,
    out_sizes: torch.Tensor | None = None,
    match: MatchTiling | None = None,
    merge: MergeTiling = MergeTiling(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ToMe round per frame: ``[F, N - r, C]`` tokens in x's dtype and their fp32 sizes ``[F, N - r]``.

    ``x`` is ``[F, N, C]`` (each token the mean of its sources), ``sizes`` ``[F, N]`` fp32 (how many
    sources each holds: ones at the first round). As ``mmhay.compression.tome`` with scope=frame,
    metric=feat: A = even positions, B = odd; each A token's best B by cosine (first on ties); the
    r A tokens with the highest best score (earlier first on ties) merge into theirs by size-weighted
    mean; outputs are ordered by their first input position, which is the reference's order when
    the input is in it. Scores may round differently from torch's in bf16, so near-ties may pick differently.
    The three steps are ``best_match``, ``destinations`` and ``merge_tokens``.
    """
    _check(x, sizes, r)
    frames, n, channels = x.shape
    shape = (frames, n - r, channels)
    out = output_buffer(out, shape, x.dtype, x.device)
    out_sizes = output_buffer(out_sizes, shape[:2], torch.float32, x.device, "out_sizes")
    if out.numel() == 0 and out_sizes.numel() == 0:
        return out, out_sizes
    if r == 0:
        return out.copy_(x), out_sizes.copy_(sizes)
    best, partner = best_match(x, tiling=match)
    return merge_tokens(x, sizes, destinations(best, partner, n, r), n - r, out=out, out_sizes=out_sizes, tiling=merge)
