"""What every tiny checkpoint shares: a byte-level tokenizer trained here, seeded weights, saving."""

from __future__ import annotations

from pathlib import Path

from mmhay.adapters.hf import quiet_progress_bars

__all__ = ["SPECIAL_TOKENS", "TINY_DECODER", "byte_level_tokenizer", "decoder_token_ids", "save_checkpoint"]

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# The language model of every tiny checkpoint: two layers of width 32, grouped-query attention.
TINY_DECODER = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1}

_CORPUS = [
    "A picture that does not belong to the rest of the video is shown for a moment. What does it show?",
    "Answer with the option's letter from the given choices directly.",
    "The answer is A. The answer is B. The answer is C. The answer is D.",
    "a red star, an orange circle, a yellow square, a green triangle, a blue heart, a purple diamond",
    "yes no none how many times when where which first then seconds",
]


def byte_level_tokenizer(extra: list[str] = ()):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=SPECIAL_TOKENS + list(extra),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def decoder_token_ids(ids: dict[str, int]) -> dict[str, int]:
    """The decoder's begin, end and padding tokens, from the byte-level tokenizer's special ids."""
    return {"bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"]}


def save_checkpoint(model_class, config, processor, ids: dict[str, int], out: Path, seed: int) -> None:
    """Make the model with seeded random weights and save it with its processor, as any checkpoint is."""
    import torch

    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's random state
        torch.manual_seed(seed)
        model = model_class(config)
    if getattr(model, "generation_config", None) is not None:  # embedding models (CLIP) generate nothing
        model.generation_config.eos_token_id = ids["<|im_end|>"]
        model.generation_config.pad_token_id = ids["<|endoftext|>"]
    with quiet_progress_bars():
        model.save_pretrained(out)
        processor.save_pretrained(out)
