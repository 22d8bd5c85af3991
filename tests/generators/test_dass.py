"""Sound as DASS tests it (Saurabhbhati/DASS 246c9f4, src/dataloader_niah.py and src/run_NIAH.py:148-152):
a clean needle concatenated into silence, white noise or babble, the recording made longer by it;
and passkeys read aloud where espeak-ng is installed. Truth is checked against the decoded FLAC."""

from __future__ import annotations

import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml

from mmhay.config import load_suite, parse_suite
from mmhay.generators import create_generator
from mmhay.generators.haystacks import BED_LEVEL_DBFS
from mmhay.media.audio import read_audio
from mmhay.soundtrack import mix_gain
from mmhay.timeline import GeneratorRef
from mmhay.verify import check_sample, normalised_xcorr, sound_template

RATE = 16000
CONFIGS = Path(__file__).parents[2] / "configs"


def _suite(bed: str, **needle):
    return parse_suite(
        {
            "name": "dass",
            "samples": 2,
            "generator": "audio",
            "audio": {"rate": RATE},
            "haystack": {"bed": bed},
            "needle": {"kind": "sound", "insertion": "insert", "duration": 2.0, "snr_db": -3, **needle},
            "grid": {"length": [6], "distractors": [1]},
        }
    )


def _db(samples: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(samples.astype(np.float64) ** 2) + 1e-30))


