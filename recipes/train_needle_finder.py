"""Train the needle-finder: a small Qwen2-VL, from random initialisation, on mmhay's own stream.

    python recipes/train_needle_finder.py --out out/needle-finder [--steps 4000] [--names-steps 1000]
        [--batch-size 128] [--workers 12] [--device cuda] [--seed 0] [--minutes 0]

The examples come from ``mmhay.stream.NeedleStream``, batched by ``mmhay.collator.ChatCollator``:
the loop is docs/training.md's, with AdamW, warm-up and a cosine learning rate, and bf16 autocast
on a GPU. Two stages: ``--names-steps`` steps of ``needle_finder_names.yaml`` (name the picture, or
say yes / no), then ``needle_finder.yaml`` (the same and the four-option letter). Every
``--eval-every`` steps the finder answers held-out examples (the second stage's config at another
seed) greedily, and the learning curve (loss, and held-out accuracy per task and form) goes to
``OUT/curve.json``. The checkpoint is saved in bf16 as any transformers checkpoint, with its
processor, to ``OUT/finder``, so ``mmhay eval --model hf:OUT/finder`` runs it.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = HERE / "needle_finder_names.yaml"
CONFIG = HERE / "needle_finder.yaml"
# suites whose prompts the tokenizer learns its words from
CORPUS_CONFIGS = [NAMES, CONFIG, HERE.parent / "configs" / "quickstart.yaml", HERE.parent / "configs" / "negative.yaml", HERE / "needle_finder_mmneedle.yaml"]


@functools.lru_cache(maxsize=1)
def prompt_corpus() -> tuple[str, ...]:
    """The prompts and answers of the first 200 samples of each suite of ``CORPUS_CONFIGS``."""
    from mmhay.config import load_suite
    from mmhay.generators import create_generator
    from mmhay.prompts import prompt_for

    corpus = []
    for path in CORPUS_CONFIGS:
        generator = create_generator(load_suite(path))
        for index in range(200):
            sample = generator.sample(index)
            corpus += [prompt_for(sample), str(sample.answer)]
    return tuple(corpus)


def finder_tokenizer():
    """A byte-level BPE whose merges are the words of mmhay's prompts: each colour and shape is a
    token, not six bytes, so the prompt the finder reads is ~60 tokens; any other text still
    tokenizes, byte by byte."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from mmhay.adapters.tiny.common import SPECIAL_TOKENS

    corpus = prompt_corpus()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=768, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def finder_checkpoint(out: Path, seed: int, *, width: int, layers: int, vision_width: int, vision_depth: int, frame: tuple[int, int]) -> Path:
    """A Qwen2-VL of random weights sized to learn the task, with its processor, saved to ``out``.
    Every frame reaches it within ``frame[0] * frame[1]`` pixels, its aspect kept: (w / 28) x (h / 28)
    tokens a frame pair (a 16:9 frame in 112 x 56 is 84 x 56: 6 tokens)."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    from mmhay.adapters.tiny.common import SPECIAL_TOKENS, decoder_token_ids, save_checkpoint
    from mmhay.adapters.tiny.qwen import qwen2_vl_processor, vision_token_ids

    tokenizer = finder_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    processor = qwen2_vl_processor(Qwen2VLProcessor, tokenizer, min_pixels=frame[0] * frame[1], max_pixels=frame[0] * frame[1])
    heads = max(1, width // 64)
    config = Qwen2VLConfig(
        text_config={
            "hidden_size": width,
            "intermediate_size": 3 * width,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": heads,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 4096,
            "tie_word_embeddings": True,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [8, 12, 12]},
            **decoder_token_ids(ids),
        },
        vision_config={
            "depth": vision_depth,
            "embed_dim": vision_width,
            "hidden_size": width,
            "num_heads": max(1, vision_width // 32),
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        tie_word_embeddings=True,
        **vision_token_ids(ids),
    )
    save_checkpoint(Qwen2VLForConditionalGeneration, config, processor, ids, out, seed)
    return out


def stream_of(config: Path, seed: int | None, folder: Path, **options):
    """``NeedleStream`` over ``config``, at ``seed`` instead of the file's when given (the reseeded
    config is written into ``folder``, the run's own)."""
    import yaml

    from mmhay.stream import NeedleStream

    if seed is not None:
        data = yaml.safe_load(config.read_text())
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / f"{config.stem}-seed{seed}.yaml"
        config.write_text(yaml.safe_dump({**data, "seed": seed}))
    return NeedleStream(config, **options)


def held_out(count: int, seed: int, frames: int, folder: Path) -> list[dict]:
    """``count`` examples of the second stage's config at another seed: never trained on."""
    stream = stream_of(CONFIG, seed, folder, batch_size=count, frames=frames, sampler="uniform")
    return [example for _, example in zip(range(count), iter(stream))]


def kind_of(example: dict) -> str:
    """The task and form an example tests: retrieval-choice, retrieval-open, negative-open, ..."""
    text = example["messages"][0]["content"][-1]["text"]
    form = "choice" if "\nA. " in text else "open"
    return f"{example['task']}-{form}"


