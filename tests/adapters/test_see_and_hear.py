"""Models that see and hear (``mmhay.adapters.audio_visual``): each omni family through a tiny
checkpoint built offline, asked two cross-modal samples of a built audio-visual suite end to end;
the logged prompt holds the family's video and sound placeholders (the soundtrack woven into the
frames chunk by chunk, where the processor does so), and the answer depends on the sound."""

import json
import re

import numpy as np
import pytest
import torch

from mmhay.adapters import Answer, Request, create_adapter
from mmhay.adapters.audio_visual import sound_arguments
from mmhay.adapters.tiny import make_tiny_checkpoint
from mmhay.build import build_suite
from mmhay.config import parse_suite
from mmhay.evaluate import EvalSettings, evaluate, open_data

# family: the frames asked, the logged prompt's media part, the name of the sound features the processor makes
FAMILIES = {
    # the soundtrack woven into the video: 2 s of frames (a pair), then its 2 s of sound, twice
    "qwen2.5-omni": (4, r"<\|vision_bos\|><\|audio_bos\|>(?:<\|VIDEO\|><\|AUDIO\|>){2}<\|audio_eos\|><\|vision_eos\|>", "input_features"),
    "qwen3-omni": (4, r"<\|vision_start\|><\|audio_start\|>(?:<\|video_pad\|><\|audio_pad\|>){2}<\|audio_end\|><\|vision_end\|>", "input_features"),
    # no video processor: the recording, then the frames as pictures (two: each costs ~480 tokens)
    "phi4-multimodal": (2, r"<\|audio\|>(?:<\|image\|>){2}", "audio_input_features"),
}

AV_SUITE = {
    "name": "av",
    "seed": 1,
    "samples": 2,
    "video": {"size": [64, 48], "fps": 4},
    "haystack": {"bed": "music"},
    "needle": {"insertion": {"image": "insert", "sound": "overlay"}, "duration": 1},
    "grid": {"task": ["cross_modal"], "length": [4]},
}


@pytest.fixture(scope="module")
def built_av(tmp_path_factory):
    """Two cross-modal samples (which sound plays with a picture), built to video files with sound."""
    out = tmp_path_factory.mktemp("built") / "av"
    build_suite(parse_suite(AV_SUITE), out)
    return out


@pytest.mark.parametrize("name", list(FAMILIES))
def test_two_cross_modal_samples_are_seen_and_heard_end_to_end(name, built_av, tmp_path):
    count, placeholders, features = FAMILIES[name]
    model = create_adapter(f"hf:{make_tiny_checkpoint(name, tmp_path / name)}", {"max_new_tokens": "4"})
    assert model.takes_audio and model.sees
    result = evaluate(open_data(built_av), model, tmp_path / "run", EvalSettings(frames=count, batch_size=2, log_samples=True))
    assert result.asked == 2 and result.metrics["skipped"] == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert {record["task"] for record in records} == {"cross_modal"}
    for record in records:
        assert re.search(placeholders + re.escape(record["prompt"].strip()[:20]), record["input"]), record["input"]

    sample = next(open_data(built_av).samples())
    media = sample.media
    frames = np.random.default_rng(0).integers(0, 256, (count, 48, 64, 3), dtype=np.uint8)
    times = tuple(4 * (k + 0.5) / count for k in range(count))
    heard = Request(key="a", prompt=sample.question, answer_type="choice", options=sample.options, frames=frames,
                    frame_times=times, duration=4.0, fps=4.0, audio=media.audio(), audio_rate=media.audio_rate)
    silent = Request(**{**heard.__dict__, "audio": np.zeros_like(heard.audio)})
    inputs = model._inputs([heard])
    assert features in inputs, "the sound's features reach the model"
    positions = {}
    language_model = getattr(model.model.model, "language_model", None)
    if count == 4:  # woven: the thinker's time-aligned positions, read where its language model gets them
        language_model.register_forward_pre_hook(lambda module, args, kwargs: positions.update(kwargs), with_kwargs=True)
    with torch.inference_mode():
        logits = model.model(**inputs).logits[0, -1]
        deaf = model.model(**model._inputs([silent])).logits[0, -1]
    assert not torch.allclose(logits, deaf), "the answer must depend on the sound"
    if count == 4:
        config, ids = model.model.config, inputs["input_ids"][0]
        time = positions["position_ids"][0, 0]
        video, sound = time[ids == config.video_token_id], time[ids == config.audio_token_id]
        # the second pair of frames (2 s in) sits at the position of the sound heard 2 s in: half of its 4 s
        assert sorted(set(video.tolist())) == [sound[0].item(), sound[0].item() + len(sound) // 2]


def test_the_sound_is_the_span_the_frames_cover_at_the_extractors_rate(tmp_path):
    """A 44.1 kHz recording goes in at 16 kHz, cut to the frames' span, its pitch kept."""
    model = create_adapter(f"hf:{make_tiny_checkpoint('qwen2.5-omni', tmp_path / 'q')}")
    rate, seconds = 44100, 8
    tone = np.sin(2 * np.pi * 440 * np.arange(rate * seconds) / rate).astype(np.float32)[None]
    frames = np.zeros((4, 48, 64, 3), dtype=np.uint8)
    # frames at 2.5, 3.5, 4.5, 5.5 s: one a second, so the span is 2..6 s
    request = Request(key="a", prompt="Q?", answer_type="choice", frames=frames, frame_times=(2.5, 3.5, 4.5, 5.5), duration=8.0, audio=tone, audio_rate=rate)
    arguments = sound_arguments(model.processor, [request], "audio+video", True)
    (sound,) = arguments["audio"]
    assert arguments["sampling_rate"] == 16000 and len(sound) == 4 * 16000
    assert arguments["fps"] == pytest.approx(1.0), "the frames' rate over the span, so frames and sound line up"
    spectrum = np.abs(np.fft.rfft(sound))
    assert np.argmax(spectrum) * 16000 / len(sound) == pytest.approx(440, abs=1)

    # a 4-second and an 8-second video: the processor takes one frame rate a call, so they are asked apart
    short, long = (
        Request(key=key, prompt="Q?", answer_type="choice", frames=frames, frame_times=tuple(seconds * (k + 0.5) / 4 for k in range(4)),
                duration=seconds, audio=tone[:, : rate * seconds], audio_rate=rate)
        for key, seconds in (("short", 4), ("long", 8))
    )
    calls = []
    model._per_kind([short, long, short], lambda batch: calls.append([r.key for r in batch]) or [Answer("") for _ in batch])
    assert sorted(calls) == [["long"], ["short", "short"]]
