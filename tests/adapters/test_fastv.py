"""FastV (``--compress fastv``) on tiny Qwen2-VL and LLaVA-OneVision checkpoints: its plain
selection on hand-computed attention rows, no pruning when K is past the last layer (the same
logits as no compression), the tokens the hooks keep against an independent eager forward, the
layers >= K holding fewer tokens, and bad specs refused before anything runs."""

import math

import numpy as np
import pytest
import torch
from greedy import assert_batch_answers_as_alone

from mmhay.adapters import Request, create_adapter
from mmhay.adapters.fastv import fastv_keep, kept_count
from mmhay.adapters.fastv_hooks import last_query_attention
from mmhay.adapters.tiny import make_tiny_checkpoint
from mmhay.compression import COMPRESSORS, compress, output_tokens
from mmhay.errors import ConfigError
from mmhay.evaluate import EvalSettings, evaluate, open_data


@pytest.fixture(scope="module", params=["qwen2-vl", "llava-onevision"])
def model(request, tmp_path_factory):
    if request.param == "qwen2-vl":
        checkpoint = request.getfixturevalue("tiny_qwen2_vl")
    else:
        checkpoint = make_tiny_checkpoint(request.param, tmp_path_factory.mktemp("models") / request.param)
    return request.param, create_adapter(f"hf:{checkpoint}", {"max_new_tokens": "3"})


@pytest.fixture(scope="module")
def plain(model):
    """The uncompressed answer, its logits and its cache, asked once per family."""
    return _generated(model[1], _request())


def _request(compress="", seed=4):
    frames = np.random.default_rng(seed).integers(0, 256, (4, 64, 96, 3), dtype=np.uint8)
    return Request(key="r", prompt="Which one?", answer_type="choice", options=("a", "b"), frames=frames, frame_times=(0.5, 1.5, 2.5, 3.5), duration=4.0, fps=8.0, compress=compress)


def test_the_selection_keeps_the_most_attended_visual_tokens_in_order():
    row = torch.tensor([0.10, 0.50, 0.20, 0.05, 0.30, 0.30, 0.90])  # position 6 is text: never a candidate
    visual = torch.tensor([1, 2, 4, 5])
    assert fastv_keep(row, visual, 2).tolist() == [1, 4]  # 0.5, then 0.3 at 4 and 5: the tie goes to the earlier
    assert fastv_keep(row, visual, 3).tolist() == [1, 4, 5]  # back in sequence order, not by score
    assert fastv_keep(row, visual, 4).tolist() == [1, 2, 4, 5]  # R = 0: every visual token
    assert fastv_keep(row, visual, 0).tolist() == []  # R = 1: none
    assert fastv_keep(torch.full((7,), 0.25), visual, 2).tolist() == [1, 2]  # all tied: the first ones
    with pytest.raises(ValueError):
        fastv_keep(row, visual, 5)
    # FastV's round(V * (1 - R)), Python's half-to-even
    assert [kept_count(12, 0.5), kept_count(10, 0.25), kept_count(10, 0.75), kept_count(7, 0.0), kept_count(7, 1.0)] == [6, 8, 2, 7, 0]


def test_the_last_query_attention_is_worked_out_by_hand():
    # two query heads share one key head; scaling 1; keys 0, (ln 3, 0), (0, ln 3)
    keys = torch.tensor([[0.0, 0.0], [math.log(3), 0.0], [0.0, math.log(3)]])[None, None]
    query = torch.tensor([[[9.0, 9.0], [1.0, 0.0]], [[9.0, 9.0], [0.0, 1.0]]])[None]  # [1, 2 heads, 2 queries, 2]: the last counts
    # head 0 scores (0, ln3, 0) -> (1, 3, 1)/5; head 1 (0, 0, ln3) -> (1, 1, 3)/5; mean (0.2, 0.4, 0.4)
    torch.testing.assert_close(last_query_attention(query, keys, None, 1.0), torch.tensor([[0.2, 0.4, 0.4]]))
    # key 0 masked: head 0 (3, 1)/4, head 1 (1, 3)/4 -> (0, 0.5, 0.5), as a boolean or an additive mask
    allowed = torch.tensor([False, True, True]).expand(1, 1, 2, 3)
    torch.testing.assert_close(last_query_attention(query, keys, allowed, 1.0), torch.tensor([[0.0, 0.5, 0.5]]))
    additive = torch.zeros(1, 1, 2, 3).masked_fill(~allowed, torch.finfo(torch.float32).min)
    torch.testing.assert_close(last_query_attention(query, keys, additive, 1.0), torch.tensor([[0.0, 0.5, 0.5]]))


