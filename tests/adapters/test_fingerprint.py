import json
import os
import shutil
from functools import cache

import pytest
import torch

from mmhay.adapters import create_adapter, fingerprint
from mmhay.adapters.fingerprint import checkpoint_fingerprint
from mmhay.errors import DatasetError
from mmhay.evaluate import EvalSettings, evaluate, open_data
from mmhay.software import software


@pytest.fixture
def one_thread():
    """A tiny model gains nothing from more threads, and loses much to them on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _edit_json(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def test_each_ingredient_of_the_cache_key_changed_asks_the_model_again(tiny_qwen2_vl, built_small, tmp_path, monkeypatch, one_thread):
    """A checkpoint in a hub cache (offline) answers one sample; each change (processor config,
    chat template, generation config, a library version, the hub revision) asks it again, and an
    unchanged checkpoint loaded again asks nothing."""
    import huggingface_hub.constants

    monkeypatch.setattr("mmhay.report.write_report", lambda *args, **kwargs: None)  # not what is tested here, and 0.7 s a run
    monkeypatch.setattr("mmhay.evaluate.software", cache(software))  # read once, not 0.2 s a run
    hub = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    repo = hub / "models--mmhay--tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_qwen2_vl, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    data, answers, runs = open_data(built_small, limit=1), tmp_path / "responses.sqlite", []

    def asked(model=None) -> int:
        model = model or create_adapter("hf:mmhay/tiny", {"max_new_tokens": "1"})
        runs.append(tmp_path / f"run{len(runs)}")
        return evaluate(data, model, runs[-1], EvalSettings(frames=2, render_workers=0), cache=answers).asked

    assert asked() == 1
    assert asked() == 0, "an unchanged checkpoint loaded again is answered from the cache"

    _edit_json(snapshot / "processor_config.json", lambda d: d["video_processor"].update(image_std=[0.5, 0.5, 0.5]))
    model = create_adapter("hf:mmhay/tiny", {"max_new_tokens": "1"})
    assert list(model.processor.video_processor.image_std) == [0.5, 0.5, 0.5], "the edit is one transformers reads"
    assert asked(model) == 1, "processor config"

    template = snapshot / "chat_template.jinja"
    template.write_text("<|im_start|>system\nBe brief.<|im_end|>\n" + template.read_text())
    model = create_adapter("hf:mmhay/tiny", {"max_new_tokens": "1"})
    assert model.processor.chat_template.startswith("<|im_start|>system\nBe brief.")
    assert asked(model) == 1, "chat template"

    _edit_json(snapshot / "generation_config.json", lambda d: d.update(repetition_penalty=1.3))
    model = create_adapter("hf:mmhay/tiny", {"max_new_tokens": "1"})
    assert model.model.generation_config.repetition_penalty == 1.3
    assert asked(model) == 1, "generation config"

    installed = fingerprint.output_software
    monkeypatch.setattr(fingerprint, "output_software", lambda: {**installed(), "transformers": "99.0.0"})
    assert asked(model) == 1, "a transformers upgrade"
    with pytest.raises(DatasetError, match=r"other software \(transformers 5"):
        evaluate(data, model, runs[-2], EvalSettings(frames=2, render_workers=0), cache=answers)  # resumed after the upgrade
    monkeypatch.setattr(fingerprint, "output_software", installed)

    shutil.copytree(snapshot, repo / "snapshots" / ("b" * 40), symlinks=True)
    (repo / "refs" / "main").write_text("b" * 40)
    model = create_adapter("hf:mmhay/tiny", {"max_new_tokens": "1"})
    assert model.checkpoint["revision"] == "b" * 40
    assert asked(model) == 1, "another hub revision with the same files"
    with pytest.raises(DatasetError, match="another model"):
        evaluate(data, model, runs[0], EvalSettings(frames=2, render_workers=0), cache=answers)


def test_a_local_checkpoint_is_known_by_its_files_and_its_weights(tiny_qwen2_vl, tmp_path, monkeypatch):
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_qwen2_vl, folder)
    (folder / "README.md").write_text("notes\n")
    before = checkpoint_fingerprint(str(folder))
    assert before["revision"] is None
    assert {"processor_config.json", "chat_template.jinja", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "config.json"} <= set(before["files"])
    assert "README.md" not in before["files"]
    (folder / "tokenizer_config.json").write_text((folder / "tokenizer_config.json").read_text().replace("}", ', "chat_template": "{{ messages }}"}'))
    assert checkpoint_fingerprint(str(folder))["files"]["tokenizer_config.json"] != before["files"]["tokenizer_config.json"]

    monkeypatch.setattr(fingerprint, "WHOLE_FILE_LIMIT", 1000)  # the weights are too big to read: known by name, size and time
    weights = folder / "model.safetensors"
    first = checkpoint_fingerprint(str(folder))
    assert "model.safetensors" not in first["files"] and first == checkpoint_fingerprint(str(folder))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1))  # saved again, same size
    assert checkpoint_fingerprint(str(folder))["weights"] != first["weights"]
