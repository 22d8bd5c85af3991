"""Reasoning models end to end: the tiny reasoner (a Qwen2-VL whose weights are set to think, then
answer B; its chat template opens ``<think>`` in the prompt) evaluated through the command."""

import json

import numpy as np
import pytest

from mmhay.adapters import Request, create_adapter
from mmhay.adapters.tiny import make_tiny_checkpoint
from mmhay.adapters.tiny.reasoner import REASONER_REPLY
from mmhay.cli import main


@pytest.fixture(scope="module")
def reasoner(tmp_path_factory):
    return make_tiny_checkpoint("reasoner", tmp_path_factory.mktemp("models") / "reasoner")


def _run(checkpoint, data, out, model_args=None):
    argv = ["eval", "--model", f"hf:{checkpoint}", "--data", str(data), "--out", str(out), "--frames", "2", "--limit", "2"]
    assert main(argv + (["--model-args", model_args] if model_args else [])) == 0
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return records, json.loads((out / "metrics.json").read_text())


def test_a_reasoning_model_is_read_after_its_reasoning(reasoner, built_small, tmp_path, capsys):
    records, metrics = _run(reasoner, built_small, tmp_path / "thinks")
    assert metrics["model"]["max_new_tokens"] == 8192 and "enable_thinking" not in metrics["model"]
    reasoning = REASONER_REPLY.split("</think>")[0]
    for record in records:
        assert record["output"] == REASONER_REPLY  # as the model wrote it: the template opened <think>, the reply closes it
        assert record["parsed"] == ("B" if record["answer_type"] == "choice" else record["parsed"])
        assert record["reasoning"] == {"chars": len(reasoning), "tokens": 2, "cut_off": False, "final_text": "The answer is B."}
    assert any(record["answer_type"] == "choice" for record in records)
    assert metrics["reasoning"] == {"n": 2, "cut_off": 0, "mean_chars": len(reasoning), "mean_tokens": 2}

    records, metrics = _run(reasoner, built_small, tmp_path / "cut", "max_new_tokens=2")
    assert [record["output"] for record in records] == [reasoning] * 2 and all(record["parsed"] is None for record in records)
    assert all(record["reasoning"]["cut_off"] for record in records)
    assert metrics["reasoning"]["cut_off"] == 2 and metrics["overall"]["unparsed"] == 0
    assert "2 were cut off inside it" in (tmp_path / "cut" / "results.md").read_text()

    # predicted now and scored later, the answer is read after the reasoning just the same
    out = tmp_path / "later"
    assert main(["eval", "--model", f"hf:{reasoner}", "--data", str(built_small), "--out", str(out), "--frames", "2", "--limit", "2", "--predict-only"]) == 0
    assert main(["score", str(out)]) == 0
    later = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["parsed"] for r in later] == [r["parsed"] for r in _run(reasoner, built_small, tmp_path / "again")[0]]
    assert any(r["answer_type"] == "choice" and r["parsed"] == "B" for r in later)



def test_enable_thinking_reaches_the_chat_template(reasoner):
    model = create_adapter(f"hf:{reasoner}", {"enable_thinking": "false"})
    assert model.identity()["enable_thinking"] is False and model.settings.max_new_tokens == 32  # no thinking, no room for it
    frames = np.random.default_rng(0).integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    (answer,) = model.generate([Request(key="a", prompt="Which?", answer_type="choice", options=("x", "y"), frames=frames, frame_times=(0.5, 1.5))])
    assert answer.prompt.endswith("<think></think>") and answer.text == "The answer is B." and "reasoning_tokens" not in answer.usage


def test_a_model_that_does_not_reason_keeps_its_budget_and_identity(tiny_qwen2_vl, built_small, tmp_path, capsys):
    model = create_adapter(f"hf:{tiny_qwen2_vl}")
    assert not model.thinking.reasons and model.settings.max_new_tokens == 32
    assert set(model.identity()) == {"adapter", "pretrained", "checkpoint", "dtype", "max_new_tokens", "frames_as", "decoding", "software", "max_new_tokens_by_type"}
    assert main(["eval", "--model", f"hf:{tiny_qwen2_vl}", "--model-args", "enable_thinking=true", "--data", str(built_small), "--out", str(tmp_path)]) == 2
    assert "enable_thinking" in capsys.readouterr().err


def test_the_tags_and_the_reasoning_are_read_from_the_tokenizer_and_the_chat_template():
    from mmhay.adapters.reasoning import Thinking, thinking_of
    from mmhay.adapters.tiny.common import byte_level_tokenizer
    from mmhay.scoring.reasoning import ThinkTags

    tokenizer = byte_level_tokenizer()
    tokenizer.chat_template = "{% if enable_thinking is false %}<seed:think></seed:think>{% endif %}"  # tags as text (Keye, InternVL)
    assert thinking_of(tokenizer) == Thinking(ThinkTags("<seed:think>", "</seed:think>"), None, False, True, True)
    tokenizer.add_tokens(["◁think▷", "◁/think▷"], special_tokens=True)  # Kimi-VL's
    tokenizer.chat_template = "{{ messages[0]['content'] }}◁think▷"
    kimi = thinking_of(tokenizer)
    assert kimi.tags == ThinkTags("◁think▷", "◁/think▷") and kimi.reasons and kimi.special and not kimi.switch
    tokenizer.add_tokens(["<think>", "</think>"])  # Qwen3-VL Instruct's tokens, and a template that never thinks
    tokenizer.chat_template = "{{ messages[0]['content'] }}"
    instruct = thinking_of(tokenizer)
    assert instruct.tags == ThinkTags() and instruct.ids is not None and not instruct.special and not instruct.reasons


def test_answer_types_that_list_an_item_per_needle_get_a_larger_budget_each_cut_to_its_own(tiny_qwen2_vl):
    import torch

    from mmhay.adapters.reasoning import token_budgets, within_budgets

    model = create_adapter(f"hf:{tiny_qwen2_vl}")
    assert model.identity()["max_new_tokens"] == 32 and model.identity()["max_new_tokens_by_type"] == {"counts": 64, "grid": 96}
    frames = np.random.default_rng(0).integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    grid = Request(key="g", prompt="Where?", answer_type="grid", frames=frames, frame_times=(0.5, 1.5))
    choice = Request(key="c", prompt="Which?", answer_type="choice", options=("x", "y"), frames=frames, frame_times=(0.5, 1.5))
    assert token_budgets(model.settings, [grid, choice]) == [96, 32]
    assert token_budgets(model.settings, [Request(key="k", prompt="p", answer_type="grid", generation={"max_new_tokens": 5})]) == [5]
    together = model.generate([grid, choice])
    (alone,) = model.generate([choice])
    # the random-weight model does not stop early: each reply runs to its own budget, in one batch
    assert [answer.usage["completion_tokens"] for answer in together] == [96, 32]
    assert together[1].text == alone.text and alone.usage["completion_tokens"] == 32
    cut = within_budgets(torch.arange(12).reshape(2, 6), [6, 2], pad=-1)
    assert cut.tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, -1, -1, -1, -1]]
    # a budget the user gives applies to every answer type
    assert "max_new_tokens_by_type" not in create_adapter(f"hf:{tiny_qwen2_vl}", {"max_new_tokens": "40"}).identity()
