"""What each token-compression method costs next to the language model's prefill it shortens.

    python benchmarks/compression_prefill_share.py [--frames 64] [--side 448] [--repeats 10]

Builds a random-weight Qwen2-VL-2B from its published configuration (no download: the sizes are
written below), encodes ``--frames`` frames of ``--side`` x ``--side`` pixels (64 frames at 448:
32 temporal patches x 16 x 16 merged tokens = 8192 visual tokens), then times on one GPU, as the
median of ``--repeats`` runs after a warm-up, in bf16:

* the vision tower, and the language model's prefill over the whole prompt (sdpa attention);
* each compressor's plain torch reference on the tower's output [32, 16, 16, 1536], at a keep
  share of 25% (what the issue's 5% rule is about: a method whose reference costs more than 5% of
  the prefill it saves would want a kernel);
* FastV: the prefill with its hooks (K=2, R=0.5: half the visual tokens pruned after layer 2)
  against the plain prefill, and its selection alone;
* the query-aware samplers (BOLT, AKS) on 1-fps relevance of a one-hour video, on the CPU.

Prints one markdown table: method, ms, share of the uncompressed prefill. Needs CUDA.
"""

from __future__ import annotations

import argparse
import statistics
import time

# Qwen2-VL-2B-Instruct's config.json (language model and vision tower sizes)
TEXT = {
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
}
VISION = {"depth": 32, "embed_dim": 1280, "hidden_size": 1536, "num_heads": 16, "mlp_ratio": 4, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}


def _timed(fn, repeats: int) -> float:
    """Median milliseconds of ``fn()`` on the GPU, after one warm-up call."""
    import torch

    fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples)


def _cpu_timed(fn, repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--side", type=int, default=448)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    torch.manual_seed(0)
    config = Qwen2VLConfig(text_config=TEXT, vision_config=VISION, attn_implementation="sdpa")
    with torch.device("cuda"):
        model = Qwen2VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16).eval()
    patches = args.side // 14
    t, merged = args.frames // 2, patches // 2
    grid = torch.tensor([[t, patches, patches]], device="cuda")
    pixels = torch.randn(t * patches * patches, 3 * 2 * 14 * 14, device="cuda", dtype=torch.bfloat16)
    rows = []
    with torch.inference_mode():
        tower_ms = _timed(lambda: model.model.get_video_features(pixel_values_videos=pixels, video_grid_thw=grid), args.repeats)
        features = model.model.get_video_features(pixel_values_videos=pixels, video_grid_thw=grid, return_dict=True).pooler_output[0]
        visual = features.shape[0]
        text = 64
        embeds = torch.randn(1, visual + text, TEXT["hidden_size"], device="cuda", dtype=torch.bfloat16)
        positions = torch.arange(visual + text, device="cuda").view(1, 1, -1).expand(3, 1, -1)
        language = model.model.language_model
        prefill = lambda: language(inputs_embeds=embeds, position_ids=positions, use_cache=False)  # noqa: E731
        prefill_ms = _timed(prefill, args.repeats)
        rows.append(("vision tower", tower_ms))
        rows.append((f"language-model prefill, {visual} visual + {text} text tokens", prefill_ms))
        grid_features = features.view(t, merged, merged, -1)
        times = [float(i) for i in range(t)]
        rows += _compressors(grid_features, times, args.repeats)
        rows += _divprune_loop(grid_features, args.repeats)
        rows += _tower_attention(model, {"pixel_values_videos": pixels, "video_grid_thw": grid}, args.repeats)
        rows += _fastv(model, embeds, positions, visual, args.repeats, prefill_ms)
    rows += _samplers(args.repeats)
    device = torch.cuda.get_device_name()
    print(f"\n{device}, torch {torch.__version__}; {args.frames} frames at {args.side}x{args.side}: {visual} visual tokens\n")
    print("| method | ms | share of the prefill |")
    print("| --- | ---: | ---: |")
    for name, ms in rows:
        print(f"| {name} | {ms:.3f} | {100 * ms / prefill_ms:.2f}% |")


