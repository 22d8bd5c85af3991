from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from mmhay.build import build_suite
from mmhay.config import parse_suite
from mmhay.gallery import render_tile
from mmhay.generators import create_generator
from mmhay.timeline import ref_from_json
from mmhay.verify import ABSENT, error

CELL = 48


def _suite(**grid):
    return parse_suite(
        {"name": "grid", "samples": 16, "generator": "image_grid", "task": "locate", "image": {"cell": [CELL, CELL]}, "grid": {"images": [1, 3], "grid_size": [2, 4], "needles": [1, 2], **grid}}
    )


def _cells(picture: np.ndarray, n: int) -> dict[tuple[int, int], np.ndarray]:
    return {(r + 1, c + 1): picture[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL] for r in range(n) for c in range(n)}


def test_each_needle_is_in_its_cell_and_no_other_and_absent_ones_nowhere(tmp_path):
    out = tmp_path / "grid"
    build_suite(_suite(), out)
    generator = create_generator(_suite())
    for index in range(16):
        sample = generator.sample(index)
        m, n = sample.truth["images"], sample.truth["grid"]
        images = [np.asarray(Image.open(out / f"images/{index:06d}-{k}.png").convert("RGB")) for k in range(m)]
        assert all(image.shape == (n * CELL, n * CELL, 3) for image in images)
        for needle in sample.truth["needles"]:
            picture = render_tile(ref_from_json(needle["source"]), (CELL, CELL))
            for k, image in enumerate(images):
                for (row, col), cell in _cells(image, n).items():
                    if (k + 1, row, col) == (needle["image"], needle["row"], needle["column"]):
                        assert np.array_equal(cell, picture), "the labelled cell is the needle, pixel for pixel"
                    else:
                        assert error(cell, {"box": None, "source": needle["source"], "start": 0}, Fraction(0), (CELL, CELL)) > ABSENT
        if not sample.truth["asked"]["present"]:
            assert sample.answer == ";".join(["-1"] * len(sample.truth["asked"]["labels"]))
            for label in sample.truth["asked"]["labels"]:
                color, shape = label.split()
                source = {"name": "shape", "params": {"color": color, "shape": shape}}
                for image in images:
                    for cell in _cells(image, n).values():
                        assert error(cell, {"box": None, "source": source, "start": 0}, Fraction(0), (CELL, CELL)) > ABSENT
        else:
            cells = [f"{e['image']},{e['row']},{e['column']}" for e in sample.truth["needles"]]
            assert sample.answer == ";".join(cells)


def test_twins_share_the_images_and_balance_existence():
    generator = create_generator(_suite())
    for pair in range(0, 16, 2):
        present, absent = generator.sample(pair), generator.sample(pair + 1)
        assert present.media == absent.media
        assert present.truth["asked"]["present"] and not absent.truth["asked"]["present"]
        assert present.facets == absent.facets


def test_more_needles_than_cells_are_left_out_of_the_grid():
    generator = create_generator(parse_suite({"name": "g", "samples": 8, "generator": "image_grid", "task": "locate", "grid": {"images": [1], "grid_size": [1, 2], "needles": [1, 2]}}))
    assert {(c["grid_size"], c["needles"]) for c in generator.cells} == {(1, 1), (2, 1), (2, 2)}


def test_captions_describe_user_needles(tmp_path):
    folder = tmp_path / "needles"
    folder.mkdir()
    for k, name in enumerate(["dog.png", "cat.png", "owl.png"]):
        Image.fromarray(np.full((20, 20, 3), 60 * k + 30, np.uint8)).save(folder / name)
    (tmp_path / "captions.csv").write_text('file,caption\ndog.png,a dog asleep on a sofa\ncat.png,"a cat, curled up"\n')
    suite = parse_suite(
        {"name": "c", "samples": 2, "generator": "image_grid", "task": "locate", "needle": {"source": str(folder), "captions": str(tmp_path / "captions.csv")}, "grid": {"images": [1], "grid_size": [2]}}
    )
    generator = create_generator(suite)
    assert sorted(n.description for n in generator.needles) == ["a cat, curled up", "a dog asleep on a sofa", "owl"]


@pytest.mark.parametrize("bad", ['{"a.png": 3}', "not json"])
def test_unreadable_captions_name_the_file(tmp_path, bad):
    from mmhay.errors import ConfigError

    (tmp_path / "n").mkdir()
    (tmp_path / "captions.json").write_text(bad)
    suite = parse_suite({"name": "c", "generator": "image_grid", "task": "locate", "needle": {"source": str(tmp_path / "n"), "captions": str(tmp_path / "captions.json")}})
    with pytest.raises(ConfigError, match=r"needle\.captions = .*captions\.json'?: unreadable captions"):
        create_generator(suite)
