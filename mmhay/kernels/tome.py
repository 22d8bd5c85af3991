"""One round of ToMe bipartite soft matching per frame: three Triton kernels.

A frame's tokens alternate between A (even positions) and B (odd positions). The matching kernels
find each A token's most similar B token without writing the A x B similarity matrix anywhere,
accumulating ``A Bᵀ`` over the channels on the tensor cores (bf16/fp16 products are exact,
accumulation fp32; fp32 inputs use exact fp32 products), with the squared norms from the same
loads. ``_match_descriptor_kernel`` (16-bit tokens) gives one program ``rows_a`` A tokens and up
to ``2 rows_b`` + a smaller tile of the frame's B tokens at once, loaded through tensor
descriptors (TMA on Hopper) a step of ``channels`` at a time, so each A token is read once per
group of B tiles. ``_match_kernel`` walks the B tokens a tile at a time with pointer loads; it
takes fp32 tokens and rows the descriptors cannot address (strides not multiples of 16 bytes).

``_plan_kernel`` takes one frame per program and plans the merge from the scores alone: it
marks the r best-scored A tokens as merged (a bitonic sort of score-and-index keys gives the
threshold), counts with integer atomics which merged A tokens went to which B token, numbers the
surviving tokens by their first input position (a cumsum), and lists the inputs of each output in
position order (a second sort ranks the A tokens sent to the same B token).
``_merge_kernel`` then writes each output token as the size-weighted mean of its listed inputs,
reading each input token once and the first ``ahead`` inputs of every output in one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import triton
import triton.language as tl

from mmhay.kernels.ragged import output_buffer

__all__ = ["FP32_MATCH", "POINTER_MATCH", "MatchTiling", "MergePlan", "MergeTiling", "best_match", "merge_tokens", "plan_merge", "tome_round"]

MAX_PLAN_TOKENS = 2**15  # A tokens a frame that plan_merge takes (its sort keys hold 16 bits of index)
EPS = 1e-12  # torch.nn.functional.normalize's default: a zero token scores 0 against everything


@dataclass(frozen=True)
class MatchTiling:
    """Launch shape of a matching kernel: ``rows_a`` A tokens per program against B tiles of
    ``rows_b`` tokens (the descriptor kernel holds two such tiles and a smaller one for the rest at
    once), ``channels`` channels per step (at least 16, for the tensor cores), ``warps`` warps and
    ``stages`` software-pipelining stages per program.

    Check a new shape on the GPU before using it (the benchmark does, for every shape it tries):
    partners against an fp32 reference, and the same bits over reruns. With triton 3.6 on an H100
    some shapes (128 x 128 tiles of 64 channels with 8 warps in the pointer kernel; 32-channel
    steps in the descriptor kernel) gave other partners, different ones from run to run."""

    rows_a: int = 128
    rows_b: int = 128
    channels: int = 64
    warps: int = 8
    stages: int = 3


POINTER_MATCH = MatchTiling(rows_a=128, rows_b=128, channels=128, warps=8, stages=3)  # the pointer kernel, 16-bit
# fp32 tokens take exact fp32 products (no tensor cores) and twice the shared memory a stage
FP32_MATCH = MatchTiling(rows_a=64, rows_b=64, channels=32, warps=4, stages=3)


@dataclass(frozen=True)
class MergeTiling:
    """Launch shape of the merging kernel: ``rows`` output tokens by ``channels`` channels (capped
    at C rounded up to a power of two) per program, ``warps`` warps per program; the first
    ``ahead`` inputs of every output are loaded at once, any further ones one by one."""

    rows: int = 16
    channels: int = 128
    warps: int = 4
    ahead: int = 2


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
def _accumulate(desc, a, f, j0, c0, acc, sq, ROWS: tl.constexpr, BLOCK_K: tl.constexpr):
    """One channel step of one B tile: its products with the A tile and its squared norms."""
    b = desc.load([f, j0, c0]).reshape(ROWS, BLOCK_K)
    acc = tl.dot(a, tl.trans(b), acc)
    b32 = b.to(tl.float32)
    return acc, sq + tl.sum(b32 * b32, axis=1)


@triton.jit
def _fold(top, arg, acc, sq, j0, n_b, eps, ROWS: tl.constexpr):
    """Fold one B tile's scores (cosines times the A norm) into the running best and its index."""
    j = j0 + tl.arange(0, ROWS)
    score = tl.where((j < n_b)[None, :], acc / tl.maximum(tl.sqrt_rn(sq), eps)[None, :], float("-inf"))
    tile_top = tl.max(score, axis=1)
    tile_arg = tl.argmax(score, axis=1, tie_break_left=True) + j0
    better = tile_top > top  # strictly greater: on ties the earlier tile, so the first index overall
    return tl.where(better, tile_top, top), tl.where(better, tile_arg, arg)


