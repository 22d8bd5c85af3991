"""``mmhay build``: render a suite into a Hugging Face dataset on disk, resumably and reproducibly.

Layout of a built suite::

    OUT/dataset_dict.json, OUT/test/   the DatasetDict (``datasets.load_from_disk(OUT)``)
    OUT/videos/000000.mp4 ...          video suites: one video per sample, named by index
    OUT/images/000000-0.png ...        image suites: the images of each sample (also in the dataset)
    OUT/audio/000000.flac ...          sound suites: one recording per sample (also in the dataset)
    OUT/README.md                      the dataset card
    OUT/manifest.json                  config, seed, sources, the SHA-256 of every file, the software

Every file is written under a temporary name and renamed into place, so a killed build leaves only
complete files behind; running the same command again renders the rest and gives the same bytes.
``manifest.json`` is written last and removed when a build starts: a folder without it is a build
not finished (or being changed), and readers refuse it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

from mmhay.artifacts import FOLDERS, SPLIT, media_columns, media_files, media_values, read_media, write_media
from mmhay.atomic import remove_temporary_files, reporting_full_disk, write_text_atomic
from mmhay.card import dataset_card
from mmhay.config import SuiteConfig
from mmhay.errors import DatasetError
from mmhay.generators import Generator, create_generator
from mmhay.media.probe import file_sha256
from mmhay.schema import SAMPLE_SCHEMA, Sample, rotations
from mmhay.software import software

__all__ = ["BuildResult", "build_suite", "iter_built_samples", "read_manifest", "Progress"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``."""

STATE_FILE = ".mmhay-build.json"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: the folder, how many samples, how many videos were rendered now or reused."""

    out: Path
    samples: int
    rendered: int
    reused: int


def build_suite(
    suite: SuiteConfig,
    out: str | Path,
    *,
    seed: int | None = None,
    limit: int | None = None,
    num_proc: int = 1,
    strict: bool = False,
    circular: bool = False,
    progress: Progress | None = None,
    ray: str | None = None,
) -> BuildResult:
    """Render the first ``limit`` samples of ``suite`` (all by default) into the folder ``out``.

    Sources are checked before anything is written. A folder holding a build of the same config
    and seed is resumed; one holding anything else is refused. With ``circular``, the dataset
    holds every rotation of each multiple-choice question (sharing its media), linked by ``group``.
    ``ray`` renders on a Ray cluster at that address ("" starts a local one) instead of
    ``num_proc`` local processes; the folder must be on a filesystem every node sees.
    """
    out = Path(out)
    if seed is not None:
        suite = suite.with_seed(seed)
    generator = create_generator(suite, strict=strict)
    count = len(generator) if limit is None else min(limit, len(generator))
    with ExitStack() as session:
        if ray is not None:  # a cluster that cannot be reached fails before the folder is touched
            from mmhay.ray_build import ray_session

            session.enter_context(ray_session(ray))
        pending, samples, rows, wanted = _plan(out, suite, generator, count, circular)
        if ray is not None:
            _render_on_ray(suite, strict, pending, out, ray, count, progress)
        else:
            _render_all(generator, pending, out, num_proc, count, progress)
    _remove_partial_files(out)  # a worker killed mid-file (a Ray retry, an OOM kill) left its temporary
    if progress:
        progress("dataset", 0, 1)
    _save_dataset(out, rows, generator.modality)
    write_text_atomic(out / "README.md", dataset_card(suite, samples, generator.modality))
    manifest = {
        "mmhay": _version(),
        "suite": suite.name,
        "modality": generator.modality,
        "config_key": suite.key(),
        "seed": suite.seed,
        "samples": count,
        "rows": len(rows),
        "circular": circular,
        "config": suite.model_dump(mode="json"),
        "sources": generator.sources(),
        "files": {name: file_sha256(out / name) for name in sorted(wanted)},
        "software": software(),
    }
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if progress:
        progress("dataset", 1, 1)
    return BuildResult(out, count, len(pending), count - len(pending))


def iter_built_samples(path: str | Path, limit: int | None = None) -> Iterator[Sample]:
    """The samples of a built suite, each a composition (or gallery) of its own files."""
    import datasets

    path = Path(path)
    read_manifest(path)
    try:
        table = datasets.load_from_disk(str(path))[SPLIT]
        table = table.select_columns([c for c in table.column_names if c not in ("images", "audio")])
    except Exception as error:
        raise DatasetError(path, f"cannot load the dataset ({type(error).__name__}: {error})") from None
    for k, row in enumerate(table):
        if limit is not None and k >= limit:
            return
        fields = {key: row[key] for key in _SAMPLE_COLUMNS if key in row}  # suites built before rotations lack two
        fields.update(schema=SAMPLE_SCHEMA, media=json.loads(row["recipe"]), truth=json.loads(row["truth"]), facets=json.loads(row["facets"]))
        recipe = Sample.from_json(fields)
        yield replace(recipe, media=read_media(recipe, path))


def read_manifest(path: str | Path) -> dict:
    """The manifest of a built suite; a ``DatasetError`` if ``path`` is not a finished build."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "no such directory")
    if not path.is_dir():
        raise DatasetError(path, "not a directory")
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise DatasetError(path, "not a built mmhay suite (no manifest.json); run `mmhay build` first")
    try:
        return json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(manifest, f"unreadable manifest: {error}") from None


