"""Fuzzing the three places arbitrary input meets exact rules: the time arithmetic of assembled
compositions, config loading, and the answer parsers.

Hypothesis runs derandomized (the same examples on every machine) with bounded example counts,
so the file stays deterministic and takes well under a minute. The basic properties of
``frame_at`` / ``FrameGrid`` live in tests/media/test_timing.py and the never-raises property of
``parse_answer`` in tests/scoring/test_parse.py; this file goes further on each.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction

import numpy as np
import pytest
import yaml
from conftest import SMALL_SUITE
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mmhay.config import SuiteConfig, load_suite, parse_suite
from mmhay.errors import ConfigError
from mmhay.generators import GENERATORS, TASKS, create_generator
from mmhay.generators.haystacks import HaystackPool, draw_haystack
from mmhay.generators.insertion import Item, assemble, overlay_box
from mmhay.generators.needles import Needle, builtin_needles, builtin_sounds
from mmhay.generators.placement import NoRoom, allocate, fits
from mmhay.media.procedural import render_image
from mmhay.media.timing import FrameGrid, frame_at
from mmhay.scoring import parse
from mmhay.timeline import Clip, Composition, Overlay, Still

FUZZ = settings(derandomize=True, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

RATES = [Fraction(1), Fraction(8), Fraction(12), Fraction(25), Fraction(30000, 1001), Fraction(60)]
PICTURES = builtin_needles("image")[:5]
CLIPS = builtin_needles("clip")[:3]
CAPTIONS = builtin_needles("text")[:3]
SOUNDS = builtin_sounds("events")[:3]


@st.composite
def timelines(draw):
    """What ``TimedGenerator.sample`` hands to ``assemble``: a procedural haystack drawn by
    ``draw_haystack``, needles placed by ``allocate`` (the first at a fixed depth, if any), and,
    as the audio-visual tasks do, a companion sound under some pictures."""
    rate = draw(st.sampled_from(RATES))
    length = draw(st.integers(1, 400))  # haystack frames
    low = draw(st.fractions(Fraction(1, 10), 6, max_denominator=100))
    high = low + draw(st.fractions(0, 6, max_denominator=100))
    seed = draw(st.integers(0, 2**32 - 1))
    insertion = draw(st.sampled_from(["insert", "replace", "overlay"]))
    needles = draw(st.lists(st.sampled_from(PICTURES + CLIPS + CAPTIONS), max_size=6))
    frames = [draw(st.integers(1, 40)) for _ in needles]
    gap = draw(st.integers(0, 3))
    depth = draw(st.none() | st.fractions(0, 1, max_denominator=20))
    companions = draw(st.booleans())
    rng = np.random.default_rng(seed)
    haystack = draw_haystack(HaystackPool((), (low, high)), Fraction(length) / rate, rate, rng)
    widths = [0 if insertion == "insert" else f for f in frames]
    assume(all(w <= length for w in widths) and fits(length, widths, gap))
    fixed = {0: math.floor(depth * (length - widths[0]))} if depth is not None and needles else {}
    try:
        starts = allocate(length, widths, rng, fixed=fixed, gap=gap)
    except NoRoom:
        assume(False)
    boxes = [overlay_box(n, 0.3, (64, 36), "random", rng) if insertion == "overlay" else None for n in needles]
    items = [Item(n, "needle" if k == 0 else "distractor", s, f, b) for k, (n, s, f, b) in enumerate(zip(needles, starts, frames, boxes))]
    if companions:
        items += [Item(SOUNDS[k % len(SOUNDS)], "sound", item.at, item.frames) for k, item in enumerate(items) if item.needle.kind == "image"]
    return rate, length, haystack, items, insertion


def _haystack_frames(haystack, rate):
    """(ref, source frame time) of every haystack frame, in order."""
    out = []
    for clip in haystack:
        for k in range(round(clip.duration * rate)):
            out.append((clip.ref, clip.range.start + Fraction(k) / rate))
    return out


def _shown(composition: Composition, k: int):
    """(segment index, ref, source time) of output frame ``k``: the one segment covering its time."""
    t = composition.frame_grid[k]
    covering = [j for j, (start, seg) in enumerate(zip(composition.starts, composition.segments)) if start <= t < start + seg.duration]
    assert len(covering) == 1, f"frame {k} at {t} s lies in segments {covering}"
    j = covering[0]
    segment, offset = composition.segments[j], t - composition.starts[j]
    if isinstance(segment, Still):
        return j, segment.ref, None
    return j, segment.ref, segment.range.start + offset


@settings(FUZZ, max_examples=50)  # each example checks every frame of the video: the slow one
@given(timelines())
def test_assembled_time_stays_exact_under_any_inserts_replacements_and_overlays(timeline):
    rate, length, haystack, items, insertion = timeline
    composition, placed = assemble(haystack, items, insertion, (64, 36), rate)
    pictures = [item for item in items if item.needle.kind != "sound"]
    inserted = sum(item.frames for item in pictures) if insertion == "insert" else 0

    # the duration is the haystack's plus what was inserted, a whole number of frames
    assert sum((clip.duration for clip in haystack), Fraction(0)) == Fraction(length) / rate
    assert composition.duration == Fraction(length + inserted) / rate
    grid = composition.frame_grid
    assert len(grid) == length + inserted and composition.duration * rate == len(grid)

    # segments lie end to end, every one at least a frame long, starting on a frame
    assert all(seg.duration >= Fraction(1) / rate for seg in composition.segments)
    assert all((start * rate).denominator == 1 for start in composition.starts)
    # the segments' frame ranges partition the frames (what iter_frames and write rely on)
    ranges = [grid.frames_in(start, start + seg.duration) for start, seg in zip(composition.starts, composition.segments)]
    assert [k for r in ranges for k in r] == list(range(len(grid)))
    # frame times increase and each maps back to its own frame
    times = [grid[k] for k in range(len(grid))]
    assert all(a < b for a, b in zip(times, times[1:]))
    assert all(frame_at(t, grid) == k for k, t in enumerate(times))

    # every frame shows exactly one segment; the haystack's frames come in order, none lost or
    # repeated, except those replaced by needles
    shown = [_shown(composition, k) for k in range(len(grid))]
    covered = {k for p in placed if p.needle.kind != "sound" for k in p.frames} if insertion != "overlay" else set()
    kept = [(ref, t) for k, (_, ref, t) in enumerate(shown) if k not in covered]
    expected = _haystack_frames(haystack, rate)
    if insertion == "replace":
        gone = {k for item in pictures for k in range(item.at, item.at + item.frames)}
        expected = [frame for k, frame in enumerate(expected) if k not in gone]
    assert kept == expected

    # each item shows where Placed says, for as long as it was given, inside the video
    assert len(placed) == len(items)
    for p in placed:
        assert p.start == Fraction(p.frames.start) / rate and p.end == Fraction(p.frames.stop) / rate
        assert 0 <= p.start < p.end <= composition.duration
        if p.needle.kind == "sound":
            continue
        if insertion == "overlay":
            matching = [o for o in composition.overlays if o.at.start == p.start and o.at.end == p.end]
            assert matching and all(isinstance(o, Overlay) for o in matching)
        else:
            for k in p.frames:
                segment = composition.segments[shown[k][0]]
                assert isinstance(segment, (Still, Clip)) and segment.ref not in [clip.ref for clip in haystack]
    # a companion sound plays exactly while its picture shows
    for sound, picture in zip([p for p in placed if p.needle.kind == "sound"], [p for p in placed if p.needle.kind == "image"]):
        assert (sound.start, sound.end) == (picture.start, picture.end)
    for sound in composition.sounds:
        assert 0 <= sound.at.start and sound.at.end <= composition.duration

    # the recipe round-trips through JSON text, equal and with the same time arithmetic
    again = Composition.from_json(json.dumps(composition.to_json()))
    assert again == composition and again.to_json() == composition.to_json()
    assert again.starts == composition.starts and len(again.frame_grid) == len(grid)


@settings(derandomize=True, deadline=None, max_examples=25)
@given(timelines(), st.lists(st.fractions(-2, 60, max_denominator=997), min_size=1, max_size=8))
def test_rendered_frames_are_the_frames_the_times_map_to(timeline, wanted):
    rate, length, haystack, items, insertion = timeline
    composition, placed = assemble(haystack, items, insertion, (32, 18), rate)
    grid = composition.frame_grid
    rendered = composition.render(wanted)
    assert rendered.pixels.shape == (len(wanted), 18, 32, 3)
    # each time shows its frame (the last frame not after it, clamped to the video)
    assert list(rendered.times) == [grid[frame_at(t, grid)] for t in wanted]
    for t, frame in zip(rendered.times, rendered.pixels):
        # the same time gives the same pixels, however many other times come with it
        assert np.array_equal(frame, composition.render([t]).pixels[0])
        for p in placed:
            if p.needle.kind == "image" and insertion != "overlay" and p.start <= t < p.end:
                assert np.array_equal(frame, render_image(p.needle.ref.name, p.needle.ref.params, (32, 18)))


# Config loading: arbitrary YAML-ish data is a SuiteConfig or a ConfigError, nothing else.

scalars = st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _key_paths(model=SuiteConfig, prefix=()):
    """Every key path of the config schema, sections included."""
    paths = []
    for name, field in model.model_fields.items():
        paths.append((*prefix, name))
        if isinstance(field.annotation, type) and hasattr(field.annotation, "model_fields"):
            paths += _key_paths(field.annotation, (*prefix, name))
    return paths


KEY_PATHS = _key_paths()
# values that reach past the type checks: near the bounds, the right shapes, registered names
plausible = (
    values
    | st.sampled_from([0, 1, 2, 4, 0.5, 1.0, 1.4, -1, 50, 51, 86400, 1e9, [4, 8], [0.0, 1.0], [128, 72], "builtin", "retrieval", "counting", "insert", "overlay"])
    | st.lists(st.integers(-2, 60) | st.floats(-1, 100), min_size=1, max_size=4)
)


@st.composite
def mutated_suites(draw):
    """The small suite with a few keys (real ones, or typos) set to arbitrary values."""
    data = json.loads(json.dumps(SMALL_SUITE))
    for _ in range(draw(st.integers(1, 4))):
        path = list(draw(st.sampled_from(KEY_PATHS)))
        if draw(st.integers(0, 9)) == 0:
            path[-1] = draw(st.text(min_size=1, max_size=8))
        node = data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = draw(plausible)
    return data


def _valid_or_config_error(data):
    try:
        suite = parse_suite(data, origin="fuzz.yaml")
    except ConfigError as error:
        assert error.source == "fuzz.yaml" and "\n" not in str(error)
        return None
    assert isinstance(suite, SuiteConfig)
    return suite


@FUZZ
@given(mutated_suites())
def test_a_mutated_config_is_valid_or_a_config_error(data):
    suite = _valid_or_config_error(data)
    if suite is None:
        return
    # what was accepted is within the documented bounds (the checks the renderer relies on)
    lengths = suite.grid.length or ([f / suite.video.fps for f in suite.grid.length_frames] if suite.grid.length_frames else [30.0])
    assert all(0 < x <= 86400 and math.isfinite(x) for x in lengths)
    assert all(0 <= d <= 1 for d in suite.grid.depth or [])
    assert max(suite.grid.needle_duration or [suite.needle.duration]) <= min(lengths)
    assert isinstance(suite.samples, int) and not isinstance(suite.samples, bool) and suite.samples >= 1
    assert suite.key() == parse_suite(json.loads(json.dumps(suite.model_dump(mode="json")))).key()


# values each key could really be given, so that most suites pass validation and reach the
# generator's own checks (pools, room for needles, which task suits which medium)
_REALISTIC = {
    ("generator",): st.sampled_from(sorted(GENERATORS.names())),
    ("task",): st.sampled_from(sorted(TASKS.names())),
    ("samples",): st.integers(1, 40),
    ("needle", "kind"): st.sampled_from(["image", "clip", "text", "sound"]),
    ("needle", "insertion"): st.sampled_from(["insert", "replace", "overlay"]),
    ("needle", "duration"): st.sampled_from([0.1, 0.5, 1, 2, 5]),
    ("needle", "text"): st.sampled_from(["secret_word", "passkey"]),
    ("needle", "sound"): st.sampled_from(["events", "dtmf"]),
    ("haystack", "bed"): st.sampled_from(["none", "noise", "hum", "music", "mixed", "source"]),
    ("distractors", "placement"): st.sampled_from(["random", "periodic"]),
    ("question", "form"): st.sampled_from(["choice", "open"]),
    ("question", "options"): st.integers(2, 8),
    ("grid", "length"): st.lists(st.sampled_from([1, 2, 4, 7.5, 12]), min_size=1, max_size=2),
    ("grid", "depth"): st.none() | st.lists(st.sampled_from([0, 0.3, 1]), min_size=1, max_size=2),
    ("grid", "needles"): st.none() | st.lists(st.integers(1, 12), min_size=1, max_size=2),
    ("grid", "distractors"): st.lists(st.integers(0, 6), min_size=1, max_size=2),
    ("grid", "needle_duration"): st.none() | st.lists(st.sampled_from([0.2, 1, 3]), min_size=1, max_size=2),
    ("grid", "task"): st.none() | st.lists(st.sampled_from(sorted(TASKS.names())), min_size=1, max_size=2, unique=True),
    ("grid", "kind"): st.none() | st.lists(st.sampled_from(["image", "clip", "text", "sound"]), min_size=1, max_size=2, unique=True),
    ("grid", "images"): st.none() | st.lists(st.integers(1, 6), min_size=1, max_size=2),
    ("grid", "grid_size"): st.none() | st.lists(st.integers(1, 4), min_size=1, max_size=2),
}


@st.composite
def realistic_suites(draw):
    """The small suite with a few keys set to values they could really hold."""
    data = json.loads(json.dumps(SMALL_SUITE))
    for path in draw(st.lists(st.sampled_from(sorted(_REALISTIC)), min_size=1, max_size=5, unique=True)):
        value = draw(_REALISTIC[path])
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return data


@settings(derandomize=True, deadline=None, max_examples=100)
@given(realistic_suites())
def test_a_config_that_loads_makes_a_generator_or_a_config_error_and_its_samples(data):
    """Past validation, the generator's own checks (pools, room for needles) are ConfigErrors too,
    and a generator that was made draws its first and last samples."""
    suite = _valid_or_config_error(data)
    if suite is None:
        return
    try:
        generator = create_generator(suite)
    except ConfigError as error:
        assert error.source == "fuzz.yaml"
        return
    for index in {0, len(generator) - 1}:
        sample = generator.sample(index)
        assert sample.index == index and sample.media.duration > 0


@FUZZ
@given(values)
def test_any_yaml_value_is_valid_or_a_config_error(data):
    _valid_or_config_error(data)


@settings(derandomize=True, deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=120) | st.builds(yaml.safe_dump, mutated_suites()))
def test_any_config_file_text_loads_or_is_a_config_error(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        suite = load_suite(path)
    except ConfigError as error:
        assert error.source == str(path)
        return
    assert isinstance(suite, SuiteConfig) and suite.origin == str(path)


# The answer parsers: any text (or no text) gives an answer of the declared form, or None.

answers = (
    st.text(max_size=200)
    | st.text(alphabet="0123456789 -:.,;ABCabc()[]syesno\n", max_size=80)
    | st.integers(0, 6000).map(lambda n: "9" * n)  # past int()'s 4300-digit limit
    | st.integers(300, 400).map(lambda n: f"from {'9' * n}.5 to 3 s")  # past float's range
    | st.sampled_from(["", " ", "\x00", "٣", "²", "1e999", "-0", "00:00:99999999999999999999", "yes no", "B, A, C", "2, 1, 3; -1"])
)
options = st.lists(st.text(max_size=20), max_size=26)
non_text = st.none() | st.integers() | st.binary(max_size=20) | st.lists(st.text(max_size=5), max_size=3) | st.floats()


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


@FUZZ
@given(answers, options)
def test_choice_and_sequence_answers_are_letters_of_the_options(text, opts):
    letters = [chr(ord("A") + k) for k in range(len(opts))]
    choice = parse.parse_choice(text, opts)
    assert choice is None or choice in letters
    sequence = parse.parse_sequence(text, opts)
    if sequence is not None:
        order = sequence.split(",")
        assert len(order) >= 2 and len(set(order)) == len(order) and set(order) <= set(letters)


@FUZZ
@given(answers)
def test_counts_booleans_spans_grids_and_text_are_canonical(text):
    count = parse.parse_integer(text)
    assert count is None or (count.isascii() and count.isdigit() and str(int(count)) == count)
    assert parse.parse_boolean(text) in (None, "yes", "no")
    span = parse.parse_span(text)
    if span is not None:
        start, end = span.split(",")
        assert _is_number(start) and _is_number(end) and 0 <= float(start) <= float(end)
    grid = parse.parse_grid(text)
    if grid is not None:
        for cell in grid.split(";"):
            assert cell == "-1" or (re.fullmatch(r"\d+,\d+,\d+", cell) and min(map(int, cell.split(","))) >= 1)
    words = parse.parse_text(text)
    assert words is None or (re.fullmatch(r"[a-z0-9]+( [a-z0-9]+)*", words) and not {"a", "an", "the"} & set(words.split()))
    assert isinstance(parse.normalise_text(text), str)


@FUZZ
@given(st.sampled_from(sorted(parse.PARSED_TYPES)), answers | non_text, options)
def test_parse_answer_never_raises_and_agrees_with_its_parser(answer_type, text, opts):
    result = parse.parse_answer(answer_type, text, opts)
    assert result is None or isinstance(result, str)
    if not isinstance(text, str):
        assert result is None


@pytest.mark.parametrize("parser", [parse.parse_integer, parse.parse_boolean, parse.parse_span, parse.parse_text, parse.parse_grid])
@pytest.mark.parametrize("text", [None, 3, b"B", ["B"], 2.5])
def test_not_text_is_no_answer(parser, text):
    assert parser(text) is None
