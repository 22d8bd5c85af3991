"""Audio I/O: probing, reading a window of samples at a given rate and channel count, writing.

Samples are float32 ``[channels, samples]`` in -1..1. Reading decodes only from the packet before
the window's start (half a second earlier for lossy codecs, whose frames overlap) to its end, and
resamples and remixes to what is asked (PyAV's resampler).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from mmhay.atomic import temporary_path
from mmhay.errors import MediaError

__all__ = ["AudioInfo", "probe_audio", "read_audio", "write_audio", "over_full_scale", "warn_clipped", "AUDIO_SUFFIXES"]

log = logging.getLogger(__name__)

# Sound files, by their registered extensions, that PyAV reads: WAV, FLAC, MP3, AAC; Ogg
# (.ogg, .oga: Vorbis, FLAC or Opus; .opus); AIFF (.aif, .aiff, .aifc); WMA; Matroska audio;
# Core Audio; Sun audio.
AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".aifc", ".wma", ".mka", ".caf", ".au"}
)

# Codecs whose every frame decodes on its own (a read can start at any frame), and how much
# earlier a read of any other codec starts decoding (AAC, MP3, Vorbis and Opus frames overlap
# the ones before them: up to 2048 samples, 256 ms at 8 kHz).
_DECODE_ALONE = ("pcm_", "flac", "alac", "wavpack", "tta", "ape")
_PREROLL = Fraction(1, 2)

# A probe decodes the last ``_TAIL`` seconds its header announces; sound stopping more than
# ``_SHORT`` before the header's end is a file cut short, read up to where it stops.
_TAIL = Fraction(1)
_SHORT = Fraction(1, 10)


@dataclass(frozen=True)
class AudioInfo:
    """Facts about the first audio stream of a file."""

    rate: int
    channels: int
    duration: Fraction
    codec: str

    def to_json(self) -> dict:
        data = asdict(self)
        data["duration"] = str(self.duration)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "AudioInfo":
        return cls(data["rate"], data["channels"], Fraction(data["duration"]), data["codec"])


def probe_audio(path: str | Path) -> AudioInfo:
    """Read the audio stream facts of a file; a ``MediaError`` if it has no decodable audio."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise MediaError(path, f"cannot read: {error.strerror or error}") from None
    return _probe(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=1024)
def _probe(path: str, size: int, mtime_ns: int) -> AudioInfo:
    import av

    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise MediaError(path, "holds no audio stream")
            stream = container.streams.audio[0]
            try:
                first = next(container.decode(stream), None)
            except av.EOFError:  # a stream with no packets at all
                first = None
            if first is None:
                raise MediaError(path, "no audio could be decoded")
            if stream.duration is not None:
                duration = Fraction(stream.duration) * stream.time_base
            elif container.duration is not None:
                duration = Fraction(container.duration, 1_000_000)
            else:
                duration = Fraction(0)
            if duration <= 0:
                raise MediaError(path, "has no duration")
            origin = Fraction(stream.start_time) * stream.time_base if stream.start_time is not None else Fraction(0)
            end = _decodable_end(container, stream, origin + duration - _TAIL)
            if end is not None and end - origin < duration - _SHORT:
                # the header counts samples the file does not hold: a download cut short
                log.warning("%s: sound stops at %.3f s of the %.3f s its header gives (cut short?); using the sound there is", path, end - origin, duration)
                duration = end - origin
            return AudioInfo(stream.rate or first.sample_rate, stream.channels or len(first.layout.channels), duration, stream.codec_context.name)
    except MediaError:
        raise
    except Exception as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise MediaError(path, f"not readable audio ({reason})") from None


def _decodable_end(container, stream, after: Fraction) -> Fraction | None:
    """When the last frame that decodes stops (seconds, stream time), decoding from ``after`` on
    (from the start if nothing decodes there); undecodable packets (a cut one) are passed over."""
    import av

    for start in (after, None):
        if start is not None and start <= 0:
            continue
        container.seek(int(start / stream.time_base) if start is not None else 0, stream=stream, backward=True)
        end = None
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            for frame in frames:
                if frame.pts is not None:
                    stop = Fraction(frame.pts) * frame.time_base + Fraction(frame.samples, frame.sample_rate)
                    end = stop if end is None else max(end, stop)
        if end is not None:
            return end
    return None


