from collections import Counter
from fractions import Fraction

import numpy as np
import pytest

from mmhay.config import parse_suite
from mmhay.errors import ConfigError
from mmhay.generators import create_generator
from mmhay.media.decode import read_frames
from mmhay.schema import Sample
from mmhay.verify import ABSENT, SHOWS, error, times_inside

SIZE, FPS = (192, 108), 8


def _suite(**changes):
    config = {
        "name": "gen",
        "seed": 7,
        "samples": 40,
        "video": {"size": list(SIZE), "fps": FPS},
        "needle": {"duration": 1.5, "scale": 0.4},
        "grid": {"length": [12]},
    }
    for key, value in changes.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    return parse_suite(config)


def _entries(sample):
    return sample.truth["needles"] + sample.truth["distractors"]


def _decode_all(sample, path):
    sample.media.write(path)
    times = [Fraction(k, FPS) for k in range(len(sample.media.frame_grid))]
    return times, read_frames(path, times).pixels


# --- determinism ----------------------------------------------------------------------------


def test_same_config_and_seed_give_the_same_samples_and_frames():
    a, b = create_generator(_suite(grid={"distractors": [1]})), create_generator(_suite(grid={"distractors": [1]}))
    for i in (0, 5, 17):
        first, second = a.sample(i), b.sample(i)
        assert first == second and first.to_json() == second.to_json()
        times = [Fraction(k, 3) for k in range(12)]
        assert np.array_equal(first.media.frames(times), second.media.frames(times))


def test_a_sample_depends_only_on_its_index():
    generator = create_generator(_suite())
    late_first = [generator.sample(i).to_json() for i in (9, 3)]
    assert late_first == [create_generator(_suite()).sample(i).to_json() for i in (9, 3)]


def test_another_seed_gives_other_samples():
    a, b = create_generator(_suite()), create_generator(_suite(seed=8))
    assert [a.sample(i).options for i in range(6)] != [b.sample(i).options for i in range(6)]
    assert not np.array_equal(a.sample(0).media.frames([Fraction(1), Fraction(3)]), b.sample(0).media.frames([Fraction(1), Fraction(3)]))


def test_samples_round_trip_through_json():
    sample = create_generator(_suite(needle={"insertion": "overlay"}, grid={"distractors": [2]})).sample(4)
    assert Sample.from_json(sample.to_json()) == sample


# --- grids ------------------------------------------------------------------------------------


