"""V-NIAH's protocol: the ``every`` sampler shows every frame, so the needle is always shown, and
the shipped frame-count configs say a ``--frames`` that holds their longest video."""

from __future__ import annotations

import re
from fractions import Fraction
from math import ceil
from pathlib import Path

import pytest
import yaml
from counter_video import read_counter

from mmhay.config import load_suite
from mmhay.errors import ConfigError
from mmhay.evaluate import EvalSettings, open_data
from mmhay.exposure import exposure, given_by_plan
from mmhay.exposure_survey import survey_exposure
from mmhay.generators import create_generator
from mmhay.sampling import Footage, frame_rate, plan_frames, render_plan
from mmhay.timeline import Clip, Composition, FileRef, TimeRange

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _counter_composition(path: Path) -> Composition:
    """The 6 s, 10 fps counter video as a constant-rate composition: frame k shows k."""
    return Composition((Clip(FileRef.video(path), TimeRange(Fraction(0), Fraction(6))),), (160, 96), Fraction(10))


def test_every_shows_each_frame_once_at_its_own_time(counter_video):
    media = _counter_composition(counter_video)
    footage = Footage(media.duration, frame_rate(media))
    plan = plan_frames("every", footage, 60)
    assert plan.times == tuple(Fraction(k, 10) for k in range(60))
    assert plan.scales == (1.0,) * 60
    pixels, times = render_plan(media, plan)
    assert [read_counter(frame) for frame in pixels] == list(range(60)), "each time shows its own frame, none twice, none left out"
    assert times == tuple(k / 10 for k in range(60))
    assert len(plan_frames("every:scale=2", footage, 15).times) == 60, "at half size a frame costs a quarter"


def test_every_refuses_a_budget_smaller_than_the_video():
    footage = Footage(Fraction(6), Fraction(10))
    with pytest.raises(ConfigError, match=r"60 frames, more than --frames 59.*give --frames 60 or more") as caught:
        plan_frames("every", footage, 59)
    assert caught.value.source == "--sampler" and caught.value.key == "every"
    with pytest.raises(ConfigError, match=r"give --frames 15 or more"):
        plan_frames("every:scale=2", footage, 14)
    with pytest.raises(ConfigError, match="frame rate") as caught:
        plan_frames("every", Footage(Fraction(6)), 1000)
    assert caught.value.source == "--sampler"


def _small_variant(tmp_path: Path, distractors: list[int]) -> Path:
    """vniah_frames.yaml (or vniah_d_frames.yaml, with distractors) at 20 and 40 frames."""
    config = yaml.safe_load((CONFIGS / "vniah_frames.yaml").read_text())
    config.update(name="vniah_small", samples=12, video={"size": [128, 72], "fps": 1}, haystack={"source": "builtin", "shot_seconds": [5, 10]})
    config["grid"] = {"length_frames": [20, 40], "depth": [0.0, 0.5, 1.0], "distractors": distractors}
    if max(distractors):
        config["distractors"] = {"placement": "periodic", "similarity": "similar"}
    path = tmp_path / "vniah_small.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("distractors, frames", [([0], 41), ([0, 2], 43)])
def test_every_frame_shown_shows_every_needle_and_uniform_does_not(tmp_path, distractors, frames):
    data = open_data(_small_variant(tmp_path, distractors))
    every = survey_exposure(data, EvalSettings(frames=frames, sampler="every"))
    assert every.samples == 12
    assert every.summary["overall"]["shown_rate"] == 1.0
    uniform = survey_exposure(data, EvalSettings(frames=4, sampler="uniform"))
    assert uniform.summary["overall"]["shown_rate"] < 1.0
    with pytest.raises(ConfigError, match=f"give --frames {frames} or more"):
        survey_exposure(data, EvalSettings(frames=frames - 1, sampler="every"))


@pytest.mark.parametrize("name", ["vniah_frames", "vniah_d_frames"])
def test_shipped_config_header_recommends_frames_that_hold_its_longest_video(name):
    path = CONFIGS / f"{name}.yaml"
    suite = load_suite(path)
    assert suite.video.fps == 1 and suite.needle.duration == 1.0, "V-NIAH: 1 fps, a one-frame needle"
    said = re.search(rf"mmhay eval .*--data configs/{name}\.yaml --sampler every --frames (\d+)", path.read_text())
    assert said, "the header comment says how to evaluate it with every frame shown"
    budget = int(said.group(1))
    generator = create_generator(suite)
    cells = generator.cells
    longest_length = max(cell.length for cell in cells)
    most = max(cell.distractors for cell in cells if cell.length == longest_length)
    largest = next(k for k, cell in enumerate(cells) if cell.length == longest_length and cell.distractors == most)
    sample = generator.sample(largest * generator.group)
    count = ceil(sample.media.duration * sample.media.rate)
    assert count == longest_length + 1 + most, "haystack frames, the needle's and the distractors'"
    assert count <= budget, f"the largest cell has {count} frames; the header recommends --frames {budget}"
    given = given_by_plan(sample, "every", budget)
    assert exposure(sample, given)["shown"] is True
