"""The soundtrack a sample claims is the one it has: real recordings, measured outside the mixer.

The needles are real recorded event sounds (pygame's example data: a car door, a punch, a whiff, a
boom) and one bed is a real music recording, each normalised so that its peak reaches full scale:
the recordings users bring. Every needle of every built sample is measured from the written file
(FLAC, or the AAC soundtrack of an mp4) with PyAV and numpy alone: the needle's own file and the
bed, read independently, are fitted into the mix by least squares over the needle's span, and
the realised SNR is the power of the fitted needle part over that of the fitted bed part
(docs/metrics.md). None of it goes through ``mmhay.soundtrack``.
"""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from math import gcd
from pathlib import Path

import numpy as np
import pytest

from mmhay.config import parse_suite
from mmhay.generators import create_generator
from mmhay.media.sounds import render_sound
from mmhay.timeline import GeneratorRef

RATE = 16000
# AAC at 128 kbit/s moves the fitted powers by its quantisation and noise substitution: at most
# 0.3 dB measured over five seeds of these suites
AAC_TOLERANCE = 0.75
FADE = 160  # samples of a sound's linear fade in and out: Sound.fade (10 ms) at RATE
EVENTS = ("car_door", "punch", "whiff", "boom")
MUSIC = "house_lo"


def _pygame_examples() -> Path:
    """pygame's example data folder, found without importing pygame (it greets on import)."""
    spec = importlib.util.find_spec("pygame")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the real recordings come from the pygame package (pip install 'mmhay[test]')")
    return Path(list(spec.submodule_search_locations)[0]) / "examples" / "data"


def _decode(path: Path) -> tuple[np.ndarray, int, float]:
    """A file's first audio stream, mono float64, its rate and the time of its first sample, by PyAV alone."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = list(container.decode(stream))
    first = float(frames[0].pts * frames[0].time_base) if frames[0].pts is not None else 0.0
    parts = []
    for frame in frames:
        data = frame.to_ndarray()
        if frame.format.name in ("s16", "s16p"):
            data = data / 32768.0
        elif frame.format.name in ("u8", "u8p"):
            data = (data.astype(np.float64) - 128) / 128
        if not frame.format.is_planar:
            data = data.reshape(-1, len(frame.layout.channels)).T
        parts.append(data.astype(np.float64).mean(axis=0))
    return np.concatenate(parts), frames[0].sample_rate, first


def _write_flac(path: Path, samples: np.ndarray) -> None:
    import av

    pcm = np.round(samples * 32767).astype(np.int16)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("flac", rate=RATE)
        stream.layout, stream.format = "mono", "s16"
        frame = av.AudioFrame.from_ndarray(pcm[None], format="s16", layout="mono")
        frame.sample_rate, frame.pts = RATE, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _at_full_scale(path: Path) -> np.ndarray:
    """A recording at RATE (resampled with scipy), its peak at exactly full scale."""
    from scipy.signal import resample_poly

    samples, rate, _ = _decode(path)
    samples = samples - samples.mean()  # 8-bit recordings carry a DC offset
    common = gcd(RATE, rate)
    samples = resample_poly(samples, RATE // common, rate // common)
    return samples / np.abs(samples).max()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """``needles/`` (four recorded events, FLAC) and ``music/`` (a recorded loop), peaking at 32767."""
    examples = _pygame_examples()
    root = tmp_path_factory.mktemp("recordings")
    for folder, names in (("needles", EVENTS), ("music", (MUSIC,))):
        (root / folder).mkdir()
        for name in names:
            _write_flac(root / folder / f"{name}.flac", _at_full_scale(examples / f"{name}.wav"))
            pcm, _, _ = _decode(root / folder / f"{name}.flac")
            assert round(np.abs(pcm).max() * 32768) == 32767, "the recording reaches full scale"
    return root


def _suite(root: Path, **sections):
    config = {
        "name": "recorded",
        "seed": 5,
        "samples": 8,
        "generator": "audio",
        "audio": {"rate": RATE},
        "haystack": {"bed": "noise"},
        "needle": {"kind": "sound", "source": "needles"},
        "question": {"options": 3},
        "grid": {"length": [6], "distractors": [1], "snr": [0, 6], "insertion": ["overlay", "replace"]},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return parse_suite(config, origin=str(root / "suite.yaml"), folder=root)


def _bed(sample, first: int, stop: int) -> np.ndarray:
    """The bed under samples ``first..stop`` of the output, from its sources: procedural beds
    from their generator, recordings from their files (decoded here)."""
    out = np.zeros(stop - first)
    position = 0
    for clip in sample.media.soundtrack:
        count = round(clip.duration * RATE)
        a, b = max(first, position), min(stop, position + count)
        if a < b:
            source = round(clip.range.start * RATE) + a - position
            if isinstance(clip.ref, GeneratorRef):
                piece = render_sound(clip.ref.name, clip.ref.params, Fraction(source, RATE), Fraction(source + b - a, RATE), RATE)[0]
            else:
                piece = _decode(Path(clip.ref.path))[0][source : source + b - a]
            out[a - first : a - first + len(piece)] = piece
        position += count
    return out


def _envelope(count: int) -> np.ndarray:
    """A sound's fade: linear over FADE samples in and out (docs/metrics.md)."""
    weights = np.ones(count)
    ramp = np.arange(1, FADE + 1) / (FADE + 1)
    weights[:FADE], weights[count - FADE :] = ramp, ramp[::-1]
    return weights


