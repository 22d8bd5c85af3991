"""Filler text for image documents: passages of consecutive sentences from a text corpus.

The corpus is the bundled public-domain book (``haystack.text: builtin``, mmhay/media/texts/) or
the user's text files (``haystack.text: PATH``, a ``.txt`` / ``.md`` file or a folder of them,
read in sorted order). Text is split into paragraphs at blank lines and paragraphs into
sentences; a passage is a run of consecutive sentences from a random place, so what is drawn
depends only on the corpus and the sample's random generator.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from mmhay.config import SuiteConfig
from mmhay.errors import ConfigError

__all__ = ["BUILTIN_TEXT", "TEXT_SUFFIXES", "corpus_sentences", "corpus_files", "describe_text", "split_sentences", "draw_passage", "PASSAGE_SENTENCES"]

BUILTIN_TEXT = Path(__file__).resolve().parent.parent / "media" / "texts" / "carroll-alice.txt"
TEXT_SUFFIXES = frozenset({".txt", ".md"})
PASSAGE_SENTENCES = (2, 5)  # fewest and most sentences of one passage
MIN_SENTENCES = 20  # a corpus smaller than this gives passages that repeat at once

_PARAGRAPH = re.compile(r"\n\s*\n")
# a sentence ends at . ! or ? (perhaps closed by a quote or bracket) before a space and a capital
_END = re.compile(r"(?<=[.!?])(?:['\"’”)\]]*)\s+(?=['\"‘“(\[]?[A-Z])")
_SPACES = re.compile(r"\s+")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, whitespace collapsed; headings, rules and fragments (under 20
    or over 400 characters, or without a lower-case letter) are left out."""
    sentences = []
    for paragraph in _PARAGRAPH.split(text):
        paragraph = _SPACES.sub(" ", paragraph).strip()
        start = 0
        for match in _END.finditer(paragraph):
            sentences.append(paragraph[start : match.start()] + paragraph[match.start() : match.end()].rstrip())
            start = match.end()
        sentences.append(paragraph[start:])
    return [s.strip() for s in sentences if 20 <= len(s.strip()) <= 400 and re.search(r"[a-z]", s) and "*" not in s and not s.isupper()]


def corpus_sentences(suite: SuiteConfig, default: str | None = None) -> tuple[str, ...]:
    """The sentences of the suite's ``haystack.text`` (``default`` where it is left out); a
    ``ConfigError`` naming the key for a missing path, a folder without text files, an
    unreadable file or too small a corpus."""
    value = suite.haystack.text if suite.haystack.text is not None else default
    assert value is not None
    files = corpus_files(suite, value)
    sentences: list[str] = []
    for file in files:
        sentences += _file_sentences(suite.origin, value, file)
    if len(sentences) < MIN_SENTENCES:
        raise ConfigError(suite.origin, "haystack.text", f"holds {len(sentences)} usable sentences; filler needs at least {MIN_SENTENCES}", value)
    return tuple(sentences)


def corpus_files(suite: SuiteConfig, value: str) -> list[Path]:
    """The text files ``haystack.text = value`` names, in the order they are read."""
    path = BUILTIN_TEXT if value == "builtin" else suite.resolve(value)
    if not path.exists():
        raise ConfigError(suite.origin, "haystack.text", "no such file or folder (give builtin, a text file, or a folder of .txt / .md files)", value)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    if not files:
        raise ConfigError(suite.origin, "haystack.text", f"holds no text files: none ends in {' '.join(sorted(TEXT_SUFFIXES))}", value)
    return files


def describe_text(suite: SuiteConfig, default: str | None = None) -> str | list[dict]:
    """Where the filler came from, for the build manifest: "builtin", or the files and their SHA-256."""
    from mmhay.media.probe import file_sha256

    value = suite.haystack.text if suite.haystack.text is not None else default
    assert value is not None
    return "builtin" if value == "builtin" else [{"path": str(f), "sha256": file_sha256(f)} for f in corpus_files(suite, value)]


def _file_sentences(origin: str, value: str, file: Path) -> list[str]:
    try:
        return _read_sentences(str(file), file.stat().st_mtime_ns)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(origin, "haystack.text", f"cannot read {file}: {error}", value) from None


@lru_cache(maxsize=64)
def _read_sentences(path: str, _mtime: int) -> list[str]:
    return split_sentences(Path(path).read_text(encoding="utf-8-sig"))


def draw_passage(sentences: tuple[str, ...], rng: np.random.Generator) -> list[str]:
    """A passage: 2 to 5 consecutive sentences from a random place of the corpus."""
    low, high = PASSAGE_SENTENCES
    count = int(rng.integers(low, high + 1))
    start = int(rng.integers(len(sentences) - count + 1))
    return list(sentences[start : start + count])
