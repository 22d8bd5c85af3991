"""TimeScope's tasks on real encoded files: motion counting, recall in order, clips of 5 to 10 s.

Truth is read back from the decoded pixels: motions counted from the object's centroid,
orientation and colour; secret words found by re-rendering their caption or card.
"""

from fractions import Fraction
from math import pi

import numpy as np
import pytest

from mmhay.config import parse_suite
from mmhay.errors import ConfigError
from mmhay.generators import create_generator
from mmhay.generators.insertion import SUBTITLE_BOX
from mmhay.media.captions import render_caption, render_title_card
from mmhay.media.decode import read_frames
from mmhay.verify import ABSENT, SHOWS, error

SIZE, FPS = (96, 64), 8
BACKGROUND = np.array((236, 236, 230))


def _suite(**changes):
    config = {"name": "timescope-test", "seed": 3, "samples": 4, "video": {"size": list(SIZE), "fps": FPS}, "needle": {"kind": "clip"}, "question": {"form": "open"}}
    config.update(changes)
    return parse_suite(config)


def _decode(sample, path):
    sample.media.write(path)
    times = [Fraction(k, FPS) for k in range(len(sample.media.frame_grid))]
    return times, read_frames(path, times).pixels.astype(np.int16)


def _object(frame):
    """Pixels that are not the light background."""
    return np.abs(frame - BACKGROUND).sum(axis=2) > 60


def _bounces(frames):
    """Reversals of the object's centroid from falling to rising (the floor's full-width rows left out)."""
    masks = [_object(f) for f in frames]
    floor_rows = np.mean([m.mean(axis=1) > 0.9 for m in masks], axis=0) > 0.5
    ys = []
    for mask in masks:
        mask = mask & ~floor_rows[:, None]
        ys.append(np.nonzero(mask)[0].mean())
    count, last = 0, 0
    for dy in np.diff(ys):
        if abs(dy) < 0.5:
            continue
        sign = 1 if dy > 0 else -1  # image rows grow downwards: +1 is falling
        count += last == 1 and sign == -1
        last = sign
    return count


def _turns(frames):
    """Full turns of the mark around the wheel's centre, from the unwrapped angle of the mark."""
    angles = []
    for frame in frames:
        wheel = _object(frame)
        rows, cols = np.nonzero(wheel)
        cy, cx, radius = rows.mean(), cols.mean(), np.sqrt(wheel.sum() / pi)
        colour = np.median(frame[wheel], axis=0)
        yy, xx = np.mgrid[: frame.shape[0], : frame.shape[1]]
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < (0.95 * radius) ** 2
        mark = inside & (np.abs(frame - colour).sum(axis=2) > 120)
        my, mx = np.nonzero(mark)
        angles.append(np.arctan2(mx.mean() - cx, cy - my.mean()))  # clockwise from 12 o'clock
    steps = (np.diff(angles) + pi) % (2 * pi) - pi
    assert np.all(np.abs(steps) < pi / 2), "a step of a quarter turn or more could be read either way"
    return float(steps.sum() / (2 * pi))


def _flashes(frames):
    """Changes from lit to unlit: the object's mean colour far from its colour in the first (unlit) frame."""
    colours = [f[_object(f)].mean(axis=0) for f in frames]
    lit = [np.abs(c - colours[0]).sum() > 60 for c in colours]
    return sum(1 for a, b in zip(lit, lit[1:]) if a and not b)


def test_the_motion_clip_makes_exactly_k_motions_counted_from_its_frames(tmp_path):
    """Every motion and several counts from 0 to 6, each counted in the decoded frames of a
    built file; the clip shows where the truth says and the haystack around it does not."""
    generator = create_generator(
        _suite(samples=9, seed=5, task="motion_count", needle={"kind": "clip", "duration": 5}, grid={"length": [5], "needles": [0, 3, 6], "distractors": [0]})
    )
    seen = set()
    for i in range(9):
        sample = generator.sample(i)
        k = int(sample.answer)
        assert k == sample.facets["needles"]
        times, frames = _decode(sample, tmp_path / f"{i}.mp4")
        (entry,) = sample.truth["needles"]
        first, stop = entry["frames"]
        assert stop - first == 5 * FPS and sample.truth["kind"] == "clip"
        for t in (first, stop - 1):
            assert error(frames[t].astype(np.uint8), entry, times[t], SIZE) < SHOWS
        for t in (first - 1, stop):
            if 0 <= t < len(frames):
                assert error(frames[t].astype(np.uint8), entry, times[t], SIZE) > ABSENT
        clip = frames[first:stop]
        if "bounce" in sample.question:
            seen.add(("bounce", k))
            assert _bounces(clip) == k
        elif "turns" in sample.question:
            seen.add(("turn", k))
            assert abs(_turns(clip) - k) < 0.2
        else:
            assert "light up" in sample.question
            seen.add(("flash", k))
            assert _flashes(clip) == k
    assert {motion for motion, _ in seen} == {"bounce", "turn", "flash"} and {k for _, k in seen} == {0, 3, 6}


