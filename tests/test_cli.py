import json
import subprocess
import sys

import pytest
import yaml
from conftest import SMALL_SUITE
from counter_video import write_counter_video


def mmhay(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mmhay.cli", *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd)


def _config(tmp_path, **changes):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({**SMALL_SUITE, **changes}))
    return path


def _one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_missing_haystack_directory_is_one_line_and_writes_nothing(tmp_path):
    config = _config(tmp_path, haystack={"source": "no_such_videos"})
    result = mmhay("build", config, "--out", tmp_path / "out")
    _one_line_error(result, "suite.yaml: haystack.source = 'no_such_videos': directory does not exist")
    assert not (tmp_path / "out").exists()


def test_a_config_typo_is_one_line_and_writes_nothing(tmp_path):
    config = _config(tmp_path, smaples=3)
    result = mmhay("build", config, "--out", tmp_path / "out")
    _one_line_error(result, "suite.yaml: smaples: unknown key; expected one of:", "samples")
    assert not (tmp_path / "out").exists()


def test_a_missing_data_directory_is_one_line(tmp_path):
    result = mmhay("eval", "--model", "random", "--data", tmp_path / "absent", "--out", tmp_path / "run")
    _one_line_error(result, "absent: no such directory")
    assert not (tmp_path / "run").exists()


def test_a_missing_checkpoint_is_one_line(tmp_path, built_small):
    result = mmhay("eval", "--model", f"hf:{tmp_path}/nothing-here", "--data", built_small, "--out", tmp_path / "run")
    _one_line_error(result, "nothing-here: no such checkpoint directory")
    assert not (tmp_path / "run").exists()


def test_an_unknown_model_lists_the_known_ones(tmp_path, built_small):
    result = mmhay("eval", "--model", "gpt9", "--data", built_small, "--out", tmp_path / "run")
    _one_line_error(result, "unknown adapter; known: hf, openai, random")


def test_a_corrupt_haystack_video_is_skipped_with_a_warning_or_fails_when_strict(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_counter_video(videos / "good.mp4", [k * 100 for k in range(50)])
    (videos / "corrupt.mp4").write_bytes(b"\x00" * 4096)
    config = _config(tmp_path, haystack={"source": "videos"}, samples=2)
    strict = mmhay("build", config, "--out", tmp_path / "strict", "--strict")
    _one_line_error(strict, "corrupt.mp4")
    assert not (tmp_path / "strict").exists()
    lenient = mmhay("build", config, "--out", tmp_path / "out")
    assert lenient.returncode == 0, lenient.stderr
    warnings = [line for line in lenient.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "corrupt.mp4" in warnings[0]
    assert "built 2 samples" in lenient.stdout


def test_build_then_eval_prints_results_and_paths(tmp_path):
    config = _config(tmp_path, samples=4)
    built = mmhay("build", config, "--out", tmp_path / "data", "--limit", "3")
    assert built.returncode == 0, built.stderr
    assert "built 3 samples" in built.stdout
    run = mmhay("eval", "--model", "random", "--data", tmp_path / "data", "--out", tmp_path / "run")
    assert run.returncode == 0, run.stderr
    assert "random" in run.stdout and "accuracy %" in run.stdout
    assert f"{tmp_path / 'run'}/metrics.json" in run.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["overall"]["n"] == 3
    report = mmhay("report", tmp_path / "run", tmp_path / "run")
    assert report.returncode == 0 and report.stdout.count("random") == 2


def test_list_shows_the_registries():
    result = mmhay("list")
    assert result.returncode == 0
    for expected in ("samplers:", "uniform", "adapters:", "hf", "random", "tasks:", "retrieval", "generators:", "video"):
        assert expected in result.stdout
    samplers = mmhay("list", "samplers").stdout
    assert samplers.startswith("samplers:\n") and "\n  uniform " in samplers and "\n  keyclip " in samplers
    _one_line_error(mmhay("list", "widgets"), "unknown kind")


@pytest.mark.parametrize("module", ["mmhay", "mmhay.cli"])
def test_importing_stays_light(module):
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'transformers', 'datasets', 'av', 'cv2') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_preview_writes_a_video_and_an_outlined_contact_sheet(tmp_path):
    import numpy as np
    from PIL import Image

    from mmhay.preview import NEEDLE_COLOR

    config = _config(tmp_path, needle={"insertion": "overlay", "duration": 1.5}, grid={"length": [8], "distractors": [1]})
    result = mmhay("preview", config, "--index", "2", "--out", tmp_path / "look")
    assert result.returncode == 0, result.stderr
    assert "needle:" in result.stdout and "distractor:" in result.stdout and "answer:" in result.stdout
    files = sorted(p.name for p in (tmp_path / "look").iterdir())
    assert files == ["small-000002.json", "small-000002.mp4", "small-000002.png"]
    sheet = np.asarray(Image.open(tmp_path / "look" / "small-000002.png").convert("RGB"))
    assert (sheet == NEEDLE_COLOR).all(axis=2).sum() > 100, "the needle is outlined in red"
    _one_line_error(mmhay("preview", config, "--index", "99", "--out", tmp_path / "x"), "--index = 99: the suite has samples 0..11")
