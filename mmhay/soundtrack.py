"""Rendering a composition's soundtrack: the bed clips, with sounds mixed at an SNR or spliced in,
the whole scaled down to fit under the composition's peak margin.

Only the window asked for is computed, plus, for each sound in it, the bed under that sound
(its level is set against the bed it covers). The scale that keeps the whole recording under
its margin (``mix_gain``) is one number per composition: it needs one pass over the whole
soundtrack, made the first time any of it is rendered and remembered, by the composition's
JSON, for every later window (docs/design.md).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from fractions import Fraction
from math import log10, sqrt

import numpy as np

from mmhay.media.audio import read_audio
from mmhay.media.decode import DecodeStats
from mmhay.media.sounds import render_sound
from mmhay.timeline import Composition, GeneratorRef, MediaRef, Sound

__all__ = ["render_window", "source_audio", "sound_gain", "mix_gain", "bed_level_dbfs", "quiet_sounds", "CHUNK", "SILENCE_FLOOR_DBFS"]

# A sound is set against the bed under it; a bed quieter than this over the sound's span (RMS,
# dBFS) is silence, and an SNR over silence means nothing (docs/metrics.md).
SILENCE_FLOOR_DBFS = -60.0

# The whole soundtrack is rendered (and written) this many seconds at a time.
CHUNK = Fraction(10)

_GAINS: OrderedDict[str, float] = OrderedDict()
_GAINS_KEPT = 1024
_GAINS_LOCK = threading.Lock()


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


def _dbfs(power: float) -> float:
    return 10 * log10(power) if power > 0 else float("-inf")


def bed_level_dbfs(composition: Composition, sound: Sound, stats: DecodeStats | None = None) -> float:
    """The RMS level (dBFS, -inf for digital silence) of the bed under ``sound``, before any gain:
    what the sound's level is set against. Costs the bed over the sound's span alone."""
    return _dbfs(_power(_bed(composition, sound.at.start, sound.at.end, stats or DecodeStats())))


def quiet_sounds(composition: Composition) -> list[Sound]:
    """The sounds of ``composition`` set at an SNR whose bed is under ``SILENCE_FLOOR_DBFS``: their SNR cannot hold."""
    return [sound for sound in composition.sounds if sound.level_dbfs is None and bed_level_dbfs(composition, sound) < SILENCE_FLOOR_DBFS]


def sound_gain(sound: Sound, event: np.ndarray, bed: np.ndarray) -> float:
    """The gain that puts ``event`` at ``sound.snr_db`` over ``bed`` (the bed it covers), or at
    ``sound.level_dbfs`` RMS where it has one; a ``ValueError`` if a bed it is set against is
    under the silence floor."""
    if sound.level_dbfs is not None:
        return sqrt(10 ** (sound.level_dbfs / 10) / max(_power(event), 1e-20))
    reference = _power(bed)
    if _dbfs(reference) < SILENCE_FLOOR_DBFS:
        raise ValueError(
            f"the sound at {float(sound.at.start):.3f}-{float(sound.at.end):.3f} s is set {sound.snr_db:g} dB over a bed at "
            f"{_dbfs(reference):.1f} dBFS, under the {SILENCE_FLOOR_DBFS:g} dBFS silence floor: an SNR over silence has no meaning"
        )
    return sqrt(reference * 10 ** (sound.snr_db / 10) / max(_power(event), 1e-20))


def _crossfade(count: int, fade: int) -> np.ndarray:
    """Weights of a sound's fades: rising linearly over ``fade`` samples (k / (fade + 1) for
    k = 1..fade), 1, then falling the same way."""
    ramp = np.ones(count, np.float32)
    if fade > 0:
        edge = np.linspace(0, 1, min(fade, count // 2) + 2, dtype=np.float32)[1:-1]
        ramp[: len(edge)] = edge
        ramp[count - len(edge) :] = edge[::-1]
    return ramp


def _mix(composition: Composition, start: Fraction, end: Fraction, stats: DecodeStats) -> np.ndarray:
    """The soundtrack from ``start`` to ``end`` before the composition's gain."""
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
        under = _bed(composition, sound.at.start, sound.at.end, stats) if sound.level_dbfs is None else out[:, :0]
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


def _chunks(composition: Composition) -> list[tuple[Fraction, Fraction]]:
    """The windows the whole soundtrack is rendered in, ``CHUNK`` seconds each."""
    bounds, start = [], Fraction(0)
    while start < composition.duration:
        bounds.append((start, min(composition.duration, start + CHUNK)))
        start = bounds[-1][1]
    return bounds


def _key(composition: Composition) -> str:
    return hashlib.sha256(json.dumps(composition.to_json(), sort_keys=True).encode()).hexdigest()


def _gain_for(composition: Composition, peak: float) -> float:
    """Only ever down: a mix already under the margin is left as it is."""
    assert composition.peak_dbfs is not None
    limit = 10 ** (composition.peak_dbfs / 20)
    return min(1.0, limit / peak) if peak > 0 else 1.0


def _remember(key: str, gain: float) -> float:
    with _GAINS_LOCK:
        _GAINS[key] = gain
        _GAINS.move_to_end(key)
        while len(_GAINS) > _GAINS_KEPT:
            _GAINS.popitem(last=False)
    return gain


def _known(key: str) -> float | None:
    with _GAINS_LOCK:
        return _GAINS.get(key)


def mix_gain(composition: Composition, stats: DecodeStats | None = None) -> float:
    """The scale (<= 1) the whole soundtrack is rendered at so that its peak sits at
    ``composition.peak_dbfs`` or under it; 1 without a margin.

    One pass over the whole soundtrack the first time it is asked for a composition (the
    samples it costs are added to ``stats``), then remembered.
    """
    if composition.peak_dbfs is None or not composition.soundtrack:
        return 1.0
    key = _key(composition)
    gain = _known(key)
    if gain is None:
        stats = stats or DecodeStats()
        peak = max(float(np.abs(_mix(composition, a, b, stats)).max(initial=0.0)) for a, b in _chunks(composition))
        gain = _remember(key, _gain_for(composition, peak))
    return gain


def render_window(composition: Composition, start: Fraction, end: Fraction, stats: DecodeStats) -> np.ndarray:
    """The soundtrack from ``start`` to ``end``, float32 ``[channels, samples]``, at the
    composition's gain: any window equals the same slice of the whole.

    The whole soundtrack is rendered ``CHUNK`` seconds at a time, finding the gain in the same
    pass; a window of a composition whose gain is not known yet first makes that pass.
    """
    if composition.peak_dbfs is None or not composition.soundtrack:
        return _mix(composition, start, end, stats)
    key = _key(composition)
    gain = _known(key)
    if start == 0 and end == composition.duration:
        pieces = [_mix(composition, a, b, stats) for a, b in _chunks(composition)] or [_mix(composition, start, end, stats)]
        if gain is None:
            gain = _remember(key, _gain_for(composition, max(float(np.abs(piece).max(initial=0.0)) for piece in pieces)))
        out = np.concatenate(pieces, axis=1)
    else:
        gain = gain if gain is not None else mix_gain(composition, stats)
        out = _mix(composition, start, end, stats)
    if gain != 1.0:
        out *= np.float32(gain)
    return out
