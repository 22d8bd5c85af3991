"""--predict-only answers unscored; `mmhay score RUN` scores them as a normal run would have."""

import json

from mmhay.cli import main
from mmhay.errors import ConfigError
from mmhay.evaluate import EvalSettings
from mmhay.predictions import check_predict_only


def _lines(run):
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]


def test_predict_only_then_score_gives_the_metrics_of_a_normal_run(built_small, tmp_path, capsys, quick_runs):
    common = ["eval", "--model", "random", "--data", str(built_small), "--frames", "2", "--log-samples"]
    assert main([*common, "--out", str(tmp_path / "normal")]) == 0
    assert main([*common, "--out", str(tmp_path / "later"), "--predict-only"]) == 0
    assert f"score them with: mmhay score {tmp_path / 'later'}" in capsys.readouterr().out
    unscored = _lines(tmp_path / "later")
    assert len(unscored) == 12 and all("correct" not in r and "parsed" not in r and r["output"] for r in unscored)
    predicted = json.loads((tmp_path / "later" / "metrics.json").read_text())
    assert predicted["predict_only"] is True and predicted["answered"] == 12 and "overall" not in predicted
    assert main(["report", str(tmp_path / "later")]) == 2
    assert "not scored yet (--predict-only)" in capsys.readouterr().err

    assert main(["score", str(tmp_path / "later")]) == 0
    assert "accuracy %" in capsys.readouterr().out
    normal = json.loads((tmp_path / "normal" / "metrics.json").read_text())
    scored = json.loads((tmp_path / "later" / "metrics.json").read_text())
    assert scored.pop("predicted_then_scored") is True
    assert scored == normal and normal["overall"]["n"] == 12
    assert _lines(tmp_path / "later") == _lines(tmp_path / "normal")
    assert (tmp_path / "later" / "results.md").read_text() == (tmp_path / "normal" / "results.md").read_text()


def test_a_run_whose_data_is_gone_or_unfinished_cannot_be_scored(tmp_path, capsys):
    assert main(["score", str(tmp_path)]) == 2
    assert "not an mmhay run (no run.json)" in capsys.readouterr().err
    try:
        check_predict_only(EvalSettings(predict_only=True, scoring="likelihood"))
    except ConfigError as error:
        assert "--predict-only" in str(error) and "cannot be scored later" in str(error)
    else:
        raise AssertionError("--predict-only with likelihood scoring was taken")
