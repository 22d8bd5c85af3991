"""The attention a tiny LLaVA-OneVision's and Qwen2-VL's vision towers give each patch, captured by
``tower_attention``, against the towers' own attention weights (eager ``output_attentions``, or the
q and k the model itself hands its attention function), on the grid the compressor gets."""

import numpy as np
import pytest
import torch
import torch.nn.functional as nnf

from mmhay.adapters.tiny import make_tiny_checkpoint
from mmhay.adapters.token_compression import _llava_videos, _qwen_videos
from mmhay.adapters.tower_attention import tower_attention
from mmhay.compression import compress, output_tokens

TIMES = (0.5, 1.5, 2.5, 3.5)


def _loaded(family, tmp_path_factory, **options):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    checkpoint = make_tiny_checkpoint(family, tmp_path_factory.mktemp("models") / family)
    return AutoModelForImageTextToText.from_pretrained(checkpoint, **options).eval(), AutoProcessor.from_pretrained(checkpoint), checkpoint


def _inputs(processor):
    rng = np.random.default_rng(5)
    videos = [rng.integers(0, 256, (4, 64, 96, 3), dtype=np.uint8) for _ in range(2)]
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "which?"}]}], add_generation_prompt=True)
    return processor(text=[text, text], videos=videos, return_tensors="pt", padding=True)


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return _loaded("llava-onevision", tmp_path_factory)


def test_llava_onevision_attention_is_the_towers_own_at_the_feature_layer_pooled_as_the_features(llava):
    from transformers import AutoModelForImageTextToText

    model, processor, checkpoint = llava
    inputs = _inputs(processor)
    captured = tower_attention(model, inputs)
    eager = AutoModelForImageTextToText.from_pretrained(checkpoint, attn_implementation="eager").eval()
    pixels = inputs["pixel_values_videos"]
    with torch.no_grad():
        out = eager.model.vision_tower(pixels.flatten(0, 1), output_attentions=True, output_hidden_states=True, return_dict=True)
    layer = model.config.vision_feature_layer % len(out.hidden_states) - 1  # hidden_states[i] is layer i - 1's output
    tower = model.config.vision_config
    side = tower.image_size // tower.patch_size
    weights = out.attentions[layer]  # [B*F, heads, N, N]
    received = weights.mean((1, 2)).view(-1, 1, side, side)
    attn = eager.model.vision_tower.encoder.layers[layer].self_attn
    hidden = eager.model.vision_tower.encoder.layers[layer].layer_norm1(out.hidden_states[layer])
    keys = attn.k_proj(hidden).view(*hidden.shape[:2], -1, attn.head_dim).mean(2).view(-1, side, side, attn.head_dim)
    pooled = -(-side // 2)
    expected = nnf.interpolate(received, size=(pooled, pooled), mode="bilinear")[:, 0]
    expected_keys = nnf.interpolate(keys.permute(0, 3, 1, 2), size=(pooled, pooled), mode="bilinear").permute(0, 2, 3, 1)
    with torch.no_grad():
        grids = [video.grid for video in _llava_videos(model, inputs, [TIMES, TIMES])[0]]
    assert len(captured) == 2
    for row, (video, grid) in enumerate(zip(captured, grids)):
        assert video.attention.shape == grid.shape[:3] and video.keys.shape == (*grid.shape[:3], attn.head_dim)
        torch.testing.assert_close(video.attention, expected.view(2, 4, pooled, pooled)[row], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(video.keys, expected_keys.view(2, 4, pooled, pooled, -1)[row], rtol=1e-5, atol=1e-6)
        # each query's weights sum to one: a frame's N patches receive N / N in all; pooling halves each side
        torch.testing.assert_close(video.attention.sum((1, 2)), torch.full((4,), (pooled / side) ** 2))
        spec = "visionzip:dominant=2,contextual=1"
        assert len(compress(spec, grid, TIMES, attention=video.attention, keys=video.keys)) == output_tokens(spec, *grid.shape[:3])
    hooks = [module._forward_pre_hooks for module in model.modules()]
    assert not any(hooks), "the capture leaves no hook behind"


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl"])
def test_qwen_attention_is_what_its_last_block_computes_summed_over_each_merged_token(family, tmp_path_factory):
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    model, processor, _ = _loaded(family, tmp_path_factory)
    inputs = _inputs(processor)
    captured = tower_attention(model, inputs)
    visual = model.model.visual
    last, seen, merged = visual.blocks[-1].attn, [], []

    def recording(module, query, key, value, attention_mask, scaling=None, **kwargs):
        if module is last:  # the q and k the model itself computed, rotary embedding applied
            seen.append((query.float() @ key.float().transpose(-1, -2) * scaling).softmax(-1).mean((1, 2))[0])
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, **kwargs)

    AttentionInterface.register("mmhay_test_recording", recording)
    visual.set_attn_implementation("mmhay_test_recording")
    hook = visual.merger.register_forward_hook(lambda module, args, out: merged.append(out))
    with torch.no_grad():
        grids = [video.grid for video in _qwen_videos(model, inputs, [TIMES, TIMES])[0]]
    hook.remove()
    expected = torch.cat(seen).view(-1, 4).sum(-1)  # a merged token's 2x2 patches are consecutive
    # the order the blocks ran in, read off the model: where each merged feature the compressor gets
    # stands in the merger's output (Qwen2.5-VL's window order; Qwen2-VL's is row-major already)
    given = torch.cat([grid.reshape(-1, grid.shape[-1]) for grid in grids])
    order = [int((merged[0] == row).all(1).nonzero()[0]) for row in given]
    assert (order != sorted(order)) == (family == "qwen2.5-vl")
    assert [video.attention.shape for video in captured] == [grid.shape[:3] for grid in grids]
    torch.testing.assert_close(torch.cat([video.attention.reshape(-1) for video in captured]), expected[order], rtol=1e-5, atol=1e-7)


def test_visionzip_through_the_adapter_shows_the_model_its_token_count(llava):
    from mmhay.adapters import Request, create_adapter

    _, _, checkpoint = llava
    adapter = create_adapter(f"hf:{checkpoint}", {"max_new_tokens": "2"})
    frames = np.random.default_rng(6).integers(0, 256, (4, 64, 96, 3), dtype=np.uint8)

    def request(compress):
        return Request(key="r", prompt="Which?", answer_type="choice", options=("a", "b"), frames=frames, frame_times=TIMES, duration=4.0, fps=8.0, compress=compress)

    tower = adapter.model.config.vision_config
    side = -(-(tower.image_size // tower.patch_size) // 2)  # the pooled grid; then the newline token
    spec = "visionzip:dominant=2,contextual=1"
    assert adapter.generate([request(spec)])[0].usage["visual_tokens"] == output_tokens(spec, 4, side, side) + 1 < 4 * side * side + 1
