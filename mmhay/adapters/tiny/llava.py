"""Tiny LLaVA-OneVision and LLaVA-NeXT-Video checkpoints."""

from __future__ import annotations

from pathlib import Path

from mmhay.adapters.tiny.common import SPECIAL_TOKENS, byte_level_tokenizer, save_checkpoint

__all__ = ["llava_next_video", "llava_onevision"]

_MEDIA_TOKENS = ["<image>", "<video>"]

# The chat format of llava-hf's LLaVA-OneVision (Qwen2) checkpoints, written for these tiny ones:
# a message's pictures come first, then its videos, then its text, whatever order the parts had.
_ONEVISION_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'image') %}<image>{% endfor %}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'video') %}<video>{% endfor %}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}{{ part['text'] }}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# The Vicuna chat format of llava-hf's LLaVA-NeXT-Video checkpoints, written for these tiny ones:
# pictures first, each on its own line, then videos, then the text.
_NEXT_VIDEO_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] + ' ' }}"
    "{% else %}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'image') %}<image>\n{% endfor %}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'video') %}<video>\n{% endfor %}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}{{ part['text'] + ' ' }}{% endfor %}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

# Pictures and frames become 56x56 (4x4 patches of 14); a video frame costs 4 tokens after the 2x2 pooling.
_SIDE = 56
_PATCH = 14
# Anyres tilings a lone picture may get: one tile or two side by side, plus the whole picture shrunk.
_GRID = [[_SIDE, _SIDE], [_SIDE, 2 * _SIDE], [2 * _SIDE, _SIDE]]


def _text_config(model_type: str, vocab_size: int, ids: dict[str, int]) -> dict:
    return {
        "model_type": model_type,
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 4096,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }


def _vision_config(model_type: str) -> dict:
    return {
        "model_type": model_type,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": _SIDE,
        "patch_size": _PATCH,
    }


def llava_onevision(out: Path, seed: int) -> None:
    """LLaVA-OneVision: a SigLIP tower and a Qwen2 language model.

    A video costs 4 ``<video>`` tokens a frame plus one; one of several pictures costs 17 ``<image>``
    tokens; a lone picture is tiled (anyres) and costs at most 56 (36 if square). Frames are never
    sampled unless asked.
    """
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    tokenizer = byte_level_tokenizer(_MEDIA_TOKENS)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS + _MEDIA_TOKENS}
    square = {"height": _SIDE, "width": _SIDE}
    siglip = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=square, image_grid_pinpoints=_GRID, **siglip),
        video_processor=LlavaOnevisionVideoProcessor(size=square, **siglip),
        tokenizer=tokenizer,
        num_image_tokens=(_SIDE // _PATCH) ** 2,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
        chat_template=_ONEVISION_CHAT_TEMPLATE,
    )
    config = LlavaOnevisionConfig(
        vision_config={**_vision_config("siglip_vision_model"), "vision_use_head": False},
        text_config=_text_config("qwen2", len(tokenizer), ids),
        image_token_index=ids["<image>"],
        video_token_index=ids["<video>"],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=_GRID,
        vision_aspect_ratio="anyres_max_9",
    )
    save_checkpoint(LlavaOnevisionForConditionalGeneration, config, processor, ids, out, seed)


def llava_next_video(out: Path, seed: int) -> None:
    """LLaVA-NeXT-Video: a CLIP tower and a Llama language model, in the Vicuna chat format.

    A video costs 4 ``<video>`` tokens a frame; every picture, lone or not, is tiled (anyres) and costs
    at most 56 ``<image>`` tokens (36 if square). Frames are never sampled unless asked.
    """
    from transformers import (
        LlavaNextImageProcessor,
        LlavaNextVideoConfig,
        LlavaNextVideoForConditionalGeneration,
        LlavaNextVideoProcessor,
        LlavaNextVideoVideoProcessor,
    )

    tokenizer = byte_level_tokenizer(_MEDIA_TOKENS)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS + _MEDIA_TOKENS}
    resize = {"size": {"shortest_edge": _SIDE}, "crop_size": {"height": _SIDE, "width": _SIDE}}
    processor = LlavaNextVideoProcessor(
        video_processor=LlavaNextVideoVideoProcessor(**resize),
        image_processor=LlavaNextImageProcessor(image_grid_pinpoints=_GRID, **resize),
        tokenizer=tokenizer,
        patch_size=_PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token
        chat_template=_NEXT_VIDEO_CHAT_TEMPLATE,
    )
    config = LlavaNextVideoConfig(
        vision_config={**_vision_config("clip_vision_model"), "projection_dim": 32},
        text_config=_text_config("llama", len(tokenizer), ids),
        image_token_index=ids["<image>"],
        video_token_index=ids["<video>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_grid_pinpoints=_GRID,
        image_seq_length=(_SIDE // _PATCH) ** 2,
        video_seq_length=(_SIDE // _PATCH) ** 2 // 4,
    )
    save_checkpoint(LlavaNextVideoForConditionalGeneration, config, processor, ids, out, seed)
