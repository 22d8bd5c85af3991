"""A sampler's frame scales kept in video mode: each shrunk frame's features pooled to its scale
after the vision tower.

A sampler that shrinks some frames (``keyclip``; ``FramePlan.scales``) prices a frame at scale s
as 1/s² of a full one. One video holds one frame size, so in video mode the frames are rendered
whole (``mmhay.sampling.render_plan``), and each would cost a full frame's tokens: up to
``max_scale``² (4x) the budget. ``pooled_to_scales`` pools each frame's ``h x w`` features (on
Qwen-VL each temporal patch's, at the least shrink among its frames) to a grid of about
``h/s x w/s`` by adaptive average pooling (torch's bins: output row i of n covers input rows
``floor(i*h/n)..ceil((i+1)*h/n)``), so the tokens cost what the plan priced them; a frame at scale
1 is copied. Each side is h/s rounded down or up: ``round`` first, the other way where that keeps
the video's running count nearer its running price ``sum(h*w/s^2)`` (a 3 x 4 grid at scale 2,
priced 3, alternates 2 x 2 and 1 x 2), so a video's total stays within one frame's rounding of
the plan, however odd its grid. The result is a ``mmhay.compression.Compressed`` like any compressor's, each token
with its box and origin (its box's top-left cell), so the model reads it at its origin's position
(``mmhay.adapters.kept_positions``) and exposure traces a needle through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["patch_scales", "pooled_to_scales", "scaled_sizes", "shrinks_frames"]


def shrinks_frames(frame_scales: Sequence[Sequence[float]]) -> bool:
    """Whether any frame of a batch was planned smaller than whole."""
    return any(scale != 1 for scales in frame_scales for scale in scales)


def scaled_sizes(sizes: Sequence[Sequence[int]], scales: Sequence[float]) -> list[list[int]]:
    """Each frame's [w, h] at the input as its pooled tokens resolve it: the processor's size
    divided by the frame's scale (``Answer.received["frame_sizes"]``, for exposure's heights)."""
    return [[max(1, round(w / s)), max(1, round(h / s))] for (w, h), s in zip(sizes, scales)] if scales else [list(size) for size in sizes]


def patch_scales(scales: Sequence[float], patches: int, step: int) -> list[float]:
    """Each temporal patch's scale: the least of its ``step`` frames' (the processor fills the last
    patch by repeating the last frame). No scales: every patch whole."""
    if not scales:
        return [1.0] * patches
    padded = list(scales) + [scales[-1]] * (patches * step - len(scales))
    return [min(padded[i * step : (i + 1) * step]) for i in range(patches)]


def _pooled_grid(h: int, w: int, scale: float, owed: float) -> tuple[int, int]:
    """The pooled (rows, cols) of an h x w grid at ``scale``: each side h/s rounded, or the other
    way, whichever brings the tokens spent nearest ``owed`` + this frame's price (first on ties)."""
    import math

    if scale == 1:
        return h, w

    def sides(n: int) -> list[int]:
        exact = n / scale
        nearest = max(1, min(n, round(exact)))
        other = max(1, min(n, math.floor(exact) if nearest > exact else math.ceil(exact)))
        return [nearest] if other == nearest else [nearest, other]

    price = owed + h * w / (scale * scale)
    candidates = [(r, c) for r in sides(h) for c in sides(w)]
    return min(candidates, key=lambda rc: abs(price - rc[0] * rc[1]))


def pooled_to_scales(features, times: Sequence[float], scales: Sequence[float], carry: Sequence[Any] = ()):
    """Features ``[F, h, w, C]`` with frame f pooled to about ``h/s_f x w/s_f`` tokens (at least
    one a side; ``_pooled_grid``), as ``Compressed``; ``carry`` ``[F, h, w, C_i]`` are pooled alike."""
    import torch
    import torch.nn.functional as nnf

    from mmhay.compression import Compressed

    frames, h, w, channels = features.shape
    if len(scales) != frames or len(times) != frames:
        raise ValueError(f"{frames} frames but {len(scales)} scales and {len(times)} times")
    joined = torch.cat([features, *(c.to(features.dtype) for c in carry)], -1) if carry else features
    compute = torch.promote_types(features.dtype, torch.float32)
    tokens, frames_of, boxes, sizes, stamps, origins = [], [], [], [], [], []
    owed = 0.0  # tokens priced so far minus tokens spent
    for f, scale in enumerate(scales):
        rows, cols = _pooled_grid(h, w, scale, owed)
        owed += h * w / (scale * scale) - rows * cols
        if (rows, cols) == (h, w):
            tokens.append(joined[f].reshape(-1, joined.shape[-1]))
        else:
            pooled = nnf.adaptive_avg_pool2d(joined[f].permute(2, 0, 1)[None].to(compute), (rows, cols))
            tokens.append(pooled[0].permute(1, 2, 0).reshape(-1, joined.shape[-1]).to(features.dtype))
        y = torch.tensor([[i * h // rows, -(-(i + 1) * h // rows)] for i in range(rows)]).repeat_interleave(cols, 0)
        x = torch.tensor([[j * w // cols, -(-(j + 1) * w // cols)] for j in range(cols)]).repeat(rows, 1)
        boxes.append(torch.stack([y[:, 0], x[:, 0], y[:, 1], x[:, 1]], 1))
        frames_of.append(torch.tensor([[f, f + 1]]).expand(rows * cols, 2))
        sizes.append(((y[:, 1] - y[:, 0]) * (x[:, 1] - x[:, 0])).float())
        stamps.append(torch.full((rows * cols,), float(times[f])))
        origins.append(f * h * w + y[:, 0] * w + x[:, 0])
    device = features.device
    every = torch.cat(tokens)
    main, *carried = torch.split(every, [channels] + [c.shape[-1] for c in carry], -1)
    return Compressed(
        main,
        torch.cat(frames_of).to(device),
        torch.cat(boxes).to(device),
        torch.cat(sizes).to(device),
        torch.cat(stamps).to(device),
        torch.cat(origins).to(device),
        tuple(t.to(c.dtype) for t, c in zip(carried, carry)),
    )
