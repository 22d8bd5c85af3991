"""Tiny InternVL checkpoints (the transformers-native ``InternVLForConditionalGeneration``)."""

from __future__ import annotations

from pathlib import Path

from mmhay.adapters.tiny.common import SPECIAL_TOKENS, TINY_DECODER, byte_level_tokenizer, decoder_token_ids, save_checkpoint

__all__ = ["internvl"]

# The processor finds its media tokens by these names on the tokenizer.
_MEDIA_TOKENS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}

# Weights wider than transformers' 0.02, so that noise answers still depend on the pixels and the prompt.
_WIDE_INIT = 0.3

# The chat format of the InternVL3 "-hf" checkpoints, written for these tiny checkpoints: the processor
# expands "<IMG_CONTEXT>" into "<img>" + context tokens + "</img>" and "<video>" into one such line per frame.
_INTERNVL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<IMG_CONTEXT>\n"
    "{% elif part['type'] == 'video' %}<video>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def internvl(out: Path, seed: int) -> None:
    """InternVL3-style: a 64-pixel tile of 16-pixel patches, pixel-shuffled to 4 tokens a tile (and a frame).

    Images are tiled as the real processor tiles them (frames no larger than a tile stay one tile); video
    frames are each resized to one tile and are never sampled unless the caller asks.
    """
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
        PreTrainedTokenizerFast,
    )

    tile, patch, downsample = 64, 16, 0.5
    tokens_per_tile = int((tile // patch) ** 2 * downsample**2)
    base = byte_level_tokenizer(list(_MEDIA_TOKENS.values()))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=base.backend_tokenizer,
        eos_token=base.eos_token,
        pad_token=base.pad_token,
        extra_special_tokens=_MEDIA_TOKENS,
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS + list(_MEDIA_TOKENS.values())}
    size = {"height": tile, "width": tile}
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(size=size),
        video_processor=InternVLVideoProcessor(size=size),
        tokenizer=tokenizer,
        image_seq_length=tokens_per_tile,
        chat_template=_INTERNVL_CHAT_TEMPLATE,
    )
    config = InternVLConfig(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "initializer_range": _WIDE_INIT,
            "image_size": tile,
            "patch_size": patch,
        },
        text_config={
            "model_type": "qwen2",
            **TINY_DECODER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 4096,
            "initializer_range": _WIDE_INIT,
            **decoder_token_ids(ids),
        },
        image_token_id=ids["<IMG_CONTEXT>"],
        image_seq_length=tokens_per_tile,
        downsample_ratio=downsample,
    )
    save_checkpoint(InternVLForConditionalGeneration, config, processor, ids, out, seed)
