"""Synthesized sound: beds (noise, hum, music-like; babble in mmhay.media.babble) and events (tones, chirps, clicks, DTMF digits).

Every source renders any window ``[start, end)`` of itself at any rate, mono float32, and the same
window always gives the same samples: beds are made in one-second blocks, each seeded by its
index, so a window of a 30-minute bed costs only its own blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from math import ceil, floor

import numpy as np

from mmhay.media.procedural import PROCEDURAL

__all__ = ["render_sound", "DTMF", "sound_duration"]

# The two frequencies (Hz) of each DTMF key (ITU-T Q.23).
DTMF = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336), "6": (770, 1477),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "*": (941, 1209), "0": (941, 1336), "#": (941, 1477),
}  # fmt: skip

_FADE = 0.01  # seconds of fade in and out on events, so they start and stop without a click


def render_sound(name: str, params: Mapping, start: Fraction, end: Fraction, rate: int) -> np.ndarray:
    """Samples ``start..end`` (seconds) of the procedural sound ``name``, mono float32 ``[1, T]``."""
    entry = PROCEDURAL.get(name, key="generator")
    if entry.meta.get("kind") != "audio":
        raise ValueError(f"procedural source {name!r} is not a sound")
    count = max(0, round((end - start) * rate))
    first = round(start * rate)
    return entry.obj(params, first, count, rate).astype(np.float32)[None, :]


def sound_duration(name: str, params: Mapping) -> Fraction | None:
    """How long an event lasts (None for beds, which last as long as asked)."""
    if name == "spoken":
        from mmhay.media.speech import spoken_duration

        return spoken_duration(params)
    if name == "dtmf":
        return Fraction(params["tone"]) * len(params["digits"]) + Fraction(params["gap"]) * (len(params["digits"]) - 1)
    return Fraction(params["duration"]) if "duration" in params else None


def _times(first: int, count: int, rate: int) -> np.ndarray:
    return (first + np.arange(count)) / rate


def _envelope(t: np.ndarray, duration: float) -> np.ndarray:
    """1 inside the event, ramping over ``_FADE`` at both ends, 0 outside."""
    rise = np.clip(t / _FADE, 0, 1)
    fall = np.clip((duration - t) / _FADE, 0, 1)
    return np.minimum(rise, fall)


def _blocks(first: int, count: int, rate: int, make) -> np.ndarray:
    """Samples ``first..first+count`` of a signal made one second at a time by ``make(block)``."""
    out = np.zeros(count, np.float64)
    if count == 0:
        return out
    for block in range(first // rate, (first + count - 1) // rate + 1):
        samples = make(block)
        a, b = max(first, block * rate), min(first + count, (block + 1) * rate)
        out[a - first : b - first] = samples[a - block * rate : b - block * rate]
    return out


@PROCEDURAL.register("noise", kind="audio")
def noise(params: Mapping, first: int, count: int, rate: int) -> np.ndarray:
    """A noise bed (params: color white | pink | brown, seed, level as RMS 0..1)."""
    from scipy.signal import lfilter

    color, seed, level = params.get("color", "pink"), int(params.get("seed", 0)), float(params.get("level", 0.1))
    if color == "pink":  # Paul Kellet's economy filter
        b, a = [0.049922035, -0.095993537, 0.050612699, -0.004408786], [1, -2.494956002, 2.017265875, -0.522189400]
    elif color == "brown":
        b, a = [0.02], [1, -0.98]
    else:
        b, a = [1.0], [1.0]

    def make(block: int) -> np.ndarray:
        # a second of history makes each block independent of where a window starts
        # block b's white noise is keyed b + 1, so that the history of block 0 has a key too
        white = np.concatenate([np.random.default_rng([seed, block + k]).standard_normal(rate) for k in (0, 1)])
        shaped = lfilter(b, a, white)[rate:]
        return shaped / (np.sqrt(np.mean(shaped**2)) + 1e-12) * level

    return _blocks(first, count, rate, make)


@PROCEDURAL.register("hum", kind="audio")
def hum(params: Mapping, first: int, count: int, rate: int) -> np.ndarray:
    """A low drone: a few harmonics of ``base`` Hz, slowly swelling (params: base, level)."""
    t = _times(first, count, rate)
    base, level = float(params.get("base", 110)), float(params.get("level", 0.1))
    wave = sum(np.sin(2 * np.pi * base * k * t) / k for k in (1, 1.5, 2, 3))
    swell = 0.75 + 0.25 * np.sin(2 * np.pi * t / 7.3)
    return wave * swell * level / 1.1


_PENTATONIC = (0, 2, 4, 7, 9, 12, 14, 16)


@PROCEDURAL.register("music", kind="audio")
def music(params: Mapping, first: int, count: int, rate: int) -> np.ndarray:
    """A music-like bed: plucked notes of a pentatonic scale on a beat (params: seed, tempo, level)."""
    seed, tempo, level = int(params.get("seed", 0)), float(params.get("tempo", 96)), float(params.get("level", 0.1))
    beat = 60.0 / tempo
    t0, t1 = first / rate, (first + count) / rate
    out = np.zeros(count, np.float64)
    for k in range(max(0, floor((t0 - 4 * beat) / beat)), ceil(t1 / beat) + 1):
        rng = np.random.default_rng([seed, k])
        if rng.random() < 0.2:
            continue  # a rest
        note = 220.0 * 2 ** (_PENTATONIC[int(rng.integers(len(_PENTATONIC)))] / 12)
        onset = k * beat
        a, b = max(first, round(onset * rate)), min(first + count, round((onset + 4 * beat) * rate))
        if a >= b:
            continue
        t = np.arange(a, b) / rate - onset
        out[a - first : b - first] += (np.sin(2 * np.pi * note * t) + 0.3 * np.sin(4 * np.pi * note * t)) * np.exp(-t / (1.2 * beat))
    return out * level / 0.5


@PROCEDURAL.register("silence", kind="audio")
def silence(params: Mapping, first: int, count: int, rate: int) -> np.ndarray:
    """Nothing to hear (under stills and footage without sound)."""
    return np.zeros(count, np.float64)


@PROCEDURAL.register("tone", kind="audio")
def tone(params: Mapping, first: int, count: int, rate: int) -> np.ndarray:
    """A steady beep (params: frequency in Hz, duration in seconds)."""
    t = _times(first, count, rate)
    return 0.5 * np.sin(2 * np.pi * float(params["frequency"]) * t) * _envelope(t, float(Fraction(params["duration"])))


@PROCEDURAL.register("chirp", kind="audio")
def chirp(params: Mapping, first: int, count: int, rate: int) -> np.ndarray:
    """A sweep from ``start`` to ``stop`` Hz, linear in frequency (params: start, stop, duration)."""
    t = _times(first, count, rate)
    duration = float(Fraction(params["duration"]))
    f0, f1 = float(params["start"]), float(params["stop"])
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * duration))
    return 0.5 * np.sin(phase) * _envelope(t, duration)


@PROCEDURAL.register("clicks", kind="audio")
def clicks(params: Mapping, first: int, count: int, rate: int) -> np.ndarray:
    """A train of sharp clicks, ``per_second`` of them (params: per_second, duration)."""
    t = _times(first, count, rate)
    duration = float(Fraction(params["duration"]))
    since = np.mod(t, 1.0 / float(params["per_second"]))
    burst = np.exp(-since / 0.002) * np.sin(2 * np.pi * 2500 * since)
    return 0.8 * burst * _envelope(t, duration)


@PROCEDURAL.register("dtmf", kind="audio")
def dtmf(params: Mapping, first: int, count: int, rate: int) -> np.ndarray:
    """Telephone keypad tones for ``digits`` (params: digits, tone and gap in seconds)."""
    t = _times(first, count, rate)
    tone_s, gap_s = float(Fraction(params["tone"])), float(Fraction(params["gap"]))
    out = np.zeros(count, np.float64)
    for k, key in enumerate(params["digits"]):
        low, high = DTMF[key]
        local = t - k * (tone_s + gap_s)
        inside = (local >= 0) & (local < tone_s)
        out[inside] = (0.35 * (np.sin(2 * np.pi * low * local) + np.sin(2 * np.pi * high * local)) * _envelope(local, tone_s))[inside]
    return out
