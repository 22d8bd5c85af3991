"""Rendering a build's samples on a Ray cluster (``mmhay build CONFIG --out DIR --ray [ADDRESS]``).

The driver plans the build as always (what to render, what is already there); Ray tasks render
shards of sample indices, each writing its files under temporary names and renaming them, into
the output folder, which every node must see at the same path (a shared filesystem). The driver
then writes the dataset, card and manifest as a local build does, so the two builds are the same
byte for byte. A failed or killed task is retried (``max_retries``); a killed build resumes from
the files already written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mmhay.errors import ConfigError

__all__ = ["ray_session", "render_on_ray"]


def render_on_ray(
    suite,
    pending: list[int],
    out: Path,
    address: str,
    *,
    strict: bool = False,
    shard_size: int = 8,
    max_retries: int = 3,
    on_done: Callable[[int], None] | None = None,
) -> None:
    """Render the samples ``pending`` of ``suite`` into ``out`` with Ray tasks of ``shard_size``
    samples; ``address`` is a cluster's (``auto``, ``ray://host:10001``) or "" for a local one."""
    with ray_session(address):
        import ray

        render = ray.remote(max_retries=max_retries, retry_exceptions=True)(_render_shard)
        shared = ray.put(suite)
        shards = [pending[i : i + shard_size] for i in range(0, len(pending), shard_size)]
        waiting = [render.remote(shared, strict, shard, str(out.resolve())) for shard in shards]
        while waiting:
            finished, waiting = ray.wait(waiting, num_returns=1)
            count = ray.get(finished[0])
            if on_done:
                on_done(count)


@contextmanager
def ray_session(address: str) -> Iterator[None]:
    """Ray joined at ``address`` ("" starts a local one) for the block, unless this process runs
    it already; left again if the block joined it. One line if it cannot be reached."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray", "", "needs Ray: pip install 'mmhay[ray]'") from None
    if ray.is_initialized():
        yield
        return
    try:
        ray.init(address=address or None, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:  # no cluster there, or a malformed address
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError("--ray", "", f"cannot start or reach a Ray cluster ({reason})", address) from None
    try:
        yield
    finally:
        ray.shutdown()


def _render_shard(suite, strict: bool, indices: list[int], folder: str) -> int:
    """Write the media of samples ``indices`` into ``folder``; a file already whole is kept."""
    from mmhay.artifacts import media_files, write_media
    from mmhay.generators import create_generator

    generator = create_generator(suite, strict=strict)
    for index in indices:
        sample = generator.sample(index)
        if not all((Path(folder) / name).exists() for name in media_files(sample)):
            write_media(sample, Path(folder))
    return len(indices)
