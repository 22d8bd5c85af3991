"""MM-NIAH's shapes (mmhay/generators/document.py): needle sentences found in the prompt a model is
sent at the depth the truth records, pasted pictures found in the built images' pixels at their
boxes, count lists scored with MM-NIAH's soft accuracy, filler drawn from a corpus."""

import re

import cv2
import numpy as np
import pytest

from mmhay.adapters.api import APIModel, APISettings
from mmhay.build import build_suite, iter_built_samples
from mmhay.config import parse_suite
from mmhay.errors import ConfigError
from mmhay.evaluate import EvalSettings, request_for, shown_media
from mmhay.gallery import render_tile
from mmhay.generators import create_generator
from mmhay.lmms_eval_task import write_lmms_eval_task
from mmhay.scoring.parse import parse_answer
from mmhay.scoring.task_metrics import soft_accuracy
from mmhay.timeline import ref_from_json
from mmhay.verify import check_sample

CELL = 64
TASKS = ["retrieval_text", "counting_text", "retrieval_image", "counting_image"]
SUITE = {
    "name": "doc",
    "samples": 8,
    "generator": "document",
    "task": "retrieval_text",
    "image": {"cell": [CELL, CELL]},
    "haystack": {"text": "builtin"},
    "needle": {"scale": 0.25},
    "grid": {"task": TASKS, "images": [3], "depth": [0.1, 0.9]},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The suite through the project's build: PNG files and the dataset, read back."""
    suite = parse_suite(SUITE)
    out = tmp_path_factory.mktemp("document")
    build_suite(suite, out)
    return list(iter_built_samples(out)), create_generator(suite), out


def _prompt_context(sample) -> str:
    """What an OpenAI-compatible model is sent before the question, images as <image>."""
    model = APIModel(APISettings(model="any"))
    settings = EvalSettings()
    parts = model._body(request_for(sample, shown_media(sample, model, settings), settings))["messages"][0]["content"]
    assert parts[-1]["type"] == "text" and sample.question in parts[-1]["text"]
    return "".join(part["text"] if part["type"] == "text" else "<image>" for part in parts[:-1])


def _bin(depth: float) -> float:
    """MM-NIAH's depth bin, worked out as calculate_scores.py does: int(y / 0.2), with 1.0 as 0.99."""
    return round(int(min(depth, 0.99) / 0.2) * 0.2, 1)


def test_text_needles_are_in_the_prompt_at_their_depth(built):
    samples, _, out = built
    texts = [s for s in samples if s.task.endswith("_text")]
    assert {s.task for s in texts} == {"retrieval_text", "counting_text"}
    for sample in texts:
        context = _prompt_context(sample)
        assert len(context) == sample.truth["context_length"] and context.count("<image>") == 3
        for entry in sample.truth["text_needles"]:
            at = round(entry["depth"] * len(context))
            assert context[at : at + len(entry["text"])] == entry["text"], (sample.id, entry)
            assert context[at - 1] in " >" or at == 0  # it starts a sentence, after a space or an image
        depths = sample.truth["placed_depth"]
        assert sample.facets["depth"] == _bin(sum(depths) / len(depths))
        if sample.task == "retrieval_text":
            word = sample.options[ord(sample.answer) - ord("A")]
            assert re.findall(r'The secret word is "(\w+)"\.', context) == [word]
        else:  # the counts in the order the sentences come, read from the prompt alone
            assert ",".join(re.findall(r"The little penguin counted (\d) needles\.", context)) == sample.answer
    near = [s.truth["placed_depth"][0] for s in texts if s.task == "retrieval_text"]
    assert sorted(round(d, 1) for d in near) == [0.1, 0.9]  # each at the depth its cell asked, to a sentence
    with pytest.raises(ConfigError, match="retrieval_text, counting_text hide needles in the text"):
        write_lmms_eval_task(out, out.parent / "lmms")  # an lmms-eval task would drop the text


def _found(image: np.ndarray, picture: np.ndarray) -> list[list[int]]:
    """Every box of ``image`` whose pixels are ``picture`` exactly, by sliding it over the image."""
    h, w = picture.shape[:2]
    errors = cv2.matchTemplate(image.astype(np.float32), picture.astype(np.float32), cv2.TM_SQDIFF)
    near = zip(*np.nonzero(errors <= picture.size))  # within float error of none, then checked exactly
    return [[int(x), int(y), w, h] for y, x in near if np.array_equal(image[y : y + h, x : x + w], picture)]


def test_pasted_pictures_show_at_their_box_in_the_built_images(built):
    samples, generator, _ = built
    pasted = [s for s in samples if s.task.endswith("_image")]
    assert {s.task for s in pasted} == {"retrieval_image", "counting_image"}
    for sample in pasted:
        images = sample.media.render()  # decoded from the built PNG files
        bare = [generator.sample(sample.index).media.images[k].tiles[0] for k in range(3)]
        entries = sample.truth["needles"]
        picture = render_tile(ref_from_json(entries[0]["source"]), tuple(entries[0]["box"][2:]))
        for k, image in enumerate(images):
            boxes = sorted(e["box"] for e in entries if e["image"] == k + 1)
            assert sorted(_found(image, picture)) == boxes, (sample.id, k)
            outside = np.ones(image.shape[:2], bool)
            for x, y, w, h in boxes:
                outside[y : y + h, x : x + w] = False
            assert np.array_equal(image[outside], render_tile(bare[k], (CELL, CELL))[outside])  # the rest is the haystack picture
        assert check_sample(sample) == []
        if sample.task == "counting_image":
            assert sample.answer == ",".join(str(len(_found(image, picture))) for image in images)
        else:
            assert sample.options[ord(sample.answer) - ord("A")] == entries[0]["description"] and len(entries) == 1
        assert sample.facets["depth"] == _bin(sum(e["depth"] for e in entries) / len(entries))


def test_count_lists_score_with_mm_niahs_soft_accuracy():
    # calculate_scores.py (OpenGVLab/MM-NIAH 2fd03dd), is_correct for a list answer: the reply as
    # JSON, then sum(res == ans for res, ans in zip(response, answer)) / len(answer); no list is 0
    replies = [
        ("2,0,1", "[2, 0, 1]"),  # 3 of 3 -> 1
        ("2,0,1", "```json\n[2, 1, 1]\n```"),  # 2 of 3 -> 2/3
        ("3,1,4,1", "The counts are [3, 1]."),  # 2 of 4 -> 1/2 (zip stops at the reply's end)
        ("1,2", "[1, 2, 5]"),  # 2 of 2 -> 1 (extra counts cost nothing)
        ("5,5", "five and five"),  # no list -> 0
    ]
    records = [{"answer": answer, "parsed": parse_answer("counts", reply)} for answer, reply in replies]
    assert [r["parsed"] for r in records] == ["2,0,1", "2,1,1", "3,1", "1,2,5", None]
    result = soft_accuracy(records)
    assert result["soft_accuracy"] == round((1 + 2 / 3 + 1 / 2 + 1 + 0) / 5, 6) == 0.633333
    assert result["exact"] == 0.2 and result["unread"] == 1


def test_filler_comes_from_the_corpus_deterministically(tmp_path):
    multi = {"name": "m", "samples": 4, "generator": "multi_image", "image": {"cell": [32, 32], "text": True}, "grid": {"images": [4]}}
    fixed = create_generator(parse_suite(multi))
    corpus = {**multi, "haystack": {"text": "builtin"}}
    texts = [[i for i in create_generator(parse_suite(corpus)).sample(k).media.items if isinstance(i, str)] for k in range(2)]
    again = [[i for i in create_generator(parse_suite(corpus)).sample(k).media.items if isinstance(i, str)] for k in range(2)]
    assert texts == again and len(set(texts[0] + texts[1])) == 6  # the same per seed, never a repeat here
    assert all(len(t.split(". ")) >= 1 and len(t) > 40 for t in texts[0])
    assert parse_suite(corpus).key() != parse_suite(multi).key() == fixed.config_key
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text(" ".join(f"Line number {k} of the notes is here." for k in range(30)))
    own = create_generator(parse_suite({**multi, "haystack": {"text": str(tmp_path / "notes")}})).sample(0)
    assert all(re.fullmatch(r"(Line number \d+ of the notes is here\. ?)+", t) for t in own.media.items if isinstance(t, str))
    with pytest.raises(ConfigError, match=r"haystack\.text.*no such file or folder"):
        create_generator(parse_suite({**SUITE, "haystack": {"text": str(tmp_path / "missing")}}))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"haystack\.text.*holds no text files"):
        create_generator(parse_suite({**multi, "haystack": {"text": str(tmp_path / "empty")}}))
    with pytest.raises(ConfigError, match=r"haystack\.text.*set image\.text: true"):
        create_generator(parse_suite({**corpus, "image": {"cell": [32, 32]}}))


def test_the_preview_outlines_each_pasted_picture_at_its_box_and_names_the_text_needles(built, tmp_path):
    from PIL import Image

    from mmhay.preview import NEEDLE_COLOR, _text_needle_lines, preview_sample

    samples, _, _ = built
    pasted = next(s for s in samples if s.task == "retrieval_image")
    images = np.asarray(Image.open(preview_sample(pasted, tmp_path / "image").video))
    for entry in pasted.truth["needles"]:
        x, y, w, h = entry["box"]
        left = (entry["image"] - 1) * (CELL + 8)  # the images side by side, 8 px apart
        tile = images[:, left : left + CELL]
        red = (tile == NEEDLE_COLOR).all(axis=2)
        ring = np.zeros_like(red)
        ring[y : y + h, x : x + w] = True
        ring[y + 3 : y + h - 3, x + 3 : x + w - 3] = False  # a 3-pixel outline of the box, nothing else
        assert (red == ring).all()
    texts = next(s for s in samples if s.task == "retrieval_text")
    lines = _text_needle_lines(texts)
    assert len(lines) == len(texts.truth["text_needles"]) > 0
    assert all(line.endswith(entry["text"]) for line, entry in zip(lines, texts.truth["text_needles"]))
