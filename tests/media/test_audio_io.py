"""mmhay/media/audio.py: reading windows of sound files and writing them (test_audio.py is the audio generator's)."""

import logging
from fractions import Fraction

import numpy as np

from mmhay.media.audio import read_audio, write_audio

RATE = 16000


def test_samples_over_full_scale_are_clipped_with_a_warning_naming_the_file(tmp_path, caplog):
    loud = (1.5 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32)[None]
    with caplog.at_level(logging.WARNING, logger="mmhay"):
        write_audio(tmp_path / "loud.flac", [loud[:, :8000], loud[:, 8000:]], RATE, 1)
    back = read_audio(tmp_path / "loud.flac", Fraction(0), Fraction(1), RATE, 1)
    assert np.abs(back).max() == np.float32(32767 / 32768)
    over = int(np.count_nonzero(np.abs(loud) > 1))
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "loud.flac" in warning and f"{over} of {RATE} samples" in warning and "+3.5 dBFS" in warning


def test_samples_within_full_scale_are_written_without_a_word(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="mmhay"):
        write_audio(tmp_path / "fine.wav", np.array([[1.0, -1.0, 0.5]], np.float32), RATE)
    assert not caplog.records
    assert np.abs(read_audio(tmp_path / "fine.wav", Fraction(0), Fraction(3, RATE), RATE, 1)).max() == np.float32(32767 / 32768)


def _aac(path, samples: np.ndarray) -> None:
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=RATE)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None].astype(np.float32)), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = RATE, 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_a_window_of_a_lossy_file_is_the_slice_of_the_whole(tmp_path):
    """AAC (like MP3, Vorbis, Opus) frames overlap the ones before them: a read decodes from a
    little before its window, and one from the start keeps the encoder's priming frame."""
    t = np.arange(3 * RATE) / RATE
    _aac(tmp_path / "tone.m4a", 0.5 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t)) / 1.5)
    whole = read_audio(tmp_path / "tone.m4a", Fraction(0), Fraction(3), RATE, 1)[0]
    assert np.abs(whole[:400]).max() > 0.1, "the first frame is heard, not zeros"
    for start in (Fraction(1, 4), Fraction(1), Fraction(37, 20)):
        window = read_audio(tmp_path / "tone.m4a", start, start + 1, RATE, 1)[0]
        assert np.abs(window - whole[round(start * RATE) : round(start * RATE) + RATE]).max() < 1e-4, start


# (extension, container, codec, rate) of sound files in the registered formats PyAV reads
FORMATS = [
    (".oga", "ogg", "flac", RATE),
    (".opus", "ogg", "libopus", 48000),
    (".aif", "aiff", "pcm_s16be", RATE),
    (".aiff", "aiff", "pcm_s16be", RATE),
    (".aifc", "aiff", "pcm_s16be", RATE),
    (".wma", "asf", "wmav2", RATE),
    (".mka", "matroska", "flac", RATE),
    (".caf", "caf", "pcm_s16le", RATE),
    (".au", "au", "pcm_s16be", RATE),
]


def _encoded(path, container_format: str, codec: str, rate: int, seconds: float = 1.0) -> None:
    import av

    tone = (0.4 * np.sin(2 * np.pi * 660 * np.arange(round(seconds * rate)) / rate)).astype(np.float32)[None]
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout, stream.bit_rate = "mono", 64_000  # WMA needs a bit rate
        resampler = av.AudioResampler(format=stream.codec_context.codec.audio_formats[0].name, layout="mono", rate=rate)
        frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for piece in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(piece):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_every_registered_sound_format_pyav_reads_is_collected_and_read(tmp_path):
    from mmhay.generators.needles import folder_needles
    from mmhay.media.audio import AUDIO_SUFFIXES, probe_audio
    from mmhay.media.probe import walk_files

    for suffix, container_format, codec, rate in FORMATS:
        _encoded(tmp_path / f"tone {suffix[1:]}{suffix}", container_format, codec, rate)
    assert [path.suffix for path in walk_files(tmp_path, AUDIO_SUFFIXES)] == sorted((s for s, *_ in FORMATS), key=lambda s: f"tone {s[1:]}{s}")
    for suffix, *_ in FORMATS:
        path = tmp_path / f"tone {suffix[1:]}{suffix}"
        assert abs(probe_audio(path).duration - 1) < Fraction(1, 10), suffix
        samples = read_audio(path, Fraction(1, 4), Fraction(3, 4), RATE, 1)[0]
        assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 0.2, suffix
        assert abs(np.argmax(np.abs(np.fft.rfft(samples))) * RATE / len(samples) - 660) <= 4, suffix
    assert len(folder_needles(tmp_path, "sound", strict=True)) == len(FORMATS)
