"""Pixel budgets and frame counts as the Qwen-VL authors set them (qwen-vl-utils), through a tiny
Qwen2-VL loaded as a user's checkpoint: what its processor received equals what qwen-vl-utils'
formulas give, written out here from ``qwen-vl-utils/src/qwen_vl_utils/vision_process.py``
(QwenLM/Qwen3-VL, package 0.0.14, commit 9658872: ``smart_resize``, ``smart_nframes``,
``fetch_video``, ``fetch_image``)."""

import dataclasses
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from mmhay.adapters import Request, create_adapter
from mmhay.adapters.model_sampling import frames_and_sampler
from mmhay.adapters.pixel_budget import PixelBudget, parse_pixel_budget
from mmhay.cli import main
from mmhay.errors import ConfigError
from mmhay.evaluate import open_data
from mmhay.sampling import Footage, frame_rate, plan_frames

FACTOR = 28  # Qwen2-VL: 14-pixel patches merged 2 x 2


def smart_resize(height, width, factor, min_pixels, max_pixels):
    """vision_process.py's smart_resize, written out."""
    h_bar, w_bar = max(factor, round(height / factor) * factor), max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        return math.floor(height / beta / factor) * factor, math.floor(width / beta / factor) * factor
    if h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        return math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def fetch_video_size(height, width, nframes, min_pixels=None, max_pixels=None, total_pixels=None):
    """fetch_video: VIDEO_MIN_PIXELS = 128 f², VIDEO_MAX_PIXELS = 768 f², total 128000 * 0.9 f²."""
    min_pixels = min_pixels or 128 * FACTOR**2
    total_pixels = total_pixels or 128000 * FACTOR**2 * 0.9
    limit = max(min(768 * FACTOR**2, total_pixels / nframes * 2), int(min_pixels * 1.05))
    return smart_resize(height, width, FACTOR, min_pixels, min(max_pixels or limit, limit))


def smart_nframes(total_frames, video_fps, fps=2.0, min_frames=4, max_frames=768):
    """smart_nframes with FPS=2, FPS_MIN_FRAMES=4, FPS_MAX_FRAMES=768, FRAME_FACTOR=2."""
    least = math.ceil(min_frames / 2) * 2
    most = math.floor(min(max_frames, total_frames) / 2) * 2
    return math.floor(min(max(total_frames / video_fps * fps, least), most, total_frames) / 2) * 2


def _video(frames: np.ndarray, fps: float = 2.0) -> Request:
    times = tuple(i / fps for i in range(len(frames)))
    return Request(key="v", prompt="Which?", answer_type="choice", options=("a", "b"), frames=frames, frame_times=times, duration=len(frames) / fps, fps=fps)


@pytest.fixture(scope="module")
def plain(tiny_qwen2_vl):
    """The tiny Qwen2-VL loaded once; each test varies its settings on a copy."""
    return create_adapter(f"hf:{tiny_qwen2_vl}", {})


def _with(model, **settings):
    return dataclasses.replace(model, settings=dataclasses.replace(model.settings, **settings))


