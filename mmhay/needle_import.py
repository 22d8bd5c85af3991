"""``mmhay import-needles``: the needle files of published suites as a needle folder and a
questions file (``needle.source``, ``needle.questions``), so that ``needle_qa`` asks their questions.

Formats, read from the suites' own files and the code that reads them:

- ``longva``: LongVA's ``vision_niah/needle_datasets/dataset.json``, a list of ``{path, prompt,
  answer}``; the prompt holds the question, lettered options (``A. ...``) and an answering line
  (``Answer with the option's letter ...`` or ``Answer the question using a single word or
  phrase.``); the answer is a letter or a word. Images are under ``needle_datasets/images/``.
- ``videochat-flash``: VideoChat-Flash's single-hop ``niah-coco-singlehop_*.json``, a list of
  ``{question, answer, image, id}``; the question holds ``Options: (A) ...`` lines and ends with
  ``Only give the best option. Best option: (``; the answer is a letter.
- ``videochat-flash-multihop``: its ``niah-coco-multihop-*.json``, a list of ``{images, question1,
  answer1, question2, answer2}``: the images in the order they are placed (evenly spaced), the
  caption question and the detail question about the chain's final image. The chain is read from
  the file names: ``niah_<id>_<k>_*.jpg`` carry the instruction to find the next image, ``k``
  counting hops from 1; the one image without that prefix is the final frame (it carries no
  instruction), and its hop number is the one ``k`` missing from 1..n. Images numbered after it
  lie outside the chain (VideoChat-Flash's figure draws them as a decoy chain, X1 to X3).

Nothing is downloaded: the images come from the folder the user gives (``--images``), found
under the path the file names or by their file name alone.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmhay.errors import ConfigError

__all__ = ["FORMATS", "Imported", "import_needles", "parse_longva_prompt", "parse_videochat_question"]

FORMATS = ("longva", "videochat-flash", "videochat-flash-multihop")

_LONGVA_OPTION = re.compile(r"^([A-Z])\.\s*(.*\S)\s*$")
_ANSWERING_LINE = re.compile(r"^Answer (with the option's letter|the question using)\b", re.I)
_VIDEOCHAT_OPTION = re.compile(r"^\(([A-Z])\)\s*(.*?)\s*$")
_VIDEOCHAT_TAIL = re.compile(r"\s*Only give the best option\.?\s*(Best option:\s*\(?)?\s*$")
_HOP = re.compile(r"^niah_\d+_(\d+)_")
_START = re.compile(r"^Find the frame of (.*?)\s*\.?\s+Locate the final frame", re.S)


@dataclass(frozen=True)
class Imported:
    """What an import wrote: the needle folder, the questions file, the chains (multi-hop only)."""

    needles: Path
    questions: Path
    chains: Path | None
    images: int
    asked: int


def parse_longva_prompt(prompt: str) -> tuple[str, tuple[str, ...]]:
    """A LongVA prompt as (question, options): lettered lines are the options, in letter order;
    the answering line is dropped (mmhay adds its own)."""
    question, options = [], []
    for line in prompt.strip().splitlines():
        line = line.strip()
        match = _LONGVA_OPTION.match(line)
        if match and match.group(1) == chr(ord("A") + len(options)):
            options.append(match.group(2))
        elif line and not _ANSWERING_LINE.match(line):
            question.append(line)
    return " ".join(question), tuple(options)


def parse_videochat_question(text: str) -> tuple[str, tuple[str, ...]]:
    """A VideoChat-Flash question as (question, options): ``(A) ...`` lines after ``Options:``,
    without the trailing ``Only give the best option. Best option: (``."""
    head, _, tail = text.partition("Options:")
    options = []
    for line in _VIDEOCHAT_TAIL.sub("", tail).splitlines():
        match = _VIDEOCHAT_OPTION.match(line.strip())
        if match and match.group(1) == chr(ord("A") + len(options)):
            options.append(match.group(2))
    return " ".join(head.split()), tuple(options)


def import_needles(format: str, source: str | Path, images: str | Path, out: str | Path) -> Imported:
    """Convert the published needle file ``source`` (of ``format``) with its images from the
    folder ``images`` into ``out``: ``needles/`` (the images), ``questions.json`` and, for
    multi-hop, ``multihop.json``. A ``ConfigError`` naming the file and row on any problem."""
    from mmhay.atomic import output_folder, write_text_atomic

    if format not in FORMATS:
        raise ConfigError("import-needles", "FORMAT", f"unknown format; known: {', '.join(FORMATS)}", format)
    source, images = Path(source), Path(images)
    if not source.is_file():
        raise ConfigError(source, "", "no such needle file")
    if not images.is_dir():
        raise ConfigError("--images", "", "no such folder", str(images))
    try:
        rows = json.loads(source.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(source, "", f"unreadable JSON: {error}") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        raise ConfigError(source, "", f"must be a non-empty JSON list of objects, as {format}'s needle file is")
    reader = {"longva": _longva_row, "videochat-flash": _videochat_row, "videochat-flash-multihop": _multihop_row}[format]
    questions: list[dict] = []
    chains: list[dict] = []
    files: dict[str, Path] = {}  # needle file name -> the image it copies
    for k, row in enumerate(rows):
        where = f"row {k + 1}"
        asked, chain, used = reader(source, where, row)
        for rel in used:
            _add_image(source, where, images, rel, files)
        questions += asked
        if chain is not None:
            chains.append({"id": row.get("id", k), **chain})
    out = output_folder(out)
    folder = output_folder(out / "needles")
    for name, path in files.items():
        target = folder / name
        if not (target.is_file() and target.stat().st_size == path.stat().st_size and target.read_bytes() == path.read_bytes()):
            shutil.copyfile(path, target)
    write_text_atomic(out / "questions.json", json.dumps(questions, indent=2, ensure_ascii=False) + "\n")
    chains_path = None
    if format == "videochat-flash-multihop":
        chains_path = out / "multihop.json"
        write_text_atomic(chains_path, json.dumps(chains, indent=2, ensure_ascii=False) + "\n")
    return Imported(folder, out / "questions.json", chains_path, len(files), len(questions))


def _field(source: Path, where: str, row: dict, name: str, kind: type = str) -> Any:
    value = row.get(name)
    if value is None:
        raise ConfigError(source, f"{where}.{name}", "missing required key")
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        raise ConfigError(source, f"{where}.{name}", f"must be a non-empty {'string' if kind is str else 'list'}", value)
    return value


def _asked(source: Path, where: str, key: str, file: str, question: str, options: tuple[str, ...], answer: str) -> dict:
    """A questions-file row; a lettered ``answer`` becomes its option's text."""
    row: dict[str, Any] = {"file": file, "question": question}
    if options:
        letter = answer.strip().strip("()").strip().upper()
        if len(letter) != 1 or not "A" <= letter < chr(ord("A") + len(options)):
            raise ConfigError(source, f"{where}.{key}", f"is not the letter of one of the {len(options)} options", answer)
        row["answer"], row["options"] = options[ord(letter) - ord("A")], list(options)
    else:
        row["answer"] = answer.strip()
    if not question:
        raise ConfigError(source, where, "holds no question")
    return row


def _longva_row(source: Path, where: str, row: dict) -> tuple[list[dict], None, list[str]]:
    rel = _field(source, where, row, "path")
    question, options = parse_longva_prompt(_field(source, where, row, "prompt"))
    answer = str(row["answer"]) if isinstance(row.get("answer"), (int, float)) else _field(source, where, row, "answer")
    return [_asked(source, where, "answer", Path(rel).name, question, options, answer)], None, [rel]


def _videochat_row(source: Path, where: str, row: dict) -> tuple[list[dict], None, list[str]]:
    rel = _field(source, where, row, "image")
    question, options = parse_videochat_question(_field(source, where, row, "question"))
    if not options:
        raise ConfigError(source, f"{where}.question", "has no '(A) ...' options after 'Options:'")
    return [_asked(source, where, "answer", Path(rel).name, question, options, _field(source, where, row, "answer"))], None, [rel]


def _multihop_row(source: Path, where: str, row: dict) -> tuple[list[dict], dict, list[str]]:
    listed = _field(source, where, row, "images", list)
    if not all(isinstance(rel, str) and rel.strip() for rel in listed):
        raise ConfigError(source, f"{where}.images", "must list image paths", listed)
    names = [Path(rel).name for rel in listed]
    hops = {name: int(m.group(1)) for name in names if (m := _HOP.match(name))}
    finals = [name for name in names if name not in hops]
    if len(finals) != 1:
        raise ConfigError(source, f"{where}.images", f"has {len(finals)} images without the niah_<id>_<k>_ prefix; the final frame is the one image without it", listed)
    gap = [k for k in range(1, len(names) + 1) if k not in hops.values()]
    if len(gap) != 1 or sorted(hops.values()) != [k for k in range(1, len(names) + 1) if k != gap[0]]:
        raise ConfigError(source, f"{where}.images", "the hop numbers k of niah_<id>_<k>_ must be 1..n with one missing (the final frame's)", listed)
    chain = sorted((n for n in hops if hops[n] < gap[0]), key=hops.get) + finals
    decoys = sorted((n for n in hops if hops[n] > gap[0]), key=hops.get)
    final = finals[0]
    asked, parsed = [], {}
    for part, (qkey, akey) in {"caption": ("question1", "answer1"), "question": ("question2", "answer2")}.items():
        text = _field(source, where, row, qkey)
        question, options = parse_videochat_question(text)
        if not options:
            raise ConfigError(source, f"{where}.{qkey}", "has no '(A) ...' options after 'Options:'")
        entry = _asked(source, where, akey, final, question, options, _field(source, where, row, akey))
        asked.append(entry)
        parsed[part] = {k: v for k, v in entry.items() if k != "file"}
    start = _START.match(parsed["question"]["question"])
    record = {"images": names, "chain": chain, "final": final, "decoys": decoys, "start": start.group(1) if start else None, **parsed}
    return asked, record, listed


def _add_image(source: Path, where: str, images: Path, rel: str, files: dict[str, Path]) -> None:
    """Find ``rel`` under ``images`` (by its path, else by its name) and note it for copying."""
    name = Path(rel).name
    found = next((path for path in (images / rel, images / name) if path.is_file()), None)
    if found is None:
        raise ConfigError(source, where, f"image not found in {images} (looked for {rel} and {name})", rel)
    if name in files and files[name].resolve() != found.resolve() and files[name].read_bytes() != found.read_bytes():
        raise ConfigError(source, where, f"two different images are both called {name}: {files[name]} and {found}", rel)
    files.setdefault(name, found)
