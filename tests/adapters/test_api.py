"""The OpenAI-compatible adapter against a real HTTP server on 127.0.0.1, failures injected."""

import hashlib
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mmhay.adapters import create_adapter
from mmhay.cli import main
from mmhay.errors import ConfigError, ModelError
from mmhay.evaluate import EvalSettings, evaluate, open_data

SECRET = "sk-test-0123456789-secret"


class ScriptedServer:
    """A chat-completions endpoint that answers "The answer is B.", counts what it is sent, and
    fails as scripted: ``script[n]`` is what the n-th call (from 1) gets: 429, 500 or "hang"."""

    def __init__(self, script=None, fail_after=None):
        self.script = dict(script or {})
        self.fail_after = fail_after  # every call after this many answers gets a 500
        self.lock = threading.Lock()
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0  # requests being answered at once (a hung one counts until its client gives up)
        self.answered: list[str] = []  # digest of each request answered
        self.authorizations: set[str] = set()
        self.image_sizes: list[tuple[int, int]] = []  # (w, h) of every picture received
        self.bodies: list[dict] = []  # every request body received
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.calls += 1
                    call = server.calls
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                    server.authorizations.add(self.headers["Authorization"])
                    server.bodies.append(body)
                    failing = server.fail_after is not None and len(server.answered) >= server.fail_after
                try:
                    time.sleep(0.05)  # long enough for concurrent requests to overlap
                    plan = 500 if failing else server.script.get(call)
                    if plan == "hang":
                        time.sleep(0.45)
                        with server.lock:  # the client gives up at 0.5 s and stops waiting
                            server.in_flight -= 1
                        time.sleep(0.55)
                        with server.lock:
                            server.in_flight += 1
                        return
                    if plan in (429, 500):
                        self.send_response(plan)
                        if plan == 429:
                            self.send_header("Retry-After", "0")
                        self.end_headers()
                        self.wfile.write(b'{"error": "scripted"}')
                        return
                    if plan == 401:
                        self.send_response(401)
                        self.end_headers()
                        self.wfile.write(f'{{"error": "bad key {self.headers["Authorization"]}"}}'.encode())
                        return
                    parts = body["messages"][-1]["content"]  # the user's turn, after any system prompt
                    images = sum(part["type"] == "image_url" for part in parts)
                    with server.lock:
                        server.image_sizes += [_picture_size(part["image_url"]["url"]) for part in parts if part["type"] == "image_url"]
                    with server.lock:
                        server.answered.append(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest())
                    reply = {
                        "choices": [{"message": {"role": "assistant", "content": "The answer is B."}}],
                        "usage": {"prompt_tokens": 10 + 100 * images, "completion_tokens": 5, "total_tokens": 15 + 100 * images},
                    }
                    payload = json.dumps(reply).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _picture_size(url: str) -> tuple[int, int]:
    import base64
    import io

    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("MMHAY_TEST_KEY", SECRET)
    return "MMHAY_TEST_KEY"


def _model(server, key, **extra):
    args = {"base_url": server.url, "api_key_env": key, "concurrency": "4", "timeout": "0.5", "backoff": "0.01", "max_retries": "3"}
    return create_adapter("openai:scripted", {**args, **{k: str(v) for k, v in extra.items()}})


def _files_under(folder):
    return [path for path in folder.rglob("*") if path.is_file()]


def test_answers_come_back_through_retries_with_usage_and_the_key_kept_secret(built_small, key, tmp_path, caplog):
    server = ScriptedServer(script={2: 429, 4: 500, 6: "hang"})
    try:
        caplog.set_level(logging.DEBUG)
        run = tmp_path / "run"
        result = evaluate(open_data(built_small), _model(server, key), run, EvalSettings(frames=3, log_samples=True))
    finally:
        server.close()
    assert result.asked == 12 and result.metrics["overall"]["n"] == 12
    assert len(server.answered) == 12 and server.calls == 15, "three scripted failures, each tried again"
    assert 2 <= server.most_in_flight <= 4, "requests run concurrently, never more than the limit"
    assert server.authorizations == {f"Bearer {SECRET}"}
    records = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    for record in records:
        assert record["output"] == "The answer is B." and record["parsed"] == "B"
        assert record["usage"] == {"prompt_tokens": 310, "completion_tokens": 5, "total_tokens": 315}, "3 frames as 3 images"
        assert record["input"].count("<image>") == 3 and "frames of a" in record["input"]
    for path in _files_under(run):
        assert SECRET.encode() not in path.read_bytes(), f"the key leaked into {path.name}"
    assert SECRET not in caplog.text


