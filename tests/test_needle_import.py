"""mmhay import-needles: hand-written files in the published formats (LongVA's
vision_niah/needle_datasets/dataset.json; VideoChat-Flash's xtuner-eval_niah/vision_niah
single-hop and multi-hop JSON) import into suites whose questions and answers are the file's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from mmhay.cli import main
from mmhay.config import parse_suite
from mmhay.generators import create_generator

LONGVA = [
    {
        "path": "ucsd.jpeg",
        "prompt": "\nFind the frame of the 'While You Were Out' note. What is the name of the university on that note?\nA. University of california, los angeles\nB. University of california, san diego\nC. University of california, berkeley\nD. University of california, santa barbara\nAnswer with the option's letter from the given choices directly.",
        "answer": "B",
    },
    {
        "path": "sora_balloon.png",
        "prompt": "\nFind the frame of a couple in a wedding. In side the frame, there is a balloon on the bridegroom's head. What is the color of that ballon?\nAnswer the question using a single word or phrase.",
        "answer": "Yellow",
    },
    {
        "path": "teddy_bear_times_square.png",
        "prompt": "\nFind the frame of a teddy bear. Where is this teddy bear?\nA. Times Square\nB. Eiffel Tower\nC. Taj Mahal\nD. Sydney Opera House\nAnswer with the option's letter from the given choices directly.",
        "answer": "A",
    },
]
# what each LongVA row asks, worked out by hand: (file, question, answer)
LONGVA_ASKED = {
    ("ucsd.jpeg", "Find the frame of the 'While You Were Out' note. What is the name of the university on that note?", "University of california, san diego"),
    ("sora_balloon.png", "Find the frame of a couple in a wedding. In side the frame, there is a balloon on the bridegroom's head. What is the color of that ballon?", "Yellow"),
    ("teddy_bear_times_square.png", "Find the frame of a teddy bear. Where is this teddy bear?", "Times Square"),
}

SINGLE_HOP = [
    {
        "question": "Find the frame of a plate of food with some salad on bread. what is the color of the plate\nOptions: (A) white\n(B) purple\n(C) green\n(D) orange\nOnly give the best option. Best option: (",
        "answer": "A",
        "image": "single/COCO_val2014_000000152808.jpg",
        "id": 0,
    },
    {
        "question": "Find the frame of a bear sits in a hole inside of a large, green tree. what is the color of the bear\nOptions: (A) red\n(B) black\n(C) gray\n(D) white\nOnly give the best option. Best option: (",
        "answer": "B",
        "image": "single/COCO_val2014_000000361341.jpg",
        "id": 1,
    },
]
SINGLE_ASKED = {
    "COCO_val2014_000000152808.jpg": ("Find the frame of a plate of food with some salad on bread. what is the color of the plate", ("white", "purple", "green", "orange"), "white"),
    "COCO_val2014_000000361341.jpg": ("Find the frame of a bear sits in a hole inside of a large, green tree. what is the color of the bear", ("red", "black", "gray", "white"), "black"),
}

MULTI_HOP = [
    {
        "images": [
            "multi/niah_7_3_COCO_val2014_000000000003.jpg",
            "multi/COCO_val2014_000000000009.jpg",
            "multi/niah_7_1_COCO_val2014_000000000001.jpg",
            "multi/niah_7_5_COCO_val2014_000000000005.jpg",
            "multi/niah_7_4_COCO_val2014_000000000004.jpg",
        ],
        "question1": "Find the frame of a man that is holding some kind of surfboard Locate the final frame based on the instructions in the image, and choose the captions that best describe the frame: \nOptions: (A) A cat on a rug.\n(B) A look at a wallpapered bathroom, with a ships window.\n(C) A red bus.\n(D) Two dogs.\nOnly give the best option. Best option: (",
        "answer1": "B",
        "question2": "Find the frame of a man that is holding some kind of surfboard Locate the final frame based on the instructions in the image, and answer the following question based on the final frame: what did white claw under a circle window\nOptions: (A) mirror\n(B) tub\n(C) fridge\n(D) toilet\nOnly give the best option. Best option: (",
        "answer2": "B",
    }
]
FINAL = "COCO_val2014_000000000009.jpg"
START = "Find the frame of a man that is holding some kind of surfboard Locate the final frame based on the instructions in the image, and "
MULTI_ASKED = {
    START + "choose the captions that best describe the frame:": (("A cat on a rug.", "A look at a wallpapered bathroom, with a ships window.", "A red bus.", "Two dogs."), "A look at a wallpapered bathroom, with a ships window."),
    START + "answer the following question based on the final frame: what did white claw under a circle window": (("mirror", "tub", "fridge", "toilet"), "tub"),
}


def _images(folder: Path, paths: list[str]) -> None:
    """A small distinct picture at each path (some under their sub-folder, some by name alone)."""
    for k, rel in enumerate(paths):
        path = folder / (rel if k % 2 == 0 else Path(rel).name)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((24, 32, 3), (40 * k) % 256, np.uint8)).save(path)


def _import(tmp_path: Path, format: str, rows: list[dict], images: list[str], capsys) -> Path:
    source = tmp_path / f"{format}.json"
    source.write_text(json.dumps(rows, indent=4))
    _images(tmp_path / "images", images)
    out = tmp_path / f"imported-{format}"
    assert main(["import-needles", format, str(source), "--images", str(tmp_path / "images"), "--out", str(out)]) == 0
    assert "questions to" in capsys.readouterr().out
    return out


def _samples(out: Path, form: str, count: int = 16):
    suite = parse_suite(
        {
            "name": "imported",
            "samples": count,
            "task": "needle_qa",
            "video": {"size": [64, 48], "fps": 2},
            "needle": {"source": str(out / "needles"), "questions": str(out / "questions.json")},
            "question": {"form": form},
            "grid": {"length": [4], "depth": [0.5]},
        }
    )
    generator = create_generator(suite)
    return [generator.sample(i) for i in range(count)]


def test_longva_dataset_json_imports_its_questions_and_answers(tmp_path, capsys):
    out = _import(tmp_path, "longva", LONGVA, [row["path"] for row in LONGVA], capsys)
    assert sorted(p.name for p in (out / "needles").iterdir()) == sorted(row["path"] for row in LONGVA)
    asked = {(Path(s.truth["asked"]["source"]["path"]).name, s.question, s.answer) for s in _samples(out, "open")}
    assert asked == LONGVA_ASKED
    # LongVA mixes lettered and one-word questions: asked as multiple choice, the open one is refused by name
    suite = {"name": "c", "task": "needle_qa", "needle": {"source": str(out / "needles"), "questions": str(out / "questions.json")}}
    (tmp_path / "c.yaml").write_text(json.dumps(suite))
    assert main(["preview", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "p")]) == 2
    assert "questions.json: row 2.options: missing" in capsys.readouterr().err


def test_videochat_flash_single_hop_imports_its_questions_options_and_answers(tmp_path, capsys):
    out = _import(tmp_path, "videochat-flash", SINGLE_HOP, [row["image"] for row in SINGLE_HOP], capsys)
    seen = set()
    for sample in _samples(out, "choice"):
        file = Path(sample.truth["asked"]["source"]["path"]).name
        question, options, answer = SINGLE_ASKED[file]
        assert sample.question == question and set(sample.options) == set(options)
        assert sample.options[ord(sample.answer) - ord("A")] == answer
        seen.add(file)
    assert seen == set(SINGLE_ASKED)


def test_videochat_flash_multi_hop_imports_the_chain_and_the_final_frames_questions(tmp_path, capsys):
    out = _import(tmp_path, "videochat-flash-multihop", MULTI_HOP, MULTI_HOP[0]["images"], capsys)
    (chain,) = json.loads((out / "multihop.json").read_text())
    names = [Path(rel).name for rel in MULTI_HOP[0]["images"]]
    assert chain["images"] == names
    assert chain["chain"] == ["niah_7_1_COCO_val2014_000000000001.jpg", FINAL], "hop 1, then the final frame (hop 2: the number missing)"
    assert chain["decoys"] == ["niah_7_3_COCO_val2014_000000000003.jpg", "niah_7_4_COCO_val2014_000000000004.jpg", "niah_7_5_COCO_val2014_000000000005.jpg"]
    assert chain["final"] == FINAL and chain["start"] == "a man that is holding some kind of surfboard"
    assert chain["caption"]["answer"] == MULTI_ASKED[chain["caption"]["question"]][1]
    assert chain["question"]["answer"] == "tub"
    assert sorted(p.name for p in (out / "needles").iterdir()) == sorted(names)
    seen = set()
    for sample in _samples(out, "choice"):
        assert Path(sample.truth["asked"]["source"]["path"]).name == FINAL, "only the final frame carries questions"
        options, answer = MULTI_ASKED[sample.question]
        assert set(sample.options) == set(options) and sample.options[ord(sample.answer) - ord("A")] == answer
        seen.add(sample.question)
    assert seen == set(MULTI_ASKED)


def test_an_image_the_folder_lacks_is_refused_in_one_line(tmp_path, capsys):
    source = tmp_path / "dataset.json"
    source.write_text(json.dumps(LONGVA))
    _images(tmp_path / "images", ["ucsd.jpeg"])
    assert main(["import-needles", "longva", str(source), "--images", str(tmp_path / "images"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"{source}: row 2 = 'sora_balloon.png': image not found in" in err, err
    assert not (tmp_path / "out").exists()
