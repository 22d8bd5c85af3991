from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from mmhay.config import parse_suite
from mmhay.generators import create_generator
from mmhay.media.audio import read_audio
from mmhay.soundtrack import mix_gain
from mmhay.timeline import Composition
from mmhay.verify import normalised_xcorr, sound_template

RATE = 16000


def _suite(**changes):
    config = {
        "name": "sound",
        "samples": 6,
        "generator": "audio",
        "audio": {"rate": RATE},
        "haystack": {"bed": "mixed", "shot_seconds": [5, 10]},
        "needle": {"kind": "sound", "insertion": "overlay", "duration": 1.0, "snr_db": -6},
        "grid": {"length": [40], "distractors": [2]},
    }
    for key, value in changes.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    return parse_suite(config)


def _template(entry) -> np.ndarray:
    return sound_template(entry, RATE)


@pytest.mark.parametrize("insertion", ["overlay", "replace"])
def test_cross_correlation_finds_each_sound_at_its_time_and_nowhere_else(insertion, tmp_path):
    generator = create_generator(_suite(needle={"insertion": insertion}))
    for index in range(3):
        sample = generator.sample(index)
        path = tmp_path / f"{index}.flac"
        sample.media.write(path)
        mix = read_audio(path, Fraction(0), sample.media.duration, RATE, 1)[0]  # the written file, decoded
        placed = sample.truth["needles"] + sample.truth["distractors"]
        for entry in placed:
            scores = normalised_xcorr(mix, _template(entry))
            at = int(np.argmax(scores))  # the best match anywhere is where the truth says
            assert abs(at / RATE - entry["start"]) <= 0.010, (entry["label"], at / RATE, entry["start"])
            assert scores[at] > 0.3
            # and the bed matches it nowhere (a distractor of the same family, 3 clicks a second
            # against 12, may echo it where that distractor plays)
            bed = np.ones(len(scores), bool)
            for other in placed:
                a = round(other["start"] * RATE) - RATE
                bed[max(0, a) : round(other["end"] * RATE) + RATE] = False
            assert scores[bed].max() < 0.2, (entry["label"], float(scores[bed].max()))


@pytest.mark.parametrize("snr", [-6.0, 0.0, 6.0])
def test_the_mix_has_the_configured_snr(snr, tmp_path):
    sample = create_generator(_suite(needle={"snr_db": snr})).sample(1)
    bed = replace(sample.media, sounds=(), peak_dbfs=None)  # the bed alone, at the mix's gain below
    path = tmp_path / "mix.flac"
    sample.media.write(path)
    for entry in sample.truth["needles"] + sample.truth["distractors"]:
        start, end = (Fraction(entry[k]).limit_denominator(1000) for k in ("start", "end"))
        mixed = read_audio(path, start, end, RATE, 1)
        under = bed.audio(start, end) * mix_gain(sample.media)
        measured = 10 * np.log10(np.mean((mixed - under) ** 2) / np.mean(under**2))
        assert abs(measured - snr) < 0.5, (entry["label"], measured)
    assert sample.truth["snr_db"] == snr


def test_a_window_of_a_long_recording_costs_the_window_and_the_needles_once_its_gain_is_known():
    generator = create_generator(_suite(grid={"length": [300], "depth": [0.5], "distractors": [0]}))
    sample = generator.sample(0)
    assert sample.media.duration == 300
    needle = sample.truth["needles"][0]
    start = Fraction(needle["start"]).limit_denominator(100) - 10
    window, needle_span, whole = 30 * RATE, round((needle["end"] - needle["start"]) * RATE), 300 * RATE
    audio, stats = sample.media.render_audio(start, start + 30)
    assert audio.shape == (1, window)
    # the first window of a recording finds its gain: one pass over the whole, remembered
    assert whole <= stats.audio_samples <= whole + window + 3 * needle_span
    again, stats = sample.media.render_audio(start, start + 30)
    assert np.array_equal(again, audio)
    assert stats.audio_samples <= window + needle_span
    far, far_stats = sample.media.render_audio(Fraction(0), Fraction(30))
    assert far_stats.audio_samples == 30 * RATE, "a window away from the needles costs the window alone"


def test_recordings_from_a_folder_are_resampled_and_remixed(tmp_path):
    from mmhay.media.audio import write_audio

    folder = tmp_path / "beds"
    folder.mkdir()
    t = np.arange(44100 * 20) / 44100
    write_audio(folder / "stereo.wav", np.stack([0.1 * np.sin(2 * np.pi * 220 * t), 0.1 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32), 44100)
    sample = create_generator(_suite(haystack={"source": str(folder), "bed": "none"}, grid={"length": [15], "distractors": [0]})).sample(0)
    clip = sample.media.soundtrack[0]
    assert clip.ref.audio.rate == 44100 and clip.ref.audio.channels == 2
    audio = sample.media.audio()
    assert audio.shape == (1, 15 * RATE)
    spectrum = np.abs(np.fft.rfft(replace(sample.media, sounds=()).audio()[0]))
    frequencies = np.fft.rfftfreq(15 * RATE, 1 / RATE)
    loudest = sorted(frequencies[np.argsort(spectrum)[-2:]].round())
    assert loudest == [220, 330], "both channels, mixed down to mono at 16 kHz"


def test_keypad_digits_are_asked_as_text_and_play_whole():
    sample = create_generator(_suite(needle={"sound": "dtmf", "insertion": "replace"}, question={"form": "open"}, grid={"distractors": [0]})).sample(0)
    needle = sample.truth["needles"][0]
    assert sample.answer == needle["label"] and len(sample.answer) == 5
    assert needle["end"] - needle["start"] == pytest.approx(5 * 0.15 + 4 * 0.1)


def test_a_recording_round_trips_through_its_file(tmp_path):
    sample = create_generator(_suite()).sample(2)
    sample.media.write(tmp_path / "x.flac")
    back = Composition.from_sound_file(tmp_path / "x.flac")
    assert back.duration == sample.media.duration
    assert np.abs(back.audio() - sample.media.audio()).max() < 1e-3


def test_labelled_sound_files_are_needles(tmp_path):
    from mmhay.media.audio import write_audio

    folder = tmp_path / "sounds"
    folder.mkdir()
    t = np.arange(RATE) / RATE
    # sweeps from f to 2f: a steady tone matches itself shifted by whole periods nearly as well as
    # in place, so under noise its correlation peak can land tens of ms off (1 seed in 40 did)
    for name, f in [("doorbell.wav", 660), ("kettle_whistle.flac", 2200), ("bird_song.wav", 3100), ("car_horn.wav", 410)]:
        write_audio(folder / name, (0.3 * np.sin(2 * np.pi * f * (t + t**2 / 2))).astype(np.float32)[None], RATE)
    (folder / "broken.wav").write_bytes(b"RIFF....")
    suite = _suite(needle={"source": str(folder)}, question={"options": 3}, grid={"length": [20], "distractors": [1]})
    sample = create_generator(suite).sample(0)
    every = {"doorbell", "kettle whistle", "bird song", "car horn"}
    placed = {e["label"] for e in sample.truth["needles"] + sample.truth["distractors"]}
    assert placed <= every and len(placed) == 2
    assert set(sample.options) <= every and sample.truth["distractors"][0]["label"] not in sample.options
    needle = sample.truth["needles"][0]
    scores = normalised_xcorr(sample.media.audio()[0], _template(needle))
    assert abs(int(np.argmax(scores)) / RATE - needle["start"]) <= 0.010
