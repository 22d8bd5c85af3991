"""``mmhay build``: render a suite into a Hugging Face dataset on disk, resumably and reproducibly.

Layout of a built suite::

    OUT/dataset_dict.json, OUT/test/   the DatasetDict (``datasets.load_from_disk(OUT)``)
    OUT/videos/000000.mp4 ...          one video per sample, named by index
    OUT/README.md                      the dataset card
    OUT/manifest.json                  config, seed, sources and the SHA-256 of every video

Every file is written under a temporary name and renamed into place, so a killed build leaves only
complete videos behind; running the same command again renders the rest and gives the same bytes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from mmhay.atomic import write_text_atomic
from mmhay.config import SuiteConfig
from mmhay.errors import DatasetError
from mmhay.generators import Generator, create_generator
from mmhay.media.probe import file_sha256
from mmhay.schema import Sample
from mmhay.timeline import Composition

__all__ = ["BuildResult", "build_suite", "iter_built_samples", "read_manifest", "Progress"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``."""

STATE_FILE = ".mmhay-build.json"
MANIFEST = "manifest.json"
VIDEOS = "videos"
SPLIT = "test"


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
    progress: Progress | None = None,
) -> BuildResult:
    """Render the first ``limit`` samples of ``suite`` (all by default) into the folder ``out``.

    Sources are checked before anything is written. A folder holding a build of the same config
    and seed is resumed; one holding anything else is refused.
    """
    out = Path(out)
    if seed is not None:
        suite = suite.with_seed(seed)
    generator = create_generator(suite, strict=strict)
    count = len(generator) if limit is None else min(limit, len(generator))
    _claim(out, suite)
    videos = out / VIDEOS
    videos.mkdir(exist_ok=True)
    for leftover in videos.glob(".*.tmp"):
        leftover.unlink()  # partial files of a killed run
    pending = [i for i in range(count) if not (videos / _video_name(i)).exists()]
    _render_all(generator, pending, videos, num_proc, count, progress)
    for stale in videos.glob("*.mp4"):
        if not stale.stem.isdigit() or int(stale.stem) >= count:
            stale.unlink()  # from an earlier build of more samples
    samples = [generator.sample(i) for i in range(count)]
    if progress:
        progress("dataset", 0, 1)
    _save_dataset(out, samples)
    write_text_atomic(out / "README.md", _dataset_card(suite, samples))
    manifest = {
        "mmhay": _version(),
        "suite": suite.name,
        "config_key": suite.key(),
        "seed": suite.seed,
        "samples": count,
        "config": suite.model_dump(mode="json"),
        "sources": generator.sources(),
        "videos": {f"{VIDEOS}/{_video_name(i)}": file_sha256(videos / _video_name(i)) for i in range(count)},
        "software": _software(),
    }
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if progress:
        progress("dataset", 1, 1)
    return BuildResult(out, count, len(pending), count - len(pending))


def iter_built_samples(path: str | Path, limit: int | None = None) -> Iterator[Sample]:
    """The samples of a built suite, each a composition of its one video file."""
    import datasets

    path = Path(path)
    read_manifest(path)
    try:
        table = datasets.load_from_disk(str(path))[SPLIT]
    except Exception as error:
        raise DatasetError(path, f"cannot load the dataset ({type(error).__name__}: {error})") from None
    for k, row in enumerate(table):
        if limit is not None and k >= limit:
            return
        video = path / row["video"]
        yield Sample(
            id=row["id"],
            suite=row["suite"],
            task=row["task"],
            modality=row["modality"],
            question=row["question"],
            options=tuple(row["options"]),
            answer=row["answer"],
            answer_type=row["answer_type"],
            media=Composition.from_file(video),
            truth=json.loads(row["truth"]),
            facets=json.loads(row["facets"]),
            seed=row["seed"],
            index=row["index"],
        )


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


def _video_name(index: int) -> str:
    return f"{index:06d}.mp4"


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


def _start_worker(generator: Generator) -> None:
    global _worker_generator
    _worker_generator = generator


def _render_in_worker(index: int, folder: str) -> int:
    assert _worker_generator is not None
    _render_one(_worker_generator, index, Path(folder))
    return index


def _render_one(generator: Generator, index: int, folder: Path) -> None:
    generator.sample(index).media.write(folder / _video_name(index))


def _render_all(
    generator: Generator, pending: list[int], folder: Path, num_proc: int, total: int, progress: Progress | None
) -> None:
    done = total - len(pending)
    if progress:
        progress("render", done, total)
    if num_proc <= 1 or len(pending) <= 1:
        for index in pending:
            _render_one(generator, index, folder)
            done += 1
            if progress:
                progress("render", done, total)
        return
    context = get_context("spawn")  # no fork: the parent may hold threads (PyAV, torch)
    with ProcessPoolExecutor(num_proc, mp_context=context, initializer=_start_worker, initargs=(generator,)) as pool:
        for _ in pool.map(_render_in_worker, pending, [str(folder)] * len(pending), chunksize=1):
            done += 1
            if progress:
                progress("render", done, total)


