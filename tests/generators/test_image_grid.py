from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from mmhay.adapters import create_adapter
from mmhay.build import build_suite, iter_built_samples
from mmhay.config import parse_suite
from mmhay.evaluate import evaluate, open_data
from mmhay.gallery import render_tile
from mmhay.generators import create_generator
from mmhay.report import write_report
from mmhay.run_folder import read_records
from mmhay.timeline import ref_from_json
from mmhay.verify import ABSENT, error

CELL = 48


def _suite(**grid):
    return parse_suite(
        {"name": "grid", "samples": 16, "generator": "image_grid", "task": "locate", "image": {"cell": [CELL, CELL]}, "grid": {"images": [1, 3], "grid_size": [2, 4], "needles": [1, 2], **grid}}
    )


def _cells(picture: np.ndarray, n: int, size: int = CELL) -> dict[tuple[int, int], np.ndarray]:
    return {(r + 1, c + 1): picture[r * size : (r + 1) * size, c * size : (c + 1) * size] for r in range(n) for c in range(n)}


def _check_built_pixels(out, generator, indices, size: int = CELL) -> None:
    """Each needle of each built sample is its recorded (image, row, column) cell pixel for pixel
    and no other cell; the absent twin's captions match no cell."""
    for index in indices:
        sample = generator.sample(index)
        m, n = sample.truth["images"], sample.truth["grid"]
        images = [np.asarray(Image.open(out / f"images/{index:06d}-{k}.png").convert("RGB")) for k in range(m)]
        assert all(image.shape == (n * size, n * size, 3) for image in images)
        placed = {(e["image"], e["row"], e["column"]) for e in sample.truth["needles"]}
        assert len(placed) == len(sample.truth["needles"]) == len({e["label"] for e in sample.truth["needles"]}), "distinct needles in distinct cells"
        for needle in sample.truth["needles"]:
            picture = render_tile(ref_from_json(needle["source"]), (size, size))
            for k, image in enumerate(images):
                for (row, col), cell in _cells(image, n, size).items():
                    if (k + 1, row, col) == (needle["image"], needle["row"], needle["column"]):
                        assert np.array_equal(cell, picture), "the labelled cell is the needle, pixel for pixel"
                    elif (k + 1, row, col) not in placed:  # another needle's cell is that needle, pixel for pixel
                        assert error(cell, {"box": None, "source": needle["source"], "start": 0}, Fraction(0), (size, size)) > ABSENT
        if not sample.truth["asked"]["present"]:
            assert sample.answer == ";".join(["-1"] * len(sample.truth["asked"]["labels"]))
            assert not set(sample.truth["asked"]["labels"]) & {e["label"] for e in sample.truth["needles"]}
            for label in sample.truth["asked"]["labels"]:
                color, shape = label.split()
                source = {"name": "shape", "params": {"color": color, "shape": shape}}
                absent = render_tile(ref_from_json({**source, "schema": "GeneratorRef.1"}), (size, size))
                for k, image in enumerate(images):
                    for (row, col), cell in _cells(image, n, size).items():
                        if (k + 1, row, col) in placed:  # a look-alike needle (a red diamond for a red star): other pixels
                            assert not np.array_equal(cell, absent)
                        else:
                            assert error(cell, {"box": None, "source": source, "start": 0}, Fraction(0), (size, size)) > ABSENT
        else:
            cells = [f"{e['image']},{e['row']},{e['column']}" for e in sample.truth["needles"]]
            assert sample.answer == ";".join(cells)


def test_each_needle_is_in_its_cell_and_no_other_and_absent_ones_nowhere(tmp_path):
    out = tmp_path / "grid"
    build_suite(_suite(), out)
    _check_built_pixels(out, create_generator(_suite()), range(16))


def test_five_needles_in_ten_images_are_at_their_cells_and_placed_in_the_records_facets(tmp_path):
    # MMNeedle's test.sh runs 10 images; sample_multiple_needles.py places 5 needles (N_NEEDLES = 5)
    config = {"name": "five", "samples": 4, "generator": "image_grid", "task": "locate", "image": {"cell": [32, 32]}, "grid": {"images": [10], "grid_size": [1, 2], "needles": [5]}}
    out = tmp_path / "five"
    build_suite(parse_suite(config), out)
    generator = create_generator(parse_suite(config))
    assert [generator.sample(i).facets for i in (0, 2)] == [{"images": 10, "grid_size": 1, "needles": 5}, {"images": 10, "grid_size": 2, "needles": 5}]
    assert all(len(generator.sample(i).truth["needles"]) == 5 for i in range(4))
    _check_built_pixels(out, generator, range(4), 32)

    run = evaluate(open_data(out), create_adapter("random"), tmp_path / "run")
    records = read_records(run.out)
    for sample in iter_built_samples(out):
        facets = records[sample.id]["facets"]
        assert {k: facets[k] for k in sample.facets} == dict(sample.facets), "the design grid's facets stay as they are"
        first = sample.truth["needles"][0]
        if sample.truth["asked"]["present"]:
            assert (facets["needle_image"], facets["needle_row"], facets["needle_column"]) == (first["image"], first["row"], first["column"])
            assert sample.answer.split(";")[0] == f"{first['image']},{first['row']},{first['column']}", "the first caption's needle"
        else:
            assert not {"needle_image", "needle_row", "needle_column"} & set(facets), "an absent needle sits nowhere"
    metrics = run.metrics
    placed = metrics["image_grid"]["image_by_grid_size"]
    assert (placed["rows"], placed["columns"]) == ("needle_image", "grid_size")
    positives = [s for s in iter_built_samples(out) if s.truth["asked"]["present"]]
    expected = sorted(f"{s.truth['needles'][0]['image']}|{s.truth['grid']}" for s in positives)
    assert sorted(key for key, cell in placed["cells"].items() for _ in range(cell["n"])) == expected
    assert sum(c["n"] for c in metrics["image_grid"]["row_by_column"]["cells"].values()) == len(positives) == 2
    assert sum(v["n"] for v in metrics["by_facet"]["needle_image"].values()) == 2
    assert metrics["mmneedle_multi"]["5"]["n"] == 4 and metrics["mmneedle_multi"]["5"]["positives"] == 2
    page = write_report([run.out], tmp_path / "report", pictures=False).read_text()
    drawn = sorted(p.name for p in (tmp_path / "report").glob("heatmap-*.png"))
    assert drawn == ["heatmap-random-on-five---image-by-grid-size.png", "heatmap-random-on-five---row-by-column.png"]
    assert "Where the needle is lost in image grids" in page and "MMNeedle, several needles" in page


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
