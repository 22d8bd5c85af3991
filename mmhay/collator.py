"""Batches of stream examples for training a transformers video model (Qwen2-VL family and others
whose processor takes ``videos`` with ``video_metadata``): inputs, and labels on the answer only.

It takes the examples of ``NeedleStream`` and of ``hf_stream`` (whose frames are PIL pictures), so
it serves as the ``data_collator`` of a plain loop, ``transformers.Trainer`` or TRL's ``SFTTrainer``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["ChatCollator"]


class ChatCollator:
    """Turn examples of ``mmhay.stream`` into model inputs with ``labels``: the tokens of the
    assistant's answer and its end-of-turn are learned, the prompt, media and padding are not
    (-100). Padding goes on the right, as training wants.

    ``generation=True`` makes the inputs of ``model.generate`` instead: the user turns only (the
    last turn of each example dropped when it is the assistant's), ending with the assistant's
    cue, padded on the left, without labels: what a training loop's held-out check asks."""

    def __init__(self, processor: Any, *, generation: bool = False) -> None:
        self.processor = processor
        self.generation = generation

    def __call__(self, examples: Sequence[dict]) -> dict:
        from mmhay.adapters import Request
        from mmhay.adapters.hf import video_metadata

        examples = [_with_video(example) for example in examples]
        tokenizer = self.processor.tokenizer
        template = self.processor.apply_chat_template
        prompts = [template(_user_turns(example["messages"]), tokenize=False, add_generation_prompt=True) for example in examples]
        texts = prompts if self.generation else [template(example["messages"], tokenize=False) for example in examples]
        media: dict[str, Any] = {}
        if all("videos" in example for example in examples):
            requests = [Request(key=e["id"], prompt="", answer_type="choice", frames=e["videos"][0], frame_times=tuple(e["frame_times"]), duration=e["duration"], fps=e["fps"]) for e in examples]
            media = {"videos": [e["videos"][0] for e in examples], "video_metadata": [video_metadata(r) for r in requests], "do_sample_frames": False}
        elif all("images" in example for example in examples):
            media = {"images": [list(example["images"]) for example in examples]}
        side, tokenizer.padding_side = tokenizer.padding_side, "left" if self.generation else "right"
        try:
            batch = self.processor(text=texts, padding=True, return_tensors="pt", **media)
        finally:
            tokenizer.padding_side = side
        if self.generation:
            return batch
        labels = batch["input_ids"].clone()
        labels[batch["attention_mask"] == 0] = -100
        for row, (text, prompt) in enumerate(zip(texts, prompts)):
            # the answer is what follows the prompt; the media placeholders sit inside the prompt
            answer = len(tokenizer(text[len(prompt) :], add_special_tokens=False)["input_ids"])
            length = int(batch["attention_mask"][row].sum())
            labels[row, : length - answer] = -100
        batch["labels"] = labels
        return batch


def _user_turns(messages: list[dict]) -> list[dict]:
    """The chat up to the answer: without its last turn when that is the assistant's."""
    return messages[:-1] if messages and messages[-1].get("role") == "assistant" else messages


def _with_video(example: dict) -> dict:
    """``hf_stream`` gives a video's frames as a list of PIL pictures under ``images``: stack them
    into the ``videos`` entry the chat's video placeholder stands for."""
    if "videos" in example or not example.get("images"):
        return example
    turns = [part for message in example["messages"] for part in (message["content"] if isinstance(message["content"], list) else [])]
    if not any(isinstance(part, dict) and part.get("type") == "video" for part in turns):
        return example
    import numpy as np

    frames = np.stack([np.asarray(picture.convert("RGB")) for picture in example["images"]])
    return {key: value for key, value in example.items() if key != "images"} | {"videos": [frames]}
