"""Tiny Qwen2.5-Omni and Qwen3-Omni checkpoints: a thinker that sees and hears, saved whole.

Each is saved as the whole omni model (``model_type`` qwen2_5_omni, qwen3_omni_moe) with audio
output off, so it holds only the thinker, and loads as a user's omni checkpoint does: its thinker
alone (``mmhay.adapters.audio_visual.thinker_config``).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from mmhay.adapters.tiny.common import SPECIAL_TOKENS, TINY_DECODER, byte_level_tokenizer, decoder_token_ids, save_checkpoint

__all__ = ["qwen2_5_omni", "qwen3_omni"]

# Qwen2.5-Omni's names for its media tokens, as the processor finds them on the tokenizer.
_QWEN25_TOKENS = {
    "image_token": "<|IMAGE|>",
    "audio_token": "<|AUDIO|>",
    "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
}
# Qwen3-Omni's: Qwen3-VL's vision tokens and pads for sound.
_QWEN3_TOKENS = {
    "image_token": "<|image_pad|>",
    "audio_token": "<|audio_pad|>",
    "video_token": "<|video_pad|>",
    "vision_bos_token": "<|vision_start|>",
    "vision_eos_token": "<|vision_end|>",
    "audio_bos_token": "<|audio_start|>",
    "audio_eos_token": "<|audio_end|>",
}

# A 10-second window of sound (longer is cut, as Whisper cuts at its window): 250 tokens of 40 ms
# for Qwen2.5-Omni, 130 of Qwen3-Omni's 77 ms.
_SOUND_SECONDS = 10
# the audio tower both families share, at its smallest (Qwen3-Omni's adds its downsampling)
_AUDIO_TOWER = {
    "d_model": 32,
    "encoder_layers": 1,
    "encoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "max_source_positions": 100 * _SOUND_SECONDS,
    "n_window": 50,
    "output_dim": 32,
}


def _chat_template(names: dict[str, str]) -> str:
    """The Qwen chat format with a picture, a video and a recording each between its markers."""
    picture = f"{names['vision_bos_token']}{names['image_token']}{names['vision_eos_token']}"
    video = f"{names['vision_bos_token']}{names['video_token']}{names['vision_eos_token']}"
    sound = f"{names['audio_bos_token']}{names['audio_token']}{names['audio_eos_token']}"
    return (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for part in message['content'] %}"
        f"{{% if part['type'] == 'image' %}}{picture}"
        f"{{% elif part['type'] == 'video' %}}{video}"
        f"{{% elif part['type'] == 'audio' %}}{sound}"
        "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


def _processor(processor_class, names: dict[str, str], patch: int):
    """The omni processor over a byte-level tokenizer that names its media tokens; frames and
    pictures of 4 to 16 merged patches (a 64x48 frame: 4 tokens a pair of frames)."""
    from transformers import PreTrainedTokenizerFast, Qwen2VLImageProcessor, Qwen2VLVideoProcessor, WhisperFeatureExtractor

    trained = byte_level_tokenizer(list(dict.fromkeys(names.values())))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=trained.backend_tokenizer, eos_token=trained.eos_token, pad_token=trained.pad_token, extra_special_tokens=names
    )
    merged = (2 * patch) ** 2
    pixels = {"patch_size": patch, "min_pixels": merged * 4, "max_pixels": merged * 16}
    video = Qwen2VLVideoProcessor(patch_size=patch)  # its frame sizes are the omni processor's own (128 to 768 merged patches)
    features = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=_SOUND_SECONDS)
    processor = processor_class(
        image_processor=Qwen2VLImageProcessor(**pixels),
        video_processor=video,
        feature_extractor=features,
        tokenizer=tokenizer,
        chat_template=_chat_template(names),
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS + list(names.values())}
    return processor, tokenizer, ids


def _media_ids(names: dict[str, str], ids: dict[str, int], suffix: str = "_id") -> dict[str, int]:
    """The thinker's ids of its media tokens (Qwen2.5-Omni names the placeholders' ``..._index``)."""
    return {
        f"audio_token{suffix}": ids[names["audio_token"]],
        f"image_token{suffix}": ids[names["image_token"]],
        f"video_token{suffix}": ids[names["video_token"]],
        "audio_start_token_id": ids[names["audio_bos_token"]],
        "vision_start_token_id": ids[names["vision_bos_token"]],
        "user_token_id": ids["<|im_start|>"],
    }


def qwen2_5_omni(out: Path, seed: int) -> None:
    """Qwen2.5-Omni: Qwen2.5-VL's windowed vision tower, a Whisper-style audio tower, TMRoPE."""
    from transformers import Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration, Qwen2_5OmniProcessor

    processor, tokenizer, ids = _processor(Qwen2_5OmniProcessor, _QWEN25_TOKENS, patch=14)
    thinker = {
        "audio_config": _AUDIO_TOWER,
        "vision_config": {
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "window_size": 56,
            "fullatt_block_indexes": [0],
        },
        "text_config": {
            **TINY_DECODER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            **decoder_token_ids(ids),
        },
        **_media_ids(_QWEN25_TOKENS, ids, suffix="_index"),
        "audio_end_token_id": ids[_QWEN25_TOKENS["audio_eos_token"]],
        "initializer_range": 0.3,  # wide enough that a 32-wide model's answer depends on what it is given
    }
    config = Qwen2_5OmniConfig(thinker_config=thinker, talker_config=_quiet_talker(ids), enable_audio_output=False)
    with _warnings_off():  # saving diffs against a default talker, whose token ids transformers finds out of range
        save_checkpoint(Qwen2_5OmniForConditionalGeneration, config, processor, ids, out, seed)


