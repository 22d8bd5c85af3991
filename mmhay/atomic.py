"""Atomic file writes: a file appears under its name only once complete (a temporary name, then a rename)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["temporary_path", "write_text_atomic"]


def temporary_path(path: Path) -> Path:
    """The hidden name in the same folder that ``path`` is written under before the rename."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that readers see the old file or the new, never a part."""
    partial = temporary_path(path)
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