def realised_snr(mix: np.ndarray, needle: np.ndarray, bed: np.ndarray, splice: bool) -> float:
    """The SNR (dB) of ``needle`` in ``mix`` over ``bed``, all over the needle's span: both fitted
    into the mix by least squares, then the fitted needle part's power over the fitted bed part's.
    A spliced needle replaces the bed (crossfaded): its level is against the bed it replaced."""
    envelope = _envelope(len(mix))
    parts = np.stack([needle * envelope, bed * (1 - envelope) if splice else bed], axis=1)
    (a, b), *_ = np.linalg.lstsq(parts, mix, rcond=None)
    heard = a * needle * (1 if splice else envelope)
    return float(10 * np.log10(np.sum(heard**2) / np.sum((b * bed) ** 2)))


def _measured(sample, mix: np.ndarray, offset: int = 0) -> list[tuple[str, float, float]]:
    """(label, configured SNR, realised SNR) for every sound of ``sample`` in its decoded ``mix``."""
    found = []
    for entry in sample.truth["needles"] + sample.truth["distractors"] + sample.truth.get("sounds", []):
        first, stop = round(entry["start"] * RATE), round(entry["end"] * RATE)
        needle = _decode(Path(entry["source"]["path"]))[0][: stop - first]
        span = mix[first + offset : stop + offset]
        found.append((entry["label"], sample.truth["snr_db"], realised_snr(span, needle, _bed(sample, first, stop), sample.truth["insertion"] == "replace")))
    return found


def _off(measured, tolerance):
    return [(label, configured, round(realised, 2)) for label, configured, realised in measured if abs(realised - configured) > tolerance]


@pytest.mark.parametrize("bed", ["noise", "music", "folder"])
def test_every_recorded_needle_has_its_snr_in_the_built_flac(bed, recordings, tmp_path):
    from mmhay.build import build_suite

    haystack = {"source": "music", "bed": "none"} if bed == "folder" else {"bed": bed}
    suite = _suite(recordings, haystack=haystack)
    build_suite(suite, tmp_path / "out")
    generator = create_generator(suite)
    measured, peaks = [], []
    for index in range(len(generator)):
        sample = generator.sample(index)
        mix, rate, _ = _decode(tmp_path / "out" / "audio" / f"{index:06d}.flac")
        assert rate == RATE and len(mix) == round(sample.media.duration * RATE)
        measured += [(index, *m) for m in _measured(sample, mix)]
        peaks.append(np.abs(mix).max())
    assert {label for _, label, _, _ in measured} == {name.replace("_", " ") for name in EVENTS}
    assert {configured for _, _, configured, _ in measured} == {0, 6}
    assert not _off([m[1:] for m in measured], 0.5), measured
    assert max(peaks) <= 10 ** (-1 / 20) + 1e-4, "the mix is scaled to peak at audio.peak_dbfs (-1 dBFS)"
    assert max(peaks) > 10 ** (-1.1 / 20), "and the loudest reaches it: these recordings peak high"
    if bed == "folder":
        from mmhay.audit import audit
        from mmhay.build import iter_built_samples

        truth = audit(iter_built_samples(tmp_path / "out"))[-1]
        assert truth.check == "truth" and truth.ok, truth.detail


