"""Atomic file writes: a file appears under its name only once complete (a temporary name, then a
rename); what an interrupted write leaves is found by its name and removed; a write that fails for
want of room says so (``DiskFullError``)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmhay.errors import DatasetError, DiskFullError

__all__ = [
    "output_folder",
    "temporary_path",
    "is_temporary",
    "remove_temporary_files",
    "write_text_atomic",
    "write_bytes_atomic",
    "no_room",
    "reporting_full_disk",
]

_NO_ROOM = {
    errno.ENOSPC: "no space left on the disk (ENOSPC)",
    errno.EDQUOT: "disk quota exceeded (EDQUOT)",
    errno.EFBIG: "the file passed the file-size limit (EFBIG: see `ulimit -f`)",
}
_NO_ROOM_TEXT = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT, "File too large": errno.EFBIG}


def output_folder(path: str | Path) -> Path:
    """``path`` as a folder to write into, made with its parents; ``DatasetError`` if a file is in the way."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DatasetError(path, "exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def temporary_path(path: Path) -> Path:
    """The hidden name in the same folder that ``path`` is written under before the rename."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a name ``temporary_path`` gives (a write not finished, or given up)."""
    name = path.name
    return name.startswith(".") and name.endswith(".tmp") and name[:-4].rpartition(".")[2].isdigit()


def remove_temporary_files(folder: Path) -> int:
    """Delete what killed writers left in ``folder`` (not below it); return how many files."""
    removed = 0
    for path in folder.iterdir() if folder.is_dir() else ():
        if is_temporary(path) and path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that readers see the old file or the new, never a part."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new, never a part."""
    path = Path(path)
    partial = temporary_path(path)
    try:
        with reporting_full_disk(path):
            partial.write_bytes(data)
            os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def no_room(error: BaseException, path: str | Path) -> DiskFullError | None:
    """The ``DiskFullError`` naming ``path`` if ``error`` (or what it was raised from) is a write
    that failed for want of room: ENOSPC, EDQUOT, EFBIG, or SQLite's "database or disk is full"."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        code = getattr(error, "errno", None) if isinstance(error, OSError) else None
        if code not in _NO_ROOM and isinstance(error, OSError):  # pyarrow puts the errno in the text only
            code = next((c for text, c in _NO_ROOM_TEXT.items() if text in str(error)), None)
        if code is None and getattr(error, "sqlite_errorname", None) == "SQLITE_FULL":
            code = errno.ENOSPC
        if code in _NO_ROOM:
            return DiskFullError(path, f"cannot be written: {_NO_ROOM[code]}; make room and run the same command again")
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def reporting_full_disk(path: str | Path) -> Iterator[None]:
    """Turn a write that fails for want of room, inside the block, into a ``DiskFullError`` naming
    ``path`` (the file the user knows, not its temporary name); other errors pass unchanged."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        full = no_room(error, path)
        if full is None:
            raise
        raise full from None
