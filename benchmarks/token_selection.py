"""The plain torch references of ``divprune`` and ``visionzip`` (``mmhay.token_selection``) on one
video of 64 frames, for deciding whether they need kernels.

    python benchmarks/token_selection.py [--frames 64] [--side 14 16] [--device cpu|cuda] [--repeat 3] [--threads 1]

Features ``[F, side, side, 1536]`` float32 (and bf16 on CUDA), random; attention random. For each
spec, the median time of ``--repeat`` runs after one warm-up (CUDA: wall, synchronised; CPU: the
process's CPU time), and for
DivPrune the share of it spent building the distance matrix; then the capture of the tower's
attention (``mmhay.adapters.tower_attention.received_attention``) at one SigLIP-so400m layer of
LLaVA-OneVision (27 x 27 patches, 16 heads of 72) for the same frames. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mmhay.compression import compress, output_tokens

SPECS = ("divprune", "divprune:scope=frame", "divprune:tokens=64,scope=frame", "visionzip", "visionzip:dominant=54,contextual=10,merge=mean")


def _timed(run, device: str, repeat: int) -> float:
    """Median seconds of ``repeat`` runs after a warm-up: wall time on CUDA, this process's CPU
    time on CPU (so that other processes on a shared machine do not count; with one thread it is
    the single-core time)."""
    clock = time.perf_counter if device == "cuda" else time.process_time
    run()
    times = []
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = clock()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - start)
    return statistics.median(times)


def _distance_only(features: torch.Tensor, scope: str):
    sets = 1 if scope == "video" else features.shape[0]
    x = torch.nn.functional.normalize(features.float().reshape(sets, -1, features.shape[-1]), dim=-1)
    return lambda: 1 - x @ x.transpose(1, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--side", type=int, nargs="+", default=[14, 16])
    parser.add_argument("--channels", type=int, default=1536)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtypes = [torch.float32] + ([torch.bfloat16] if args.device == "cuda" else [])
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads, CPU time"
    print(f"device: {name}; torch {torch.__version__}\n")
    print("| features | dtype | spec | tokens kept | ms | of which distance matrix ms |")
    print("|---|---|---|---|---|---|")
    generator = torch.Generator().manual_seed(0)
    for side in args.side:
        shape = (args.frames, side, side, args.channels)
        for dtype in dtypes:
            features = torch.randn(*shape, generator=generator).to(args.device, dtype)
            attention = torch.rand(shape[:3], generator=generator).to(args.device)
            times = [i / 2 for i in range(args.frames)]
            for spec in SPECS:
                ms = 1000 * _timed(lambda: compress(spec, features, times, attention=attention), args.device, args.repeat)
                matrix = ""
                if spec.startswith("divprune"):
                    scope = "frame" if "scope=frame" in spec else "video"
                    matrix = f"{1000 * _timed(_distance_only(features, scope), args.device, args.repeat):.1f}"
                kept = output_tokens(spec, *shape[:3])
                print(f"| {list(shape)} | {str(dtype).removeprefix('torch.')} | `{spec}` | {kept} | {ms:.1f} | {matrix} |")
    from mmhay.adapters.tower_attention import received_attention

    query, key = (torch.randn(args.frames, 16, 729, 72, generator=generator).to(args.device) for _ in range(2))
    ms = 1000 * _timed(lambda: received_attention(query, key, 72**-0.5), args.device, args.repeat)
    print(f"\nattention received at one layer, [{args.frames}, 16 heads, 729, 72] float32: {ms:.1f} ms")


if __name__ == "__main__":
    main()
