"""Tiny checkpoints, built offline, for smoke tests and the demo.

They are real checkpoints (``save_pretrained`` of a real model class, processor and tokenizer)
that load through ``hf:PATH`` exactly as a user's checkpoint does. The random-weight families
answer noise; the needle-finder (``finder.py``) is trained and answers from what it sees.
Each builder lives in a module of this package and takes ``(out, seed)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mmhay.errors import ConfigError

__all__ = ["TINY_FAMILIES", "TINY_SCORERS", "TINY_SCRIPTED", "TINY_TRAINED", "make_tiny_checkpoint"]


def _builders() -> dict[str, Callable[[Path, int], None]]:
    from mmhay.adapters.tiny import clip, finder, gemma, internvl, llava, omni, phi4, qwen, reasoner, smolvlm

    return {
        "qwen2-vl": qwen.qwen2_vl,
        "qwen2.5-vl": qwen.qwen2_5_vl,
        "qwen3-vl": qwen.qwen3_vl,
        "llava-onevision": llava.llava_onevision,
        "llava-next-video": llava.llava_next_video,
        "smolvlm2": smolvlm.smolvlm2,
        "gemma3": gemma.gemma3,
        "internvl": internvl.internvl,
        "qwen2-audio": qwen.qwen2_audio,
        "qwen2.5-omni": omni.qwen2_5_omni,
        "qwen3-omni": omni.qwen3_omni,
        "phi4-multimodal": phi4.phi4_multimodal,
        "clip": clip.clip,
        "needle-finder": finder.needle_finder,
        "reasoner": reasoner.reasoner,
    }


# the families a user meets as checkpoints: the vision-language ones, one that hears, then ones that see and hear
TINY_FAMILIES = (
    "qwen2-vl",
    "qwen2.5-vl",
    "qwen3-vl",
    "llava-onevision",
    "llava-next-video",
    "smolvlm2",
    "gemma3",
    "internvl",
    "qwen2-audio",
    "qwen2.5-omni",
    "qwen3-omni",
    "phi4-multimodal",
)
# and models that are not asked questions: the relevance scorer of the keyclip sampler
TINY_SCORERS = ("clip",)
# and trained ones, shipped as files: the needle-finder (a Qwen2-VL that finds quickstart needles)
TINY_TRAINED = ("needle-finder",)
# and ones whose weights are set by hand to give one known reply: the reasoner (thinks, then answers B)
TINY_SCRIPTED = ("reasoner",)


def make_tiny_checkpoint(family: str, out: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny checkpoint of ``family`` into ``out`` and return the folder."""
    known = TINY_FAMILIES + TINY_SCORERS + TINY_TRAINED + TINY_SCRIPTED
    if family not in known:
        raise ConfigError("family", "", f"unknown tiny model family; known: {', '.join(known)}", family)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _builders()[family](out, seed)
    return out
