"""The needle-finder: a small Qwen2-VL trained on mmhay's own stream, shipped inside the package.

Unlike the other tiny checkpoints its weights are not drawn here but trained, by
``recipes/train_needle_finder.py`` (docs/training.md: the command, its machine and time); this
module writes the shipped files out, checking them against the sha256 the recipe's run recorded.
It answers quickstart-shaped questions (which of four coloured shapes appeared in 8 frames, was
this one shown) from what it sees, so a pipeline that hands it the wrong frames or letters shows.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from mmhay.errors import MmhayError

__all__ = ["FINDER_FILES", "FINDER_FRAMES", "FINDER_SHA256", "needle_finder"]

FINDER_FILES = Path(__file__).with_name("needle_finder")
# the frame count it was trained at (8 uniform frames, each at most 112 x 56 pixels after its processor)
FINDER_FRAMES = 8
# sha256 of model.safetensors as the recipe's run saved it (recipes/results/needle_finder_runs.json)
FINDER_SHA256 = "56798bc4533792bdb197092a9580d5cbd0dd589f3a2058e36d72f949d7d950d0"


def needle_finder(out: Path, seed: int = 0) -> None:
    """Copy the trained checkpoint into ``out`` (``seed`` is not used: the weights are trained)."""
    weights = FINDER_FILES / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else "missing"
    if digest != FINDER_SHA256:
        raise MmhayError(f"{weights}: the shipped needle-finder weights are damaged (sha256 {digest[:12]}..., expected {FINDER_SHA256[:12]}...); reinstall mmhay")
    for path in sorted(FINDER_FILES.iterdir()):
        shutil.copyfile(path, out / path.name)
