"""`mmhay export lmms-eval`: the task folder lmms-eval reads, its hooks driven the way lmms-eval
drives them (rows from load_from_disk, process_docs, doc_to_visual, doc_to_text, process_results,
the aggregations), agreeing with `mmhay eval` on prompts and scores."""

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from mmhay.adapters import create_adapter
from mmhay.cli import main
from mmhay.evaluate import evaluate, open_data


class _TaskLoader(yaml.SafeLoader):
    """lmms-eval's YAML: ``!function MODULE.NAME`` names a function of MODULE.py beside the YAML."""


_TaskLoader.add_constructor("!function", lambda loader, node: ("function", loader.construct_scalar(node)))


def _load_task(folder: Path, task: str | None = None):
    config = yaml.load((folder / f"{task}.yaml" if task else next(folder.glob("*.yaml"))).read_text(), Loader=_TaskLoader)
    modules = {}

    def function(reference):
        kind, name = reference
        assert kind == "function"
        module, _, attribute = name.rpartition(".")
        if module not in modules:
            spec = importlib.util.spec_from_file_location(f"{module}_{abs(hash(folder))}", folder / f"{module}.py")
            modules[module] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(modules[module])
        return getattr(modules[module], attribute)

    def hook(key):
        return function(config[key])

    hook.function = function
    return config, hook


def _docs(config, hook):
    from datasets import load_from_disk

    assert config["dataset_kwargs"] == {"load_from_disk": True}
    return list(hook("process_docs")(load_from_disk(config["dataset_path"])[config["test_split"]]))


def test_the_task_asks_and_scores_as_mmhay_eval_does(built_small, tmp_path, capsys):
    folder = tmp_path / "task"
    assert main(["export", "lmms-eval", str(built_small), "--out", str(folder)]) == 0
    assert f"--tasks mmhay_small --include_path {folder}" in capsys.readouterr().out
    config, hook = _load_task(folder)
    assert config["task"] == "mmhay_small" and config["output_type"] == "generate_until"
    assert config["generation_kwargs"]["do_sample"] is False
    docs = _docs(config, hook)

    run = tmp_path / "run"
    evaluate(open_data(built_small), create_adapter("random"), run)
    records = {r["id"]: r for r in map(json.loads, (run / "samples.jsonl").read_text().splitlines())}
    assert len(docs) == len(records) == 12
    results = {"mmhay_accuracy": [], "mmhay_unparsed": []}
    for doc in docs:
        record = records[doc["id"]]
        visual = hook("doc_to_visual")(doc)
        assert len(visual) == 1 and Path(visual[0]).is_file() and visual[0].endswith(".mp4")
        assert hook("doc_to_text")(doc) == record["prompt"]
        assert doc[config["doc_to_target"]] == record["answer"]
        scored = hook("process_results")(doc, [record["output"]])
        assert scored["mmhay_accuracy"]["correct"] == record["correct"]
        for metric in results:
            results[metric].append(scored[metric])
    aggregate = {entry["metric"]: hook.function(entry["aggregation"]) for entry in config["metric_list"]}
    overall = json.loads((run / "metrics.json").read_text())["overall"]
    assert aggregate["mmhay_accuracy"](results["mmhay_accuracy"]) == pytest.approx(overall["accuracy"], abs=1e-6)
    assert aggregate["mmhay_unparsed"](results["mmhay_unparsed"]) == overall["unparsed"] / overall["n"] == 0


def test_sound_and_pictures_reach_lmms_eval_as_its_models_take_them(tmp_path):
    from mmhay.build import build_suite
    from mmhay.config import parse_suite

    audio = tmp_path / "audio"
    build_suite(parse_suite({"name": "a", "samples": 2, "generator": "audio", "haystack": {"bed": "noise"}, "needle": {"kind": "sound"}, "grid": {"length": [4]}}), audio)
    images = tmp_path / "images"
    build_suite(parse_suite({"name": "i", "samples": 2, "generator": "image_grid", "grid": {"task": ["locate"], "grid_size": [2], "images": [2]}}), images)
    folder = tmp_path / "tasks"  # both suites' tasks in one --include_path folder
    for data in (audio, images):
        assert main(["export", "lmms-eval", str(data), "--out", str(folder)]) == 0
    assert sorted(path.name for path in folder.iterdir()) == ["mmhay_a.yaml", "mmhay_a_utils.py", "mmhay_i.yaml", "mmhay_i_utils.py"]
    for task, check in (("mmhay_a", _is_sound), ("mmhay_i", _are_pictures)):
        config, hook = _load_task(folder, task)
        for doc in _docs(config, hook):
            check(hook("doc_to_visual")(doc))


def _is_sound(visual):
    (sound,) = visual
    assert sound["sampling_rate"] == 16000 and sound["array"].ndim == 1
    assert sound["array"].shape[0] == 4 * 16000 and sound["array"].std() > 0


def _are_pictures(visual):
    assert len(visual) == 2 and all(picture.mode == "RGB" and picture.size[0] > 16 for picture in visual)


def test_a_folder_that_is_not_a_built_suite_is_refused(tmp_path, capsys):
    assert main(["export", "lmms-eval", str(tmp_path), "--out", str(tmp_path / "task")]) == 2
    assert "manifest" in capsys.readouterr().err