def _claim(out: Path, suite: SuiteConfig) -> None:
    """Make ``out`` this build's folder, or refuse if it holds something else."""
    state = {"suite": suite.name, "config_key": suite.key(), "seed": suite.seed}
    if out.exists() and not out.is_dir():
        raise DatasetError(out, "exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        marker = out / STATE_FILE
        if not marker.is_file():
            raise DatasetError(out, "exists and is not an mmhay build; choose a new or empty folder")
        try:
            previous = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
        if previous != state:
            raise DatasetError(
                out, "holds a build of another config or seed; choose another --out or delete the folder"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / STATE_FILE, json.dumps(state, sort_keys=True) + "\n")


_worker_generator: Generator | None = None


def _plan(out: Path, suite: SuiteConfig, generator: Generator, count: int, circular: bool) -> tuple[list[int], list[Sample], list[Sample], set[str]]:
    """Claim ``out``, clear what a killed or larger earlier build left, and list what to render:
    the pending sample indices, the samples, the dataset rows and the media files wanted."""
    _claim(out, suite)
    # from here the folder is a build in progress: an earlier manifest would vouch for files this
    # build may replace or delete
    (out / MANIFEST).unlink(missing_ok=True)
    _remove_partial_files(out)
    for retired in out.glob(".*.old"):
        shutil.rmtree(retired, ignore_errors=True)  # a dataset folder a killed build was replacing
    samples = [generator.sample(i) for i in range(count)]
    rows = [rotation for sample in samples for rotation in rotations(sample)] if circular else samples
    wanted = {name for sample in samples for name in media_files(sample)}
    for folder in FOLDERS:
        for stale in (out / folder).glob("*") if (out / folder).is_dir() else ():
            if f"{folder}/{stale.name}" not in wanted:
                stale.unlink()  # from an earlier build of more samples
    for name in wanted:
        (out / name).parent.mkdir(exist_ok=True)
    pending = [s.index for s in samples if not all((out / name).exists() for name in media_files(s))]
    return pending, samples, rows, wanted


def _remove_partial_files(out: Path) -> None:
    """Delete the temporary files killed writers left in the suite's folder and its media folders."""
    for folder in (out, *(out / name for name in FOLDERS)):
        remove_temporary_files(folder)


def _start_worker(generator: Generator) -> None:
    global _worker_generator
    _worker_generator = generator
    # SIGTERM sent to the whole group: the build decides (the samples in hand finish, the rest
    # are dropped), rather than each worker dying in the middle of a file
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _exit_with_parent()


def _exit_with_parent(every: float = 0.5) -> None:
    """Leave when the build that started this worker is gone (killed, even by SIGKILL), rather than
    wait forever for work and render into a folder that a new build may be using."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="mmhay-parent-watch", daemon=True).start()


def _render_in_worker(index: int, folder: str) -> int:
    assert _worker_generator is not None
    write_media(_worker_generator.sample(index), Path(folder))
    return index


def _render_all(generator: Generator, pending: list[int], out: Path, num_proc: int, total: int, progress: Progress | None) -> None:
    done = total - len(pending)
    if progress:
        progress("render", done, total)
    if num_proc <= 1 or len(pending) <= 1:
        for index in pending:
            write_media(generator.sample(index), out)
            done += 1
            if progress:
                progress("render", done, total)
        return
    context = get_context("spawn")  # no fork: the parent may hold threads (PyAV, torch)
    pool = ProcessPoolExecutor(num_proc, mp_context=context, initializer=_start_worker, initargs=(generator,))
    try:
        for _ in pool.map(_render_in_worker, pending, [str(out)] * len(pending), chunksize=1):
            done += 1
            if progress:
                progress("render", done, total)
    finally:
        # stopped (an error, Ctrl-C, SIGTERM): the samples being rendered finish, the rest are dropped
        pool.shutdown(wait=True, cancel_futures=True)


def _render_on_ray(suite: SuiteConfig, strict: bool, pending: list[int], out: Path, address: str, total: int, progress: Progress | None) -> None:
    from mmhay.ray_build import render_on_ray

    done = total - len(pending)
    if progress:
        progress("render", done, total)

    def on_done(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress("render", done, total)

    render_on_ray(suite, pending, out, address, strict=strict, on_done=on_done)


_SAMPLE_COLUMNS = ("id", "suite", "task", "modality", "question", "options", "answer", "answer_type", "seed", "index", "group", "rotation")


def _features(modality: str):
    from datasets import Features, List, Value

    text = Value("string")
    columns = {name: text for name in _SAMPLE_COLUMNS}
    columns.update({"options": List(text), "seed": Value("int64"), "index": Value("int64"), "rotation": Value("int64"), "truth": text, "facets": text})
    columns.update(media_columns(modality))
    columns["recipe"] = text
    return Features(columns)


def _save_dataset(out: Path, samples: list[Sample], modality: str) -> None:
    import datasets
    import pyarrow as pa
    from datasets.table import InMemoryTable

    features = _features(modality)
    columns: dict[str, list] = {name: [] for name in features}
    for sample in samples:
        row = sample.to_json()
        for name in _SAMPLE_COLUMNS:
            columns[name].append(row[name])
        columns["truth"].append(json.dumps(row["truth"], sort_keys=True))
        columns["facets"].append(json.dumps(row["facets"], sort_keys=True))
        columns["recipe"].append(json.dumps(row["media"], sort_keys=True))
        for name, value in media_values(sample, out).items():
            columns[name].append(value)
    # Arrow directly, in the features' storage types: datasets 4+ would need torchcodec only to
    # encode audio we have already encoded
    schema = features.arrow_schema
    table = pa.table({name: pa.array(values, type=schema.field(name).type) for name, values in columns.items()}, schema=schema)
    dataset = datasets.Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=features))
    staging = out / ".dataset.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with reporting_full_disk(out / SPLIT):
            datasets.DatasetDict({SPLIT: dataset}).save_to_disk(str(staging))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if bars:
            datasets.enable_progress_bars()
    for item in sorted(staging.iterdir()):
        target = out / item.name
        if target.is_dir():
            retired = out / f".{item.name}.old"
            shutil.rmtree(retired, ignore_errors=True)
            os.replace(target, retired)
            os.replace(item, target)
            shutil.rmtree(retired)
        else:
            os.replace(item, target)
    staging.rmdir()


def _version() -> str:
    from mmhay import __version__

    return __version__

