"""The fused compression kernels, run on the CPU through Triton's interpreter against plain torch
references of the same math, and compiled for an H100 (sm_90) without one.

Triton picks interpreter or compiler when a function is decorated, its own standard library
(``tl.zeros``, ``tl.sum``) included, and that happens when triton is first imported. So the
interpreted checks run in one child process started with ``TRITON_INTERPRET=1`` (this file, run as
a script), and this process, like the rest of the suite, keeps triton as it found it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
triton = pytest.importorskip("triton")

# three videos of 1, 3 and 4 frames on different grids, the 3x5 one odd both ways
FRAMES = (1, 3, 4)
GRIDS = ((4, 4), (3, 5), (2, 6))
C = 40  # not a power of two: the channel blocks end masked
TOLERANCE = {torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 1e-2}

CHECKS = {}  # name -> check, each run in the interpreted child process
DEVICE = "cpu"  # where the checks' tensors go: the CPU under the interpreter; `--device cuda` runs the ToMe ones compiled


def check(*params):
    """Register a check, once per parameter if any (``name[bfloat16]``)."""

    def register(fn):
        for p in params or (None,):
            parts = p if isinstance(p, tuple) else (p,)
            label = fn.__name__ if p is None else f"{fn.__name__}[{'-'.join(str(q).removeprefix('torch.') for q in parts)}]"
            CHECKS[label] = fn if p is None else (lambda fn=fn, p=p: fn(p))
        return fn

    return register


def features(frames, grids, dtype, seed=0):
    rows = sum(f * h * w for f, (h, w) in zip(frames, grids))
    return torch.randn(rows, C, generator=torch.Generator().manual_seed(seed)).to(dtype)


def videos(x, frames, grids):
    """Each video's features as float64 ``[F, h, w, C]``."""
    out, at = [], 0
    for f, (h, w) in zip(frames, grids):
        out.append(x[at : at + f * h * w].double().view(f, h, w, x.shape[1]))
        at += f * h * w
    return out


def relative_error(got, want):
    return float((got.double() - want).norm() / want.norm())


def poisoned(shape, dtype):
    return torch.full(shape, float("nan"), dtype=dtype)


def refused_saying(cases):
    """Each ``(call, words)``: the call raises a ValueError whose message holds the words."""
    for call, words in cases:
        try:
            call()
        except ValueError as error:
            assert words in str(error), error
        else:
            raise AssertionError(f"no error, expected one saying {words!r}")


def evs_reference(x, frames, grids):
    scores = []
    for v in videos(x, frames, grids):
        a, b = v[1:].flatten(1, 2), v[:-1].flatten(1, 2)
        # torch's cosine_similarity: each norm clamped at 1e-8 on its own
        cos = (a * b).sum(-1) / (a.norm(dim=-1).clamp_min(1e-8) * b.norm(dim=-1).clamp_min(1e-8))
        first = torch.full((min(len(v), 1), v.shape[1] * v.shape[2]), float("inf"), dtype=torch.float64)
        scores.append(torch.cat([first, 1 - cos]).flatten())
    return torch.cat(scores)