@triton.jit
def _match_descriptor_kernel(
    a_desc, b_desc, rest_desc, best, partner, blocks, n_a, n_b, C, eps,
    BLOCK_A: tl.constexpr, BLOCK_B: tl.constexpr, TILES: tl.constexpr, REST: tl.constexpr,
    BLOCK_K: tl.constexpr, STAGES: tl.constexpr,
):
    pid = tl.program_id(0)
    f = pid // blocks
    i0 = (pid - f * blocks) * BLOCK_A
    i = i0 + tl.arange(0, BLOCK_A)
    top = tl.full([BLOCK_A], float("-inf"), dtype=tl.float32)
    arg = tl.zeros([BLOCK_A], dtype=tl.int32)
    norm_a = tl.zeros([BLOCK_A], dtype=tl.float32)
    GROUP: tl.constexpr = TILES * BLOCK_B + REST
    for g0 in range(0, n_b, GROUP):  # TILES tiles of BLOCK_B B tokens and one of REST at once
        acc0 = tl.zeros([BLOCK_A, BLOCK_B], dtype=tl.float32)
        acc1 = tl.zeros([BLOCK_A, BLOCK_B], dtype=tl.float32)
        acc2 = tl.zeros([BLOCK_A, REST if REST > 0 else 16], dtype=tl.float32)
        sq0 = tl.zeros([BLOCK_B], dtype=tl.float32)
        sq1 = tl.zeros([BLOCK_B], dtype=tl.float32)
        sq2 = tl.zeros([REST if REST > 0 else 16], dtype=tl.float32)
        sq_a = tl.zeros([BLOCK_A], dtype=tl.float32)
        for c0 in tl.range(0, C, BLOCK_K, num_stages=STAGES):
            a = a_desc.load([f, i0, c0]).reshape(BLOCK_A, BLOCK_K)
            a32 = a.to(tl.float32)
            sq_a += tl.sum(a32 * a32, axis=1)
            if TILES > 0:
                acc0, sq0 = _accumulate(b_desc, a, f, g0, c0, acc0, sq0, BLOCK_B, BLOCK_K)
            if TILES > 1:
                acc1, sq1 = _accumulate(b_desc, a, f, g0 + BLOCK_B, c0, acc1, sq1, BLOCK_B, BLOCK_K)
            if REST > 0:
                acc2, sq2 = _accumulate(rest_desc, a, f, g0 + TILES * BLOCK_B, c0, acc2, sq2, REST, BLOCK_K)
        if TILES > 0:
            top, arg = _fold(top, arg, acc0, sq0, g0, n_b, eps, BLOCK_B)
        if TILES > 1:
            top, arg = _fold(top, arg, acc1, sq1, g0 + BLOCK_B, n_b, eps, BLOCK_B)
        if REST > 0:
            top, arg = _fold(top, arg, acc2, sq2, g0 + TILES * BLOCK_B, n_b, eps, REST)
        norm_a = sq_a
    # the A norm scales a row: it changes no partner, only the best score
    top = top / tl.maximum(tl.sqrt_rn(norm_a), eps)
    out = f.to(tl.int64) * n_a + i
    tl.store(best + out, top, mask=i < n_a)
    tl.store(partner + out, arg, mask=i < n_a)