@pytest.fixture(scope="module")
def loud_video(recordings) -> Path:
    """``videos/``, beside the recordings: one 8 s video whose own soundtrack is the music recording, at full scale."""
    from counter_video import write_counter_video

    from mmhay.media.encode import mux_audio

    folder = recordings / "videos"
    folder.mkdir()
    video = write_counter_video(folder / "band.mp4", [k * 250 for k in range(32)], size=(64, 36))
    music = _decode(recordings / "music" / f"{MUSIC}.flac")[0]
    mux_audio(video, [np.resize(music, 8 * RATE).astype(np.float32)[None]], RATE, 1)
    return folder


@pytest.mark.parametrize("bed", ["music", "source"])
def test_every_recorded_needle_has_its_snr_in_the_aac_soundtrack_of_a_built_video(bed, recordings, loud_video, tmp_path):
    from mmhay.build import build_suite

    # relative paths: the samples drawn depend on the config, not on where pytest puts its files
    haystack = {"source": loud_video.name, "bed": "source"} if bed == "source" else {"bed": "music", "shot_seconds": [2, 4]}
    suite = _suite(recordings, generator="video", video={"size": [64, 36], "fps": 4}, haystack=haystack)
    build_suite(suite, tmp_path / "out")
    generator = create_generator(suite)
    measured, peaks = [], []
    for index in range(len(generator)):
        sample = generator.sample(index)
        mix, rate, first = _decode(tmp_path / "out" / "videos" / f"{index:06d}.mp4")
        assert rate == RATE and first == 0, "the AAC decoder's priming is taken off"
        measured += [(index, *m) for m in _measured(sample, mix)]
        peaks.append(np.abs(mix).max())
    assert {configured for _, _, configured, _ in measured} == {0, 6}
    assert not _off([m[1:] for m in measured], AAC_TOLERANCE), measured
    assert max(peaks) < 1, "no sample of the decoded soundtrack reaches full scale"


def test_a_window_is_the_same_slice_of_the_whole_whichever_is_rendered_first(recordings, monkeypatch):
    from collections import OrderedDict

    import mmhay.soundtrack as soundtrack

    suite = _suite(recordings, haystack={"source": "music", "bed": "none"}, grid={"length": [25], "distractors": [1], "snr": [6], "insertion": ["overlay"]})
    sample = create_generator(suite).sample(0)
    windows = [(Fraction(337, 100), Fraction(1337, 100)), (Fraction(999, 100), Fraction(1001, 100)), (Fraction(20), Fraction(25))]
    monkeypatch.setattr(soundtrack, "_GAINS", OrderedDict())
    first = sample.media.audio(*windows[0])  # finds the gain over the whole recording
    gain = soundtrack.mix_gain(sample.media)
    assert gain < 0.9, "the loud bed and needles must be scaled down"
    whole = sample.media.audio()
    assert whole.shape == (1, 25 * RATE)
    monkeypatch.setattr(soundtrack, "_GAINS", OrderedDict())
    again = sample.media.audio()  # the whole first this time: the gain from the same pass
    assert soundtrack.mix_gain(sample.media) == pytest.approx(gain, rel=1e-9)
    np.testing.assert_allclose(again, whole, atol=1e-6)
    for (a, b), window in zip(windows, [first] + [sample.media.audio(a, b) for a, b in windows[1:]]):
        np.testing.assert_allclose(window, whole[:, round(a * RATE) : round(b * RATE)], atol=1e-6)
    assert np.abs(whole).max() == pytest.approx(10 ** (-1 / 20), rel=1e-5)


