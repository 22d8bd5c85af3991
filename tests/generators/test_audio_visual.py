import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_audio import RATE, _template  # noqa: E402

from mmhay.config import parse_suite  # noqa: E402
from mmhay.generators import create_generator  # noqa: E402
from mmhay.timeline import Composition  # noqa: E402
from mmhay.verify import normalised_xcorr  # noqa: E402

FPS = 8


def _suite(**changes):
    config = {
        "name": "av",
        "samples": 6,
        "task": "cross_modal",
        "video": {"size": [128, 72], "fps": FPS},
        "audio": {"rate": RATE},
        "haystack": {"bed": "music"},
        "needle": {"kind": "image", "insertion": {"image": "insert", "sound": "overlay"}, "duration": 1.5, "snr_db": 0},
        "grid": {"length": [20], "distractors": [2]},
    }
    config.update(changes)
    return parse_suite(config)


def _heard_at(path, entry) -> float:
    """Where in the file's soundtrack the entry's sound matches best, in seconds."""
    soundtrack = Composition.from_file(path).audio()[0]
    return int(np.argmax(normalised_xcorr(soundtrack, _template(entry)))) / RATE


def test_the_sound_heard_with_the_picture_is_the_answer(tmp_path):
    generator = create_generator(_suite())
    for index in range(3):
        sample = generator.sample(index)
        path = tmp_path / f"{index}.mp4"
        sample.media.write(path)
        needle = sample.truth["needles"][0]
        heard = {round(s["start"], 3): s for s in sample.truth["sounds"]}
        right = heard[round(needle["start"], 3)]
        assert sample.options["ABCD".index(sample.answer)] == right["description"]
        assert abs(_heard_at(path, right) - needle["start"]) <= 0.03, "the sound plays while the picture shows (AAC frames allow 30 ms)"
        for distractor in sample.truth["distractors"]:
            other = heard[round(distractor["start"], 3)]
            assert other["label"] != right["label"]
        assert sample.truth["needs_audio"]


def test_sound_needles_go_into_a_videos_soundtrack(tmp_path):
    sample = create_generator(_suite(task="retrieval", needle={"kind": "sound", "insertion": "overlay", "duration": 1.0, "snr_db": 0})).sample(0)
    assert sample.media.segments and sample.media.sounds and sample.truth["needs_audio"]
    path = tmp_path / "v.mp4"
    sample.media.write(path)
    for entry in sample.truth["needles"] + sample.truth["distractors"]:
        assert abs(_heard_at(path, entry) - entry["start"]) <= 0.03


def test_a_grid_over_tasks_and_kinds_leaves_out_what_does_not_apply():
    generator = create_generator(_suite(task="retrieval", grid={"task": ["retrieval", "cross_modal"], "kind": ["image", "sound"], "length": [20], "distractors": [1]}))
    assert {(c.task, c.kind) for c in generator.cells} == {("retrieval", "image"), ("retrieval", "sound"), ("cross_modal", "image")}
    assert [generator.sample(i).truth["needs_audio"] for i in range(3)] == [False, True, True]


def test_a_videos_own_sound_can_be_its_soundtrack(tmp_path):
    from counter_video import write_counter_video

    from mmhay.media.encode import mux_audio

    folder = tmp_path / "videos"
    folder.mkdir()
    video = write_counter_video(folder / "talk.mp4", [k * 125 for k in range(160)])  # 20 s at 8 fps
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(20 * RATE) / RATE)).astype(np.float32)[None]
    mux_audio(video, [tone], RATE, 1)
    suite = _suite(task="retrieval", haystack={"source": str(folder), "bed": "source"}, needle={"kind": "image", "insertion": "insert", "duration": 1.0}, grid={"length": [10]})
    sample = create_generator(suite).sample(0)
    audio = sample.media.audio()[0]
    needle = sample.truth["needles"][0]
    during = audio[round(needle["start"] * RATE) + 100 : round(needle["end"] * RATE) - 100]
    assert np.abs(during).max() == 0, "silence under the inserted picture"
    before = audio[: round(needle["start"] * RATE)] if needle["start"] > 1 else audio[round(needle["end"] * RATE) :]
    assert np.sqrt(np.mean(before**2)) == pytest.approx(0.2 / np.sqrt(2), rel=0.1), "the video's own tone elsewhere"
