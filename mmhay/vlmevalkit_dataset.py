"""``mmhay export vlmevalkit``: a built suite as VLMEvalKit custom datasets (TSV files in an LMUData folder).

VLMEvalKit reads a dataset it does not know from ``$LMUData/<NAME>.tsv``: with option columns
``A``, ``B``, ... and ``image`` or ``image_path`` it is a custom multiple-choice dataset
(``CustomMCQDataset``, scored by its exact-matching rule offline), without them a custom
open-ended one (``CustomVQADataset``: answers only, VLMEvalKit has no scorer for it). It has no
custom *video* dataset: every video dataset class downloads its own data. So a video sample goes
in as the frames ``mmhay eval --frames N --sampler S`` would show it, written as PNG files and
listed in ``image_path`` (absolute paths, in order); an image sample as its pictures.

Written into the output folder (give it to VLMEvalKit as ``LMUData``):

- ``<NAME>.tsv``: the multiple-choice questions (index, image_path, question, A.., answer = the
  letter, category = the task, mmhay_id);
- ``<NAME>_openended.tsv``: the other questions, with mmhay's prompt (it says how to answer) as
  the question and mmhay's answer as the answer, plus answer_type (``openended`` in the name is
  what makes VLMEvalKit treat it as open-ended);
- ``images/<NAME>/``: the frames; ``vlmevalkit.json``: what was written and the command to run.

Sound has no place in a VLMEvalKit custom dataset: a suite whose samples are heard is refused.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from mmhay.errors import ConfigError, DatasetError

__all__ = ["write_vlmevalkit_dataset", "MCQ_COLUMNS", "OPEN_COLUMNS"]

MCQ_COLUMNS = ("index", "image_path", "question", "answer", "category", "mmhay_id")
OPEN_COLUMNS = ("index", "image_path", "question", "answer", "answer_type", "category", "mmhay_id")


def write_vlmevalkit_dataset(data: str | Path, out: str | Path, *, name: str | None = None, frames: int = 8, sampler: str = "uniform") -> dict:
    """Write the built suite ``data`` into ``out`` as VLMEvalKit custom datasets; returns what
    ``vlmevalkit.json`` records (dataset names, row counts, files, the command)."""
    from mmhay.atomic import output_folder, write_text_atomic
    from mmhay.build import read_manifest
    from mmhay.eval_data import open_data
    from mmhay.lmms_eval_task import _check_manifest, _check_media_paths, _check_no_text_needles
    from mmhay.sampling import check_sampler

    data = Path(data).resolve()
    manifest = read_manifest(data)
    _check_manifest(data, manifest)
    _check_media_paths(data)
    _check_no_text_needles(data, manifest)
    name = name or "MMHAY_" + re.sub(r"[^0-9a-zA-Z_]+", "_", manifest["suite"]).strip("_")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,79}", name):
        raise ConfigError("--name", "", "must be letters, digits and underscores, starting with a letter", name)
    if frames < 1:
        raise ConfigError("--frames", "", "must be at least 1", frames)
    check_sampler(sampler)
    samples = list(open_data(data).samples())
    for sample in samples:  # refused before anything is written
        if sample.modality == "audio" or sample.truth.get("needs_audio"):
            raise DatasetError(data, f"sample {sample.id}: its answer is in the sound, which a VLMEvalKit custom dataset cannot carry")
    out = output_folder(out).resolve()
    images = output_folder(out / "images" / name)
    rows: dict[str, list[dict]] = {"mcq": [], "open": []}
    for number, sample in enumerate(samples):
        paths = _write_pictures(sample, images, number, frames, sampler, data)
        row = {"index": number, "image_path": json.dumps([str(path) for path in paths]), "category": sample.task, "mmhay_id": sample.id}
        if sample.answer_type.value == "choice" and sample.options:
            row.update(question=sample.question, answer=sample.answer)
            row.update({_letter(i): option for i, option in enumerate(sample.options)})
            rows["mcq"].append(row)
        else:
            from mmhay.prompts import prompt_for

            row.update(question=prompt_for(sample), answer=sample.answer, answer_type=sample.answer_type.value)
            rows["open"].append(row)
    written = {}
    for kind, dataset, columns in (("mcq", name, MCQ_COLUMNS), ("open", f"{name}_openended", OPEN_COLUMNS)):
        if rows[kind]:
            options = max(len(row) - len(MCQ_COLUMNS) for row in rows[kind]) if kind == "mcq" else 0
            letters = tuple(_letter(i) for i in range(options))
            write_text_atomic(out / f"{dataset}.tsv", _tsv(rows[kind], columns[:4] + letters + columns[4:]))
            written[dataset] = len(rows[kind])
    summary = {
        "suite": manifest["suite"],
        "config_key": manifest["config_key"],
        "data": str(data),
        "frames": frames,
        "sampler": sampler,
        "datasets": written,
        "open_ended_scored_by_vlmevalkit": False,
        "command": f"LMUData={out} python -m vlmeval.run --data {' '.join(written)} --model MODEL --judge exact_matching --work-dir outputs",
    }
    write_text_atomic(out / "vlmevalkit.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _letter(i: int) -> str:
    from mmhay.schema import option_letter

    return option_letter(i)


def _write_pictures(sample, folder: Path, number: int, frames: int, sampler: str, data: Path) -> list[Path]:
    """The pictures ``sample`` is shown, as PNG files ``<number>_<k>.png`` in ``folder``."""
    from PIL import Image

    from mmhay.atomic import write_bytes_atomic
    from mmhay.gallery import Gallery
    from mmhay.sampling import footage_for, plan_frames, render_plan

    media = sample.media
    if isinstance(media, Gallery):
        pictures = media.render()
    elif getattr(media, "segments", None):
        pictures, _ = render_plan(media, plan_frames(sampler, footage_for(sample), frames))
    else:
        raise DatasetError(data, f"sample {sample.id} has no pictures: a VLMEvalKit custom dataset cannot carry it")
    paths = []
    for k, picture in enumerate(pictures):
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="PNG")
        path = folder / f"{number}_{k}.png"
        write_bytes_atomic(path, buffer.getvalue())
        paths.append(path)
    return paths


def _tsv(rows: list[dict], columns: tuple[str, ...]) -> str:
    """Rows as the tab-separated table pandas' ``read_csv(sep='\\t')`` reads back (fields quoted
    where they hold tabs, quotes or line breaks); a missing option is an empty field."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, delimiter="\t", lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()
