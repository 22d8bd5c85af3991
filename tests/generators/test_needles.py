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
