"""Tiny SmolVLM2 checkpoints."""

from __future__ import annotations

from pathlib import Path

from mmhay.adapters.tiny.common import SPECIAL_TOKENS, TINY_DECODER, byte_level_tokenizer, save_checkpoint

__all__ = ["smolvlm2"]

# The placeholders SmolVLMProcessor expands and wraps each picture in; the row tokens are for a 2x2 split.
_SMOLVLM_TOKENS = [
    "<end_of_utterance>",
    "<image>",
    "<video>",
    "<fake_token_around_image>",
    "<global-img>",
    "<row_1_col_1>",
    "<row_1_col_2>",
    "<row_2_col_1>",
    "<row_2_col_2>",
]

# The chat format of SmolVLM2, as its checkpoints ship it (and as SmolVLMProcessor falls back to for
# a video), with plain-string content accepted too.
_SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}: {{ message['content'] }}"
    "{% else %}{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}"
    "{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}"
    "{% elif line['type'] == 'video' %}{{ '<video>' }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# A 32x32 picture in 8x8 patches, pixel-shuffled by 2: 4 <image> tokens for each picture or frame.
_PICTURE_SIDE = 32
_PATCH = 8
_SCALE_FACTOR = 2


def smolvlm2(out: Path, seed: int) -> None:
    """SmolVLMForConditionalGeneration with a video processor; needs the ``num2words`` package.

    Pictures and frames are squashed to 32x32 and never split, so each costs 4 ``<image>`` tokens
    between ``<fake_token_around_image><global-img>`` and ``<fake_token_around_image>``.
    """
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    tokenizer = byte_level_tokenizer(_SMOLVLM_TOKENS)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS + _SMOLVLM_TOKENS}
    side = {"longest_edge": _PICTURE_SIDE}
    image_seq_len = (_PICTURE_SIDE // _PATCH) ** 2 // _SCALE_FACTOR**2
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(size=side, max_image_size=side, do_image_splitting=False),
        # frames are taken as given (do_sample_frames=False), at most 64 of them when sampling is asked for
        video_processor=SmolVLMVideoProcessor(
            size=side,
            max_image_size=side,
            do_sample_frames=False,
            video_sampling={"max_frames": 64, "fps": 1, "video_size": side},
        ),
        tokenizer=tokenizer,
        image_seq_len=image_seq_len,
        chat_template=_SMOLVLM_CHAT_TEMPLATE,
    )
    config = SmolVLMConfig(
        text_config={
            "model_type": "llama",
            **TINY_DECODER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5,
            "bos_token_id": ids["<|im_start|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": _PICTURE_SIDE,
            "patch_size": _PATCH,
        },
        scale_factor=_SCALE_FACTOR,
        image_token_id=ids["<image>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    save_checkpoint(SmolVLMForConditionalGeneration, config, processor, ids, out, seed)
