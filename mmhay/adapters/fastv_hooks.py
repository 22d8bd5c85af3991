"""FastV's patches on a transformers language model (``mmhay.adapters.fastv``), installed for one call and removed after it.

Two maintained transformers mechanisms, nothing monkeypatched:

* an attention function registered in ``AttentionInterface`` (and the wrapped implementation's mask
  format under the same name in ``AttentionMaskInterface``) that the text config is switched to
  with ``set_attn_implementation``: it calls the model's own eager or sdpa attention unchanged and,
  at layer K-1 of the prefill, also computes the last query's attention (mean over heads);
* forward pre-hooks with kwargs on the decoder layers >= K: at layer K of the prefill they rank the
  visual tokens (``fastv_keep``) and drop the others from the hidden states; on every layer >= K
  they cut the rotary embeddings, position ids and attention mask to the tokens those layers keep.
  Their cache therefore holds only kept tokens, and a later step's mask (sized by layer 0's cache)
  is cut to the kept columns plus the generated ones.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from mmhay.errors import ModelError

__all__ = ["Selected", "installed", "last_query_attention"]

_PASSES: dict[int, object] = {}  # id(text config) -> the running _Pass


class Selected(Exception):
    """Raised at layer K by ``selection_pass``: the ranking is done, the rest of the prefill is not needed."""


def last_query_attention(query, key, attention_mask, scaling: float):
    """The last query's attention over the keys, mean over heads: [B, kv] float32.

    query [B, H, q, D], key [B, H_kv, kv, D] (grouped heads repeated as transformers' ``repeat_kv``
    does), attention_mask as the model passes it: None (causal: the last query sees every key),
    boolean (True attends) or additive, [B|1, 1|H, q, kv].
    """
    import torch

    groups = query.shape[1] // key.shape[1]
    keys = key.repeat_interleave(groups, dim=1).float()
    scores = torch.matmul(query[:, :, -1:].float(), keys.transpose(-1, -2)) * scaling  # [B, H, 1, kv]
    if attention_mask is not None:
        mask = attention_mask[..., -1:, : keys.shape[-2]]
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask.float()
    return torch.softmax(scores, dim=-1).mean(dim=1)[:, 0]


def _attention(module, query, key, value, attention_mask, **kwargs):
    state = _PASSES[id(module.config)]
    if module.layer_idx == state.k - 1 and state.attention is None:
        state.attention = last_query_attention(query, key, attention_mask, kwargs.get("scaling") or query.shape[-1] ** -0.5)
    return _base_function(module, state.base)(module, query, key, value, attention_mask, **kwargs)


def _base_function(module, base: str):
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if base == "eager":  # each modeling file has its own eager function
        return sys.modules[type(module).__module__].eager_attention_forward
    return ALL_ATTENTION_FUNCTIONS[base]


def _register(base: str) -> str:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    name = f"mmhay_fastv_{base}"
    AttentionInterface.register(name, _attention)
    AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[base])
    return name


def _text_model(model):
    inner = getattr(model, "model", model)
    return getattr(inner, "language_model", inner)


@contextmanager
def installed(model, state):
    """``model`` with the FastV attention function and layer hooks of ``state``, for the block."""
    text = _text_model(model)
    key = id(text.config)
    _PASSES[key] = state
    handles = []
    try:
        model.set_attn_implementation({"text_config": _register(state.base)})
        handles = [layer.register_forward_pre_hook(_pruning_hook(state), with_kwargs=True) for layer in text.layers[state.k :]]
        yield state
    finally:
        for handle in handles:
            handle.remove()
        model.set_attn_implementation({"text_config": state.base})
        del _PASSES[key]


def _pruning_hook(state):
    def hook(layer, args, kwargs):
        import torch

        if state.pruned is None:
            if state.attention is None:
                raise ModelError("fastv: the layers after K ran before the last token's attention at layer K-1 was taken")
            state.pruned = _select(state)
            if state.stop:
                raise Selected
        cos = kwargs["position_embeddings"][0]
        q = cos.shape[-2]
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        seen = cache.get_seq_length(0) if cache is not None else q  # layer 0 has taken this step's tokens already
        if state.index is None or state.index[0] != (seen, q):  # once per step, not per layer (nonzero waits for the device)
            queries = _kept(state.pruned, seen - q, seen) if seen - q < state.length else None  # None: only generated tokens
            state.index = ((seen, q), queries, None)
        _, queries, keys = state.index
        hidden = args[0] if args else kwargs["hidden_states"]
        kwargs = dict(kwargs)
        if queries is not None:
            if hidden.shape[1] == q:  # layer K of a pass over the prompt: drop the pruned rows
                hidden = _gather(hidden, queries, 1)
            kwargs["position_embeddings"] = tuple(_gather(t, queries, t.dim() - 2) for t in kwargs["position_embeddings"])
            if kwargs.get("position_ids") is not None:
                kwargs["position_ids"] = _gather(kwargs["position_ids"], queries, kwargs["position_ids"].dim() - 1)
        mask = kwargs.get("attention_mask")
        if isinstance(mask, torch.Tensor):  # sdpa without padding passes none
            if keys is None:
                keys = _kept(state.pruned, 0, seen)
                state.index = ((seen, q), queries, keys)
            if mask.dim() == 4 and mask.shape[-2] == q and queries is not None:
                mask = _gather(mask, queries, 2, batch_dim=0)
            kwargs["attention_mask"] = _gather(mask, keys, mask.dim() - 1, batch_dim=0)
        if args:
            return (hidden, *args[1:]), kwargs
        kwargs["hidden_states"] = hidden
        return args, kwargs

    return hook


def _select(state):
    """[B, L] bool: the visual tokens each row drops, from the last token's attention at layer K-1."""
    import torch

    from mmhay.adapters.fastv import _record, fastv_keep

    attention = state.attention
    pruned = torch.zeros(attention.shape[0], state.length, dtype=torch.bool, device=attention.device)
    copies = attention.shape[0] // len(state.visual)  # generate repeats each row for beams or samples (repeat_interleave)
    kept_masks = []
    for row in range(attention.shape[0]):
        visual, keep = state.visual[row // copies].to(attention.device), state.keep[row // copies]
        kept = fastv_keep(attention[row], visual, keep)
        pruned[row, visual] = True
        pruned[row, kept] = False
        if row % copies == 0:  # copies of a row rank alike: its first gives the provenance
            kept_masks.append(~pruned[row, visual].cpu())
    _record(state, kept_masks)
    return pruned


def _kept(pruned, start: int, stop: int):
    """[B, n] int64: the positions start..stop-1, less the pruned ones, relative to start."""
    import torch

    length = pruned.shape[1]
    span = torch.zeros(pruned.shape[0], stop - start, dtype=torch.bool, device=pruned.device)
    lo, hi = max(start, 0), min(stop, length)
    if lo < hi:
        span[:, lo - start : hi - start] = pruned[:, lo:hi]
    counts = (~span).sum(1)
    if bool((counts != counts[0]).any()):
        raise ModelError("fastv: the rows of a batch keep different numbers of tokens; run them one at a time")
    return (~span).nonzero()[:, 1].view(pruned.shape[0], -1)


def _gather(tensor, index, dim: int, batch_dim: int | None = None):
    """``tensor`` taken at ``index`` [B, n] along ``dim``, per row of its ``batch_dim`` (default: the one before ``dim``; size B or 1)."""
    batch_dim = dim - 1 if batch_dim is None else batch_dim
    rows = index.shape[0]
    if tensor.shape[batch_dim] != rows:
        tensor = tensor.expand(*tensor.shape[:batch_dim], rows, *tensor.shape[batch_dim + 1 :])
    shape = [1] * tensor.dim()
    shape[batch_dim], shape[dim] = rows, index.shape[1]
    expanded = index.to(tensor.device).view(shape).expand(*tensor.shape[:dim], index.shape[1], *tensor.shape[dim + 1 :])
    return tensor.gather(dim, expanded)