def qwen3_omni(out: Path, seed: int) -> None:
    """Qwen3-Omni: a mixture-of-experts thinker (4 experts, 2 a token), Qwen3-VL's vision tower with
    deepstack, an audio tower that downsamples by 8 (13 tokens a second)."""
    from transformers import Qwen3OmniMoeConfig, Qwen3OmniMoeForConditionalGeneration, Qwen3OmniMoeProcessor

    processor, tokenizer, ids = _processor(Qwen3OmniMoeProcessor, _QWEN3_TOKENS, patch=16)
    thinker = {
        "audio_config": {**_AUDIO_TOWER, "n_window_infer": 100, "downsample_hidden_size": 16},
        "vision_config": {
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        "text_config": {
            **TINY_DECODER,
            "vocab_size": len(tokenizer),
            "head_dim": 16,
            "moe_intermediate_size": 32,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3], "mrope_interleaved": True},
            **decoder_token_ids(ids),
        },
        **_media_ids(_QWEN3_TOKENS, ids),
        "position_id_per_seconds": 13,  # the processor's: one position per audio token
        "initializer_range": 0.3,
    }
    config = Qwen3OmniMoeConfig(thinker_config=thinker, enable_audio_output=False)
    save_checkpoint(Qwen3OmniMoeForConditionalGeneration, config, processor, ids, out, seed)


def _quiet_talker(ids: dict[str, int]) -> dict:
    """A talker config (never built: audio output is off) whose token ids are the tiny
    vocabulary's, so that loading the checkpoint warns of none out of range."""
    return {
        "vocab_size": max(ids.values()) + 1,
        "tts_text_start_token_id": ids["<|im_start|>"],
        "tts_text_end_token_id": ids["<|im_end|>"],
        "tts_text_pad_token_id": ids["<|endoftext|>"],
        "tts_codec_start_token_id": ids["<|im_start|>"],
        "tts_codec_end_token_id": ids["<|im_end|>"],
        "tts_codec_pad_token_id": ids["<|endoftext|>"],
        "tts_codec_mask_token_id": ids["<|endoftext|>"],
        **_media_ids(_QWEN25_TOKENS, ids, suffix="_index"),
        "vision_end_token_id": ids[_QWEN25_TOKENS["vision_eos_token"]],
        "audio_end_token_id": ids[_QWEN25_TOKENS["audio_eos_token"]],
    }


@contextmanager
def _warnings_off():
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
