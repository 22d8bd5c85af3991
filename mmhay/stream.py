"""Needle data generated on the fly for training: a torch ``IterableDataset`` and a ``datasets`` one.

Sample ``i`` of a suite depends only on (config, seed, i), so a stream is a walk over indices.
``NeedleStream`` deals the indices out in blocks of ``batch_size`` to every (distributed rank,
data-loader worker), so that each index is produced exactly once across all of them, and a
``DataLoader`` that takes a batch from each worker in turn (its default) hands the trainer the
blocks 0, 1, 2, ... in order. After ``step`` batches per rank the consumed indices are known
exactly, which is what ``start_step`` resumes from: no repeats, no gaps. Bounded streams end after
the suite's ``samples``; endless ones go on (indices past the grid wrap around its cells with
fresh draws, so no two indices give the same sample).

Each example is a chat in the "messages" form transformers processors and TRL take: the user turn
holds the media placeholders and the question, the assistant turn the answer; ``videos`` (or
``images``) holds the pixels, ``frame_times`` the seconds each frame was shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import IterableDataset

from mmhay.errors import ConfigError

__all__ = ["NeedleStream", "StreamPosition", "example_for", "hf_stream"]


@dataclass(frozen=True)
class StreamPosition:
    """Where a training run is in a stream: ``step`` batches taken by each rank, and the layout
    that dealt them (a different layout deals the indices differently, so it cannot resume)."""

    step: int
    batch_size: int
    workers: int
    world: int

    def to_json(self) -> dict:
        return {"step": self.step, "batch_size": self.batch_size, "workers": self.workers, "world": self.world}


class NeedleStream(IterableDataset):
    """Examples of the suite ``config`` for a torch ``DataLoader`` with ``batch_size`` per step.

    ``rank``/``world`` default to torch.distributed's (or 0/1); ``workers`` is the DataLoader's
    ``num_workers`` (0 counts as 1). ``endless=True`` never stops. ``start_step`` resumes after
    that many batches per rank, with the same batch size, workers and world.
    """

    def __init__(
        self,
        config: str | Path,
        *,
        batch_size: int = 1,
        frames: int = 16,
        sampler: str = "uniform",
        endless: bool = False,
        start_step: int = 0,
        workers: int = 0,
        rank: int | None = None,
        world: int | None = None,
    ) -> None:
        from mmhay.config import load_suite
        from mmhay.sampling import check_sampler

        super().__init__()
        if batch_size < 1 or frames < 1 or start_step < 0 or workers < 0:
            raise ConfigError("NeedleStream", "", "batch_size and frames must be at least 1, start_step and workers at least 0")
        check_sampler(sampler)
        self.config, self.suite = Path(config), load_suite(config)
        self.batch_size, self.frames, self.sampler, self.endless = batch_size, frames, sampler, endless
        self.start_step, self.workers = start_step, max(1, workers)
        self.rank, self.world = _ranks(rank, world)

    def position(self, step: int) -> StreamPosition:
        """The position to save after ``step`` batches per rank (``start_step`` counted in)."""
        return StreamPosition(step, self.batch_size, self.workers, self.world)

    @classmethod
    def resume(cls, config: str | Path, position: StreamPosition | dict, **options: Any) -> NeedleStream:
        """The stream that continues after ``position``; refuses another batch size, workers or world."""
        saved = position if isinstance(position, StreamPosition) else StreamPosition(**position)
        stream = cls(config, batch_size=saved.batch_size, start_step=saved.step, **options)
        if (stream.workers, stream.world) != (saved.workers, saved.world):
            raise ConfigError("NeedleStream", "position", f"was saved with {saved.workers} workers x {saved.world} ranks, not {stream.workers} x {stream.world}")
        return stream

    def indices(self, worker: int) -> Iterator[int]:
        """The sample indices worker ``worker`` of this rank produces, in order."""
        shards = self.world * self.workers
        # A DataLoader takes step t's batch from worker t % workers, starting again at worker 0 when
        # resumed: so the resumed worker w plays the part of worker (w + start_step) % workers,
        # which made the first start_step batches' steps congruent to it
        role = (worker + self.start_step) % self.workers
        shard = self.rank * self.workers + role
        done = max(0, -(-(self.start_step - role) // self.workers))
        stop = None if self.endless else self.suite.samples
        block = done * shards + shard
        while True:
            first = block * self.batch_size
            for index in range(first, first + self.batch_size):
                if stop is not None and index >= stop:
                    return
                yield index
            block += shards

    def __iter__(self) -> Iterator[dict]:
        from torch.utils.data import get_worker_info

        from mmhay.generators import create_generator

        info = get_worker_info()
        worker = info.id if info is not None else 0
        if info is not None and info.num_workers != self.workers:
            raise ConfigError("NeedleStream", "workers", f"says {self.workers} but the DataLoader runs {info.num_workers}")
        generator = create_generator(self.suite)
        for index in self.indices(worker):
            yield example_for(generator.sample(index), self.frames, self.sampler, index=index, prompts=self.suite.prompts)


def example_for(sample, frames: int, sampler: str = "uniform", *, index: int | None = None, prompts=None) -> dict:
    """One training example: the chat, its pixels, and where they came from (asked through the
    suite's ``prompts`` templates, where it has any)."""
    from mmhay.adapters import split_at_pictures
    from mmhay.gallery import Gallery
    from mmhay.prompts import prompt_for
    from mmhay.sampling import footage_for, frame_rate, plan_frames, render_plan

    media = sample.media
    example: dict[str, Any] = {"id": sample.id, "index": sample.index if index is None else index, "task": sample.task, "answer": sample.answer}
    prompt: list[dict] = [{"type": "text", "text": prompt_for(sample, prompts)}]
    if isinstance(media, Gallery):
        example["images"] = list(media.render()) + list(media.render_options())
        placeholders = [{"type": "image"} for _ in media.images]
        if media.options:  # options that are pictures: each at its letter's <image>, after the images
            prompt = [{"type": "image"} if isinstance(part, int) else {"type": "text", "text": part} for part in split_at_pictures(prompt[0]["text"], len(media.options), sample.id)]
    else:
        plan = plan_frames(sampler, footage_for(sample), frames)
        pixels, times = render_plan(media, plan)
        rate = frame_rate(media)
        example["videos"] = [pixels]
        example["frame_times"] = list(times)
        example["fps"] = None if rate is None else float(rate)
        example["duration"] = float(media.duration)
        placeholders = [{"type": "video"}]
    example["messages"] = [
        {"role": "user", "content": [*placeholders, *prompt]},
        {"role": "assistant", "content": [{"type": "text", "text": str(sample.answer)}]},
    ]
    return example


def hf_stream(config: str | Path, *, frames: int = 16, sampler: str = "uniform", shards: int | None = None):
    """The suite as a ``datasets.IterableDataset``: ``shards`` generator shards (default: the CPU
    count), which ``datasets`` spreads over DataLoader workers and ``split_dataset_by_node`` over
    ranks; each index once. Pixels are lists of PIL pictures (frames or images)."""
    from datasets import IterableDataset

    from mmhay.config import load_suite

    suite = load_suite(config)
    count = shards or os.cpu_count() or 1
    return IterableDataset.from_generator(
        _hf_examples, gen_kwargs={"config": str(config), "frames": frames, "sampler": sampler, "shard": list(range(count)), "shards": [count] * count, "total": [suite.samples] * count}
    )


def _hf_examples(config: str, frames: int, sampler: str, shard: list[int], shards: list[int], total: list[int]) -> Iterator[dict]:
    from PIL import Image

    from mmhay.config import load_suite
    from mmhay.generators import create_generator

    generator = create_generator(load_suite(config))
    for mine, count, stop in zip(shard, shards, total):
        for index in range(mine, stop, count):
            example = example_for(generator.sample(index), frames, sampler, index=index)
            pixels = example.pop("videos", [None])[0]
            pictures = example.pop("images", None) or list(pixels)
            example["images"] = [Image.fromarray(picture) for picture in pictures]
            example.setdefault("frame_times", [])
            example.setdefault("fps", None)
            example.setdefault("duration", None)
            yield example


def _ranks(rank: int | None, world: int | None) -> tuple[int, int]:
    if rank is not None or world is not None:
        rank, world = rank or 0, world or 1
    else:
        try:
            import torch.distributed as dist

            ready = dist.is_available() and dist.is_initialized()
        except ImportError:
            ready = False
        rank, world = (dist.get_rank(), dist.get_world_size()) if ready else (0, 1)
    if not 0 <= rank < world:
        raise ConfigError("NeedleStream", "rank", f"must be within 0..{world - 1}", rank)
    return rank, world
