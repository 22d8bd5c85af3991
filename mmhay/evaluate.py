"""``mmhay eval``: ask a model every sample of a suite, score the answers, write the run.

A run folder holds::

    run.json        the model, data and settings it was made with
    samples.jsonl   one line per sample: prompt, frame times, raw output, parsed answer, score
    metrics.json    accuracy overall, by task, by facet, over the depth x length grid
    results.md      the same as markdown tables
    report.html     the same with heatmaps, curves and the worst failures (``mmhay.report``)

Each answer is appended to samples.jsonl and synced before the next is asked, so a killed run,
started again with the same command, asks only what is still unanswered.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

from mmhay.adapters import Adapter, Request
from mmhay.atomic import write_text_atomic
from mmhay.errors import ConfigError, DatasetError
from mmhay.gallery import Gallery
from mmhay.prompts import prompt_for
from mmhay.sampling import sample_times
from mmhay.schema import Sample, rotations
from mmhay.scoring.metrics import summarize
from mmhay.scoring.parse import PARSED_TYPES, parse_answer
from mmhay.scoring.report import run_markdown
from mmhay.scoring.score import chance, is_correct
from mmhay.timeline import Composition

__all__ = ["EvalSettings", "RunResult", "DataSource", "open_data", "evaluate"]

log = logging.getLogger(__name__)

RECORDS = "samples.jsonl"


@dataclass(frozen=True)
class EvalSettings:
    """How samples are shown to the model: how many frames, picked by which sampler."""

    frames: int = 16
    sampler: str = "uniform"


@dataclass(frozen=True)
class DataSource:
    """Samples to evaluate and what identifies them (a built suite, or a config generated on the fly)."""

    identity: dict
    count: int | None  # None: not known before the samples are read
    samples: Callable[[], Iterator[Sample]]


@dataclass(frozen=True)
class RunResult:
    """What a run wrote: how many answers were asked now, found from an earlier attempt, or
    skipped (samples the model cannot be asked: the answer is in a sound it cannot hear)."""

    out: Path
    metrics: dict
    asked: int
    reused: int
    skipped: int = 0


def open_data(data: str | Path, *, limit: int | None = None, strict: bool = False, circular: bool = False) -> DataSource:
    """A built suite folder, or a suite config file whose samples are generated on the fly.

    With ``circular``, every multiple-choice question is asked once per rotation of its options
    (a suite built with ``--circular`` holds its rotations already).
    """
    source = _open_data(data, limit=limit, strict=strict)
    if not circular or source.identity.get("circular"):
        return source
    return DataSource(
        {**source.identity, "circular": True},
        None,  # rotations are counted as they come
        lambda: (rotation for sample in source.samples() for rotation in rotations(sample)),
    )


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
        return DataSource(identity, count, lambda: (generator.sample(i) for i in range(count)))
    manifest = read_manifest(path)
    rows = manifest.get("rows", manifest["samples"])
    count = rows if limit is None else min(limit, rows)
    identity = {"built": str(path), "suite": manifest["suite"], "config_key": manifest["config_key"], "seed": manifest["seed"]}
    if manifest.get("circular"):
        identity["circular"] = True
    return DataSource(identity, count, lambda: iter_built_samples(path, limit=count))


def evaluate(
    data: DataSource,
    adapter: Adapter,
    out: str | Path,
    settings: EvalSettings = EvalSettings(),
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Evaluate ``adapter`` on ``data`` into the run folder ``out`` (resuming a run of the same setup)."""
    if settings.frames < 1:
        raise ConfigError("--frames", "", "must be at least 1", settings.frames)
    sample_times(settings.sampler, Fraction(1), 1)  # an unknown sampler fails before anything is written
    out = Path(out)
    run = {
        "model": {"name": adapter.name, **adapter.identity()},
        "data": data.identity,
        "settings": asdict(settings),
    }
    _claim(out, run)
    done = _read_records(out / RECORDS)
    records, asked = [], 0
    if progress:
        progress(0, data.count)
    with open(out / RECORDS, "a", encoding="utf-8") as log_file:
        for k, sample in enumerate(data.samples()):
            record = done.get(sample.id)
            if record is None:
                record = _ask(sample, adapter, settings)
                log_file.write(json.dumps(record, sort_keys=True) + "\n")
                log_file.flush()
                os.fsync(log_file.fileno())
                asked += "skipped" not in record
            records.append(record)
            if progress:
                progress(k + 1, data.count)
    scored = [r for r in records if "skipped" not in r]
    skipped = len(records) - len(scored)
    metrics = {**run, **summarize(scored), "skipped": skipped}
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    write_text_atomic(out / "results.md", run_markdown(metrics))
    from mmhay.report import write_report

    write_report([out], out)
    return RunResult(out, metrics, asked, len(scored) - asked, skipped)


