"""Tiny Gemma 3 checkpoints."""

from __future__ import annotations

from pathlib import Path

from mmhay.adapters.tiny.common import SPECIAL_TOKENS, TINY_DECODER, byte_level_tokenizer, save_checkpoint

__all__ = ["gemma3"]

_GEMMA_TOKENS = ["<bos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>", "<image_soft_token>"]

# The chat format of Gemma 3, written for these tiny checkpoints: a picture is "<start_of_image>",
# which Gemma3Processor expands to "\n\n<start_of_image>" + "<image_soft_token>" * 4 + "<end_of_image>\n\n".
_GEMMA_CHAT_TEMPLATE = (
    "<bos>{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n"
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<start_of_image>"
    "{% elif part['type'] == 'text' %}{{ part['text'] | trim }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

# A 32x32 picture in 8x8 patches, average-pooled 2x2: 4 <image_soft_token> for each picture.
_PICTURE_SIDE = 32
_PATCH = 8
_TOKENS_PER_PICTURE = 4


def gemma3(out: Path, seed: int) -> None:
    """Gemma3ForConditionalGeneration; it has no video processor, so frames go in as a list of pictures."""
    from transformers import Gemma3Config, Gemma3ImageProcessor, Gemma3Processor, PreTrainedTokenizerFast

    trained = byte_level_tokenizer(_GEMMA_TOKENS)
    # Gemma3Processor finds its picture tokens by name on the tokenizer
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=trained.backend_tokenizer,
        bos_token="<bos>",
        eos_token=trained.eos_token,
        pad_token=trained.pad_token,
        extra_special_tokens={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"},
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS + _GEMMA_TOKENS}
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessor(size={"height": _PICTURE_SIDE, "width": _PICTURE_SIDE}),
        tokenizer=tokenizer,
        image_seq_length=_TOKENS_PER_PICTURE,
        chat_template=_GEMMA_CHAT_TEMPLATE,
    )
    config = Gemma3Config(
        text_config={
            **TINY_DECODER,
            "vocab_size": len(tokenizer),
            "head_dim": 16,
            "query_pre_attn_scalar": 16,
            "layer_types": ["sliding_attention", "full_attention"],
            "sliding_window": 512,
            "max_position_embeddings": 4096,
            "bos_token_id": ids["<bos>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": _PICTURE_SIDE,
            "patch_size": _PATCH,
            "vision_use_head": False,
        },
        mm_tokens_per_image=_TOKENS_PER_PICTURE,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
    )
    save_checkpoint(_gemma3_model, config, processor, ids, out, seed)


def _gemma3_model(config):
    """Gemma3ForConditionalGeneration whose picture projection is random, not the zeros it starts with.

    With zeros every picture embeds as the same vector and the answers could not depend on the frames.
    """
    import torch
    from transformers import Gemma3ForConditionalGeneration

    model = Gemma3ForConditionalGeneration(config)
    with torch.no_grad():
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(0.0, config.initializer_range)
    return model
