"""The response cache: every answer a model gave, keyed by what it was asked, on disk.

An answer is stored under the digest of (model identity and generation settings, prompt, the
bytes of the media shown, the reference answer where likelihood scoring teacher-forces it, and
the system prompt and ``--gen-kwargs`` where the user set them). A transformers model's identity
holds its files, revision and software (``mmhay.adapters.fingerprint``), so an edited or
upgraded setup asks again.
The store is SQLite in write-ahead-log mode with full syncs: an answer is on disk before the
evaluator moves on, and a process killed at any instant (SIGKILL included) leaves every
committed answer readable. A log of the calls made to the model lets a
test, or a curious user, check that no question was ever asked twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmhay.adapters import Answer, Request
from mmhay.atomic import no_room, reporting_full_disk
from mmhay.errors import DatasetError

__all__ = ["CacheStats", "ResponseCache", "media_digest", "request_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt TEXT,
    usage TEXT NOT NULL,
    model TEXT NOT NULL,
    received TEXT,
    likelihood TEXT
);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL
);
"""


def media_digest(request: Request) -> str:
    """SHA-256 of everything the model is shown: pixels, frame times, images, option pictures, sound."""
    digest = hashlib.sha256()

    def add(label: str, array: np.ndarray | None) -> None:
        if array is not None:
            array = np.ascontiguousarray(array)
            digest.update(f"{label}:{array.dtype.str}:{array.shape}".encode())
            digest.update(memoryview(array).cast("B"))

    if isinstance(request.frames, np.ndarray) or request.frames is None:
        add("frames", request.frames)
    else:  # frames of different sizes (a sampler shrank some)
        for frame in request.frames:
            add("frame", frame)
    digest.update(json.dumps([round(t, 6) for t in request.frame_times]).encode())
    for image in request.images:
        add("image", image)
    for image in request.option_images:  # options that are pictures, in option order (none: the key as before)
        add("option", image)
    digest.update(json.dumps(list(request.interleaved)).encode())
    add("audio", request.audio)
    digest.update(f"rate:{request.audio_rate}".encode())
    return digest.hexdigest()


def request_key(identity: Mapping[str, Any], request: Request) -> str:
    """The cache key of ``request`` put to the model with ``identity`` (its settings included)."""
    what = {
        "model": identity,
        "prompt": request.prompt,
        "answer_type": request.answer_type,
        "options": list(request.options),
        "media": media_digest(request),
    }
    if request.reference:  # teacher-forced by likelihood scoring: the answer depends on it
        what["reference"] = request.reference
    if request.system:  # --system-prompt; absent, keys stay as they were
        what["system"] = request.system
    if request.generation:  # --gen-kwargs
        what["generation"] = dict(request.generation)
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def _json_or_none(value: Mapping) -> str | None:
    return json.dumps(dict(value), sort_keys=True) if value else None


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds: distinct answers, and calls made to the model to get them."""

    answers: int
    calls: int
    repeated_calls: int  # calls for a key that had been asked before


_LOCK_WAIT = 120.0  # seconds a process waits for another's lock on the file before giving up


def _open(path: Path, wait: float) -> sqlite3.Connection:
    """A connection to the cache at ``path``, in WAL mode, its tables made if new.

    Several data-parallel ranks (or runs sharing ``--cache``) open the one file at once: each
    waits for the others' locks. Switching a new file to WAL can report "database is locked" at
    once, without waiting, while another process sets it up, so setting up is tried again until
    ``wait`` seconds have passed.
    """
    import time

    deadline = time.monotonic() + wait
    while True:
        db = sqlite3.connect(path, timeout=wait, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(responses)")}
            # a cache written before answers said what the model received, or what likelihood scoring read
            for column in ("received", "likelihood"):
                if column not in columns:
                    try:
                        db.execute(f"ALTER TABLE responses ADD COLUMN {column} TEXT")
                    except sqlite3.OperationalError as error:  # another rank added it first
                        if "duplicate column" not in str(error):
                            raise
            return db
        except sqlite3.OperationalError as error:
            db.close()
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        except BaseException:
            db.close()
            raise


@dataclass
class ResponseCache:
    """Answers on disk at ``path`` (a SQLite file); safe to share between runs and processes."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = _open(self.path, _LOCK_WAIT)
        except sqlite3.DatabaseError as error:
            raise no_room(error, self.path) or DatasetError(self.path, f"is not a response cache ({error})") from None

    def get(self, keys: Sequence[str]) -> dict[str, Answer]:
        """The cached answers among ``keys``."""
        found = {}
        for start in range(0, len(keys), 500):  # SQLite limits the number of bound parameters
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, text, prompt, usage, received, likelihood FROM responses WHERE key IN ({marks})", chunk)
            for key, text, prompt, usage, received, likelihood in rows:
                found[key] = Answer(
                    text, prompt, json.loads(usage), received=json.loads(received) if received else {}, likelihood=json.loads(likelihood) if likelihood else {}
                )
        return found

    def put(self, answers: Mapping[str, Answer], model: str) -> None:
        """Store fresh answers from the model (one transaction, synced) and log the calls."""
        rows = [
            (key, a.text, a.prompt, json.dumps(dict(a.usage), sort_keys=True), model, _json_or_none(a.received), _json_or_none(a.likelihood))
            for key, a in answers.items()
        ]
        try:
            with reporting_full_disk(self.path), self._transaction():
                self._db.executemany("INSERT OR REPLACE INTO responses (key, text, prompt, usage, model, received, likelihood) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                self._db.executemany("INSERT INTO calls (key) VALUES (?)", [(key,) for key in answers])
        except sqlite3.Error as error:  # a write error (over a file-size limit: SQLite says "disk I/O error")
            raise DatasetError(self.path, f"cannot store the answers ({error}); run the same command again to resume") from None

    def absorb(self, other: Path) -> None:
        """Add the answers and the calls logged in the cache file ``other`` (one that a rank on
        another machine kept) to this cache, and delete ``other``; answers already here stay."""
        columns = "key, text, prompt, usage, model, received, likelihood"
        try:
            with reporting_full_disk(self.path):
                self._db.execute("ATTACH DATABASE ? AS other", (str(other),))
                try:
                    with self._transaction():
                        self._db.execute(f"INSERT OR IGNORE INTO responses ({columns}) SELECT {columns} FROM other.responses")
                        self._db.execute("INSERT INTO calls (key) SELECT key FROM other.calls ORDER BY id")
                finally:
                    self._db.execute("DETACH DATABASE other")
        except sqlite3.Error as error:
            raise DatasetError(other, f"cannot be added to the response cache {self.path} ({error})") from None
        for leftover in (other, other.with_name(other.name + "-wal"), other.with_name(other.name + "-shm")):
            leftover.unlink(missing_ok=True)

    def stats(self) -> CacheStats:
        answers = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        calls, distinct = self._db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM calls").fetchone()
        return CacheStats(answers, calls, calls - distinct)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
