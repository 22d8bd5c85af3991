import logging

import numpy as np
import pytest
from PIL import Image

from mmhay.config import parse_suite
from mmhay.errors import ConfigError
from mmhay.generators import create_generator
from mmhay.generators.needles import builtin_needles


def test_builtin_needles_are_distinct_pictures_with_distinct_descriptions():
    from mmhay.media.procedural import render_image

    needles = builtin_needles("image")
    assert len({n.description for n in needles}) == len(needles) == 100
    assert needles[1].description == "an orange circle"
    pictures = [render_image(n.ref.name, n.ref.params, (64, 36)) for n in needles[:12]]
    for i, a in enumerate(pictures):
        for b in pictures[i + 1 :]:
            assert np.abs(a.astype(int) - b).mean() > 1


def _image(path, color):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 60, 3), color, np.uint8)).save(path)


def test_user_needles_are_described_by_file_name(tmp_path, caplog):
    folder = tmp_path / "needles"
    for name, color in [("golden_retriever.png", 10), ("red-bicycle.jpg", 80), ("sub/tea cup.png", 160), ("old_lamp.png", 230)]:
        _image(folder / name, color)
    (folder / "broken.png").write_bytes(b"not an image")
    suite = parse_suite({"name": "n", "samples": 4, "needle": {"source": str(folder)}})
    with caplog.at_level(logging.WARNING, logger="mmhay"):
        generator = create_generator(suite)
    assert sorted(n.description for n in generator.pools["image"]) == ["golden retriever", "old lamp", "red bicycle", "tea cup"]
    assert any("broken.png" in r.getMessage() for r in caplog.records)
    sample = generator.sample(0)
    assert set(sample.options) == {"golden retriever", "old lamp", "red bicycle", "tea cup"}


def test_too_few_needles_for_the_options_is_a_config_error(tmp_path):
    _image(tmp_path / "only.png", 50)
    suite = parse_suite({"name": "n", "needle": {"source": str(tmp_path)}})
    with pytest.raises(ConfigError, match="has 1 usable needles; retrieval with 4 options, 1 needle.s. and 0 distractor.s. needs at least 4"):
        create_generator(suite)


def test_user_clips_are_spliced_in_whole_or_cut_to_the_needle_duration(tmp_path):
    from fractions import Fraction

    from counter_video import read_counter, write_counter_video

    from mmhay.timeline import Clip, FileRef

    folder = tmp_path / "clips"
    folder.mkdir()
    for k, name in enumerate(["dog_jumping.mp4", "cat_sleeping.mp4", "bird_singing.mp4", "fish_swimming.mp4"]):
        write_counter_video(folder / name, [1000 * k + 100 * j for j in range(10 + 10 * k)])  # 1 to 4 s at 10 fps
    suite = parse_suite({"name": "c", "samples": 4, "video": {"size": [160, 96], "fps": 10}, "needle": {"kind": "clip", "source": str(folder), "duration": 2.5}, "grid": {"length": [10]}})
    generator = create_generator(suite)
    assert sorted(n.description for n in generator.pools["clip"]) == ["bird singing", "cat sleeping", "dog jumping", "fish swimming"]
    for i in range(4):
        sample = generator.sample(i)
        needle = sample.truth["needles"][0]
        clip = next(s for s in sample.media.segments if isinstance(s, Clip) and isinstance(s.ref, FileRef) and s.ref.path.endswith(".mp4") and "clips" in s.ref.path)
        assert clip.duration == min(Fraction(5, 2), clip.ref.info.duration)
        first, stop = needle["frames"]
        assert stop - first == clip.duration * 10
        shown = sample.media.frames([Fraction(k, 10) for k in range(first, stop)])
        start_index = read_counter(shown[0])
        assert [read_counter(f) for f in shown] == list(range(start_index, start_index + stop - first)), "the clip plays from its start"


def test_passkeys_and_placed_overlays():
    suite = parse_suite(
        {"name": "p", "samples": 2, "needle": {"kind": "text", "text": "passkey", "insertion": "overlay"}, "question": {"form": "open"}, "grid": {"length": [10]}}
    )
    sample = create_generator(suite).sample(0)
    assert sample.answer.isdigit() and len(sample.answer) == 5
    assert sample.truth["needles"][0]["source"] == {"text": f"The passkey is {sample.answer}."}
    boxed = parse_suite({"name": "b", "samples": 1, "video": {"size": [400, 200]}, "needle": {"insertion": "overlay", "scale": 0.25, "position": [0.8, 0.3]}, "grid": {"length": [10]}})
    x, y, w, h = create_generator(boxed).sample(0).truth["needles"][0]["box"]
    assert (w, h) == (100, 100), "a square picture a quarter of the frame wide"
    assert (x + w / 2, y + h / 2) == (320, 60), "centred where asked"
