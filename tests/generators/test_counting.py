"""Counts that include 0, and copies side by side in one frame counted one each (V-RULER's
counting, VideoRoPE ``videorope_plus/v_ruler/data/counting.json``): checked on a suite built
through ``build_suite``, against the decoded pixels of its files."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from functools import lru_cache

import cv2
import numpy as np
import pytest

from mmhay.build import build_suite, iter_built_samples
from mmhay.config import parse_suite
from mmhay.errors import ConfigError
from mmhay.generators import create_generator
from mmhay.media.decode import read_frames
from mmhay.media.procedural import render_image
from mmhay.verify import ABSENT, SHOWS, error

SIZE, FPS = (96, 54), 4
BACKDROP = np.array([236, 236, 230])
MATCH = 30.0  # rms error (0..255) under which a place shows the needle's picture; a photo is far over it

SUITE = {
    "name": "counts",
    "seed": 5,
    "samples": 12,
    "task": "counting",
    "video": {"size": list(SIZE), "fps": FPS},
    "needle": {"duration": 1},
    "question": {"form": "open"},
    # a look-alike beside every count, so that "nowhere" is tested next to something like it
    "grid": {"task": ["counting", "count_instances", "count_spread"], "insertion": ["insert", "overlay"], "length": [6], "needles": [0, 3], "distractors": [1]},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("counts") / "suite"
    build_suite(parse_suite(SUITE), out)
    samples = []
    for sample in iter_built_samples(out):
        path = sample.media.segments[0].ref.path
        times = [Fraction(k, FPS) for k in range(round(sample.media.duration * FPS))]
        samples.append((sample, read_frames(path, times).pixels.astype(np.float32)))
    assert Counter(s.facets["needles"] for s, _ in samples) == {0: 6, 3: 6}
    return samples


@lru_cache(maxsize=None)
def _picture(shape: str, color: str, side: int) -> np.ndarray:
    return render_image("shape", {"shape": shape, "color": color}, (side, side)).astype(np.float32)


def _places(frame: np.ndarray, params: dict, side: int) -> list[tuple[int, int]]:
    """Where in ``frame`` the shape needle ``params`` shows at ``side`` pixels (top-left corners,
    none overlapping another): near matches of its picture that ``verify.error`` confirms (it
    tells a purple hexagon from a purple circle, which a plain difference hardly does)."""
    picture = _picture(params["shape"], params["color"], side)
    if side > frame.shape[0] or side > frame.shape[1]:
        return []
    err = cv2.matchTemplate(frame, picture, cv2.TM_SQDIFF)
    limit = MATCH**2 * picture.size
    places = []
    while True:
        low, _, (x, y), _ = cv2.minMaxLoc(err)
        if low > limit:
            return places
        entry = {"box": [x, y, side, side], "source": {"name": "shape", "params": params}, "start": 0}
        if error(frame.astype(np.uint8), entry, Fraction(0), SIZE) < SHOWS:
            places.append((x, y))
        err[max(0, y - side + 1) : y + side, max(0, x - side + 1) : x + side] = np.inf


def _blobs(frame: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x, y, w, h) of the connected parts of a frame that are not the plain backdrop."""
    mask = (np.abs(frame.astype(int) - BACKDROP).sum(axis=2) > 90).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    return [tuple(int(v) for v in stats[k, :4]) for k in range(1, count) if stats[k, 4] >= 6]


def _inside(inner, outer) -> bool:
    x, y, w, h = inner
    X, Y, W, H = outer
    return X <= x and Y <= y and x + w <= X + W and y + h <= Y + H


