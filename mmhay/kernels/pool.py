"""2x2 average pooling of every frame of a ragged batch, one read of the input and one write.

One program writes ``rows`` consecutive output tokens of one video for one block of ``channels``
channels (the second launch axis), summing the four input tokens of each in fp32. An odd last row
or column of a grid is dropped, as ``avg_pool2d`` and LLaVA-Video do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from mmhay.kernels.ragged import find_video, output_buffer, ragged, starts, video_table

__all__ = ["PoolTiling", "pool2x2"]


@dataclass(frozen=True)
class PoolTiling:
    """Launch shape: ``rows`` output tokens by ``channels`` channels (capped at C rounded up to a
    power of two) per program, ``warps`` warps per program."""

    rows: int = 32
    channels: int = 128
    warps: int = 4


@triton.jit(do_not_specialize=["n_videos", "steps"])
def _pool_kernel(x, out, table, n_videos, steps, stride_x, stride_out, C, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    tile = tl.program_id(0)
    v = find_video(table, n_videos, steps, tile)
    width = n_videos + 1
    # offsets into the batch are int64; positions inside one video fit in int32, which divides faster
    first_tile = tl.load(table + v).to(tl.int32)
    in0 = tl.load(table + width + v)
    out0 = tl.load(table + 2 * width + v)
    n_out = tl.load(table + 3 * width + v).to(tl.int32)
    h = tl.load(table + 4 * width + v).to(tl.int32)
    w = tl.load(table + 5 * width + v).to(tl.int32)

    w_out = w // 2
    per_frame = (h // 2) * w_out
    o = (tile - first_tile) * BLOCK_R + tl.arange(0, BLOCK_R)
    live = o < n_out
    f = o // tl.maximum(per_frame, 1)
    r = o - f * per_frame
    y = r // tl.maximum(w_out, 1)
    src = in0 + f * h * w + 2 * y * w + 2 * (r - y * w_out)

    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = live[:, None] & (c < C)[None, :]
    top = x + src[:, None] * stride_x + c[None, :]
    bottom = top + w * stride_x
    total = tl.load(top, mask=mask, other=0.0).to(tl.float32)
    total += tl.load(top + stride_x, mask=mask, other=0.0).to(tl.float32)
    total += tl.load(bottom, mask=mask, other=0.0).to(tl.float32)
    total += tl.load(bottom + stride_x, mask=mask, other=0.0).to(tl.float32)
    dst = out + (out0 + o)[:, None] * stride_out + c[None, :]
    tl.store(dst, (total * 0.25).to(out.dtype.element_ty), mask=mask)


def pool2x2(
    x: torch.Tensor, frames, grids, *, out: torch.Tensor | None = None, tiling: PoolTiling = PoolTiling()
) -> torch.Tensor:
    """2x2 average pooling of each frame of a ragged batch: ``[sum F_v * (h_v//2) * (w_v//2), C]`` in x's dtype.

    ``x`` is ``[T, C]``: video v's ``frames[v] * h_v * w_v`` tokens (``grids[v] = (h_v, w_v)``),
    frame-major then row-major. Output tokens keep that order. Sums in fp32.
    """
    if x.dim() != 2 or x.stride(1) != 1:
        raise ValueError(f"x must be [T, C] with contiguous channels, got shape {tuple(x.shape)} strides {x.stride()}")
    layout = ragged(frames, grids, x.shape[0])
    pooled = [f * (h // 2) * (w // 2) for f, (h, w) in zip(layout.frames, layout.grids)]
    shape = (sum(pooled), x.shape[1])
    out = output_buffer(out, shape, x.dtype, x.device)
    if shape[0] == 0 or shape[1] == 0:
        return out
    tiles = [triton.cdiv(n, tiling.rows) for n in pooled]
    pad = (0,)
    table = video_table(
        (
            starts(tiles),
            starts(layout.tokens),
            starts(pooled),
            tuple(pooled) + pad,
            tuple(h for h, _ in layout.grids) + pad,
            tuple(w for _, w in layout.grids) + pad,
        ),
        x.device,
    )
    block_c = min(tiling.channels, triton.next_power_of_2(x.shape[1]))
    grid = (sum(tiles), triton.cdiv(x.shape[1], block_c))
    _pool_kernel[grid](
        x, out, table, len(tiles), layout.search_steps, x.stride(0), out.stride(0), x.shape[1],
        BLOCK_R=tiling.rows, BLOCK_C=block_c, num_warps=tiling.warps,
    )
    return out
