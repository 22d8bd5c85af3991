"""Every supported transformers family, each through a tiny checkpoint built offline and loaded
the way a user's checkpoint is: two samples end to end, the media placeholders in the prompt the
processor built, frames not resampled, batches that answer as single requests do (up to rounding:
``greedy.assert_batch_answers_as_alone``)."""

import json
import re

import numpy as np
import pytest
from greedy import assert_batch_answers_as_alone

from mmhay.adapters import Request, create_adapter
from mmhay.adapters.tiny import make_tiny_checkpoint
from mmhay.evaluate import EvalSettings, evaluate, open_data

# family: (the placeholder its chat template writes for the media, whether frames go in as one video)
FAMILIES = {
    "qwen2-vl": ("<|video_pad|>", True),
    "qwen2.5-vl": ("<|video_pad|>", True),
    "qwen3-vl": ("<|video_pad|>", True),
    "llava-onevision": ("<video>", True),
    "llava-next-video": ("<video>", True),
    "smolvlm2": ("<video>", True),
    "internvl": ("<video>", True),
    "gemma3": ("<start_of_image>", False),  # no video processor: the frames are a list of pictures
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, tmp_path_factory):
    name = request.param
    checkpoint = make_tiny_checkpoint(name, tmp_path_factory.mktemp("models") / name)
    return name, create_adapter(f"hf:{checkpoint}", {"max_new_tokens": "6"})


def _media_tokens(model, inputs) -> int:
    """How many tokens of the expanded prompt stand for pictures or frames."""
    config = model.model.config
    ids = {getattr(config, name, None) for name in ("image_token_id", "video_token_id", "image_token_index", "video_token_index")}
    ids = [i for i in ids if isinstance(i, int)]
    return int(np.isin(inputs["input_ids"].numpy(), ids).sum())


def _request(key: str, prompt: str, frames: np.ndarray, times) -> Request:
    return Request(key=key, prompt=prompt, answer_type="choice", options=("a", "b"), frames=frames, frame_times=tuple(times), duration=4.0, fps=8.0)


def test_two_samples_run_end_to_end_with_one_placeholder_per_video_or_picture(family, built_small, tmp_path):
    name, model = family
    placeholder, as_video = FAMILIES[name]
    assert model.as_video == as_video
    result = evaluate(open_data(built_small, limit=2), model, tmp_path / "run", EvalSettings(frames=4, batch_size=2, log_samples=True))
    assert result.asked == 2 and result.metrics["overall"]["n"] == 2
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    for record in records:
        assert record["input"].count(placeholder) == (1 if as_video else 4), record["input"]
        assert record["prompt"] in record["input"] or record["prompt"].strip() in record["input"]
        assert record["usage"]["prompt_tokens"] > len(record["prompt"]) // 8 and 1 <= record["usage"]["completion_tokens"] <= 6


def test_every_frame_reaches_the_model(family):
    _, model = family
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 48, 64, 3), dtype=np.uint8)
    two = _media_tokens(model, model._inputs([_request("a", "Q?", frames[:2], (0.5, 1.5))]))
    request = _request("a", "Q?", frames, (0.5, 1.5, 2.5, 3.5))
    four = _media_tokens(model, model._inputs([request]))
    assert 0 < two < four, "the processor must not sample the frames again"
    assert model.generate([request])[0].usage["visual_tokens"] == four, "the tokens the frames cost are recorded"


def test_a_batch_answers_as_its_requests_do_alone(family):
    _, model = family
    rng = np.random.default_rng(1)
    first = _request("a", "Which one?", rng.integers(0, 256, (4, 48, 64, 3), dtype=np.uint8), (0.5, 1.5, 2.5, 3.5))
    second = _request("b", "A much longer question, so that the batch needs padding on one side: which one?", rng.integers(0, 256, (4, 48, 64, 3), dtype=np.uint8), (0.5, 1.5, 2.5, 3.5))
    assert_batch_answers_as_alone(model, [first, second])


def test_qwen3_vl_is_told_when_each_frame_was_shown(tmp_path):
    model = create_adapter(f"hf:{make_tiny_checkpoint('qwen3-vl', tmp_path / 'q3')}")
    frames = np.random.default_rng(2).integers(0, 256, (4, 48, 64, 3), dtype=np.uint8)
    inputs = model._inputs([_request("a", "When?", frames, (0.5, 1.5, 2.5, 3.5))])
    text = model.processor.batch_decode(inputs["input_ids"])[0]
    # one timestamp per temporal patch of two frames: the mean of their times
    assert re.findall(r"<([0-9.]+) seconds>", text) == ["1.0", "3.0"]


def test_smolvlm2_reads_the_frame_times_given(tmp_path):
    model = create_adapter(f"hf:{make_tiny_checkpoint('smolvlm2', tmp_path / 's')}")
    frames = np.random.default_rng(3).integers(0, 256, (4, 48, 64, 3), dtype=np.uint8)
    inputs = model._inputs([_request("a", "When?", frames, (0.5, 1.5, 62.5, 63.5))])
    text = model.processor.batch_decode(inputs["input_ids"])[0]
    assert re.findall(r"Frame from (\d\d:\d\d)", text) == ["00:00", "00:01", "01:02", "01:03"]
