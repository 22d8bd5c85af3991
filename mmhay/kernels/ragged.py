"""Ragged batches: videos of different frame counts and grids concatenated along the token axis,
and the small per-video table a kernel finds its video in.

A kernel launch covers the whole batch. Each program owns one item (a block of tokens, or a
frame) of one video; the wrapper lists where each video's items start, and the program finds its
video by binary search in that list. Every shape-dependent number reaches the kernel through the
table or as a runtime integer, so a new mix of frame counts and grids launches the compiled kernel
again instead of compiling a new one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import triton
import triton.language as tl

__all__ = ["Ragged", "ragged", "starts", "video_table", "find_video", "output_buffer"]


@dataclass(frozen=True)
class Ragged:
    """Video v is ``frames[v]`` frames of ``grids[v] = (h, w)`` tokens, frame-major then row-major."""

    frames: tuple[int, ...]
    grids: tuple[tuple[int, int], ...]

    @property
    def tokens(self) -> tuple[int, ...]:
        return tuple(f * h * w for f, (h, w) in zip(self.frames, self.grids))

    @property
    def search_steps(self) -> int:
        """Halvings that take a binary search over the videos down to one."""
        return (len(self.frames) - 1).bit_length()


def ragged(frames: Sequence[int] | torch.Tensor, grids: Sequence[Sequence[int]] | torch.Tensor, rows: int) -> Ragged:
    """The batch layout, checked against the ``rows`` tokens of the features it describes.

    ``frames`` and ``grids`` may be tensors; a CUDA tensor costs a device sync to read.
    """
    frame_counts = tuple(int(f) for f in (frames.tolist() if isinstance(frames, torch.Tensor) else frames))
    grid_sizes = tuple((int(h), int(w)) for h, w in (grids.tolist() if isinstance(grids, torch.Tensor) else grids))
    if len(frame_counts) != len(grid_sizes) or not frame_counts:
        raise ValueError(
            f"frames has {len(frame_counts)} videos and grids {len(grid_sizes)}: give one (h, w) per video, at least one video"
        )
    if min(frame_counts) < 0 or min(min(g) for g in grid_sizes) < 0:
        raise ValueError(f"frame counts and grid sizes must be >= 0, got frames={frame_counts} grids={grid_sizes}")
    layout = Ragged(frame_counts, grid_sizes)
    if sum(layout.tokens) != rows:
        raise ValueError(f"the videos hold sum(F*h*w) = {sum(layout.tokens)} tokens but the features have {rows} rows")
    return layout


def starts(counts: Sequence[int]) -> tuple[int, ...]:
    """Where each of ``counts`` starts when they are laid end to end, then the total (len + 1 entries)."""
    out = [0]
    for n in counts:
        out.append(out[-1] + n)
    return tuple(out)


@functools.lru_cache(maxsize=256)
def video_table(columns: tuple[tuple[int, ...], ...], device: torch.device) -> torch.Tensor:
    """int64 ``[len(columns), V + 1]`` on ``device``, cached so a repeated layout costs no copy.

    Every column has V + 1 entries; the kernels read field k of video v at ``k * (V + 1) + v``.
    """
    return torch.tensor(columns, dtype=torch.int64).to(device)


@triton.jit
def find_video(starts, n_videos, steps, item):
    """The video v with ``starts[v] <= item < starts[v + 1]`` (``starts`` ascending, V + 1 entries),
    in ``steps`` = ceil(log2 V) branch-free halvings; videos that own no item are skipped."""
    lo = item * 0
    hi = lo + n_videos
    for _ in range(steps):
        mid = (lo + hi) // 2
        right = tl.load(starts + mid) <= item
        lo = tl.where(right, mid, lo)
        hi = tl.where(right, hi, mid)
    return lo


def output_buffer(out: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, name: str = "out") -> torch.Tensor:
    """``out`` if it can take a kernel's output of ``shape`` (that dtype and device, the last
    dimension contiguous), a new tensor if it is None; ValueError naming the argument otherwise."""
    if out is None:
        return torch.empty(shape, dtype=dtype, device=device)
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype or out.device != device or out.stride(-1) != 1:
        raise ValueError(f"{name} must be a {dtype} {list(shape)} tensor on {device} with a contiguous last dimension")
    return out
