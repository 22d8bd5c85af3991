"""Babble: many voices talking at once, synthesized without a recording or a speech synthesiser.

Each voice is a source-filter model of speech: a sawtooth at the voice's pitch (falling or rising
through each syllable) through three formant resonators of a vowel, after a short noise burst
of a consonant, syllable after syllable at four to six a second, with pauses. The voices sum to
what a crowded room sounds like: the spectrum, the pitch and the syllabic modulation of speech,
but no words and no language. Its level is held at ``level`` RMS second by second: each second
has the gain that puts it there (set from that second alone), ramping to the next second's over
20 ms around the join, so any whole second sits at the configured level and any stretch of a
few seconds within a fraction of a dB.

Every syllable is made whole from its onset and seeded by (seed, voice, syllable), so any window
renders the same samples as the same stretch of the whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from math import ceil, floor

import numpy as np

from mmhay.media.procedural import PROCEDURAL

__all__ = ["babble", "VOWELS"]

# Formants F1, F2, F3 (Hz) of ten English vowels, adult male averages (Peterson and Barney, 1952);
# higher voices scale them up.
VOWELS = (
    (270, 2290, 3010), (390, 1990, 2550), (530, 1840, 2480), (660, 1720, 2410), (730, 1090, 2440),
    (570, 840, 2410), (440, 1020, 2240), (300, 870, 2240), (640, 1190, 2390), (490, 1350, 1690),
)  # fmt: skip
_BANDWIDTHS = (80.0, 100.0, 140.0)  # of the three formants, Hz
_LONGEST = 0.5  # seconds: no syllable, consonant included, lasts longer
_RAMP = 0.02  # seconds over which the gain moves from one second's to the next


def _resonate(signal: np.ndarray, frequency: float, bandwidth: float, rate: int) -> np.ndarray:
    """``signal`` through a two-pole resonator at ``frequency`` Hz, unit gain at its peak."""
    from scipy.signal import lfilter

    radius = np.exp(-np.pi * bandwidth / rate)
    theta = 2 * np.pi * min(frequency, 0.45 * rate) / rate
    a = [1.0, -2 * radius * np.cos(theta), radius**2]
    gain = (1 - radius) * np.sqrt(1 - 2 * radius * np.cos(2 * theta) + radius**2)
    return lfilter([gain], a, signal)


def _voice(seed: int, voice: int) -> tuple[float, float, float, float]:
    """A voice's pitch (Hz), formant scale, syllable period and first onset (seconds)."""
    rng = np.random.default_rng([seed, voice])
    high = rng.random() < 0.5
    pitch = float(rng.uniform(170, 250) if high else rng.uniform(90, 140))
    return pitch, 1.17 if high else 1.0, float(rng.uniform(0.17, 0.25)), float(rng.uniform(0, 0.25))


def _syllable(seed: int, voice: int, index: int, pitch: float, scale: float, period: float, rate: int) -> np.ndarray | None:
    """One syllable's samples from its onset, or None for a pause."""
    rng = np.random.default_rng([seed, voice, index])
    if rng.random() < 0.2:
        return None
    vowel = VOWELS[int(rng.integers(len(VOWELS)))]
    length = min(_LONGEST, period * float(rng.uniform(0.75, 1.0)))
    consonant = float(rng.uniform(0.02, 0.07)) if rng.random() < 0.6 else 0.0
    burst = round(consonant * rate)
    voiced = max(1, round((length - consonant) * rate))
    t = np.arange(voiced) / rate
    contour = pitch * (1 + float(rng.uniform(-0.15, 0.1)) * t / max(t[-1], 1e-3)) * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = np.cumsum(contour) / rate
    source = 2 * (phase % 1.0) - 1
    sound = source
    for formant, bandwidth in zip(vowel, _BANDWIDTHS):
        sound = _resonate(sound, formant * scale, bandwidth, rate)
    sound = sound / (np.sqrt(np.mean(sound**2)) + 1e-12) * np.sin(np.pi * np.arange(voiced) / voiced) ** 0.5
    if not burst:
        return sound
    noise = _resonate(rng.standard_normal(burst), float(rng.uniform(2500, 5000)), 1500.0, rate)
    noise = 0.4 * noise / (np.sqrt(np.mean(noise**2)) + 1e-12) * np.hanning(burst)
    return np.concatenate([noise, sound])


@lru_cache(maxsize=64)
def _second(seed: int, voices: int, block: int, rate: int) -> np.ndarray:
    """Second ``block`` of the voices summed, before the level is set (read only)."""
    out = np.zeros(rate, np.float64)
    start, end = block * rate, (block + 1) * rate
    for voice in range(voices):
        pitch, scale, period, onset = _voice(seed, voice)
        first = max(0, floor((block - onset - _LONGEST) / period))
        for index in range(first, ceil((block + 1 - onset) / period) + 1):
            at = round((onset + index * period) * rate)
            if at >= end or at + _LONGEST * rate < start:
                continue
            samples = _syllable(seed, voice, index, pitch, scale, period, rate)
            if samples is None:
                continue
            a, b = max(start, at), min(end, at + len(samples))
            if a < b:
                out[a - start : b - start] += samples[a - at : b - at]
    out.flags.writeable = False
    return out


@lru_cache(maxsize=256)
def _gain(seed: int, voices: int, block: int, rate: int, level: float) -> float:
    return level / max(float(np.sqrt(np.mean(_second(seed, voices, block, rate) ** 2))), 1e-9)


@PROCEDURAL.register("babble", kind="audio")
def babble(params: Mapping, first: int, count: int, rate: int) -> np.ndarray:
    """Many synthesized voices talking at once, no words (params: seed, voices, level as RMS 0..1)."""
    seed, voices, level = int(params.get("seed", 0)), int(params.get("voices", 8)), float(params.get("level", 0.1))
    out = np.zeros(count, np.float64)
    if count == 0:
        return out
    for block in range(first // rate, (first + count - 1) // rate + 1):
        a, b = max(first, block * rate), min(first + count, (block + 1) * rate)
        out[a - first : b - first] = _second(seed, voices, block, rate)[a - block * rate : b - block * rate]
    # each second at its own gain, ramping from one second's to the next over ``_RAMP`` around the join
    index = first + np.arange(count)
    block, within = index // rate, index % rate
    ramp = max(1, round(_RAMP * rate / 2))
    lowest = max(0, int(block[0]) - 1)
    gains = np.array([_gain(seed, voices, b, rate, level) for b in range(lowest, int(block[-1]) + 2)])
    here, before, after = gains[block - lowest], gains[np.maximum(block - 1, 0) - lowest], gains[block + 1 - lowest]
    rising = np.clip((within + ramp) / (2 * ramp), 0, 1)  # near the start of a second, from the one before
    falling = np.clip((within - (rate - ramp)) / (2 * ramp), 0, 0.5)  # near its end, towards the one after
    gain = np.where(within < ramp, before * (1 - rising) + here * rising, here * (1 - falling) + after * falling)
    return out * gain
