"""The needle-finder calibrates the pipeline: it finds needles it was shown and guesses at the rest,
so a pipeline that hands it the wrong frames, drops the needle's or mis-letters the options is
caught by the calibration check below (each power test applies one such fault and asserts the
check fails, its accuracy given shown fallen to chance).

The finder is the shipped checkpoint (``mmhay tiny-model needle-finder``), run through ``hf:``
like any checkpoint, on held-out suites of ``recipes/calibration/`` (seeds it never trained on).
The thresholds leave room: the answers must not hang on how a BLAS rounds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
from pathlib import Path

import pytest

import mmhay.evaluate
from mmhay.adapters import create_adapter
from mmhay.adapters.tiny import make_tiny_checkpoint
from mmhay.adapters.tiny.finder import FINDER_FILES, FINDER_FRAMES, FINDER_SHA256
from mmhay.cli import main
from mmhay.evaluate import EvalSettings, evaluate, open_data
from mmhay.prompts import prompt_text

SUITES = Path(__file__).resolve().parents[1] / "recipes" / "calibration"
RETRIEVAL, NEGATIVE = SUITES / "retrieval.yaml", SUITES / "negative.yaml"
SAMPLES = 60  # 4 a cell of the retrieval grid: about 36 shown, 24 not


@pytest.fixture(scope="module")
def finder(tmp_path_factory):
    return create_adapter(f"hf:{make_tiny_checkpoint('needle-finder', tmp_path_factory.mktemp('finder'))}")


def run(finder, out: Path, config: Path = RETRIEVAL, compress: str = "", samples: int = SAMPLES) -> tuple[dict, list[dict]]:
    result = evaluate(open_data(config, limit=samples), finder, out, EvalSettings(frames=FINDER_FRAMES, compress=compress, batch_size=8))
    return result.metrics, [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def within_chance(cell: dict) -> bool:
    """Accuracy within chance +- 3 standard errors of a guesser's."""
    return abs(cell["accuracy"] - cell["chance"]) <= 3 * math.sqrt(cell["chance"] * (1 - cell["chance"]) / cell["n"])


def check_calibrated(metrics: dict) -> None:
    """The calibration check: right at least 85% of the time given shown, at chance given not."""
    overall = metrics["exposure"]["overall"]
    shown, not_shown = overall["given_shown"], overall["given_not_shown"]
    assert shown["n"] >= 20 and not_shown["n"] >= 8, overall
    assert shown["accuracy"] >= 0.85, f"accuracy given shown {shown['accuracy']:.2f} (n={shown['n']})"
    assert within_chance(not_shown), f"accuracy given not shown {not_shown['accuracy']:.2f} (n={not_shown['n']}) is not chance"


@pytest.fixture(scope="module")
def calibrated(finder, tmp_path_factory):
    return run(finder, tmp_path_factory.mktemp("calibrated"))


def test_the_cli_writes_the_shipped_weights(tmp_path, capsys):
    assert main(["tiny-model", "needle-finder", "--out", str(tmp_path / "finder")]) == 0
    assert "trained" in capsys.readouterr().out
    weights = tmp_path / "finder" / "model.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == FINDER_SHA256
    assert sum(path.stat().st_size for path in (tmp_path / "finder").iterdir()) <= 10_000_000


def test_the_finder_finds_needles_it_was_shown_and_guesses_at_the_rest(calibrated):
    metrics, _ = calibrated
    check_calibrated(metrics)
    assert metrics["overall"]["unparsed"] == 0


def test_on_negative_twins_it_says_no_to_a_look_alike_when_the_needle_was_shown(finder, tmp_path):
    metrics, _ = run(finder, tmp_path / "negative", NEGATIVE, samples=40)
    absent = metrics["exposure"]["absent"]["given_shown"]
    assert absent["n"] >= 10 and absent["hallucination_rate"] <= 0.1, absent
    assert metrics["exposure"]["overall"]["given_shown"]["accuracy"] >= 0.85


def test_a_keep_everything_compressor_gives_the_uncompressed_answers_exactly(finder, calibrated, tmp_path):
    _, plain = calibrated
    _, kept = run(finder, tmp_path / "kept", compress="spatial_pool:k=1")
    assert [r["output"] for r in kept] == [r["output"] for r in plain]
    assert [r["usage"]["visual_tokens"] for r in kept] == [r["usage"]["visual_tokens"] for r in plain]


