"""Exposure: what the model was shown of each needle, checked on real encoded files against the
pixels of the frames it was given, through the evaluator's whole path (sampler, processor,
compressor, records, metrics, report)."""

import json
from fractions import Fraction
from math import sqrt

import pytest
import torch

from mmhay.build import build_suite
from mmhay.cli import main
from mmhay.compression import COMPRESSORS, Compressed
from mmhay.config import parse_suite
from mmhay.evaluate import EvalSettings, evaluate, open_data
from mmhay.exposure import Minimums, exposure, frame_given, parse_minimums
from mmhay.exposure_survey import survey_exposure, uniform_expectation
from mmhay.sampling import FramePlan, render_plan
from mmhay.verify import ABSENT, SHOWS, error

INSERTED = {
    "name": "inserted",
    "seed": 5,
    "samples": 2,
    "video": {"size": [128, 72], "fps": 8},
    "haystack": {"shot_seconds": [2, 4]},
    "needle": {"duration": 1.0},
    "grid": {"length": [6], "depth": [0.5]},
}
# an overlay 0.06 of the width: 15 px high in a 256 x 144 frame, 7.5 px in one rendered at scale 2
OVERLAID = {
    "name": "overlaid",
    "seed": 6,
    "samples": 2,
    "video": {"size": [256, 144], "fps": 8},
    "haystack": {"shot_seconds": [2, 4]},
    "needle": {"insertion": "overlay", "scale": 0.06, "duration": 1.0, "position": [0.5, 0.5]},
    "grid": {"length": [6], "depth": [0.5]},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both suites built into real mp4 files, read back as a user's built suite is."""
    out = {}
    for config in (INSERTED, OVERLAID):
        folder = tmp_path_factory.mktemp("exposure") / config["name"]
        build_suite(parse_suite(config), folder)
        out[config["name"]] = folder
    return out


def _first(folder):
    return next(iter(open_data(folder).samples()))


def _at(seconds: float) -> Fraction:
    return Fraction(seconds).limit_denominator(10_000)


def _shown_by_pixels(sample, frames, times) -> list[bool]:
    """Whether each rendered frame shows the needle, decided by its pixels (``mmhay.verify``)."""
    entry = sample.truth["needles"][0]
    verdicts = []
    for frame, t in zip(frames, times):
        miss = error(frame, entry, _at(t), tuple(sample.media.size))
        assert miss < SHOWS or miss > ABSENT, f"frame at {t}: error {miss} decides nothing"
        verdicts.append(miss < SHOWS)
    return verdicts


def test_a_needle_between_two_sampled_frames_is_not_shown_and_one_frame_inside_it_is(built):
    sample = _first(built["inserted"])
    needle = sample.truth["needles"][0]
    start, end = _at(needle["start"]), _at(needle["end"])
    # the frame just before the needle's first and the first after its last: it lies between them
    between = FramePlan((start - Fraction(1, 8), end), (1.0, 1.0))
    frames, times = render_plan(sample.media, between)
    record = exposure(sample, frame_given(frames, times, {}))
    assert record["shown"] is False and record["needles"][0]["frames"] == 0
    assert _shown_by_pixels(sample, frames, times) == [False, False]
    inside = FramePlan((start - Fraction(1, 8), start + Fraction(1, 16), end), (1.0, 1.0, 1.0))
    frames, times = render_plan(sample.media, inside)
    record = exposure(sample, frame_given(frames, times, {}))
    assert record["shown"] is True and record["needles"][0]["times"] == [pytest.approx(float(start), abs=1e-6)]
    assert record["needles"][0]["height_px"] == [72.0], "a picture inserted whole is the frame's height"
    assert _shown_by_pixels(sample, frames, times) == [False, True, False]


def test_an_overlay_shrunk_below_the_minimum_by_the_samplers_scale_is_not_shown(built):
    sample = _first(built["overlaid"])
    needle = sample.truth["needles"][0]
    assert needle["box"][3] == 15
    inside = _at(needle["start"]) + Fraction(1, 16)
    full, _ = render_plan(sample.media, FramePlan((inside,), (1.0,)))
    record = exposure(sample, frame_given(full, [float(inside)], {}))
    assert record["shown"] is True and record["needles"][0]["height_px"] == [15.0]
    assert record["needles"][0]["box_px"] == needle["box"]
    assert _shown_by_pixels(sample, full, [float(inside)]) == [True]
    half, times = render_plan(sample.media, FramePlan((inside,), (2.0,)))
    assert half.shape[1:3] == (72, 128)
    record = exposure(sample, frame_given(half, times, {}))
    assert record["needles"][0]["frames"] == 1 and record["needles"][0]["height_px"] == [7.5]
    assert record["shown"] is False, "7.5 px is under the 8 px minimum"
    assert exposure(sample, frame_given(half, times, {}), Minimums(height=7))["shown"] is True
    # what a baseline is credited with: the sampler's plan at the size it renders, unrendered
    from mmhay.exposure import given_by_plan

    planned = exposure(sample, given_by_plan(sample, "uniform", 16))
    assert planned["shown"] is True and set(planned["needles"][0]["height_px"]) == {15.0}
    planned = exposure(sample, given_by_plan(sample, "uniform:scale=2", 16))
    assert planned["shown"] is False and set(planned["needles"][0]["height_px"]) == {7.5}


@COMPRESSORS.register("drop_span_test")
def drop_span_test(features, times, drop_from: float = 0.0, drop_to: float = 0.0) -> Compressed:
    """A test compressor: keeps every token but those of the frames shown in [drop_from, drop_to)."""
    count, h, w, channels = features.shape
    keep = [f for f in range(count) if not drop_from <= float(times[f]) < drop_to]
    cells = [(y, x) for y in range(h) for x in range(w)]
    frames = torch.tensor([[f, f + 1] for f in keep for _ in cells], dtype=torch.int64).reshape(-1, 2)
    boxes = torch.tensor([[y, x, y + 1, x + 1] for _ in keep for y, x in cells], dtype=torch.int64).reshape(-1, 4)
    stamps = torch.tensor([float(times[f]) for f in keep for _ in cells], dtype=torch.float32)
    origins = torch.tensor([f * h * w + y * w + x for f in keep for y, x in cells], dtype=torch.int64)
    return Compressed(features[keep].reshape(-1, channels), frames, boxes, torch.ones(len(frames)), stamps, origins)


@pytest.fixture(scope="module")
def tiny_llava_checkpoint(tmp_path_factory):
    from mmhay.adapters.tiny import make_tiny_checkpoint

    return make_tiny_checkpoint("llava-onevision", tmp_path_factory.mktemp("models") / "llava")


@pytest.fixture(scope="module")
def tiny_llava(tiny_llava_checkpoint):
    from mmhay.adapters import create_adapter

    return create_adapter(f"hf:{tiny_llava_checkpoint}", {"max_new_tokens": "3"})


def test_a_compressor_that_drops_the_needles_tokens_turns_shown_into_not_shown(built, tiny_llava, tmp_path):
    data = open_data(built["inserted"], limit=1)
    needle = _first(built["inserted"]).truth["needles"][0]
    runs = {}
    for name, spec in (("plain", ""), ("keep", "evs_prune:q=0"), ("drop", f"drop_span_test:drop_from={needle['start']},drop_to={needle['end']}")):
        evaluate(data, tiny_llava, tmp_path / name, EvalSettings(frames=8, compress=spec))
        runs[name] = json.loads((tmp_path / name / "samples.jsonl").read_text().splitlines()[0])["exposure"]
    plain, keep, drop = (runs[k]["needles"][0] for k in ("plain", "keep", "drop"))
    assert plain["frames"] >= 1 and runs["plain"]["shown"] is True and "tokens" not in plain
    # the processor's own size (LLaVA-OneVision resizes every frame to its square input)
    assert plain["height_px"][0] == tiny_llava.processor.video_processor.size["height"]
    assert keep["tokens"] == 1.0 and runs["keep"]["shown"] is True
    assert drop["frames"] == plain["frames"] and drop["tokens"] == 0.0 and runs["drop"]["shown"] is False
    metrics = json.loads((tmp_path / "drop" / "metrics.json").read_text())
    assert metrics["exposure"]["overall"]["shown_rate"] == 0.0
    # mmhay exposure measures the same without asking: the processor, tower and compressor run
    for spec, rate in (("evs_prune:q=0", 1.0), (f"drop_span_test:drop_from={needle['start']},drop_to={needle['end']}", 0.0)):
        surveyed = survey_exposure(data, EvalSettings(frames=8, compress=spec), adapter=tiny_llava)
        assert surveyed.summary["overall"]["shown_rate"] == rate


def test_mmhay_exposure_measures_at_a_models_input(built, tiny_llava_checkpoint, tiny_llava, capsys):
    def overall(folder, *model):
        assert main(["exposure", str(folder), "--frames", "8", *model]) == 0
        printed = capsys.readouterr().out
        assert ("at the input of hf:" in printed) == bool(model)
        return printed.split("│ overall")[1].split("\n")[0].split("│")[3].strip()

    model = ["--model", f"hf:{tiny_llava_checkpoint}", "--compress", "evs_prune:q=0"]
    # 8 uniform frames over 7 s show the 1 s needle; a picture inserted whole stays the frame's height
    assert overall(built["inserted"], *model) == "100.0"
    # the 15 px overlay of a 144 px frame is shown as the sampler renders it, but LLaVA-OneVision's
    # processor makes every frame its small square input, where the overlay is under 8 px
    side = tiny_llava.processor.video_processor.size["height"]
    assert 15 * side / 144 < 8
    assert overall(built["overlaid"]) == "100.0" and overall(built["overlaid"], *model) == "0.0"
    assert main(["exposure", str(built["overlaid"]), "--frames", "8", "--compress", "evs_prune:q=0"]) == 2
    assert "--compress" in capsys.readouterr().err


def test_the_processors_resize_is_what_the_height_is_measured_at(built, tiny_qwen2_vl, tmp_path):
    from mmhay.adapters import create_adapter

    adapter = create_adapter(f"hf:{tiny_qwen2_vl}", {"max_new_tokens": "3"})
    evaluate(open_data(built["overlaid"], limit=1), adapter, tmp_path / "run", EvalSettings(frames=8))
    record = json.loads((tmp_path / "run" / "samples.jsonl").read_text().splitlines()[0])
    sample = _first(built["overlaid"])
    # Qwen2-VL resizes 256 x 144 frames to whole 28 px patches: the needle's 15 of 144 rows scale with it
    grid = adapter._inputs([_request(sample, adapter)])["video_grid_thw"][0].tolist()
    height = grid[1] * adapter.processor.video_processor.patch_size
    assert height != 144
    needle = record["exposure"]["needles"][0]
    assert needle["frames"] >= 1
    assert needle["height_px"] == [round(15 * height / 144, 2)] * needle["frames"]


def _request(sample, adapter):
    from mmhay.evaluate import request_for, shown_media

    settings = EvalSettings(frames=8)
    return request_for(sample, shown_media(sample, adapter, settings), settings)


# half the samples' needles fall between the 8 frames: a 1 s needle in 6 or 20 s
CHANCE = {
    "name": "chance",
    "seed": 11,
    "samples": 400,
    "video": {"size": [64, 36], "fps": 4},
    "haystack": {"shot_seconds": [2, 6]},
    "needle": {"duration": 1.0},
    "question": {"options": 4},
    "grid": {"length": [6, 20]},
}


def _three_se(cell) -> float:
    return 3 * sqrt(0.25 * 0.75 / cell["n"])


def test_with_the_random_model_accuracy_sits_at_chance_given_shown_and_given_not_shown(tmp_path):
    config = tmp_path / "chance.yaml"
    config.write_text(json.dumps(CHANCE))
    evaluate(open_data(config), _random(), tmp_path / "run", EvalSettings(frames=8))
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())["exposure"]["overall"]
    assert summary["judged"] == 400 and 100 <= summary["shown"] <= 300, summary
    for side in ("given_shown", "given_not_shown"):
        cell = summary[side]
        assert abs(cell["accuracy"] - 0.25) <= _three_se(cell), (side, cell)


