"""Token selection compressors users compare against: DivPrune (diversity) and VisionZip (attention).

Both take features ``[F, h, w, C]`` and frame times like the compressors of ``mmhay.compression``
and return ``Compressed`` with the same provenance. ``divprune`` reads the features alone;
``visionzip`` also needs the attention each token receives in the vision tower, which a caller
passes through ``compress(..., attention=..., keys=...)`` (``mmhay.adapters.tower_attention``
captures it for LLaVA-OneVision). Arithmetic is float32 (float64 for float64 input).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmhay.compression import COMPRESSORS, _compute_dtype, _grid, _require, _result, _selected
from mmhay.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["divprune", "visionzip"]

_SOURCE = "--compress"


def _divprune_count(tokens_in_set: int, ratio: float) -> int:
    """Tokens DivPrune keeps of a set: ``int(round(ratio * n))`` as upstream (Python's round, half
    to even), at least one."""
    return min(tokens_in_set, max(1, int(round(ratio * tokens_in_set))))


def _divprune_tokens(frames: int, h: int, w: int, ratio: float = 0.098, tokens: int = 0, scope: str = "video") -> int:
    _require(0 < ratio <= 1, "ratio", "the keep ratio must be within 0..1 (above 0)", ratio)
    _require(tokens >= 0, "tokens", "must be 0 (use ratio) or a count of tokens per frame", tokens)
    _require(scope in ("video", "frame"), "scope", "expected video or frame", scope)
    if tokens:
        return frames * min(tokens, h * w)
    if scope == "frame":
        return frames * _divprune_count(h * w, ratio)
    return _divprune_count(frames * h * w, ratio)


@COMPRESSORS.register("divprune", tokens=_divprune_tokens, scores=True)
def divprune(
    features: torch.Tensor, times: Any, ratio: float = 0.098, tokens: int = 0, scope: str = "video", *, score_channels: int = 0
) -> Compressed:
    """Greedy max-min diversity over the features, cosine distance (DivPrune); query-agnostic, keeps ratio 0.098 by default.

    Provenance: vbdi/divprune@799e2d9 ``LLaVA/llava/model/llava_arch.py::DivPrune`` (Alvar et al.,
    "DivPrune: Diversity-based Visual Token Pruning for Large Multimodal Models", CVPR 2025), which
    prunes all visual tokens of the input as one set, right after the projector. With distances
    ``D = 1 - cos``, the first pick is the token whose nearest other token is farthest (upstream:
    the second-smallest entry of its column of D, its own distance being the smallest); each next
    pick is the token whose distance to the picked set (the minimum over it) is largest; ties go to
    the first index (``torch.argmax``), as upstream. Count: ``int(round(ratio * n))`` of the n
    tokens of a set (Python's round, half to even) as upstream, at least one; or, when ``tokens``
    is above 0 (it overrides ``ratio``), that many per frame (``tokens=N`` keeps N * F over the
    whole video at scope=video, N in each frame at scope=frame). ``scope=video`` selects over all
    F*h*w tokens as upstream; ``scope=frame`` in each frame alone. The kept tokens come back in
    their original order, as upstream's sorted ``keep_indexs`` puts them. mmhay runs it on the
    features ``--compress`` is given (LLaVA-OneVision: after the projector and the 2x2 pooling,
    the newline token kept apart; upstream's LLaVA-1.6 set counts its newline tokens in n).

    Where mmhay differs: distances in float32 (upstream: the model dtype, so near-ties may break
    differently); an all-zero token has cosine 0 to every other (upstream divides by its zero
    norm); a picked token is never picked again (upstream can pick one twice once every token left
    is an exact duplicate of a picked one). Cost: the [n, n] distance matrix (O(n^2 C) time,
    n^2 floats: 1 GiB for 64 x 16 x 16 tokens at scope=video), then K steps of O(n) each
    (upstream's steps take O(i n)).
    """
    import torch

    frames, h, w, channels, stamps = _grid(features, times)
    kept_total = _divprune_tokens(frames, h, w, ratio, tokens, scope)
    sets, size = (1, frames * h * w) if scope == "video" else (frames, h * w)
    keep = kept_total // sets
    scored = features[..., :score_channels] if score_channels else features
    x = torch.nn.functional.normalize(scored.to(_compute_dtype(features)).reshape(sets, size, -1), dim=-1)
    # 1 - x x^T in the product's own pass: one n x n matrix, not two
    distance = torch.baddbmm(x.new_ones(1, 1, 1).expand(sets, size, size), x, x.transpose(1, 2), alpha=-1)
    picks = _max_min_picks(distance, keep)
    return _selected(features, stamps, (picks + torch.arange(sets, device=picks.device)[:, None] * size).reshape(-1).sort().values)


def _max_min_picks(distance: torch.Tensor, keep: int, fused: bool | None = None) -> torch.Tensor:
    """[S, keep] int64: DivPrune's picks in pick order from each of S distance matrices [S, n, n];
    ``fused`` (default: on CUDA, float32, n <= 16384) runs the loop in ``mmhay.kernels.max_min_picks``.

    The score of each token is its distance to the picked set, updated by one row per step (a
    running minimum is exact, so it equals upstream's minimum over all picked rows)."""
    import torch

    from mmhay import kernels

    sets, n, _ = distance.shape
    score = _second_smallest_of_columns(distance) if n > 1 else distance.new_zeros(sets, n)
    if fused is None:
        fused = kernels.available(distance) and distance.dtype == torch.float32 and n <= 16384
    if fused:  # the whole loop in one launch: docs/benchmarks.md, "What token compression costs next to the prefill"
        return kernels.max_min_picks(distance, score, keep)
    flat = distance.view(sets * n, n)
    start = torch.arange(sets, device=distance.device) * n
    picks = torch.empty(sets, keep, dtype=torch.int64, device=distance.device)
    for step in range(keep):
        pick = score.argmax(1)  # first index on ties
        picks[:, step] = pick
        row = flat.index_select(0, start + pick)  # (advanced indexing distance[sets, pick] is ~1000x slower on CPU)
        score = row if step == 0 else torch.minimum(score, row)
        score.scatter_(1, pick[:, None], -torch.inf)  # the running minimum keeps earlier picks at -inf
    return picks


def _second_smallest_of_columns(distance: torch.Tensor) -> torch.Tensor:
    """[S, n]: each column's second-smallest entry counting repeats, as upstream's
    ``topk(2, dim=0, largest=False).values[1]``. A token's own distance is its column's smallest
    but for rounding, so this is the nearest other token's distance, one strided minimum (topk
    or min with indices along a strided dimension are 10-80x slower on CPU); the columns where
    another entry rounds below the token's own take topk. ``distance`` is left as it was."""
    import torch

    diagonal = distance.diagonal(dim1=1, dim2=2)
    own = diagonal.clone()
    diagonal.fill_(torch.inf)
    second = distance.amin(dim=1)
    diagonal.copy_(own)
    odd = own > second
    if odd.any():
        sets, columns = odd.nonzero(as_tuple=True)
        second[sets, columns] = distance[sets, :, columns].topk(2, dim=1, largest=False).values[:, 1]
    return second


def _visionzip_tokens(frames: int, h: int, w: int, dominant: int = 54, contextual: int = 10, merge: str = "add") -> int:
    _require(dominant >= 0, "dominant", "must be a count of tokens per frame", dominant)
    _require(contextual >= 0, "contextual", "must be a count of tokens per frame", contextual)
    _require(dominant + contextual >= 1, "dominant", "dominant + contextual must keep at least one token per frame", dominant)
    _require(merge in ("add", "mean"), "merge", "expected add (VisionZip: target + mean of its group) or mean", merge)
    kept = min(dominant, h * w)
    return frames * (kept + min(contextual, h * w - kept))


@COMPRESSORS.register("visionzip", tokens=_visionzip_tokens, scores=True, needs=("attention",), takes=("keys",))
def visionzip(
    features: torch.Tensor,
    times: Any,
    dominant: int = 54,
    contextual: int = 10,
    merge: str = "add",
    *,
    attention: torch.Tensor | None = None,
    keys: torch.Tensor | None = None,
    score_channels: int = 0,
) -> Compressed:
    """Per frame, the tokens that receive the most attention (dominant) plus merged groups of the rest (contextual), as VisionZip.

    Provenance: dvlab-research/VisionZip@3151f6d ``visionzip/clip_encoder.py::CLIPVisionTower_VisionZip.forward``
    (Yang et al., "VisionZip: Longer is Better but Not Necessary in Vision Language Models",
    CVPR 2025), 54 + 10 tokens per image in its 64-token setting. ``attention`` [F, h, w] is the
    attention each token receives; ``keys`` [F, h, w, D] the similarity metric (default: the
    features). Dominant: the ``dominant`` tokens of highest attention, ties to the earlier token.
    The rest keep their row-major order; ``contextual`` targets are taken among them at indices
    0, s, 2s, ... with ``s = max(1, rest // contextual)``; each other remaining token joins the
    target of highest cosine similarity of keys (first on ties); a contextual token is its target
    plus the mean of the tokens that joined it (``merge=add``, upstream) or the mean of its whole
    group (``merge=mean``). Output per frame: the dominant tokens in row-major order, then the
    contextual ones in their targets' order, as upstream. A contextual token's box bounds its
    group, its size counts it, its origin is the group's first token.

    Where mmhay differs: upstream runs inside CLIP at layer -2, ranks patches by the CLS token's
    attention summed over heads, keeps the CLS token as one of the ``dominant`` (53 patches + CLS)
    and merges the tower's hidden states before the projector; mmhay merges the features it is
    given (for LLaVA-OneVision, after the projector and its 2x2 pooling), keeps ``dominant``
    patch tokens (there is no CLS token in them), and takes whatever received attention its
    caller measured (``mmhay.adapters.tower_attention``: the mean over heads and queries, as
    towers without a CLS token need; VisionZip@3151f6d has code for CLIP only). Upstream's topk
    leaves ties unspecified; a zero key has cosine 0 (upstream divides by its zero norm).
    """
    import torch
    import torch.nn.functional as nnf

    frames, h, w, channels, stamps = _grid(features, times)
    _visionzip_tokens(frames, h, w, dominant, contextual, merge)
    if attention is None:
        raise ConfigError(_SOURCE, "", "visionzip needs the vision tower's attention, which the caller did not give", "visionzip")
    if tuple(attention.shape) != (frames, h, w):
        raise ValueError(f"attention must be [F, h, w] = {(frames, h, w)}, got {tuple(attention.shape)}")
    n, device, compute = h * w, features.device, _compute_dtype(features)
    keys = (features[..., :score_channels] if score_channels else features) if keys is None else keys
    if tuple(keys.shape[:3]) != (frames, h, w):
        raise ValueError(f"keys must be [F, h, w, D] with (F, h, w) = {(frames, h, w)}, got {tuple(keys.shape)}")
    d = min(dominant, n)
    order = torch.argsort(attention.reshape(frames, n).to(device, compute), dim=1, descending=True, stable=True)
    chosen = order[:, :d].sort(1).values
    rest = order[:, d:].sort(1).values  # row-major, as upstream's boolean mask leaves them
    m = n - d
    c = min(contextual, m)
    picked = torch.arange(0, m, max(1, m // contextual), device=device)[:c] if c else torch.zeros(0, dtype=torch.int64, device=device)
    others_at = torch.ones(m, dtype=torch.bool, device=device)
    others_at[picked] = False
    targets, others = rest[:, picked], rest[:, others_at]
    x = features.reshape(frames, n, channels).to(compute)
    k = nnf.normalize(keys.reshape(frames, n, -1).to(device, compute), dim=-1)
    join = (_take(k, others) @ _take(k, targets).transpose(1, 2)).argmax(-1) if c else others[:, :0]  # [F, m - c]
    joined = torch.zeros(frames, c, dtype=torch.float32, device=device).scatter_add_(1, join, torch.ones_like(join, dtype=torch.float32))
    total = torch.zeros(frames * c, channels, dtype=compute, device=device)
    total.index_add_(0, (join + torch.arange(frames, device=device)[:, None] * c).reshape(-1), _take(x, others).reshape(-1, channels))
    total = total.view(frames, c, channels)
    if merge == "add":
        merged = _take(x, targets) + total / joined.clamp(min=1)[..., None].to(compute)
    else:
        merged = (_take(x, targets) + total) / (1 + joined)[..., None].to(compute)
    tokens = torch.cat([_take(x, chosen), merged], 1).to(features.dtype).reshape(-1, channels)
    return _provenance(tokens, chosen, targets, others, join, joined, stamps, (h, w))


def _provenance(tokens, chosen, targets, others, join, joined, stamps, grid: tuple[int, int]) -> Compressed:
    """VisionZip's output provenance: chosen [F, d] single cells, then targets [F, c] each with
    the ``others`` [F, r] that ``join`` [F, r] names."""
    import torch

    h, w = grid
    frames, c = targets.shape
    # the first source of each group and its bounding box: amin/amax over target + joined cells
    first = targets.clone().scatter_reduce_(1, join, others, "amin")
    ys, xs = targets // w, targets % w
    oy, ox = others // w, others % w
    y0, x0 = ys.clone().scatter_reduce_(1, join, oy, "amin"), xs.clone().scatter_reduce_(1, join, ox, "amin")
    y1, x1 = ys.clone().scatter_reduce_(1, join, oy, "amax"), xs.clone().scatter_reduce_(1, join, ox, "amax")
    cells = torch.cat([chosen, first], 1)
    boxes = torch.cat([torch.stack([chosen // w, chosen % w, chosen // w + 1, chosen % w + 1], -1), torch.stack([y0, x0, y1 + 1, x1 + 1], -1)], 1)
    sizes = torch.cat([torch.ones_like(chosen, dtype=torch.float32), 1 + joined], 1)
    frame = torch.arange(frames, device=cells.device)[:, None].expand_as(cells)
    return _result(
        tokens,
        torch.stack([frame, frame + 1], -1).reshape(-1, 2),
        boxes.reshape(-1, 4),
        sizes.reshape(-1),
        stamps.to(torch.float32).to(cells.device)[:, None].expand_as(cells).reshape(-1),
        (frame * (h * w) + cells).reshape(-1),
    )


def _take(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """t[f, index[f, i]] for [F, n, D] t and [F, k] index (index_select: gather over an expanded
    index is ~10x slower on CPU)."""
    import torch

    frames, n, width = t.shape
    flat = (index + torch.arange(frames, device=index.device)[:, None] * n).reshape(-1)
    return t.reshape(frames * n, width).index_select(0, flat).view(*index.shape, width)
