"""``mmhay export lmms-eval``: a built suite as an lmms-eval task, scored by mmhay's definitions.

The task folder holds ``<task>.yaml`` (the built suite loaded with ``load_from_disk``, greedy
generation) and a ``<task>_utils.py`` of a few lines that points at the functions below (one pair
a task, so several suites can be exported into one ``--include_path`` folder), so lmms-eval's
own model classes answer and mmhay parses and scores the answers exactly as ``mmhay eval`` does.
lmms-eval needs mmhay installed beside it. Run it as::

    python -m lmms_eval --model qwen2_5_vl --model_args pretrained=... \\
        --tasks mmhay_quickstart --include_path DIR

What lmms-eval cannot express is left out, and the YAML says so: text written between the images
of an interleaved multi-image sample is dropped (the images are kept, in order), and circular
rotations are scored one by one rather than as groups.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mmhay.errors import ConfigError, DatasetError

__all__ = ["write_lmms_eval_task", "process_docs", "doc_to_visual", "doc_to_text", "process_results", "mean_accuracy", "unparsed_rate"]

_UTILS = '''"""lmms-eval hooks for an mmhay suite, written by `mmhay export lmms-eval`.

Everything is mmhay's own code: the prompt, the media, the parsing and the scoring.
"""

# suite: {suite!r}

from functools import partial

from mmhay import lmms_eval_task as _mmhay

DATA = {data!r}

doc_to_visual = partial(_mmhay.doc_to_visual, data=DATA)
process_docs = _mmhay.process_docs
doc_to_text = _mmhay.doc_to_text
process_results = _mmhay.process_results
mean_accuracy = _mmhay.mean_accuracy
unparsed_rate = _mmhay.unparsed_rate
'''

_YAML = """# lmms-eval task for the mmhay suite {suite!r} ({samples} samples), written by `mmhay export lmms-eval`.
# Evaluate with: python -m lmms_eval --model MODEL --model_args pretrained=... --tasks {task} --include_path {folder}
# Not expressible in lmms-eval: text between the images of interleaved samples is dropped;
# circular rotations (if built with --circular) are scored one by one, not as groups.
task: {task}
dataset_path: {data}
dataset_kwargs:
  load_from_disk: true
test_split: test
output_type: generate_until
process_docs: !function {module}.process_docs
doc_to_visual: !function {module}.doc_to_visual
doc_to_text: !function {module}.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: {max_new_tokens}
  temperature: 0
  top_p: 1.0
  num_beams: 1
  do_sample: false
process_results: !function {module}.process_results
metric_list:
  - metric: mmhay_accuracy
    aggregation: !function {module}.mean_accuracy
    higher_is_better: true
  - metric: mmhay_unparsed
    aggregation: !function {module}.unparsed_rate
    higher_is_better: false
metadata:
  - version: 1.0
    mmhay_config_key: {config_key}