@triton.jit
def _plan_kernel(best, partner, scratch, dst, members, first, n_tokens, r, BLOCK: tl.constexpr):
    f = tl.program_id(0).to(tl.int64)
    n_a = (n_tokens + 1) // 2
    n_b = n_tokens // 2
    n_out = n_tokens - r
    i = tl.arange(0, BLOCK)  # A token i sits at position 2i, B token i at 2i + 1
    a_ok = i < n_a
    b_ok = i < n_b
    # zeroed per frame: [merged A tokens sent to each B token, BLOCK - the first of them,
    # how many of them come before it, where its group starts among the merged, each A token's rank in its group]
    sent = scratch + f * (5 * BLOCK)
    lead = sent + BLOCK
    early = lead + BLOCK
    offset = early + BLOCK
    order = offset + BLOCK

    # the r best-scored A tokens, the earlier on ties (a stable descending sort): sort keys of
    # score bits made monotone, then the index; the r-th largest key is the threshold
    score = tl.load(best + f * n_a + i, mask=a_ok, other=0.0) + 0.0  # -0.0 ties with 0.0
    bits = score.to(tl.int32, bitcast=True)
    monotone = tl.where(bits >= 0, bits, bits ^ 0x7FFFFFFF).to(tl.int64) + 2147483648
    key = tl.where(a_ok, (monotone << 16) | (65535 - i), -1)
    ranked = tl.sort(key, descending=True)
    threshold = tl.sum(tl.where(i == r - 1, ranked, 0), axis=0)
    merged = a_ok & (key >= threshold) & (r > 0)

    p = tl.load(partner + f * n_a + i, mask=a_ok, other=0)
    tl.atomic_add(sent + p, 1, mask=merged)
    tl.atomic_max(lead + p, BLOCK - i, mask=merged)
    tl.atomic_add(early + p, 1, mask=merged & (i <= p))
    tl.debug_barrier()
    count_b = tl.load(sent + i, volatile=True)
    lead_b = tl.where(b_ok, BLOCK - tl.load(lead + i, volatile=True), BLOCK)  # BLOCK: none
    before_b = tl.load(early + i, volatile=True)
    count_a = tl.load(sent + p, mask=merged, other=0, volatile=True)
    lead_a = BLOCK - tl.load(lead + p, mask=merged, other=0, volatile=True)
    # each merged A token's rank among those sent to the same B token: sort them by (partner, index)
    tl.store(offset + i, tl.cumsum(count_b, axis=0) - count_b)
    by_partner = tl.sort(tl.where(merged, (p << 16) | i, 2147483647))
    tl.debug_barrier()
    listed = i < r
    p_s = by_partner >> 16
    tl.store(order + (by_partner & 65535), i - tl.load(offset + p_s, mask=listed, other=0, volatile=True), mask=listed)
    tl.debug_barrier()
    rank_a = tl.load(order + i, mask=merged, other=0, volatile=True)

    # an output's key is its first input position, and outputs are numbered in the order of their keys
    key_a = a_ok & ((~merged) | ((lead_a == i) & (i <= p)))  # kept, or the first of its B token's group
    key_b = b_ok & (lead_b > i)  # no merged A token comes before it
    size_a = tl.where(key_a, tl.where(merged, count_a + 1, 1), 0)
    size_b = tl.where(key_b, count_b + 1, 0)
    marks = tl.reshape(tl.join(key_a.to(tl.int32), key_b.to(tl.int32)), [2 * BLOCK])
    sizes = tl.reshape(tl.join(size_a, size_b), [2 * BLOCK])
    number_a, number_b = tl.split(tl.reshape(tl.cumsum(marks, axis=0) - marks, [BLOCK, 2]))
    start_a, start_b = tl.split(tl.reshape(tl.cumsum(sizes, axis=0) - sizes, [BLOCK, 2]))
    dsts = dst + f * n_tokens
    firsts = first + f * (n_out + 1)
    tl.store(dsts + 2 * i, number_a, mask=key_a)
    tl.store(dsts + 2 * i + 1, number_b, mask=key_b)
    tl.store(firsts + number_a, start_a, mask=key_a & (number_a < n_out))
    tl.store(firsts + number_b, start_b, mask=key_b & (number_b < n_out))
    tl.store(firsts + n_out, n_tokens)
    tl.debug_barrier()

    # the others take their group's number and start from its key token
    late_a = a_ok & ~key_a
    late_b = b_ok & ~key_b
    group_a = tl.load(dsts + tl.where(lead_a <= p, 2 * lead_a, 2 * p + 1), mask=late_a, other=0, volatile=True)
    group_b = tl.load(dsts + 2 * lead_b, mask=late_b, other=0, volatile=True)
    tl.store(dsts + 2 * i, group_a, mask=late_a)
    tl.store(dsts + 2 * i + 1, group_b, mask=late_b)
    start_a = tl.where(late_a, tl.load(firsts + group_a, mask=late_a, other=0, volatile=True) + rank_a + (p < i).to(tl.int32), start_a)
    start_b = tl.where(late_b, tl.load(firsts + group_b, mask=late_b, other=0, volatile=True) + before_b, start_b)
    rows = members + f * n_tokens
    tl.store(rows + start_a, 2 * i, mask=a_ok & (start_a >= 0) & (start_a < n_tokens))
    tl.store(rows + start_b, 2 * i + 1, mask=b_ok & (start_b >= 0) & (start_b < n_tokens))