def test_the_product_of_the_axes_is_covered_evenly():
    generator = create_generator(
        _suite(samples=48, grid={"length": [10, 14], "depth": [0.0, 1.0], "distractors": [0, 2], "needle_duration": [1, 2], "insertion": ["insert", "overlay"]})
    )
    cells = Counter(tuple(sorted(generator.sample(i).facets.items())) for i in range(48))
    assert len(cells) == 2 * 2 * 2 * 2 * 2 and set(cells.values()) == {48 // 32, 48 // 32 + 1}
    sample = generator.sample(5)
    assert sample.truth["insertion"] == sample.facets["insertion"]
    assert len(sample.truth["distractors"]) == sample.facets["distractors"]


def test_lengths_in_frames():
    sample = create_generator(_suite(grid={"length": None, "length_frames": [50]})).sample(0)
    assert sample.facets == {"length_frames": 50, "length": 50 / FPS, "distractors": 0}
    assert sample.truth["haystack_seconds"] == 50 / FPS


def test_correct_letters_balance_over_the_suite():
    generator = create_generator(_suite())
    assert Counter(generator.sample(i).answer for i in range(40)) == {"A": 10, "B": 10, "C": 10, "D": 10}


def test_depth_places_the_needle():
    generator = create_generator(_suite(grid={"depth": [0.0, 0.5, 1.0]}, needle={"insertion": "replace"}))
    for i in range(3):
        sample = generator.sample(i)
        start, _ = sample.truth["needles"][0]["frames"]
        assert start == int(sample.facets["depth"] * (12 * FPS - 12))


def test_periodic_distractors_are_evenly_spaced():
    generator = create_generator(_suite(distractors={"placement": "periodic"}, grid={"length": [30], "distractors": [4], "depth": [0.1]}))
    starts = [d["frames"][0] for d in generator.sample(0).truth["distractors"]]
    steps = np.diff(starts)
    assert len(starts) == 4 and steps.max() - steps.min() <= 2


@pytest.mark.parametrize("insertion", ["insert", "overlay"])
def test_the_v_niah_d_look_alike_shows_offset_frames_from_the_needle_on_the_side_that_fits(insertion, tmp_path):
    """VideoRoPE's interrupt: ``offset`` haystack frames between needle and look-alike, after it
    near the start, before it near the end; none where neither side fits. Checked in the pixels."""
    offset = 24  # 3 s at 8 fps
    suite = _suite(
        samples=6,
        needle={"insertion": insertion, "duration": 1},
        distractors={"placement": "offset", "offset": offset},
        grid={"length": [5, 8], "depth": [0.0, 0.5, 1.0], "distractors": [1]},
    )
    generator = create_generator(suite)
    sides = {}
    for i in range(6):
        sample = generator.sample(i)
        needle, lookalikes = sample.truth["needles"][0], sample.truth["distractors"]
        depth, length = sample.facets["depth"], int(sample.facets["length"] * FPS)
        width = 0 if insertion == "insert" else FPS
        if length == 5 * FPS and depth == 0.5:  # 24 frames either side of the middle of 40: neither fits
            assert lookalikes == [], sample.facets
            continue
        (lookalike,) = lookalikes
        assert lookalike["label"] != needle["label"]
        first, second = sorted([needle, lookalike], key=lambda e: e["frames"][0])
        inserted = FPS if insertion == "insert" else 0  # the frames of the first, inserted before the second
        assert second["frames"][0] - first["frames"][0] - inserted == offset, sample.facets
        sides[depth] = "after" if first is needle else "before"
        times, frames = _decode_all(sample, tmp_path / f"{i}.mp4")
        for t in times_inside(lookalike, FPS):
            assert error(frames[int(t * FPS)], lookalike, t, SIZE) < SHOWS, (lookalike["label"], float(t))
        assert all(error(frames[int(t * FPS)], needle, t, SIZE) > ABSENT for t in times_inside(lookalike, FPS)), "it shows the look-alike, not the needle"
        assert width or len(sample.media.frame_grid) == length + 2 * FPS
    assert sides[0.0] == "after" and sides[1.0] == "before", sides


def test_where_both_sides_fit_the_look_alike_goes_either_way():
    generator = create_generator(_suite(samples=20, distractors={"placement": "offset", "offset": 16}, grid={"length": [8], "depth": [0.5], "distractors": [1]}))
    sides = Counter()
    for i in range(20):
        truth = generator.sample(i).truth
        sides["after" if truth["distractors"][0]["frames"][0] > truth["needles"][0]["frames"][0] else "before"] += 1
    assert sides["after"] >= 4 and sides["before"] >= 4, sides


def test_an_offset_look_alike_is_one_per_needle():
    with pytest.raises(ConfigError, match="grid.distractors.*one look-alike"):
        create_generator(_suite(distractors={"placement": "offset"}, grid={"length": [60], "distractors": [0, 2]})).check()


def test_similar_distractors_share_a_shape_or_a_colour():
    generator = create_generator(_suite(grid={"distractors": [3]}))
    for i in range(5):
        truth = generator.sample(i).truth
        color, shape = truth["needles"][0]["label"].split()
        for distractor in truth["distractors"]:
            assert color in distractor["label"] or shape in distractor["label"]
            assert distractor["label"] != truth["needles"][0]["label"]


# --- every kind of needle, every insertion mode, on real encoded files ---------------------------


@pytest.mark.parametrize("insertion", ["insert", "replace", "overlay"])
@pytest.mark.parametrize("kind", ["image", "clip", "text"])
def test_each_item_shows_at_its_truth_and_nowhere_else(kind, insertion, tmp_path):
    generator = create_generator(_suite(samples=2, needle={"kind": kind, "insertion": insertion}, grid={"distractors": [2]}))
    for i in range(2):
        sample = generator.sample(i)
        haystack = sample.truth["haystack_seconds"] * FPS
        assert len(sample.media.frame_grid) == haystack + (3 * 12 if insertion == "insert" else 0)
        times, frames = _decode_all(sample, tmp_path / f"{i}.mp4")
        busy = set()
        for entry in _entries(sample):
            busy |= set(range(*entry["frames"]))
            for t in times_inside(entry, FPS):
                assert error(frames[int(t * FPS)], entry, t, SIZE) < SHOWS, (entry["label"], float(t))
        elsewhere = [k for k in range(len(times)) if k not in busy][::5]
        for entry in _entries(sample):
            for k in elsewhere:
                assert error(frames[k], entry, times[k], SIZE) > ABSENT, (entry["label"], k)


# --- tasks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("insertion", ["insert", "replace", "overlay"])
def test_ordering_truth_is_the_order_of_first_appearance(insertion, tmp_path):
    generator = create_generator(_suite(samples=2, task="ordering", question={"form": "open"}, needle={"insertion": insertion}, grid={"length": [20], "needles": [3], "distractors": [1]}))
    for i in range(2):
        sample = generator.sample(i)
        times, frames = _decode_all(sample, tmp_path / f"{i}.mp4")
        needles = sample.truth["needles"]
        first_seen = {}
        for k, frame in enumerate(frames):
            for entry in needles:
                if entry["label"] not in first_seen and error(frame, entry, times[k], SIZE) < SHOWS:
                    first_seen[entry["label"]] = k
        assert sorted(first_seen, key=first_seen.get) == [e["label"] for e in needles]
        letters = sample.answer.split(",")
        assert [sample.options["ABC".index(letter)] for letter in letters] == [e["description"] for e in needles]


@pytest.mark.parametrize("insertion", ["insert", "replace", "overlay"])
def test_counts_equal_the_distinct_appearances(insertion, tmp_path):
    generator = create_generator(
        _suite(samples=3, task="counting", question={"form": "open"}, needle={"insertion": insertion, "duration": 1}, grid={"length": [24], "needles": [1, 2, 4], "distractors": [2]})
    )
    for i in range(3):
        sample = generator.sample(i)
        times, frames = _decode_all(sample, tmp_path / f"{i}.mp4")
        shows = [any(error(f, e, times[k], SIZE) < SHOWS for e in sample.truth["needles"]) for k, f in enumerate(frames)]
        runs = sum(1 for k, s in enumerate(shows) if s and (k == 0 or not shows[k - 1]))
        assert runs == int(sample.answer) == sample.facets["needles"]


@pytest.mark.parametrize("insertion", ["insert", "replace", "overlay"])
def test_counting_a_kind_counts_the_different_needles_of_it_seen(insertion, tmp_path):
    generator = create_generator(
        _suite(samples=3, task="count_kind", question={"form": "open"}, needle={"insertion": insertion}, grid={"length": [30], "needles": [2, 3, 4], "distractors": [3]})
    )
    for i in range(3):
        sample = generator.sample(i)
        (value,) = set.intersection(*(set(e["label"].split()) for e in sample.truth["needles"]))
        assert value in sample.question
        times, frames = _decode_all(sample, tmp_path / f"{i}.mp4")
        seen = set()
        for entry in _entries(sample):
            if any(error(frames[k], entry, times[k], SIZE) < SHOWS for k in range(*entry["frames"])):
                seen.add(entry["label"])
        of_kind = {label for label in seen if value in label.split()}
        assert len(of_kind) == int(sample.answer) == sample.facets["needles"]
        assert seen - of_kind == {d["label"] for d in sample.truth["distractors"]}, "distractors are of other kinds"


@pytest.mark.parametrize("insertion", ["insert", "replace", "overlay"])
def test_negative_twins_ask_about_an_absent_needle(insertion, tmp_path):
    generator = create_generator(_suite(samples=4, task="negative", question={"form": "open"}, needle={"insertion": insertion}, grid={"distractors": [2]}))
    for pair in (0, 2):
        present, absent = generator.sample(pair), generator.sample(pair + 1)
        assert present.media == absent.media, "twins share one video"
        assert (present.answer, absent.answer) == ("yes", "no")
        asked = absent.truth["asked"]
        assert not asked["present"] and asked["label"] not in {e["label"] for e in _entries(absent)}
        times, frames = _decode_all(absent, tmp_path / f"{pair}.mp4")
        places = [e for e in _entries(absent)] if insertion == "overlay" else [{"box": None}]
        for k, frame in enumerate(frames):
            for place in places:
                assert error(frame, {**place, "source": asked["source"], "start": 0}, times[k], SIZE) > ABSENT


def test_negative_twins_balance_in_every_cell():
    generator = create_generator(_suite(samples=24, task="negative", grid={"length": [10, 14], "distractors": [0, 1]}))
    per_cell = Counter()
    for i in range(24):
        sample = generator.sample(i)
        cell = tuple(sorted(sample.facets.items()))
        per_cell[cell, sample.truth["asked"]["present"]] += 1
    for cell in {c for c, _ in per_cell}:
        assert abs(per_cell[cell, True] - per_cell[cell, False]) <= 1


def test_negative_multiple_choice_offers_none_of_these():
    generator = create_generator(_suite(samples=8, task="negative"))
    letters = Counter()
    for i in range(8):
        sample = generator.sample(i)
        assert "none of these" in sample.options and len(sample.options) == 4
        chosen = sample.options["ABCD".index(sample.answer)]
        assert chosen == ("none of these" if i % 2 else sample.truth["needles"][0]["description"])
        letters[sample.answer] += 1
    assert max(letters.values()) <= 3, "the right letter is not always the same"


@pytest.mark.parametrize("insertion", ["insert", "replace", "overlay"])
def test_localization_answers_the_span_where_the_needle_shows(insertion, tmp_path):
    sample = create_generator(_suite(task="localization", question={"form": "open"}, needle={"insertion": insertion}, grid={"distractors": [2]})).sample(0)
    needle = sample.truth["needles"][0]
    start, end = (Fraction(v).limit_denominator(1000) for v in sample.answer.split(","))
    assert (float(start), float(end)) == pytest.approx((needle["start"], needle["end"]), abs=1e-3)
    times, frames = _decode_all(sample, tmp_path / "loc.mp4")
    shows = [k for k in range(len(times)) if error(frames[k], needle, times[k], SIZE) < SHOWS]
    assert (Fraction(shows[0], FPS), Fraction(shows[-1] + 1, FPS)) == (start, end)


def test_localization_choices_name_the_truth_span():
    choice = create_generator(_suite(task="localization")).sample(1)
    right = choice.options["ABCD".index(choice.answer)]
    assert right == f"from {choice.truth['needles'][0]['start']:g} s to {choice.truth['needles'][0]['end']:g} s"


@pytest.mark.parametrize("task", ["counting", "localization"])
def test_numeric_options_do_not_give_the_answer_away_by_their_order(task):
    """Were wrong options sorted with the right one put in, the one out of order would be it."""
    generator = create_generator(_suite(samples=40, task=task, grid={"length": [20], "needles": [2]} if task == "counting" else {"length": [20]}))
    answers_out_of_order = 0
    for i in range(40):
        sample = generator.sample(i)
        values = [float(o.split()[1]) if task == "localization" else int(o) for o in sample.options]
        rest = [v for k, v in enumerate(values) if k != "ABCD".index(sample.answer)]
        answers_out_of_order += rest == sorted(rest) and values != sorted(values)
    assert answers_out_of_order < 20
