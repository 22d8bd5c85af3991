import logging
from fractions import Fraction

import numpy as np
import pytest

from mmhay.config import parse_suite
from mmhay.export import plan_runs
from mmhay.generators import create_generator
from mmhay.media.decode import read_frames
from mmhay.media.probe import probe_video
from mmhay.media.splice import CopyRun, stream_layout
from mmhay.timeline import Clip, Composition, GeneratorRef, TimeRange

SIZE, FPS = (192, 108), 8


@pytest.fixture(scope="module")
def haystack_folder(tmp_path_factory):
    """A 40 s H.264 haystack at the suite's size and rate, written with B-frames and 2 s GOPs."""
    folder = tmp_path_factory.mktemp("haystacks")
    pan = GeneratorRef("pan_zoom", {"picture": "chelsea", "start": [0.3, 0.4, 1.0], "end": [0.7, 0.6, 1.8], "duration": "40"})
    Composition((Clip(pan, TimeRange(Fraction(0), Fraction(40))),), SIZE, Fraction(FPS)).write(folder / "long.mp4")
    return folder


def _generator(folder, **needle):
    return create_generator(
        parse_suite(
            {
                "name": "fast",
                "samples": 4,
                "video": {"size": list(SIZE), "fps": FPS},
                "haystack": {"source": str(folder)},
                "needle": {"duration": 1, **needle},
                "grid": {"length": [30], "distractors": [1]},
            }
        )
    )


def _source_frames(sample, frames):
    """For output frames taken from the source file: the source frame index of each."""
    out = {}
    for start, segment in zip(sample.media.starts, sample.media.segments):
        if isinstance(segment, Clip) and hasattr(segment.ref, "path"):
            first, offset = int(start * FPS), int(segment.range.start * FPS)
            for k in range(int(segment.duration * FPS)):
                out[first + k] = offset + k
    return {k: out[k] for k in frames}


@pytest.mark.parametrize("insertion", ["insert", "replace", "overlay"])
def test_untouched_frames_are_copied_bit_for_bit(haystack_folder, insertion, tmp_path):
    generator = _generator(haystack_folder, insertion=insertion)
    source = haystack_folder / "long.mp4"
    assert stream_layout(source).gops and stream_layout(source).gops[0].delay > 0, "the source reorders B-frames"
    for i in range(2):
        sample = generator.sample(i)
        runs, reasons = plan_runs(sample.media)
        assert reasons == []
        copied = [k for run in runs if isinstance(run, CopyRun) for k in range(run.first, run.first + run.count)]
        total = len(sample.media.frame_grid)
        assert len(copied) > total / 2, "most of the haystack is copied"
        fast, slow = tmp_path / f"fast{i}.mp4", tmp_path / f"slow{i}.mp4"
        assert sample.media.write(fast) == total
        sample.media.write(slow, fast=False)
        info = probe_video(fast)
        assert (info.frames, info.rate, info.width, info.height) == (total, FPS, *SIZE)
        times = [Fraction(k, FPS) for k in range(total)]
        decoded = read_frames(fast, times)
        assert list(decoded.times) == times
        sources = _source_frames(sample, copied)
        original = read_frames(source, [Fraction(sources[k], FPS) for k in copied]).pixels
        assert np.array_equal(decoded.pixels[copied], original), "copied frames decode exactly as in the source"
        reference = read_frames(slow, times).pixels.astype(int)
        assert np.abs(decoded.pixels.astype(int) - reference).mean() < 3, "the same video as a full encode"


def test_a_source_that_does_not_match_is_encoded_with_the_reason_logged(haystack_folder, tmp_path, caplog):
    generator = create_generator(
        parse_suite({"name": "other", "samples": 1, "video": {"size": [128, 72], "fps": FPS}, "haystack": {"source": str(haystack_folder)}, "grid": {"length": [10]}})
    )
    sample = generator.sample(0)
    runs, reasons = plan_runs(sample.media)
    assert not any(isinstance(run, CopyRun) for run in runs)
    with caplog.at_level(logging.INFO, logger="mmhay"):
        sample.media.write(tmp_path / "x.mp4")
    assert any("encoding every frame" in r.getMessage() and "size 192x108, not 128x72" in r.getMessage() for r in caplog.records)
    assert probe_video(tmp_path / "x.mp4").frames == len(sample.media.frame_grid)
