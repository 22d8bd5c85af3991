"""Tiny random-weight checkpoints, built offline, for smoke tests and the demo.

They are real checkpoints (``save_pretrained`` of a real model class, processor and tokenizer)
that load through ``hf:PATH`` exactly as a user's checkpoint does; their answers are noise.
"""

from __future__ import annotations

from pathlib import Path

from mmhay.adapters.hf import quiet_progress_bars
from mmhay.errors import ConfigError

__all__ = ["TINY_FAMILIES", "make_tiny_checkpoint"]

TINY_FAMILIES = ("qwen2-vl", "qwen2-audio")

_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# The chat format of the Qwen2-VL family, written for these tiny checkpoints.
_QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "A picture that does not belong to the rest of the video is shown for a moment. What does it show?",
    "Answer with the option's letter from the given choices directly.",
    "The answer is A. The answer is B. The answer is C. The answer is D.",
    "a red star, an orange circle, a yellow square, a green triangle, a blue heart, a purple diamond",
    "yes no none how many times when where which first then seconds",
]


def make_tiny_checkpoint(family: str, out: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random-weight checkpoint of ``family`` into ``out`` and return the folder."""
    if family not in TINY_FAMILIES:
        raise ConfigError("family", "", f"unknown tiny model family; known: {', '.join(TINY_FAMILIES)}", family)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    {"qwen2-vl": _qwen2_vl, "qwen2-audio": _qwen2_audio}[family](out, seed)
    return out


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


def _qwen2_audio(out: Path, seed: int) -> None:
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor, WhisperFeatureExtractor

    tokenizer = _byte_level_tokenizer(_AUDIO_TOKENS)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in _SPECIAL_TOKENS + _AUDIO_TOKENS}
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
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 2048,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        audio_token_index=ids["<|AUDIO|>"],
    )
    _save(Qwen2AudioForConditionalGeneration, config, processor, ids, out, seed)


def _byte_level_tokenizer(extra: list[str] = ()):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=_SPECIAL_TOKENS + list(extra),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def _qwen2_vl(out: Path, seed: int) -> None:
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = _byte_level_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in _SPECIAL_TOKENS}
    pixels = {"min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * 16}
    video_options = dict(pixels)
    if hasattr(Qwen2VLVideoProcessor, "cap_pixels_per_frame"):
        video_options["cap_pixels_per_frame"] = True
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        video_processor=Qwen2VLVideoProcessor(**video_options),
        tokenizer=tokenizer,
        chat_template=_QWEN_CHAT_TEMPLATE,
    )
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
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
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    _save(Qwen2VLForConditionalGeneration, config, processor, ids, out, seed)


def _save(model_class, config, processor, ids: dict[str, int], out: Path, seed: int) -> None:
    """Make the model with seeded random weights and save it with its processor, as any checkpoint is."""
    import torch

    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's random state
        torch.manual_seed(seed)
        model = model_class(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    with quiet_progress_bars():
        model.save_pretrained(out)
        processor.save_pretrained(out)
