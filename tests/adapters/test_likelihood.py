"""Likelihood scoring (``--scoring likelihood``) checked against log-probabilities worked out here
from the model's own logits. The model is the shipped needle-finder (a tiny trained Qwen2-VL,
loaded through ``hf:``): its token distributions are sharp, so a wrong position, mask or row
moves a log-probability far past the tolerance, where a random-weight model's near-uniform ones
would hardly move."""

import json

import pytest
import torch
import yaml

from mmhay.adapters import Request, create_adapter
from mmhay.adapters.likelihood import written_answer
from mmhay.adapters.tiny import make_tiny_checkpoint
from mmhay.adapters.tiny.finder import FINDER_FRAMES
from mmhay.adapters.video_metadata import video_metadata
from mmhay.cli import main
from mmhay.evaluate import EvalSettings, evaluate, open_data, request_for, shown_media

# two choice and two open questions (a caption and a count), 3 s of 64x48 video each
_SUITE = {
    "name": "likelihood",
    "seed": 1,
    "samples": 4,
    "video": {"size": [64, 48], "fps": 4},
    "haystack": {"shot_seconds": [2, 3]},
    "grid": {"task": ["retrieval", "counting"], "form": ["choice", "open"], "length": [3]},
}
_SETTINGS = EvalSettings(frames=FINDER_FRAMES, scoring="likelihood")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    path = tmp_path_factory.mktemp("likelihood") / "suite.yaml"
    path.write_text(yaml.safe_dump(_SUITE))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return create_adapter(f"hf:{make_tiny_checkpoint('needle-finder', tmp_path_factory.mktemp('finder'))}", {"max_new_tokens": "2"})


def _log_probs_by_hand(model, request: Request, continuation: str):
    """The continuation's tokens, the log-probability of each and the argmax at its position,
    from one forward pass of the model over the prompt followed by the continuation."""
    prompt = model.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": request.prompt}]}], add_generation_prompt=True, tokenize=False
    )
    tokenizer = model.processor.tokenizer
    tokens = tokenizer.encode(prompt + continuation, add_special_tokens=False)[len(tokenizer.encode(prompt, add_special_tokens=False)) :]
    inputs = model.processor(
        text=[prompt + continuation], videos=[request.frames], video_metadata=[video_metadata(request)], do_sample_frames=False, return_tensors="pt"
    )
    with torch.inference_mode():
        logits = model.model(**inputs).logits[0].float()
    length = inputs["input_ids"].shape[1]
    # the logits at position p predict the token at p + 1
    predicting = torch.log_softmax(logits[length - len(tokens) - 1 : length - 1], dim=-1)
    assert inputs["input_ids"][0, length - len(tokens) :].tolist() == tokens
    return tokens, [float(predicting[j, t]) for j, t in enumerate(tokens)], predicting.argmax(dim=-1).tolist()


def _requests(model, suite) -> list[Request]:
    samples = list(open_data(suite).samples())
    return [request_for(sample, shown_media(sample, model, _SETTINGS), _SETTINGS) for sample in samples]


