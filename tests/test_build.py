import hashlib
import json
import platform
import site
from fractions import Fraction
from importlib.metadata import distributions
from pathlib import Path

import datasets
import numpy as np
import pytest
from conftest import SMALL_SUITE
from packaging.utils import canonicalize_name

import mmhay
from mmhay.build import build_suite, iter_built_samples
from mmhay.config import parse_suite
from mmhay.errors import DatasetError
from mmhay.generators import create_generator
from mmhay.media.decode import read_frames
from mmhay.media.procedural import render_image
from mmhay.software import software

# libx264 at CRF 18 keeps a flat needle picture within a few levels; a haystack frame is far off.
NEEDLE_MAE = 6.0
HAYSTACK_MAE = 20.0


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_load_from_disk_gives_back_the_generated_questions(built_small):
    table = datasets.load_from_disk(str(built_small))["test"]
    generator = create_generator(parse_suite(SMALL_SUITE))
    assert len(table) == 12
    for row in table:
        sample = generator.sample(row["index"])
        assert (row["id"], row["question"], row["options"], row["answer"]) == (
            sample.id,
            sample.question,
            list(sample.options),
            sample.answer,
        )
        assert json.loads(row["truth"]) == sample.truth
        assert (built_small / row["video"]).is_file()


def test_every_video_shows_its_needle_at_the_truth_times_and_only_there(built_small):
    for sample in iter_built_samples(built_small):
        needle = sample.truth["needles"][0]
        start, end = Fraction(needle["start"]).limit_denominator(1000), Fraction(needle["end"]).limit_denominator(1000)
        shape, color = needle["label"].split(" ")[1], needle["label"].split(" ")[0]
        picture = render_image("shape", {"shape": shape, "color": color}, (128, 72)).astype(int)
        step = Fraction(1, 8)
        inside = [start, (start + end) / 2, end - step]
        outside = [t for t in (start - step, end) if 0 <= t < sample.media.duration]
        assert outside, "every needle has haystack next to it"
        for frame in read_frames(sample.media.segments[0].ref.path, inside).pixels:
            assert np.abs(frame.astype(int) - picture).mean() < NEEDLE_MAE
        for frame in read_frames(sample.media.segments[0].ref.path, outside).pixels:
            assert np.abs(frame.astype(int) - picture).mean() > HAYSTACK_MAE


def test_the_card_and_manifest_describe_the_build(built_small):
    card = (built_small / "README.md").read_text()
    assert card.startswith("---\n") and "load_from_disk" in card and "video-text-to-text" in card
    manifest = json.loads((built_small / "manifest.json").read_text())
    assert manifest["samples"] == 12 and manifest["seed"] == 3
    assert manifest["files"]["videos/000000.mp4"] == hashlib.sha256((built_small / "videos/000000.mp4").read_bytes()).hexdigest()


def test_the_manifest_names_every_installed_distribution_with_its_version(built_small, tmp_path, monkeypatch):
    recorded = json.loads((built_small / "manifest.json").read_text())["software"]
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions(path=site.getsitepackages())}
    assert installed.items() <= recorded["distributions"].items()
    assert recorded["distributions"]["numpy"] == np.__version__ and recorded["distributions"]["mmhay"] == mmhay.__version__
    assert recorded["python"] == platform.python_version() and recorded["libavcodec"].count(".") == 2
    # what a process puts on sys.path as it runs (ray appends its vendored packages) is not the environment
    (tmp_path / "vendored-1.0.dist-info").mkdir()
    (tmp_path / "vendored-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: vendored\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(tmp_path)
    assert software() == recorded, "the same environment, the same record"


def test_another_seed_in_the_same_folder_is_refused(built_small):
    with pytest.raises(DatasetError, match="another config or seed"):
        build_suite(parse_suite(SMALL_SUITE), built_small, seed=4)


def test_a_foreign_folder_is_refused(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(DatasetError, match="not an mmhay build"):
        build_suite(parse_suite(SMALL_SUITE), tmp_path, limit=1)
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.tex"]


def test_two_processes_build_the_same_bytes_as_one(built_small, tmp_path):
    out = tmp_path / "parallel"
    result = build_suite(parse_suite(SMALL_SUITE), out, num_proc=2)
    assert result.rendered == 12
    assert _tree(out) == _tree(built_small)


def test_a_smaller_limit_rebuilds_a_consistent_folder(built_small, tmp_path):
    out = tmp_path / "limited"
    build_suite(parse_suite(SMALL_SUITE), out, limit=5)
    assert len(datasets.load_from_disk(str(out))["test"]) == 5
    result = build_suite(parse_suite(SMALL_SUITE), out, limit=3)
    assert result.reused == 3 and sorted(p.name for p in (out / "videos").iterdir()) == [f"00000{i}.mp4" for i in range(3)]
    assert len(datasets.load_from_disk(str(out))["test"]) == 3


def test_image_and_sound_suites_build_as_image_and_audio_features(tmp_path):
    from PIL import Image

    from mmhay.media.audio import probe_audio

    grids = tmp_path / "grids"
    build_suite(parse_suite({"name": "g", "samples": 4, "generator": "image_grid", "task": "locate", "image": {"cell": [32, 32]}, "grid": {"images": [2], "grid_size": [2]}}), grids)
    table = datasets.load_from_disk(str(grids))["test"]
    assert isinstance(table.features["images"].feature, datasets.Image)
    first = table[0]["images"]
    assert len(first) == 2 and all(isinstance(image, Image.Image) and image.size == (64, 64) for image in first)
    assert np.array_equal(np.asarray(first[1].convert("RGB")), np.asarray(Image.open(grids / "images/000000-1.png").convert("RGB")))
    for sample in iter_built_samples(grids):
        assert [image.shape for image in sample.media.render()] == [(64, 64, 3)] * 2

    sounds = tmp_path / "sounds"
    config = {"name": "a", "samples": 2, "generator": "audio", "haystack": {"bed": "hum"}, "needle": {"kind": "sound", "insertion": "overlay"}, "grid": {"length": [8]}}
    build_suite(parse_suite(config), sounds)
    table = datasets.load_from_disk(str(sounds))["test"]
    assert isinstance(table.features["audio"], datasets.Audio)
    raw = table.cast_column("audio", datasets.Audio(decode=False))[1]["audio"]
    (tmp_path / "copy.flac").write_bytes(raw["bytes"])
    assert raw["bytes"] == (sounds / "audio/000001.flac").read_bytes()
    assert probe_audio(tmp_path / "copy.flac").duration == 8
    built = list(iter_built_samples(sounds))
    generated = create_generator(parse_suite(config)).sample(1)
    assert np.abs(built[1].media.audio() - generated.media.audio()).max() < 1e-3
