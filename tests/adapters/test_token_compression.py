"""`--compress` after the vision tower, with tiny Qwen2-VL, Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision,
LLaVA-NeXT-Video, InternVL and SmolVLM2 checkpoints: a compressor that keeps every token answers
as no compression does (the features really are the ones the model reads, at the positions it
gives them), a real one shrinks the visual tokens to its count, its kept tokens sit at their
origins' positions, batches answer as their requests do alone (up to rounding:
``greedy.assert_batch_answers_as_alone``), what cannot apply is refused before anything runs, and
in video mode (Gemma 3: frames as pictures) a sampler's shrunk frames cost their share of the
tokens (``mmhay.adapters.frame_scales``)."""

import json
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from greedy import answers_and_logits, assert_batch_answers_as_alone

from mmhay.adapters import Request, create_adapter
from mmhay.adapters.tiny import make_tiny_checkpoint
from mmhay.cli import main
from mmhay.compression import output_tokens
from mmhay.errors import ConfigError
from mmhay.evaluate import EvalSettings, evaluate, open_data


FAMILIES = ["qwen2-vl", "qwen2.5-vl", "qwen3-vl", "llava-onevision", "llava-next-video", "internvl", "smolvlm2"]


def _placeholder(config) -> int:
    """The id of the token a family's prompt holds one of per visual token of a video."""
    if config.model_type.startswith("qwen"):
        return config.video_token_id
    return config.image_token_id if config.model_type in ("internvl", "smolvlm", "gemma3") else config.video_token_index


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    """The tiny adapter of a family, built once for the module."""
    built: dict = {}

    def adapter(family):
        if family not in built:
            checkpoint = make_tiny_checkpoint(family, tmp_path_factory.mktemp("models") / family)
            built[family] = create_adapter(f"hf:{checkpoint}", {"max_new_tokens": "6"})
        return built[family]

    return adapter


@pytest.fixture(scope="module", params=["qwen2-vl", "llava-onevision"])
def model(request, adapters):
    return request.param, adapters(request.param)


@pytest.fixture(scope="module")
def plain_runs(adapters):
    """Each family's uncompressed answers and logits for ``_requests()``, asked once."""
    runs: dict = {}

    def run(family):
        if family not in runs:
            runs[family] = answers_and_logits(adapters(family), _requests())
        return runs[family]

    return run


def _requests(compress=""):
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, (4, 64, 96, 3), dtype=np.uint8) for _ in range(2)]
    prompts = ["Which one?", "A longer question, so that the batch is padded on the left: which one?"]
    times = (0.5, 1.5, 2.5, 3.5)
    return [
        Request(key=f"r{i}", prompt=p, answer_type="choice", options=("a", "b"), frames=f, frame_times=times, duration=4.0, fps=8.0, compress=compress)
        for i, (p, f) in enumerate(zip(prompts, frames))
    ]


@pytest.mark.parametrize("keep_all", ["spatial_pool:k=1", "evs_prune:q=0", "tome:target=1024"])
@pytest.mark.parametrize("family", FAMILIES)
def test_keeping_every_token_answers_as_no_compression(adapters, plain_runs, family, keep_all):
    # frames 1 s apart over 4 s at 8 fps: Qwen2.5-VL's processor gives a time step of 2 s a
    # temporal patch (its default, without second_per_grid_ts, is 1 s)
    adapter = adapters(family)
    plain, plain_logits = plain_runs(family)
    kept, kept_logits = answers_and_logits(adapter, _requests(keep_all))
    # exact, not close: both runs encode the same batch in the same shapes, k=1 pooling (a mean
    # over one cell), q=0 pruning (every token, in order) and ToMe with more targets than tokens
    # copy the features bit for bit, and the positions are the model's own
    assert torch.equal(kept_logits, plain_logits)
    assert [a.text for a in kept] == [a.text for a in plain]
    assert [a.usage["visual_tokens"] for a in kept] == [a.usage["visual_tokens"] for a in plain]


