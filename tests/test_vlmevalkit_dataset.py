"""`mmhay export vlmevalkit`: the TSV files VLMEvalKit's custom datasets read, read back the way
VLMEvalKit reads them (pandas ``read_csv(sep='\\t')``, ``image_path`` a list literal), agreeing
with the suite's questions, options and answers, and with the frames `mmhay eval` shows."""

import ast
import json

import numpy as np
import pandas as pd
from PIL import Image

from mmhay.cli import main
from mmhay.eval_data import open_data
from mmhay.prompts import prompt_for
from mmhay.sampling import footage_for, plan_frames, render_plan
from mmhay.schema import option_letter

MIXED_SUITE = {
    "name": "mixed",
    "seed": 1,
    "samples": 4,
    "video": {"size": [96, 64], "fps": 4},
    "haystack": {"shot_seconds": [2, 4]},
    "grid": {"task": ["retrieval", "counting"], "form": ["choice", "open"], "length": [4]},
}


def test_the_tsv_rows_are_the_suites_questions_and_frames(tmp_path, capsys):
    from mmhay.build import build_suite
    from mmhay.config import parse_suite

    data = tmp_path / "data"
    build_suite(parse_suite(MIXED_SUITE), data)
    out = tmp_path / "lmu"
    assert main(["export", "vlmevalkit", str(data), "--out", str(out), "--frames", "3"]) == 0
    printed = capsys.readouterr().out
    assert f"LMUData={out.resolve()} python -m vlmeval.run --data MMHAY_mixed MMHAY_mixed_openended" in printed
    assert "not scored by VLMEvalKit" in printed

    samples = {sample.id: sample for sample in open_data(data).samples()}
    mcq = pd.read_csv(out / "MMHAY_mixed.tsv", sep="\t")
    open_ended = pd.read_csv(out / "MMHAY_mixed_openended.tsv", sep="\t")
    assert list(mcq.columns) == ["index", "image_path", "question", "answer", "A", "B", "C", "D", "category", "mmhay_id"]
    assert "A" not in open_ended.columns  # what makes VLMEvalKit take it as open-ended
    assert sorted([*mcq["mmhay_id"], *open_ended["mmhay_id"]]) == sorted(samples) and len(mcq) == len(open_ended) == 2
    assert len(set(mcq["index"])) == 2

    for _, row in mcq.iterrows():
        sample = samples[row["mmhay_id"]]
        assert sample.answer_type.value == "choice"
        assert (row["question"], row["answer"], row["category"]) == (sample.question, sample.answer, sample.task)
        assert [row[option_letter(i)] for i in range(len(sample.options))] == list(sample.options)
        _shows_the_frames_mmhay_eval_shows(row, sample)
    for _, row in open_ended.iterrows():
        sample = samples[row["mmhay_id"]]
        assert sample.answer_type.value != "choice"
        assert (row["question"], str(row["answer"]), row["answer_type"]) == (prompt_for(sample), sample.answer, sample.answer_type.value)
        _shows_the_frames_mmhay_eval_shows(row, sample)

    summary = json.loads((out / "vlmevalkit.json").read_text())
    assert summary["datasets"] == {"MMHAY_mixed": 2, "MMHAY_mixed_openended": 2} and summary["frames"] == 3


def _shows_the_frames_mmhay_eval_shows(row, sample):
    paths = ast.literal_eval(row["image_path"])
    expected, _ = render_plan(sample.media, plan_frames("uniform", footage_for(sample), 3))
    assert len(paths) == 3
    for path, frame in zip(paths, expected):
        picture = np.asarray(Image.open(path).convert("RGB"))
        assert picture.shape == (64, 96, 3) and np.array_equal(picture, frame)


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["export", "vlmevalkit", str(tmp_path), "--out", str(tmp_path / "lmu")]) == 2
    error = capsys.readouterr().err
    assert "manifest" in error and len(error.strip().splitlines()) == 1 and "Traceback" not in error
