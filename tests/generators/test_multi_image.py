from fractions import Fraction

import numpy as np

from mmhay.config import parse_suite
from mmhay.gallery import Mosaic, render_tile
from mmhay.generators import create_generator
from mmhay.timeline import ref_from_json
from mmhay.verify import ABSENT, error

CELL = 64


def _generator(task, **grid):
    return create_generator(
        parse_suite(
            {"name": "m", "samples": 8, "generator": "multi_image", "task": task, "question": {"form": "open"}, "image": {"cell": [CELL, CELL], "text": True}, "grid": {"images": [10], "distractors": [3], **grid}}
        )
    )


def _images(sample):
    return [item.render() for item in sample.media.items if isinstance(item, Mosaic)]


def _shows(picture, source) -> bool:
    return error(picture, {"box": None, "source": source, "start": 0}, Fraction(0), (CELL, CELL)) <= ABSENT


def test_the_needle_is_the_image_the_truth_numbers_and_text_sits_between():
    for index in range(4):
        sample = _generator("localization").sample(index)
        images = _images(sample)
        assert len(images) == 10 and sum(isinstance(item, str) for item in sample.media.items) == 9
        needle = sample.truth["needles"][0]
        assert int(sample.answer) == needle["image"]
        assert np.array_equal(images[needle["image"] - 1], render_tile(ref_from_json(needle["source"]), (CELL, CELL)))
        showing = [k + 1 for k, image in enumerate(images) if _shows(image, needle["source"])]
        assert showing == [needle["image"]]
        for distractor in sample.truth["distractors"]:
            assert [k + 1 for k, image in enumerate(images) if _shows(image, distractor["source"])] == [distractor["image"]]


def test_counts_are_the_images_that_show_the_needle():
    generator = _generator("counting", needles=[1, 3])
    for index in range(4):
        sample = generator.sample(index)
        source = sample.truth["needles"][0]["source"]
        assert sum(_shows(image, source) for image in _images(sample)) == int(sample.answer) == len(sample.truth["needles"])


def test_absent_twins_ask_about_a_picture_that_is_in_no_image():
    generator = _generator("negative")
    for pair in (0, 2):
        present, absent = generator.sample(pair), generator.sample(pair + 1)
        assert (present.answer, absent.answer) == ("yes", "no") and present.media == absent.media
        assert not any(_shows(image, absent.truth["asked"]["source"]) for image in _images(absent))
        assert any(_shows(image, present.truth["asked"]["source"]) for image in _images(present))
