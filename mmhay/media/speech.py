"""Speech read aloud by espeak-ng, where it is installed: the spoken passkeys of sound suites.

mmhay ships no voice: spoken needles need the ``espeak-ng`` program on PATH (``apt-get install
espeak-ng``), and a suite asking for them without it is refused before anything is made. The
synthesiser's version is part of every spoken source's parameters, so a build says which voice
read its passkeys (another version may pronounce them with other samples).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from fractions import Fraction
from functools import lru_cache

import numpy as np

from mmhay.errors import MediaError
from mmhay.media.procedural import PROCEDURAL

__all__ = ["SYNTHESISER", "synthesiser_version", "spoken", "spoken_duration"]

SYNTHESISER = "espeak-ng"


@lru_cache(maxsize=1)
def synthesiser_version() -> str | None:
    """``"espeak-ng 1.51"``, or None where espeak-ng is not on PATH (or does not run)."""
    program = shutil.which(SYNTHESISER)
    if program is None:
        return None
    try:
        words = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    number = next((w for w in words if w[:1].isdigit()), "unknown")
    return f"{SYNTHESISER} {number}"


@lru_cache(maxsize=512)
def _speak(text: str, voice: str, speed: int) -> tuple[np.ndarray, int]:
    """``text`` read by espeak-ng: mono float samples (read only) and their rate."""
    program = shutil.which(SYNTHESISER)
    if program is None:
        raise MediaError(SYNTHESISER, "is not on PATH; spoken sounds need it (apt-get install espeak-ng)")
    try:
        wav = subprocess.run([program, "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise MediaError(SYNTHESISER, f"could not read {text!r} aloud: {error}") from None
    # written to a pipe, the WAV header's lengths are placeholders: the samples are all after "data"
    data = wav.find(b"data")
    if wav[:4] != b"RIFF" or data < 0 or int.from_bytes(wav[34:36], "little") != 16:
        raise MediaError(SYNTHESISER, "did not write 16-bit WAV to its standard output")
    rate = int.from_bytes(wav[24:28], "little")
    body = wav[data + 8 :]
    samples = np.frombuffer(body[: len(body) // 2 * 2], "<i2").astype(np.float32) / 32768
    samples.flags.writeable = False
    return samples, rate


def _at_rate(params: Mapping, rate: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    samples, native = _speak(str(params["text"]), str(params.get("voice", "en")), int(params.get("speed", 150)))
    if native == rate:
        return samples
    step = gcd(native, rate)
    return resample_poly(samples, rate // step, native // step)


@PROCEDURAL.register("spoken", kind="audio")
def spoken(params: Mapping, first: int, count: int, rate: int) -> np.ndarray:
    """Text read aloud by espeak-ng (params: text, voice, speed in words a minute, synthesiser)."""
    samples = _at_rate(params, rate)
    out = np.zeros(count, np.float64)
    piece = samples[first : first + count]
    out[: len(piece)] = piece
    return out


def spoken_duration(params: Mapping) -> Fraction:
    """How long the synthesiser takes to read ``params["text"]``, seconds."""
    samples, rate = _speak(str(params["text"]), str(params.get("voice", "en")), int(params.get("speed", 150)))
    return Fraction(len(samples), rate)
