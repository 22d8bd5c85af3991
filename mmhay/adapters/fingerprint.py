"""What a transformers checkpoint's answers depend on besides its name: its files, its hub
revision, the software that runs it. ``HFModel.identity`` carries them, so the response cache
(``mmhay.adapters.cache.request_key``) and the run folder's resume check see every change.

An edit to ``preprocessor_config.json``, ``video_preprocessor_config.json``,
``processor_config.json``, a chat template (``chat_template.jinja``, ``chat_template.json`` or
the one in ``tokenizer_config.json``), ``generation_config.json``, ``config.json`` or any
tokenizer file; new weights; another hub revision; an upgrade of transformers, torch,
tokenizers, PyAV or mmhay: each gives new cache keys, and the model is asked again.

The checkpoint's files are hashed by their bytes, not as the objects transformers makes of them:
that covers every file transformers may read (whichever of the three processor configs and the
three template places it takes, remote code, a file a later version starts to read) with no list
to keep up, and it is deterministic by construction (a serialized object can hold a path or a
memory address, and a key that differs on every load would ask everything again). The price is
that an edit that changes nothing transformers reads (spaces in a JSON file) asks again too.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

__all__ = ["WHOLE_FILE_LIMIT", "checkpoint_fingerprint", "output_software"]

WHOLE_FILE_LIMIT = 64 * 2**20  # bytes: smaller files are hashed whole; larger ones are weights
_COMMIT = re.compile(r"[0-9a-f]{40}")


def checkpoint_fingerprint(source: str) -> dict:
    """The revision, files and weights of the checkpoint loaded from ``source`` (a folder, or a
    hub id already in the local hub cache).

    ``revision`` is the hub commit (the snapshot folder's name) or None for a folder of one's own.
    ``files`` maps each file under ``WHOLE_FILE_LIMIT`` (configs, templates, tokenizer, small
    weights) to the SHA-256 of its bytes (16 hex digits). ``weights`` digests the larger files
    without reading them: a hub-cache file by the blob it links to (the hub names blobs by their
    content), any other by name, size and modification time, which change whenever the file is
    written again (further training saves the same tensor names and shapes, so the safetensors
    header would not tell). Copying a checkpoint without keeping times asks again once.
    Top-level files only (transformers reads no subfolder here); hidden files and ``*.md`` skipped.
    """
    folder = _folder(source)
    if folder is None:  # not found where transformers found it: the hub id is all there is
        return {"revision": None, "files": {}, "weights": ""}
    files: dict[str, str] = {}
    weights = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix == ".md" or not path.is_file():
            continue
        stat = path.stat()
        if stat.st_size <= WHOLE_FILE_LIMIT:
            files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        elif path.is_symlink() and path.resolve().parent.name == "blobs":
            weights.update(f"{path.name}:{path.resolve().name}\n".encode())
        else:
            weights.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    revision = folder.name if folder.parent.name == "snapshots" and _COMMIT.fullmatch(folder.name) else None
    return {"revision": revision, "files": files, "weights": weights.hexdigest()[:16]}


def _folder(source: str) -> Path | None:
    """The folder the checkpoint's files are read from: ``source`` itself, or its snapshot in the hub cache."""
    local = Path(source).expanduser()
    if local.is_dir():
        return local.resolve()
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source, "config.json")
    return Path(found).parent if isinstance(found, str) else None


@cache
def output_software() -> dict[str, str]:
    """The versions of the software that changes a model's answers (``OUTPUT_SOFTWARE``, read as
    ``run.json`` records them), and a digest of mmhay's adapter code, whose edits change what the
    model is given without changing mmhay's version number."""
    from mmhay.software import OUTPUT_SOFTWARE, software

    recorded = software()
    installed = recorded["distributions"]
    versions = {name: installed[name] for name in OUTPUT_SOFTWARE if name in installed}
    versions["libavcodec"] = recorded["libavcodec"]  # the FFmpeg PyAV bundles
    code = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("*.py")):
        code.update(module.name.encode() + b"\0" + module.read_bytes())
    versions["mmhay-adapters"] = code.hexdigest()[:16]
    return versions
