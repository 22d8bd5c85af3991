"""needle_qa: the needles' own questions (needle.questions), asked about the needle shown; the
shipped V-NIAH and MLVU-shaped configs; bad questions files refused in one line."""

from __future__ import annotations

import csv
import json
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml

from mmhay.cli import main
from mmhay.config import load_suite
from mmhay.generators import create_generator
from mmhay.media.decode import read_frames
from mmhay.media.pictures import fit, load_picture
from mmhay.verify import check_sample

CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"
PICTURES = CONFIGS / "needle_qa" / "pictures"
SIZE, FPS = (96, 64), 2


def _rows() -> list[dict]:
    with open(CONFIGS / "needle_qa" / "pictures.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _small_vniah_qa(tmp_path: Path, **changes) -> Path:
    """configs/vniah_qa.yaml at 96x64, 2 fps, 8 and 12 frames, its shipped needles and questions."""
    config = yaml.safe_load((CONFIGS / "vniah_qa.yaml").read_text())
    config["needle"].update(source=str(PICTURES), questions=str(CONFIGS / "needle_qa" / "pictures.csv"), duration=0.5)
    config.update(samples=6, video={"size": list(SIZE), "fps": FPS}, haystack={"source": "builtin", "shot_seconds": [2, 4]})
    config["grid"] = {"length_frames": [8, 12], "depth": [0.0, 0.5, 1.0]}
    for key, value in changes.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "vniah_qa_small.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_needle_frame_shows_the_picture_its_question_is_about(tmp_path):
    from mmhay.build import build_suite, iter_built_samples

    suite = load_suite(_small_vniah_qa(tmp_path))
    build_suite(suite, tmp_path / "built")
    generator = create_generator(suite)
    rows = _rows()
    pictures = {path.name: fit(load_picture(path), SIZE).astype(int) for path in sorted(PICTURES.glob("*.png"))}
    built = list(iter_built_samples(tmp_path / "built"))
    assert len(built) == 6
    for sample in built:
        assert sample.truth == generator.sample(sample.index).truth, "the built truth is the generated one"
        (needle,) = sample.truth["needles"]
        asked = sample.truth["asked"]
        file = asked["question"]["file"]
        assert Path(asked["source"]["path"]).name == file, "the question is about the picture shown"
        row = next(r for r in rows if r["file"] == file and r["question"] == sample.question)
        options = row["options"].split("|")
        assert sample.options[ord(sample.answer) - ord("A")] == row["answer"] and set(sample.options) == set(options)
        assert [o for o in sample.options if o != row["answer"]] == [o for o in options if o != row["answer"]], "wrong options keep the file's order"
        # the depth puts the needle frame where V-NIAH's int(depth * N) does
        length, depth = sample.facets["length_frames"], sample.facets["depth"]
        assert needle["frames"] == [int(depth * length), int(depth * length) + 1]
        video = sample.media.segments[0].ref.path
        frame = read_frames(video, [Fraction(needle["frames"][0], FPS)]).pixels[0].astype(int)
        errors = {name: np.abs(frame - picture).mean() for name, picture in pictures.items()}
        assert min(errors, key=errors.get) == file and errors[file] < 12, errors
        assert check_sample(sample) == [], "mmhay audit finds the picture fitted on bars where the truth says"
        for k in (needle["frames"][0] - 1, needle["frames"][1]):
            if 0 <= k < length + 1:
                other = read_frames(video, [Fraction(k, FPS)]).pixels[0].astype(int)
                assert np.abs(other - pictures[file]).mean() > 20, "one needle frame, not more"
    letters = Counter(generator.sample(i).answer for i in range(8))
    assert sorted(letters.values()) == [2, 2, 2, 2], "the right letter goes to the balanced positions"


def test_open_questions_answer_the_files_text_and_every_question_is_asked(tmp_path):
    generator = create_generator(load_suite(_small_vniah_qa(tmp_path, question={"form": "open"}, samples=40)))
    asked = set()
    for i in range(40):
        sample = generator.sample(i)
        assert sample.options == () and sample.answer_type == "text"
        row = next(r for r in _rows() if r["question"] == sample.question)
        assert sample.answer == row["answer"] and sample.truth["asked"]["question"]["file"] == row["file"]
        asked.add(sample.question)
    assert asked == {r["question"] for r in _rows()}, "each file's several questions are all drawn"
    again = create_generator(load_suite(_small_vniah_qa(tmp_path, question={"form": "open"}, samples=40)))
    assert [again.sample(i).question for i in range(10)] == [generator.sample(i).question for i in range(10)]


def test_the_mlvu_needle_config_asks_about_its_clips():
    generator = create_generator(load_suite(CONFIGS / "mlvu_needle.yaml"))
    questions = {q["question"]: q for q in json.loads((CONFIGS / "needle_qa" / "clips.json").read_text())}
    for i in range(4):
        sample = generator.sample(i)
        row = questions[sample.question]
        assert sample.options[ord(sample.answer) - ord("A")] == row["answer"] and len(sample.options) == 4
        assert Path(sample.truth["asked"]["source"]["path"]).name == row["file"] and sample.truth["kind"] == "clip"


def _write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps(rows))
    return path


GOOD = {"file": "star_card.png", "question": "What colour is the corner shape?", "answer": "blue", "options": ["blue", "red"]}
BAD_FILES = [
    ("missing column", "q.csv", "file,question\nstar_card.png,What?\n", ["q.csv: line 1", "missing column answer"]),
    ("no such needle", [dict(GOOD, file="moon_card.png")], None, ["row 1.file = 'moon_card.png'", "is not in the needle folder"]),
    ("answer not an option", [GOOD, dict(GOOD, answer="green")], None, ["row 2.answer = 'green'", "is not among the options"]),
    ("a letter for an answer", [dict(GOOD, answer="A")], None, ["row 1.answer = 'A'", "not its letter"]),
    ("missing key", [{"file": "star_card.png", "answer": "x"}], None, ["row 1.question", "missing required key"]),
    ("unknown key", [dict(GOOD, option=["a", "b"])], None, ["row 1.option", "unknown key"]),
    ("choice without options", [GOOD, {"file": "heart_card.png", "question": "What?", "answer": "x"}], None, ["row 2.options", "question.form: open"]),
]


@pytest.mark.parametrize("name, rows, text, fragments", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_a_bad_questions_file_is_refused_in_one_line(tmp_path, capsys, name, rows, text, fragments):
    if text is not None:
        questions = tmp_path / rows
        questions.write_text(text)
    else:
        questions = _write_rows(tmp_path / "q.json", rows)
    config = _small_vniah_qa(tmp_path, needle={"questions": str(questions)})
    assert main(["preview", str(config), "--out", str(tmp_path / "preview")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in [str(questions), *fragments]:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "preview").exists()
