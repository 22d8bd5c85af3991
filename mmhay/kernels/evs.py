"""EVS scoring in one pass: each token's cosine dissimilarity to the same position one frame earlier.

One program scores ``rows`` consecutive tokens of one video, reading ``channels`` channels at a
time and accumulating dot products and squared norms in fp32. The previous frame's tokens are the
rows one frame (h*w tokens) back, which programs a little earlier in the launch have just read, so
they mostly come from L2 and HBM sees each token about once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from mmhay.kernels.ragged import find_video, output_buffer, ragged, starts, video_table

__all__ = ["EvsTiling", "evs_dissimilarity"]

EPS = 1e-8  # torch.nn.functional.cosine_similarity's default


@dataclass(frozen=True)
class EvsTiling:
    """Launch shape: ``rows`` tokens per program, ``channels`` channels per step (capped at C rounded
    up to a power of two), ``warps`` warps per program, ``stages`` steps whose loads are in flight
    at once (software pipelining through shared memory; 1 turns it off)."""

    rows: int = 16
    channels: int = 128
    warps: int = 4
    stages: int = 3


@triton.jit(do_not_specialize=["n_videos", "steps"])
def _evs_kernel(
    x, out, table, n_videos, steps, stride, C, eps, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr, STAGES: tl.constexpr
):
    tile = tl.program_id(0)
    v = find_video(table, n_videos, steps, tile)
    width = n_videos + 1
    first_tile = tl.load(table + v).to(tl.int32)
    row0 = tl.load(table + width + v)
    n_rows = tl.load(table + 2 * width + v).to(tl.int32)
    frame = tl.load(table + 3 * width + v).to(tl.int32)

    local = (tile - first_tile) * BLOCK_R + tl.arange(0, BLOCK_R)
    live = local < n_rows
    has_prev = live & (local >= frame)
    rows = row0 + local
    prev = rows - tl.where(has_prev, frame, 0)
    cols = tl.arange(0, BLOCK_C)

    dot = tl.zeros([BLOCK_R, BLOCK_C], dtype=tl.float32)
    sq_a = tl.zeros([BLOCK_R, BLOCK_C], dtype=tl.float32)
    sq_b = tl.zeros([BLOCK_R, BLOCK_C], dtype=tl.float32)
    for c0 in tl.range(0, C, BLOCK_C, num_stages=STAGES):
        c = c0 + cols
        mask = has_prev[:, None] & (c < C)[None, :]
        a = tl.load(x + rows[:, None] * stride + c[None, :], mask=mask, other=0.0).to(tl.float32)
        b = tl.load(x + prev[:, None] * stride + c[None, :], mask=mask, other=0.0).to(tl.float32)
        dot += a * b
        sq_a += a * a
        sq_b += b * b
    # torch clamps each norm on its own: dot / (max(|a|, eps) * max(|b|, eps))
    norm_a = tl.maximum(tl.sqrt_rn(tl.sum(sq_a, axis=1)), eps)
    norm_b = tl.maximum(tl.sqrt_rn(tl.sum(sq_b, axis=1)), eps)
    score = 1.0 - tl.sum(dot, axis=1) / (norm_a * norm_b)
    tl.store(out + rows, tl.where(has_prev, score, float("inf")), mask=live)


def evs_dissimilarity(
    x: torch.Tensor, frames, grids, *, out: torch.Tensor | None = None, tiling: EvsTiling = EvsTiling()
) -> torch.Tensor:
    """``1 - cos(token, same position one frame earlier)`` for every token of a ragged batch, fp32 ``[T]``;
    +inf on each video's frame 0.

    ``x`` is ``[T, C]``: video v's ``frames[v] * h_v * w_v`` tokens (``grids[v] = (h_v, w_v)``),
    frame-major then row-major, videos one after another. Computed in fp32; a zero-norm token
    scores 1, as with ``torch.nn.functional.cosine_similarity`` (each norm clamped at 1e-8).
    """
    if x.dim() != 2 or x.stride(1) != 1:
        raise ValueError(f"x must be [T, C] with contiguous channels, got shape {tuple(x.shape)} strides {x.stride()}")
    layout = ragged(frames, grids, x.shape[0])
    out = output_buffer(out, (x.shape[0],), torch.float32, x.device)
    if x.shape[0] == 0:
        return out
    tiles = [triton.cdiv(n, tiling.rows) for n in layout.tokens]
    table = video_table(
        (starts(tiles), starts(layout.tokens), layout.tokens + (0,), tuple(h * w for h, w in layout.grids) + (0,)),
        x.device,
    )
    block_c = min(tiling.channels, triton.next_power_of_2(x.shape[1]))
    _evs_kernel[(sum(tiles),)](
        x, out, table, len(tiles), layout.search_steps, x.stride(0), x.shape[1], EPS,
        BLOCK_R=tiling.rows, BLOCK_C=block_c, STAGES=tiling.stages, num_warps=tiling.warps,
    )
    return out
