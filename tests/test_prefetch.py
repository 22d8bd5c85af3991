"""Rendering ahead of the model: batches come out in order with their own renderings, media shown
by several samples is rendered once, the next batch is rendered while this one is answered, and
a failed rendering reaches the caller."""

import threading
import time

import pytest

from mmhay.prefetch import Prefetcher


class _Counting:
    """A render function that records what it rendered, in which thread, and when."""

    def __init__(self, delay=0.0):
        self.calls, self.threads, self.delay, self.lock = [], set(), delay, threading.Lock()

    def __call__(self, item):
        time.sleep(self.delay)
        with self.lock:
            self.calls.append(item["media"])
            self.threads.add(threading.current_thread().name)
        return {"pixels": item["media"] * 10}


def _items(medias):
    return [{"id": i, "media": media} for i, media in enumerate(medias)]


@pytest.mark.parametrize("workers", [0, 1, 4])
def test_batches_come_in_order_with_their_renderings_and_shared_media_renders_once(workers):
    items = _items([1, 1, 2, 3, 3, 3, 4, None, 5])  # runs of one media: the rotations of a question
    batches = [items[0:2], items[2:5], items[5:8], items[8:9]]
    render = _Counting()
    prefetched = Prefetcher(batches, render, lambda item: None if item["media"] is None else str(item["media"]), workers=workers)
    seen = [(list(batch), shown) for batch, shown in prefetched]
    assert [batch for batch, _ in seen] == batches
    for batch, shown in seen:
        assert shown == [None if item["media"] is None else {"pixels": item["media"] * 10} for item in batch]
    # media 3 spans two batches: rendered once, whether or not the second was submitted ahead
    assert sorted(render.calls) == [1, 2, 3, 4, 5]
    assert list(prefetched._renders) == ["5"], "only the last rendering is held once every batch is out"
    if workers == 0:
        assert render.threads == {threading.current_thread().name}


def test_the_next_batch_renders_while_the_caller_works_on_this_one():
    batches = [_items([i * 4 + k for k in range(4)]) for i in range(3)]
    render = _Counting(delay=0.05)
    started = time.perf_counter()
    for _batch, _shown in Prefetcher(batches, render, lambda item: str(item["media"]), workers=4):
        time.sleep(0.05 * 4)  # the model answering: as long as rendering a batch one by one
    parallel = time.perf_counter() - started
    render_serial = _Counting(delay=0.05)
    started = time.perf_counter()
    for _batch, _shown in Prefetcher(batches, render_serial, lambda item: str(item["media"]), workers=0):
        time.sleep(0.05 * 4)
    serial = time.perf_counter() - started
    assert serial > 1.2  # 3 batches x (0.2 s rendering + 0.2 s answering)
    assert parallel < serial * 0.75, (parallel, serial)
    assert len(render.threads) > 1 and all(name.startswith("mmhay-render") for name in render.threads)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failed_rendering_reaches_the_caller_with_its_batch(workers):
    def render(item):
        if item["media"] == 3:
            raise ValueError("cannot decode media 3")
        return {}

    batches = [_items([1, 2]), _items([3, 4]), _items([5])]
    handed_out = []
    with pytest.raises(ValueError, match="media 3"):
        for batch, _shown in Prefetcher(batches, render, lambda item: str(item["media"]), workers=workers):
            handed_out.append(batch)
    assert handed_out == [batches[0]], "the batches before the failure are answered"