def test_a_run_whose_endpoint_fails_midway_keeps_its_answers_and_resumes(built_small, key, tmp_path):
    run = tmp_path / "run"
    server = ScriptedServer(fail_after=5)
    try:
        with pytest.raises(ModelError, match="run the same command again"):
            evaluate(open_data(built_small), _model(server, key, max_retries=1, concurrency=2), run, EvalSettings(frames=2, batch_size=4))
        kept = (run / "samples.jsonl").read_text().splitlines()
        assert len(kept) == 6, "the second batch of 4 failed in part and kept the 2 answers it had"
        server.fail_after = None
        result = evaluate(open_data(built_small), _model(server, key, max_retries=1, concurrency=2), run, EvalSettings(frames=2, batch_size=4))
    finally:
        server.close()
    assert result.metrics["overall"]["n"] == 12 and result.asked == 12 - len(kept)
    assert len(server.answered) == len(set(server.answered)), "no request was answered twice"
    assert result.asked + result.cached + result.reused == 12


def test_a_rejected_key_fails_at_once_without_showing_it(built_small, key, tmp_path):
    server = ScriptedServer(script={n: 401 for n in range(1, 50)})
    try:
        with pytest.raises(ModelError) as failure:
            evaluate(open_data(built_small, limit=2), _model(server, key), tmp_path / "run", EvalSettings(frames=1))
    finally:
        server.close()
    assert "HTTP 401" in str(failure.value) and SECRET not in str(failure.value)
    assert server.calls == 2, "a 401 is not retried"


def test_the_command_line_names_a_missing_key(built_small, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    code = main(["eval", "--model", "openai:gpt", "--model-args", "api_key_env=NO_SUCH_KEY_VAR", "--data", str(built_small), "--out", str(tmp_path / "r")])
    assert code == 2
    assert "NO_SUCH_KEY_VAR is not set" in capsys.readouterr().err


def test_what_an_api_model_was_shown_is_measured_at_the_size_it_was_sent(built_small, key, tmp_path):
    """``image_max_side`` shrinks 128 x 72 frames to 64 x 36: a full-frame needle is 36 px high
    at the model's input, as the pictures the server decoded are."""
    server = ScriptedServer()
    try:
        evaluate(open_data(built_small), _model(server, key, image_max_side=64), tmp_path / "run", EvalSettings(frames=6))
    finally:
        server.close()
    assert set(server.image_sizes) == {(64, 36)}
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    heights = [h for r in records for needle in r["exposure"]["needles"] for h in needle["height_px"]]
    assert heights and set(heights) == {36.0}
    assert sum(r["exposure"]["shown"] is True for r in records) >= 1


def test_the_system_prompt_and_gen_kwargs_reach_the_endpoint_and_the_logged_input(built_small, key, tmp_path, quick_runs):
    server = ScriptedServer()
    system = "You are a careful judge of videos."
    settings = EvalSettings(frames=2, log_samples=True, system_prompt=system, gen_kwargs={"max_new_tokens": 7, "top_p": 0.5, "do_sample": False})
    try:
        evaluate(open_data(built_small, limit=2), _model(server, key, temperature=0.7), tmp_path / "run", settings)
        with pytest.raises(ConfigError, match="num_beams: has no field in the chat completions API"):
            evaluate(open_data(built_small, limit=2), _model(server, key), tmp_path / "beams", EvalSettings(frames=2, gen_kwargs={"num_beams": 3}))
    finally:
        server.close()
    assert len(server.bodies) == 2, "the refused setting asked nothing"
    for body in server.bodies:
        assert body["messages"][0] == {"role": "system", "content": system} and body["messages"][1]["role"] == "user"
        assert (body["max_tokens"], body["top_p"], body["temperature"]) == (7, 0.5, 0.0) and "seed" not in body, "do_sample=false: temperature 0"
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert all(record["input"].startswith(f"[system]\n{system}\n[user]\n") for record in records)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["settings"]["system_prompt"] == system and run["settings"]["gen_kwargs"]["max_new_tokens"] == 7