def test_motion_count_multiple_choice_offers_six_counts_and_refuses_what_it_cannot_show():
    generator = create_generator(
        _suite(samples=6, task="motion_count", question={"options": 6}, needle={"kind": "clip", "duration": 5}, grid={"length": [5]})
    )
    for i in range(6):
        sample = generator.sample(i)
        counts = {int(o) for o in sample.options}
        assert len(sample.options) == 6 and counts <= set(range(7))
        assert sample.options[ord(sample.answer) - ord("A")] == sample.truth["needles"][0]["source"]["params"]["count"].__str__()
    with pytest.raises(ConfigError, match="frames"):  # 6 motions of under 4 frames each
        create_generator(_suite(task="motion_count", video={"size": list(SIZE), "fps": 2}, needle={"kind": "clip", "duration": 5}, grid={"length": [5]}))
    with pytest.raises(ConfigError, match="grid.needles"):  # ordering does not count
        _suite(task="ordering", grid={"needles": [0, 2]})
    with pytest.raises(ConfigError, match=r"grid.needles\[0\].*retrieval"):  # every task of the suite must count
        _suite(grid={"task": ["motion_count", "retrieval"], "needles": [0, 2]})
    crossed = create_generator(_suite(grid={"length": [5], "task": ["motion_count", "counting"], "needles": [0, 2]}, needle={"kind": "clip", "duration": 5}))
    assert {(cell.task, cell.needles) for cell in crossed.cells} == {("motion_count", 0), ("motion_count", 2), ("counting", 0), ("counting", 2)}


def _words_shown(frames, words, kind, size):
    """For each frame, the word of ``words`` whose secret-word card (kind text) or caption (kind
    clip) it shows, re-rendered here and compared with each frame: the best match, or None."""
    texts = [f'The secret word is "{word}".' for word in words]
    shown = []
    if kind == "text":
        cards = [render_title_card(text, size).astype(np.int16) for text in texts]
        for frame in frames:
            errors = [np.abs(frame - card).mean() for card in cards]
            shown.append(words[int(np.argmin(errors))] if min(errors) < SHOWS else None)
        return shown
    x, y, w, h = SUBTITLE_BOX.pixels(size)
    # the caption's white letters: the band under them is dark and translucent over the clip
    letters = [render_caption(text, (w, h))[0].min(axis=2) > 160 for text in texts]
    for frame in frames:
        white = frame[y : y + h, x : x + w].min(axis=2) > 160
        overlap = [(white & want).sum() / max(1, (white | want).sum()) for want in letters]
        shown.append(words[int(np.argmax(overlap))] if max(overlap) > 0.6 else None)
    return shown


@pytest.mark.parametrize("kind", ["clip", "text"])
def test_recall_order_words_show_in_the_order_of_the_answer_in_clips_of_5_to_10_s(kind, tmp_path):
    """Each secret word shows (re-rendered from the answer's word) exactly over its needle's
    recorded frames, the words in the answer's order; clips last 5 to 10 s each, drawn apart."""
    size = (160, 90)  # the caption's letters are a few pixels high: at 96 x 64 words blur into each other
    generator = create_generator(
        _suite(samples=2, task="recall_order", video={"size": list(size), "fps": FPS}, needle={"kind": kind, "duration": [5, 10]}, grid={"length": [10]})
    )
    durations = set()
    for i in range(2):
        sample = generator.sample(i)
        words = sample.answer.split(", ")
        assert sample.options == () and 2 <= len(words) <= 4 and sample.answer_type == "text"
        times, frames = _decode(sample, tmp_path / f"{kind}{i}.mp4")
        entries = sample.truth["needles"]
        shown = _words_shown(frames, words, kind, size)
        runs = [word for k, word in enumerate(shown) if word is not None and (k == 0 or shown[k - 1] != word)]
        assert runs == words, "each word shows once, in the answer's order"
        for word, entry in zip(words, entries):
            first, stop = entry["frames"]
            assert 5 * FPS <= stop - first <= 10 * FPS and abs(entry["end"] - entry["start"] - (stop - first) / FPS) < 1e-6
            assert [k for k, w in enumerate(shown) if w == word] == list(range(first, stop)), word
            durations.add(stop - first)
            if kind == "clip":  # the clip under the caption is the one recorded
                middle = (first + stop) // 2
                assert error(frames[middle].astype(np.uint8), entry, times[middle], size) < SHOWS
    assert len(durations) > 1, "each needle draws its own duration"