def answer_accuracy(model, processor, examples: list[dict], device: str) -> dict[str, float]:
    """Greedy answers to ``examples``: the share right per task and form (the reply, trimmed and
    lower-cased, is the answer)."""
    import torch

    from mmhay.collator import ChatCollator

    right: dict[str, list[bool]] = {}
    tokenizer = processor.tokenizer
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        for start in range(0, len(examples), 64):
            batch = examples[start : start + 64]
            inputs = ChatCollator(processor, generation=True)(batch).to(device)
            with torch.inference_mode():
                output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
            replies = processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
            for example, reply in zip(batch, replies):
                right.setdefault(kind_of(example), []).append(reply.strip().lower() == str(example["answer"]).strip().lower())
    finally:
        tokenizer.padding_side = side
    return {kind: round(sum(values) / len(values), 4) for kind, values in sorted(right.items())}


def batches(processor, args, done: int = 0):
    """The training batches after the first ``done``: ``names_steps`` of the first stage, then the
    second stage's (each stream resumed at the step it had reached)."""
    from torch.utils.data import DataLoader

    from mmhay.collator import ChatCollator

    stages = [(NAMES, 0, args.names_steps), (CONFIG, args.names_steps, args.steps)]
    for config, first, last in stages:
        start = max(0, done - first)
        steps = last - first - start
        if steps <= 0:
            continue
        options = {"batch_size": args.batch_size, "frames": args.frames, "sampler": "uniform", "endless": True, "workers": max(1, args.workers), "start_step": start}
        stream = stream_of(config, args.data_seed, args.out / "configs", **options)
        loader = DataLoader(
            stream, batch_size=args.batch_size, num_workers=args.workers, collate_fn=ChatCollator(processor), prefetch_factor=4 if args.workers else None, persistent_workers=False
        )
        for _, batch in zip(range(steps), loader):
            yield batch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=4000, help="training steps in all")
    parser.add_argument("--names-steps", type=int, default=1000, help="of them, steps of the first stage (naming)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--frame", default="112x56", help="the pixel budget of a frame, WxH (the processor keeps the aspect: a 16:9 frame in 112x56 is 84x56)")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vision-width", type=int, default=128)
    parser.add_argument("--vision-depth", type=int, default=4)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seed", type=int, default=0, help="weight seed")
    parser.add_argument("--data-seed", type=int, default=None, help="another seed for the training configs (default: theirs)")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--held-out", type=int, default=256)
    parser.add_argument("--minutes", type=float, default=0, help="stop after this long (0: run every step)")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    started = time.monotonic()
    deadline = started + 60 * args.minutes if args.minutes else math.inf
    args.out.mkdir(parents=True, exist_ok=True)
    frame = tuple(int(side) for side in args.frame.split("x"))
    checkpoint = finder_checkpoint(
        args.out / "init", args.seed, width=args.width, layers=args.layers, vision_width=args.vision_width, vision_depth=args.vision_depth, frame=frame
    )
    processor = AutoProcessor.from_pretrained(checkpoint)
    model = AutoModelForImageTextToText.from_pretrained(checkpoint, dtype=torch.float32).to(args.device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / args.warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps))))
    )
    evaluation = held_out(args.held_out, seed=99_000 + args.seed, frames=args.frames, folder=args.out / "configs")
    on_gpu = args.device.startswith("cuda")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_gpu else torch.autocast("cpu", enabled=False)
    curve: list[dict] = []
    losses: list[float] = []
    seen = 0

    def point(step: int) -> None:
        model.eval()
        accuracy = answer_accuracy(model, processor, evaluation, args.device)
        model.train()
        mean = sum(losses) / len(losses) if losses else None
        curve.append({"step": step, "examples": seen, "loss": mean, "held_out": accuracy, "seconds": round(time.monotonic() - started, 1)})
        losses.clear()
        print(json.dumps(curve[-1]), flush=True)
        (args.out / "curve.json").write_text(json.dumps(curve, indent=1))

    state_path = args.out / "state.pt"
    step = 0
    if state_path.exists():  # a run stopped (or cut at --minutes) goes on from its last check
        state = torch.load(state_path, map_location=args.device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, seen, curve[:] = state["step"], state["examples"], state["curve"]
        started -= state["seconds"]  # the curve's seconds count the training time of every run
        print(f"resumed at step {step}", flush=True)

    def save_state() -> None:
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "step": step, "examples": seen, "curve": curve, "seconds": time.monotonic() - started}
        torch.save(state, state_path.with_suffix(".part"))
        state_path.with_suffix(".part").replace(state_path)

    model.train()
    for step, batch in enumerate(batches(processor, args, done=step), start=step + 1):
        batch = batch.to(args.device)
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        seen += len(batch["input_ids"])
        if step % args.eval_every == 0 or step == 1:
            point(step)
            save_state()
        if time.monotonic() > deadline:
            break
    if not curve or curve[-1]["step"] != step:
        point(step)
    save_state()
    model.to(torch.bfloat16).save_pretrained(args.out / "finder")
    processor.save_pretrained(args.out / "finder")
    machine = torch.cuda.get_device_name() if on_gpu else platform.processor() or platform.machine()
    runs = json.loads((args.out / "run.json").read_text()) if (args.out / "run.json").exists() else []
    runs.append({"arguments": {k: str(v) for k, v in vars(args).items()}, "steps": step, "examples": seen, "seconds": round(time.monotonic() - started, 1), "machine": machine})
    (args.out / "run.json").write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
