"""Questions that needles carry: a file of questions about the files of a needle folder, each
asking a detail of one needle ("what colour is the balloon?"), as LongVA's V-NIAH, VideoChat-Flash
and MLVU's needle QA ask.

The file is JSON (a list of objects) or CSV (a header row), with the keys ``file`` (the name of a
file in the needle folder), ``question``, ``answer`` and, optionally, ``options`` (JSON: a list of
strings; CSV: the options in one cell, separated by ``|``). With options, ``answer`` is the text of
the right one. A file may carry several questions; each sample asks one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmhay.errors import ConfigError

if TYPE_CHECKING:
    from mmhay.generators.needles import Needle

__all__ = ["NeedleQuestion", "read_questions", "attach_questions", "QUESTION_KEYS", "OPTION_SEPARATOR"]

QUESTION_KEYS = ("file", "question", "answer", "options")
OPTION_SEPARATOR = "|"  # between the options of a CSV row


@dataclass(frozen=True)
class NeedleQuestion:
    """One question about one needle file; ``options`` is empty for an open question.
    ``where`` says where the questions file ``source`` has it ("row 3" of JSON, "line 4" of CSV)."""

    file: str
    question: str
    answer: str
    options: tuple[str, ...] = ()
    where: str = ""
    source: str = ""  # the questions file

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file": self.file, "question": self.question, "answer": self.answer}
        if self.options:
            data["options"] = list(self.options)
        return data


def read_questions(path: Path, key: str = "needle.questions") -> tuple[NeedleQuestion, ...]:
    """The questions of a JSON or CSV questions file; a ``ConfigError`` naming the file, the row
    and the key on the first problem."""
    import csv
    import json

    if not path.is_file():
        raise ConfigError(path, key, "no such questions file" if not path.exists() else "not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, "", f"cannot read the questions file: {error}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(path, f"line {error.lineno}", f"invalid JSON: {error.msg}") from None
        if not isinstance(data, list):
            raise ConfigError(path, "", "must be a JSON list of questions, each an object with file, question, answer (and options)")
        rows = [(f"row {k + 1}", row) for k, row in enumerate(data)]
    elif path.suffix.lower() == ".csv":
        try:
            reader = csv.DictReader(text.splitlines())
            header = reader.fieldnames or []
            missing = [name for name in ("file", "question", "answer") if name not in header]
            if missing:
                raise ConfigError(path, "line 1", f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; the columns are {', '.join(QUESTION_KEYS)} (options optional)")
            rows = [(f"line {reader.line_num}", row) for row in reader]
        except csv.Error as error:
            raise ConfigError(path, "", f"unreadable CSV: {error}") from None
        rows = [(where, _csv_row(row)) for where, row in rows]
    else:
        raise ConfigError(path, key, "a questions file is .json or .csv")
    if not rows:
        raise ConfigError(path, "", "holds no questions")
    return tuple(_question(path, where, row) for where, row in rows)


def _csv_row(row: dict) -> dict:
    """A CSV row as a JSON row would be: options split at ``|``, an empty options cell left out."""
    row = dict(row)
    if None in row:  # more cells than the header has columns
        row["(an extra cell)"] = row.pop(None)
    options = row.pop("options", None)
    if options is not None and options.strip():
        row["options"] = options.split(OPTION_SEPARATOR)
    return row


def _question(path: Path, where: str, row: Any) -> NeedleQuestion:
    """One row, checked."""
    if not isinstance(row, dict):
        raise ConfigError(path, where, "must be an object with file, question, answer (and options)")
    unknown = sorted(set(map(str, row)) - set(QUESTION_KEYS))
    if unknown:
        raise ConfigError(path, f"{where}.{unknown[0]}", f"unknown key; expected one of: {', '.join(QUESTION_KEYS)}")
    values = {}
    for name in ("file", "question", "answer"):
        value = row.get(name)
        if value is None:
            raise ConfigError(path, f"{where}.{name}", "missing required key")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and name == "answer":
            value = str(value)  # a count written as a JSON number
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(path, f"{where}.{name}", "must be a non-empty string", value)
        values[name] = value.strip()
    options: tuple[str, ...] = ()
    if row.get("options") is not None:
        raw = row["options"]
        if not isinstance(raw, list) or not all(isinstance(o, str) and o.strip() for o in raw):
            raise ConfigError(path, f"{where}.options", "must be a list of non-empty strings", raw)
        options = tuple(o.strip() for o in raw)
        if not 2 <= len(options) <= 26:
            raise ConfigError(path, f"{where}.options", f"has {len(options)} option(s); give 2 to 26", list(options))
        if len({o.casefold() for o in options}) < len(options):
            raise ConfigError(path, f"{where}.options", "has the same option twice", list(options))
        if values["answer"] not in options:
            hint = "; give the right option's text, not its letter" if len(values["answer"]) == 1 and values["answer"].isalpha() else ""
            raise ConfigError(path, f"{where}.answer", f"is not among the options {list(options)}{hint}", values["answer"])
    return NeedleQuestion(values["file"], values["question"], values["answer"], options, where, str(path))


def attach_questions(needles: Sequence["Needle"], questions: Sequence[NeedleQuestion], path: Path, folder: Path) -> tuple["Needle", ...]:
    """``needles`` with their questions; a ``ConfigError`` for a question about a file that is not
    among them (absent from ``folder``, or skipped as unreadable)."""
    by_name: dict[str, list[NeedleQuestion]] = {}
    names = {Path(n.ref.path).name for n in needles if n.ref is not None and hasattr(n.ref, "path")}
    for question in questions:
        name = Path(question.file).name
        if name not in names:
            there = any(p.name == name for p in folder.rglob("*"))
            problem = f"is in {folder} but was not read as a needle (unreadable, or described as an earlier file)" if there else f"is not in the needle folder {folder}"
            raise ConfigError(path, f"{question.where}.file", problem, question.file)
        by_name.setdefault(name, []).append(question)
    return tuple(
        replace(n, questions=tuple(by_name.get(Path(n.ref.path).name, ()))) if n.ref is not None and hasattr(n.ref, "path") else n for n in needles
    )