def read_audio(path: str | Path, start: Fraction, end: Fraction, rate: int, channels: int) -> np.ndarray:
    """Samples of ``path`` from ``start`` to ``end`` seconds at ``rate`` Hz and ``channels``
    channels, float32 ``[channels, round((end - start) * rate)]``; silence past the file's end,
    and past where a file cut short stops (``probe_audio`` warns of it)."""
    import av

    count = max(0, round((end - start) * rate))
    out = np.zeros((channels, count), np.float32)
    if count == 0:
        return out
    layout = "mono" if channels == 1 else "stereo"
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            # a lossy decoder's first frames after a seek lack the overlap of the ones before
            # them: start decoding a little earlier, and keep only what is asked
            ahead = Fraction(0) if stream.codec_context.name.startswith(_DECODE_ALONE) else _PREROLL
            if start - ahead > 0:  # from the start, no seek: a seek to 0 skips AAC's priming, zeroing its first samples
                container.seek(int((start - ahead) / stream.time_base), stream=stream, backward=True)
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            position = None  # output sample index (at ``rate``) of the next resampled sample
            broken = None  # the time of an undecodable packet: the cut of a file cut short, if nothing decodes after it
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    broken = broken if broken is not None else float(packet.pts * stream.time_base) if packet.pts is not None else 0.0
                    continue
                if frames and broken is not None:
                    raise MediaError(path, f"audio decoding failed: undecodable data at {broken:.3f} s")
                for frame in frames:
                    for piece in resampler.resample(frame):
                        position = _place(out, piece, position, start, rate)
                if position is not None and position >= count:
                    break
            for piece in resampler.resample(None):
                position = _place(out, piece, position, start, rate)
    except MediaError:
        raise
    except Exception as error:
        raise MediaError(path, f"audio decoding failed ({type(error).__name__}: {error})") from None
    return out


def _place(out: np.ndarray, piece, position: int | None, start: Fraction, rate: int) -> int:
    """Copy a resampled frame into ``out`` where it belongs; return the index after it."""
    data = piece.to_ndarray()
    if position is None:
        stamp = Fraction(piece.pts) * piece.time_base if piece.pts is not None else start
        position = round((stamp - start) * rate)
    a, b = max(0, position), min(out.shape[1], position + data.shape[1])
    if a < b:
        out[:, a:b] = data[: out.shape[0], a - position : b - position]
    return position + data.shape[1]


def over_full_scale(samples: np.ndarray) -> tuple[int, float]:
    """How many of ``samples`` are beyond -1..1, and the largest magnitude among all of them."""
    loudness = np.abs(samples)
    return int(np.count_nonzero(loudness > 1)), float(loudness.max(initial=0.0))


def warn_clipped(path: str | Path, clipped: int, total: int, peak: float) -> None:
    """Log that ``clipped`` of the ``total`` samples written to ``path`` were over full scale
    (the highest at ``peak``) and were clipped: a writer never clips silently."""
    log.warning(
        "%s: %d of %d samples (%.3f%%) were over full scale, up to %+.1f dBFS, and are clipped",
        path, clipped, total, 100 * clipped / max(1, total), 20 * np.log10(peak),
    )


def write_audio(path: str | Path, chunks: Iterable[np.ndarray] | np.ndarray, rate: int, channels: int | None = None) -> None:
    """Write float32 ``[channels, n]`` samples (one array, or chunks of it) as FLAC (16-bit) or
    WAV by the file's suffix, atomically. Samples over full scale (beyond -1..1) are clipped,
    with a warning naming the file and how many (``warn_clipped``)."""
    import av

    path = Path(path)
    codec = {".flac": "flac", ".wav": "pcm_s16le"}.get(path.suffix.lower())
    if codec is None:
        raise MediaError(path, "audio is written as .flac or .wav")
    if isinstance(chunks, np.ndarray):
        channels, chunks = chunks.shape[0], [chunks]
    layout = "mono" if channels == 1 else "stereo"
    partial = temporary_path(path)
    try:
        with av.open(str(partial), mode="w", format=path.suffix.lstrip(".").lower()) as container:
            stream = container.add_stream(codec, rate=rate)
            stream.layout, stream.format = layout, "s16"
            position, clipped, total, peak = 0, 0, 0, 0.0
            for samples in chunks:
                over, top = over_full_scale(samples)
                clipped, total, peak = clipped + over, total + samples.size, max(peak, top)
                pcm = (np.clip(samples, -1, 1) * 32767).round().astype(np.int16)
                for offset in range(0, pcm.shape[1], 4096):
                    piece = np.ascontiguousarray(pcm[:, offset : offset + 4096].T.reshape(1, -1))
                    frame = av.AudioFrame.from_ndarray(piece, format="s16", layout=layout)
                    frame.sample_rate, frame.pts = rate, position
                    position += piece.shape[1] // max(1, pcm.shape[0])
                    container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, Exception) and not isinstance(error, MediaError):
            raise MediaError(path, f"audio encoding failed ({type(error).__name__}: {error})") from None
        raise
    if clipped:
        warn_clipped(path, clipped, total, peak)