def test_fastv_is_listed_and_counts_its_tokens_but_compresses_no_features():
    entry = COMPRESSORS.get("fastv")
    assert entry.meta["inside"] == "llm"
    assert output_tokens("fastv:k=2,r=0.25", 4, 2, 3) == 18
    with pytest.raises(ConfigError, match="inside the language model"):
        compress("fastv", torch.zeros(2, 2, 2, 4), [0.0, 1.0])


def test_k_past_the_last_layer_answers_as_no_compression(model, plain):
    family, adapter = model
    # the tiny language models have layers 0 and 1: k=2 takes the attention at layer 1 through
    # FastV's attention function (wrapping sdpa), and there is no layer to prune
    (plain, plain_logits, _), (kept, kept_logits, _) = plain, _generated(adapter, _request("fastv:k=2,r=0.5"))
    assert torch.equal(kept_logits, plain_logits)  # same computation, same shapes: bit for bit
    assert kept.text == plain.text
    assert kept.usage["visual_tokens"] == plain.usage["visual_tokens"]
    assert adapter.model.config.get_text_config()._attn_implementation == "sdpa"  # restored


def _generated(adapter, request):
    """The answer, the logits of every step [steps, vocabulary] and the cache (keys per layer) of its generate call."""
    model = adapter.model
    generate, kept = model.generate, []

    def keeping(**kwargs):
        output = generate(**kwargs, output_logits=True, return_dict_in_generate=True)
        kept.append((torch.stack(output.logits, 1)[0], output.cache))
        return output.sequences

    model.generate = keeping
    try:
        (answer,) = adapter.generate([request])
    finally:
        del model.generate
    return answer, *kept[0]


def test_the_hooks_keep_the_tokens_the_last_token_attends_to_at_layer_k_minus_1(model, plain):
    family, adapter = model
    r = 0.5
    model_ = adapter.model
    inputs = adapter._inputs([_request()])
    token = model_.config.video_token_id if family == "qwen2-vl" else model_.config.video_token_index
    visual = (inputs["input_ids"][0] == token).nonzero().flatten()
    if family == "llava-onevision":
        visual = visual[:-1]  # its newline token is kept, not ranked
    # independently: the uncompressed forward with eager attention, layer 0's weights of the last token;
    # LLaVA-OneVision then generates with eager attention too (4-D additive masks to cut), Qwen2-VL with sdpa (none)
    model_.set_attn_implementation({"text_config": "eager"})
    try:
        with torch.inference_mode():
            attentions = model_(**inputs, output_attentions=True).attentions
        if family == "llava-onevision":
            answer, logits, cache = _generated(adapter, _request(f"fastv:k=1,r={r}"))
            masked = _masked_logits(adapter, answer)
    finally:
        model_.set_attn_implementation({"text_config": "sdpa"})
    if family == "qwen2-vl":
        answer, _, cache = _generated(adapter, _request(f"fastv:k=1,r={r}"))
    row = attentions[0][0].mean(0)[-1][visual]
    keep = kept_count(len(visual), r)
    ranked = row.sort(descending=True).values
    assert ranked[keep - 1] - ranked[keep] > 1e-6  # weights near 0.026 apart by 1e-5: float32 rounding (1e-9) breaks no tie
    expected = visual[row.topk(keep).indices].sort().values

    plain, _, plain_cache = plain
    h, w = answer.received["tokens"]["grid"][1:]
    ordinals = [f * h * w + y * w + x for f, _, y, x, _, _ in answer.received["tokens"]["kept"]]
    assert visual[ordinals].tolist() == expected.tolist()
    extra = 1 if family == "llava-onevision" else 0
    assert answer.usage["visual_tokens"] == keep + extra < plain.usage["visual_tokens"]

    # layer 0 saw every token, layer 1 only the kept ones, then each generated token (decoding attended to them alone)
    length = inputs["input_ids"].shape[1]
    steps = cache.layers[0].keys.shape[-2] - length
    assert cache.layers[1].keys.shape[-2] == length - (len(visual) - keep) + steps
    # and they are the uncompressed run's layer-1 keys at the kept places: layer 0's output, rotated at the original positions
    dropped = set(visual.tolist()) - set(expected.tolist())
    places = torch.tensor([i for i in range(length) if i not in dropped])
    torch.testing.assert_close(cache.layers[1].keys[:, :, : len(places)], plain_cache.layers[1].keys[:, :, places])
    if family == "llava-onevision":  # dropping the tokens answers as masking them out of layer 1's keys, prefill and decoding
        _assert_same_steps(logits, masked)


