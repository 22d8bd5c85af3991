"""The exceptions mmhay raises: one root, a small tree under it, each naming where and what."""

from __future__ import annotations

from pathlib import Path

__all__ = ["MmhayError", "ConfigError", "MediaError", "ModelError", "DatasetError", "DiskFullError"]


class MmhayError(Exception):
    """Root of every error mmhay raises on purpose; the CLI prints its message as one line."""


class ConfigError(MmhayError):
    """A suite config or a command-line value is wrong: names the source, the key and what was expected."""

    def __init__(self, source: str | Path, key: str, problem: str, value: object = ...):
        self.source = str(source)
        self.key = key
        self.problem = problem
        self.value = value
        where = f"{self.source}: {key}" if key else self.source
        shown = "" if value is ... else f" = {_short(value)}"
        super().__init__(f"{where}{shown}: {problem}")

    def __reduce__(self):  # errors cross process boundaries in parallel builds
        return type(self), (self.source, self.key, self.problem, self.value)


class _PathError(MmhayError):
    """An error about one file or folder: ``path: reason``."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)


class MediaError(_PathError):
    """A media file cannot be probed, decoded or written."""


class ModelError(MmhayError):
    """A model cannot be loaded or fails to answer."""


class DatasetError(_PathError):
    """A built suite or a run directory on disk is missing, foreign or inconsistent."""


class DiskFullError(_PathError):
    """A file could not be written for want of room: the disk is full (ENOSPC), a quota is spent
    (EDQUOT) or the file passed the file-size limit (EFBIG, ``ulimit -f``); ``reason`` says which."""


def _short(value: object, limit: int = 160) -> str:
    text = repr(value)
    # keep both ends: the end of a long path is the part that tells which file
    return text if len(text) <= limit else text[: limit // 3] + "..." + text[-(limit - limit // 3 - 3) :]
