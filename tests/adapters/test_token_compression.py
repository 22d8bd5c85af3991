"""`--compress` after the vision tower, with tiny Qwen2-VL and LLaVA-OneVision checkpoints: a
compressor that keeps every token answers as no compression does (the features really are the
ones the model reads), a real one shrinks the visual tokens to its count, batches answer as
their requests do alone (up to rounding: ``greedy.assert_batch_answers_as_alone``), and what cannot
apply is refused before anything runs."""

import json

import numpy as np
import pytest
import torch
from greedy import answers_and_logits, assert_batch_answers_as_alone

from mmhay.adapters import Request, create_adapter
from mmhay.adapters.tiny import make_tiny_checkpoint
from mmhay.cli import main
from mmhay.compression import output_tokens
from mmhay.errors import ConfigError
from mmhay.evaluate import EvalSettings, evaluate, open_data


@pytest.fixture(scope="module", params=["qwen2-vl", "llava-onevision"])
def model(request, tmp_path_factory):
    checkpoint = make_tiny_checkpoint(request.param, tmp_path_factory.mktemp("models") / request.param)
    return request.param, create_adapter(f"hf:{checkpoint}", {"max_new_tokens": "6"})


def _requests(compress=""):
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, (4, 64, 96, 3), dtype=np.uint8) for _ in range(2)]
    prompts = ["Which one?", "A longer question, so that the batch is padded on the left: which one?"]
    times = (0.5, 1.5, 2.5, 3.5)
    return [
        Request(key=f"r{i}", prompt=p, answer_type="choice", options=("a", "b"), frames=f, frame_times=times, duration=4.0, fps=8.0, compress=compress)
        for i, (p, f) in enumerate(zip(prompts, frames))
    ]


def test_keeping_every_token_answers_as_no_compression(model):
    family, adapter = model
    keep_all = "spatial_pool:k=1" if family == "qwen2-vl" else "evs_prune:q=0"
    plain, plain_logits = answers_and_logits(adapter, _requests())
    kept, kept_logits = answers_and_logits(adapter, _requests(keep_all))
    # exact, not close: both runs encode the same batch in the same shapes, and k=1 pooling (a mean
    # over one cell) and q=0 pruning (every token, in order) copy the features bit for bit
    assert torch.equal(kept_logits, plain_logits)
    assert [a.text for a in kept] == [a.text for a in plain]
    assert [a.usage["visual_tokens"] for a in kept] == [a.usage["visual_tokens"] for a in plain]


def test_a_compressor_cuts_the_visual_tokens_to_its_count(model):
    family, adapter = model
    plain = adapter.generate(_requests()[:1])[0].usage["visual_tokens"]
    if family == "qwen2-vl":  # 4 frames -> 2 temporal patches of a (h, w) merged grid
        t, h, w = adapter._inputs(_requests()[:1])["video_grid_thw"][0].tolist()
        spec, expected = "spatial_pool:k=2", output_tokens("spatial_pool:k=2", t, h // 2, w // 2)
    else:  # 4 frames of a side x side pooled grid, then the newline token
        side = round(((plain - 1) // 4) ** 0.5)
        spec, expected = "tome:target=2", output_tokens("tome:target=2", 4, side, side) + 1
    answer = adapter.generate(_requests(spec)[:1])[0]
    assert answer.usage["visual_tokens"] == expected < plain
    assert answer.usage["prompt_tokens"] == adapter.generate(_requests()[:1])[0].usage["prompt_tokens"] - (plain - expected)


def test_a_compressed_batch_answers_as_its_requests_alone(model):
    family, adapter = model
    spec = "temporal_pool:k=2" if family == "qwen2-vl" else "spatial_pool:k=2"
    assert_batch_answers_as_alone(adapter, _requests(spec))


def test_a_run_with_compression_records_it_and_its_token_count(model, built_small, tmp_path):
    family, adapter = model
    spec = "spatial_pool:k=2"
    run = tmp_path / "run"
    result = evaluate(open_data(built_small, limit=2), adapter, run, EvalSettings(frames=4, compress=spec))
    assert json.loads((run / "run.json").read_text())["settings"]["compress"] == spec
    plain = evaluate(open_data(built_small, limit=2), adapter, tmp_path / "plain", EvalSettings(frames=4))
    assert result.metrics["usage"]["visual_tokens"] < plain.metrics["usage"]["visual_tokens"]


def test_what_cannot_apply_is_refused_before_anything_runs(model, built_small, tmp_path):
    family, adapter = model
    if family == "qwen2-vl":
        with pytest.raises(ConfigError, match="need a frame grid"):
            evaluate(open_data(built_small, limit=1), adapter, tmp_path / "run", EvalSettings(compress="evs_prune"))
        assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="unknown compressor"):
        evaluate(open_data(built_small, limit=1), adapter, tmp_path / "run2", EvalSettings(compress="squash"))


def test_a_model_without_a_vision_tower_refuses_compression(built_small, tmp_path, capsys):
    assert main(["eval", "--model", "random", "--data", str(built_small), "--out", str(tmp_path / "r"), "--compress", "spatial_pool"]) == 2
    assert "--compress" in capsys.readouterr().err


def test_an_odd_frame_count_compresses_over_its_temporal_patches(model):
    family, adapter = model
    requests = [Request(**{**request.__dict__, "frames": request.frames[:3], "frame_times": request.frame_times[:3]}) for request in _requests("temporal_pool:k=2")]
    plain = adapter.generate([Request(**{**requests[0].__dict__, "compress": ""})])[0].usage["visual_tokens"]
    answer = adapter.generate(requests[:1])[0]
    assert 0 < answer.usage["visual_tokens"] < plain
