import json
from fractions import Fraction

import numpy as np
import pytest
import torch

from mmhay.adapters import Request, create_adapter
from mmhay.cli import main
from mmhay.errors import ModelError
from mmhay.evaluate import EvalSettings, evaluate, open_data


def test_a_checkpoint_is_evaluated_through_the_command(tiny_qwen2_vl, built_small, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["eval", "--model", f"hf:{tiny_qwen2_vl}", "--data", str(built_small), "--out", str(run), "--frames", "4"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "accuracy %" in printed and f"hf:{tiny_qwen2_vl}" in printed
    records = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 12
    for record in records:
        assert len(record["frame_times"]) == 4 and record["frame_times"] == sorted(record["frame_times"])
        assert isinstance(record["output"], str)
        assert record["correct"] == (record["parsed"] == record["answer"])
        assert record["prompt"].endswith("Answer with the option's letter from the given choices directly.")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["overall"]["n"] == 12 and metrics["model"]["frames_as"] == "video"
    assert (run / "results.md").read_text().startswith(f"# mmhay results: `hf:{tiny_qwen2_vl}`")

    before = (run / "metrics.json").read_bytes()
    assert main(["eval", "--model", f"hf:{tiny_qwen2_vl}", "--data", str(built_small), "--out", str(run), "--frames", "4"]) == 0
    assert "asked 0, reused 12" in capsys.readouterr().out
    assert (run / "metrics.json").read_bytes() == before


def _request(sample, frames: int = 4) -> Request:
    times = [sample.media.duration * (2 * i + 1) / (2 * frames) for i in range(frames)]
    rendered = sample.media.render(times)
    return Request(
        key=sample.id,
        prompt=sample.question,
        answer_type="choice",
        options=sample.options,
        frames=rendered.pixels,
        frame_times=tuple(float(t) for t in rendered.times),
        duration=float(sample.media.duration),
        fps=8.0,
    )


def test_the_frames_reach_the_model_as_a_video(tiny_qwen2_vl, built_small):
    model = create_adapter(f"hf:{tiny_qwen2_vl}")
    sample = next(open_data(built_small).samples())
    request = _request(sample)
    inputs = model._inputs([request])
    assert inputs["video_grid_thw"].tolist()[0][0] == 2, "4 frames make 2 temporal patches"
    dark = Request(**{**request.__dict__, "frames": np.zeros_like(request.frames)})
    with torch.inference_mode():
        seen = model.model(**inputs).logits[0, -1]
        blind = model.model(**model._inputs([dark])).logits[0, -1]
    assert not torch.allclose(seen, blind), "the answer must depend on the pixels"


def test_frames_can_go_in_as_images(tiny_qwen2_vl, built_small):
    model = create_adapter(f"hf:{tiny_qwen2_vl}", {"frames_as": "images", "max_new_tokens": "4"})
    sample = next(open_data(built_small).samples())
    inputs = model._inputs([_request(sample, frames=3)])
    assert inputs["image_grid_thw"].shape[0] == 3
    assert isinstance(model.generate([_request(sample, frames=3)])[0].text, str)


def test_a_folder_that_is_not_a_checkpoint_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not a transformers checkpoint"):
        create_adapter(f"hf:{tmp_path}")


def test_sample_times_are_used_as_given(built_small):
    sample = next(open_data(built_small).samples())
    rendered = sample.media.render([Fraction(1, 3)])
    assert rendered.times == (Fraction(1, 4),), "the frame shown at 1/3 s of an 8 fps video starts at 1/4 s"


def test_a_model_that_takes_no_audio_skips_the_samples_that_need_it(tiny_qwen2_vl, tmp_path):
    import yaml

    config = tmp_path / "av.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "av",
                "samples": 6,
                "video": {"size": [128, 72], "fps": 4},
                "haystack": {"bed": "music"},
                "needle": {"insertion": {"image": "insert", "sound": "overlay"}},
                "grid": {"task": ["retrieval", "cross_modal"], "kind": ["image", "sound"], "length": [10]},
            }
        )
    )
    model = create_adapter(f"hf:{tiny_qwen2_vl}", {"max_new_tokens": "4"})
    assert not model.takes_audio
    result = evaluate(open_data(config), model, tmp_path / "run", EvalSettings(frames=4))
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    skipped = [r for r in records if "skipped" in r]
    assert len(skipped) == 4 and all("takes no audio" in r["skipped"] for r in skipped)
    assert result.metrics["skipped"] == 4 and result.metrics["overall"]["n"] == 2
    assert "4 samples were skipped" in (tmp_path / "run" / "results.md").read_text()


def test_a_model_that_hears_is_given_the_sound(tmp_path):
    import yaml

    from mmhay.adapters.tiny import make_tiny_checkpoint

    checkpoint = make_tiny_checkpoint("qwen2-audio", tmp_path / "tiny-qwen2-audio")
    model = create_adapter(f"hf:{checkpoint}", {"max_new_tokens": "4"})
    assert model.takes_audio and not model.sees
    config = tmp_path / "sound.yaml"
    config.write_text(yaml.safe_dump({"name": "s", "samples": 3, "generator": "audio", "haystack": {"bed": "noise"}, "needle": {"kind": "sound"}, "grid": {"length": [6]}}))
    result = evaluate(open_data(config), model, tmp_path / "run")
    assert result.metrics["overall"]["n"] == 3 and result.metrics["skipped"] == 0
    sample = next(open_data(config).samples())
    request = Request(key=sample.id, prompt=sample.question, answer_type="choice", audio=sample.media.audio(), audio_rate=16000)
    silent = Request(**{**request.__dict__, "audio": np.zeros_like(request.audio)})
    inputs = model._inputs([request])
    assert "input_features" in inputs
    with torch.inference_mode():
        heard = model.model(**inputs).logits[0, -1]
        deaf = model.model(**model._inputs([silent])).logits[0, -1]
    assert not torch.allclose(heard, deaf), "the answer must depend on the sound"