@pytest.mark.parametrize("bed", ["babble", "white", "silence"])
def test_concatenated_sounds_are_heard_clean_at_their_time_and_the_bed_goes_on_after_them(bed, tmp_path):
    sample = create_generator(_suite(bed)).sample(0)
    path = tmp_path / "x.flac"
    sample.media.write(path)
    mix = read_audio(path, Fraction(0), sample.media.duration, RATE, 1)[0]  # the written file, decoded
    entries = sorted(sample.truth["needles"] + sample.truth["distractors"], key=lambda e: e["start"])
    assert sample.truth["insertion"] == "insert" and len(entries) == 2
    # the recording is longer by the sounds: 6 s of bed and two 2 s sounds
    assert len(mix) == (6 + 2 * 2) * RATE and sample.truth["haystack_seconds"] == 6
    gain = mix_gain(sample.media)
    bed_ref = sample.media.soundtrack[0].ref  # the bed as drawn, before it was cut
    heard = np.ones(len(mix), bool)
    shift = 0
    for entry in entries:
        a, b = entry["samples"]
        heard[a:b] = False
        template = sound_template(entry, RATE)
        scores = normalised_xcorr(mix, template)
        at = int(np.argmax(scores))
        assert abs(at / RATE - entry["start"]) <= 0.010, (entry["label"], at / RATE, entry["start"])
        assert scores[at] > 0.999, "heard clean: nothing of the bed under it"
        # concatenation: right after the sound, the bed goes on from where it was cut
        cut = a - shift  # the bed sample the sound was put before
        go_on = GeneratorRef(bed_ref.name, bed_ref.params)
        from mmhay.soundtrack import source_audio

        expected = source_audio(go_on, Fraction(cut, RATE), Fraction(cut + RATE // 4, RATE), RATE, 1)[0] * gain
        assert np.abs(mix[b : b + RATE // 4] - expected).max() < 1e-3
        if bed == "silence":  # no SNR over silence: an absolute level, -20 dBFS + snr_db
            assert sample.truth["level_dbfs"] == BED_LEVEL_DBFS - 3 and "snr_db" not in sample.truth
            assert abs(_db(mix[a:b]) - (BED_LEVEL_DBFS - 3 + 20 * np.log10(gain))) < 0.5
        else:  # the sound's RMS over the bed it pushed back (DASS's SNR: the noise against the clean needle)
            assert abs(_db(mix[a:b]) - _db(mix[b : b + (b - a)]) - sample.truth["snr_db"]) < 0.5
        shift += b - a
    if bed == "silence":
        assert np.abs(mix[heard]).max() < 1e-4
        return
    # the bed, at its level as configured: -20 dBFS (RMS), under the recording's one gain
    assert abs(_db(mix[heard]) - (BED_LEVEL_DBFS + 20 * np.log10(gain))) < 0.5
    spectrum = np.abs(np.fft.rfft(mix[heard][: 4 * RATE])) ** 2
    bands = [spectrum[(np.fft.rfftfreq(4 * RATE, 1 / RATE) >= lo) & (np.fft.rfftfreq(4 * RATE, 1 / RATE) < lo + 1000)].mean() for lo in (500, 6500)]
    if bed == "white":  # as much power at 6.5-7.5 kHz as at 0.5-1.5 kHz
        assert 0.8 < bands[1] / bands[0] < 1.25
    else:  # babble: speech's spectrum falls off, and its loudness swells and fades at the syllable rate
        assert bands[1] / bands[0] < 0.05
        envelope = np.abs(mix[heard][: 4 * RATE]).reshape(-1, 160).mean(axis=1)  # 100 Hz
        modulation = np.abs(np.fft.rfft(envelope - envelope.mean()))
        frequencies = np.fft.rfftfreq(len(envelope), 1 / 100)
        assert 2 <= frequencies[int(np.argmax(modulation[1:])) + 1] <= 10


def test_babble_holds_its_level_over_any_few_seconds_and_renders_the_same_in_any_window():
    from mmhay.media.babble import babble

    params = {"seed": 7, "voices": 8, "level": 0.1}
    whole = babble(params, 0, 12 * RATE, RATE)
    for start in range(0, 9 * RATE, RATE // 2):
        assert abs(_db(whole[start : start + 3 * RATE]) - BED_LEVEL_DBFS) < 0.5, start / RATE
    assert np.array_equal(babble(params, 12345, 3 * RATE, RATE), whole[12345 : 12345 + 3 * RATE])


def test_sounds_in_a_videos_soundtrack_are_still_mixed_or_spliced():
    from mmhay.errors import ConfigError

    config = {"name": "v", "video": {"size": [64, 48], "fps": 4}, "haystack": {"bed": "white"}, "needle": {"kind": "sound", "insertion": "insert"}, "grid": {"length": [6]}}
    with pytest.raises(ConfigError, match="needle.insertion.*not inserted; a recording"):
        create_generator(parse_suite(config))
    with pytest.raises(ConfigError, match="grid.bed.*are the bed; leave grid.bed out"):
        create_generator(parse_suite({**config, "generator": "audio", "haystack": {"source": "recordings"}, "grid": {"length": [6], "bed": ["white"]}}))
    # and the sound each inserted picture plays with is mixed in, as it always was (configs/av_niah.yaml)
    av = {"name": "av", "task": "cross_modal", "video": {"size": [64, 48], "fps": 4}, "haystack": {"bed": "music"}, "needle": {"kind": "image", "insertion": {"image": "insert", "sound": "overlay"}}, "grid": {"length": [10]}}
    sample = create_generator(parse_suite(av)).sample(0)
    assert sample.media.sounds and {sound.mode for sound in sample.media.sounds} == {"mix"}


def test_the_dass_suite_crosses_silence_white_noise_and_babble():
    suite = load_suite(CONFIGS / "dass_niah.yaml")
    generator = create_generator(suite)
    beds = {generator.sample(i).facets["bed"]: generator.sample(i) for i in range(3)}
    assert set(beds) == {"silence", "white", "babble"}
    for bed, sample in beds.items():
        assert sample.truth["insertion"] == "insert"
        needle = sample.truth["needles"][0]
        assert needle["end"] - needle["start"] == 10, "DASS's 10 s clip"
        assert sample.media.duration == sample.truth["haystack_seconds"] + 10
        assert sample.media.soundtrack[0].ref.name == {"silence": "silence", "white": "noise", "babble": "babble"}[bed]
    # the audit's truth check finds a needle at depth 0 before 20 s of silence (windows of pure
    # silence once scored highest: their energy was the rounding noise of running sums)
    assert beds["silence"].facets["depth"] == 0.0
    assert check_sample(beds["silence"]) == [] and check_sample(beds["white"]) == []


def test_spoken_passkeys_without_espeak_are_refused_in_one_line(tmp_path):
    config = tmp_path / "spoken.yaml"
    config.write_text(yaml.safe_dump({"name": "spoken", "samples": 1, "generator": "audio", "haystack": {"bed": "white"}, "needle": {"kind": "sound", "sound": "spoken"}, "grid": {"length": [6]}}))
    empty = tmp_path / "bin"
    empty.mkdir()  # a PATH with no espeak-ng on it
    result = subprocess.run(
        [sys.executable, "-m", "mmhay.cli", "build", str(config), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, env={"PATH": str(empty), "PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "spoken.yaml: needle.sound = 'spoken': spoken passkeys are read aloud by espeak-ng, which is not on PATH" in lines[0], lines
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed here: spoken passkeys cannot be synthesised")
def test_a_spoken_passkey_is_read_aloud_at_its_time(tmp_path):
    sample = create_generator(_suite("white", sound="spoken", snr_db=6)).sample(1)
    needle = sample.truth["needles"][0]
    assert sample.truth["needs_audio"] and needle["source"]["name"] == "spoken"
    assert needle["source"]["params"]["text"] == " ".join(needle["label"]) and needle["source"]["params"]["synthesiser"].startswith("espeak-ng")
    assert "reads out a number" in sample.question and any(needle["label"] in option for option in sample.options)
    path = tmp_path / "x.flac"
    sample.media.write(path)
    mix = read_audio(path, Fraction(0), sample.media.duration, RATE, 1)[0]
    for entry in sample.truth["needles"] + sample.truth["distractors"]:
        assert 1.0 < entry["end"] - entry["start"] < 4.0, "five digits read aloud"
        scores = normalised_xcorr(mix, sound_template(entry, RATE))
        assert abs(int(np.argmax(scores)) / RATE - entry["start"]) <= 0.010