@triton.jit
def _merge_kernel(
    x, sizes, members, first, out, out_sizes, blocks, n_tokens, n_out, C,
    stride_f, stride_n, stride_sf, stride_of, stride_on, stride_osf,
    BLOCK_O: tl.constexpr, BLOCK_C: tl.constexpr, AHEAD: tl.constexpr,
):
    pid = tl.program_id(0)
    f = (pid // blocks).to(tl.int64)
    o = (pid - f * blocks) * BLOCK_O + tl.arange(0, BLOCK_O)
    o_ok = o < n_out
    # members[f, first[f, o] : first[f, o + 1]] are the input positions merged into output o
    lo = tl.load(first + f * (n_out + 1) + o, mask=o_ok, other=0)
    count = tl.load(first + f * (n_out + 1) + o + 1, mask=o_ok, other=0) - lo
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = c < C
    frame = x + f * stride_f
    listed = members + f * n_tokens + lo
    # the first AHEAD inputs of every output in one go: fewer round trips to memory
    m = tl.arange(0, AHEAD)
    live = m[None, :] < count[:, None]
    src = tl.load(listed[:, None] + m[None, :], mask=live, other=0)
    size = tl.load(sizes + f * stride_sf + src, mask=live, other=0.0)
    rows = tl.load(frame + src[:, :, None] * stride_n + c[None, None, :], mask=live[:, :, None] & c_ok[None, None, :], other=0.0)
    acc = tl.sum(size[:, :, None] * rows.to(tl.float32), axis=1)
    total = tl.sum(size, axis=1)
    for k in range(AHEAD, tl.max(count, axis=0)):
        more = k < count
        one = tl.load(listed + k, mask=more, other=0)
        weight = tl.load(sizes + f * stride_sf + one, mask=more, other=0.0)
        row = tl.load(frame + one[:, None] * stride_n + c[None, :], mask=more[:, None] & c_ok[None, :], other=0.0)
        acc += weight[:, None] * row.to(tl.float32)
        total += weight
    mean = acc / tl.where(o_ok, total, 1.0)[:, None]
    dst = out + f * stride_of + o[:, None] * stride_on + c[None, :]
    tl.store(dst, mean.to(out.dtype.element_ty), mask=o_ok[:, None] & c_ok[None, :])
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


def best_match(
    x: torch.Tensor, *, tiling: MatchTiling | None = None, descriptors: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each A token's (even position's) highest cosine similarity to a B token (odd position) of
    its frame, and that B token's index among the B tokens: fp32 and int32, ``[F, ceil(N/2)]``.

    ``x`` is ``[F, N, C]``; norms are clamped at 1e-12 as ``normalize`` does; ties go to the first B.
    ``descriptors`` None takes the descriptor kernel for 16-bit tokens whose rows it can address
    and the pointer kernel otherwise; ``tiling`` None takes ``MatchTiling()``, ``POINTER_MATCH``
    or ``FP32_MATCH`` accordingly.
    """
    frames, n, channels = x.shape
    n_a, n_b = (n + 1) // 2, n // 2
    best = torch.empty(frames, n_a, dtype=torch.float32, device=x.device)
    partner = torch.empty(frames, n_a, dtype=torch.int32, device=x.device)
    if best.numel() == 0 or n < 2:
        return best.fill_(float("-inf")), partner.zero_()
    usable = x.dtype != torch.float32 and _addressable(x)
    if descriptors is None:
        descriptors = usable
    elif descriptors and not usable:
        raise ValueError(f"the descriptor kernel takes 16-bit tokens with 16-byte aligned rows, got {x.dtype} with strides {x.stride()}")
    tiling = tiling or (MatchTiling() if descriptors else FP32_MATCH if x.dtype == torch.float32 else POINTER_MATCH)
    blocks = triton.cdiv(n_a, tiling.rows_a)
    block_k = max(16, min(tiling.channels, triton.next_power_of_2(channels)))
    if descriptors:
        from triton.tools.tensor_descriptor import TensorDescriptor

        tiles, rest = _b_group(n_b, tiling.rows_b)
        a, b = x[:, 0::2], x[:, 1::2]
        descriptor = [TensorDescriptor.from_tensor(t, [1, rows, block_k]) for t, rows in ((a, tiling.rows_a), (b, tiling.rows_b), (b, rest or 16))]
        _match_descriptor_kernel[(frames * blocks,)](
            *descriptor, best, partner, blocks, n_a, n_b, channels, EPS,
            BLOCK_A=tiling.rows_a, BLOCK_B=tiling.rows_b, TILES=tiles, REST=rest, BLOCK_K=block_k,
            STAGES=tiling.stages, num_warps=tiling.warps,
        )
    else:
        _match_kernel[(frames * blocks,)](
            x, best, partner, blocks, n, channels, x.stride(0), x.stride(1), EPS,
            EXACT=x.dtype == torch.float32, BLOCK_A=tiling.rows_a, BLOCK_B=tiling.rows_b, BLOCK_K=block_k,
            STAGES=tiling.stages, num_warps=tiling.warps,
        )
    return best, partner


def _addressable(x: torch.Tensor) -> bool:
    """Whether tensor descriptors can address x's A rows and B rows: 16-byte aligned starts and strides."""
    size = x.element_size()
    return x.stride(2) == 1 and x.data_ptr() % 16 == 0 and all(s * size % 16 == 0 for s in (x.stride(0), x.stride(1)))


def _b_group(n_b: int, rows_b: int) -> tuple[int, int]:
    """How the descriptor kernel holds a frame's B tokens: up to two tiles of rows_b, then one
    tile for the rest (a power of two from 16 to rows_b, 0 if none), as tightly as it can."""
    if n_b > 3 * rows_b:
        return 2, rows_b  # groups of three full tiles
    tiles = min(2, n_b // rows_b)
    rest = n_b - tiles * rows_b
    return tiles, 0 if rest == 0 else max(16, triton.next_power_of_2(rest))


class MergePlan(NamedTuple):
    """Where a round sends each token, per frame: ``dst`` int32 ``[F, N]`` is each input token's
    output position; ``members`` int32 ``[F, N]`` lists the input positions output by output, each
    output's in position order, and ``first`` int32 ``[F, N - r + 1]`` is where each output's list
    starts in ``members`` (its last entry is N). Outputs are ordered by the first input position
    they hold."""

    dst: torch.Tensor
    members: torch.Tensor
    first: torch.Tensor


def plan_merge(best: torch.Tensor, partner: torch.Tensor, n: int, r: int) -> MergePlan:
    """Plan a round that merges the r A tokens with the highest ``best`` score (the earlier on
    ties, as a stable sort) into their ``partner`` B tokens; ``best`` and ``partner`` are
    ``best_match``'s ``[F, ceil(N/2)]`` results. One program a frame."""
    frames, n_a = best.shape
    if partner.shape != best.shape or n_a != (n + 1) // 2:
        raise ValueError(f"best and partner must both be [F, ceil(N/2)] = [F, {(n + 1) // 2}], got {list(best.shape)} and {list(partner.shape)}")
    if not 0 <= r <= n // 2:
        raise ValueError(f"r = {r}: a round merges 0..N//2 = {n // 2} tokens per frame")
    if n_a > MAX_PLAN_TOKENS:
        raise ValueError(f"a round plans at most {MAX_PLAN_TOKENS} A tokens a frame (the sort keys hold 16 bits of index), got {n_a}")
    device = best.device
    plan = MergePlan(*(torch.empty(frames, size, dtype=torch.int32, device=device) for size in (n, n, n - r + 1)))
    if frames and n:
        block = triton.next_power_of_2(max(n_a, 2))
        scratch = torch.zeros(frames, 5 * block, dtype=torch.int32, device=device)
        _plan_kernel[(frames,)](best.contiguous(), partner.contiguous(), scratch, *plan, n, r, BLOCK=block, num_warps=4)
    return plan


def merge_tokens(
    x: torch.Tensor,
    sizes: torch.Tensor,
    plan: MergePlan,
    *,
    out: torch.Tensor | None = None,
    out_sizes: torch.Tensor | None = None,
    dtype: torch.dtype | None = None,
    tiling: MergeTiling = MergeTiling(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each output token the size-weighted mean of the input tokens ``plan`` sends to it (``plan_merge``):
    ``[F, N - r, C]`` in ``dtype`` (x's if None; the sums are fp32 either way), and the summed fp32
    sizes ``[F, N - r]``. Each input token is read once.
    """
    frames, n, channels = x.shape
    if plan.members.shape != x.shape[:2] or plan.first.shape[0] != frames:
        raise ValueError(f"the plan is for {list(plan.members.shape)} tokens, x has {list(x.shape[:2])}")
    n_out = plan.first.shape[1] - 1
    shape = (frames, n_out, channels)
    out = output_buffer(out, shape, dtype or x.dtype, x.device)
    out_sizes = output_buffer(out_sizes, shape[:2], torch.float32, x.device, "out_sizes")
    if out.numel() == 0 and out_sizes.numel() == 0:
        return out, out_sizes
    blocks = triton.cdiv(n_out, tiling.rows)
    block_c = min(tiling.channels, triton.next_power_of_2(channels))
    grid = (frames * blocks, triton.cdiv(channels, block_c))
    _merge_kernel[grid](
        x, sizes, plan.members, plan.first, out, out_sizes, blocks, n, n_out, channels,
        x.stride(0), x.stride(1), sizes.stride(0), out.stride(0), out.stride(1), out_sizes.stride(0),
        BLOCK_O=tiling.rows, BLOCK_C=block_c, AHEAD=tiling.ahead, num_warps=tiling.warps,
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
    sources each holds: ones at the first round). As ``mmhay.token_merging.tome`` with scope=frame,
    metric=feat: A = even positions, B = odd; each A token's best B by cosine (first on ties); the
    r A tokens with the highest best score (earlier first on ties) merge into theirs by size-weighted
    mean; outputs are ordered by their first input position, which is the reference's order when
    the input is in it. Scores may round differently from torch's in bf16, so near-ties may pick differently.
    The three steps are ``best_match``, ``plan_merge`` and ``merge_tokens``.
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
    return merge_tokens(x, sizes, plan_merge(best, partner, n, r), out=out, out_sizes=out_sizes, tiling=merge)