# --- the power of the check: each fault makes the finder's accuracy given shown fall to chance ---


def faulty(monkeypatch, fault) -> None:
    """Put ``fault(sample, media) -> (media, prompt or None)`` between rendering and the request:
    what a bug in the pipeline would do. The exposure record still says what was planned."""
    real = mmhay.evaluate.request_for

    def request_for(sample, media, settings):
        media, prompt = fault(sample, media)
        request = real(sample, media, settings)
        return request if prompt is None else dataclasses.replace(request, prompt=prompt)

    monkeypatch.setattr(mmhay.evaluate, "request_for", request_for)


def check_fails_at_chance(metrics: dict) -> None:
    with pytest.raises(AssertionError):
        check_calibrated(metrics)
    shown = metrics["exposure"]["overall"]["given_shown"]
    assert within_chance(shown) and shown["accuracy"] < 0.5, shown


def test_power_each_sample_given_another_samples_frames(finder, monkeypatch, tmp_path):
    previous: list[dict] = []

    def swap(sample, media):
        given = previous[-1] if previous else media
        previous.append(media)
        return given, None

    faulty(monkeypatch, swap)
    metrics, _ = run(finder, tmp_path / "swapped")
    check_fails_at_chance(metrics)


def test_power_the_needles_frames_dropped(finder, monkeypatch, tmp_path):
    def drop(sample, media):
        spans = [(needle["start"], needle["end"]) for needle in sample.truth["needles"]]
        inside = [any(start - 1e-6 <= t < end + 1e-6 for start, end in spans) for t in media["frame_times"]]
        outside = [k for k, flag in enumerate(inside) if not flag]
        frames = media["frames"].copy()
        for k, flag in enumerate(inside):
            if flag:  # the sampler skipped it: the nearest haystack frame instead
                frames[k] = media["frames"][min(outside, key=lambda j: abs(j - k))]
        return {**media, "frames": frames}, None

    faulty(monkeypatch, drop)
    metrics, _ = run(finder, tmp_path / "dropped")
    check_fails_at_chance(metrics)


def test_power_options_shuffled_after_the_prompt_was_made(finder, monkeypatch, tmp_path):
    def shuffle(sample, media):
        options = list(sample.options)
        random.Random(sample.id).shuffle(options)
        return media, prompt_text(sample.question, options, sample.answer_type)

    faulty(monkeypatch, shuffle)
    metrics, _ = run(finder, tmp_path / "shuffled")
    check_fails_at_chance(metrics)


def test_the_recipe_trains_resumes_and_saves_a_checkpoint_mmhay_evaluates(tmp_path, capsys):
    """The recipe itself, on the CPU at a toy size: steps, a held-out check, a stop and a resume
    from its state, and a saved checkpoint that ``hf:`` loads and asks."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "recipes" / "train_needle_finder.py"
    spec = importlib.util.spec_from_file_location("train_needle_finder", path)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    size = ["--width", "64", "--layers", "1", "--vision-width", "32", "--vision-depth", "1", "--batch-size", "4", "--workers", "0"]
    common = ["--out", str(tmp_path), "--device", "cpu", "--names-steps", "1", "--eval-every", "2", "--held-out", "8", *size]
    shipped = json.loads((FINDER_FILES / "tokenizer.json").read_text())["model"]
    rebuilt = json.loads(recipe.finder_tokenizer().backend_tokenizer.to_str())["model"]
    assert (rebuilt["vocab"], rebuilt["merges"]) == (shipped["vocab"], shipped["merges"]), "the recipe rebuilds the shipped tokenizer"
    recipe.main([*common, "--steps", "2"])
    recipe.main([*common, "--steps", "3"])
    assert "resumed at step 2" in capsys.readouterr().out
    curve = json.loads((tmp_path / "curve.json").read_text())
    assert [point["step"] for point in curve] == [1, 2, 3] and curve[-1]["examples"] == 12
    assert set(curve[-1]["held_out"]) <= {"retrieval-choice", "retrieval-open", "negative-choice", "negative-open"}
    metrics, records = run(create_adapter(f"hf:{tmp_path / 'finder'}"), tmp_path / "eval", samples=4)
    assert metrics["overall"]["n"] == 4 and all("output" in r for r in records)