def test_a_count_of_zero_shows_the_asked_needle_nowhere(built):
    for sample, frames in built:
        if sample.facets["needles"]:
            continue
        asked = sample.truth["asked"]
        assert sample.answer == "0" and sample.truth["needles"] == [] and asked["present"] is False
        assert asked["description"] in sample.question
        assert len(frames) == 6 * FPS + (FPS if sample.truth["insertion"] == "insert" else 0), "only the look-alike was added"
        params = asked["source"]["params"]
        for k, frame in enumerate(frames):
            assert error(frame, {"box": None, "source": asked["source"], "start": 0}, Fraction(k, FPS), SIZE) > ABSENT
            for side in range(10, SIZE[1] + 1):  # at every size a copy, an overlay or a whole frame has
                assert not _places(frame, params, side), (sample.task, k, side)


def test_copies_in_one_frame_are_counted_one_each(built):
    seen = Counter()
    for sample, frames in built:
        k = sample.facets["needles"]
        if not k:
            continue
        needles = sample.truth["needles"]
        assert sample.answer == str(k) == str(len(needles)) and sample.truth["asked"]["present"] is True
        by_frame: dict[tuple[int, int], list[dict]] = {}
        for entry in needles:
            by_frame.setdefault(tuple(entry["frames"]), []).append(entry)
        sizes = {len(group) for group in by_frame.values()}
        if sample.task == "counting":
            assert len(by_frame) == 3 and sizes == {1}
        elif sample.task == "count_instances":
            assert len(by_frame) == 1 and sizes == {3}, "three copies in one frame"
        else:
            assert len(by_frame) == 2 and sizes == {1, 2}, "three copies over two frames, two in one"
        params = needles[0]["source"]["params"]
        for (first, stop), group in by_frame.items():
            boxes = [tuple(entry["box"]) for entry in group if entry["box"]]
            side = boxes[0][3] if boxes else SIZE[1]
            for t in range(first, stop):
                frame = frames[t]
                places = _places(frame, params, side)
                # exactly as many copies as the truth lists in this frame, each at its box
                assert len(places) == len(group), (sample.task, sample.truth["insertion"], t, places)
                if boxes:
                    assert sorted(places) == sorted((x, y) for x, y, _, _ in boxes) or all(
                        min(abs(px - x) + abs(py - y) for px, py in places) <= 2 for x, y, _, _ in boxes
                    )
                    for entry in group:
                        assert error(frame, entry, Fraction(t, FPS), SIZE) < SHOWS
                if sample.task != "counting" and sample.truth["insertion"] == "insert":
                    # on the plain frame: one blob of the needle per copy, each inside its box
                    blobs = _blobs(frame)
                    assert len(blobs) == len(group)
                    assert all(any(_inside(blob, box) for box in boxes) for blob in blobs)
            seen[sample.task, sample.truth["insertion"]] += 1
    assert set(seen) == {(task, insertion) for task in SUITE["grid"]["task"] for insertion in ("insert", "overlay")}


def test_a_suite_counting_from_zero_offers_zero_and_one_from_one_does_not():
    def options(needles):
        suite = parse_suite({**SUITE, "samples": 60, "question": {"form": "choice"}, "grid": {**SUITE["grid"], "needles": needles}})
        generator = create_generator(suite)
        return [generator.sample(i) for i in range(60)]

    with_zero = options([0, 1, 2])
    for sample in with_zero:
        right = sample.options["ABCD".index(sample.answer)]
        assert right == str(sample.facets["needles"])
    assert any("0" in s.options for s in with_zero if s.facets["needles"]), "0 is a wrong option too"
    assert all("0" not in s.options for s in options([1, 2]))


@pytest.mark.parametrize(
    "grid, key",
    [({"needles": [0]}, "grid.needles[0]"), ({"task": ["counting", "ordering"], "needles": [2, 0]}, "grid.needles[1]")],
)
def test_a_count_of_zero_is_refused_for_a_task_that_does_not_count(grid, key):
    with pytest.raises(ConfigError) as refused:
        parse_suite({"name": "s", "task": "retrieval", "grid": grid})
    assert refused.value.key == key and "counting" in refused.value.problem
    assert ("retrieval" if "task" not in grid else "ordering") in refused.value.problem
    parse_suite({"name": "s", "task": "count_instances", "grid": {"needles": [0, 2]}})  # a counting task takes it