def test_a_sample_is_drawn_without_rendering_its_mix_and_states_its_margin(recordings, monkeypatch):
    import mmhay.soundtrack as soundtrack

    def refuse(*args):
        raise AssertionError("sample(i) rendered the mix")

    monkeypatch.setattr(soundtrack, "_mix", refuse)
    sample = create_generator(_suite(recordings, audio={"peak_dbfs": -3.0})).sample(1)
    assert sample.truth["peak_dbfs"] == -3.0 and sample.media.peak_dbfs == -3.0
    monkeypatch.undo()
    assert np.abs(sample.media.audio()).max() == pytest.approx(10 ** (-3 / 20), rel=1e-5)


def test_a_mix_under_the_margin_is_left_as_it_is():
    from dataclasses import replace

    from mmhay.soundtrack import mix_gain

    suite = parse_suite({"name": "quiet", "generator": "audio", "haystack": {"bed": "hum"}, "needle": {"kind": "sound", "snr_db": -6}, "grid": {"length": [8]}})
    sample = create_generator(suite).sample(0)
    raw = replace(sample.media, peak_dbfs=None).audio()
    assert np.abs(raw).max() < 10 ** (-1 / 20) and mix_gain(sample.media) == 1.0
    assert np.array_equal(sample.media.audio(), raw)


def test_eval_records_the_gain_the_recording_was_heard_at(recordings, tmp_path):
    import json
    from dataclasses import dataclass, field

    import yaml

    from mmhay.adapters import Answer
    from mmhay.evaluate import EvalSettings, evaluate, open_data
    from mmhay.soundtrack import mix_gain

    @dataclass
    class Listening:
        name: str = "listening"
        needs_frames: bool = True
        takes_audio: bool = True
        sees: bool = False
        batch_size: int = 4
        heard: dict = field(default_factory=dict)

        def identity(self):
            return {"adapter": "listening"}

        def generate(self, requests):
            self.heard.update({request.key: request.audio for request in requests})
            return [Answer("A") for _ in requests]

    config = recordings / "eval.yaml"
    config.write_text(yaml.safe_dump(_suite(recordings, samples=2, haystack={"source": "music", "bed": "none"}).model_dump(mode="json")))
    model = Listening()
    evaluate(open_data(config), model, tmp_path / "run", EvalSettings())
    samples = {sample.id: sample for sample in open_data(config).samples()}
    for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines():
        record = json.loads(line)
        gain = mix_gain(samples[record["id"]].media)
        assert record["audio_gain_db"] == pytest.approx(20 * np.log10(gain), abs=1e-3) and gain < 1
        assert np.abs(model.heard[record["id"]]).max() == pytest.approx(10 ** (-1 / 20), rel=1e-5)


@pytest.fixture(scope="module")
def rests(recordings) -> Path:
    """``rests/`` (16 s: the music, 4 s of digital silence from 4 s, the music again) and
    ``silence/`` (10 s: 2 s of the music, then silence), beside the recordings."""
    music = _decode(recordings / "music" / f"{MUSIC}.flac")[0]
    for name, layout in (("rests", [(4, True), (4, False), (8, True)]), ("silence", [(2, True), (8, False)])):
        (recordings / name).mkdir()
        parts = [np.resize(music, seconds * RATE) * heard for seconds, heard in layout]
        _write_flac(recordings / name / f"{name}.flac", np.concatenate(parts))
    return recordings


