import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from mmhay.adapters import Answer, create_adapter
from mmhay.errors import DatasetError, ModelError
from mmhay.evaluate import EvalSettings, evaluate, open_data
from mmhay.software import software


def test_a_run_cut_short_mid_line_resumes_asking_only_the_rest(built_small, tmp_path):
    run = tmp_path / "run"
    first = evaluate(open_data(built_small), create_adapter("random"), run, EvalSettings(batch_size=4))
    metrics = (run / "metrics.json").read_bytes()
    records = (run / "samples.jsonl").read_bytes()
    lines = records.decode().splitlines(keepends=True)
    (run / "samples.jsonl").write_text("".join(lines[:7]) + lines[7][:25])  # killed while writing line 8
    (run / "metrics.json").unlink()
    resumed = evaluate(open_data(built_small), create_adapter("random"), run)
    assert (first.asked, resumed.asked, resumed.cached, resumed.reused) == (12, 0, 5, 7), "the 5 lost lines come from the cache"
    assert (run / "metrics.json").read_bytes() == metrics
    assert (run / "samples.jsonl").read_bytes() == records

    (run / "samples.jsonl").write_text("".join(lines[:7]))
    (run / "responses.sqlite").unlink()
    again = evaluate(open_data(built_small), create_adapter("random"), run, EvalSettings(batch_size=3))
    assert (again.asked, again.cached, again.reused) == (5, 0, 7), "with no cache, only the 5 unanswered are asked"
    assert (run / "samples.jsonl").read_bytes() == records, "each sample once, in the data's order, whatever the batch size"


@dataclass
class _Recording:
    """A model that answers "A" and records the batches it is asked, failing from batch ``fail_from`` on."""

    name: str = "recording"
    needs_frames: bool = False
    takes_audio: bool = False
    batch_size: int = 2
    fail_from: int | None = None
    asked: list = field(default_factory=list)

    def identity(self):
        return {"adapter": "recording"}

    def generate(self, requests):
        self.asked.append([request.key for request in requests])
        failing = self.fail_from is not None and len(self.asked) > self.fail_from
        return [Answer("", error="down") if failing else Answer("A") for _ in requests]


def test_a_resumed_run_asks_the_rest_in_the_batches_of_the_uninterrupted_run(built_small, tmp_path):
    """A batch's answers differ from its requests' alone in the last bits, so resuming must not
    pair the requests anew: killed while writing the last line of a batch, the run answers that
    line from the cache and asks the rest as the uninterrupted run did."""
    whole = _Recording()
    evaluate(open_data(built_small), whole, tmp_path / "whole")
    run = tmp_path / "run"
    with pytest.raises(ModelError):  # 4 batches answered, cached and written, then the model fails
        evaluate(open_data(built_small), _Recording(fail_from=4), run)
    lines = (run / "samples.jsonl").read_text().splitlines(keepends=True)
    assert len(lines) == 8
    (run / "samples.jsonl").write_text("".join(lines[:7]) + lines[7][:25])  # the last line cut short
    resumed = _Recording()
    result = evaluate(open_data(built_small), resumed, run)
    assert (result.asked, result.cached) == (4, 1)
    assert resumed.asked == whole.asked[4:]
    assert (run / "samples.jsonl").read_bytes() == (tmp_path / "whole" / "samples.jsonl").read_bytes()


def test_a_run_folder_of_another_setup_is_refused(built_small, tmp_path):
    run = tmp_path / "run"
    evaluate(open_data(built_small, limit=2), create_adapter("random"), run)
    with pytest.raises(DatasetError, match="another model, data or settings"):
        evaluate(open_data(built_small, limit=2), create_adapter("random"), run, EvalSettings(frames=8))


def test_run_json_records_the_software_and_a_run_made_with_other_software_is_refused(built_small, tmp_path):
    run = tmp_path / "run"
    evaluate(open_data(built_small, limit=2), create_adapter("random"), run)
    recorded = json.loads((run / "run.json").read_text())
    assert recorded["software"] == software() and recorded["software"]["distributions"]["numpy"] == np.__version__
    recorded["software"]["distributions"]["numpy"] = "1.0.0"
    (run / "run.json").write_text(json.dumps(recorded))
    with pytest.raises(DatasetError, match=rf"made with other software \(numpy 1.0.0 there, {np.__version__} here\); resume it there"):
        evaluate(open_data(built_small, limit=2), create_adapter("random"), run)


def test_a_run_resumes_where_only_software_beside_mmhay_differs(built_small, tmp_path, caplog):
    run = tmp_path / "run"
    evaluate(open_data(built_small, limit=2), create_adapter("random"), run)
    recorded = json.loads((run / "run.json").read_text())
    recorded["software"]["distributions"]["a-tool-beside-mmhay"] = "1.0"
    (run / "run.json").write_text(json.dumps(recorded))
    with caplog.at_level("WARNING"):
        result = evaluate(open_data(built_small, limit=2), create_adapter("random"), run)
    assert result.metrics["overall"]["n"] == 2
    assert "a-tool-beside-mmhay 1.0 there, not installed here" in caplog.text
    assert json.loads((run / "run.json").read_text()) == recorded


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
