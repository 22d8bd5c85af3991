"""Options that are pictures (MM-NIAH's ``choices_image_path``, ``question.option_media: image``):
the picture at the answer's letter is the one pasted into the haystack image (found in the built
files' pixels at its box), rotations turn the pictures with the letters, and hf and API models
are shown them after the question, each at its letter, as MM-NIAH's ``utils/tools.py``
``get_input`` writes ``A. <image>``."""

import base64
import io
import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
from PIL import Image

from mmhay.adapters import create_adapter
from mmhay.build import build_suite, iter_built_samples
from mmhay.config import parse_suite
from mmhay.errors import ConfigError
from mmhay.evaluate import EvalSettings, evaluate, open_data
from mmhay.schema import rotations
from mmhay.verify import check_sample

K = 3  # options
SUITE = {
    "name": "docopts",
    "samples": 1,
    "generator": "document",
    "task": "retrieval_image",
    "image": {"cell": [64, 64]},
    "haystack": {"text": "builtin"},
    "needle": {"scale": 0.25},
    "question": {"options": K, "option_media": "image"},
    "grid": {"images": [2]},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A question and its rotations, through the project's build (PNG files, the dataset)."""
    out = tmp_path_factory.mktemp("docopts")
    build_suite(parse_suite(SUITE), out, circular=True)
    return out, list(iter_built_samples(out))


def _match(option: np.ndarray, image: np.ndarray, box) -> float:
    """How well an option picture, scaled to the pasted box, matches the image there (1: same)."""
    x, y, w, h = box
    small = cv2.resize(option, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    return float(cv2.matchTemplate(image[y : y + h, x : x + w].astype(np.float32), small, cv2.TM_CCOEFF_NORMED)[0, 0])


def test_the_picture_at_the_answer_is_the_pasted_one_and_turns_with_its_letter(built):
    out, rows = built
    assert len(rows) == K and {r.rotation for r in rows} == set(range(K))
    first = {}
    for row in rows:
        assert row.options == ("<image>",) * K and len(row.media.options) == K
        image_files = sorted(p.name for p in (out / "images").glob(f"{row.index:06d}-*.png"))
        assert len(image_files) == 2 + K  # the document's images, then the option pictures
        (needle,) = row.truth["needles"]
        image = row.media.render()[needle["image"] - 1]
        options = row.media.render_options()
        scores = [_match(o, image, needle["box"]) for o in options]
        right = ord(row.answer) - ord("A")
        assert scores[right] > 0.9 and max(s for k, s in enumerate(scores) if k != right) < scores[right] - 0.1, scores
        if row.rotation == 0:
            first[row.group] = options
    for row in rows:  # rotation r shows at letter i the picture rotation 0 showed at i - r
        for i, picture in enumerate(row.media.render_options()):
            assert np.array_equal(picture, first[row.group][(i - row.rotation) % K])
    assert check_sample(rows[1]) == []  # mmhay audit agrees, and finds a wrong picture at the letter
    wrong = replace(rows[1], answer=chr(ord("A") + (ord(rows[1].answer) - ord("A") + 1) % K))
    assert "option picture at" in " ".join(check_sample(wrong))
    # rotated at evaluation (``mmhay eval --circular`` of a build without rotations): the same
    turned = [r for row in rows if row.rotation == 0 for r in rotations(replace(row, group=""))]
    assert [(r.answer, [o.tiles[0] for o in r.media.options]) for r in turned] == [(r.answer, [o.tiles[0] for o in r.media.options]) for r in rows]


class Recorder:
    """A chat-completions endpoint on 127.0.0.1 that keeps every body it is sent and answers A."""

    def __init__(self):
        self.bodies, recorder = [], self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                recorder.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                payload = json.dumps({"choices": [{"message": {"content": "A"}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def _pixels(part) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(part["image_url"]["url"].split(",", 1)[1]))).convert("RGB"))


def test_an_api_model_is_sent_each_picture_after_its_letter(built, tmp_path, monkeypatch):
    out, rows = built
    server = Recorder()
    monkeypatch.setenv("MMHAY_TEST_KEY", "sk-test")
    model = create_adapter("openai:rec", {"base_url": server.url, "api_key_env": "MMHAY_TEST_KEY", "concurrency": "1", "image_format": "png"})
    try:
        evaluate(open_data(out), model, tmp_path / "run", EvalSettings(log_samples=True))
    finally:
        server.httpd.shutdown()
    # every rotation asked: the prompts' texts are alike, the cache key tells them apart by their pictures
    assert len(server.bodies) == len(rows)
    for body in server.bodies:
        parts = body["messages"][0]["content"]
        question = next(k for k, p in enumerate(parts) if p["type"] == "text" and "Which of these pictures" in p["text"])
        assert sum(p["type"] == "image_url" for p in parts[:question]) == 2  # the document's images first
        tail = parts[question:]  # then the question, each letter followed by its picture
        assert [p["type"] for p in tail] == ["text", "image_url"] * K + ["text"]
        assert tail[0]["text"].endswith("\nA. ") and [p["text"] for p in tail[2:-1:2]] == [f"\n{letter}. " for letter in "BC"]
        assert tail[-1]["text"].startswith("\nAnswer with the option's letter")
    sent = {r.id: r for r in rows}
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    for record in records:  # what was sent at the answer's letter is the pasted picture, in every rotation
        row = sent[record["id"]]
        assert record["input"].count("<image>") == 2 + K and record["input"].index("Which of these") < record["input"].index("A. \n<image>")
        body = next(b for b in server.bodies if _body_is(b, row))
        parts = body["messages"][0]["content"]
        options = [_pixels(p) for p in parts if p["type"] == "image_url"][2:]
        assert all(np.array_equal(a, b) for a, b in zip(options, row.media.render_options()))


def _body_is(body, row) -> bool:
    parts = body["messages"][0]["content"]
    options = [_pixels(p) for p in parts if p["type"] == "image_url"][2:]
    document = [_pixels(p) for p in parts if p["type"] == "image_url"][:2]
    return all(np.array_equal(a, b) for a, b in zip(document + options, row.media.render() + row.media.render_options()))


def test_an_hf_model_reads_the_pictures_after_the_question(built, tiny_qwen2_vl, tmp_path):
    out, rows = built
    model = create_adapter(f"hf:{tiny_qwen2_vl}", {"max_new_tokens": "2"})
    evaluate(open_data(out, limit=1), model, tmp_path / "run", EvalSettings(log_samples=True))
    (record,) = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    prompt = record["input"]
    picture = "<|vision_start|><|image_pad|><|vision_end|>"
    question = prompt.index("Which of these pictures is it?")
    assert prompt[:question].count(picture) == 2  # the document's images, before the question
    after = prompt[question:]
    assert after.count(picture) == K
    assert [after.index(f"{letter}. {picture}") for letter in "ABC"[:K]] == sorted(after.index(f"{letter}. {picture}") for letter in "ABC"[:K])
    assert record["usage"]["visual_tokens"] > 0


def test_picture_options_are_refused_where_no_question_has_them():
    with pytest.raises(ConfigError, match="question.option_media"):
        parse_suite({**SUITE, "task": "retrieval_text"})
    with pytest.raises(ConfigError, match="question.form: choice"):
        parse_suite({**SUITE, "question": {"form": "open", "option_media": "image"}})


def test_the_preview_shows_the_option_pictures_under_their_letters_the_answer_outlined(built):
    from mmhay.preview import NEEDLE_COLOR, _option_tiles

    sample = built[1][0]
    tiles = _option_tiles(sample)
    options = sample.media.render_options()
    assert len(tiles) == len(options) == len(sample.options)
    right = ord(sample.answer) - ord("A")
    for k, (tile, option) in enumerate(zip(tiles, options)):
        h, w = option.shape[:2]
        outlined = (tile[30 : 30 + h, 0] == NEEDLE_COLOR).all()
        assert outlined == (k == right)
        inner = tile[34 : 26 + h, 4 : w - 4]
        assert (inner == option[4:-4, 4:-4]).all()  # the option's own pixels, in letter order