def test_a_needle_that_would_fall_on_silence_is_drawn_again_and_keeps_its_snr(rests, tmp_path, caplog):
    import logging

    suite = _suite(rests, haystack={"source": "rests", "bed": "none"}, grid={"length": [8], "depth": [0.5], "distractors": [1], "snr": [0, 6], "insertion": ["overlay"]})
    with caplog.at_level(logging.INFO, logger="mmhay"):
        samples = [create_generator(suite).sample(index) for index in range(8)]
    redrawn = {r.getMessage().split("sample ")[1].split(":")[0] for r in caplog.records if "drawn again" in r.getMessage()}
    assert redrawn, "the fixed depth falls on the rest in about half the first draws"
    assert [s.to_json() for s in samples] == [create_generator(suite).sample(i).to_json() for i in range(8)], "redrawn alike every time"
    for sample in samples:
        path = tmp_path / f"{sample.index}.flac"
        sample.media.write(path)
        mix = _decode(path)[0]
        for label, configured, realised in _measured(sample, mix):
            assert abs(realised - configured) < 0.5, (sample.index, label, realised)
        for entry in sample.truth["needles"] + sample.truth["distractors"]:
            first, stop = entry["samples"]
            assert 10 * np.log10(np.mean(_bed(sample, first, stop) ** 2)) > -60, "every sound is heard over a bed"


def test_a_cell_whose_needles_can_only_fall_on_silence_is_refused_in_one_line(rests):
    import subprocess
    import sys

    import yaml

    from mmhay.errors import ConfigError

    suite = _suite(rests, haystack={"source": "silence", "bed": "none"}, grid={"length": [8], "depth": [0.9], "distractors": [0], "snr": [0], "insertion": ["overlay"]})
    generator = create_generator(suite)
    with pytest.raises(ConfigError, match=r"suite\.yaml: haystack\.source = 'silence': grid cell \{.*'depth': 0\.9.*\}: in 20 draws a sound always fell where the bed is under the -60 dBFS silence floor"):
        generator.sample(0)
    config = rests / "silent.yaml"
    config.write_text(yaml.safe_dump(suite.model_dump(mode="json")))
    result = subprocess.run([sys.executable, "-m", "mmhay.cli", "eval", "--model", "random", "--data", str(config), "--limit", "1", "--out", str(rests / "run")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("mmhay: error: ") and "silent.yaml: haystack.source = 'silence': grid cell" in line


def test_sounds_in_a_video_with_no_sound_of_its_own_are_refused_before_anything_is_made(rests, loud_video):
    from mmhay.errors import ConfigError

    video = {"generator": "video", "video": {"size": [64, 36], "fps": 4}}
    with pytest.raises(ConfigError, match=r"haystack\.bed = 'source': the haystack videos have no sound of their own"):
        create_generator(_suite(rests, **video, haystack={"bed": "source"}))
    cross_modal = {"task": "cross_modal", "needle": {"kind": "image", "source": "builtin", "insertion": {"image": "insert", "sound": "overlay"}}, "grid": {"length": [6]}}
    with pytest.raises(ConfigError, match=r"cross_modal plays each sound while its picture shows, and a picture put in by (insert|replace)"):
        create_generator(_suite(rests, **video, **cross_modal, haystack={"source": loud_video.name, "bed": "source"}))


def test_a_sound_set_over_silence_is_not_rendered():
    from mmhay.timeline import Clip, Composition, Sound, TimeRange

    quiet = Clip(GeneratorRef("silence", {}), TimeRange(Fraction(0), Fraction(4)))
    beep = Sound(GeneratorRef("tone", {"frequency": 440, "duration": "1"}), TimeRange(Fraction(1), Fraction(1)))
    with pytest.raises(ValueError, match=r"the sound at 1\.000-2\.000 s is set 0 dB over a bed at -inf dBFS, under the -60 dBFS silence floor"):
        Composition((), (0, 0), soundtrack=(quiet,), sounds=(beep,)).audio()


def test_a_real_ogg_recording_named_oga_is_a_bed(recordings):
    import shutil

    (recordings / "oga").mkdir()
    shutil.copy(_pygame_examples() / f"{MUSIC}.ogg", recordings / "oga" / f"{MUSIC}.oga")  # Vorbis, Ogg audio's registered name
    sample = create_generator(_suite(recordings, haystack={"source": "oga", "bed": "none"})).sample(0)
    assert {Path(clip.ref.path).suffix for clip in sample.media.soundtrack} == {".oga"}
    assert sample.truth["peak_dbfs"] == -1.0 and np.abs(sample.media.audio()).max() == pytest.approx(10 ** (-1 / 20), rel=1e-5)