"""


def write_lmms_eval_task(data: str | Path, out: str | Path, *, task: str | None = None, max_new_tokens: int = 32) -> list[Path]:
    """Write the lmms-eval task folder for the built suite ``data`` into ``out``; returns the files."""
    from mmhay.atomic import output_folder, write_text_atomic
    from mmhay.build import read_manifest

    data = Path(data).resolve()
    manifest = read_manifest(data)
    _check_manifest(data, manifest)
    _check_media_paths(data)
    _check_no_text_needles(data, manifest)
    name = task or "mmhay_" + re.sub(r"[^0-9a-zA-Z_]+", "_", manifest["suite"]).strip("_").lower()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigError("--task", "", "must be letters, digits and underscores, not starting with a digit", name)
    if max_new_tokens < 1:
        raise ConfigError("--max-new-tokens", "", "must be at least 1", max_new_tokens)
    out = output_folder(out)
    yaml_path, utils_path = out / f"{name}.yaml", out / f"{name}_utils.py"
    fields = {
        "suite": manifest["suite"],
        "samples": manifest.get("rows", manifest["samples"]),
        "task": name,
        "folder": out.resolve(),
        "data": json.dumps(str(data)),
        "max_new_tokens": max_new_tokens,
        "config_key": manifest["config_key"],
        "module": utils_path.stem,
    }
    write_text_atomic(utils_path, _UTILS.format(suite=manifest["suite"], data=str(data)))
    write_text_atomic(yaml_path, _YAML.format(**fields))
    return [yaml_path, utils_path]


# what the written files quote from the manifest: nothing there may break out of a YAML value or
# a Python string (a downloaded suite's manifest is as untrusted as its rows)
_SUITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
_CONFIG_KEY = re.compile(r"[0-9a-f]{64}")


def _check_no_text_needles(data: Path, manifest: dict) -> None:
    """Refuse a document suite whose tasks hide needles in the text between images: the task
    would drop the text, and the answer with it."""
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    if config.get("prompts"):  # the task's doc_to_text asks in mmhay's default words
        raise ConfigError(data, "prompts", "the suite's prompt templates are not carried into an lmms-eval task; evaluate with mmhay eval")
    if config.get("generator") != "document":
        return
    tasks = (config.get("grid") or {}).get("task") or [config.get("task")]
    hidden = [t for t in tasks if isinstance(t, str) and t.endswith("_text")]
    if hidden:
        raise ConfigError(data, "task", f"{', '.join(hidden)} hide needles in the text between images, which an lmms-eval task drops; evaluate with mmhay eval", hidden[0])
    if (config.get("question") or {}).get("option_media") == "image":  # lmms-eval shows every picture before the text
        raise ConfigError(data, "question.option_media", "options that are pictures go after the question, at their letters, which an lmms-eval task cannot place; evaluate with mmhay eval", "image")


def _check_manifest(data: Path, manifest: dict) -> None:
    for key, pattern in (("suite", _SUITE_NAME), ("config_key", _CONFIG_KEY)):
        value = manifest.get(key)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise DatasetError(data / "manifest.json", f"{key} = {value!r} is not what mmhay build writes; refusing to export it")
    if not isinstance(manifest.get("rows", manifest.get("samples")), int):
        raise DatasetError(data / "manifest.json", "the sample count is not a number; refusing to export it")


def _check_media_paths(data: Path) -> None:
    """Refuse a suite whose rows name media outside its folder (an absolute path, or ``..``)."""
    import datasets

    from mmhay.artifacts import SPLIT

    try:
        table = datasets.load_from_disk(str(data))[SPLIT].data
    except Exception as error:
        raise DatasetError(data, f"cannot load the dataset ({type(error).__name__}: {error})") from None
    for column, folder in (("video", ""), ("images", "images"), ("audio", "audio")):
        if column not in table.column_names:
            continue
        values = table.column(column).combine_chunks()
        if column == "images":
            values = values.flatten()
        paths = values.to_pylist() if column == "video" else values.field("path").to_pylist()
        for path in paths:
            if path:
                _inside(str(data), folder, path)


def _inside(data: str, folder: str, name: str) -> Path:
    """``data/folder/name``, if it stays inside ``data``; a ``DatasetError`` otherwise."""
    root = Path(data).resolve()
    path = (root / folder / name).resolve()
    if not path.is_relative_to(root):
        raise DatasetError(root, f"a row's media path {name!r} leaves the suite's folder; refusing to read it")
    return path


def doc_to_visual(doc: dict, *, data: str) -> list[Any]:
    """What lmms-eval's model classes take: a video's path, the pictures, or the sound as
    ``{"array", "sampling_rate"}``. Media paths stay inside ``data``."""
    if doc.get("video"):
        return [str(_inside(data, "", doc["video"]))]
    if doc.get("images"):
        return [_picture(image, data) for image in doc["images"]]
    if doc.get("audio"):
        return [_sound(doc["audio"], data)]
    return []


def _picture(image: Any, data: str):
    import io

    from PIL import Image

    if isinstance(image, dict):  # the column read without decoding
        source = io.BytesIO(image["bytes"]) if image.get("bytes") else _inside(data, "images", image["path"])
        image = Image.open(source)
    return image.convert("RGB")


def _sound(audio: dict, data: str) -> dict:
    """The sample's sound, mono float32 at its own rate, read from its file in the build."""
    from fractions import Fraction

    from mmhay.media.audio import probe_audio, read_audio

    path = _inside(data, "audio", Path(audio["path"]).name)
    info = probe_audio(path)
    return {"array": read_audio(path, Fraction(0), info.duration, info.rate, 1)[0], "sampling_rate": info.rate}


def process_docs(dataset):
    """The rows as lmms-eval reads them: sound left undecoded (mmhay reads it; ``datasets``
    would need torchcodec to)."""
    from datasets import Audio

    if "audio" in dataset.column_names:
        dataset = dataset.cast_column("audio", Audio(decode=False))
    return dataset


def doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    """The prompt ``mmhay eval`` gives: question, lettered options, how to answer."""
    from mmhay.prompts import prompt_text
    from mmhay.schema import AnswerType

    kwargs = lmms_eval_specific_kwargs or {}
    text = prompt_text(doc["question"], tuple(doc["options"]), AnswerType(doc["answer_type"]))
    return f"{kwargs.get('pre_prompt', '')}{text}{kwargs.get('post_prompt', '')}"


def process_results(doc: dict, results: list[str]) -> dict:
    """mmhay's parse and score of the model's answer, for both metrics of the task."""
    from mmhay.scoring.parse import parse_answer
    from mmhay.scoring.reasoning import split_reasoning
    from mmhay.scoring.score import is_correct

    output = split_reasoning(results[0]).answer if results else ""  # the reasoning is never read for the answer
    options = tuple(doc["options"])
    parsed = parse_answer(doc["answer_type"], output, options)
    record = {"id": doc["id"], "task": doc["task"], "correct": bool(is_correct(doc["answer_type"], parsed, doc["answer"])), "parsed": parsed}
    return {"mmhay_accuracy": record, "mmhay_unparsed": record}


def mean_accuracy(records: list[dict]) -> float:
    """The share of answers mmhay scores right (as ``overall.accuracy`` in metrics.json)."""
    return sum(r["correct"] for r in records) / len(records) if records else 0.0


def unparsed_rate(records: list[dict]) -> float:
    """The share of answers mmhay could not read as the answer type asked."""
    return sum(r["parsed"] is None for r in records) / len(records) if records else 0.0
