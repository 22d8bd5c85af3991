import json
import re

import pytest
import yaml
from conftest import SMALL_SUITE

from mmhay.adapters import create_adapter
from mmhay.cli import main
from mmhay.evaluate import EvalSettings, evaluate, open_data
from mmhay.report import load_run
from mmhay.scoring.bootstrap import bootstrap_interval, seed_for
from mmhay.scoring.metrics import summarize
from mmhay.scoring.paired import paired_comparison
from mmhay.scoring.report import run_labels


def _external_references(html: str) -> list[str]:
    """Every src or href that would make the page fetch something."""
    return [ref for ref in re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html) if not ref.startswith(("data:", "#"))]


def test_eval_writes_a_self_contained_report_with_heatmaps_and_failures(tiny_qwen2_vl, built_small, tmp_path):
    run = tmp_path / "run"
    model = create_adapter(f"hf:{tiny_qwen2_vl}", {"max_new_tokens": "4"})
    evaluate(open_data(built_small), model, run, EvalSettings(frames=4))
    html = (run / "report.html").read_text()
    assert _external_references(html) == [] and "<script" not in html and "@import" not in html
    assert html.count("data:image/png;base64,") >= 1 + 4, "a heatmap, and the frames of failures"
    assert "Where the needle is lost" in html and "Failures" in html
    heatmaps = list(run.glob("heatmap-*.png"))
    assert len(heatmaps) == 1 and heatmaps[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_compares_runs_and_plots_the_frame_budget(built_small, tmp_path):
    for frames in (4, 8):
        evaluate(open_data(built_small), create_adapter("random"), tmp_path / f"f{frames}", EvalSettings(frames=frames))
    assert main(["report", str(tmp_path / "f4"), str(tmp_path / "f8"), "--out", str(tmp_path / "both")]) == 0
    html = (tmp_path / "both" / "report.html").read_text()
    assert "Frame budget" in html and "Haystack length" in html
    assert html.count("random on small") >= 2
    assert _external_references(html) == []
    # runs of one model and suite get a section and a heatmap each, named by their settings
    assert "<h2>random on small · 4 frames, uniform</h2>" in html and "<h2>random on small · 8 frames, uniform</h2>" in html
    assert len(list((tmp_path / "both").glob("heatmap-*.png"))) == 2
    # two runs on the same samples: their paired comparison, under the runs' table
    first, second = load_run(tmp_path / "f4"), load_run(tmp_path / "f8")
    compared = paired_comparison(first[1], second[1], seed_for("paired", *run_labels([first[0], second[0]])))
    assert "<h2>Paired comparison</h2>" in html and f"{100 * compared['low']:+.1f} to {100 * compared['high']:+.1f}" in html
    assert f"<td class=\"n\">{compared['samples']}</td>" in html and compared["samples"] == first[0]["overall"]["n"]


def test_circular_runs_report_plain_and_circular_accuracy_side_by_side(tmp_path):
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump({**SMALL_SUITE, "samples": 8}))
    result = evaluate(open_data(config, circular=True), create_adapter("random"), tmp_path / "run")
    assert result.metrics["overall"]["n"] == 8 and result.metrics["circular"]["questions"] == 8
    assert "circular %" in (tmp_path / "run" / "report.html").read_text()


def test_a_circular_build_holds_every_rotation_sharing_the_media(tmp_path):
    import datasets

    from mmhay.build import build_suite
    from mmhay.config import parse_suite

    out = tmp_path / "circular"
    build_suite(parse_suite({**SMALL_SUITE, "samples": 3}), out, circular=True)
    table = datasets.load_from_disk(str(out))["test"]
    assert len(table) == 12 and sorted(set(table["video"])) == [f"videos/00000{i}.mp4" for i in range(3)]
    first = [row for row in table if row["group"] == "small-000000"]
    assert [row["rotation"] for row in first] == [0, 1, 2, 3]
    rights = {row["options"]["ABCD".index(row["answer"])] for row in first}
    assert len(rights) == 1, "every rotation's answer is the same option"
    assert open_data(out).identity["circular"]