def test_the_choice_and_the_argmax_rule_match_the_logits_worked_out_by_hand(model, suite):
    requests = _requests(model, suite)
    assert sorted(r.answer_type for r in requests) == ["choice", "choice", "integer", "text"]
    together = model.score_likelihood(requests)  # one forward pass: choice rows and teacher-forced rows padded together
    alone = [model.score_likelihood([request])[0] for request in requests]
    for request, answer, single in zip(requests, together, alone):
        assert answer.error is None and single.text == answer.text, "batch size 1 and 4 give the same answer"
        if request.answer_type == "choice":
            letters = "ABCD"[: len(request.options)]
            summed, mean = {}, {}
            for letter in letters:
                tokens, log_probs, _ = _log_probs_by_hand(model, request, letter)
                summed[letter], mean[letter] = sum(log_probs), sum(log_probs) / len(tokens)
                assert answer.likelihood["mean_logprob"][letter] == pytest.approx(mean[letter], abs=1e-3)
                assert single.likelihood["mean_logprob"][letter] == pytest.approx(mean[letter], abs=1e-3)
            ranked = sorted(mean, key=mean.get, reverse=True)
            assert mean[ranked[0]] - mean[ranked[1]] > 0.01, "no near tie: the choice does not hang on rounding"
            assert answer.text == ranked[0] == max(summed, key=summed.get)
        else:
            reference = written_answer(request.answer_type, request.reference)
            tokens, log_probs, argmax = _log_probs_by_hand(model, request, reference)
            matched = sum(a == t for a, t in zip(argmax, tokens))
            for scored in (answer, single):
                assert scored.likelihood["mean_logprob"] == pytest.approx(sum(log_probs) / len(tokens), abs=1e-3)
            assert answer.likelihood["tokens"] == len(tokens) and answer.likelihood["argmax_matched"] == matched < len(tokens)
            assert answer.text == model.processor.tokenizer.decode(argmax, skip_special_tokens=True).strip()

    # the model's own greedy continuation, teacher-forced, is the argmax at every position: right
    caption = next(r for r in requests if r.answer_type == "text")
    with torch.inference_mode():
        inputs = model._inputs([caption])
        written = model.model.generate(**inputs, max_new_tokens=2, do_sample=False, temperature=None, top_p=None, top_k=None)
    greedy = model.processor.tokenizer.decode(written[0, inputs["input_ids"].shape[1] :])
    own = Request(**{**caption.__dict__, "reference": greedy})
    tokens, own_log_probs, argmax = _log_probs_by_hand(model, own, greedy)
    assert argmax == tokens == written[0, inputs["input_ids"].shape[1] :].tolist()
    longer = Request(**{**caption.__dict__, "reference": caption.reference + " was shown for a moment"})
    answer, beside = model.score_likelihood([own, longer])  # its 2 tokens padded on the right to the other's
    assert answer.text == greedy and answer.likelihood["argmax_matched"] == answer.likelihood["tokens"] == 2
    assert answer.likelihood["mean_logprob"] == pytest.approx(sum(own_log_probs) / 2, abs=1e-3)
    tokens, log_probs, _ = _log_probs_by_hand(model, longer, longer.reference)
    assert beside.likelihood["tokens"] == len(tokens) > 4
    assert beside.likelihood["mean_logprob"] == pytest.approx(sum(log_probs) / len(tokens), abs=1e-3)


def test_a_likelihood_run_never_shares_answers_with_a_generated_one(model, suite, tmp_path, capsys):
    cache = tmp_path / "shared.sqlite"
    scored = evaluate(open_data(suite), model, tmp_path / "likelihood", _SETTINGS, cache=cache)
    assert scored.asked == 4 and scored.cached == 0
    generated = evaluate(open_data(suite), model, tmp_path / "generate", EvalSettings(frames=FINDER_FRAMES), cache=cache)
    assert generated.asked == 4 and generated.cached == 0, "likelihood answers are not generated answers"
    assert "scoring" not in generated.metrics["settings"]
    again = evaluate(open_data(suite), model, tmp_path / "again", EvalSettings(frames=FINDER_FRAMES, batch_size=4, scoring="likelihood"), cache=cache)
    assert again.asked == 0 and again.cached == 4, "the likelihood answers are found again beside the generated ones"

    records = {run: [json.loads(line) for line in (tmp_path / run / "samples.jsonl").read_text().splitlines()] for run in ("likelihood", "again")}
    assert [(r["output"], r["likelihood"], r["correct"]) for r in records["likelihood"]] == [(r["output"], r["likelihood"], r["correct"]) for r in records["again"]]
    for record in records["likelihood"]:
        if record["answer_type"] == "choice":
            assert record["parsed"] == record["output"] == max(record["likelihood"]["mean_logprob"], key=record["likelihood"]["mean_logprob"].get)
        else:
            assert record["correct"] == (record["likelihood"]["argmax_matched"] == record["likelihood"]["tokens"])
    metrics = json.loads((tmp_path / "likelihood" / "metrics.json").read_text())
    assert metrics["settings"]["scoring"] == "likelihood"
    assert "scoring: likelihood" in (tmp_path / "likelihood" / "results.md").read_text()

    # a model that gives only text cannot be scored so: one line, exit 2, nothing written
    assert main(["eval", "--model", "random", "--data", str(suite), "--out", str(tmp_path / "random"), "--scoring", "likelihood"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--scoring" in error and "hf:" in error
    assert not (tmp_path / "random").exists()


def test_the_reference_is_written_as_the_prompt_asks():
    assert written_answer("sequence", "B,A,C") == "B, A, C"
    assert written_answer("span", "12.5,15") == "12.5 - 15"
    assert written_answer("grid", "2,1,3;-1") == "2, 1, 3; -1"
    assert written_answer("integer", "3") == written_answer("integer", "3") == "3"