def _random():
    from mmhay.adapters import create_adapter

    return create_adapter("random", {"seed": "3"})


def test_uniform_samplings_measured_shown_rate_is_the_analytic_one(tmp_path):
    # vniah-shaped: a 1 s picture at a random place in 1 or 5 minutes at 2 fps, no depth grid
    config = {
        "name": "vniah_random",
        "seed": 2,
        "samples": 600,
        "video": {"size": [64, 36], "fps": 2},
        "haystack": {"shot_seconds": [20, 60]},
        "needle": {"duration": 1.0, "insertion": "insert"},
        "grid": {"length": [60, 300]},
    }
    path = tmp_path / "vniah.yaml"
    path.write_text(json.dumps(config))
    result = survey_exposure(open_data(path), EvalSettings(frames=16))
    rate = result.summary["overall"]["shown_rate"]
    expected = result.uniform_expectation
    assert 0.1 < expected < 0.2
    assert abs(rate - expected) <= 3 * sqrt(expected * (1 - expected) / result.samples), (rate, expected)
    # and the expectation is the union of the starts each sampled time catches
    assert uniform_expectation(61.0, 0, 1, 16) == pytest.approx(16 / 60, abs=1e-9)
    assert uniform_expectation(10.0, 0, 1, 100) == 1.0