def _features():
    from datasets import Features, List, Value

    text = Value("string")
    return Features(
        {
            "id": text,
            "suite": text,
            "task": text,
            "modality": text,
            "question": text,
            "options": List(text),
            "answer": text,
            "answer_type": text,
            "truth": text,
            "facets": text,
            "seed": Value("int64"),
            "index": Value("int64"),
            "video": text,
            "recipe": text,
        }
    )


def _save_dataset(out: Path, samples: list[Sample]) -> None:
    import datasets

    columns: dict[str, list] = {name: [] for name in _features()}
    for sample in samples:
        row = sample.to_json()
        for name in ("id", "suite", "task", "modality", "question", "options", "answer", "answer_type", "seed", "index"):
            columns[name].append(row[name])
        columns["truth"].append(json.dumps(row["truth"], sort_keys=True))
        columns["facets"].append(json.dumps(row["facets"], sort_keys=True))
        columns["video"].append(f"{VIDEOS}/{_video_name(sample.index)}")
        columns["recipe"].append(json.dumps(row["media"], sort_keys=True))
    table = datasets.Dataset.from_dict(columns, features=_features())
    staging = out / ".dataset.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        datasets.DatasetDict({SPLIT: table}).save_to_disk(str(staging))
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



def _dataset_card(suite: SuiteConfig, samples: list[Sample]) -> str:
    from collections import Counter

    import yaml

    letters = Counter(sample.answer for sample in samples)
    cells = Counter(json.dumps(sample.facets, sort_keys=True) for sample in samples)
    size = "n<1K" if len(samples) < 1000 else "1K<n<10K" if len(samples) < 10_000 else "10K<n<100K"
    header = yaml.safe_dump(
        {
            "pretty_name": f"mmhay {suite.name}",
            "task_categories": ["video-text-to-text"],
            "tags": ["mmhay", "needle-in-a-haystack", "video", "synthetic"],
            "size_categories": [size],
            "license": "other",
        },
        sort_keys=False,
    )
    names = sorted({name for sample in samples for name in sample.facets})
    facet_header = "| " + " | ".join(names + ["samples"]) + " |\n|" + " --- |" * (len(names) + 1)
    facet_rows = "\n".join(
        "| " + " | ".join([f"{json.loads(cell).get(name, '')}" for name in names] + [str(n)]) + " |"
        for cell, n in sorted(cells.items())
    )
    letter_rows = ", ".join(f"{letter}: {n}" for letter, n in sorted(letters.items()))
    config_yaml = yaml.safe_dump(suite.model_dump(mode="json"), sort_keys=False)
    return f"""---
{header}---

# mmhay suite `{suite.name}`

{suite.description or "A needle-in-a-haystack suite built with mmhay."}

{len(samples)} samples, tasks {", ".join(f"`{t}`" for t in sorted({s.task for s in samples}))}, generator
`{suite.generator}`, seed {suite.seed}. Each sample is a video (`videos/NNNNNN.mp4`, H.264,
{suite.video.size[0]}x{suite.video.size[1]} at {suite.video.fps} fps) with a question about the needles hidden in it.

## Load

```python
import datasets
suite = datasets.load_from_disk("path/to/this/folder")["{SPLIT}"]
print(suite[0]["question"], suite[0]["options"], suite[0]["answer"])
```

Or evaluate a model on it: `mmhay eval --model hf:PATH --data path/to/this/folder --out run/`.

## Columns

| column | holds |
| --- | --- |
| `id`, `index`, `seed`, `suite` | which sample this is; `index` and `seed` regenerate it |
| `task`, `modality`, `answer_type` | what is asked and how the answer is written |
| `question`, `options`, `answer` | the question, its options in order (if any), the answer: an option letter, a count, `yes`/`no`, letters in order (`C,A,B`), `start,end` seconds, or a short text |
| `truth` | JSON: every needle and distractor (`start`/`end` seconds, `frames` as [first, end) indices, `box` [x, y, w, h] for overlays, `source`), and the needle asked about |
| `facets` | JSON: the grid cell, one key per axis (haystack `length` in seconds, `depth` 0..1, `distractors`, ...) |
| `video` | the sample's video, relative to this folder |
| `recipe` | JSON: the composition the video was rendered from (sources, cuts, needle) |

## Facet grid

{facet_header}
{facet_rows}

Correct letters: {letter_rows}.

## Licence

Procedural footage pans over photographs that ship with scikit-image (public domain or
CC0/CC-BY, see scikit-image's data licences); needle pictures are drawn by mmhay. Media taken from
user folders keeps its own licence.

## Reproduce

`manifest.json` lists the SHA-256 of every video and the software versions. This config with
`mmhay build CONFIG --out DIR --seed {suite.seed}` renders the same suite:

```yaml
{config_yaml}```
"""


def _version() -> str:
    from mmhay import __version__

    return __version__


def _software() -> dict:
    import av
    import numpy

    libavcodec = av.library_versions.get("libavcodec", ())
    return {
        "av": av.__version__,
        "libavcodec": ".".join(str(v) for v in libavcodec),
        "numpy": numpy.__version__,
        "opencv": _package_version("opencv-python-headless"),
        "pillow": _package_version("pillow"),
    }


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"
