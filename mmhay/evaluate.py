"""``mmhay eval``: ask a model every sample of a suite, score the answers, write the run.

A run folder holds::

    run.json          the model, data, settings and software it was made with
    samples.jsonl     one line per sample: prompt, frame times, raw output, parsed answer, score
                      (and, where a recording was rendered to be heard, the gain it was heard at)
    responses.sqlite  every answer the model gave, keyed by model, prompt and media (the cache)
                      (on several nodes, ranks but 0 keep theirs in responses.rankN.sqlite till the end)
    metrics.json      accuracy overall, by task, by facet, over the depth x length grid
    results.md        the same as markdown tables
    report.html       the same with heatmaps, curves and the worst failures (``mmhay.report``)

Samples are asked in batches, sorted so that requests of one kind and length go together; the
frames of the next batch are rendered in worker threads while the model answers this one, once
for all the prompts that show them (the rotations of a circular question). Each answer is
committed to the cache, then appended to samples.jsonl and synced, before the next batch is
asked: a run killed at any moment, started again with the same command, asks the model nothing
it has already answered. Under ``torchrun`` every rank answers
a share of the samples and rank 0 merges them (``mmhay.parallel``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from math import log10
from pathlib import Path

from mmhay.adapters import Adapter, Answer, Request
from mmhay.adapters.cache import ResponseCache, request_key
from mmhay.adapters.generation import check_generation
from mmhay.adapters.likelihood import check_scoring, likelihood_verdict
from mmhay.atomic import remove_temporary_files, reporting_full_disk, write_text_atomic
from mmhay.errors import ConfigError, DatasetError, ModelError
from mmhay.eval_data import DataSource, open_data
from mmhay.exposure import COUNTING_TASKS, Minimums, exposure, frame_given, given_by_plan
from mmhay.gallery import Gallery
from mmhay.generators.image_grid import placement_facets
from mmhay.parallel import Ranks, sum_over_ranks, wait_for_all
from mmhay.predictions import check_predict_only, write_predictions
from mmhay.prefetch import Prefetcher
from mmhay.run_folder import RECORDS, claim_run_folder, join_run_folder, rank_cache, rank_caches, rank_records, read_records, records_in_order, rewrite_records
from mmhay.prompts import prompt_for
from mmhay.sampling import check_sampler, footage_for, frame_rate, plan_frames, render_plan
from mmhay.schema import Sample
from mmhay.scoring.headline import headlines
from mmhay.scoring.metrics import summarize
from mmhay.scoring.parse import PARSED_TYPES
from mmhay.scoring.reasoning import DEFAULT_TAGS, ThinkTags, opened_in, split_reasoning
from mmhay.scoring.report import run_markdown
from mmhay.scoring.score import chance
from mmhay.scoring.verdict import verdict
from mmhay.software import software
from mmhay.soundtrack import mix_gain

__all__ = ["EvalSettings", "RunResult", "DataSource", "open_data", "evaluate", "shown_media", "request_for", "skip_reason"]

CACHE = "responses.sqlite"


@dataclass(frozen=True)
class EvalSettings:
    """How samples are shown to the model (frames, sampler: part of the run's identity) and how
    they are sent (batch size, what is logged: free to change when a run is resumed)."""

    frames: int = 16
    sampler: str = "uniform"
    batch_size: int | None = None  # None: the adapter's own default
    log_samples: bool = False  # also record the exact text the model was given
    render_workers: int | None = None  # threads rendering the next batch (None: the cores, at most 8; 0: none)
    compress: str = ""  # visual-token compressor applied after the vision tower (mmhay.compression spec)
    min_shown: Minimums = Minimums()  # how much of a needle counts as shown (mmhay.exposure)
    scoring: str = "generate"  # or "likelihood": read from token probabilities (mmhay.adapters.likelihood)
    system_prompt: str = ""  # --system-prompt: a system message before each question
    gen_kwargs: Mapping = field(default_factory=dict)  # --gen-kwargs (mmhay.adapters.generation)
    predict_only: bool = False  # answers recorded unscored, for a later `mmhay score` (mmhay.predictions)
    prompts: Mapping = field(default_factory=dict)  # the data's prompt templates: evaluate() sets them (DataSource.prompts)

    frames_from: str = ""  # how --frames model chose the frames, e.g. "model (qwen-vl-utils fps=2: 8 frames)"

    def identity(self) -> dict:
        identity = {"frames": self.frames, "sampler": self.sampler, **({"frames_from": self.frames_from} if self.frames_from else {})}
        if self.system_prompt:
            identity["system_prompt"] = self.system_prompt
        if self.gen_kwargs:
            identity["gen_kwargs"] = dict(self.gen_kwargs)
        if self.predict_only:
            identity["predict_only"] = True
        if self.compress:
            identity["compress"] = self.compress
        if self.scoring != "generate":
            identity["scoring"] = self.scoring
        if self.min_shown != Minimums():
            identity["min_shown"] = self.min_shown.to_json()
        return identity


@dataclass(frozen=True)
class RunResult:
    """What a run wrote: how many answers were asked now, found in the cache (an earlier attempt
    or another run with the same model), found in samples.jsonl, or skipped (samples the model
    cannot be asked: the answer is in a sound it cannot hear)."""

    out: Path
    metrics: dict
    asked: int
    reused: int
    skipped: int = 0
    cached: int = 0


def evaluate(
    data: DataSource,
    adapter: Adapter,
    out: str | Path,
    settings: EvalSettings = EvalSettings(),
    *,
    cache: str | Path | None = None,
    ranks: Ranks = Ranks(),
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Evaluate ``adapter`` on ``data`` into the run folder ``out`` (resuming a run of the same setup).

    ``cache`` is the response cache file (default ``out/responses.sqlite``; share one between
    runs to reuse answers across them). Under data parallelism each rank calls this with its
    ``ranks``; every rank gets the merged metrics back.
    """
    if settings.frames < 1:
        raise ConfigError("--frames", "", "must be at least 1", settings.frames)
    if settings.batch_size is not None and settings.batch_size < 1:
        raise ConfigError("--batch-size", "", "must be at least 1", settings.batch_size)
    check_sampler(settings.sampler)  # an unknown sampler or option fails before anything is written
    check_scoring(settings.scoring, adapter)
    if settings.compress:
        check = getattr(adapter, "check_compression", None)
        if check is None:
            raise ConfigError("--compress", "", f"{adapter.name} takes no visual-token compression (hf video models do)", settings.compress)
        check(settings.compress)
    check_generation(adapter, settings.gen_kwargs, settings.scoring)
    check_predict_only(settings)
    settings = replace(settings, prompts=dict(data.prompts))
    out = Path(out)
    run = {
        "model": {"name": adapter.name, **adapter.identity()},
        "data": data.identity,
        "settings": settings.identity(),
        "software": software(),
    }
    # listed before the folder is claimed: a --tasks that no sample has fails with nothing written
    samples = list(data.samples())
    _check_unique(samples)
    _plan_longest_video(samples, settings)
    if cache is not None:
        _check_cache_file(Path(cache))
    if ranks.main:
        claim_run_folder(out, run)
        remove_temporary_files(out)  # what a killed attempt was writing; the others wait below
        done = read_records(out)  # rank 0 mends a line cut short before the others read
    join_run_folder(out, run, ranks)  # the others wait for that here
    if not ranks.main:
        done = read_records(out)
    pending = [sample for sample in samples if sample.id not in done]
    batch_size = settings.batch_size or getattr(adapter, "batch_size", 1)
    mine = _batches(samples, done, adapter, batch_size, ranks, settings.prompts)
    finished = len(samples) - len(pending)
    total = finished + sum(len(batch) for batch in mine)  # under data parallelism: this rank's share
    counts = {"asked": 0, "cached": 0}
    if progress:
        progress(finished, total)
    records_path = rank_records(out, ranks)
    cache_path = Path(cache) if cache else out / CACHE
    prefetched = Prefetcher(
        mine, lambda sample: shown_media(sample, adapter, settings), lambda sample: _media_key(sample, adapter), workers=settings.render_workers
    )
    with (
        ResponseCache(rank_cache(out, cache_path, ranks)) as responses,
        open(records_path, "a", encoding="utf-8") as log_file,
        closing(iter(prefetched)) as rendered,
    ):
        for batch, shown in rendered:
            records, failures = _answer_batch(batch, shown, adapter, settings, responses, counts)
            with reporting_full_disk(records_path):
                log_file.write("".join(json.dumps(record, sort_keys=True) + "\n" for record in records))
                log_file.flush()
                os.fsync(log_file.fileno())
            finished += len(records)
            if progress:
                progress(finished, total)
            if failures:
                raise ModelError(
                    f"{adapter.name}: {len(failures)} of {len(batch)} requests failed ({failures[0]}); "
                    "the answers received are kept: run the same command again to ask the rest"
                )
    wait_for_all(ranks)
    if ranks.main:
        _add_rank_caches(out, cache_path)
        (write_predictions if settings.predict_only else _finish)(out, run, samples, data.protocols)
    wait_for_all(ranks)
    metrics = json.loads((out / "metrics.json").read_text())
    reused = sum(1 for sample in samples if "skipped" not in done.get(sample.id, {"skipped": True}))
    asked, cached = sum_over_ranks(ranks, [counts["asked"], counts["cached"]])
    return RunResult(out, metrics, asked, reused, metrics["skipped"], cached)


def _finish(out: Path, run: dict, samples: list[Sample], protocols: Mapping[str, str] | None = None) -> None:
    """Merge the answers into samples.jsonl, and write the metrics (with the headline number of
    each suite that names a published ``protocols``) and the report."""
    found = read_records(out)
    records = records_in_order(out, samples, found)
    rewrite_records(out, records, found)
    scored = [r for r in records if "skipped" not in r]
    metrics = {**run, **summarize(scored), "skipped": len(records) - len(scored)}
    headline = headlines(scored, {sample.id: sample.suite for sample in samples}, protocols or {})
    if headline:
        metrics["headline"] = headline
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    write_text_atomic(out / "results.md", run_markdown(metrics))
    from mmhay.report import write_report

    write_report([out], out, samples={sample.id: sample for sample in samples})


def _add_rank_caches(out: Path, cache: Path) -> None:
    """Add to ``cache`` the answers the ranks of a run on several nodes kept in caches of their own."""
    leftovers = rank_caches(out)
    if leftovers:
        with ResponseCache(cache) as responses:
            for path in leftovers:
                responses.absorb(path)


def _plan_longest_video(samples: list[Sample], settings: EvalSettings) -> None:
    """Plan the longest video sample's frames before anything is written: a sampler option out
    of its range (``fps:rate=-1``), or a budget too small for ``every`` frame of the longest
    video, is found with the real footage and fails with nothing written."""
    videos = [sample for sample in samples if not isinstance(sample.media, Gallery) and sample.media.segments]
    if videos:
        longest = max(videos, key=lambda sample: sample.media.duration)
        plan_frames(settings.sampler, footage_for(longest), settings.frames)


def _check_cache_file(path: Path) -> None:
    """Refuse, before the run folder is made, a ``--cache`` that exists and is no SQLite file."""
    if path.is_dir():
        raise DatasetError(path, "is a directory, not a response cache file")
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise DatasetError(path, "is not a response cache (not an SQLite file)")


def _check_unique(samples: list[Sample]) -> None:
    seen = set()
    for sample in samples:
        if sample.id in seen:
            raise DatasetError(sample.id, "appears twice in the data; sample ids must be unique")
        seen.add(sample.id)


def _batches(samples: list[Sample], done: dict, adapter: Adapter, batch_size: int, ranks: Ranks, prompts: Mapping = {}) -> list[list[Sample]]:
    """This rank's batches of the samples not ``done``: requests of one media kind, sorted by size
    so that a batch pads little, rotations of one question side by side so their frames are
    rendered once.

    The batches are cut from all the samples before the done ones are left out, so that a resumed
    run asks the rest in the batches the uninterrupted run asked them in (a batch's answers differ
    from its requests' alone in the last bits, which greedy decoding can turn into other words). A
    batch is left part done only where some of its requests failed, or where a kill cut its lines
    short, and then the cache holds the rest.
    """

    def shape(sample: Sample) -> tuple:
        kind, count = _media_shape(sample, adapter)
        return (kind, count, len(prompt_for(sample, prompts)), sample.group or sample.id, sample.rotation)

    ordered = sorted(samples, key=shape)
    mine = ordered[ranks.rank :: ranks.world]
    batches: list[list[Sample]] = []
    for sample in mine:
        kind = _media_shape(sample, adapter)[0]
        if batches and len(batches[-1]) < batch_size and _media_shape(batches[-1][0], adapter)[0] == kind:
            batches[-1].append(sample)
        else:
            batches.append([sample])
    return [left for left in ([sample for sample in batch if sample.id not in done] for batch in batches) if left]


def _media_shape(sample: Sample, adapter: Adapter) -> tuple[str, int]:
    """What the request for ``sample`` will carry, known without rendering: its kind
    (skip, none, images, video, audio, audio+video) and how many pictures."""
    if skip_reason(sample, adapter) or not adapter.needs_frames:
        return ("skip" if skip_reason(sample, adapter) else "none", 0)
    media = sample.media
    if isinstance(media, Gallery):
        return ("images", len(media.images))
    sees = getattr(adapter, "sees", True) and bool(media.segments)
    hears = adapter.takes_audio and bool(media.soundtrack)
    kind = "+".join(part for part, present in (("audio", hears), ("video", sees)) if present) or "none"
    return (kind, 0)


def skip_reason(sample: Sample, adapter: Adapter) -> str | None:
    """Why the model cannot be asked ``sample`` (its answer is in what the model cannot take)."""
    if not adapter.needs_frames:
        return None
    sees = getattr(adapter, "sees", True)
    if isinstance(sample.media, Gallery):
        return None if sees else "the model takes no pictures, and the answer is in them"
    needs_audio = sample.modality == "audio" or bool(sample.truth.get("needs_audio"))
    needs_pictures = sample.modality == "video" and sample.truth.get("kind") != "sound"
    if needs_audio and not adapter.takes_audio:
        return "the model takes no audio, and the answer is in the sound"
    if needs_pictures and not sees:
        return "the model takes no pictures, and the answer is in them"
    return None


def _media_key(sample: Sample, adapter: Adapter) -> str | None:
    """What names the frames ``sample`` is shown, or None where the model is not asked it. The
    rotations of a question share them: samplers see the same media, question and options."""
    if skip_reason(sample, adapter) or sample.answer_type.value not in PARSED_TYPES:
        return None
    return json.dumps({"media": sample.media.to_json(), "question": sample.group or sample.id}, sort_keys=True)


def shown_media(sample: Sample, adapter: Adapter, settings: EvalSettings) -> dict:
    """The media of ``sample`` as the request carries it: only what the model can take."""
    media = sample.media
    shown: dict = {}
    if isinstance(media, Gallery):
        if adapter.needs_frames:
            shown["images"] = tuple(media.render())
            if media.options:  # options that are pictures (MM-NIAH's choices_image_path)
                shown["option_images"] = tuple(media.render_options())
            if any(isinstance(item, str) for item in media.items):
                counter = iter(range(len(media.images)))
                shown["interleaved"] = tuple(item if isinstance(item, str) else next(counter) for item in media.items)
        return shown
    rate = frame_rate(media)
    shown["duration"], shown["fps"] = float(media.duration), None if rate is None else float(rate)
    if adapter.needs_frames and getattr(adapter, "sees", True) and media.segments:
        plan = plan_frames(settings.sampler, footage_for(sample), settings.frames)
        shown["frames"], shown["frame_times"] = render_plan(media, plan, each_at_its_scale=getattr(adapter, "takes_frame_sizes", False))
        if any(scale != 1 for scale in plan.scales):
            shown["frame_scales"] = plan.scales
    if adapter.needs_frames and adapter.takes_audio and media.soundtrack:
        shown["audio"], shown["audio_rate"] = media.audio(), media.audio_rate
    return shown


def request_for(sample: Sample, media: dict, settings: EvalSettings) -> Request:
    """What the model is asked about ``sample``: its prompt, and ``media`` as ``shown_media`` rendered it."""
    return Request(
        key=sample.id,
        prompt=prompt_for(sample, settings.prompts),
        answer_type=sample.answer_type.value,
        options=sample.options,
        facets=dict(sample.facets),
        compress=settings.compress,
        reference=sample.answer if settings.scoring == "likelihood" and sample.answer_type.value != "choice" else "",
        system=settings.system_prompt,
        generation=dict(settings.gen_kwargs),
        **media,
    )


def _answer_batch(
    batch: Sequence[Sample], shown: list[dict | None], adapter: Adapter, settings: EvalSettings, responses: ResponseCache, counts: dict
) -> tuple[list[dict], list[str]]:
    """Records for the samples of ``batch`` that got an answer (from the cache or the model),
    and the errors of those that did not; ``shown`` holds each sample's rendered media."""
    records: dict[str, dict] = {}
    requests: dict[str, Request] = {}
    keys: dict[str, str] = {}
    identity = {**adapter.identity(), **settings.identity()} if settings.compress else adapter.identity()
    if settings.scoring != "generate":  # a likelihood answer is never a generated one, nor the reverse
        identity = {**identity, "scoring": settings.scoring}
    for sample, media in zip(batch, shown):
        if sample.answer_type.value not in PARSED_TYPES:
            raise ConfigError(sample.id, "answer_type", "is not scored yet", sample.answer_type.value)
        reason = skip_reason(sample, adapter)
        if reason:
            records[sample.id] = _skipped(sample, prompt_for(sample, settings.prompts), reason)
            continue
        request = request_for(sample, media, settings)
        requests[sample.id] = request
        keys[sample.id] = request_key(identity, request)
    answers = {}
    cached = responses.get(list(keys.values()))
    ask = [sample_id for sample_id in requests if keys[sample_id] not in cached]
    ask_model = adapter.generate if settings.scoring == "generate" else adapter.score_likelihood
    fresh = ask_model([requests[sample_id] for sample_id in ask]) if ask else []
    failures = []
    for sample_id, answer in zip(ask, fresh):
        if answer.error:
            failures.append(f"{sample_id}: {answer.error}")
        else:
            answers[sample_id] = answer
    responses.put({keys[sample_id]: answer for sample_id, answer in answers.items()}, adapter.name)
    counts["asked"] += len(answers)
    for sample_id in requests:
        if keys[sample_id] in cached:
            answers[sample_id] = cached[keys[sample_id]]
            counts["cached"] += 1
    tags = getattr(getattr(adapter, "thinking", None), "tags", DEFAULT_TAGS)  # the think tags the checkpoint declares
    for sample in batch:
        if sample.id in answers:
            records[sample.id] = _scored(sample, requests[sample.id], answers[sample.id], settings, adapter.needs_frames, tags)
    return [records[sample.id] for sample in batch if sample.id in records], failures


def _scored(sample: Sample, request: Request, answer: Answer, settings: EvalSettings, looks: bool = True, tags: ThinkTags = DEFAULT_TAGS) -> dict:
    kind = sample.answer_type.value
    read = likelihood_verdict(answer, kind, sample.answer)  # None: generated, to be parsed
    # the reasoning is never read for the answer (mmhay.scoring.reasoning)
    reasoned = split_reasoning(answer.text, tags, opened_in(answer.prompt, tags))
    if looks:
        given = frame_given(request.frames, request.frame_times, answer.received, request.audio, request.audio_rate, request.images)
    else:  # a baseline is credited with what the sampler would have shown
        given = given_by_plan(sample, settings.sampler, settings.frames)
    shown = exposure(sample, given, settings.min_shown)
    record = {
        **_record(sample, request.prompt),
        "frame_times": [round(t, 6) for t in request.frame_times],
        **({"frame_scales": list(request.frame_scales)} if request.frame_scales else {}),
        "output": answer.text,
        "chance": chance(kind, len(sample.options)),
        "exposure": shown,
    }
    if reasoned.thought and read is None:
        record["reasoning"] = {"chars": len(reasoned.reasoning), "cut_off": reasoned.cut_off, "final_text": reasoned.answer}
        if "reasoning_tokens" in answer.usage:
            record["reasoning"]["tokens"] = answer.usage["reasoning_tokens"]
    if not settings.predict_only:  # a --predict-only answer gets its verdict later (mmhay.predictions)
        counted = shown["shown_count"] if sample.task in COUNTING_TASKS else None
        record.update(verdict(kind, sample.options, sample.answer, reasoned.answer, shown_count=counted, read=read))
    if request.audio is not None and getattr(sample.media, "peak_dbfs", None) is not None:
        # the gain the whole recording was heard at (found when it was rendered, remembered)
        record["audio_gain_db"] = round(20 * log10(mix_gain(sample.media)), 3)
    if answer.likelihood:
        record["likelihood"] = dict(answer.likelihood)
    if answer.usage:
        record["usage"] = dict(answer.usage)
    if settings.log_samples and answer.prompt is not None:
        record["input"] = answer.prompt
    return record


def _record(sample: Sample, prompt: str) -> dict:
    """What every line of samples.jsonl says about its sample."""
    record = {
        "id": sample.id,
        "index": sample.index,
        "task": sample.task,
        "modality": sample.modality,
        "answer_type": sample.answer_type.value,
        "facets": {**sample.facets, **placement_facets(sample)},
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
