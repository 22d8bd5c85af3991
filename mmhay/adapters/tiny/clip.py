"""A tiny random-weight CLIP: the relevance scorer of query-aware samplers (``keyclip``), offline."""

from __future__ import annotations

from pathlib import Path

from mmhay.adapters.tiny.common import byte_level_tokenizer, save_checkpoint

__all__ = ["clip"]


def clip(out: Path, seed: int) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer = byte_level_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in ("<|im_end|>", "<|endoftext|>")}
    layers = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    text = {**layers, "vocab_size": len(tokenizer), "max_position_embeddings": 128, "pad_token_id": ids["<|endoftext|>"], "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"]}
    config = CLIPConfig(text_config=text, vision_config={**layers, "image_size": 32, "patch_size": 8}, projection_dim=16)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}), tokenizer=tokenizer)
    save_checkpoint(CLIPModel, config, processor, ids, out, seed)