def _masked_logits(adapter, answer):
    """FastV by its definition: the uncompressed model, whose layers >= 1 may not attend to the dropped tokens (eager masks)."""
    model_ = adapter.model
    inputs = adapter._inputs([_request()])
    h, w = answer.received["tokens"]["grid"][1:]
    token = model_.config.video_token_index
    visual = (inputs["input_ids"][0] == token).nonzero().flatten()[:-1]
    kept = {f * h * w + y * w + x for f, _, y, x, _, _ in answer.received["tokens"]["kept"]}
    dropped = visual[[i for i in range(len(visual)) if i not in kept]]

    def masking(layer, args, kwargs):
        mask = kwargs["attention_mask"].clone()
        mask[..., dropped] = torch.finfo(mask.dtype).min
        return args, {**kwargs, "attention_mask": mask}

    handles = [layer.register_forward_pre_hook(masking, with_kwargs=True) for layer in model_.model.language_model.layers[1:]]
    try:
        return _generated(adapter, _request())[1]
    finally:
        for handle in handles:
            handle.remove()


def _assert_same_steps(got, expected):
    """Every step's logits agree up to rounding, until a near-tie (if any) sends greedy decoding another way."""
    for step, (a, b) in enumerate(zip(got, expected)):
        tolerance = 1e-4 * float(b.abs().max())
        torch.testing.assert_close(a, b, rtol=0, atol=tolerance, msg=lambda m: f"step {step}: {m}")
        if int(a.argmax()) != int(b.argmax()):
            break


def test_bad_fastv_specs_are_refused_before_anything_runs(model, built_small, tmp_path):
    family, adapter = model
    for spec, key in (("fastv:k=-1", "k"), ("fastv:k=0", "k"), ("fastv:r=1.5", "r"), ("fastv:r=-0.1", "r")):
        with pytest.raises(ConfigError) as caught:
            evaluate(open_data(built_small, limit=1), adapter, tmp_path / "run", EvalSettings(compress=spec))
        assert caught.value.source == "--compress" and caught.value.key == key
        assert not (tmp_path / "run").exists()


def test_a_family_fastv_cannot_hook_is_refused(tmp_path):
    adapter = create_adapter(f"hf:{make_tiny_checkpoint('llava-next-video', tmp_path / 'm')}", {})
    with pytest.raises(ConfigError, match="--compress.*fastv hooks the language models of"):
        adapter.check_compression("fastv:k=2,r=0.5")


def test_qwen3_vl_needs_k_past_its_deepstack_layers():
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    from mmhay.adapters.fastv import check_fastv
    from mmhay.adapters.tiny.common import TINY_DECODER

    text = {**TINY_DECODER, "num_hidden_layers": 4, "vocab_size": 64, "head_dim": 16, "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3]}}
    vision = {"depth": 3, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 32, "deepstack_visual_indexes": [0, 1]}
    with torch.device("meta"):  # the check reads the configuration alone: no weights needed
        model = Qwen3VLForConditionalGeneration(Qwen3VLConfig(text_config=text, vision_config=vision))
    with pytest.raises(ConfigError, match="deepstack") as caught:
        check_fastv(model, "fastv:k=1")  # deepstack adds to the visual tokens after layers 0 and 1
    assert caught.value.key == "k"
    check_fastv(model, "fastv:k=2")


def test_a_fastv_batch_answers_as_its_requests_alone(model):
    family, adapter = model
    if family != "qwen2-vl":
        pytest.skip("one family: the batch path is the families' common code, and three generate calls cost 2 s a family")
    # left padding: the rows' visual tokens sit at other places, and each row drops its own
    longer = Request(**{**_request("fastv:k=1,r=0.5", seed=5).__dict__, "key": "r2", "prompt": "A longer question, so that the batch is padded on the left: which one?"})
    assert_batch_answers_as_alone(adapter, [_request("fastv:k=1,r=0.5"), longer])
