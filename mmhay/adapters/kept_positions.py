"""The prompt of a compressed video: its placeholder runs resized to the kept tokens, and the
position ids that give each kept token the position of its origin in the uncompressed prompt.

``--compress`` (``mmhay.adapters.token_compression``) keeps some of a video's visual tokens. The
prompt then holds one placeholder per kept token, in the runs the processor made (Qwen3-VL makes
one run per temporal patch, between ``<t seconds>`` stamps; the others one per video), and its
text as the processor wrote it. ``origin_position_ids`` computes the uncompressed prompt's
positions with the model's own rule (Qwen-VL's ``get_rope_index`` M-RoPE, or 1-D positions) and
selects them at the kept places: each text token keeps its position, each kept visual token gets
its origin's. Generation continues from the last prompt token's position + 1, as it does
uncompressed. vLLM's EVS (vllm-project/vllm@094f117, ``vllm/multimodal/evs.py::
recompute_mrope_positions``) also gives the kept tokens their full grid's M-RoPE positions; it
differs after the video, restarting the text at the video's start + its merged width, where mmhay
keeps the model's own uncompressed text positions (transformers 5.24's ``get_rope_index`` puts
that text at the start + the larger merged side).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["origin_position_ids", "with_placeholder_runs"]


def with_placeholder_runs(inputs: dict, token: int, runs: Sequence[Sequence[int]], pad: int, types_key: str = "mm_token_type_ids"):
    """input_ids, attention_mask and the token types (``inputs[types_key]``: Qwen-VL's
    mm_token_type_ids, Gemma 3's token_type_ids; zeros where absent) with row r's k-th run of
    ``token`` placeholders resized to ``runs[r][k]`` (0 leaves the text around it), padded on the
    left again."""
    import torch

    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    types = inputs.get(types_key)
    rows = []
    for row in range(ids.shape[0]):
        keep = mask[row].bool()
        row_ids = ids[row][keep]
        row_types = types[row][keep] if types is not None else torch.zeros_like(row_ids)
        starts, ends = _runs(row_ids == token)
        if len(starts) != len(runs[row]):
            raise ValueError(f"row {row}: {len(starts)} placeholder runs for {len(runs[row])} counts")
        pieces_ids, pieces_types, at = [], [], 0
        for start, end, count in zip(starts, ends, runs[row]):
            pieces_ids += [row_ids[at:start], row_ids.new_full((count,), token)]
            pieces_types += [row_types[at:start], row_types.new_full((count,), int(row_types[start]))]
            at = end
        rows.append((torch.cat([*pieces_ids, row_ids[at:]]), torch.cat([*pieces_types, row_types[at:]])))
    width = max(len(r) for r, _ in rows)
    new_ids = torch.full((len(rows), width), pad, dtype=ids.dtype, device=ids.device)
    new_mask = torch.zeros((len(rows), width), dtype=mask.dtype, device=ids.device)
    new_types = torch.zeros((len(rows), width), dtype=rows[0][1].dtype, device=ids.device)
    for i, (row_ids, row_types) in enumerate(rows):
        new_ids[i, width - len(row_ids) :] = row_ids
        new_mask[i, width - len(row_ids) :] = 1
        new_types[i, width - len(row_ids) :] = row_types
    return new_ids, new_mask, new_types


def _runs(is_token) -> tuple[list[int], list[int]]:
    """Starts and ends (half-open) of the runs of True in a 1-D bool tensor."""
    import torch

    edges = torch.diff(is_token.int(), prepend=is_token.new_zeros(1).int(), append=is_token.new_zeros(1).int())
    return (edges == 1).nonzero().flatten().tolist(), (edges == -1).nonzero().flatten().tolist()


def origin_position_ids(model, inputs: dict, token: int, compressed_ids, compressed_mask, kept: Sequence[Any]):
    """Position ids for ``generate`` on the compressed prompt (``compressed_ids``, left-padded):
    its text tokens at their uncompressed positions, and its visual placeholders, in order, at the
    positions of the uncompressed visual tokens ``kept[row]`` (indices into the row's visual
    tokens in prompt order). Qwen-VL: ``[4, B, L]`` as its generation prepares them (row 0 the
    text positions the attention mask implies, rows 1-3 the M-RoPE ones); others ``[B, L]``."""
    import torch

    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    mrope = hasattr(model.model, "get_rope_index")
    if mrope:
        extra = {"second_per_grid_ts": inputs["second_per_grid_ts"]} if "second_per_grid_ts" in inputs else {}
        full, _ = model.model.get_rope_index(
            ids, inputs["mm_token_type_ids"], video_grid_thw=inputs["video_grid_thw"], attention_mask=mask, **extra
        )
    else:
        full = _text_positions(mask)[None]
    out = full.new_zeros(full.shape[0], *compressed_ids.shape)
    for row in range(ids.shape[0]):
        old, new = mask[row].bool(), compressed_mask[row].bool()
        positions = full[:, row, old]
        was_visual, is_visual = ids[row, old] == token, compressed_ids[row, new] == token
        row_out = positions.new_empty(positions.shape[0], int(new.sum()))
        row_out[:, is_visual] = positions[:, was_visual][:, torch.as_tensor(kept[row], device=positions.device)]
        row_out[:, ~is_visual] = positions[:, ~was_visual]
        out[:, row, new] = row_out
    return torch.cat([_text_positions(compressed_mask)[None], out]) if mrope else out[0]


def _text_positions(mask):
    """0, 1, 2, ... over the unmasked tokens, 0 at padding (transformers' generation default)."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
