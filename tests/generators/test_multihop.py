"""Multi-hop chains: each chain picture's caption names the next one, checked in the decoded frames
of a built suite by recognising every picture and every caption among all the candidates."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
import pytest

from mmhay.build import build_suite, iter_built_samples
from mmhay.config import parse_suite
from mmhay.errors import ConfigError
from mmhay.generators import create_generator
from mmhay.generators.needles import builtin_needles
from mmhay.generators.tasks.multihop import pointer_caption
from mmhay.media.captions import captioned_areas, render_caption
from mmhay.media.procedural import render_image
from mmhay.schema import option_letter
from mmhay.verify import check_sample

SIZE, FPS = (192, 112), 2
POOL = builtin_needles("image")
BY_LABEL = {n.label: n for n in POOL}


def _suite(**changes):
    config = {
        "name": "hops",
        "seed": 3,
        "samples": 4,
        "task": "multihop",
        "video": {"size": list(SIZE), "fps": FPS},
        "haystack": {"shot_seconds": [2, 4]},
        "needle": {"duration": 0.5, "scale": 0.8},
        "grid": {"length": [6], "needles": [2, 3], "insertion": ["insert", "overlay"]},
    }
    config.update(changes)
    return parse_suite(config)


@lru_cache(maxsize=None)
def _shapes(size: tuple[int, int]) -> dict:
    return {n.label: render_image("shape", n.attributes, size) for n in POOL}


@lru_cache(maxsize=None)
def _pointers(size: tuple[int, int]) -> dict:
    """Every caption a needle could carry, as laid on black in its band."""
    bands = {}
    for n in POOL:
        rgb, alpha = render_caption(pointer_caption(n), size)
        bands[n.label] = np.rint(rgb * alpha[..., None]).astype(np.uint8)
    return bands


def _nearest(region: np.ndarray, candidates: dict, what: str) -> str:
    """The candidate ``region`` looks most like, by far clearer than the next best."""
    errors = sorted((float(np.abs(region.astype(np.int16) - pixels.astype(np.int16)).mean()), name) for name, pixels in candidates.items())
    (best, name), (second, _) = errors[:2]
    assert best < 4 and second - best > 1, f"the {what} is none of the candidates clearly (errors {best:.1f}, {second:.1f})"
    return name


def _read(region: np.ndarray) -> tuple[str, str | None]:
    """Which picture ``region`` shows and which needle its caption names (None: no caption), from
    the pixels alone: every built-in shape and every possible pointer caption is tried."""
    height, width = region.shape[:2]
    (w, h), (bw, bh) = captioned_areas((width, height))
    band = region[h:]
    if band.mean() > 120:  # the shape's light background, not a dark caption band
        return _nearest(region, _shapes((width, height)), "picture"), None
    return _nearest(region[:h], _shapes((w, h)), "picture"), _nearest(band, _pointers((bw, bh)), "caption")


def _region(frame: np.ndarray, box) -> np.ndarray:
    if box is None:
        return frame
    x, y, w, h = box
    return frame[y : y + h, x : x + w]


def test_each_chain_picture_names_the_next_where_the_truth_says_and_the_decoy_leads_astray(tmp_path):
    suite = _suite()
    build_suite(suite, tmp_path / "data")
    built = list(iter_built_samples(tmp_path / "data"))
    assert {(s.facets["needles"], s.facets["insertion"]) for s in built} == {(2, "insert"), (2, "overlay"), (3, "insert"), (3, "overlay")}
    for sample in built:
        truth = sample.truth
        chain, decoy = truth["chain"], truth["decoy"]
        assert len(chain) == sample.facets["needles"]
        boxes = {e["label"]: e["box"] for e in truth["needles"] + truth["distractors"]}
        assert [e["label"] for e in truth["distractors"]] == [decoy["label"]], "the decoy is shown, as a distractor"
        frames = {e["label"]: e["frames"] for e in truth["needles"] + truth["distractors"]}
        assert all(frames[e["label"]] == e["frames"] for e in [*chain, decoy])
        # every picture, decoded where the truth puts it, read from its pixels
        count = round(sample.media.duration * FPS)
        pixels = sample.media.frames([Fraction(k, FPS) for k in range(count)])
        read = {}
        for entry in [*chain, decoy]:
            first, stop = entry["frames"]
            assert stop - first == 1
            read[entry["label"]] = _read(_region(pixels[first], boxes[entry["label"]]))
            assert read[entry["label"]][0] == entry["label"], "the picture the truth names is at its frame"
            if first > 0 and boxes[entry["label"]] is None:  # an inserted picture is not on the frames beside it
                assert np.abs(pixels[first - 1].astype(np.int16) - pixels[first].astype(np.int16)).mean() > 10
        # follow the chain by the captions read: each names the next, which shows at its own frame
        at = chain[0]["label"]
        for k, entry in enumerate(chain):
            assert at == entry["label"]
            named = read[at][1]
            assert named == entry["next"], "the caption names the needle the truth says comes next"
            if k < len(chain) - 1:
                at = named
        assert read[chain[-1]["label"]][1] is None, "the last carries no pointer"
        # the decoy: nobody points to it, and it points to a needle not shown at all
        assert decoy["label"] not in {read[e["label"]][1] for e in chain}
        assert read[decoy["label"]][1] == decoy["next"] and decoy["next"] not in frames
        # the evenly spaced slots of VideoChat-Flash: haystack frames 0, L/n, ..., L
        starts = sorted(e["frames"][0] for e in [*chain, decoy])
        inserted = sample.facets["insertion"] == "insert"
        haystack = [s - j for j, s in enumerate(starts)] if inserted else starts
        n, length = len(starts), 6 * FPS - (0 if inserted else 1)
        assert haystack == [j * length // (n - 1) for j in range(n)]
        # the question names the first picture; the answer is the last
        last = BY_LABEL[chain[-1]["label"]]
        assert f"Find the picture of {BY_LABEL[chain[0]['label']].description} " in sample.question
        assert sample.options[ord(sample.answer) - ord("A")] == last.description
        assert truth["asked"]["label"] == last.label
        assert check_sample(sample) == [], "the audit agrees"
    assert {s.answer for s in built} <= {option_letter(k) for k in range(4)}


def test_the_open_form_answers_the_last_label_and_bad_settings_are_refused():
    sample = create_generator(_suite(question={"form": "open"})).sample(1)
    assert sample.options == () and sample.answer == sample.truth["chain"][-1]["label"]
    with pytest.raises(ConfigError, match="at least 2") as caught:
        create_generator(_suite(grid={"length": [6], "needles": [1]}))
    assert caught.value.key == "task"
    with pytest.raises(ConfigError, match="kind image"):
        create_generator(_suite(needle={"kind": "text"}, grid={"length": [6]}))
    with pytest.raises(ConfigError, match="leave grid.depth out") as caught:
        create_generator(_suite(grid={"length": [6], "depth": [0.5]}))
    assert caught.value.key == "grid.depth"
    with pytest.raises(ConfigError, match="closer than half a second"):
        create_generator(_suite(grid={"length": [1], "needles": [4]}))