def test_qwen2_vl_receives_the_frame_and_picture_sizes_qwen_vl_utils_gives(plain):
    frames = np.random.default_rng(0).integers(0, 256, (6, 96, 128, 3), dtype=np.uint8)
    budgets = [
        {"max_pixels": FACTOR**2 * 6},  # below the default minimum: the maximum wins, 56x56
        {"min_pixels": FACTOR**2 * 2, "total_pixels": FACTOR**2 * 24},  # total / frames * 2 caps each frame
        {"min_pixels": FACTOR**2 * 40},  # frames scaled up to the minimum
    ]
    identities = {json.dumps(plain.identity(), sort_keys=True)}
    assert "pixel_budget" not in plain.identity(), "a run without a budget keeps its identity"
    for budget in budgets:  # one load: the budget is the only setting that changes (parsing is the CLI test's)
        model = _with(plain, pixels=parse_pixel_budget({k: str(v) for k, v in budget.items()}))
        height, width = fetch_video_size(96, 128, 6, **budget)
        _, inputs, _, (received,) = model._prepared([_video(frames)])  # the processor's output, and what receive() reads of it
        assert received["frame_sizes"] == [[width, height]] * 6, budget
        assert inputs["video_grid_thw"].tolist() == [[3, height // 14, width // 14]], "the processor did not resize again"
        tokens = 3 * (height // FACTOR) * (width // FACTOR)
        assert int((inputs["input_ids"] == model.model.config.video_token_id).sum()) == tokens, "visual tokens: t/2 x (h/28) x (w/28)"
        picture = Request(key="p", prompt="Which?", answer_type="choice", images=(frames[0],))
        height, width = smart_resize(96, 128, FACTOR, budget.get("min_pixels", 4 * FACTOR**2), budget.get("max_pixels", 16384 * FACTOR**2))
        assert model.receive([picture])[0]["image_sizes"] == [[width, height]], budget
        assert model.identity()["pixel_budget"] == {"rule": "qwen-vl-utils", **budget}
        identities.add(json.dumps(model.identity(), sort_keys=True))
    assert len(identities) == 1 + len(budgets), "each budget is another run (and another cache key)"


def test_max_num_frames_caps_the_models_own_count_only(plain, built_small):
    model = _with(plain, max_num_frames=4)
    samples = list(open_data(built_small, limit=1).samples())
    frames, sampler, frames_from = frames_and_sampler(model, "model", "uniform", lambda: samples)
    assert (frames, sampler, frames_from) == (4, "qwen_vl:max_frames=4", "model (qwen-vl-utils fps=2 max_frames=4: 4 frames)")
    assert model.settings.pixels == PixelBudget(), "qwen-vl-utils' default budget comes with its sampling"
    with pytest.raises(ConfigError, match="max_num_frames: caps the count of --frames model"):
        frames_and_sampler(model, 8, "uniform", lambda: samples)


def test_the_qwen_vl_sampler_counts_frames_as_smart_nframes_does():
    for seconds, rate in [(1, 10), (3, 10), (Fraction(15, 4), 8), (Fraction(11, 2), 10), (7, Fraction(30000, 1001)), (500, 25), (2, 1)]:
        total = math.ceil(Fraction(seconds) * Fraction(rate))
        plan = plan_frames("qwen_vl", Footage(Fraction(seconds), Fraction(rate)), 768)
        count = smart_nframes(total, float(rate))
        indices = torch.linspace(0, total - 1, count).round().long().tolist()  # how fetch_video picks them
        assert [round(t * Fraction(rate)) for t in plan.times] == indices, (seconds, rate)


def test_llava_onevisions_frames_are_its_truncated_linspace():
    for seconds, rate in [(5, 8), (Fraction(61, 3), 30), (120, 25)]:
        total = math.ceil(Fraction(seconds) * rate)
        plan = plan_frames("uniform:mode=linspace_int", Footage(Fraction(seconds), Fraction(rate)), 32)
        assert [round(t * rate) for t in plan.times] == np.linspace(0, total - 1, 32, dtype=int).tolist()  # its load_video


def test_frames_model_samples_and_sizes_as_qwen_vl_utils_and_is_recorded(tiny_qwen2_vl, built_small, tmp_path):
    out, budget = tmp_path / "run", FACTOR**2 * 4
    command = ["eval", "--model", f"hf:{tiny_qwen2_vl}", "--data", str(built_small), "--out", str(out), "--frames", "model", "--limit", "1"]
    assert main([*command, "--model-args", f"max_new_tokens=2,max_pixels={budget}"]) == 0
    run = json.loads((out / "run.json").read_text())
    (record,) = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    sample = next(s for s in open_data(built_small).samples() if s.id == record["id"])
    total, rate = math.ceil(sample.media.duration * frame_rate(sample.media)), frame_rate(sample.media)
    count = smart_nframes(total, float(rate))
    indices = torch.linspace(0, total - 1, count).round().long().tolist()
    assert record["frame_times"] == [float(Fraction(k) / rate) for k in indices], "qwen-vl-utils' frames, at its indices"
    height, width = fetch_video_size(72, 128, count, max_pixels=budget)
    assert record["usage"]["visual_tokens"] == count // 2 * (height // FACTOR) * (width // FACTOR), "and its pixel budget"
    assert run["settings"]["frames_from"] == f"model (qwen-vl-utils fps=2: {count} frames)"
    assert run["settings"]["sampler"] == "qwen_vl" and run["settings"]["frames"] == count
    assert run["model"]["pixel_budget"] == {"rule": "qwen-vl-utils", "max_pixels": budget}
    assert f"qwen-vl-utils fps=2: {count} frames" in (out / "results.md").read_text()


def test_a_bad_budget_or_an_unknown_rule_is_one_line_and_exit_2(tiny_qwen2_vl, built_small, tmp_path, capsys):
    base = ["eval", "--data", str(built_small), "--out", str(tmp_path / "run"), "--limit", "1"]
    for model_args, frames, expected in [
        ("min_pixels=many", "4", "min_pixels"),
        ("max_pixels=0", "4", "max_pixels"),
        (f"min_pixels={FACTOR**2 * 8},max_pixels={FACTOR**2 * 4}", "4", "must not exceed max_pixels"),
    ]:
        assert main([*base, "--model", f"hf:{tiny_qwen2_vl}", "--model-args", model_args, "--frames", frames]) == 2
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and expected in error and "Traceback" not in error, error
    assert main([*base, "--model", "random", "--frames", "model"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "--frames" in error and "no recommended sampling" in error, error
    assert not (tmp_path / "run").exists()
