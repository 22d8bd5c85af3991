"""What ``mmhay eval`` reads: a built suite folder, or a suite config whose samples are generated
on the fly, as a ``DataSource`` (the samples and what identifies them), optionally kept to some
tasks or asked in every rotation of their options."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mmhay.errors import ConfigError
from mmhay.schema import Sample, rotations

__all__ = ["DataSource", "open_data"]


@dataclass(frozen=True)
class DataSource:
    """Samples to evaluate and what identifies them (a built suite, or a config generated on the fly).

    ``protocols``: suite name to the published protocol whose headline number metrics.json adds
    (the suite config's ``protocol``); not part of the identity, as it changes no answer.
    ``prompts``: the suite config's prompt templates (``mmhay.prompts``), which the identity
    records where there are any, as they change what the model is asked.
    """

    identity: dict
    count: int | None  # None: not known before the samples are read
    samples: Callable[[], Iterator[Sample]]
    protocols: Mapping[str, str] = field(default_factory=dict)
    prompts: Mapping[str, str] = field(default_factory=dict)


def open_data(
    data: str | Path,
    *,
    limit: int | None = None,
    strict: bool = False,
    circular: bool = False,
    tasks: Sequence[str] = (),
) -> DataSource:
    """A built suite folder, or a suite config file whose samples are generated on the fly.

    ``tasks`` keeps only the samples of those tasks (before ``limit`` counts). With ``circular``,
    every multiple-choice question is asked once per rotation of its options (a suite built with
    ``--circular`` holds its rotations already).
    """
    source = _open_data(data, limit=None if tasks else limit, strict=strict)
    if tasks:
        source = _only_tasks(source, tuple(tasks), limit, data)
    if not circular or source.identity.get("circular"):
        return source
    return DataSource(
        {**source.identity, "circular": True},
        None,  # rotations are counted as they come
        lambda: (rotation for sample in source.samples() for rotation in rotations(sample)),
        source.protocols,
        source.prompts,
    )


def _only_tasks(source: DataSource, tasks: tuple[str, ...], limit: int | None, data) -> DataSource:
    def samples() -> Iterator[Sample]:
        seen, kept = set(), 0
        for sample in source.samples():
            seen.add(sample.task)
            if sample.task in tasks and (limit is None or kept < limit):
                kept += 1
                yield sample
        missing = [task for task in tasks if task not in seen]
        if missing:
            raise ConfigError("--tasks", missing[0], f"no sample of {data} has this task; it has: {', '.join(sorted(seen))}")

    return DataSource({**source.identity, "tasks": sorted(tasks)}, None, samples, source.protocols, source.prompts)


def _open_data(data: str | Path, *, limit: int | None, strict: bool) -> DataSource:
    from mmhay.build import iter_built_samples, read_manifest
    from mmhay.config import load_suite
    from mmhay.generators import create_generator

    path = Path(data)
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        suite = load_suite(path)
        generator = create_generator(suite, strict=strict)
        count = len(generator) if limit is None else min(limit, len(generator))
        identity = {"config": str(path), "suite": suite.name, "config_key": suite.key(), "seed": suite.seed}
        protocols = {suite.name: suite.protocol} if suite.protocol else {}
        return DataSource(_with_prompts(identity, suite.prompts), count, lambda: (generator.sample(i) for i in range(count)), protocols, suite.prompts or {})
    manifest = read_manifest(path)
    rows = manifest.get("rows", manifest["samples"])
    count = rows if limit is None else min(limit, rows)
    identity = {"built": str(path), "suite": manifest["suite"], "config_key": manifest["config_key"], "seed": manifest["seed"]}
    if manifest.get("circular"):
        identity["circular"] = True
    protocol = manifest.get("config", {}).get("protocol")
    protocols = {manifest["suite"]: protocol} if protocol else {}
    prompts = manifest.get("config", {}).get("prompts") or {}
    return DataSource(_with_prompts(identity, prompts), count, lambda: iter_built_samples(path, limit=count), protocols, prompts)


def _with_prompts(identity: dict, prompts: Mapping[str, str] | None) -> dict:
    """The data's identity, with its prompt templates where it has any (they are not in its config key)."""
    return {**identity, "prompts": dict(prompts)} if prompts else identity