def test_the_report_shows_three_heatmaps_and_old_runs_without_exposure_still_open(built, tmp_path, capsys):
    run = tmp_path / "run"
    config = tmp_path / "grid.yaml"
    config.write_text(json.dumps({**CHANCE, "samples": 24, "grid": {"length": [6, 20], "depth": [0.0, 0.5, 1.0]}}))
    evaluate(open_data(config), _random(), run, EvalSettings(frames=8))
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "report.html").read_text()
    assert "shown rate, accuracy, accuracy given shown" in page
    assert "never shown" in page or "shown, missed" in page
    pictures = list((tmp_path / "report").glob("exposure-*.png"))
    assert len(pictures) == 1
    from PIL import Image

    width, height = Image.open(pictures[0]).size
    plain_width = Image.open(next((tmp_path / "report").glob("heatmap-*.png"))).size[0]
    assert width > 2.5 * plain_width, "three panels side by side"
    # a run made before exposure existed: no exposure in its records or metrics
    old = tmp_path / "old"
    old.mkdir()
    for name in ("run.json", "responses.sqlite"):
        (old / name).write_bytes((run / name).read_bytes())
    records = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    (old / "samples.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if "shown" not in k and k != "exposure"}) + "\n" for r in records))
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["exposure"]
    (old / "metrics.json").write_text(json.dumps(metrics))
    capsys.readouterr()
    assert main(["report", str(old), "--out", str(tmp_path / "old-report")]) == 0
    old_page = (tmp_path / "old-report" / "report.html").read_text()
    assert "accuracy given shown" not in old_page and "never shown" not in old_page
    assert not list((tmp_path / "old-report").glob("exposure-*.png"))


def test_counting_is_scored_against_the_shown_count_too(tmp_path):
    config = tmp_path / "count.yaml"
    config.write_text(json.dumps({**CHANCE, "samples": 40, "task": "counting", "question": {"form": "open"}, "grid": {"length": [20]}}))
    evaluate(open_data(config), _random(), tmp_path / "run", EvalSettings(frames=6))
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    for record in records:
        shown = record["exposure"]
        assert shown["true_count"] == int(record["answer"])
        assert shown["shown_count"] == sum(1 for n in shown["needles"] if n["shown"])
        assert record["correct_vs_shown_count"] == (record["parsed"] == str(shown["shown_count"]))
        assert shown["shown"] == (shown["shown_count"] == shown["true_count"])
    assert any(r["exposure"]["shown_count"] < r["exposure"]["true_count"] for r in records)
    counting = json.loads((tmp_path / "run" / "metrics.json").read_text())["exposure"]["counting"]
    assert counting["shown_count_below_true"] == sum(1 for r in records if r["exposure"]["shown_count"] < r["exposure"]["true_count"])


def test_a_negative_question_about_an_absent_needle_has_nothing_to_show(tmp_path):
    config = tmp_path / "negative.yaml"
    config.write_text(json.dumps({**CHANCE, "samples": 8, "task": "negative", "grid": {"length": [6]}}))
    evaluate(open_data(config), _random(), tmp_path / "run", EvalSettings(frames=8))
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert {r["asked_present"] for r in records} == {True, False}
    for record in records:
        assert (record["exposure"]["shown"] is None) == (not record["asked_present"]), record["exposure"]


def test_minimums_are_read_from_one_line_and_refused_with_the_key_named(tmp_path, capsys):
    assert parse_minimums("frames=2,height=16") == Minimums(frames=2, height=16.0)
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({**CHANCE, "samples": 4}))
    assert main(["exposure", str(config), "--frames", "8", "--min-shown", "tokens=2"]) == 2
    assert "--min-shown" in capsys.readouterr().err
    assert main(["exposure", str(config), "--frames", "8", "--min-shown", "colour=1"]) == 2
    assert main(["exposure", str(config), "--frames", "64"]) == 0
    assert "shown %" in capsys.readouterr().out


