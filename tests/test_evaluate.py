import json

import pytest

from mmhay.adapters import create_adapter
from mmhay.errors import DatasetError
from mmhay.evaluate import EvalSettings, evaluate, open_data


def test_a_run_cut_short_mid_line_resumes_asking_only_the_rest(built_small, tmp_path):
    run = tmp_path / "run"
    first = evaluate(open_data(built_small), create_adapter("random"), run)
    metrics = (run / "metrics.json").read_bytes()
    lines = (run / "samples.jsonl").read_text().splitlines(keepends=True)
    (run / "samples.jsonl").write_text("".join(lines[:7]) + lines[7][:25])  # killed while writing line 8
    (run / "metrics.json").unlink()
    resumed = evaluate(open_data(built_small), create_adapter("random"), run)
    assert (first.asked, resumed.asked, resumed.reused) == (12, 5, 7)
    assert (run / "metrics.json").read_bytes() == metrics
    assert all(json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines())


def test_a_run_folder_of_another_setup_is_refused(built_small, tmp_path):
    run = tmp_path / "run"
    evaluate(open_data(built_small, limit=2), create_adapter("random"), run)
    with pytest.raises(DatasetError, match="another model, data or settings"):
        evaluate(open_data(built_small, limit=2), create_adapter("random"), run, EvalSettings(frames=8))


def test_a_config_evaluates_on_samples_generated_on_the_fly(tmp_path):
    import yaml
    from conftest import SMALL_SUITE

    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump(SMALL_SUITE))
    result = evaluate(open_data(config, limit=5), create_adapter("random"), tmp_path / "run")
    assert result.metrics["overall"]["n"] == 5
    assert result.metrics["data"]["config"] == str(config)


def test_every_task_and_answer_form_is_asked_and_scored(tmp_path):
    import yaml

    config = tmp_path / "all.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "all",
                "samples": 48,
                "video": {"size": [128, 72], "fps": 4},
                "grid": {
                    "task": ["retrieval", "ordering", "counting", "count_kind", "negative", "localization"],
                    "form": ["choice", "open"],
                    "length": [30],
                },
            }
        )
    )
    result = evaluate(open_data(config), create_adapter("random"), tmp_path / "run")
    metrics = result.metrics
    assert set(metrics["by_task"]) == {"retrieval", "ordering", "counting", "count_kind", "negative", "localization"}
    assert set(metrics["by_facet"]["form"]) == {"choice", "open"}
    assert metrics["overall"]["unparsed"] == 0, "every random answer is readable"
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    kinds = {r["answer_type"] for r in records}
    assert kinds == {"choice", "sequence", "integer", "boolean", "span", "text"}
    assert {r["chance"] for r in records if r["answer_type"] == "boolean"} == {0.5}
    assert all(r["chance"] is None for r in records if r["answer_type"] in ("integer", "span", "text"))