def test_eval_of_a_config_probes_each_source_file_once(tiny_qwen2_vl, counter_video, tmp_path, monkeypatch):
    """The report's failure pictures come from the samples eval already holds, not from reading a
    config's source folders again (hashing every haystack file twice); they are the pictures
    `mmhay report` makes by reading the data again."""
    import shutil

    from mmhay import timeline

    folder = tmp_path / "haystacks"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(counter_video, folder / name)
    config = tmp_path / "suite.yaml"
    config.write_text(yaml.safe_dump({**SMALL_SUITE, "samples": 6, "haystack": {"source": str(folder)}, "grid": {"length": [4], "depth": [0.0, 1.0]}}))
    hashed = []
    real = timeline.file_sha256
    monkeypatch.setattr(timeline, "file_sha256", lambda path: hashed.append(path.name) or real(path))
    run = tmp_path / "run"
    model = ["--model", f"hf:{tiny_qwen2_vl}", "--model-args", "max_new_tokens=4", "--frames", "4"]
    assert main(["eval", "--data", str(config), *model, "--out", str(run)]) == 0
    assert sorted(hashed) == ["a.mp4", "b.mp4"]
    pictures = re.findall(r"data:image/png;base64,[^'\"]+", (run / "report.html").read_text())
    assert len(pictures) >= 1 + 4, "a heatmap, and the frames of failures"
    assert main(["report", str(run), "--out", str(tmp_path / "again")]) == 0
    assert re.findall(r"data:image/png;base64,[^'\"]+", (tmp_path / "again" / "report.html").read_text()) == pictures
    assert main(["report", str(run), "--out", str(tmp_path / "small"), "--no-pictures"]) == 0
    html = (tmp_path / "small" / "report.html").read_text()
    plots = [path.name.split("-")[0] for path in (tmp_path / "small").glob("*.png")]
    assert sorted(plots) == ["exposure", "heatmap"], "the heatmap, and the three-panel exposure heatmaps"
    assert "Failures" in html and html.count("data:image/png;base64,") == len(plots)


# a suite of negative twins: 6 scenes, each asked about its shown needle and an absent look-alike
TWIN_SUITE = {
    "name": "twins",
    "seed": 3,
    "samples": 12,
    "task": "negative",
    "video": {"size": [64, 48], "fps": 4},
    "haystack": {"shot_seconds": [2, 3]},
    "grid": {"length": [4], "depth": [0.0, 1.0]},
}


@pytest.fixture(scope="module")
def twin_runs(tmp_path_factory):
    """Two runs of the random baseline (seeds 0 and 5) on the twin suite."""
    root = tmp_path_factory.mktemp("twins")
    config = root / "twins.yaml"
    config.write_text(yaml.safe_dump(TWIN_SUITE))
    for name, seed in (("a", "0"), ("b", "5")):
        evaluate(open_data(config), create_adapter("random", {"seed": seed}), root / name, EvalSettings(frames=2))
    return root


def test_twins_that_fail_together_widen_the_interval_and_the_metrics_say_how_it_was_made(twin_runs):
    metrics, records = load_run(twin_runs / "a")
    assert metrics["intervals"]["clusters"] == 6 and metrics["intervals"]["clusters_of_several"] == 6
    assert metrics["overall"]["clusters"] == 6 and metrics["by_task"]["negative"]["clusters"] == 6
    assert all(cell["clusters"] * 2 == cell["n"] for cell in metrics["grid"]["cells"].values())
    # a model that sees a scene or misses it: both twins right, or both wrong
    alike = [{**r, "correct": (r["index"] // 2) % 2 == 0} for r in records]
    summary = summarize(alike)
    overall = summary["overall"]
    low, high = bootstrap_interval([1.0 if r["correct"] else 0.0 for r in alike], seed_for("accuracy", "overall"))
    assert overall["accuracy"] == 0.5 and overall["high"] - overall["low"] > 1.2 * (high - low), (overall, low, high)
    # without the pairing (ids that share no scene) the interval is the independent one again
    apart = summarize([{**r, "asked_present": None} for r in alike])["overall"]
    assert (apart["low"], apart["high"], apart["clusters"]) == (round(low, 6), round(high, 6), 12)


def test_report_of_two_runs_compares_them_paired_and_says_when_they_share_no_sample(twin_runs, tmp_path, capsys):
    a, b = twin_runs / "a", twin_runs / "b"
    assert main(["report", str(a), str(b)]) == 0  # the page: test_report_compares_runs_and_plots_the_frame_budget
    printed = capsys.readouterr().out
    compared = paired_comparison(load_run(a)[1], load_run(b)[1], seed_for("paired", *run_labels([load_run(a)[0], load_run(b)[0]])))
    assert compared["first_accuracy"] == load_run(a)[0]["overall"]["accuracy"] and compared["second_accuracy"] == load_run(b)[0]["overall"]["accuracy"]
    assert "Paired comparison on 12 samples both runs scored (6 clusters):" in printed
    assert f"difference (first - second): {100 * compared['difference']:+.1f} points, 95% CI {100 * compared['low']:+.1f} to {100 * compared['high']:+.1f}" in printed
    assert f"McNemar (exact binomial): {compared['only_first_right']} right only in the first, {compared['only_second_right']} only in the second" in printed
    # the same ids for other samples (another seed of the suite), or no common id: shown side by side, unpaired
    for name, change in (("other-seed", lambda m, r: ({**m, "data": {**m["data"], "seed": 4}}, r)), ("other-ids", lambda m, r: (m, [{**x, "id": "x" + x["id"]} for x in r]))):
        other = tmp_path / name
        other.mkdir()
        changed, rows = change(*load_run(b))
        (other / "metrics.json").write_text(json.dumps(changed))
        (other / "samples.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        assert main(["report", str(a), str(other), "--out", str(tmp_path / f"no-{name}")]) == 0
        out, err = capsys.readouterr()
        assert f"no paired comparison: {other} shares no sample with {a}" in out and "Paired comparison" not in out, out
        assert (tmp_path / f"no-{name}" / "report.html").is_file()