def test_the_audit_reports_the_shown_rate_and_warns_for_cells_shown_less_than_half_the_time(tmp_path):
    from mmhay.audit import audit

    config = tmp_path / "a.yaml"
    config.write_text(json.dumps({**CHANCE, "samples": 16, "grid": {"length": [6, 40], "depth": [0.0, 0.5]}}))
    findings = {f.check: f for f in audit(open_data(config).samples(), recheck=0, frames=4)}
    shown = findings["shown"]
    assert shown.ok and shown.warning, shown
    assert "less than half" in shown.detail and shown.figures["cells_below_half"]
    findings = {f.check: f for f in audit(open_data(config).samples(), recheck=0, sampler="fps:rate=2,max_frames=200", frames=200)}
    assert findings["shown"].figures["shown_rate"] == 1.0 and not findings["shown"].warning


def test_a_sound_past_the_window_a_model_hears_is_not_shown(tmp_path):
    """Qwen2-Audio's feature extractor keeps its window (30 s in the real model, 4 s in the tiny
    one): a sound at the end of a 60 s recording was never heard, one at its start was."""
    from mmhay.adapters import create_adapter
    from mmhay.adapters.tiny import make_tiny_checkpoint

    config = tmp_path / "audio.yaml"
    suite = {
        "name": "heard",
        "seed": 1,
        "samples": 2,
        "generator": "audio",
        "audio": {"rate": 16000},
        "haystack": {"bed": "noise", "shot_seconds": [20, 60]},
        "needle": {"kind": "sound", "duration": 1.0},
        "grid": {"length": [60], "depth": [0.0, 1.0]},
    }
    config.write_text(json.dumps(suite))
    checkpoint = make_tiny_checkpoint("qwen2-audio", tmp_path / "model")
    adapter = create_adapter(f"hf:{checkpoint}", {"max_new_tokens": "3"})
    evaluate(open_data(config), adapter, tmp_path / "run", EvalSettings())
    records = {r["facets"]["depth"]: r for r in map(json.loads, (tmp_path / "run" / "samples.jsonl").read_text().splitlines())}
    start, end = records[0.0]["exposure"]["needles"][0], records[1.0]["exposure"]["needles"][0]
    assert start == {**start, "heard": True, "share": 1.0, "shown": True}
    assert end == {**end, "heard": True, "share": 0.0, "shown": False}
    extractor = adapter.processor.feature_extractor
    assert extractor.n_samples / extractor.sampling_rate < 59, "the window ends before the last needle"


