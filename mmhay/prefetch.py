"""Media rendered ahead of the model: worker threads prepare the next batch while it answers this one.

Decoding and compositing frames is most of an evaluation's time with a small model, and the model
waits for it when the two take turns. ``Prefetcher`` renders every sample of a batch in parallel
(PyAV and numpy release the GIL while they work) and starts on the next batch before the current
one is handed out. Samples that show the same media (the rotations of a circular question) share
one rendering. Results are those of rendering one by one: each rendering is a pure function of its
sample, and the batches come out in their order.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["Prefetcher", "default_workers"]

Item = TypeVar("Item")


def default_workers() -> int:
    """Threads for rendering: the cores of this process, at most 8 (decoding saturates soon after)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


class Prefetcher(Generic[Item]):
    """Iterate ``(batch, shown)`` pairs, ``shown[i]`` being ``render(batch[i])`` or None where
    ``key(batch[i])`` is None (nothing to render). ``key`` names the media a sample shows: samples
    with one key share one rendering. ``ahead`` batches are rendered beyond the one handed out."""

    def __init__(
        self,
        batches: Sequence[Sequence[Item]],
        render: Callable[[Item], dict],
        key: Callable[[Item], str | None],
        *,
        workers: int | None = None,
        ahead: int = 1,
    ) -> None:
        self.batches, self.render, self.key = batches, render, key
        self.workers = default_workers() if workers is None else workers
        self.ahead = ahead if self.workers else 0
        self._renders: dict[str, Future] = {}
        self._users: Counter[str] = Counter()
        self._last: str | None = None

    def __iter__(self) -> Iterator[tuple[Sequence[Item], list[dict | None]]]:
        with ThreadPoolExecutor(self.workers, thread_name_prefix="mmhay-render") if self.workers else _InThisThread() as pool:
            try:
                for index in range(min(self.ahead, len(self.batches))):
                    self._submit(pool, self.batches[index])
                for index, batch in enumerate(self.batches):
                    if index + self.ahead < len(self.batches):
                        self._submit(pool, self.batches[index + self.ahead])
                    yield batch, [self._take(item) for item in batch]
            finally:
                for future in self._renders.values():
                    future.cancel()

    def _submit(self, pool, batch: Sequence[Item]) -> None:
        for item in batch:
            key = self.key(item)
            if key is None:
                continue
            if key not in self._renders:
                self._renders[key] = pool.submit(self.render, item)
            self._users[key] += 1

    def _take(self, item: Item) -> dict | None:
        key = self.key(item)
        if key is None:
            return None
        shown = self._renders[key].result()
        self._users[key] -= 1
        # a rendering no submitted sample still needs is kept while it is the last one taken:
        # the next batch, not yet submitted, may begin with another rotation of the question
        if self._last is not None and self._last != key and not self._users[self._last]:
            del self._renders[self._last], self._users[self._last]
        self._last = key
        return shown


class _InThisThread:
    """An executor that runs each task when it is submitted."""

    def __enter__(self) -> _InThisThread:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, function: Callable, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(function(*args))
        except BaseException as error:  # handed to whoever takes the result, as a pool would
            future.set_exception(error)
        return future
