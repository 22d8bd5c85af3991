"""Tiny Qwen2-VL, Qwen2.5-VL, Qwen3-VL and Qwen2-Audio checkpoints."""

from __future__ import annotations

from pathlib import Path

from mmhay.adapters.tiny.common import SPECIAL_TOKENS, TINY_DECODER, byte_level_tokenizer, decoder_token_ids, save_checkpoint

__all__ = ["QWEN_MESSAGES_TEMPLATE", "qwen2_5_vl", "qwen2_audio", "qwen2_vl", "qwen2_vl_processor", "qwen3_vl", "vision_token_ids"]

# The chat format of the Qwen2-VL family, written for these tiny checkpoints: the messages, then
# the assistant's turn opened (a template that reasons opens more: tiny/reasoner.py).
QWEN_MESSAGES_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
)
_QWEN_CHAT_TEMPLATE = QWEN_MESSAGES_TEMPLATE + "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"

# Newer builders draw weights wider than transformers' 0.02: at 0.02 a 32-wide model answers the same
# noise whatever it is shown, and a test could not tell one request's answer from another's.
_WIDE_INIT = 0.3

_AUDIO_TOKENS = ["<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>"]

# The chat format of the Qwen2-Audio family, written for these tiny checkpoints.
_QWEN_AUDIO_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def qwen2_audio(out: Path, seed: int) -> None:
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor, WhisperFeatureExtractor

    tokenizer = byte_level_tokenizer(_AUDIO_TOKENS)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS + _AUDIO_TOKENS}
    # 4-second windows keep the encoder tiny: longer audio is cut, as Whisper cuts at 30 s
    features = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=4)
    processor = Qwen2AudioProcessor(feature_extractor=features, tokenizer=tokenizer, chat_template=_QWEN_AUDIO_TEMPLATE)
    config = Qwen2AudioConfig(
        audio_config={
            "d_model": 32,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "num_mel_bins": 128,
            "max_source_positions": 200,
        },
        text_config={
            "model_type": "qwen2",
            **TINY_DECODER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 2048,
            **decoder_token_ids(ids),
        },
        audio_token_index=ids["<|AUDIO|>"],
    )
    save_checkpoint(Qwen2AudioForConditionalGeneration, config, processor, ids, out, seed)


def qwen2_vl_processor(processor_class, tokenizer, min_pixels: int = 28 * 28 * 4, max_pixels: int = 28 * 28 * 16, chat_template: str = _QWEN_CHAT_TEMPLATE):
    """Qwen2-VL's processors (Qwen2.5-VL shares them): 28-pixel merged patches, so a 64x64 frame
    becomes 56x56, 4 tokens, and a video spends 4 tokens per 2 frames; each picture or frame is
    resized to between ``min_pixels`` and ``max_pixels``."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = {"min_pixels": min_pixels, "max_pixels": max_pixels}
    video_options = dict(pixels)
    if hasattr(Qwen2VLVideoProcessor, "cap_pixels_per_frame"):
        video_options["cap_pixels_per_frame"] = True
    return processor_class(
        image_processor=Qwen2VLImageProcessor(**pixels),
        video_processor=Qwen2VLVideoProcessor(**video_options),
        tokenizer=tokenizer,
        chat_template=chat_template,
    )


def vision_token_ids(ids: dict[str, int]) -> dict[str, int]:
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }


def qwen2_vl(out: Path, seed: int) -> None:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    tokenizer = byte_level_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    processor = qwen2_vl_processor(Qwen2VLProcessor, tokenizer)
    config = Qwen2VLConfig(
        text_config={
            **TINY_DECODER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            **decoder_token_ids(ids),
        },
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 32,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        **vision_token_ids(ids),
    )
    save_checkpoint(Qwen2VLForConditionalGeneration, config, processor, ids, out, seed)


def qwen2_5_vl(out: Path, seed: int) -> None:
    """Qwen2.5-VL: Qwen2-VL's processors and chat format, a windowed vision tower, video time in M-RoPE."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    tokenizer = byte_level_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    processor = qwen2_vl_processor(Qwen2_5_VLProcessor, tokenizer)
    config = Qwen2_5_VLConfig(
        text_config={
            **TINY_DECODER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 4096,
            "initializer_range": _WIDE_INIT,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            **decoder_token_ids(ids),
        },
        vision_config={
            "depth": 2,
            "initializer_range": _WIDE_INIT,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [1],  # one windowed layer, one full, as the real tower alternates
            "tokens_per_second": 2,
        },
        **vision_token_ids(ids),
    )
    save_checkpoint(Qwen2_5_VLForConditionalGeneration, config, processor, ids, out, seed)


def qwen3_vl(out: Path, seed: int) -> None:
    """Qwen3-VL: 16-pixel patches, deepstack features, and a ``<t seconds>`` text stamp before each frame pair.

    The stamps come from the ``video_metadata`` passed to the processor (``frames_indices / fps``, averaged
    over each pair of frames); without it the processor assumes 24 fps. Its video processor samples frames
    at 2 fps unless called with ``do_sample_frames=False``, as the real checkpoints' does.
    """
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    tokenizer = byte_level_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    half = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
    # 32-pixel merged patches: a 64x64 frame stays 64x64, 4 tokens; a video spends 4 tokens per 2 frames.
    # A video frame is capped at 128x128 (16 tokens a pair), and a video at 64 such frames before frames shrink.
    image_processor = Qwen2VLImageProcessor(patch_size=16, min_pixels=32 * 32 * 4, max_pixels=32 * 32 * 16, **half)
    video_options = {"size": {"shortest_edge": 32 * 32 * 2, "longest_edge": 32 * 32 * 16 * 64}, **half}
    if hasattr(Qwen3VLVideoProcessor, "cap_pixels_per_frame"):
        video_options.update(cap_pixels_per_frame=True, max_video_tokens=16)
    processor = Qwen3VLProcessor(
        image_processor=image_processor,
        video_processor=Qwen3VLVideoProcessor(**video_options),
        tokenizer=tokenizer,
        chat_template=_QWEN_CHAT_TEMPLATE,
    )
    config = Qwen3VLConfig(
        text_config={
            **TINY_DECODER,
            "vocab_size": len(tokenizer),
            "head_dim": 16,
            "max_position_embeddings": 4096,
            "initializer_range": _WIDE_INIT,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 3, 3],
                "mrope_interleaved": True,
            },
            **decoder_token_ids(ids),
        },
        vision_config={
            "depth": 2,
            "initializer_range": _WIDE_INIT,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,  # an 8x8 grid of learned positions, interpolated to each frame
            "deepstack_visual_indexes": [0],
        },
        **vision_token_ids(ids),
    )
    save_checkpoint(Qwen3VLForConditionalGeneration, config, processor, ids, out, seed)