def pool_reference(x, frames, grids):
    pooled = []
    for v in videos(x, frames, grids):
        f, h, w, c = v.shape
        cropped = v[:, : h // 2 * 2, : w // 2 * 2]
        pooled.append(cropped.reshape(f, h // 2, 2, w // 2, 2, c).mean((2, 4)).reshape(-1, c))
    return torch.cat(pooled)


def resample_reference(x, frames, grids, A, B):
    out = [torch.einsum("ih,fhwc,jw->fijc", a.double(), v, b.double()) for v, a, b in zip(videos(x, frames, grids), A, B)]
    return torch.cat([o.flatten(0, 2) for o in out])


@check(torch.float32, torch.bfloat16)
def evs_scores_each_token_against_the_previous_frame(dtype):
    from mmhay import kernels

    x = features(FRAMES, GRIDS, dtype)
    x[35] = 0  # a zero token scores 1 against its neighbours, as with torch's cosine_similarity
    out = poisoned((x.shape[0],), torch.float32)
    assert kernels.evs_dissimilarity(x, FRAMES, GRIDS, out=out) is out
    want = evs_reference(x, FRAMES, GRIDS)
    first = torch.isinf(want)
    assert torch.equal(torch.isinf(out), first) and bool((out[first] > 0).all()), "frame 0 must score +inf, and only frame 0"
    assert not out.isnan().any(), "some scores were not written"
    error = relative_error(out[~first], want[~first])
    assert error < TOLERANCE[dtype], error
    assert float(out[35]) == 1 and float(out[35 + 15]) == 1  # video 1, frames 1 and 2, 15 tokens each


@check(torch.float32, torch.bfloat16)
def pool_averages_each_2x2_cell_and_drops_odd_edges(dtype):
    from mmhay import kernels

    x = features(FRAMES, GRIDS, dtype, seed=1)
    want = pool_reference(x, FRAMES, GRIDS)
    out = poisoned(tuple(want.shape), dtype)
    assert kernels.pool2x2(x, FRAMES, GRIDS, out=out) is out
    error = relative_error(out, want)
    assert error < TOLERANCE[dtype], error
    assert kernels.pool2x2(x, FRAMES, GRIDS).dtype == dtype


@check()
def kernels_skip_videos_without_output():
    from mmhay import kernels

    frames, grids = (2, 0, 1, 3), ((4, 4), (6, 6), (1, 7), (2, 2))  # no frames; one row, so nothing pooled
    x = features(frames, grids, torch.float32, seed=2)
    want = pool_reference(x, frames, grids)
    out = poisoned(tuple(want.shape), torch.float32)
    kernels.pool2x2(x, frames, grids, out=out)
    assert relative_error(out, want) < 1e-6
    scores = poisoned((x.shape[0],), torch.float32)
    kernels.evs_dissimilarity(x, frames, grids, out=scores)
    want = evs_reference(x, frames, grids)
    assert torch.equal(torch.isinf(scores), torch.isinf(want))
    assert relative_error(scores[~torch.isinf(want)], want[~torch.isinf(want)]) < 1e-5


def resample_tilings():
    """Both resample kernels: the Kronecker-product one (small grids' default) and the separable one."""
    from mmhay.kernels.resample import KronTiling, ResampleTiling

    return {"kron": KronTiling(channels=16, depth=16), "separable": ResampleTiling()}


# the interpreter multiplies bf16 operands as raw integers, so the Kronecker kernel, whose
# operands are x's dtype, is checked in fp16 there (the same code path; bf16 runs on the GPU)
@check(("kron", torch.float32), ("kron", torch.float16), ("separable", torch.float32), ("separable", torch.bfloat16))
def resample_applies_each_videos_matrices(case):
    from mmhay import kernels

    kernel, dtype = case
    generator = torch.Generator().manual_seed(3)
    A = [torch.randn(k, h, generator=generator) for k, (h, _) in zip((2, 3, 1), GRIDS)]
    B = [torch.randn(k, w, generator=generator) for k, (_, w) in zip((2, 2, 3), GRIDS)]
    x = features(FRAMES, GRIDS, dtype, seed=4)
    want = resample_reference(x, FRAMES, GRIDS, A, B)
    out = poisoned(tuple(want.shape), dtype)
    assert kernels.separable_resample(x, FRAMES, GRIDS, A, B, out=out, tiling=resample_tilings()[kernel]) is out
    error = relative_error(out, want)
    assert error < TOLERANCE[dtype], error


@check("kron", "separable")
def resample_tiles_large_grids_and_outputs(kernel):
    from mmhay import kernels

    # separable: h = 18 and w = 20 take two steps each; kh = 17 and kw = 20 need 2 x 2 output
    # tiles, of which the other videos, whose outputs fit one, use only the first. Kronecker: the
    # 17 x 3 and 1 x 20 outputs fit one program's 144 positions, the 12 x 13 one takes two
    frames, grids = (2, 1, 0, 2), ((18, 3), (2, 20), (5, 5), (12, 13))
    generator = torch.Generator().manual_seed(5)
    A = [torch.randn(17, 18, generator=generator), torch.randn(1, 2, generator=generator),
         torch.randn(2, 5, generator=generator), torch.randn(12, 12, generator=generator)]
    B = [torch.randn(3, 3, generator=generator), torch.randn(20, 20, generator=generator),
         torch.randn(2, 5, generator=generator), torch.randn(13, 13, generator=generator)]
    x = features(frames, grids, torch.float32, seed=6)
    want = resample_reference(x, frames, grids, A, B)
    out = poisoned(tuple(want.shape), torch.float32)
    kernels.separable_resample(x, frames, grids, A, B, out=out, tiling=resample_tilings()[kernel])
    error = relative_error(out, want)
    assert error < 1e-5, error


@check("kron", "separable")
def resample_with_halving_matrices_is_2x2_pooling(kernel):
    from mmhay import kernels

    frames, grids = (3, 2), ((4, 6), (4, 6))
    x = features(frames, grids, torch.float32, seed=7)
    half = torch.tensor([[0.5, 0.5, 0, 0, 0, 0], [0, 0, 0.5, 0.5, 0, 0], [0, 0, 0, 0, 0.5, 0.5]])
    out = kernels.separable_resample(x, frames, grids, half[:2, :4], half, tiling=resample_tilings()[kernel])  # one pair for both
    assert relative_error(out, pool_reference(x, frames, grids)) < 1e-6


@check()
def resample_picks_the_kernel_by_grid_size():
    from mmhay.kernels import resample

    small, large = resample.KRON_MAX_TOKENS // 32, 33  # 32 x small tokens fit; 33 x 33 > 1024 do not
    for grid in ((32, small), (large, large)):
        x = features((1,), (grid,), torch.float32, seed=8)
        A, B = torch.eye(grid[0])[::2], torch.eye(grid[1])[::3]
        launched = []
        kernels_before = {name: getattr(resample, name) for name in ("_launch_kron", "_launch_separable")}
        for name, launch in kernels_before.items():
            setattr(resample, name, lambda *args, name=name, launch=launch: (launched.append(name), launch(*args)))
        try:
            out = resample.separable_resample(x, (1,), (grid,), A, B)
        finally:
            for name, launch in kernels_before.items():
                setattr(resample, name, launch)
        want = x.view(grid[0], grid[1], C)[::2, ::3].reshape(-1, C)
        assert torch.equal(out, want)
        assert launched == (["_launch_kron"] if grid[0] * grid[1] <= resample.KRON_MAX_TOKENS else ["_launch_separable"]), (grid, launched)


def tome_reference(x, sizes, r):
    """One round of mmhay.compression's ToMe (scope=frame, metric=feat) on [F, N, C] tokens of these sizes."""
    from mmhay.token_merging import _tome_sets

    f, n, _ = x.shape
    first = torch.arange(n).expand(f, n)[..., None]
    merged = _tome_sets({"wx": x.float() * sizes[..., None], "size": sizes.clone(), "lo": first}, n - r, 0)
    return (merged["wx"] / merged["size"][..., None]).to(x.dtype), merged["size"]


def exact_tokens(frames, n, dtype, seed):
    """``[F, n, C]`` tokens whose similarities come out exact in any summation order: each is ±1 on
    1, 4 or 16 random channels (squared norm 1, 4 or 16, so its norm is a power of two and so are
    its normalised entries), times 1/2, 1, 2 or 4. Every product and partial sum, of raw or of
    normalised tokens, is then a multiple of 2^-8 below 2^9: exact in fp16 inputs and fp32 sums
    whichever tile, GEMM kernel or BLAS computes it. Equal scores are equal bits, and there are many
    of them (a dot product takes few values), so every tie rule is exercised."""
    generator = torch.Generator().manual_seed(seed)
    nonzero = torch.tensor([1, 4, 16])[torch.randint(0, 3, (frames, n), generator=generator)]
    rank = torch.rand(frames, n, C, generator=generator).argsort(-1).argsort(-1)  # each token's channels in random order
    signs = torch.randint(0, 2, (frames, n, C), generator=generator) * 2 - 1
    scale = 2.0 ** torch.randint(-1, 3, (frames, n, 1), generator=generator)
    return ((rank < nonzero[..., None]) * signs * scale).to(dtype)


def on_device(*tensors):
    """The tensors on the device the checks run on (the CPU under the interpreter)."""
    moved = tuple(t.to(DEVICE) for t in tensors)
    return moved if len(moved) > 1 else moved[0]


def decision_margin(x, target, clip, heads):
    """The narrowest decision of the torch ToMe compressor on ``x`` ``[F, h, w, C]``, every round
    replayed in float64: over each merged A token the gap between its best and second-best B score,
    and over each set the gap between the r-th and (r+1)-th best A scores. Where it is far above
    fp32 rounding (~1e-7 for cosines), no summation order can change which tokens merge."""
    import torch.nn.functional as nnf

    from mmhay.token_merging import _tome_sets

    frames, h, w, channels = x.shape
    narrowest = float("inf")
    for start in range(0, frames, clip):
        tokens = x[start : start + clip].double().reshape(1, -1, channels)
        count = tokens.shape[1]
        goal = target * count // (h * w)
        sets = {"wx": tokens, "size": torch.ones(1, count, dtype=torch.float64), "lo": torch.arange(count).view(1, count, 1)}
        while count > goal:
            r = min(count - goal, count // 2)
            metric = sets["wx"] / sets["size"][..., None]
            metric = nnf.normalize(metric if not heads else metric.view(1, count, heads, -1).mean(2), dim=-1)
            scores = (metric[:, ::2, None] * metric[:, None, 1::2]).sum(-1)  # elementwise: no GEMM
            top = scores.topk(min(2, scores.shape[-1]), dim=-1).values
            ranked = top[..., 0].sort(dim=1, descending=True, stable=True)
            if r < ranked.values.shape[1]:
                narrowest = min(narrowest, float(ranked.values[0, r - 1] - ranked.values[0, r]))
            if top.shape[-1] == 2:
                merged = ranked.indices[:, :r]
                narrowest = min(narrowest, float((top[..., 0] - top[..., 1]).gather(1, merged).min()))
            sets = _tome_sets(sets, count - r, heads)  # the reference's own round
            count -= r
    return narrowest


def reference_plan(best, partner, n, r):
    """``plan_merge`` in plain torch: a stable descending sort picks the r sources, each output is
    numbered by its first input position, and a stable sort by output lists the members."""
    frames, n_a = best.shape
    order = torch.argsort(best, dim=1, descending=True, stable=True)
    source = order[:, :r]
    target = partner.long().gather(1, source)
    merged = torch.zeros(frames, n_a, dtype=torch.bool).scatter_(1, source, True)
    dst = torch.empty(frames, n, dtype=torch.int64)
    for f in range(frames):
        groups = {2 * a: [2 * a] for a in range(n_a) if not merged[f, a]}  # output key (first input position) -> inputs
        for b in range(n // 2):
            sent = [2 * int(a) for a in source[f][target[f] == b]]
            members = sorted(sent + [2 * b + 1])
            groups[members[0]] = members
        for number, key in enumerate(sorted(groups)):
            dst[f, groups[key]] = number
    ordered, members = torch.sort(dst, dim=1, stable=True)
    first = torch.searchsorted(ordered, torch.arange(n - r + 1).expand(frames, -1).contiguous())
    return dst, members, first


@check()
def merge_plan_is_the_reference_plan():
    from mmhay.kernels.tome import merge_tokens, plan_merge

    generator = torch.Generator().manual_seed(14)
    for n, frames in ((2, 2), (3, 2), (40, 3), (37, 3), (70, 2)):
        n_a, n_b = (n + 1) // 2, n // 2
        best = torch.randint(0, 4, (frames, n_a), generator=generator).float()  # many tied scores
        best[0, 0] = -0.0  # ties with 0.0, as in torch's sort
        partner = torch.randint(0, n_b, (frames, n_a), generator=generator, dtype=torch.int32)
        partner[-1] = 0  # every A token of one frame picks the same B token
        for r in sorted({0, 1, n_b // 2, n_b}):
            want = reference_plan(best, partner, n, r)
            got = plan_merge(*on_device(best, partner), n, r)
            for name, a, b in zip(("dst", "members", "first"), got, want):
                assert a.dtype == torch.int32 and torch.equal(a.cpu().long(), b), (n, r, name, a, b)
    best, partner = on_device(best, partner)
    refused_saying([
        (lambda: plan_merge(best, partner, n + 2, 1), "must both be [F, ceil(N/2)]"),
        (lambda: plan_merge(best, partner, n, n_b + 1), "merges 0..N//2"),
        (lambda: merge_tokens(*on_device(torch.ones(frames, n + 1, C), torch.ones(frames, n + 1)), got), "the plan is for"),
    ])


# the interpreter's tl.dot takes bf16 as raw integers, so bf16 matching is checked on the GPU (benchmark)
@check(torch.float32, torch.float16)
def tome_round_merges_as_the_reference_round(dtype):
    from mmhay import kernels

    for frames, n, r, seed in ((3, 40, 20, 8), (2, 37, 11, 9)):  # N odd: one more A token than B
        x = exact_tokens(frames, n, dtype, seed)
        sizes = torch.randint(1, 5, (frames, n), generator=torch.Generator().manual_seed(seed)).float()
        want, want_sizes = tome_reference(x, sizes, r)
        out, out_sizes = on_device(poisoned((frames, n - r, C), dtype), poisoned((frames, n - r), torch.float32))
        got, got_sizes = kernels.tome_round(*on_device(x, sizes), r, out=out, out_sizes=out_sizes)
        assert got is out and got_sizes is out_sizes
        assert torch.equal(out_sizes.cpu(), want_sizes), (out_sizes, want_sizes)
        error = relative_error(out.cpu(), want.double())
        assert error < (1e-5 if dtype == torch.float32 else 1e-3), error


@check()
def tome_round_is_the_first_round_of_the_tome_compressor():
    from mmhay import kernels
    from mmhay.token_merging import tome

    x = exact_tokens(2, 35, torch.float32, 10)
    want = tome(x.view(2, 5, 7, C), [0, 1], target=35 - 17)
    tokens, sizes = kernels.tome_round(*on_device(x, torch.ones(2, 35)), 17)
    assert torch.equal(sizes.cpu().flatten(), want.sizes)
    assert relative_error(tokens.cpu().reshape(-1, C), want.tokens.double()) < 1e-5


@check(torch.float32, torch.float16)
def tome_round_breaks_ties_as_torch_across_tiles(dtype):
    from mmhay import kernels
    from mmhay.kernels.tome import MatchTiling, MergeTiling

    x = exact_tokens(2, 70, torch.float32, 11)
    x[:, 41] = x[:, 1]  # B tokens 0 and 20 (another tile) tie for every A token: the first wins
    x[:, 4] = x[:, 44] = x[:, 5]  # A tokens 2 and 22 tie as the best matched (B token 2): only A 2 merges at r = 1
    x[:, 10] = 0  # a zero token scores 0 against everything
    x[1, 33] = 0
    x = x.to(dtype)
    sizes = torch.ones(2, 70)
    small = MatchTiling(rows_a=16, rows_b=16, channels=16, warps=1, stages=1)
    for r in (1, 23, 35):
        want, want_sizes = tome_reference(x, sizes, r)
        for match in (small, None):  # 16-token tiles, then the dtype's default kernel and tiling
            merge = MergeTiling(rows=4, channels=16) if match else MergeTiling()
            got, got_sizes = kernels.tome_round(*on_device(x, sizes), r, match=match, merge=merge)
            assert torch.equal(got_sizes.cpu(), want_sizes), (r, match)
            assert relative_error(got.cpu(), want.double()) < 1e-5, (r, match)


@check()
def both_matching_kernels_find_the_reference_partners():
    from mmhay.kernels.tome import MatchTiling, best_match

    small = MatchTiling(rows_a=16, rows_b=16, channels=16, warps=1, stages=1)
    # B tokens a frame in 16-token tiles: 10 (a rest tile), 20 (a tile and a rest), 35 and 48 (two tiles and a rest), 70 (two groups)
    for n in (20, 40, 70, 97, 140):
        x = exact_tokens(2, n, torch.float16, n)
        if n > 25:
            x[:, 2 * 12 + 1] = x[:, 1]  # B tokens 0 and 12: a tie across tiles
        if n >= 140:
            x[:, 2 * 60 + 1] = x[:, 3]  # B tokens 1 and 60: a tie across groups
        x[0, 4] = 0  # a zero A token scores 0 against everything: B token 0
        xn = torch.nn.functional.normalize(x.double(), dim=-1)
        scores = (xn[:, ::2, None] * xn[:, None, 1::2]).sum(-1)  # exact: see exact_tokens
        want_best, want_partner = scores.max(-1)  # the first index on ties
        for descriptors, tiling in ((True, small), (True, None), (False, small)):
            best, partner = best_match(on_device(x), tiling=tiling, descriptors=descriptors)
            assert torch.equal(partner.cpu().long(), want_partner), (n, descriptors, tiling, partner, want_partner)
            assert torch.equal(best.cpu().double(), want_best), (n, descriptors, tiling)
    refused_saying([(lambda: best_match(on_device(x).float(), descriptors=True), "the descriptor kernel takes 16-bit tokens")])


@check(("frame", "feat", 5), ("clip4", "feat", 3), ("clip2", "headmean:4", 2))
def tome_compressor_gives_the_same_tokens_and_provenance_through_the_kernels(case):
    from mmhay import token_merging

    scope, metric, target = case
    x = torch.randn(5, 3, 5, C, generator=torch.Generator().manual_seed(13))  # a tail clip when scope=clip4
    x[1, 1, 2] = x[1, 0, 0]  # one exact duplicate: merged first by both
    # later rounds merge means, whose scores no choice of inputs keeps exact: these inputs leave
    # every decision of every round a margin no summation order can cross
    margin = decision_margin(x, target, token_merging._clip_length(scope), token_merging._head_groups(metric))
    assert margin > 1e-4, margin
    times = [0.0, 0.5, 1.0, 1.5, 2.0]
    want = token_merging._tome(x, times, target, scope, metric, fused=False)
    got = token_merging._tome(on_device(x), times, target, scope, metric, fused=True)
    for field in ("frames", "boxes", "sizes", "times"):
        assert torch.equal(getattr(got, field).cpu(), getattr(want, field)), (field, getattr(got, field), getattr(want, field))
    assert relative_error(got.tokens.cpu(), want.tokens.double()) < 1e-5


@check()
def tome_round_edges():
    from mmhay import kernels

    x, sizes = on_device(exact_tokens(2, 5, torch.float32, 12), torch.arange(10.0).view(2, 5) + 1)
    got, got_sizes = kernels.tome_round(x, sizes, 0)
    assert torch.equal(got, x) and torch.equal(got_sizes, sizes)
    pair = x[:, :2].contiguous()  # one A and one B token: they merge
    got, got_sizes = kernels.tome_round(pair, sizes[:, :2].contiguous(), 1)
    want = (pair * sizes[:, :2, None]).sum(1, keepdim=True) / sizes[:, :2].sum(1)[:, None, None]
    assert relative_error(got, want.double()) < 1e-6 and torch.equal(got_sizes, sizes[:, :2].sum(1, keepdim=True))
    refused_saying([
        (lambda: kernels.tome_round(x, sizes, 3), "merges 0..N//2"),
        (lambda: kernels.tome_round(x, sizes[:, :4], 1), "sizes must be"),
        (lambda: kernels.tome_round(x.double(), sizes, 1), "x must be float32"),
    ])


@check()
def kernels_check_the_layout():
    from mmhay import kernels

    x = features(FRAMES, GRIDS, torch.float32)
    refused_saying([
        (lambda: kernels.pool2x2(x, (1, 3, 5), GRIDS), "tokens but the features have"),
        (lambda: kernels.evs_dissimilarity(x, FRAMES, GRIDS[:2]), "one (h, w) per video"),
        (lambda: kernels.separable_resample(x, FRAMES, GRIDS, torch.ones(2, 4), torch.ones(2, 4)), "A must be"),
    ])


@check()
def divprune_picks_are_the_reference_picks_ties_included():
    from mmhay import kernels
    from mmhay.token_selection import _max_min_picks, _second_smallest_of_columns

    generator = torch.Generator().manual_seed(17)
    x = torch.nn.functional.normalize(torch.randn(3, 37, 8, generator=generator), dim=-1)
    x[1, 20:] = x[1, :17]  # exact duplicates: equal scores, the first index must win as in torch.argmax
    distance = 1 - x @ x.transpose(1, 2)
    for keep in (1, 12, 37):
        want = _max_min_picks(distance, keep)  # CPU tensors: the torch loop
        got = kernels.max_min_picks(*on_device(distance, _second_smallest_of_columns(distance)), keep)
        assert torch.equal(got.cpu(), want), (keep, got, want)
    refused_saying([
        (lambda: kernels.max_min_picks(distance.double(), distance[:, 0].double(), 2), "float32"),
        (lambda: kernels.max_min_picks(distance, distance[:, 0], 38), "keep must be"),
    ])


@pytest.fixture(scope="module")
def interpreted():
    """Every check's traceback (None where it passed), from one child process under TRITON_INTERPRET=1."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    root = Path(__file__).parents[1]
    child = subprocess.run([sys.executable, __file__], env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0 and child.stdout.strip(), child.stderr[-4000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", list(CHECKS))
def test_under_the_interpreter(interpreted, name):
    assert interpreted[name] is None, interpreted[name]


def compiled_kernels():
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        pytest.skip("triton was imported as an interpreter here")
    from mmhay.kernels import evs, pool, resample

    return evs._evs_kernel, pool._pool_kernel, resample._resample_kernel, resample._kron_kernel


def test_only_block_sizes_are_compile_time_constants():
    for kernel in compiled_kernels():
        constants = {p.name for p in kernel.params if p.is_constexpr}
        assert constants <= {"BLOCK_R", "BLOCK_C", "BLOCK_K", "STAGES", "EXACT", "ROWS", "COLS", "KH", "KW", "MAIN", "REST", "LEAD"}, kernel
        # counts that change with every batch are not specialised on either (== 1, multiple of 16)
        assert {"n_videos", "steps"} <= {p.name for p in kernel.params if p.do_not_specialize}, kernel


def test_kernels_compile_for_hopper_without_a_gpu():
    pytest.importorskip("triton.backends.nvidia")  # its wheel carries ptxas
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    evs, pool, resample, kron = compiled_kernels()
    table = {"table": "*i64", "n_videos": "i32", "steps": "i32"}
    builds = [
        (evs, {"x": "*bf16", "out": "*fp32", **table, "stride": "i32", "C": "i32", "eps": "fp32"},
         {"BLOCK_R": 16, "BLOCK_C": 128, "STAGES": 3}),
        (pool, {"x": "*bf16", "out": "*bf16", **table, "stride_x": "i32", "stride_out": "i32", "C": "i32"},
         {"BLOCK_R": 32, "BLOCK_C": 128}),
    ]
    for dtype, exact in (("*bf16", False), ("*fp32", True)):
        signature = {"x": dtype, "out": dtype, "coef": "*fp32", **table, "tiles_w": "i32", "stride_x": "i32", "stride_out": "i32"}
        constants = {"EXACT": exact, "ROWS": 16, "COLS": 16, "KH": 16, "KW": 16, "BLOCK_C": 16}
        builds.append((resample, {**signature, "C": "i32"}, constants))
        signature = {"x": dtype, "out": dtype, "coef": dtype, **table, "tiles": "i32", "blocks_c": "i32",
                     "stride_x": "i32", "stride_out": "i32", "C": "i32"}
        constants = {"EXACT": exact, "MAIN": 128, "REST": 16, "LEAD": 16, "BLOCK_K": 64, "BLOCK_C": 128}
        builds.append((kron, signature, constants))
    for kernel, signature, constants in builds:
        source = ASTSource(kernel, {**signature, **{name: "constexpr" for name in constants}}, constants)
        compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})
        assert compiled.asm["cubin"], kernel


def test_tome_kernels_compile_for_hopper_without_a_gpu():
    pytest.importorskip("triton.backends.nvidia")
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        pytest.skip("triton was imported as an interpreter here")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from mmhay.kernels.tome import FP32_MATCH, POINTER_MATCH, MatchTiling, MergeTiling, _match_descriptor_kernel, _match_kernel, _merge_kernel, _plan_kernel

    match, merge = MatchTiling(), MergeTiling()
    sizes = {"blocks": "i32", "n_tokens": "i32", "C": "i32", "stride_f": "i32", "stride_n": "i32"}
    builds = [
        (_merge_kernel,
         {"x": "*bf16", "sizes": "*fp32", "members": "*i32", "first": "*i32", "out": "*bf16", "out_sizes": "*fp32",
          **sizes, "n_out": "i32", "stride_sf": "i32", "stride_of": "i32", "stride_on": "i32", "stride_osf": "i32"},
         {"BLOCK_O": merge.rows, "BLOCK_C": merge.channels, "AHEAD": merge.ahead}, merge.warps),
        (_plan_kernel,
         {"best": "*fp32", "partner": "*i32", "scratch": "*i32", "dst": "*i32", "members": "*i32", "first": "*i32",
          "n_tokens": "i32", "r": "i32"},
         {"BLOCK": 512}, 4),
    ]
    # 576 tokens a frame: two B tiles of 128 and a rest tile of 32
    descriptor = {f"{name}_desc": f"tensordesc<bf16[1,{rows},{match.channels}]>" for name, rows in (("a", match.rows_a), ("b", match.rows_b), ("rest", 32))}
    builds.append((
        _match_descriptor_kernel,
        {**descriptor, "best": "*fp32", "partner": "*i32", "blocks": "i32", "n_a": "i32", "n_b": "i32", "C": "i32", "eps": "fp32"},
        {"BLOCK_A": match.rows_a, "BLOCK_B": match.rows_b, "TILES": 2, "REST": 32, "BLOCK_K": match.channels, "STAGES": match.stages},
        match.warps,
    ))
    for dtype, exact, tiling in (("*bf16", False, POINTER_MATCH), ("*fp32", True, FP32_MATCH)):
        builds.append((
            _match_kernel,
            {"x": dtype, "best": "*fp32", "partner": "*i32", **sizes, "eps": "fp32"},
            {"EXACT": exact, "BLOCK_A": tiling.rows_a, "BLOCK_B": tiling.rows_b, "BLOCK_K": tiling.channels, "STAGES": tiling.stages},
            tiling.warps,
        ))
    for kernel, signature, constants, warps in builds:
        source = ASTSource(kernel, {**signature, **{name: "constexpr" for name in constants}}, constants)
        compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": warps})
        assert compiled.asm["cubin"], kernel


def test_divprune_kernel_compiles_for_hopper_without_a_gpu():
    pytest.importorskip("triton.backends.nvidia")
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        pytest.skip("triton was imported as an interpreter here")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from mmhay.kernels.divprune import _max_min_kernel

    signature = {"distance": "*fp32", "first": "*fp32", "picks": "*i64", "n": "i32", "keep": "i32", "stride_set": "i64", "stride_row": "i32", "BLOCK": "constexpr"}
    compiled = triton.compile(ASTSource(_max_min_kernel, signature, {"BLOCK": 8192}), target=GPUTarget("cuda", 90, 32), options={"num_warps": 16})
    assert compiled.asm["cubin"]


def test_importing_the_package_loads_neither_torch_nor_triton():
    code = "import sys, mmhay.kernels as k; assert not {'torch', 'triton'} & set(sys.modules); print(k.available(None))"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "False"


def test_cpu_tensors_are_not_available_to_the_kernels():
    from mmhay import kernels

    assert not kernels.available(torch.zeros(2))


if __name__ == "__main__":
    # TRITON_INTERPRET=1 python tests/test_kernels.py: every check through the interpreter (what the suite runs);
    # python tests/test_kernels.py --device cuda [PREFIX ...]: the checks whose names start so, compiled on a GPU
    arguments = sys.argv[1:]
    if arguments[:1] == ["--device"]:
        DEVICE, arguments = arguments[1], arguments[2:]
    results = {}
    for label, run in CHECKS.items():
        if arguments and not label.startswith(tuple(arguments)):
            continue
        try:
            run()
            results[label] = None
        except Exception:
            results[label] = traceback.format_exc()
    print(json.dumps(results))
