"""What mmhay reads cannot run code or reach outside its folder, and an API key goes nowhere but
the Authorization header. The decisions are written down in docs/safety.md."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import SMALL_SUITE

from mmhay.config import load_suite
from mmhay.errors import ConfigError, DatasetError

PACKAGE = Path(__file__).resolve().parents[1] / "mmhay"


def mmhay(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mmhay.cli", *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


def _one_line_error(result, *fragments):
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# Nothing in the package can execute what it reads.


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else f"{ast.unparse(func.value)}.{func.attr}" if isinstance(func, ast.Attribute) else ""
            yield node, name


def test_the_package_has_no_loader_that_can_run_code():
    """Every module, read as Python: no pickle, marshal or shelve; no eval/exec; YAML only through
    safe_load; torch.load only with weights_only=True; no trust_remote_code."""
    problems = []
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        where = path.relative_to(PACKAGE.parent)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                for name in names:
                    if name.split(".")[0] in ("pickle", "cPickle", "dill", "marshal", "shelve", "joblib", "cloudpickle"):
                        problems.append(f"{where}:{node.lineno}: imports {name}")
        for node, name in _calls(tree):
            keywords = {k.arg: k.value for k in node.keywords}
            if name in ("eval", "exec", "compile", "__import__"):
                problems.append(f"{where}:{node.lineno}: calls {name}()")
            if name.startswith("yaml.") and name not in ("yaml.safe_load", "yaml.safe_dump", "yaml.safe_load_all", "yaml.YAMLError"):
                problems.append(f"{where}:{node.lineno}: {name} (only yaml.safe_load reads YAML)")
            if name.endswith("torch.load") or name == "load" and "weights_only" in keywords:
                value = keywords.get("weights_only")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    problems.append(f"{where}:{node.lineno}: torch.load without weights_only=True")
            if "trust_remote_code" in keywords:
                problems.append(f"{where}:{node.lineno}: passes trust_remote_code")
            if name.endswith("np.load") or name.endswith("numpy.load"):
                value = keywords.get("allow_pickle")
                if value is not None and not (isinstance(value, ast.Constant) and value.value is False):
                    problems.append(f"{where}:{node.lineno}: np.load with allow_pickle")
    assert problems == []


def test_the_checker_above_finds_what_it_looks_for():
    """The AST walk catches each pattern (so the test above cannot pass by looking at nothing)."""
    code = "import pickle\nimport yaml, torch\nyaml.load(s)\ntorch.load(p)\neval('1')\nm.from_pretrained(p, trust_remote_code=True)\nmodel.eval()\n"
    found = [name for _, name in _calls(ast.parse(code))]
    assert {"yaml.load", "torch.load", "eval", "m.from_pretrained", "model.eval"} <= set(found)


def test_a_config_with_python_tags_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    config = tmp_path / "suite.yaml"
    config.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\nsamples: 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_suite(config)
    result = mmhay("build", config, "--out", tmp_path / "out")
    _one_line_error(result, "suite.yaml: line 1: invalid YAML")
    assert not marker.exists() and not (tmp_path / "out").exists()


# Built suites are untrusted input (they come from the Hub): rows and manifests cannot name
# files outside the suite's folder or smuggle text into the files mmhay writes.


def _tampered(built: Path, folder: Path, row: dict | None = None, manifest: dict | None = None) -> Path:
    """A copy of ``built`` with the first row's columns and the manifest's keys changed."""
    import datasets

    shutil.copytree(built, folder)
    if row:
        table = datasets.load_from_disk(str(built))["test"]
        table = table.map(lambda r, k: {**r, **row} if k == 0 else r, with_indices=True)
        staging = folder.parent / f"{folder.name}.staging"
        datasets.DatasetDict({"test": table}).save_to_disk(str(staging))
        shutil.rmtree(folder / "test")
        shutil.move(staging / "test", folder / "test")
        shutil.rmtree(staging)
    if manifest:
        path = folder / "manifest.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **manifest}))
    return folder


@pytest.mark.parametrize("video", ["../../../../etc/passwd", "/etc/passwd", "videos/../../outside.mp4"])
def test_export_refuses_a_row_whose_media_path_leaves_the_suite(built_small, tmp_path, video):
    suite = _tampered(built_small, tmp_path / "suite", row={"video": video})
    out = tmp_path / "task"
    result = mmhay("export", "lmms-eval", suite, "--out", out)
    _one_line_error(result, f"{suite}: a row's media path {video!r} leaves the suite's folder")
    assert not out.exists(), "nothing is written for a suite that is refused"


def test_the_exported_hooks_refuse_media_outside_the_suite(built_small, tmp_path):
    """lmms-eval reads the rows itself: the hooks check each path again, for every medium."""
    from mmhay.lmms_eval_task import doc_to_visual

    data = str(built_small)
    assert Path(doc_to_visual({"video": "videos/000000.mp4"}, data=data)[0]).is_file()
    for doc in (
        {"video": "/etc/passwd"},
        {"video": "../" * 8 + "etc/passwd"},
        {"images": [{"bytes": None, "path": "../../../etc/passwd"}]},
        {"images": [{"bytes": b"", "path": "/etc/passwd"}]},
    ):
        with pytest.raises(DatasetError, match="leaves the suite's folder"):
            doc_to_visual(doc, data=data)


@pytest.mark.parametrize(
    "manifest, fragment",
    [
        ({"suite": 'x""";__import__("os").system("touch PWNED");"""'}, "suite = "),
        ({"suite": "ok\ninclude: /etc/evil.yaml"}, "suite = "),
        ({"config_key": "abc\nprocess_results: !function utils.evil"}, "config_key = "),
        ({"samples": "12\nx: 1", "rows": "12\nx: 1"}, "the sample count is not a number"),
    ],
    ids=["python-in-the-name", "yaml-in-the-name", "yaml-in-the-key", "yaml-in-the-count"],
)
def test_export_refuses_a_manifest_that_would_write_code(built_small, tmp_path, manifest, fragment):
    """The task files quote the manifest in Python and YAML; a value that would break out is refused."""
    suite = _tampered(built_small, tmp_path / "suite", manifest=manifest)
    out = tmp_path / "task"
    result = mmhay("export", "lmms-eval", suite, "--out", out)
    _one_line_error(result, "manifest.json: ", fragment, "is not" if "count" not in fragment else "")
    assert not out.exists()


def test_the_exported_utils_quote_the_suite_inertly(built_small, tmp_path):
    """What is written is plain Python whose only code is the hooks: the suite name sits in a comment."""
    out = tmp_path / "task"
    assert mmhay("export", "lmms-eval", built_small, "--out", out).returncode == 0
    tree = ast.parse((out / "mmhay_small_utils.py").read_text())
    assigned = {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets}
    assert assigned == {"DATA", "doc_to_visual", "process_docs", "doc_to_text", "process_results", "mean_accuracy", "unparsed_rate"}
    assert not [node for node in tree.body if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant)]


def test_preview_refuses_a_sample_id_that_is_a_path(built_small, tmp_path):
    suite = _tampered(built_small, tmp_path / "suite", row={"id": "../../escaped"})
    out = tmp_path / "preview"
    result = mmhay("preview", suite, "--out", out)
    _one_line_error(result, "sample id '../../escaped' is not a file name")
    assert not (tmp_path / "escaped.png").exists() and not out.exists()
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.mp4"))


def test_a_built_suite_reads_its_media_from_its_own_folder_only(built_small, tmp_path):
    """A row's recipe may name any file (it records the builder's sources); reading the suite back
    opens only the suite's own files, named by the sample's index."""
    suite = _tampered(built_small, tmp_path / "suite", row={"video": "/etc/passwd"})
    from mmhay.build import iter_built_samples

    first = next(iter_built_samples(suite))
    (segment,) = first.media.segments
    assert Path(segment.ref.path).resolve().is_relative_to(suite.resolve())


# The API key: in the Authorization header, nowhere else.

SECRET = "sk-mmhay-safety-7f3a9c2e41d8b6"


class HostileServer:
    """A chat endpoint that quotes the key it is sent wherever it can: in error bodies (500, then
    a fatal 401), in a Retry-After header, and in the answers themselves."""

    def __init__(self):
        self.calls = 0
        self.answering = False
        self.authorizations: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                auth = self.headers.get("Authorization", "")
                key = auth.removeprefix("Bearer ")
                server.authorizations.add(auth)
                server.calls += 1
                if server.answering:
                    self._send(200, {"choices": [{"message": {"content": f"The answer is B. Your key is {key}."}}], "usage": {"total_tokens": 3}})
                elif server.calls == 1:
                    self._send(500, {"error": f"upstream failed for {auth}"})
                elif server.calls == 2:
                    self._send(429, {"error": f"slow down {key}"}, headers={"Retry-After": key})
                else:
                    self._send(401, {"error": {"message": f"Incorrect API key provided: {key}"}})

            def _send(self, status, payload, headers=None):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_api_key_reaches_the_server_and_no_file_log_or_message(built_small, tmp_path):
    server = HostileServer()
    env = {**os.environ, "MMHAY_SAFETY_KEY": SECRET}
    run, report = tmp_path / "run", tmp_path / "report"
    args = f"base_url={server.url},api_key_env=MMHAY_SAFETY_KEY,concurrency=1,max_retries=3,backoff=0.01,timeout=5"
    command = ["eval", "--model", "openai:hostile", "--model-args", args, "--data", built_small, "--out", run, "--limit", "3", "--frames", "2", "--log-samples"]
    try:
        failed = mmhay(*command, env=env)  # 500, 429, then a fatal 401: the run stops, keeping nothing secret
        server.answering = True
        finished = mmhay(*command, env=env)
        reported = mmhay("report", run, "--out", report, env=env)
    finally:
        server.close()
    assert server.authorizations == {f"Bearer {SECRET}"}, "the key was sent, and only as the bearer token"
    assert failed.returncode == 2 and "HTTP 401" in failed.stderr
    assert finished.returncode == 0, finished.stderr
    assert reported.returncode == 0, reported.stderr
    records = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["parsed"] == "B" for r in records), "the answers were read (with the key cut out)"
    written = [path for folder in (run, report) for path in folder.rglob("*") if path.is_file()]
    assert {"samples.jsonl", "metrics.json", "run.json", "report.html"} <= {path.name for path in written}
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), f"the key leaked into {path}"
    for result in (failed, finished, reported):
        assert SECRET not in result.stdout + result.stderr, "the key leaked into the command's output"
    # not even a piece of it (an error body cut short)
    for result in (failed, finished):
        assert SECRET[:12] not in result.stderr
