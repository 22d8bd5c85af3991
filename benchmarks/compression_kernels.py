"""The fused compression kernels (mmhay.kernels) against eager torch and torch.compile, on one GPU.

    python benchmarks/compression_kernels.py [--frames 1024] [--no-sweep]

Features are ``[F, 24, 24, 1152]`` bf16 (F = 1024: 1.36 GB). Measured, in this order:

* copy bandwidth: a clone of a 2 GiB tensor, bytes read + written over the time;
* each op (2x2 average pooling, EVS scoring, DCT low-pass 24 -> 12) as eager torch written without
  needless copies, as ``torch.compile`` of the same function, and as the Triton kernel: the median
  of ``triton.testing.do_bench`` while rotating over 3 input buffers, the relative L2 error against
  an fp32 reference, and the floor (each input read once, each output written once, at the copy
  bandwidth). The kernels' outputs are poisoned with NaN first and checked to be fully written;
* one ToMe round per frame (r = N/2, sizes all 1) as the eager reference round of
  ``mmhay.compression``, its ``torch.compile``, and ``mmhay.kernels.tome_round``; with the time of
  each of its three steps, launch shapes of both matching kernels and of the merging kernel, and
  the fraction of frames whose merge choice (which A tokens merge into which B tokens) equals the
  fp32 reference's. Near-tied scores may round the other way in bf16, so that fraction, not only
  the error, is the check; each matching shape is also run 8 more times and must give the same bits;
* a ragged batch of 8 videos of different frame counts and grids, then a second batch of 8 others,
  through the Triton kernels, counting compilations: the second batch must add none;
* unless ``--no-sweep``, a few launch shapes per kernel, so the defaults can be checked.

Prints markdown tables, the summary last. Takes about two minutes on an H100. Without a GPU it runs
the correctness part at a small size through Triton's interpreter, with no timings.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
import traceback
from pathlib import Path

import torch

GPU = torch.cuda.is_available()
if not GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is first imported

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch.nn.functional as F  # noqa: E402
import triton  # noqa: E402
from triton.testing import do_bench  # noqa: E402

from mmhay import kernels  # noqa: E402
from mmhay.kernels.evs import EvsTiling, _evs_kernel  # noqa: E402
from mmhay.kernels.pool import PoolTiling, _pool_kernel  # noqa: E402
from mmhay.kernels.resample import KronTiling, ResampleTiling, _kron_kernel, _resample_kernel  # noqa: E402
from mmhay.kernels.tome import FP32_MATCH, POINTER_MATCH, MatchTiling, MergeTiling, best_match, merge_tokens, plan_merge  # noqa: E402

DEVICE = "cuda" if GPU else "cpu"
GRID = 24
KEEP = 12
# two ragged batches of 8 videos: (frames, (h, w)); the second has a 48x48 grid (two output tiles)
RAGGED = {
    "A": [(64, (24, 24)), (128, (27, 27)), (32, (16, 16)), (200, (24, 24)),
          (96, (32, 32)), (17, (14, 14)), (256, (24, 24)), (50, (20, 30))],
    "B": [(100, (24, 24)), (40, (16, 16)), (300, (27, 27)), (8, (48, 48)),
          (77, (24, 24)), (150, (14, 14)), (60, (32, 32)), (33, (12, 20))],
}
SWEEP = {
    "pool": [
        PoolTiling(32, 128, 4), PoolTiling(16, 128, 4), PoolTiling(64, 64, 4),
        PoolTiling(16, 256, 4), PoolTiling(32, 256, 8), PoolTiling(64, 128, 8),
    ],
    "evs": [
        EvsTiling(16, 128, 4, 3), EvsTiling(16, 128, 4, 1), EvsTiling(8, 256, 4, 3), EvsTiling(32, 128, 8, 3),
        EvsTiling(4, 256, 4, 4), EvsTiling(16, 64, 4, 4), EvsTiling(16, 256, 8, 2),
    ],
    "resample": [
        KronTiling(), KronTiling(64, 64, 4, 3), KronTiling(128, 32, 8, 3), KronTiling(128, 64, 8, 4),
        KronTiling(128, 64, 4, 3), KronTiling(64, 64, 4, 4), KronTiling(128, 128, 8, 3), KronTiling(64, 128, 8, 3),
        KronTiling(256, 32, 8, 3), ResampleTiling(), ResampleTiling(64, 8, 2),
    ],
}


def dct_lowpass(n: int, k: int) -> torch.Tensor:
    """``[k, n]`` fp32: keep the k lowest orthonormal DCT-II frequencies of n samples, then invert at size k."""

    def dct(m):
        i = torch.arange(m, dtype=torch.float64)
        d = torch.cos(math.pi * (i[None, :] + 0.5) * i[:, None] / m) * math.sqrt(2 / m)
        d[0] /= math.sqrt(2)
        return d

    return (dct(k).T @ dct(n)[:k]).float()


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.double() - want.double()).norm() / want.double().norm())


def timed(fn, inputs) -> float:
    """Median ms of ``fn`` over the inputs in turn (none on the CPU)."""
    if not GPU:
        return float("nan")
    turn = itertools.cycle(inputs)
    return do_bench(lambda: fn(next(turn)), warmup=25, rep=200, return_mode="median")


def copy_bandwidth() -> float:
    """Bytes read + written per second by a clone of 2 GiB."""
    if not GPU:
        return float("nan")
    big = torch.empty(2**30, dtype=torch.bfloat16, device=DEVICE).normal_()
    ms = do_bench(lambda: big.clone(), warmup=25, rep=200, return_mode="median")
    return 2 * big.nbytes / (ms * 1e-3)


def compilations() -> int:
    """Compiled variants held by the four ragged kernels (triton keeps one per specialisation)."""
    total = 0
    for kernel in (_evs_kernel, _pool_kernel, _resample_kernel, _kron_kernel):
        caches = getattr(kernel, "device_caches", None)
        if caches is None:
            return -1  # the interpreter compiles nothing
        total += sum(len(entry[0]) for entry in caches.values())
    return total


# the three ops on x [F, h, w, C]: eager torch (also what torch.compile gets), Triton, fp32 reference


def pool_eager(x):
    f, h, w, c = x.shape
    return x.view(f, h // 2, 2, w // 2, 2, c).mean((2, 4))


def pool_triton(x, out=None, tiling=PoolTiling()):
    f, h, w, c = x.shape
    return kernels.pool2x2(x.view(-1, c), [f], [(h, w)], out=out, tiling=tiling).view(f, h // 2, w // 2, c)


def evs_eager(x):
    f, h, w, c = x.shape
    tokens = x.view(f, h * w, c)
    return 1 - F.cosine_similarity(tokens[1:], tokens[:-1], dim=-1)


def evs_triton(x, out=None, tiling=EvsTiling()):
    f, h, w, c = x.shape
    return kernels.evs_dissimilarity(x.view(-1, c), [f], [(h, w)], out=out, tiling=tiling).view(f, h * w)[1:]


def make_resample(dtype):
    """DCT low-pass 24 -> 12 along both axes (A = B): eager torch in ``dtype``, and the Triton kernel."""
    A = dct_lowpass(GRID, KEEP).to(DEVICE)
    coef = A.to(dtype)

    def eager(x):
        f, h, w, c = x.shape
        rows = torch.matmul(coef, x.view(f, h, w * c))  # [f, kh, w*c]
        return torch.matmul(coef, rows.view(f * KEEP, w, c)).view(f, KEEP, KEEP, c)

    def fused(x, out=None, tiling=None):
        f, h, w, c = x.shape
        return kernels.separable_resample(x.view(-1, c), [f], [(h, w)], A, A, out=out, tiling=tiling).view(f, KEEP, KEEP, c)

    return eager, fused


def floor_bytes(op: str, x: torch.Tensor) -> int:
    f, h, w, c = x.shape
    out = {"pool": x.nbytes // 4, "evs": f * h * w * 4, "resample": f * KEEP * KEEP * c * x.element_size()}[op]
    return x.nbytes + out


def poison_check(op: str, fused, x) -> str:
    """'ok' when every output element was written (the output starts as NaN)."""
    f, h, w, c = x.shape
    shape = {"pool": (f * (h // 2) * (w // 2), c), "evs": (f * h * w,), "resample": (f * KEEP * KEEP, c)}[op]
    out = torch.full(shape, float("nan"), dtype=torch.float32 if op == "evs" else x.dtype, device=DEVICE)
    fused(x, out=out)
    if op == "evs":
        written = not out.isnan().any() and int(torch.isinf(out).sum()) == h * w
    else:
        written = not out.isnan().any()
    return "ok" if bool(written) else "UNWRITTEN"


def time_three_ways(row, op, eager, fused, inputs, reference, compile_ops, notes):
    """Fill ``row`` with each implementation's median time, first-call (compile) time and error
    against ``reference``; a failure is noted and leaves NaN, so the other rows survive."""
    x = inputs[0]
    compiled = torch.compile(eager, dynamic=False) if compile_ops else None
    for name, fn in [("eager", eager), ("compile", compiled), ("triton", fused)]:
        if fn is None:
            row[name] = row[name + "_err"] = float("nan")
            continue
        try:
            started = time.perf_counter()
            got = fn(x)  # compiles here
            if GPU:
                torch.cuda.synchronize()
            row[name + "_first_s"] = time.perf_counter() - started
            row[name + "_err"] = relative_error(got, reference)
            del got
            row[name] = timed(fn, inputs)
        except Exception:
            notes.append(f"{op} {name} failed:\n{traceback.format_exc()}")
            row[name] = row[name + "_err"] = float("nan")


def run_op(op, eager, fused, inputs, reference, compile_ops, rows, notes):
    row = {"op": op}
    x = inputs[0]
    time_three_ways(row, op, eager, fused, inputs, reference, compile_ops, notes)
    try:
        row["written"] = poison_check(op, fused, x)
    except Exception:
        notes.append(f"{op} poison check failed:\n{traceback.format_exc()}")
        row["written"] = "failed"
    rows.append(row)


def ragged_case(name, C, dtype, bandwidth, generator, notes):
    videos = RAGGED[name]
    frames = [f for f, _ in videos]
    grids = [g for _, g in videos]
    if not GPU:  # the interpreter runs a program at a time: keep it small
        frames = [max(1, f // 32) for f in frames]
    tokens = sum(f * h * w for f, (h, w) in zip(frames, grids))
    inputs = [torch.randn(tokens, C, generator=generator, device=DEVICE, dtype=torch.float32).to(dtype) for _ in range(3)]
    A = [dct_lowpass(h, h // 2).to(DEVICE) for h, _ in grids]
    B = [dct_lowpass(w, w // 2).to(DEVICE) for _, w in grids]

    def per_video(x):
        at = 0
        for f, (h, w) in zip(frames, grids):
            yield x[at : at + f * h * w].float().view(f, h, w, C)
            at += f * h * w

    x = inputs[0]

    def evs_with_first_frame(v):
        return torch.cat([torch.full((1, v.shape[1] * v.shape[2]), float("inf"), device=DEVICE), evs_eager(v)]).flatten()

    want = {  # fp32, video by video
        "pool": torch.cat([pool_eager(v[:, : v.shape[1] // 2 * 2, : v.shape[2] // 2 * 2].contiguous()).flatten(0, 2) for v in per_video(x)]),
        "evs": torch.cat([evs_with_first_frame(v) for v in per_video(x)]),
        "resample": torch.cat([torch.einsum("ih,fhwc,jw->fijc", a, v, b).reshape(-1, C) for v, a, b in zip(per_video(x), A, B)]),
    }
    fused = {
        "pool": lambda x: kernels.pool2x2(x, frames, grids),
        "evs": lambda x: kernels.evs_dissimilarity(x, frames, grids),
        "resample": lambda x: kernels.separable_resample(x, frames, grids, A, B),
    }
    out_bytes = {
        "pool": sum(f * (h // 2) * (w // 2) for f, (h, w) in zip(frames, grids)) * C * x.element_size(),
        "evs": tokens * 4,
        "resample": sum(f * (h // 2) * (w // 2) for f, (h, w) in zip(frames, grids)) * C * x.element_size(),
    }
    rows = []
    for op in ("pool", "evs", "resample"):
        try:
            got = fused[op](x)
            finite = torch.isfinite(want[op])
            same_inf = bool(torch.equal(torch.isinf(got), ~finite)) if op == "evs" else True
            error = relative_error(got[finite], want[op][finite]) if op == "evs" else relative_error(got, want[op])
            ms = timed(fused[op], inputs)
            floor = (x.nbytes + out_bytes[op]) / bandwidth * 1e3
            rows.append((op, ms, floor, error if same_inf else float("inf")))
        except Exception:
            notes.append(f"ragged {name} {op} failed:\n{traceback.format_exc()}")
            rows.append((op, float("nan"), float("nan"), float("nan")))
    return f"{len(frames)} videos, F = {frames}, grids = {grids}, {tokens} tokens", rows


def sweep(op, fused, inputs, reference, notes):
    lines = []
    for tiling in SWEEP[op]:
        try:
            got = fused(inputs[0], tiling=tiling)
            lines.append((op, tiling, timed(lambda x: fused(x, tiling=tiling), inputs), relative_error(got, reference)))
        except Exception:
            notes.append(f"sweep {op} {tiling} failed:\n{traceback.format_exc(limit=3)}")
            lines.append((op, tiling, float("nan"), float("nan")))
    return lines


def tome_reference(x, sizes, r):
    """One reference round of ``mmhay.compression`` (scope=frame, metric=feat), fp32 inside."""
    from mmhay.token_merging import _tome_sets

    f, n, c = x.shape
    first = torch.arange(n, device=x.device).expand(f, n)[..., None]
    merged = _tome_sets({"wx": x.float() * sizes[..., None], "size": sizes, "lo": first}, n - r, 0)
    return (merged["wx"] / merged["size"][..., None]).to(x.dtype), merged["size"]


def merge_choice(best, partner, r):
    """Per frame, the merged A tokens in ascending order and the B token each merges into."""
    source = torch.argsort(best, dim=1, descending=True, stable=True)[:, :r].sort(1).values
    return source, partner.long().gather(1, source)


def tome_case(inputs, bandwidth, compile_ops, notes):
    """The ToMe row of the summary, and lines about its steps, launch shapes and merge choices."""
    f, h, w, c = inputs[0].shape
    n, r = h * w, h * w // 2
    tokens = [x.view(f, n, c) for x in inputs]
    if not GPU:  # the interpreter multiplies bf16 as raw integers (tl.dot): check the fp32 path
        tokens = [t.float() for t in tokens]
    sizes = torch.ones(f, n, device=DEVICE)
    x = tokens[0]
    row = {"op": "tome"}
    want_tokens, want_sizes = tome_reference(x, sizes, r)

    def eager(t):
        return tome_reference(t, sizes, r)[0]

    def fused(t, out=None, out_sizes=None):
        return kernels.tome_round(t, sizes, r, out=out, out_sizes=out_sizes)[0]

    time_three_ways(row, "tome", eager, fused, tokens, want_tokens, compile_ops, notes)
    row["floor"] = (2 * x.nbytes + f * (n - r) * c * x.element_size()) / bandwidth * 1e3
    lines = []
    try:
        out = torch.full((f, n - r, c), float("nan"), dtype=x.dtype, device=DEVICE)
        out_sizes = torch.full((f, n - r), float("nan"), device=DEVICE)
        kernels.tome_round(x, sizes, r, out=out, out_sizes=out_sizes)
        row["written"] = "ok" if not bool(out.isnan().any() or out_sizes.isnan().any()) else "UNWRITTEN"
        lines.append(f"tome sizes equal to the reference's: {bool(torch.equal(out_sizes, want_sizes))}")

        xn = F.normalize(x.float(), dim=-1)
        scores = xn[:, ::2] @ xn[:, 1::2].transpose(1, 2)
        want_best, want_partner = scores.max(-1)
        del scores, xn
        want_source, want_target = merge_choice(want_best, want_partner, r)
        best, partner = best_match(x)
        source, target = merge_choice(best, partner, r)
        same = ((source == want_source) & (target == want_target)).all(1)
        lines.append(
            f"tome merge choice equal to the fp32 reference's in {float(same.float().mean()):.2%} of {f} frames; "
            f"partners equal for {float((partner.long() == want_partner).float().mean()):.4%} of A tokens; "
            f"max |best score - fp32| = {float((best - want_best).abs().max()):.1e}"
        )
        del out, out_sizes
        plan = plan_merge(best, partner, n, r)
        merged = torch.empty(f, n - r, c, dtype=x.dtype, device=DEVICE), torch.empty(f, n - r, device=DEVICE)
        steps = {
            "match kernel (descriptors, the default)": lambda t: best_match(t),
            "match kernel (pointers)": lambda t: best_match(t, descriptors=False),
            "plan kernel": lambda t: plan_merge(best, partner, n, r),
            "merge kernel": lambda t: merge_tokens(t, sizes, plan, out=merged[0], out_sizes=merged[1]),
        }
        for name, fn in steps.items():
            lines.append(f"tome step {name}: {ms(timed(fn, tokens))} ms")
        lines.append(f"tome GEMM alone at 790 TFLOP/s: {2 * f * (n // 2) ** 2 * c / 790e9:.3f} ms; merge floor "
                     f"{(x.nbytes + f * (n - r) * c * x.element_size()) / bandwidth * 1e3:.3f} ms")
        shapes = [(True, MatchTiling()), (True, MatchTiling(128, 128, 64, 16, 3)), (True, MatchTiling(128, 128, 128, 16, 2)),
                  (True, MatchTiling(64, 128, 64, 8, 4)), (True, MatchTiling(128, 128, 32, 8, 4)),
                  (False, POINTER_MATCH), (False, MatchTiling(128, 128, 64, 8, 3)), (False, FP32_MATCH)]
        for descriptors, tiling in shapes:
            kind = "descriptors" if descriptors else "pointers"
            t = x.float() if tiling is FP32_MATCH else x  # the compressor's later rounds match fp32 means
            if descriptors and t.dtype == torch.float32:
                continue  # the interpreter's fp32 stand-in for bf16: the descriptor kernel takes 16-bit tokens
            try:
                b, p = best_match(t, tiling=tiling, descriptors=descriptors)
                agree = float((p.long() == want_partner).float().mean())
                differ = 0
                for _ in range(8):
                    b2, p2 = best_match(t, tiling=tiling, descriptors=descriptors)
                    differ += int((b2 != b).sum()) + int((p2 != p).sum())
                del t
                time_ = f"{ms(timed(lambda t: best_match(t, tiling=tiling, descriptors=descriptors), tokens))} ms" if tiling is not FP32_MATCH else "fp32 tokens, not timed"
                lines.append(f"tome match ({kind}) {tiling}: {time_}, partners as the fp32 reference's {agree:.4%}, "
                             f"max |best score - fp32| {float((b - want_best).abs().max()):.1e}, elements differing over 8 reruns {differ}")
            except Exception:
                notes.append(f"tome match ({kind}) {tiling} failed:\n{traceback.format_exc(limit=3)}")
        for tiling in (MergeTiling(), MergeTiling(ahead=4), MergeTiling(ahead=1), MergeTiling(rows=8, ahead=4), MergeTiling(rows=32)):
            lines.append(f"tome merge {tiling}: {ms(timed(lambda t: merge_tokens(t, sizes, plan, out=merged[0], out_sizes=merged[1], tiling=tiling), tokens))} ms")
    except Exception:
        notes.append(f"tome checks failed:\n{traceback.format_exc()}")
        row.setdefault("written", "failed")
    return row, lines


def tome_compressor_case(inputs) -> list[str]:
    """The whole ``tome`` compressor (target 16 a frame: 6 rounds from 576) through the kernels
    against its torch rounds, and how often a frame's provenance is the same."""
    from mmhay import token_merging

    f, h, w, c = inputs[0].shape
    times = [i / 2 for i in range(f)]
    if not GPU:
        inputs = [x.float() for x in inputs]  # the interpreter multiplies bf16 as raw integers
    ways = {name: (lambda x, fused=fused: token_merging._tome(x, times, 16, "frame", "feat", fused)) for name, fused in (("kernels", True), ("torch", False))}
    got, want = (ways[name](inputs[0]) for name in ("kernels", "torch"))
    again = ways["kernels"](inputs[0])
    same = (got.boxes.view(f, -1) == want.boxes.view(f, -1)).all(1)
    rerun = all(torch.equal(getattr(got, field), getattr(again, field)) for field in ("tokens", "frames", "boxes", "sizes", "times"))
    lines = [f"tome compressor, target 16 a frame ({f * 16} tokens): provenance equal to the torch rounds' in {float(same.float().mean()):.2%} of {f} frames; "
             f"token error {relative_error(got.tokens, want.tokens.float()):.1e}; the same bits on a rerun: {rerun}"]
    for name, fn in ways.items():
        lines.append(f"tome compressor through {name}: {ms(timed(fn, inputs))} ms")
    return lines


def ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


def ratio(a: float, b: float) -> str:
    return "–" if math.isnan(a) or math.isnan(b) or b == 0 else f"{a / b:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1024 if GPU else 4)
    parser.add_argument("--channels", type=int, default=1152 if GPU else 64)
    parser.add_argument("--no-sweep", action="store_true", help="skip the launch-shape sweep")
    args = parser.parse_args()
    started = time.perf_counter()
    dtype = torch.bfloat16
    generator = torch.Generator(device=DEVICE).manual_seed(0)
    notes: list[str] = []

    where = torch.cuda.get_device_name() if GPU else "CPU, Triton interpreter (no timings)"
    print(f"# compression kernels on {where}; torch {torch.__version__}, triton {triton.__version__}\n")
    bandwidth = copy_bandwidth()
    if GPU:
        print(f"copy bandwidth (clone of 2 GiB, read + write): {bandwidth / 1e12:.2f} TB/s\n")

    shape = (args.frames, GRID, GRID, args.channels)
    inputs = [torch.randn(shape, generator=generator, device=DEVICE, dtype=torch.float32).to(dtype) for _ in range(3)]
    resample_eager, resample_triton = make_resample(dtype)
    resample_exact, _ = make_resample(torch.float32)
    x32 = inputs[0].float()
    references = {"pool": pool_eager(x32), "evs": evs_eager(x32), "resample": resample_exact(x32)}
    del x32
    ops = {"pool": (pool_eager, pool_triton), "evs": (evs_eager, evs_triton), "resample": (resample_eager, resample_triton)}

    rows: list[dict] = []
    for op, (eager, fused) in ops.items():
        run_op(op, eager, fused, inputs, references[op], GPU, rows, notes)
        rows[-1]["floor"] = floor_bytes(op, inputs[0]) / bandwidth * 1e3

    kron_line = ""
    try:  # the form dct_lowpass runs on CUDA: not a Triton kernel, one cuBLAS product
        from mmhay.compression import _kron_resample

        A = dct_lowpass(GRID, KEEP).to(DEVICE)
        got = _kron_resample(inputs[0], A, A)
        kron_line = (f"resample 24→12 as one product with kron(A, B) (what dct_lowpass runs on CUDA): "
                     f"{ms(timed(lambda x: _kron_resample(x, A, A), inputs))} ms, rel err "
                     f"{relative_error(got.view(references['resample'].shape), references['resample']):.1e}")
        del got
    except Exception:
        notes.append(f"kron resample failed:\n{traceback.format_exc()}")

    tome_lines = []
    try:
        tome_row, tome_lines = tome_case(inputs, bandwidth, GPU, notes)
        rows.append(tome_row)
        tome_lines += tome_compressor_case(inputs)
    except Exception:
        notes.append(f"tome failed:\n{traceback.format_exc()}")

    sweeps = []
    if not args.no_sweep:
        for op, (_, fused) in ops.items():
            sweeps += sweep(op, fused, inputs, references[op], notes)
        print("## launch shapes (first of each op = default)\n")
        print("| op | tiling | triton ms | rel err |\n|---|---|---|---|")
        for op, tiling, t, err in sweeps:
            print(f"| {op} | {tiling} | {ms(t)} | {err:.1e} |")
        print()
    del inputs, references

    print("## ragged batches (Triton only)\n")
    added = {}
    ragged_rows = {}
    for name in RAGGED:
        before = compilations()
        try:
            described, ragged_rows[name] = ragged_case(name, args.channels, dtype, bandwidth, generator, notes)
            print(f"batch {name}: {described}")
        except Exception:
            notes.append(f"ragged batch {name} failed:\n{traceback.format_exc()}")
            ragged_rows[name] = []
        added[name] = compilations() - before
    print("\n| op | batch | triton ms | floor ms | triton/floor | rel err |\n|---|---|---|---|---|---|")
    for name, lines in ragged_rows.items():
        for op, t, floor, err in lines:
            print(f"| {op} | {name} | {ms(t)} | {ms(floor)} | {ratio(t, floor)} | {err:.1e} |")
    print()

    print(kron_line)
    for line in tome_lines:
        print(line)
    print()
    for note in notes:
        print(note)
    if compilations() >= 0:
        counts = ", ".join(f"batch {name}: {n}" for name, n in added.items())
        print(f"kernels compiled anew for the ragged batches after the single-video runs: {counts} (0: no recompilation)")
    for r in rows:
        firsts = ", ".join(f"{k} {r[k + '_first_s']:.1f} s" for k in ("eager", "compile", "triton") if k + "_first_s" in r)
        print(f"first call (compiling) of {r['op']}: {firsts}")

    title = f"[{', '.join(map(str, shape))}] {str(dtype).removeprefix('torch.')}, {where}"
    print(f"\n## summary: {title}, {time.perf_counter() - started:.0f} s in all\n")
    print("| op | eager ms | compile ms | triton ms | floor ms | triton/compile | triton/floor "
          "| rel err eager / compile / triton | written |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        errors = " / ".join("–" if math.isnan(r[k]) else f"{r[k]:.1e}" for k in ("eager_err", "compile_err", "triton_err"))
        print(
            f"| {r['op']} | {ms(r['eager'])} | {ms(r['compile'])} | {ms(r['triton'])} | {ms(r['floor'])} | "
            f"{ratio(r['triton'], r['compile'])} | {ratio(r['triton'], r['floor'])} | {errors} | {r['written']} |"
        )


if __name__ == "__main__":
    main()
