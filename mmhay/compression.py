"""Visual-token compressors: plain torch reference implementations, the truth that kernels are checked against.

Every compressor takes features ``[F, h, w, C]`` (one patch grid per frame) and the F frame times in
seconds, and returns the kept tokens with their provenance (source frames, box, size, mean time), so
a needle can be traced as kept, merged or dropped. Arithmetic is float32 (float64 for float64 input);
tokens come back in the input dtype, ordered by frame then row-major position unless noted.
A spec names one: ``"name"`` or ``"name:key=value,..."``, e.g. ``"tome:target=16,scope=clip4"``.

Each kept token also names its *origin*, the flat index ``f*h*w + y*w + x`` of its first source
token: an adapter that keeps the model's own positions gives a kept token the position of its
origin. ``compress(..., carry=...)`` compresses other per-token features the same way as the main
ones (Qwen3-VL's deepstack levels): channel-wise compressors see them as more channels, and the
ones that score tokens (registered with ``scores=True``) score on the main channels alone, which
they are told through the keyword-only ``score_channels``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from mmhay.errors import ConfigError
from mmhay.registry import registry
from mmhay.specs import bind_options, parse_spec

if TYPE_CHECKING:
    import torch

__all__ = ["COMPRESSORS", "Compressed", "compress", "output_tokens", "parse_compressor"]

COMPRESSORS = registry("compressor")

_SOURCE = "--compress"


@dataclass(frozen=True)
class Compressed:
    """Kept tokens and where each came from."""

    tokens: torch.Tensor  # [M, C], dtype of the input
    frames: torch.Tensor  # [M, 2] int64: first source frame, last source frame + 1
    boxes: torch.Tensor  # [M, 4] int64: y0, x0, y1, x1 in input grid cells, half-open
    sizes: torch.Tensor  # [M] float32: source tokens merged into it (sum F*h*w unless tokens were dropped)
    times: torch.Tensor  # [M] float32: size-weighted mean timestamp of its sources, seconds
    origins: torch.Tensor  # [M] int64: flat index f*h*w + y*w + x of its first source token
    carried: tuple = ()  # the ``carry`` features of compress(), compressed as the tokens were: [M, C_i] each

    def __len__(self) -> int:
        return self.tokens.shape[0]


def parse_compressor(spec: str) -> tuple[str, dict[str, Any]]:
    """The compressor's name and its options, each converted to the type of its default.

    Unknown names or keys and unconvertible values raise ConfigError; whether a value is in
    range is checked by the compressor itself.
    """
    name, raw = parse_spec(spec, _SOURCE)
    return name, bind_options(COMPRESSORS.get(name, source=_SOURCE).obj, raw, _SOURCE, skip=2)


def compress(
    spec: str,
    features: torch.Tensor,
    times: Any,
    carry: Sequence[torch.Tensor] = (),
    *,
    attention: torch.Tensor | None = None,
    keys: torch.Tensor | None = None,
) -> Compressed:
    """Run the compressor ``spec`` on features [F, h, w, C] whose frames were shown at ``times``
    (seconds); ``carry`` [F, h, w, C_i] each are compressed as the features are, into ``carried``.

    ``attention`` [F, h, w] (what each token receives in the vision tower) and ``keys`` [F, h, w, D]
    reach only the compressors registered with them in ``needs`` (required) or ``takes``."""
    import dataclasses

    import torch

    name, options = parse_compressor(spec)
    entry = COMPRESSORS.get(name)
    given = {"attention": attention, "keys": keys}
    for need in entry.meta.get("needs", ()):
        if given[need] is None:
            raise ConfigError(_SOURCE, "", f"{name} needs the vision tower's {need}, which this model's adapter does not capture", spec)
    wanted = (*entry.meta.get("needs", ()), *entry.meta.get("takes", ()))
    options.update({key: given[key] for key in wanted if given[key] is not None})
    if not carry:
        return entry.obj(features, times, **options)
    channels = features.shape[-1]
    joined = torch.cat([features, *(c.to(features.dtype) for c in carry)], -1)
    out = entry.obj(joined, times, **options, **({"score_channels": channels} if entry.meta.get("scores") else {}))
    widths = [channels] + [c.shape[-1] for c in carry]
    tokens, *carried = torch.split(out.tokens, widths, -1)
    return dataclasses.replace(out, tokens=tokens, carried=tuple(t.to(c.dtype) for t, c in zip(carried, carry)))


def output_tokens(spec: str, frames: int, h: int, w: int) -> int:
    """Tokens the compressor keeps for F x h x w input, known without running it (for budgets)."""
    name, options = parse_compressor(spec)
    count = COMPRESSORS.get(name).meta.get("tokens")
    if count is None:
        raise ConfigError(_SOURCE, "", f"{name} cannot tell its token count in advance", spec)
    return count(frames, h, w, **options)


def _require(ok: bool, key: str, problem: str, value: Any) -> None:
    if not ok:
        raise ConfigError(_SOURCE, key, problem, value)


def _grid(features: torch.Tensor, times: Any) -> tuple[int, int, int, int, torch.Tensor]:
    """F, h, w, C and the times as a float64 CPU tensor, checked against each other."""
    import torch

    if features.dim() != 4 or not features.is_floating_point():
        raise ValueError(f"features must be a float tensor [F, h, w, C], got {features.dtype} {tuple(features.shape)}")
    if isinstance(times, torch.Tensor):
        stamps = times.detach().to("cpu", torch.float64).reshape(-1)
    else:
        stamps = torch.tensor([float(t) for t in times], dtype=torch.float64)
    if stamps.numel() != features.shape[0]:
        raise ValueError(f"{features.shape[0]} frames but {stamps.numel()} timestamps")
    return (*features.shape, stamps)


def _compute_dtype(features: torch.Tensor) -> torch.dtype:
    import torch

    return torch.promote_types(features.dtype, torch.float32)


def _layout(spans, stamps, rows, cols, sizes, tokens, grid: tuple[int, int]) -> Compressed:
    """Provenance of a regular output: G frame groups x len(rows) x len(cols) tokens, row-major.

    spans [G, 2] source frames of each group, stamps [G] their mean time, rows/cols [n, 2] the
    half-open source cells of each output row/column, sizes a number or [G] tensor; ``grid`` the
    input's (h, w). A token's origin is the top-left cell of its box in its group's first frame.
    """
    import torch

    groups, per = len(spans), len(rows) * len(cols)
    rows, cols = torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)
    ry, cx = rows.repeat_interleave(len(cols), 0), cols.repeat(len(rows), 1)
    cell = torch.stack([ry[:, 0], cx[:, 0], ry[:, 1], cx[:, 1]], 1)
    weight = torch.as_tensor(sizes, dtype=torch.float32).expand(groups)
    frames, boxes = torch.as_tensor(spans, dtype=torch.int64).repeat_interleave(per, 0), cell.repeat(groups, 1)
    h, w = grid
    return _result(
        tokens,
        frames,
        boxes,
        weight.repeat_interleave(per),
        stamps.to(torch.float32).repeat_interleave(per),
        frames[:, 0] * (h * w) + boxes[:, 0] * w + boxes[:, 1],
    )


def _result(tokens, frames, boxes, sizes, times, origins) -> Compressed:
    device = tokens.device
    return Compressed(tokens, frames.to(device), boxes.to(device), sizes.to(device), times.to(device), origins.to(device))


def _single_frames(stamps: torch.Tensor) -> torch.Tensor:
    import torch

    index = torch.arange(len(stamps))
    return torch.stack([index, index + 1], 1)


def _cells(n: int) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(n)]


def _spatial_pool_tokens(frames: int, h: int, w: int, k: int = 2, mode: str = "avg") -> int:
    _require(k >= 1, "k", "the pooling factor must be at least 1", k)
    _require(mode in ("avg", "bilinear_ceil"), "mode", "expected avg or bilinear_ceil", mode)
    if mode == "avg":
        _require(k <= min(h, w), "k", f"avg pooling by {k} leaves nothing of a {h}x{w} grid", k)
        return frames * (h // k) * (w // k)
    return frames * -(-h // k) * -(-w // k)


@COMPRESSORS.register("spatial_pool", tokens=_spatial_pool_tokens)
def spatial_pool(features: torch.Tensor, times: Any, k: int = 2, mode: str = "avg") -> Compressed:
    """k x k spatial pooling per frame: avg (floor, LLaVA-Video) or bilinear_ceil (ceil, LLaVA-OneVision).

    bilinear_ceil boxes are the cells with nonzero interpolation weight in exact arithmetic; its
    sizes are the area share h*w / (oh*ow), so they sum to F*h*w. avg drops remainder rows/columns.
    """
    import torch
    import torch.nn.functional as nnf

    frames, h, w, channels, stamps = _grid(features, times)
    _spatial_pool_tokens(frames, h, w, k, mode)
    compute = _compute_dtype(features)
    from mmhay import kernels

    if mode == "avg":
        oh, ow = h // k, w // k
        if k == 2 and kernels.available(features) and features.dtype != torch.float64:  # at the memory floor, as compile is, without recompiling per shape
            pooled = kernels.pool2x2(features.reshape(-1, channels).contiguous(), [frames], [(h, w)]).view(frames, oh, ow, channels)
        else:
            # splitting dims is always a view, even of the cropped (non-contiguous) tensor
            pooled = features[:, : oh * k, : ow * k].view(frames, oh, k, ow, k, channels).mean((2, 4), dtype=compute)
        rows, cols = [(i * k, i * k + k) for i in range(oh)], [(j * k, j * k + k) for j in range(ow)]
        size = float(k * k)
    else:
        oh, ow = -(-h // k), -(-w // k)
        # channels-last view on purpose: .contiguous() to NCHW makes the kernel ~800x slower (anchors §4.3)
        pooled = nnf.interpolate(features.to(compute).permute(0, 3, 1, 2), size=(oh, ow), mode="bilinear", align_corners=False)
        pooled = pooled.permute(0, 2, 3, 1)
        rows, cols = _bilinear_reads(h, oh), _bilinear_reads(w, ow)
        size = h * w / (oh * ow)
    tokens = pooled.to(features.dtype).reshape(-1, channels)
    return _layout(_single_frames(stamps), stamps, rows, cols, size, tokens, (h, w))


def _bilinear_reads(n: int, out: int) -> list[tuple[int, int]]:
    """Per output index, the half-open input range align_corners=False bilinear reads with nonzero weight."""
    reads = []
    for i in range(out):
        source = max(Fraction(2 * i + 1, 2) * Fraction(n, out) - Fraction(1, 2), Fraction(0))
        low = math.floor(source)
        high = min(low + 1, n - 1) if source > low else low
        reads.append((low, high + 1))
    return reads


def _temporal_pool_tokens(frames: int, h: int, w: int, k: int = 2) -> int:
    _require(k >= 1, "k", "the pooling factor must be at least 1", k)
    return -(-frames // k) * h * w


@COMPRESSORS.register("temporal_pool", tokens=_temporal_pool_tokens)
def temporal_pool(features: torch.Tensor, times: Any, k: int = 2) -> Compressed:
    """Mean over non-overlapping groups of k consecutive frames at each position; the tail group over its real size."""
    import torch

    frames, h, w, channels, stamps = _grid(features, times)
    _temporal_pool_tokens(frames, h, w, k)
    compute, whole = _compute_dtype(features), frames // k
    parts = [features[: whole * k].view(whole, k, h, w, channels).mean(1, dtype=compute)]
    if frames % k:
        parts.append(features[whole * k :].mean(0, keepdim=True, dtype=compute))
    tokens = torch.cat(parts).to(features.dtype).reshape(-1, channels)
    starts = torch.arange(0, frames, k)
    ends = torch.clamp(starts + k, max=frames)
    means = torch.stack([stamps[s:e].mean() for s, e in zip(starts.tolist(), ends.tolist())])
    return _layout(torch.stack([starts, ends], 1), means, _cells(h), _cells(w), (ends - starts).float(), tokens, (h, w))


def _dct_lowpass_tokens(frames: int, h: int, w: int, kh: int | None = None, kw: int | None = None, inverse: bool = True) -> int:
    kh, kw = -(-h // 2) if kh is None else kh, -(-w // 2) if kw is None else kw
    _require(1 <= kh <= h, "kh", f"must be within 1..{h} (the grid height)", kh)
    _require(1 <= kw <= w, "kw", f"must be within 1..{w} (the grid width)", kw)
    return frames * kh * kw


def _dct_matrix(n: int) -> torch.Tensor:
    """The orthonormal DCT-II matrix of size n, float64: row k is frequency k."""
    import torch

    k, i = torch.arange(n, dtype=torch.float64)[:, None], torch.arange(n, dtype=torch.float64)[None]
    matrix = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    matrix[0] /= math.sqrt(2)
    return matrix


def _lowpass_matrix(n: int, keep: int, inverse: bool) -> torch.Tensor:
    """[keep, n] float64: the first ``keep`` DCT rows, then (inverse) back to a keep-sample grid."""
    matrix = _dct_matrix(n)[:keep]
    if inverse:
        # sqrt(keep/n) rescales the DC term so a constant image keeps its value, not its energy
        matrix = _dct_matrix(keep).T @ matrix * math.sqrt(keep / n)
    return matrix


@COMPRESSORS.register("dct_lowpass", tokens=_dct_lowpass_tokens)
def dct_lowpass(features: torch.Tensor, times: Any, kh: int | None = None, kw: int | None = None, inverse: bool = True) -> Compressed:
    """Keep the kh x kw lowest 2-D DCT-II frequencies per frame and channel (Fourier-VLM); defaults ceil(h/2), ceil(w/2).

    inverse=True maps them back to a smooth kh x kw image, scaled so a constant stays constant (an
    orthonormal round trip would scale it by sqrt(h*w/(kh*kw))); output cell i then reports the
    proportional input rows floor(i*h/kh)..ceil((i+1)*h/kh) as its box, though every input cell
    contributes. inverse=False returns the orthonormal coefficients, each boxed by the whole grid.
    Sizes are the area share h*w/(kh*kw). The whole map is X' = A X B^T: two matmuls, or on CUDA
    for 16-bit features of up to 1024 tokens a frame one, ``kron(A, B) @ X`` (``_kron_resample``).
    """
    import torch

    frames, h, w, channels, stamps = _grid(features, times)
    _dct_lowpass_tokens(frames, h, w, kh, kw, inverse)
    kh, kw = -(-h // 2) if kh is None else kh, -(-w // 2) if kw is None else kw
    compute = _compute_dtype(features)
    rows_map = _lowpass_matrix(h, kh, inverse).to(features.device, compute)
    cols_map = _lowpass_matrix(w, kw, inverse).to(features.device, compute)
    if features.is_cuda and features.dtype in (torch.bfloat16, torch.float16) and h * w <= KRON_MAX_TOKENS:
        tokens = _kron_resample(features, rows_map, cols_map)
    else:
        x = features.to(compute).reshape(frames, h, w * channels)
        x = (rows_map @ x).view(frames * kh, w, channels)
        tokens = (cols_map @ x).to(features.dtype).reshape(-1, channels)
    if inverse:
        rows = [(i * h // kh, -(-(i + 1) * h // kh)) for i in range(kh)]
        cols = [(j * w // kw, -(-(j + 1) * w // kw)) for j in range(kw)]
    else:
        rows, cols = [(0, h)] * kh, [(0, w)] * kw
    return _layout(_single_frames(stamps), stamps, rows, cols, h * w / (kh * kw), tokens, (h, w))


# Frames of up to this many tokens take the separable map as one Kronecker-product matrix: its
# h*w multiplications per output value cost less than a second pass over memory while it is small.
KRON_MAX_TOKENS = 1024


def _kron_resample(features: torch.Tensor, rows_map: torch.Tensor, cols_map: torch.Tensor) -> torch.Tensor:
    """``rows_map @ frame @ cols_mapᵀ`` per channel as one batched product with ``kron(rows_map,
    cols_map)`` (``[kh*kw, h*w]``, in the features' dtype, accumulating in fp32): ``[F*kh*kw, C]``.

    One read of the features and one write of the result: on an H100, 0.57 ms for [1024, 24, 24,
    1152] bf16 (its memory floor 0.56 ms), against 1.05 ms for the two matmuls and 1.21 ms for
    mmhay's Triton kernel (``docs/benchmarks.md``). Rounding the map to bf16 costs a relative error
    near 2e-3.
    """
    import torch

    frames, h, w, channels = features.shape
    kron = torch.kron(rows_map, cols_map).to(features.dtype)
    return torch.matmul(kron, features.reshape(frames, h * w, channels)).reshape(-1, channels)


def _evs_prune_tokens(frames: int, h: int, w: int, q: float = 0.75) -> int:
    _require(0 <= q <= 1, "q", "the pruning rate must be within 0..1", q)
    # int(float product) exactly as vLLM's compute_retained_tokens_count rounds
    return min(frames * h * w, max(h * w, int(frames * h * w * (1 - q))))


@COMPRESSORS.register("evs_prune", tokens=_evs_prune_tokens, scores=True)
def evs_prune(features: torch.Tensor, times: Any, q: float = 0.75, *, score_channels: int = 0) -> Compressed:
    """Keep the tokens least like the same position one frame earlier (vLLM EVS); frame 0 is always kept whole.

    Dissimilarity is 1 - cosine similarity, computed in float32 (vLLM uses the model dtype, so
    near-ties may break differently); ties keep the earlier token.
    """
    import torch
    import torch.nn.functional as nnf

    from mmhay import kernels

    frames, h, w, channels, stamps = _grid(features, times)
    keep = _evs_prune_tokens(frames, h, w, q)
    scored = features[..., :score_channels] if score_channels else features
    if kernels.available(features) and features.dtype != torch.float64:  # one fused pass (3.5x torch.compile on H100)
        score = kernels.evs_dissimilarity(scored.reshape(-1, scored.shape[-1]).contiguous(), [frames], [(h, w)])
    else:
        x = scored.to(_compute_dtype(features))
        change = 1 - nnf.cosine_similarity(x[1:], x[:-1], dim=-1)
        score = torch.cat([torch.full_like(x[:1, :, :, 0], math.inf), change]).reshape(-1)
    return _selected(features, stamps, torch.argsort(score, descending=True, stable=True)[:keep].sort().values)


def _selected(features: torch.Tensor, stamps: torch.Tensor, kept: torch.Tensor) -> Compressed:
    """The tokens of features [F, h, w, C] at the flat indices ``kept`` (in order), each its own
    source: the provenance of a pruning compressor."""
    frames, h, w, channels = features.shape
    full = _layout(_single_frames(stamps), stamps, _cells(h), _cells(w), 1.0, features.reshape(-1, channels), (h, w))
    index = kept.cpu()
    return _result(full.tokens[kept], full.frames[index], full.boxes[index], full.sizes[index], full.times[index], full.origins[index])