def _ask(sample: Sample, adapter: Adapter, settings: EvalSettings) -> dict:
    if sample.answer_type.value not in PARSED_TYPES:
        raise ConfigError(sample.id, "answer_type", "is not scored yet", sample.answer_type.value)
    prompt = prompt_for(sample)
    media = sample.media
    shown: dict = {}
    sees = getattr(adapter, "sees", True)
    if isinstance(media, Gallery):
        if adapter.needs_frames and not sees:
            return _skipped(sample, prompt, "the model takes no pictures, and the answer is in them")
        if adapter.needs_frames:
            shown["images"] = tuple(media.render())
            if any(isinstance(item, str) for item in media.items):
                counter = iter(range(len(media.images)))
                shown["interleaved"] = tuple(item if isinstance(item, str) else next(counter) for item in media.items)
    else:
        shown["duration"], shown["fps"] = float(media.duration), _frame_rate(media)
        needs_audio = sample.modality == "audio" or bool(sample.truth.get("needs_audio"))
        needs_pictures = sample.modality == "video" and sample.truth.get("kind") != "sound"
        if adapter.needs_frames and needs_audio and not adapter.takes_audio:
            return _skipped(sample, prompt, "the model takes no audio, and the answer is in the sound")
        if adapter.needs_frames and needs_pictures and not sees:
            return _skipped(sample, prompt, "the model takes no pictures, and the answer is in them")
        if adapter.needs_frames and sees and media.segments:
            rendered = media.render(sample_times(settings.sampler, media.duration, settings.frames))
            shown["frames"], shown["frame_times"] = rendered.pixels, tuple(float(t) for t in rendered.times)
        if adapter.needs_frames and adapter.takes_audio and media.soundtrack:
            shown["audio"], shown["audio_rate"] = media.audio(), media.audio_rate
    request = Request(
        key=sample.id,
        prompt=prompt,
        answer_type=sample.answer_type.value,
        options=sample.options,
        facets=dict(sample.facets),
        **shown,
    )
    frame_times = request.frame_times
    output = adapter.generate([request])[0]
    kind = sample.answer_type.value
    parsed = parse_answer(kind, output, sample.options)
    return {
        **_record(sample, prompt),
        "frame_times": [round(t, 6) for t in frame_times],
        "output": output,
        "parsed": parsed,
        "correct": is_correct(kind, parsed, sample.answer),
        "chance": chance(kind, len(sample.options)),
    }


def _record(sample: Sample, prompt: str) -> dict:
    """What every line of samples.jsonl says about its sample."""
    record = {
        "id": sample.id,
        "index": sample.index,
        "task": sample.task,
        "modality": sample.modality,
        "answer_type": sample.answer_type.value,
        "facets": dict(sample.facets),
        "prompt": prompt,
        "options": list(sample.options),
        "answer": sample.answer,
        "group": sample.group or sample.id,
        "rotation": sample.rotation,
    }
    asked = sample.truth.get("asked")
    if isinstance(asked, dict) and "present" in asked:
        record["asked_present"] = asked["present"]
    return record


def _skipped(sample: Sample, prompt: str, reason: str) -> dict:
    """The record of a sample the model cannot be asked: kept, counted, not scored."""
    return {**_record(sample, prompt), "skipped": reason}


def _frame_rate(media: Composition) -> float | None:
    if media.rate is not None:
        return float(media.rate)
    info = getattr(media.segments[0].ref, "info", None) if media.segments else None
    return float(info.rate) if info is not None and info.rate else None


def _claim(out: Path, run: dict) -> None:
    """Make ``out`` this run's folder, or refuse if it holds another run or anything else."""
    marker = out / "run.json"
    if out.exists() and not out.is_dir():
        raise DatasetError(out, "exists and is not a directory")
    if marker.is_file():
        try:
            previous = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
        if previous != json.loads(json.dumps(run)):
            raise DatasetError(out, "holds a run of another model, data or settings; choose another --out")
        return
    if out.is_dir() and any(out.iterdir()):
        raise DatasetError(out, "exists and is not an mmhay run; choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(marker, json.dumps(run, indent=2, sort_keys=True) + "\n")


def _read_records(path: Path) -> dict[str, dict]:
    """Answers already in samples.jsonl; a line cut short by a kill is dropped (and the file mended)."""
    if not path.exists():
        return {}
    records, good_lines, damaged = {}, [], False
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            if not line.endswith("\n"):
                raise ValueError("unterminated")
            record = json.loads(line)
        except ValueError:
            damaged = True
            continue
        records[record["id"]] = record
        good_lines.append(line)
    if damaged:
        log.warning("%s: dropped a line cut short by an interrupted run", path)
        write_text_atomic(path, "".join(good_lines))
    return records