def _compressors(features, times, repeats: int) -> list[tuple[str, float]]:
    from mmhay.compression import COMPRESSORS, compress

    per = features.shape[1] * features.shape[2]
    specs = [
        "evs_prune:q=0.75",
        f"tome:target={per // 4}",
        "divprune:ratio=0.25",
        "divprune:ratio=0.25,scope=frame",
        f"visionzip:dominant={per // 4 - per // 32},contextual={per // 32}",
    ]
    rows = []
    for spec in specs:
        name = spec.split(":")[0]
        if name not in COMPRESSORS.names():
            continue
        extra = {}
        if COMPRESSORS.get(name).meta.get("needs"):
            import torch

            extra = {"attention": torch.rand(features.shape[:3], device=features.device)}
        rows.append((f"`{spec}` (reference{', Triton' if name in ('evs_prune', 'tome') else ''})", _timed(lambda: compress(spec, features, times, **extra), repeats)))
    return rows


def _divprune_loop(features, repeats: int) -> list[tuple[str, float]]:
    """DivPrune's greedy loop alone (2048 picks of the 8192 tokens), the torch steps against the
    one-launch kernel, on the same distance matrix; and whether they pick the same tokens."""
    try:
        from mmhay.token_selection import _max_min_picks
    except ImportError:
        return []
    import torch

    x = torch.nn.functional.normalize(features.float().reshape(1, -1, features.shape[-1]), dim=-1)
    distance = 1 - x @ x.transpose(1, 2)
    keep = x.shape[1] // 4
    same = torch.equal(_max_min_picks(distance, keep, fused=False), _max_min_picks(distance, keep, fused=True))
    torch_ms = _timed(lambda: _max_min_picks(distance, keep, fused=False), repeats)
    kernel_ms = _timed(lambda: _max_min_picks(distance, keep, fused=True), repeats)
    return [
        (f"DivPrune greedy loop, {keep} of {x.shape[1]}: torch steps", torch_ms),
        (f"DivPrune greedy loop: one-launch kernel ({torch_ms / kernel_ms:.1f}x the torch steps; same picks: {same})", kernel_ms),
    ]


def _tower_attention(model, inputs: dict, repeats: int) -> list[tuple[str, float]]:
    """VisionZip's input: the attention received at the tower's last block (a second pass of the tower)."""
    try:
        from mmhay.adapters.tower_attention import tower_attention
    except ImportError:
        return []
    return [("tower attention capture for `visionzip` (a second tower pass)", _timed(lambda: tower_attention(model, inputs), repeats))]


def _fastv(model, embeds, positions, visual: int, repeats: int, prefill_ms: float) -> list[tuple[str, float]]:
    try:
        from mmhay.adapters import fastv
    except ImportError:
        return []
    rows = []
    if hasattr(fastv, "benchmark_prefill"):
        rows.append(("prefill with FastV K=2 R=0.5", _timed(lambda: fastv.benchmark_prefill(model, embeds, positions, range(visual), k=2, r=0.5), repeats)))
    if hasattr(fastv, "fastv_keep"):
        import torch

        row = torch.rand(embeds.shape[1], device="cuda")
        rows.append(("FastV selection alone (top-k of one attention row)", _timed(lambda: fastv.fastv_keep(row, torch.arange(visual, device="cuda"), visual // 2), repeats)))
    return rows


def _samplers(repeats: int) -> list[tuple[str, float]]:
    import numpy as np

    try:
        from mmhay import query_sampling
    except ImportError:
        return []
    relevance = np.random.default_rng(0).random(3600)
    rows = []
    for name in ("inverse_transform_picks", "adaptive_split_picks"):
        select = getattr(query_sampling, name, None)
        if select is not None:
            rows.append((f"`{name}` over 3600 1-fps scores, 64 frames (CPU)", _cpu_timed(lambda select=select: select(relevance, 64), repeats)))
    return rows


if __name__ == "__main__":
    main()