def test_a_compressor_cuts_the_visual_tokens_to_its_count(model):
    family, adapter = model
    plain = adapter.generate(_requests()[:1])[0].usage["visual_tokens"]
    if family == "qwen2-vl":  # 4 frames -> 2 temporal patches of a (h, w) merged grid
        t, h, w = adapter._inputs(_requests()[:1])["video_grid_thw"][0].tolist()
        spec, expected = "spatial_pool:k=2", output_tokens("spatial_pool:k=2", t, h // 2, w // 2)
    else:  # 4 frames of a side x side pooled grid, then the newline token
        side = round(((plain - 1) // 4) ** 0.5)
        spec, expected = "tome:target=2", output_tokens("tome:target=2", 4, side, side) + 1
    answer = adapter.generate(_requests(spec)[:1])[0]
    assert answer.usage["visual_tokens"] == expected < plain
    assert answer.usage["prompt_tokens"] == adapter.generate(_requests()[:1])[0].usage["prompt_tokens"] - (plain - expected)


def test_a_compressed_batch_answers_as_its_requests_alone(model):
    family, adapter = model
    spec = "temporal_pool:k=2" if family == "qwen2-vl" else "spatial_pool:k=2"
    assert_batch_answers_as_alone(adapter, _requests(spec))


def test_a_run_with_compression_records_it_and_its_token_count(model, built_small, tmp_path):
    family, adapter = model
    spec = "spatial_pool:k=2"
    run = tmp_path / "run"
    result = evaluate(open_data(built_small, limit=2), adapter, run, EvalSettings(frames=4, compress=spec))
    assert json.loads((run / "run.json").read_text())["settings"]["compress"] == spec
    plain = evaluate(open_data(built_small, limit=2), adapter, tmp_path / "plain", EvalSettings(frames=4))
    assert result.metrics["usage"]["visual_tokens"] < plain.metrics["usage"]["visual_tokens"]


def test_what_cannot_apply_is_refused_before_anything_runs(model, built_small, tmp_path):
    family, adapter = model
    adapter.check_compression("evs_prune")  # every compressor applies to every family
    with pytest.raises(ConfigError, match="unknown compressor"):
        evaluate(open_data(built_small, limit=1), adapter, tmp_path / "run2", EvalSettings(compress="squash"))


def test_a_model_without_a_vision_tower_refuses_compression(built_small, tmp_path, capsys):
    assert main(["eval", "--model", "random", "--data", str(built_small), "--out", str(tmp_path / "r"), "--compress", "spatial_pool"]) == 2
    assert "--compress" in capsys.readouterr().err


def test_an_odd_frame_count_compresses_over_its_temporal_patches(model):
    family, adapter = model
    requests = [Request(**{**request.__dict__, "frames": request.frames[:3], "frame_times": request.frame_times[:3]}) for request in _requests("temporal_pool:k=2")]
    plain = adapter.generate([Request(**{**requests[0].__dict__, "compress": ""})])[0].usage["visual_tokens"]
    answer = adapter.generate(requests[:1])[0]
    assert 0 < answer.usage["visual_tokens"] < plain


@contextmanager
def _language_model_inputs(adapter, seen: list):
    """Record each forward of generation, prefill then each decode step: the input ids, and what
    the language model is called with (position ids, input embeddings, Qwen3-VL's deepstack features),
    and Gemma 3's token types."""
    names = ("position_ids", "inputs_embeds", "deepstack_visual_embeds")

    def call(module, args, kwargs):
        seen.append({"input_ids": kwargs["input_ids"], **({"token_type_ids": kwargs["token_type_ids"]} if kwargs.get("token_type_ids") is not None else {})})

    def language_model(module, args, kwargs):
        seen[-1].update({name: kwargs[name] for name in names if kwargs.get(name) is not None})

    handles = [
        adapter.model.register_forward_pre_hook(call, with_kwargs=True),
        (getattr(adapter.model.model, "language_model", None) or adapter.model.model.text_model).register_forward_pre_hook(language_model, with_kwargs=True),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _spaced(frames: int, spacing: float, compress: str = "") -> Request:
    """One request of ``frames`` frames ``spacing`` seconds apart, from a video at 8 fps."""
    pixels = np.random.default_rng(6).integers(0, 256, (frames, 64, 96, 3), dtype=np.uint8)
    times = tuple(spacing * (i + 0.5) for i in range(frames))
    return Request(key="t", prompt="Which one?", answer_type="choice", options=("a", "b"), frames=pixels, frame_times=times, duration=spacing * frames, fps=8.0, compress=compress)


def _seen(adapter, request: Request) -> tuple[list, dict | None]:
    """Each forward's inputs for ``request`` alone (prefill first), and the answer's kept provenance."""
    seen: list = []
    with _language_model_inputs(adapter, seen):
        (answer,) = adapter.generate([request])
    return seen, answer.received.get("tokens")


def _visual(adapter, ids):
    config = adapter.model.config
    return ids == _placeholder(config)


def test_qwen2_5_vl_steps_time_as_its_processor_says_and_temporal_pooling_widens_the_step(adapters):
    # 8 frames 2 s apart over 16 s at 8 fps: the processor's sampled rate is 8/128 * 8 = 0.5 fps,
    # so a temporal patch (2 frames) spans 4 s; tokens_per_second=2 makes that 8 position steps
    adapter = adapters("qwen2.5-vl")
    assert adapter.model.config.vision_config.tokens_per_second == 2
    steps = {}
    for spec in ("", "temporal_pool:k=2"):
        (prefill, *_), _ = _seen(adapter, _spaced(8, 2.0, spec))
        times = prefill["position_ids"][1, 0, _visual(adapter, prefill["input_ids"][0])]  # the M-RoPE time row
        steps[spec] = sorted({t - int(times[0]) for t in times.tolist()})
    assert steps[""] == [0, 8, 16, 24]
    assert steps["temporal_pool:k=2"] == [0, 16]  # two kept grid frames, each spanning two temporal patches


def _origins(tokens: dict) -> list[int]:
    """The flat origin index of each kept token: its box's top-left cell in its first frame."""
    t, h, w = tokens["grid"]
    return [f0 * h * w + y0 * w + x0 for f0, _, y0, x0, _, _ in tokens["kept"]]


@pytest.fixture(scope="module")
def plain_seen(adapters):
    """Each forward's inputs for ``_spaced(4, 2.0)`` uncompressed, per family, asked once."""
    seen: dict = {}

    def run(family):
        if family not in seen:
            seen[family] = _seen(adapters(family), _spaced(4, 2.0))[0]
        return seen[family]

    return run


@pytest.mark.parametrize(("family", "shown"), [(f, s) for s in ("evs_prune:q=0.25", "scales:2,2,1,1") for f in FAMILIES] + [("gemma3", "scales:2,2,1,1")])
def test_kept_tokens_sit_at_the_positions_of_their_origins(adapters, plain_seen, family, shown):
    # EVS keeps the first (temporal patch's) frame whole and some tokens of later ones, not the
    # first in a row: consecutive positions or all tokens in Qwen3-VL's first run would not do;
    # a sampler's first frames at scale 2 (in video mode; as pictures on Gemma 3) are pooled 2x2
    # after the vision tower
    adapter = adapters(family)
    plain = plain_seen(family)
    request = _spaced(4, 2.0, shown) if shown.startswith("evs") else Request(**{**_spaced(4, 2.0).__dict__, "frame_scales": (2.0, 2.0, 1.0, 1.0)})
    kept, tokens = _seen(adapter, request)
    origins = _origins(tokens)
    t, h, w = tokens["grid"]
    assert origins == sorted(origins) and h * w < len(origins) < t * h * w and origins != list(range(len(origins)))
    # the compressed prompt is the uncompressed one less the visual tokens not kept: its text (Qwen3-VL's
    # <t seconds> stamps between temporal patches included) and LLaVA-OneVision's newline token stay
    visual = _visual(adapter, plain[0]["input_ids"][0])
    order = torch.cumsum(visual.long(), 0) - 1  # each visual token's index among them
    chosen = set(origins) | ({int(visual.sum()) - 1} if family == "llava-onevision" else set())  # its newline
    stays = ~visual | torch.tensor([bool(v) and int(i) in chosen for v, i in zip(visual, order)])
    assert torch.equal(kept[0]["input_ids"][0], plain[0]["input_ids"][0, stays])
    if family == "gemma3":  # its pictures' bidirectional attention follows the token types, resized with the runs
        assert torch.equal(kept[0]["token_type_ids"][0], plain[0]["token_type_ids"][0, stays])
    # each token at its uncompressed position (Qwen: the M-RoPE rows; row 0 only marks the mask)
    mrope = family.startswith("qwen")
    was, now = (plain[0]["position_ids"], kept[0]["position_ids"]) if not mrope else (plain[0]["position_ids"][1:], kept[0]["position_ids"][1:])
    assert torch.equal(now, was[..., stays])
    if shown.startswith("evs"):  # EVS copies the features it keeps: exact, deepstack levels too
        assert torch.equal(kept[0]["inputs_embeds"], plain[0]["inputs_embeds"][:, stays])
        if family == "qwen3-vl":
            index = torch.tensor(origins)
            assert all(torch.equal(a, b[index]) for a, b in zip(kept[0]["deepstack_visual_embeds"], plain[0]["deepstack_visual_embeds"], strict=True))
    # decoding goes on from the last prompt token + 1, as uncompressed
    for step_kept, step_plain in zip(kept[1:], plain[1:], strict=False):
        assert torch.equal(step_kept["position_ids"][1:] if mrope else step_kept["position_ids"], step_plain["position_ids"][1:] if mrope else step_plain["position_ids"])
    assert len(kept) > 1


@pytest.mark.parametrize("family", [*FAMILIES, "gemma3"])
def test_a_plan_of_shrunk_frames_costs_the_visual_tokens_of_its_budget_in_video_mode(adapters, family):
    # keyclip prices a frame at scale 2 as a quarter: 4 whole frames and 16 at half size are a
    # budget of 8, as 8 uniform frames; 64x64 frames make 2x2 merged Qwen grids (1x1 at half).
    # Gemma 3 takes frames as pictures, each resized to one size (4 soft tokens, 2x2, here)
    adapter = adapters(family)
    config = adapter.model.config
    token = _placeholder(config)
    if family == "gemma3":  # frame scales only: --compress applies to frames given as a video
        with pytest.raises(ConfigError, match="as a video"):
            adapter.check_compression("evs_prune")

    def request(frames, scales=()):
        pixels = np.random.default_rng(8).integers(0, 256, (frames, 64, 64, 3), dtype=np.uint8)
        times = tuple(i + 0.5 for i in range(frames))
        return Request(key="k", prompt="Which one?", answer_type="choice", options=("a", "b"), frames=pixels, frame_times=times, duration=float(frames), fps=8.0, frame_scales=scales)

    for budget in (8, 16):
        uniform = int((adapter._inputs([request(budget)])["input_ids"] == token).sum())
        whole, halved = budget // 2, 2 * budget
        (received,) = adapter.receive([request(whole + halved, (1.0,) * whole + (2.0,) * halved)])
        tokens = received["tokens"]
        planned = len(tokens["kept"]) + (family == "llava-onevision")  # LLaVA-OneVision's newline
        assert abs(planned - uniform) <= 0.05 * uniform, (budget, planned, uniform)
        # the kept boxes tile every frame's grid once (a needle anywhere is fully kept, at its scale),
        # 2x2 cells a token where the frame was halved
        t, h, w = tokens["grid"]
        cover = np.zeros((t, h, w), int)
        for f0, f1, y0, x0, y1, x1 in tokens["kept"]:
            cover[f0:f1, y0:y1, x0:x1] += 1
            assert (y1 - y0, x1 - x0) == ((1, 1) if f0 < t * whole // (whole + halved) else (2, 2))
        assert (cover == 1).all()
        if family in ("internvl", "smolvlm2"):  # their processors' output does not say the frames' size
            continue
        sizes = received["frame_sizes"]  # as the pooled tokens resolve each frame: half size where halved
        assert sizes[whole:] == [[(w + 1) // 2, (h + 1) // 2] for w, h in sizes[:whole]] * (halved // whole) and len(sizes) == whole + halved


def test_qwen3_vl_runs_follow_each_kept_tokens_origin_whatever_order_a_compressor_keeps():
    from mmhay.adapters.token_compression import _by_temporal_patch, _run_lengths, _Video
    from mmhay.compression import compress

    features = torch.arange(3 * 2 * 2 * 1, dtype=torch.float32).view(3, 2, 2, 1)  # 3 temporal patches of 2x2
    video = _Video(features, [0.0, 1.0, 2.0], carry=(features * 10,))
    kept = compress("evs_prune:q=0.5", features, video.times, carry=video.carry)
    shuffled = type(kept)(**{**kept.__dict__, **{n: getattr(kept, n).flip(0) for n in ("tokens", "frames", "boxes", "sizes", "times", "origins")}, "carried": (kept.carried[0].flip(0),)})
    ordered = _by_temporal_patch(shuffled, video)
    patches = (ordered.origins // 4).tolist()
    assert patches == sorted(patches) and torch.equal(ordered.carried[0], ordered.tokens * 10)
    assert torch.equal(ordered.tokens[:, 0], ordered.origins.float())  # token i of this grid is the number i
    assert _run_lengths(ordered, video) == [patches.count(p) for p in range(3)]


@pytest.mark.parametrize("family", ["qwen2.5-vl", "llava-onevision"])
def test_likelihood_scoring_reads_the_kept_tokens_at_their_positions(adapters, family):
    adapter = adapters(family)
    # a written answer of several tokens: the scored continuation runs past the prompt's positions
    spelled = [Request(**{**r.__dict__, "answer_type": "sequence", "options": (), "reference": "B,A,C"}) for r in _requests()]
    plain = adapter.score_likelihood(spelled)
    kept = adapter.score_likelihood([Request(**{**r.__dict__, "compress": "evs_prune:q=0"}) for r in spelled])  # explicit positions
    assert [a.likelihood for a in kept] == [a.likelihood for a in plain]
    assert [a.text for a in kept] == [a.text for a in plain]


def test_an_odd_grid_pooled_to_its_scale_costs_what_the_plan_priced():
    from mmhay.adapters.frame_scales import pooled_to_scales

    # a 3 x 4 grid at scale 2 is priced 3 tokens a frame: 2 x 2 then 1 x 2 in turn, 24 for 8 frames
    # (rounding each side alone would spend 4 a frame, 32)
    features = torch.randn(9, 3, 4, 5, generator=torch.Generator().manual_seed(2))
    scales = [1.0] + [2.0] * 8
    out = pooled_to_scales(features, [float(i) for i in range(9)], scales)
    assert len(out) == 12 + 24
    for f in range(9):  # every cell of every frame in some token's box (adaptive bins overlap where 3 rows pool to 2)
        covered = torch.zeros(3, 4, dtype=torch.int64)
        for y0, x0, y1, x1 in out.boxes[out.frames[:, 0] == f].tolist():
            covered[y0:y1, x0:x1] += 1
        assert bool((covered >= 1).all()), f
