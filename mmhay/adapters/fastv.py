"""FastV: visual tokens pruned inside the language model after layer K, by the attention the prompt's last token gives them at layer K-1.

``--compress fastv:k=2,r=0.5``: the language model reads every token in layers ``0..K-1``; at layer
K-1 the last prompt token's attention (softmax, mean over heads) ranks the visual tokens, and from
layer K on only the top ``round((1-R)*V)`` of the V visual tokens remain, in their original order
and at their original positions (rotary positions are not renumbered). Text tokens are never pruned.

Provenance: Chen et al., "An Image is Worth 1/2 Tokens After Layer 2" (ECCV 2024),
pkunlp-icler/FastV@d165972, ``src/transformers/src/transformers/models/llama/modeling_llama.py``
(``LlamaModel.forward``, the ``USE_FAST_V`` branches) and its KV-cache port
``src/FastV/llava-hf/transformers/src/transformers/models/llama/modeling_llama.py::fastv_forward``
(keep count ``round(V*(1-R))``, ``K > 0``). Where mmhay differs:

* the KV-cache variant: the selection is made once, in the prefill, and every generated token
  attends to the same kept tokens in layers >= K (the original without cache re-ranks at every
  step with the newest token, its ``inplace`` variant drops the tokens from the hidden states as
  here, the other masks them);
* ties in the ranking go to the earlier token (``torch.topk`` leaves them unspecified);
* batches: the original takes row 0's ranking for the whole batch. mmhay ranks each row by its own
  last token (left padding masked) and drops each row's own tokens; the rows must drop equally many,
  so ``HFModel`` batches FastV requests with those of the same frame shape only;
* ``--scoring likelihood`` is refused: its options follow the prompt, and their last token would
  steer the ranking;
* LLaVA-OneVision's newline token after each video is kept, as mmhay's other compressors keep it.

How it patches (``pruning_inside``; everything is restored when the call ends): the text config's
attention implementation is switched, through ``set_attn_implementation``, to one registered in
transformers' ``AttentionInterface`` (with its mask format in ``AttentionMaskInterface``) that
calls the model's own (eager or sdpa) and, at layer K-1 in the prefill, also computes the last
query's attention; forward pre-hooks (``with_kwargs``) on the decoder layers >= K shorten the
hidden states, the rotary embeddings, position ids and the attention mask, so those layers' cache
holds only the kept tokens and later steps' masks are cut to them. Qwen3-VL adds deepstack
features to the visual positions after its first layers: K must be past them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mmhay.compression import COMPRESSORS, parse_compressor
from mmhay.errors import ConfigError, ModelError

__all__ = ["FAMILIES", "benchmark_prefill", "check_fastv", "fastv", "fastv_generation_inputs", "fastv_keep", "inside_llm", "kept_count", "pruning_inside", "selection_pass"]

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava_onevision")
KEY = "mmhay_fastv"  # where fastv_generation_inputs leaves the pass for pruning_inside to take
_BASES = ("eager", "sdpa")
_SOURCE = "--compress"


def kept_count(visual: int, r: float) -> int:
    """Visual tokens FastV keeps of ``visual`` when it prunes the share ``r`` (FastV's ``round(V*(1-R))``)."""
    return round(visual * (1 - r))


def _check_options(k: int, r: float) -> None:
    if k < 1:
        raise ConfigError(_SOURCE, "k", "FastV ranks by the attention at layer K-1: K must be at least 1", k)
    if not 0 <= r <= 1:
        raise ConfigError(_SOURCE, "r", "the share of visual tokens pruned must be within 0..1", r)


def _fastv_tokens(frames: int, h: int, w: int, k: int = 2, r: float = 0.5) -> int:
    _check_options(k, r)
    return kept_count(frames * h * w, r)


@COMPRESSORS.register("fastv", tokens=_fastv_tokens, inside="llm")
def fastv(features: Any, times: Any, k: int = 2, r: float = 0.5) -> Any:
    """FastV (ECCV'24): drops the share r of visual tokens after language-model layer k by the last token's attention."""
    raise ConfigError(_SOURCE, "", "fastv runs inside the language model, not on features: give it to an hf video model", "fastv")


def inside_llm(spec: str) -> bool:
    """Whether ``spec`` names a compressor that runs inside the language model (not on features)."""
    if not spec:
        return False
    name, _ = parse_compressor(spec)
    return COMPRESSORS.get(name).meta.get("inside") == "llm"


def fastv_keep(attention_row, visual_index, keep: int):
    """The positions of the ``keep`` visual tokens that ``attention_row`` attends to most, ascending.

    ``attention_row`` [L]: one query's attention over the sequence; ``visual_index`` [V] int64: the
    visual tokens' positions in it. Ties go to the earlier visual token.
    """
    import torch

    visual_index = torch.as_tensor(visual_index, dtype=torch.int64, device=attention_row.device)
    if not 0 <= keep <= len(visual_index):
        raise ValueError(f"cannot keep {keep} of {len(visual_index)} visual tokens")
    scores = attention_row[visual_index].float()
    order = torch.sort(-scores, stable=True).indices  # descending, earlier first among equals
    return visual_index[order[:keep]].sort().values


def check_fastv(model, spec: str) -> None:
    """Refuse ``spec`` (a fastv spec) for a model or option it cannot apply to, before anything runs."""
    name, options = parse_compressor(spec)
    k, r = options.get("k", 2), options.get("r", 0.5)
    _check_options(k, r)
    family = model.config.model_type
    if family not in FAMILIES:
        raise ConfigError(_SOURCE, "", f"fastv hooks the language models of {', '.join(FAMILIES)}; this model is {family}", spec)
    text = model.config.get_text_config()
    if text._attn_implementation not in _BASES:
        raise ConfigError(_SOURCE, "", f"fastv wraps eager or sdpa attention; this model runs {text._attn_implementation} (model-args attn_implementation=sdpa)", spec)
    deepstack = len(getattr(model.config.vision_config, "deepstack_visual_indexes", None) or ())
    if k < deepstack:
        raise ConfigError(_SOURCE, "k", f"Qwen3-VL adds deepstack features to the visual tokens after its first {deepstack} layers: K must be at least {deepstack}", k)


@dataclass
class _Pass:
    """One call's FastV state: filled in the prefill by the attention function and the layer-K hook (mutable on purpose)."""

    k: int
    layers: int
    base: str  # the attention implementation wrapped
    visual: list  # per row: int64 positions of the prunable visual tokens
    keep: list[int]  # per row: how many of them stay
    grids: list[tuple[int, int, int]]  # per row: the (F, h, w) grid the visual tokens fill, row-major
    provenance: list[dict]  # per row: mmhay.exposure.Given.tokens, ``kept`` filled by the selection
    length: int = 0  # the prompt's padded length
    attention: Any = None  # [B, L] the last prompt token's attention at layer K-1, mean over heads
    pruned: Any = None  # [B, L] bool: the positions the layers >= K never see
    stop: bool = False  # selection_pass: stop at layer K
    index: Any = None  # ((tokens seen, step length), kept query rows, kept key columns) of the step running


def fastv_generation_inputs(model, inputs: dict, spec: str, frame_times: Sequence[Sequence[float]]) -> tuple[dict, list[int], list[dict]]:
    """``compressed_generation_inputs`` for fastv: the processor's inputs unchanged with the pass
    under ``KEY`` (for ``pruning_inside``), the visual tokens the layers >= K attend to per row, and
    each row's provenance (its ``kept`` list filled when the prefill has ranked the tokens)."""
    import torch

    _, options = parse_compressor(spec)
    k, r = options.get("k", 2), options.get("r", 0.5)
    config = model.config
    family = config.model_type
    qwen = family.startswith("qwen")
    token = config.video_token_id if qwen else config.video_token_index
    text = config.get_text_config()
    layers = text.num_hidden_layers
    visual, keep, grids, provenance, counts = [], [], [], [], []
    grid_thw = inputs["video_grid_thw"].tolist() if qwen else None
    merge = config.vision_config.spatial_merge_size if qwen else 1
    for row in range(inputs["input_ids"].shape[0]):
        where = ((inputs["input_ids"][row] == token) & inputs["attention_mask"][row].bool()).nonzero().flatten()
        if qwen:
            t, h, w = grid_thw[row]
            grid = (t, h // merge, w // merge)
            extra = 0
        else:  # LLaVA-OneVision: F frames of a side x side grid, then its newline token (kept)
            frames = len(frame_times[row])
            side = round(((len(where) - 1) // frames) ** 0.5)
            grid, where, extra = (frames, side, side), where[:-1], 1
        if grid[0] * grid[1] * grid[2] != len(where):
            raise ModelError(f"fastv: {len(where)} video tokens in row {row}, but a {grid} grid")
        visual.append(where)
        keep.append(kept_count(len(where), r) if k < layers else len(where))
        grids.append(grid)
        counts.append(keep[-1] + extra)
        step = config.vision_config.temporal_patch_size if qwen else 1
        provenance.append({"grid": list(grid), "step": int(step), "kept": []})
    state = _Pass(k, layers, text._attn_implementation, visual, keep, grids, provenance, length=int(inputs["input_ids"].shape[1]))
    if k >= layers:  # no layer to prune: every visual token stays
        _record(state, [torch.ones(len(v), dtype=torch.bool) for v in visual])
    return {**inputs, KEY: state}, counts, provenance


def _record(state: _Pass, kept_masks: list) -> None:
    """Each row's provenance from the mask of its kept visual tokens (ordinal i -> frame, row, column)."""
    for row, (mask, (_, h, w)) in enumerate(zip(kept_masks, state.grids)):
        entries = []
        for i in mask.nonzero().flatten().tolist():
            f, y, x = i // (h * w), i % (h * w) // w, i % w
            entries.append([f, f + 1, y, x, y + 1, x + 1])
        state.provenance[row]["kept"] = entries


@contextmanager
def pruning_inside(model, inputs: dict):
    """Run ``model`` with FastV inside, if ``inputs`` carries a pass (``KEY``, taken out of it); else do nothing."""
    state = inputs.pop(KEY, None)
    if state is None or state.k > state.layers:  # K = layers still takes the attention at the last layer, and prunes nowhere
        yield state
        return
    from mmhay.adapters.fastv_hooks import installed

    with installed(model, state):
        yield state


def selection_pass(model, inputs: dict) -> None:
    """Fill the provenance of a FastV pass without generating: the prefill runs up to layer K only."""
    import torch

    from mmhay.adapters.fastv_hooks import Selected

    with pruning_inside(model, inputs) as state:
        if state is None or state.k >= state.layers:
            return
        state.stop = True
        try:
            with torch.inference_mode():
                model(**inputs, use_cache=False)
        except Selected:
            pass


def benchmark_prefill(model, embeds, positions, visual_index, k: int = 2, r: float = 0.5):
    """The language model's prefill over ``embeds`` [1, L, C] at ``positions`` with FastV inside
    (``visual_index``: the prunable positions), no cache: what benchmarks/compression_prefill_share.py times."""
    import torch

    from mmhay.adapters.fastv_hooks import _text_model, installed

    _check_options(k, r)
    text = model.config.get_text_config()
    visual = torch.as_tensor(list(visual_index), dtype=torch.int64, device=embeds.device)
    keep = kept_count(len(visual), r) if k < text.num_hidden_layers else len(visual)
    state = _Pass(k, text.num_hidden_layers, text._attn_implementation, [visual], [keep], [(1, 1, len(visual))], [{}], length=embeds.shape[1])
    with installed(model, state):
        return _text_model(model)(inputs_embeds=embeds, position_ids=positions, use_cache=False)
