"""A tiny Qwen2-VL that thinks before it answers, always the same way, for tests of reasoning models.

Its chat template opens ``<think>`` in the prompt, as DeepSeek-R1's and Qwen3-VL-Thinking's do, and
takes ``enable_thinking`` (false closes the block at once, as Qwen3's does). Its weights are set, not
drawn: attention and MLP write nothing, so each step's next token follows from the last token alone,
and the tokens after ``<think>`` run through a fixed reply::

    <think>Option A is tempting, but the picture shows B.</think>The answer is B.<|im_end|>

An answer parser that reads the reasoning finds the A first; one that strips it finds B. Cut by
``max_new_tokens`` below 3, the reply ends inside the reasoning.
"""

from __future__ import annotations

from pathlib import Path

from mmhay.adapters.hf import quiet_progress_bars
from mmhay.adapters.tiny.common import SPECIAL_TOKENS, TINY_DECODER, byte_level_tokenizer, decoder_token_ids
from mmhay.adapters.tiny.qwen import QWEN_MESSAGES_TEMPLATE, qwen2_vl_processor, vision_token_ids

__all__ = ["REASONER_REPLY", "reasoner"]

# the think tags are special tokens here: decoding must keep them though it drops the others
_TAGS = ["<think>", "</think>"]
# each step is one added token, so that the last token alone says what comes next
_STEPS = ["<think>", "Option A is tempting,", " but the picture shows B.", "</think>", "The answer is B.", "<|im_end|>"]
REASONER_REPLY = "".join(_STEPS[1:-1])

_TEMPLATE = QWEN_MESSAGES_TEMPLATE + (
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think></think>{% else %}<think>{% endif %}{% endif %}"
)


def reasoner(out: Path, seed: int) -> None:
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    tokenizer = byte_level_tokenizer(_TAGS)
    tokenizer.add_tokens([step for step in _STEPS if step not in SPECIAL_TOKENS + _TAGS])
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS + _STEPS}
    processor = qwen2_vl_processor(Qwen2VLProcessor, tokenizer, chat_template=_TEMPLATE)
    config = Qwen2VLConfig(
        text_config={
            **TINY_DECODER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 4096,
            "tie_word_embeddings": False,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            **decoder_token_ids(ids),
        },
        vision_config={"depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        **vision_token_ids(ids),
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(config)
    with torch.no_grad():
        for name, weights in model.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                weights.zero_()  # every layer passes its input on unchanged
        embeddings, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
        head.zero_()
        for dim, (token, following) in enumerate(zip(_STEPS, _STEPS[1:])):
            embeddings[ids[token]] = torch.nn.functional.one_hot(torch.tensor(dim), embeddings.shape[1]).float()
            head[ids[following], dim] = 10.0
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    with quiet_progress_bars():
        model.save_pretrained(out)
        processor.save_pretrained(out)
