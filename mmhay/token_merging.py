"""ToMe (bipartite soft matching) as a visual-token compressor, per frame or per N-frame clip:
the plain torch rounds, the reference the Triton kernels of ``mmhay.kernels.tome`` are checked
against, and the dispatch to those kernels on CUDA. Provenance as ``mmhay.compression``'s
other compressors give it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mmhay.compression import COMPRESSORS, Compressed, _compute_dtype, _grid, _require, _result

if TYPE_CHECKING:
    import torch

__all__ = ["tome"]


def _tome_tokens(frames: int, h: int, w: int, target: int = 16, scope: str = "frame", metric: str = "feat", order: str = "time") -> int:
    _require(target >= 1, "target", "must be at least 1 token per frame", target)
    _require(order in ("time", "upstream"), "order", "expected time or upstream", order)
    _clip_length(scope)
    _head_groups(metric)
    return frames * min(target, h * w)


def _clip_length(scope: str) -> int:
    """Frames merged as one set: 1 for "frame", N for "clipN"."""
    match = re.fullmatch(r"clip([1-9]\d*)", scope)
    _require(scope == "frame" or match is not None, "scope", "expected frame or clipN (e.g. clip4)", scope)
    return 1 if scope == "frame" else int(match.group(1))


def _head_groups(metric: str) -> int:
    """0 for "feat", H for "headmean:H"."""
    match = re.fullmatch(r"headmean:([1-9]\d*)", metric)
    _require(metric == "feat" or match is not None, "metric", "expected feat or headmean:H", metric)
    return 0 if metric == "feat" else int(match.group(1))


@COMPRESSORS.register("tome", tokens=_tome_tokens, scores=True)
def tome(features: torch.Tensor, times: Any, target: int = 16, scope: str = "frame", metric: str = "feat", order: str = "time", *, score_channels: int = 0) -> Compressed:
    """Bipartite soft matching (ToMe) repeated until ``target`` tokens per frame remain, per frame or per N-frame clip.

    scope=clip4 with metric=headmean:H and order=upstream is VideoChat-Flash's clip compressor
    (OpenGVLab/VideoChat-Flash@2f8e2f5 ``llava-train_videochat/llava/model/multimodal_projector/
    tome16_mlp_hd64.py``: ``merge_tokens``, ``bipartite_soft_matching``, ``merge_wavg``; the
    matching of facebookresearch/ToMe@af95e4b ``tome/merge.py``): rounds of r = min(p - goal,
    p // 2), A the even and B the odd places of the current order, each A token's best B by
    cosine of the head-averaged mean features, the r best edges merged by size-weighted mean. A
    tail clip of n < N frames keeps target*n (upstream has no tail clip).

    ``order`` is where the two differ. Upstream's round returns the unmerged A tokens (by
    descending best similarity) then the B tokens, and the next round alternates A and B over
    that order. ``order=time`` (the default) re-sorts each round's tokens by their earliest
    source token, so the output is in time order. The first round is the same either way, so
    with one round (a goal of at least half the set, rounded up) the two give the same tokens in
    another order; from the second round on the A/B split differs, so the merges differ and so
    do the kept tokens, their sizes and sources, not only their order (``tests/test_tome_order.py``
    has a 3x3 case that ends with sizes 1 + 8 one way and 6 + 3 the other). ``order=upstream``
    reproduces VideoChat-Flash's rounds and output order, except on exact ties: its edge sort is
    unstable, mmhay's stable (the earlier A token first), and a zero token scores 0 where
    upstream divides by a zero norm.

    On CUDA each time-order round runs in the Triton kernels of ``mmhay.kernels.tome`` (a round
    of 1024 frames of 576 tokens: 2.4 ms against 10.5 for ``torch.compile`` on an H100);
    ``order=upstream`` runs the torch rounds there too.
    """
    import torch

    from mmhay import kernels

    # the kernels leave each round in time order; upstream's order is the torch rounds'
    fused = order == "time" and kernels.available(features) and features.dtype in (torch.bfloat16, torch.float16, torch.float32)
    return _tome(features, times, target, scope, metric, fused, score_channels, order)


def _tome(features: torch.Tensor, times: Any, target: int, scope: str, metric: str, fused: bool, score_channels: int = 0, order: str = "time") -> Compressed:
    """``tome``, each round in torch or (``fused``, time order only) in the Triton kernels of
    ``mmhay.kernels.tome``; the matching scores the first ``score_channels`` channels (0: all)."""
    import torch

    frames, h, w, channels, stamps = _grid(features, times)
    _tome_tokens(frames, h, w, target, scope, metric, order)
    _require(order == "time" or not fused, "order", "the fused rounds keep time order; upstream order runs in torch", order)
    clip, heads = _clip_length(scope), _head_groups(metric)
    scored = score_channels or channels
    _require(heads == 0 or scored % heads == 0, "metric", f"{heads} head groups do not divide {scored} channels", metric)
    device, per = features.device, h * w
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    frame = torch.arange(frames, device=device).repeat_interleave(per)
    ys, xs = ys.reshape(-1).repeat(frames), xs.reshape(-1).repeat(frames)
    state = {
        # size * mean feature; the kernels read the features as they are (sizes start at one)
        "wx": features.reshape(-1, channels) if fused else features.reshape(-1, channels).to(_compute_dtype(features)),
        "size": torch.ones(frames * per, dtype=torch.float32, device=device),
        "tsum": stamps.to(device).repeat_interleave(per),  # size * mean time, float64
        "lo": torch.stack([torch.arange(frames * per, device=device), frame, ys, xs], 1),  # amin: first, f0, y0, x0
        "hi": torch.stack([frame + 1, ys + 1, xs + 1], 1),  # amax: f1, y1, x1
    }
    pieces, whole = [], frames // clip
    for start, length, count in ((0, clip, whole), (whole * clip, frames % clip, 1)):
        if length and count:
            span = slice(start * per, (start + count * length) * per)
            sets = {name: t[span].reshape(count, length * per, *t.shape[1:]) for name, t in state.items()}
            goal = target * length
            pieces.append(_tome_sets_fused(sets, goal, heads, scored) if fused else _tome_sets(sets, goal, heads, scored, order == "time"))
    merged = {name: torch.cat([p[name].reshape(-1, *p[name].shape[2:]) for p in pieces]) for name in state}
    tokens = (merged["wx"] / merged["size"][:, None]).to(features.dtype)
    lo, hi = merged["lo"], merged["hi"]
    return _result(
        tokens,
        torch.stack([lo[:, 1], hi[:, 0]], 1),
        torch.stack([lo[:, 2], lo[:, 3], hi[:, 1], hi[:, 2]], 1),
        merged["size"],
        (merged["tsum"] / merged["size"]).to(torch.float32),
        lo[:, 0],
    )


_REDUCE = {"wx": "sum", "size": "sum", "tsum": "sum", "lo": "amin", "hi": "amax"}


def _tome_sets(sets: dict[str, torch.Tensor], goal: int, heads: int, scored: int = 0, time_order: bool = True) -> dict[str, torch.Tensor]:
    """Merge each of B sets of p tokens ([B, p, ...] per field) down to ``goal`` tokens by repeated
    ToMe rounds, matching on the first ``scored`` channels (0: all). Each round leaves the unmerged
    A tokens (by descending best similarity) then the B tokens, as upstream's ``merge`` concatenates
    them, re-sorted by earliest source token if ``time_order``."""
    import torch
    import torch.nn.functional as nnf

    count = sets["size"].shape[1]
    while count > goal:
        r = min(count - goal, count // 2)
        x = (sets["wx"][..., :scored] if scored else sets["wx"]) / sets["size"][..., None]
        if heads:
            x = x.view(*x.shape[:2], heads, -1).mean(2)
        # normalize() clamps the norm, so an all-zero token scores 0 instead of NaN
        x = nnf.normalize(x, dim=-1)
        scores = x[:, ::2] @ x[:, 1::2].transpose(1, 2)
        partner = scores.argmax(-1)  # first index on ties
        best = scores.gather(-1, partner[..., None])[..., 0]
        order = torch.argsort(best, dim=1, descending=True, stable=True)
        source, unmerged = order[:, :r], order[:, r:]
        target = partner.gather(1, source)
        for name, t in sets.items():
            a, b = t[:, ::2], t[:, 1::2]
            b = b.scatter_reduce(1, _expand(target, b), _rows(a, source), _REDUCE[name])
            sets[name] = torch.cat([_rows(a, unmerged), b], 1)
        if time_order:
            first = torch.argsort(sets["lo"][..., 0], dim=1)
            sets = {name: _rows(t, first) for name, t in sets.items()}
        count -= r
    return sets


def _tome_sets_fused(sets: dict[str, torch.Tensor], goal: int, heads: int, scored: int = 0) -> dict[str, torch.Tensor]:
    """``_tome_sets`` with each round's matching and merging in the Triton kernels; the small
    provenance fields follow each round's destinations. The sets' sizes must be ones on entry,
    so "wx" holds the tokens themselves: the first round reads them in their own dtype, and
    later rounds keep the means in fp32, as the torch rounds do."""
    import torch

    from mmhay.kernels.tome import best_match, merge_tokens, plan_merge

    size = sets["size"].contiguous()
    x = sets["wx"].contiguous()
    rest = {name: sets[name] for name in ("tsum", "lo", "hi")}
    count = size.shape[1]
    while count > goal:
        r = min(count - goal, count // 2)
        metric = x if scored in (0, x.shape[-1]) else x[..., :scored].contiguous()
        metric = metric if not heads else metric.float().view(*metric.shape[:2], heads, -1).mean(2)
        best, partner = best_match(metric)
        plan = plan_merge(best, partner, count, r)
        x, size = merge_tokens(x, size, plan, dtype=torch.promote_types(x.dtype, torch.float32))
        dst = plan.dst.long()
        for name, t in rest.items():
            merged = t.new_zeros((t.shape[0], count - r, *t.shape[2:]))
            rest[name] = merged.scatter_reduce(1, _expand(dst, t), t, _REDUCE[name], include_self=False)
        count -= r
    return {"wx": x.float() * size[..., None], "size": size, **rest}


def _expand(index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return index.view(*index.shape, *(1,) * (like.dim() - 2)).expand(*index.shape, *like.shape[2:])


def _rows(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """t[b, index[b, i]] for [B, p, ...] t and [B, n] index."""
    return t.gather(1, _expand(index, t))
