"""Bad configs, bad arguments and occupied output folders, through the real ``mmhay`` command:
each is one line on stderr naming the file or flag, the key and the value, exit code 2, no
traceback, and nothing written anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import SMALL_SUITE


def mmhay(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mmhay.cli", *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def _merged(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folders`` with its size and modification time."""
    seen = {}
    for folder in folders:
        for path in [folder, *folder.rglob("*")] if folder.exists() else []:
            stat = path.stat()
            seen[str(path)] = (stat.st_size if path.is_file() else -1, stat.st_mtime_ns)
    return seen


def _refused(result, *fragments):
    """Exit code 2, exactly one line on stderr holding every fragment, nothing on stdout."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), repr(result.stderr)  # no blank line either
    assert lines[0].startswith("mmhay"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""
    return lines[0]


def _run_refused(args, fragments, *watched: Path):
    before = _snapshot(*watched)
    line = _refused(mmhay(*args), *fragments)
    assert _snapshot(*watched) == before, "a refused command wrote or changed files"
    return line


# (id, changes to the small suite, fragments of the one line). The line reads
# "PATH/suite.yaml: KEY = VALUE: PROBLEM".
CONFIG_CASES = [
    ("samples-not-a-number", {"samples": "many"}, ["suite.yaml: samples = 'many': input should be a valid integer"]),
    ("samples-a-bool", {"samples": True}, ["suite.yaml: samples = True: input should be a valid integer"]),
    ("samples-a-fraction", {"samples": 2.5}, ["suite.yaml: samples = 2.5:"]),
    ("samples-zero", {"samples": 0}, ["suite.yaml: samples = 0: input should be greater than or equal to 1"]),
    ("samples-negative", {"samples": -3}, ["suite.yaml: samples = -3: input should be greater than or equal to 1"]),
    ("seed-negative", {"seed": -1}, ["suite.yaml: seed = -1: input should be greater than or equal to 0"]),
    ("name-a-list", {"name": [1, 2]}, ["suite.yaml: name = [1, 2]: input should be a valid string"]),
    ("name-a-path", {"name": "../escape"}, ["suite.yaml: name = '../escape': string should match pattern"]),
    ("section-a-list", {"video": [1, 2]}, ["suite.yaml: video = [1, 2]: input should be a valid dictionary"]),
    ("fps-a-word", {"video": {"fps": "fast"}}, ["suite.yaml: video.fps = 'fast': input should be a valid integer"]),
    ("fps-zero", {"video": {"fps": 0}}, ["suite.yaml: video.fps = 0: input should be greater than or equal to 1"]),
    ("size-odd", {"video": {"size": [129, 72]}}, ["suite.yaml: video.size = [129, 72]: width and height must both be even"]),
    ("size-one-number", {"video": {"size": 128}}, ["suite.yaml: video.size = 128: input should be a valid tuple"]),
    ("length-zero", {"grid": {"length": [4, 0]}}, ["suite.yaml: grid.length[1] = 0: input should be greater than 0"]),
    ("length-negative", {"grid": {"length": [-8]}}, ["suite.yaml: grid.length[0] = -8: input should be greater than 0"]),
    ("length-infinite", {"grid": {"length": [float("inf")]}}, ["suite.yaml: grid.length[0] = inf: input should be a finite number"]),
    ("length-not-a-number", {"grid": {"length": [float("nan")]}}, ["suite.yaml: grid.length[0] = nan: input should be a finite number"]),
    ("length-a-word", {"grid": {"length": ["long"]}}, ["suite.yaml: grid.length[0] = 'long': input should be a valid number"]),
    ("length-absurd", {"grid": {"length": [1e12]}}, ["suite.yaml: grid.length[0] = 1000000000000.0: input should be less than or equal to 86400"]),
    ("length-frames-zero", {"grid": {"length": None, "length_frames": [0]}}, ["suite.yaml: grid.length_frames[0] = 0: input should be greater than or equal to 1"]),
    ("length-both-ways", {"grid": {"length_frames": [40]}}, ["suite.yaml: grid: give length (seconds) or length_frames, not both"]),
    ("length-empty", {"grid": {"length": []}}, ["suite.yaml: grid.length = []: list should have at least 1 item"]),
    ("needle-duration-zero", {"needle": {"duration": 0}}, ["suite.yaml: needle.duration = 0: input should be greater than 0"]),
    ("needle-duration-negative", {"needle": {"duration": -1}}, ["suite.yaml: needle.duration = -1: input should be greater than 0"]),
    (
        "needle-longer-than-haystack",
        {"needle": {"duration": 6}},
        ["suite.yaml: needle.duration = 6.0: a needle of 6 s is longer than the 4 s haystack of grid.length[0]"],
    ),
    (
        "grid-needle-longer-than-haystack",
        {"grid": {"needle_duration": [1, 9]}},
        ["suite.yaml: grid.needle_duration[1] = 9.0: a needle of 9 s is longer than the 4 s haystack of grid.length[0]"],
    ),
    ("depth-above-one", {"grid": {"depth": [0.0, 0.5, 1.0, 1.4]}}, ["suite.yaml: grid.depth[3] = 1.4: depth must be within 0..1"]),
    ("depth-below-zero", {"grid": {"depth": [-0.1]}}, ["suite.yaml: grid.depth[0] = -0.1: depth must be within 0..1"]),
    ("depth-a-word", {"grid": {"depth": ["middle"]}}, ["suite.yaml: grid.depth[0] = 'middle': input should be a valid number"]),
    (
        "more-needles-than-fit",
        {"task": "counting", "grid": {"length": [4], "depth": None, "needles": [20]}},
        ["suite.yaml: grid: a 4 s haystack has no room for 20 needles"],
    ),
    ("needles-above-the-cap", {"task": "counting", "grid": {"needles": [51]}}, ["suite.yaml: grid.needles[0] = 51: input should be less than or equal to 50"]),
    ("shots-of-no-length", {"haystack": {"shot_seconds": [0, 4]}}, ["suite.yaml: haystack.shot_seconds = [0, 4]: must be [low, high] with 0 < low <= high"]),
    ("shots-reversed", {"haystack": {"shot_seconds": [4, 2]}}, ["suite.yaml: haystack.shot_seconds = [4, 2]: must be [low, high]"]),
    ("grid-a-word", {"grid": "big"}, ["suite.yaml: grid = 'big': input should be a valid dictionary"]),
    ("options-one", {"question": {"options": 1}}, ["suite.yaml: question.options = 1: input should be greater than or equal to 2"]),
    ("scale-zero", {"needle": {"scale": 0}}, ["suite.yaml: needle.scale = 0: scale must be within 0.01..1"]),
    ("unknown-nested-key", {"needle": {"durtion": 2}}, ["suite.yaml: needle.durtion: unknown key; expected one of:", "duration"]),
    ("unknown-task", {"task": "nope"}, ["suite.yaml: task = 'nope': unknown task; known:", "retrieval"]),
    ("unknown-grid-task", {"grid": {"task": ["retrieval", "nope"]}}, ["suite.yaml: grid.task[1] = 'nope': unknown task"]),
    ("unknown-generator", {"generator": "nope"}, ["suite.yaml: generator = 'nope': unknown generator; known:"]),
    ("insertion-unknown", {"needle": {"insertion": "splice"}}, ["suite.yaml: needle.insertion"]),
    ("missing-name", {"name": None}, ["suite.yaml: name = None: input should be a valid string"]),
    ("needles-zero-not-counting", {"grid": {"needles": [0]}}, ["suite.yaml: grid.needles[0] = 0: a count of 0 is asked by the counting tasks only", "retrieval shows at least one needle"]),
    (
        "document-text-missing",
        {"generator": "document", "task": "retrieval_text", "haystack": {"text": "no_such_folder"}},
        ["suite.yaml: haystack.text = 'no_such_folder': no such file or folder"],
    ),
]


@pytest.mark.parametrize("changes, fragments", [pytest.param(c, f, id=i) for i, c, f in CONFIG_CASES])
def test_a_bad_config_is_refused_by_build_in_one_line(tmp_path, changes, fragments):
    config = tmp_path / "suite.yaml"
    config.write_text(yaml.safe_dump(_merged(SMALL_SUITE, changes)))
    line = _run_refused(["build", config, "--out", tmp_path / "out"], fragments, tmp_path)
    assert str(config) in line  # the path as given, so the user can open it
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("changes, fragments", [pytest.param(c, f, id=i) for i, c, f in CONFIG_CASES[::6]])
def test_a_bad_config_is_refused_by_eval_preview_and_audit_alike(tmp_path, changes, fragments):
    config = tmp_path / "suite.yaml"
    config.write_text(yaml.safe_dump(_merged(SMALL_SUITE, changes)))
    _run_refused(["eval", "--model", "random", "--data", config, "--out", tmp_path / "run"], fragments, tmp_path)
    _run_refused(["preview", config, "--out", tmp_path / "preview"], fragments, tmp_path)
    _run_refused(["audit", config], fragments, tmp_path)


@pytest.mark.parametrize(
    "text, fragments",
    [
        pytest.param("", ["suite.yaml: must be a mapping of keys to values, not NoneType"], id="empty"),
        pytest.param("- 1\n- 2\n", ["suite.yaml: must be a mapping of keys to values, not list"], id="a-list"),
        pytest.param("just words\n", ["suite.yaml: must be a mapping of keys to values, not str"], id="a-word"),
        pytest.param("name: [unclosed\n", ["suite.yaml: line 2: invalid YAML"], id="broken-yaml"),
        pytest.param("name: a\n\tsamples: 3\n", ["suite.yaml: line 2: invalid YAML"], id="tab-indented"),
        pytest.param("!!python/object/apply:os.system ['echo pwned']\n", ["suite.yaml: line 1: invalid YAML", "could not determine a constructor"], id="python-tag"),
        pytest.param("name: !!binary aGVsbG8=\n", ["suite.yaml: name = b'hello': input should be a valid string"], id="bytes"),
    ],
)
def test_a_config_that_is_not_a_suite_mapping_is_refused(tmp_path, text, fragments):
    config = tmp_path / "suite.yaml"
    config.write_text(text)
    _run_refused(["build", config, "--out", tmp_path / "out"], fragments, tmp_path)


def test_a_config_file_that_is_missing_unreadable_or_binary_is_refused(tmp_path):
    _run_refused(["build", tmp_path / "absent.yaml", "--out", tmp_path / "out"], ["absent.yaml: no such config file"], tmp_path)
    _run_refused(["build", tmp_path, "--out", tmp_path / "out"], [f"{tmp_path}: not a file"], tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80")
    _run_refused(["build", binary, "--out", tmp_path / "out"], ["binary.yaml: cannot read"], tmp_path)


@pytest.fixture
def good_config(tmp_path) -> Path:
    config = tmp_path / "suite.yaml"
    config.write_text(yaml.safe_dump({**SMALL_SUITE, "samples": 2}))
    return config


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--limit", "-1"], ["mmhay build: error: argument --limit: -1 must be at least 1"]),
        (["--limit", "0"], ["argument --limit: 0 must be at least 1"]),
        (["--limit", "two"], ["argument --limit: 'two' is not an integer"]),
        (["--num-proc", "0"], ["argument --num-proc: 0 must be at least 1"]),
        (["--seed", "-5"], ["argument --seed: -5 must be at least 0"]),
        (["--bogus"], ["unrecognized arguments: --bogus"]),
    ],
    ids=["limit-negative", "limit-zero", "limit-word", "num-proc-zero", "seed-negative", "unknown-flag"],
)
def test_bad_build_arguments_are_one_line(tmp_path, good_config, flags, fragments):
    _run_refused(["build", good_config, "--out", tmp_path / "out", *flags], fragments, tmp_path)


def test_a_missing_argument_and_an_unknown_command_are_one_line(tmp_path):
    _run_refused(["build", tmp_path / "x.yaml"], ["mmhay build: error: the following arguments are required: --out"], tmp_path)
    _run_refused(["eval", "--data", tmp_path], ["the following arguments are required: --model, --out"], tmp_path)
    _run_refused(["frobnicate"], ["mmhay: error: argument COMMAND: invalid choice: 'frobnicate'"], tmp_path)
    _run_refused(["export", "csv", tmp_path, "--out", tmp_path / "t"], ["argument format: invalid choice: 'csv'"], tmp_path)


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--frames", "-3"], ["mmhay eval: error: argument --frames: -3 must be at least 1"]),
        (["--frames", "0"], ["argument --frames: 0 must be at least 1"]),
        (["--batch-size", "-1"], ["argument --batch-size: -1 must be at least 1"]),
        (["--limit", "-2"], ["argument --limit: -2 must be at least 1"]),
        (["--seed", "-1"], ["argument --seed: -1 must be at least 0"]),
        (["--model", "gpt9"], ["--model = 'gpt9': unknown adapter; known: hf, openai, random"]),
        (["--model", "hf:/no/such/checkpoint"], ["/no/such/checkpoint: no such checkpoint directory"]),
        (["--model-args", "pretrained"], ["--model-args: expected key=value pairs separated by commas, got 'pretrained'"]),
        (["--model-args", "=3"], ["--model-args: expected key=value pairs"]),
        (["--sampler", "nope"], ["--sampler = 'nope': unknown sampler; known:", "uniform"]),
        (["--sampler", "uniform:bogus=1"], ["--sampler", "bogus"]),
        (["--sampler", "fps:rate=-1"], ["--sampler: fps", "needs rate > 0"]),
        (["--sampler", "uniform:mode=sideways"], ["--sampler: mode = 'sideways': must be middle, linspace or linspace_int"]),
        (["--sampler", "uniform:scale=20"], ["--sampler: scale = 20.0: must be within 1..8"]),
        (["--compress", "spatial_pool:k=2"], ["--compress = 'spatial_pool:k=2': random takes no visual-token compression"]),
        (["--tasks", "nope"], ["--tasks: nope: no sample of", "has this task; it has: retrieval"]),
    ],
    ids=[
        "frames-negative",
        "frames-zero",
        "batch-size-negative",
        "limit-negative",
        "seed-negative",
        "unknown-model",
        "missing-checkpoint",
        "model-args-no-equals",
        "model-args-no-key",
        "unknown-sampler",
        "sampler-unknown-option",
        "sampler-option-out-of-range",
        "sampler-option-not-a-mode",
        "sampler-scale-out-of-range",
        "compress-on-a-baseline",
        "unknown-task",
    ],
)
def test_bad_eval_arguments_are_one_line_and_write_no_run(tmp_path, built_small, flags, fragments):
    args = {"--model": "random", "--data": built_small, "--out": tmp_path / "run"}
    extra = []
    for flag, value in zip(flags[::2], flags[1::2]):
        if flag in args:
            args[flag] = value
        else:
            extra += [flag, value]
    command = ["eval", *[part for pair in args.items() for part in pair], *extra]
    _run_refused(command, fragments, tmp_path, built_small)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "make, fragments",
    [
        (lambda tmp: tmp / "absent", ["absent: no such directory"]),
        (lambda tmp: (tmp / "a-file.txt").write_text("x") and tmp / "a-file.txt", ["a-file.txt: not a directory"]),
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", ["empty: not a built mmhay suite (no manifest.json); run `mmhay build` first"]),
        (lambda tmp: (tmp / "other.yml").write_text("name: [") and tmp / "other.yml", ["other.yml: line 1: invalid YAML"]),
    ],
    ids=["missing", "a-file", "not-a-suite", "broken-config"],
)
def test_bad_data_paths_are_one_line(tmp_path, make, fragments):
    data = make(tmp_path)
    _run_refused(["eval", "--model", "random", "--data", data, "--out", tmp_path / "run"], fragments, tmp_path)
    _run_refused(["audit", data], fragments, tmp_path)
    _run_refused(["export", "lmms-eval", data, "--out", tmp_path / "task"], fragments[:1] if data.suffix != ".yml" else ["other.yml: not a directory"], tmp_path)


def test_a_corrupt_manifest_is_one_line(tmp_path):
    (tmp_path / "built").mkdir()
    (tmp_path / "built" / "manifest.json").write_text("{not json")
    _run_refused(["eval", "--model", "random", "--data", tmp_path / "built", "--out", tmp_path / "run"], ["manifest.json: unreadable manifest"], tmp_path)


def test_bad_preview_audit_export_list_and_tiny_model_arguments_are_one_line(tmp_path, built_small):
    _run_refused(["preview", built_small, "--index", "-1", "--out", tmp_path / "p"], ["argument --index: -1 must be at least 0"], tmp_path)
    _run_refused(["preview", built_small, "--index", "12", "--out", tmp_path / "p"], ["--index = 12: the suite has samples 0..11"], tmp_path, built_small)
    _run_refused(["preview", built_small, "--frames", "0", "--out", tmp_path / "p"], ["argument --frames: 0 must be at least 1"], tmp_path)
    _run_refused(["audit", built_small, "--recheck", "-1"], ["argument --recheck: -1 must be at least 0"], tmp_path)
    _run_refused(["export", "lmms-eval", built_small, "--out", tmp_path / "t", "--max-new-tokens", "0"], ["argument --max-new-tokens: 0 must be at least 1"], tmp_path)
    _run_refused(["export", "lmms-eval", built_small, "--out", tmp_path / "t", "--task", "9lives"], ["--task = '9lives': must be letters, digits and underscores"], tmp_path)
    _run_refused(["list", "widgets"], ["list = 'widgets': unknown kind; known:"], tmp_path)
    _run_refused(["tiny-model", "gpt9", "--out", tmp_path / "m"], ["gpt9"], tmp_path)
    _run_refused(["report", tmp_path / "no-run"], ["no-run"], tmp_path)


# An --out that holds something else: a file, a folder of other things, another job's output.


def _foreign_file(out: Path) -> None:
    out.write_text("my notes\n")


def _foreign_folder(out: Path) -> None:
    out.mkdir()
    (out / "thesis.tex").write_text("\\documentclass{article}\n")


@pytest.mark.parametrize(
    "occupy, fragments",
    [(_foreign_file, ["exists and is not a directory"]), (_foreign_folder, ["exists and is not an mmhay build; choose a new or empty folder"])],
    ids=["a-file", "a-folder-of-other-things"],
)
def test_build_refuses_an_out_that_holds_something_else(tmp_path, good_config, occupy, fragments):
    out = tmp_path / "out"
    occupy(out)
    _run_refused(["build", good_config, "--out", out], [f"{out}: ", *fragments], tmp_path)


def test_build_refuses_an_out_that_holds_another_build(tmp_path, built_small):
    config = tmp_path / "suite.yaml"
    config.write_text(yaml.safe_dump({**SMALL_SUITE, "seed": SMALL_SUITE["seed"] + 1}))
    _run_refused(["build", config, "--out", built_small], [f"{built_small}: holds a build of another config or seed"], tmp_path, built_small)


@pytest.mark.parametrize(
    "occupy, fragments",
    [(_foreign_file, ["exists and is not a directory"]), (_foreign_folder, ["exists and is not an mmhay run; choose a new or empty folder"])],
    ids=["a-file", "a-folder-of-other-things"],
)
def test_eval_refuses_an_out_that_holds_something_else(tmp_path, built_small, occupy, fragments):
    out = tmp_path / "run"
    occupy(out)
    _run_refused(["eval", "--model", "random", "--data", built_small, "--out", out], [f"{out}: ", *fragments], tmp_path, built_small)


def test_eval_refuses_an_out_that_holds_another_run_or_a_build(tmp_path, built_small):
    run = tmp_path / "run"
    first = mmhay("eval", "--model", "random", "--data", built_small, "--out", run, "--limit", "2")
    assert first.returncode == 0, first.stderr
    assert json.loads((run / "run.json").read_text())["model"]["name"] == "random"
    _run_refused(["eval", "--model", "random", "--data", built_small, "--out", run, "--limit", "2", "--frames", "4"], [f"{run}: holds a run of another model, data or settings"], tmp_path, built_small)
    _run_refused(["eval", "--model", "random", "--data", built_small, "--out", built_small], [f"{built_small}: exists and is not an mmhay run"], tmp_path, built_small)


def test_preview_and_export_refuse_an_out_that_is_a_file(tmp_path, built_small):
    out = tmp_path / "out"
    _foreign_file(out)
    _run_refused(["preview", built_small, "--out", out], [f"{out}: exists and is not a directory"], tmp_path, built_small)
    _run_refused(["export", "lmms-eval", built_small, "--out", out], [f"{out}: exists and is not a directory"], tmp_path, built_small)


def test_eval_refuses_a_cache_that_is_not_one_before_making_the_run(tmp_path, built_small):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    run = tmp_path / "run"
    _run_refused(["eval", "--model", "random", "--data", built_small, "--out", run, "--cache", notes], [f"{notes}: is not a response cache"], tmp_path, built_small)
    _run_refused(["eval", "--model", "random", "--data", built_small, "--out", run, "--cache", tmp_path], [f"{tmp_path}: is a directory, not a response cache file"], tmp_path, built_small)
    assert not run.exists()
