"""Headline numbers as published (mmhay/scoring/headline.py): hand-written answers give the value
worked out by hand from each anchor's own code, and the block lands in a run's metrics.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mmhay.adapters import Answer
from mmhay.cli import main
from mmhay.config import load_suite, parse_suite
from mmhay.errors import ConfigError
from mmhay.evaluate import evaluate, open_data
from mmhay.scoring.headline import headline, headlines, vnbench_type

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _record(rid, task, correct, *, facets, group=None, rotation=0, options=4, parsed="A"):
    return {
        "id": rid,
        "task": task,
        "answer_type": "choice",
        "options": [str(k) for k in range(options)],
        "facets": facets,
        "group": group or rid,
        "rotation": rotation,
        "correct": correct,
        "parsed": parsed if correct else None,
    }


def _question(qid, task, kind, right_rotations):
    """The 4 rotations of one four-option question, right where ``right_rotations`` says."""
    return [
        _record(f"{qid}-r{r}" if r else qid, task, r in right_rotations, facets={"task": task, "kind": kind}, group=qid, rotation=r)
        for r in range(4)
    ]


ALL = {0, 1, 2, 3}


def test_vnbench_is_circular_accuracy_averaged_over_task_types():
    # joez17/VideoNIAH evaluation/eval.py:51-56: a question (question_id[:-2], its 4 rotations)
    # counts only if all 4 are right; per type, right questions / questions; :57-62 overall =
    # mean over the task types.
    records = (
        _question("e1", "retrieval", "text", ALL)  # ret_edit: 1 of 1
        + _question("i1", "retrieval", "image", ALL)  # ret_insert: 2 of 3
        + _question("i2", "retrieval", "image", {0, 1, 3})
        + _question("i3", "retrieval", "image", ALL)
        + _question("c1", "counting", "image", ALL)  # cnt_insert: 1 of 2
        + _question("c2", "counting", "image", {1, 2, 3})  # rotation 0 unread: wrong
    )
    block = headline(records, "vnbench")
    assert block["by"]["task_type"] == {
        "cnt_insert": {"questions": 2, "right": 1, "accuracy": 0.5},
        "ret_edit": {"questions": 1, "right": 1, "accuracy": 1.0},
        "ret_insert": {"questions": 3, "right": 2, "accuracy": 0.666667},
    }
    # mean over types (1 + 2/3 + 1/2) / 3 = 13/18; pooled over the 6 questions it would be 4/6,
    # and llava_examples/evaluation_utils.py's mean of family means ((1 + 2/3) / 2 + 1/2) / 2 = 2/3
    assert block["overall"] == pytest.approx(13 / 18, abs=1e-6)
    assert block["by"]["family"] == {"cnt": 0.5, "ret": pytest.approx(5 / 6, abs=1e-6)}
    assert (block["questions"], block["rotations"], block["protocol"]) == (6, 4, "vnbench")
    assert "evaluation/eval.py" in block["source"]

    # asked once (no rotations), each question is its one answer: ret_edit 1/1, ret_insert 3/3
    # (rotation 0 of i2 is right), cnt_insert 1/2 -> (1 + 1 + 1/2) / 3 = 5/6
    once = [r for r in records if r["rotation"] == 0]
    assert headline(once, "vnbench")["overall"] == pytest.approx(5 / 6, abs=1e-6)
    assert headline(once, "vnbench")["rotations"] == 1


def test_vnbench_task_types_from_task_and_how_the_needle_went_in():
    def kind(task, **facets):
        return vnbench_type({"task": task, "facets": facets})

    assert kind("retrieval", kind="text") == "ret_edit"  # a subtitle drawn onto frames
    assert kind("ordering", kind="image") == "ord_insert"  # pictures inserted as frames
    assert kind("counting", kind="clip") == "cnt_insert"
    assert kind("counting", kind="image", insertion="overlay") == "cnt_edit"  # the insertion facet decides
    assert kind("retrieval", kind="text", insertion="insert") == "ret_insert"
    assert kind("needle_qa", kind="image") == "needle_qa_insert"  # another task keeps its name
    assert kind("retrieval") == "ret"


def _placed(rid, depth, length, correct, rotation=0, **more):
    return _record(rid, "retrieval", correct, facets={"depth": depth, "length": length, **more}, rotation=rotation)


@pytest.mark.parametrize("protocol, anchor", [("vniah", "vision_niah/eval_vision_niah.py"), ("vniah_d", "eval_vision_niah_interrupt.py")])
def test_vniah_is_the_mean_over_depth_by_length_cells(protocol, anchor):
    # EvolvingLMMs-Lab/LongVA vision_niah/eval_vision_niah.py:260-264: a cell's score is the mean
    # over its needles; :332 average accuracy = df["Score"].mean(), the mean over cells
    # (VideoRoPE's eval_vision_niah_interrupt.py:460-464, 532 the same).
    records = [
        _placed("a", 0.0, 60.0, True),
        _placed("b", 0.0, 60.0, True),
        _placed("c", 0.0, 60.0, True),
        _placed("d", 0.5, 60.0, False),
        _placed("d-r1", 0.5, 60.0, True, rotation=1),  # a rotation: not asked twice
    ]
    block = headline(records, protocol)
    # cells 0|60 = 3/3 and 0.5|60 = 0/1: (1 + 0) / 2 = 0.5, where the 4 samples pooled give 3/4
    assert block["overall"] == 0.5
    assert block["n"] == 4
    assert block["by"]["depth|length"] == {"0|60": {"n": 3, "correct": 3, "accuracy": 1.0}, "0.5|60": {"n": 1, "correct": 0, "accuracy": 0.0}}
    assert anchor in block["source"]

    # a suite gridded in frames keeps its own axis, as V-NIAH's "Num. Frame"
    frames = [_placed("f", 0.2, 100.0, True, length_frames=100), _placed("g", 0.2, 200.0, False, length_frames=200)]
    assert headline(frames, protocol)["by"] == {
        "depth|length_frames": {"0.2|100": {"n": 1, "correct": 1, "accuracy": 1.0}, "0.2|200": {"n": 1, "correct": 0, "accuracy": 0.0}}
    }


def test_timescope_is_accuracy_over_all_samples_by_length_and_task_type():
    # EvolvingLMMs-Lab/lmms-eval lmms_eval/tasks/timescope/utils.py:105-117 counts correct /
    # answered per f"{length}_{task_type}"; :131-136 overall = all correct / all answered (micro);
    # an answer no letter is read from ("") is wrong (:75-76, :117).
    def rec(rid, length, task, correct):
        return _record(rid, task, correct, facets={"length": length})

    records = [
        rec("1", 60.0, "needle_qa", True),
        rec("2", 60.0, "needle_qa", False),
        rec("3", 60.0, "motion_count", True),
        rec("4", 3600.0, "recall_order", False),
        rec("5", 3600.0, "recall_order", False),
        rec("6", 3600.0, "recall_order", False),
        rec("7", 3600.0, "needle_qa", True),
        rec("8", 3600.0, "needle_qa", True),
    ]
    block = headline(records, "timescope")
    # (1 + 1 + 0 + 2) / 8 = 0.5; the mean over the 4 cells would be (1/2 + 1 + 0 + 1) / 4 = 0.625
    assert block["overall"] == 0.5
    assert block["by"]["length|task"]["60|needle_qa"] == {"n": 2, "correct": 1, "accuracy": 0.5}
    assert block["by"]["length|task"]["3600|recall_order"]["accuracy"] == 0.0
    # by length (utils.py:122-129): 60 s 2/3, 3600 s 2/5
    assert block["by"]["length"] == {"3600": {"n": 5, "correct": 2, "accuracy": 0.4}, "60": {"n": 3, "correct": 2, "accuracy": 0.666667}}


def test_mlvu_needle_is_plain_multiple_choice_accuracy():
    # EvolvingLMMs-Lab/lmms-eval lmms_eval/tasks/mlvu/utils.py:101-117: the needle category's
    # correct / answered; an answer mcq_extract reads nothing from is wrong.
    records = [_record(str(k), "needle_qa", k < 3, facets={"length": 480.0}) for k in range(5)]  # 3 right, 2 unread
    block = headline(records, "mlvu_needle")
    assert (block["overall"], block["n"]) == (0.6, 5)  # 3 / 5
    assert block["by"]["task"] == {"needle_qa": {"n": 5, "correct": 3, "accuracy": 0.6}}
    with pytest.raises(ValueError, match="unknown protocol"):
        headline(records, "mlvu")


def test_each_suite_of_a_run_gets_its_own_block():
    records = [_placed("a", 0.0, 60.0, True), _placed("b", 0.5, 60.0, False), _placed("c", 0.0, 60.0, False)]
    blocks = headlines(records, {"a": "one", "b": "one", "c": "two"}, {"one": "vniah"})
    assert list(blocks) == ["one"], "a suite without a protocol gets no block"
    assert blocks["one"]["overall"] == 0.5 and blocks["one"]["n"] == 2  # (1 + 0) / 2, c is not one's


def test_protocol_changes_no_key_and_is_left_out_of_the_dump_when_unset(tmp_path, capsys):
    suite = load_suite(CONFIGS / "vnbench.yaml")
    assert suite.protocol == "vnbench" and suite.model_dump(mode="json")["protocol"] == "vnbench"
    data = yaml.safe_load((CONFIGS / "vnbench.yaml").read_text())
    del data["protocol"]
    without = parse_suite(data)
    assert without.key() == suite.key(), "the protocol line changes no sample"
    assert "protocol" not in without.model_dump(mode="json"), "a suite without one dumps (manifest, card) as before"
    with pytest.raises(ConfigError, match=r"x\.yaml: protocol = 'vnbench2': input should be 'vnbench'"):
        parse_suite({**data, "protocol": "vnbench2"}, origin="x.yaml")
    with pytest.raises(ConfigError, match="protocol = 'vniah': vniah reports the mean over depth x length cells: the suite needs grid.depth"):
        parse_suite({**data, "protocol": "vniah"}, origin="x.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**data, "protocol": "vnbench2"}))
    assert main(["build", str(bad), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "bad.yaml: protocol = 'vnbench2'" in error and "Traceback" not in error
    assert not (tmp_path / "out").exists()

    # a built suite's manifest holds the config as build writes it (model_dump): its protocol reaches eval
    built = tmp_path / "built"
    built.mkdir()
    manifest = {"suite": suite.name, "config_key": suite.key(), "seed": 0, "samples": 1, "config": suite.model_dump(mode="json")}
    (built / "manifest.json").write_text(json.dumps(manifest))
    assert open_data(built).protocols == {"vnbench": "vnbench"}
    assert open_data(built, circular=True, tasks=["retrieval"]).protocols == {"vnbench": "vnbench"}


@dataclass
class _Scripted:
    """A model that gives the right letter except for the requests named in ``wrong``."""

    truth: dict
    wrong: set
    name: str = "scripted"
    needs_frames: bool = False
    takes_audio: bool = False
    batch_size: int = 16

    def identity(self):
        return {"adapter": "scripted"}

    def generate(self, requests):
        return [Answer("E" if request.key in self.wrong else self.truth[request.key]) for request in requests]


def test_the_headline_lands_in_metrics_json(tmp_path):
    config = tmp_path / "vn.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "vn",
                "protocol": "vnbench",
                "samples": 4,
                "video": {"size": [64, 48], "fps": 2},
                "needle": {"insertion": {"image": "insert", "text": "overlay"}},
                "grid": {"task": ["retrieval", "counting"], "kind": ["text", "image"], "length": [6], "needles": [2]},
            }
        )
    )
    data = open_data(config, circular=True)
    samples = list(data.samples())
    assert len(samples) == 16  # 4 questions x 4 rotations
    wrong = {s.id for s in samples if s.task == "counting" and s.facets["kind"] == "image" and s.rotation == 2}
    run = evaluate(data, _Scripted({s.id: s.answer for s in samples}, wrong), tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    block = metrics["headline"]["vn"]
    # ret_edit, ret_insert, cnt_edit right in all 4 rotations, cnt_insert wrong in one:
    # (1 + 1 + 1 + 0) / 4 = 0.75, while every rotation-0 answer is right (overall 1.0)
    assert {t: c["accuracy"] for t, c in block["by"]["task_type"].items()} == {"cnt_edit": 1.0, "cnt_insert": 0.0, "ret_edit": 1.0, "ret_insert": 1.0}
    assert (block["overall"], metrics["overall"]["accuracy"]) == (0.75, 1.0)
    assert run.metrics["headline"] == metrics["headline"]
    assert "## Headline as published" in (tmp_path / "run" / "results.md").read_text()
    assert "<th>headline as published</th>" in (tmp_path / "run" / "report.html").read_text()
