"""Fused Triton kernels for visual-token compression on ragged batches of videos.

Each kernel takes features ``x [T, C]`` of several videos laid end to end (video v: ``frames[v]``
frames of ``grids[v] = (h, w)`` tokens, frame-major then row-major) and handles any mix of frame
counts and grids in one launch, without compiling again when they change.

* ``evs_dissimilarity(x, frames, grids)``: 1 - cos to the same position one frame earlier, ``[T]`` fp32.
* ``pool2x2(x, frames, grids)``: 2x2 average pooling of every frame.
* ``separable_resample(x, frames, grids, A, B)``: ``A @ frame @ Bᵀ`` per channel (DCT low-pass, bilinear).
* ``tome_round(x, sizes, r)``: one ToMe bipartite-matching round per frame of ``x [F, N, C]`` (not ragged).
* ``max_min_picks(distance, first, keep)``: DivPrune's greedy max-min picks, the whole loop in one launch.

Ask ``available(x)`` first: the kernels run on CUDA tensors (and, for tests, on CPU under
``TRITON_INTERPRET=1``). Importing this package loads neither torch nor triton; the first use of a
kernel does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = ["available", "evs_dissimilarity", "max_min_picks", "pool2x2", "separable_resample", "tome_round"]

_HOMES = {"evs_dissimilarity": "evs", "max_min_picks": "divprune", "pool2x2": "pool", "separable_resample": "resample", "tome_round": "tome"}

if TYPE_CHECKING:
    from mmhay.kernels.divprune import max_min_picks
    from mmhay.kernels.evs import evs_dissimilarity
    from mmhay.kernels.pool import pool2x2
    from mmhay.kernels.resample import separable_resample
    from mmhay.kernels.tome import tome_round


def available(tensor) -> bool:
    """Whether the fused kernels can take ``tensor``: it is on a CUDA device and triton imports."""
    if not getattr(tensor, "is_cuda", False):
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def __getattr__(name: str):
    # the kernels' modules import torch and triton, so they load on first use; not cached here,
    # so a module imported again (the interpreter tests do) is the one used
    if name in _HOMES:
        return getattr(importlib.import_module(f"mmhay.kernels.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
