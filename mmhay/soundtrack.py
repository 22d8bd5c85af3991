"""Rendering a composition's soundtrack: the bed clips, with sounds mixed at an SNR or spliced in.

Only the window asked for is computed, plus, for each sound in it, the bed under that sound
(its level is set against the bed it covers).
"""

from __future__ import annotations

from fractions import Fraction
from math import sqrt

import numpy as np

from mmhay.media.audio import read_audio
from mmhay.media.decode import DecodeStats
from mmhay.media.sounds import render_sound
from mmhay.timeline import Composition, GeneratorRef, MediaRef, Sound

__all__ = ["render_window", "source_audio", "sound_gain", "REFERENCE_RMS"]

# The level a sound is set against where the bed under it is silent (an SNR needs a noise).
REFERENCE_RMS = 0.05


def source_audio(ref: MediaRef, start: Fraction, end: Fraction, rate: int, channels: int) -> np.ndarray:
    """Seconds ``start..end`` of an audio source (a file's audio stream, or a procedural sound)."""
    if isinstance(ref, GeneratorRef):
        mono = render_sound(ref.name, ref.params, start, end, rate)
        return np.repeat(mono, channels, axis=0)
    return read_audio(ref.path, start, end, rate, channels)


def _bed(composition: Composition, start: Fraction, end: Fraction, stats: DecodeStats) -> np.ndarray:
    rate, channels = composition.audio_rate, composition.audio_channels
    out = np.zeros((channels, max(0, round((end - start) * rate))), np.float32)
    position = Fraction(0)
    for clip in composition.soundtrack:
        a, b = max(start, position), min(end, position + clip.duration)
        if a < b:
            piece = source_audio(clip.ref, clip.range.start + a - position, clip.range.start + b - position, rate, channels)
            first = round((a - start) * rate)
            out[:, first : first + piece.shape[1]] = piece[:, : out.shape[1] - first]
            stats.audio_samples += piece.shape[1]
        position += clip.duration
    return out


def _power(samples: np.ndarray) -> float:
    return float(np.mean(samples.astype(np.float64) ** 2)) if samples.size else 0.0


def sound_gain(sound: Sound, event: np.ndarray, bed: np.ndarray) -> float:
    """The gain that puts ``event`` at ``sound.snr_db`` over ``bed`` (the bed it covers)."""
    reference = _power(bed) or REFERENCE_RMS**2
    return sqrt(reference * 10 ** (sound.snr_db / 10) / max(_power(event), 1e-20))


def _crossfade(count: int, fade: int) -> np.ndarray:
    """Weights of a spliced sound: rising over ``fade`` samples, 1, then falling."""
    ramp = np.ones(count, np.float32)
    if fade > 0:
        edge = np.linspace(0, 1, min(fade, count // 2) + 2, dtype=np.float32)[1:-1]
        ramp[: len(edge)] = edge
        ramp[count - len(edge) :] = edge[::-1]
    return ramp


def render_window(composition: Composition, start: Fraction, end: Fraction, stats: DecodeStats) -> np.ndarray:
    """The soundtrack from ``start`` to ``end``, float32 ``[channels, samples]``."""
    rate, channels = composition.audio_rate, composition.audio_channels
    out = _bed(composition, start, end, stats)
    for sound in composition.sounds:
        a, b = max(start, sound.at.start), min(end, sound.at.end)
        if a >= b:
            continue
        event = source_audio(sound.ref, sound.source_start, sound.source_start + sound.at.duration, rate, channels)
        envelope = _crossfade(event.shape[1], round(sound.fade * rate))
        if sound.mode != "splice":
            event = event * envelope  # fades in and out; its level is set as heard
        under = _bed(composition, sound.at.start, sound.at.end, stats)
        event = event * sound_gain(sound, event, under)
        first, offset = round((a - start) * rate), round((a - sound.at.start) * rate)
        count = min(round((b - a) * rate), out.shape[1] - first, event.shape[1] - offset)
        window = slice(first, first + count)
        if sound.mode == "splice":
            weight = envelope[offset : offset + count]
            out[:, window] = out[:, window] * (1 - weight) + event[:, offset : offset + count] * weight
        else:
            out[:, window] += event[:, offset : offset + count]
    return out
