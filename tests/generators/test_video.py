from collections import Counter
from fractions import Fraction

import numpy as np

from mmhay.config import parse_suite
from mmhay.generators import create_generator
from mmhay.media.procedural import render_image
from mmhay.schema import Sample
from mmhay.timeline import Still

SUITE = {
    "name": "gen",
    "seed": 7,
    "samples": 40,
    "video": {"size": [128, 72], "fps": 8},
    "grid": {"length": [5, 9], "depth": [0.0, 0.3, 1.0]},
}


def test_same_config_and_seed_give_the_same_samples_and_frames():
    a = create_generator(parse_suite(SUITE))
    b = create_generator(parse_suite(SUITE))
    for i in (0, 5, 17):
        first, second = a.sample(i), b.sample(i)
        assert first == second
        assert first.to_json() == second.to_json()
        times = [Fraction(k, 3) for k in range(12)]
        assert np.array_equal(first.media.frames(times), second.media.frames(times))


def test_a_sample_depends_only_on_its_index():
    generator = create_generator(parse_suite(SUITE))
    late_first = [generator.sample(i).to_json() for i in (9, 3)]
    assert late_first == [create_generator(parse_suite(SUITE)).sample(i).to_json() for i in (9, 3)]


def test_another_seed_gives_other_samples():
    a = create_generator(parse_suite(SUITE))
    b = create_generator(parse_suite({**SUITE, "seed": 8}))
    assert [a.sample(i).options for i in range(6)] != [b.sample(i).options for i in range(6)]
    times = [Fraction(1), Fraction(3)]
    assert not np.array_equal(a.sample(0).media.frames(times), b.sample(0).media.frames(times))


def test_samples_round_trip_through_json():
    sample = create_generator(parse_suite(SUITE)).sample(4)
    assert Sample.from_json(sample.to_json()) == sample


def test_the_grid_is_covered_evenly():
    generator = create_generator(parse_suite({**SUITE, "samples": 30}))
    cells = Counter((s.facets["length"], s.facets["depth"]) for s in map(generator.sample, range(30)))
    assert len(cells) == 6 and set(cells.values()) == {5}


def test_correct_letters_balance_over_the_suite():
    generator = create_generator(parse_suite(SUITE))
    letters = Counter(generator.sample(i).answer for i in range(40))
    assert letters == {"A": 10, "B": 10, "C": 10, "D": 10}


def test_the_answer_names_the_needle_and_the_options_differ():
    generator = create_generator(parse_suite(SUITE))
    for i in range(12):
        sample = generator.sample(i)
        needle = sample.truth["needles"][0]
        assert sample.options["ABCD".index(sample.answer)] == needle["description"]
        assert len(set(sample.options)) == 4


def test_the_needle_is_inserted_at_its_depth_for_its_duration():
    generator = create_generator(parse_suite(SUITE))
    for i in range(6):
        sample = generator.sample(i)
        needle = sample.truth["needles"][0]
        length = Fraction(sample.facets["length"])
        assert sample.media.duration == length + 1
        assert needle["start"] == float(Fraction(int(sample.facets["depth"] * length * 8), 8))
        assert needle["end"] - needle["start"] == 1.0
        first, stop = needle["frames"]
        assert stop - first == 8
        stills = [s for s in sample.media.segments if isinstance(s, Still)]
        assert len(stills) == 1
        picture = render_image("shape", stills[0].ref.params, (128, 72))
        inside = sample.media.frames([Fraction(k, 8) for k in range(first, stop)])
        assert all(np.array_equal(frame, picture) for frame in inside)
        outside = [Fraction(k, 8) for k in (first - 1, stop) if 0 <= k < len(sample.media.frame_grid)]
        assert all(not np.array_equal(frame, picture) for frame in sample.media.frames(outside))
