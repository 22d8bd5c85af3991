"""Tiny Phi-4-multimodal checkpoints: pictures and sound, no video processor."""

from __future__ import annotations

from pathlib import Path

from mmhay.adapters.tiny.common import SPECIAL_TOKENS, TINY_DECODER, byte_level_tokenizer, save_checkpoint

__all__ = ["phi4_multimodal"]

_PHI4_TOKENS = ["<|user|>", "<|assistant|>", "<|end|>", "<|image|>", "<|audio|>"]

# The chat format of Phi-4-multimodal, written for these tiny checkpoints: the processor expands
# each "<|image|>" and "<|audio|>" into one token per embedding.
_PHI4_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|image|>"
    "{% elif part['type'] == 'audio' %}<|audio|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

# Pictures are cut into 64-pixel crops of 2-pixel patches: the 32x32 patch grid the processor counts
# tokens for (a 16x16 global view, then the crops'), at a sixteenth of the real 448-pixel crop.
_CROP = 64
_PATCH = 2


def phi4_multimodal(out: Path, seed: int) -> None:
    """Phi4MultimodalForCausalLM: a SigLIP-style vision tower over dynamic crops, a conformer audio
    encoder (80 ms a token); frames go in as a list of pictures, after the recording."""
    from transformers import (
        Phi4MultimodalConfig,
        Phi4MultimodalFeatureExtractor,
        Phi4MultimodalForCausalLM,
        Phi4MultimodalImageProcessor,
        Phi4MultimodalProcessor,
        PreTrainedTokenizerFast,
    )

    trained = byte_level_tokenizer(_PHI4_TOKENS)
    # Phi4MultimodalProcessor finds its placeholder tokens by name on the tokenizer
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=trained.backend_tokenizer,
        eos_token="<|end|>",
        pad_token=trained.pad_token,
        extra_special_tokens={"image_token": "<|image|>", "audio_token": "<|audio|>"},
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS + _PHI4_TOKENS}
    processor = Phi4MultimodalProcessor(
        image_processor=Phi4MultimodalImageProcessor(size={"height": _CROP, "width": _CROP}, patch_size=_PATCH, dynamic_hd=4),
        audio_processor=Phi4MultimodalFeatureExtractor(),
        tokenizer=tokenizer,
    )
    processor.chat_template = _PHI4_CHAT_TEMPLATE  # its constructor passes no template on
    config = Phi4MultimodalConfig(
        **{key: value for key, value in TINY_DECODER.items()},
        vocab_size=len(tokenizer),
        max_position_embeddings=4096,
        original_max_position_embeddings=4096,
        initializer_range=0.3,  # wide enough that a 32-wide model's answer depends on what it is given
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|end|>"]],
        pad_token_id=ids["<|endoftext|>"],
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": _CROP,
            "crop_size": _CROP,
            "patch_size": _PATCH,
            "feature_layer": -1,
            "image_token_id": ids["<|image|>"],
        },
        audio_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_blocks": 1,
            "num_attention_heads": 2,
            "ext_pw_out_channel": 32,
            "depthwise_separable_out_channel": 32,
            "nemo_conv_channels": 32,
            "feature_layer": -1,
            "audio_token_id": ids["<|audio|>"],
        },
    )
    ids["<|im_end|>"] = ids["<|end|>"]  # the end of a turn, where generation stops
    save_checkpoint(Phi4MultimodalForCausalLM, config, processor, ids, out, seed)