@pytest.mark.parametrize("insertion", ["overlay", "insert"])
def test_a_text_needles_height_is_the_height_of_its_glyphs_as_drawn(insertion, tmp_path):
    """A caption (overlay) or a title card (insert, wrapped onto lines): the height recorded is
    that of a line of the text's white glyphs in the rendered frame, not the band's or the frame's."""
    import numpy as np

    config = {**INSERTED, "name": f"text-{insertion}", "video": {"size": [256, 144], "fps": 8}, "needle": {"kind": "text", "insertion": insertion, "duration": 1.0}}
    folder = tmp_path / "built"
    build_suite(parse_suite(config), folder)
    sample = _first(folder)
    needle = sample.truth["needles"][0]
    inside = _at(needle["start"]) + Fraction(1, 16)
    frames, times = render_plan(sample.media, FramePlan((inside,), (1.0,)))
    recorded = exposure(sample, frame_given(frames, times, {}))["needles"][0]["height_px"][0]
    x, y, w, h = needle["box"] or (0, 0, 256, 144)
    region = frames[0][y : y + h, x : x + w].astype(int)
    white = np.where((region.min(axis=2) > 200).any(axis=1))[0]  # rows holding the text's white fill
    lines = np.split(white, np.where(np.diff(white) > 2)[0] + 1)  # a line's rows, then a gap
    drawn = max(line.max() - line.min() + 1 for line in lines)
    assert recorded < h * 0.8, "the glyphs, not the band or the frame"
    assert abs(recorded - drawn) <= 3, (recorded, drawn)
