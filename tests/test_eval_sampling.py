"""Samplers in evaluation: the frames a model is shown follow `--sampler`, shrunk where the plan
says, recorded per sample; query-aware key clips run end to end with a tiny CLIP scorer."""

import json
from dataclasses import dataclass, field
from fractions import Fraction

import pytest

from mmhay.adapters import Answer
from mmhay.cli import main
from mmhay.evaluate import EvalSettings, evaluate, open_data
from mmhay.sampling import SAMPLERS, FramePlan, uniform_times


@dataclass
class _Watching:
    """A model that looks at what it is shown and answers A: records frame shapes and times."""

    name: str = "watching"
    needs_frames: bool = True
    takes_audio: bool = False
    batch_size: int = 4
    takes_frame_sizes: bool = False
    shown: dict = field(default_factory=dict)

    def identity(self):
        return {"adapter": "watching"}

    def generate(self, requests):
        for request in requests:
            shape = request.frames.shape if hasattr(request.frames, "shape") else tuple(frame.shape for frame in request.frames)
            self.shown[request.key] = (shape, request.frame_times, request.frame_scales)
        return [Answer("A") for _ in requests]


@SAMPLERS.register("test-half")
def _half(footage, n):
    """Uniform times, every frame at half width and height."""
    return FramePlan(tuple(uniform_times(footage.duration, n)), (2.0,) * n)


@SAMPLERS.register("test-mixed")
def _mixed(footage, n):
    """Uniform times, every other frame at half width and height."""
    return FramePlan(tuple(uniform_times(footage.duration, n)), tuple(1.0 if i % 2 == 0 else 2.0 for i in range(n)))


def _records(run):
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]


def test_fps_sampling_shows_one_frame_a_second_within_the_budget(built_small, tmp_path):
    model = _Watching()
    evaluate(open_data(built_small), model, tmp_path / "run", EvalSettings(frames=6, sampler="fps:rate=1"))
    durations = {sample.id: sample.media.duration for sample in open_data(built_small).samples()}
    counts = set()
    for record in _records(tmp_path / "run"):
        duration = durations[record["id"]]
        count = min(int(duration) // 2 * 2, 6)  # 1 fps, a multiple of 2, at most the budget of 6
        shown_at = [Fraction(int(t * 8), 8) for t in uniform_times(duration, count)]  # the 8 fps frame on screen then
        assert record["frame_times"] == [float(t) for t in shown_at]
        shape, times, scales = model.shown[record["id"]]
        assert shape == (count, 72, 128, 3) and scales == () and "frame_scales" not in record
        counts.add(count)
    assert counts == {4, 6}, "the 5 s haystacks get 4 frames, the 9 s ones the budget of 6"


def test_a_plan_that_halves_every_frame_renders_them_at_half_size(built_small, tmp_path):
    model = _Watching()
    evaluate(open_data(built_small, limit=3), model, tmp_path / "run", EvalSettings(frames=4, sampler="test-half"))
    for record in _records(tmp_path / "run"):
        assert model.shown[record["id"]][0] == (4, 36, 64, 3)
        assert record["frame_scales"] == [2.0] * 4


@pytest.mark.parametrize("pictures", [True, False])
def test_frames_of_mixed_scales_come_at_their_sizes_to_models_that_take_pictures(built_small, tmp_path, pictures):
    model = _Watching(takes_frame_sizes=pictures)
    evaluate(open_data(built_small, limit=2), model, tmp_path / "run", EvalSettings(frames=4, sampler="test-mixed"))
    for record in _records(tmp_path / "run"):
        shapes, times, scales = model.shown[record["id"]]
        assert scales == (1.0, 2.0, 1.0, 2.0) and record["frame_scales"] == [1.0, 2.0, 1.0, 2.0]
        # pictures each at their scale; a video has one size, so its frames are shown whole
        assert shapes == (((72, 128, 3), (36, 64, 3)) * 2 if pictures else (4, 72, 128, 3))
        assert list(times) == sorted(times) == record["frame_times"] and len(times) == 4


def test_a_bad_sampler_option_fails_before_anything_is_written(built_small, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["eval", "--model", "random", "--data", str(built_small), "--out", str(out), "--sampler", "fps:speed=3"]) == 2
    assert "--sampler: speed = '3': unknown option of fps" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("budget", [2, 4])
def test_key_clips_chosen_by_a_tiny_clip_reach_a_real_model(built_small, tiny_qwen2_vl, tmp_path, budget):
    from mmhay.adapters.tiny import make_tiny_checkpoint

    scorer = make_tiny_checkpoint("clip", tmp_path / "clip")
    out = tmp_path / "run"
    argv = ["eval", "--model", f"hf:{tiny_qwen2_vl}", "--model-args", "max_new_tokens=2", "--data", str(built_small), "--limit", "4"]
    assert main(argv + ["--out", str(out), "--frames", str(budget), "--sampler", f"keyclip:scorer=clip:{scorer}"]) == 0
    assert json.loads((out / "run.json").read_text())["settings"]["sampler"] == f"keyclip:scorer=clip:{scorer}"
    assert json.loads((out / "metrics.json").read_text())["usage"]["visual_tokens"] > 0, "the run reports what the frames cost"
    for record in _records(out):
        times = record["frame_times"]
        scales = record.get("frame_scales", [1.0] * len(times))
        assert times == sorted(times) and len(times) >= 1
        assert all(t + 0.5 == int(t + 0.5) for t in times), "key clips are made of the 1-fps candidates (the middle of each second)"
        assert sum(1 / s**2 for s in scales) <= budget + 1e-9, "the token budget holds"


def test_smaller_pictures_cost_a_native_resolution_model_fewer_tokens(built_small, tiny_qwen2_vl, tmp_path):
    from mmhay.adapters import create_adapter

    model = create_adapter(f"hf:{tiny_qwen2_vl}", {"max_new_tokens": "2", "frames_as": "images"})
    tokens = {}
    for sampler in ("uniform", "test-mixed"):
        result = evaluate(open_data(built_small, limit=2), model, tmp_path / sampler, EvalSettings(frames=4, sampler=sampler))
        tokens[sampler] = result.metrics["usage"]["visual_tokens"]
    assert 0 < tokens["test-mixed"] < tokens["uniform"]


def test_every_rotation_of_a_question_is_shown_the_same_frames(built_small, tmp_path):
    model = _Watching()
    evaluate(open_data(built_small, limit=4, circular=True), model, tmp_path / "run", EvalSettings(frames=4, sampler="random"))
    by_question: dict = {}
    for record in _records(tmp_path / "run"):
        by_question.setdefault(record["group"], set()).add(tuple(record["frame_times"]))
    assert len(by_question) == 4 and all(len(times) == 1 for times in by_question.values()), "one draw a question, whatever the rotation"
    assert len({next(iter(times)) for times in by_question.values()}) > 1, "questions draw apart"


def test_a_question_longer_than_the_scorers_text_model_is_cut_to_fit(tmp_path):
    """vnbench's ordering questions run to 185 tokens; the tiny CLIP's text model has 128
    positions and its tokenizer states no limit: the question is cut to the model's, not refused."""
    import numpy as np

    from mmhay.adapters.tiny import make_tiny_checkpoint
    from mmhay.relevance import clip_relevance

    scorer = make_tiny_checkpoint("clip", tmp_path / "clip")
    frames = np.zeros((3, 32, 32, 3), np.uint8)
    relevance, embeddings = clip_relevance(frames, "Which came first, the red star or the blue arrow? " * 20, str(scorer))
    assert relevance.shape == (3,) and np.isfinite(relevance).all() and embeddings.shape[0] == 3
