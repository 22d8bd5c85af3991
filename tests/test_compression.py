import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmhay.compression import COMPRESSORS, Compressed, compress, output_tokens, parse_compressor
from mmhay.errors import ConfigError

SPECS = [
    "spatial_pool",
    "spatial_pool:k=2,mode=bilinear_ceil",
    "spatial_pool:k=3",
    "temporal_pool:k=2",
    "temporal_pool:k=4",
    "dct_lowpass",
    "dct_lowpass:kh=2,kw=1,inverse=false",
    "evs_prune:q=0.75",
    "evs_prune:q=0",
    "tome:target=4",
    "tome:target=3,scope=clip4",
    "tome:target=2,scope=clip2,metric=headmean:2",
]


def grid(frames, h, w, channels=1):
    """Integer features x[f, i, j, c] = 100 f + 10 i + j + c/10 that can be averaged by hand."""
    f, i, j, c = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in (frames, h, w, channels)), indexing="ij")
    return 100 * f + 10 * i + j + c / 10


def noise(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def assert_provenance(out: Compressed, frames, boxes, sizes, times):
    assert out.frames.tolist() == frames
    assert out.boxes.tolist() == boxes
    assert out.sizes.tolist() == pytest.approx(sizes)
    assert out.times.tolist() == pytest.approx(times)


@pytest.mark.parametrize("spec", SPECS)
def test_every_compressor_keeps_as_many_tokens_as_announced_with_well_formed_provenance(spec):
    x = noise(5, 6, 6, 4)
    before = x.clone()
    out = compress(spec, x, [0.5 * t for t in range(5)])
    assert torch.equal(x, before), "the input is left as it was"
    assert len(out) == output_tokens(spec, 5, 6, 6)
    assert out.tokens.shape == (len(out), 4) and out.tokens.dtype == x.dtype
    assert out.frames.dtype == out.boxes.dtype == torch.int64 and out.sizes.dtype == out.times.dtype == torch.float32
    assert out.frames.shape == (len(out), 2) and out.boxes.shape == (len(out), 4)
    assert ((out.frames[:, 0] < out.frames[:, 1]) & (out.frames[:, 0] >= 0) & (out.frames[:, 1] <= 5)).all()
    y0, x0, y1, x1 = out.boxes.unbind(1)
    assert ((y0 >= 0) & (x0 >= 0) & (y0 < y1) & (x0 < x1) & (y1 <= 6) & (x1 <= 6)).all()
    assert (out.sizes.sum() <= 5 * 36 + 1e-3) and (out.sizes >= 1).all()
    assert (out.frames[1:, 0] >= out.frames[:-1, 0]).all(), "tokens come in time order"
    assert ((out.times >= 0.5 * out.frames[:, 0] - 1e-6) & (out.times <= 0.5 * (out.frames[:, 1] - 1) + 1e-6)).all()


@settings(max_examples=40, deadline=None)
@given(spec=st.sampled_from(SPECS[:2] + SPECS[3:]), frames=st.integers(1, 6), h=st.integers(2, 5), w=st.integers(2, 5))
def test_announced_token_count_holds_for_any_small_grid(spec, frames, h, w):
    out = compress(spec, noise(frames, h, w, 4), range(frames))
    assert len(out) == output_tokens(spec, frames, h, w)
    dropping = {"spatial_pool": frames * (h // 2 * 2) * (w // 2 * 2), "evs_prune:q=0.75": len(out), "evs_prune:q=0": len(out)}
    covered = dropping.get(spec, frames * h * w)
    assert out.sizes.sum().item() == pytest.approx(covered), "sizes count the source tokens kept"


@pytest.mark.parametrize("spec", SPECS)
def test_bf16_in_bf16_out_close_to_float32(spec):
    x = noise(4, 4, 4, 8, seed=1).round()  # integers: exact in bf16, so both runs see the same input
    low, full = compress(spec, x.bfloat16(), range(4)), compress(spec, x, range(4))
    assert low.tokens.dtype == torch.bfloat16
    if not spec.startswith(("evs", "tome")):  # selection may differ on float32 near-ties; values elsewhere may not
        torch.testing.assert_close(low.tokens.float(), full.tokens, rtol=1e-2, atol=1e-2)


def test_spatial_avg_pool_by_hand_drops_remainder_rows_and_columns():
    out = compress("spatial_pool:k=2", grid(2, 3, 5), [0.0, 0.5])
    # cells (0..1, 0..1) of frame f average to 100 f + 5 + 0.5; columns 2..3 to 100 f + 5 + 2.5
    assert out.tokens[:, 0].tolist() == [5.5, 7.5, 105.5, 107.5]
    assert_provenance(out, [[0, 1], [0, 1], [1, 2], [1, 2]], [[0, 0, 2, 2], [0, 2, 2, 4]] * 2, [4] * 4, [0, 0, 0.5, 0.5])
    assert out.sizes.sum() == 16 < 2 * 3 * 5


def test_bilinear_ceil_equals_avg_pooling_on_even_grids():
    x = noise(2, 4, 6, 3)
    avg, bilinear = compress("spatial_pool:mode=avg", x, [0, 1]), compress("spatial_pool:mode=bilinear_ceil", x, [0, 1])
    torch.testing.assert_close(bilinear.tokens, avg.tokens)
    assert bilinear.boxes.tolist() == avg.boxes.tolist() and bilinear.sizes.tolist() == avg.sizes.tolist()


def test_bilinear_ceil_on_an_odd_grid_gives_ceil_and_interpolates():
    out = compress("spatial_pool:k=2,mode=bilinear_ceil", grid(1, 3, 3), [2.0])
    # 3 -> 2 samples at source coordinates 0.25 and 1.75; bilinear is exact on the linear 10 i + j
    assert len(out) == output_tokens("spatial_pool:mode=bilinear_ceil", 1, 3, 3) == 4
    assert out.tokens[:, 0].tolist() == pytest.approx([2.75, 4.25, 17.75, 19.25])
    assert_provenance(out, [[0, 1]] * 4, [[0, 0, 2, 2], [0, 1, 2, 3], [1, 0, 3, 2], [1, 1, 3, 3]], [2.25] * 4, [2.0] * 4)


def test_bilinear_boxes_leave_out_cells_read_with_zero_weight():
    out = compress("spatial_pool:mode=bilinear_ceil", grid(1, 5, 1), [0])
    # 5 -> 3 samples at 1/3, exactly 2 and 11/3: the middle one reads row 2 alone
    assert out.boxes[:, [0, 2]].tolist() == [[0, 2], [2, 3], [3, 5]]
    assert out.tokens[:, 0].tolist() == pytest.approx([10 / 3, 20, 110 / 3])


def test_temporal_pool_averages_the_tail_group_over_its_real_size():
    x = torch.tensor([1.0, 3.0, 8.0]).view(3, 1, 1, 1)
    out = compress("temporal_pool:k=2", x, [0.0, 1.0, 3.0])
    assert out.tokens[:, 0].tolist() == [2.0, 8.0]
    assert_provenance(out, [[0, 2], [2, 3]], [[0, 0, 1, 1]] * 2, [2, 1], [0.5, 3.0])


def test_temporal_pool_keeps_every_position_in_row_major_order():
    out = compress("temporal_pool:k=2", grid(2, 2, 2), [0, 1])
    assert out.tokens[:, 0].tolist() == [50.0, 51.0, 60.0, 61.0]
    assert out.boxes.tolist() == [[0, 0, 1, 1], [0, 1, 1, 2], [1, 0, 2, 1], [1, 1, 2, 2]]


def test_dct_lowpass_preserves_a_constant_image():
    out = compress("dct_lowpass", torch.full((2, 4, 6, 2), 3.5), [0, 1])
    assert len(out) == output_tokens("dct_lowpass", 2, 4, 6) == 2 * 2 * 3
    torch.testing.assert_close(out.tokens, torch.full((12, 2), 3.5))
    assert out.boxes.tolist()[:3] == [[0, 0, 2, 2], [0, 2, 2, 4], [0, 4, 2, 6]]
    assert out.sizes.tolist() == [4.0] * 12


def test_dct_lowpass_removes_the_checkerboard():
    checker = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).view(1, 2, 2, 1)
    out = compress("dct_lowpass:kh=1,kw=1", 7 + checker, [0])
    torch.testing.assert_close(out.tokens, torch.tensor([[7.0]]))
    # on a 4x4 grid the highest DCT frequency is a checkerboard under a half-sine envelope
    rows = torch.tensor([math.cos(math.pi * (2 * n + 1) * 3 / 8) for n in range(4)])
    highest = (rows[:, None] * rows[None]).view(1, 4, 4, 1)
    torch.testing.assert_close(compress("dct_lowpass", highest, [0]).tokens, torch.zeros(4, 1), atol=1e-6, rtol=0)


def test_dct_lowpass_at_full_size_is_the_identity_and_coefficients_hold_the_dc_term():
    x = noise(2, 3, 5, 2)
    torch.testing.assert_close(compress("dct_lowpass:kh=3,kw=5", x, [0, 1]).tokens, x.reshape(-1, 2), atol=1e-5, rtol=1e-5)
    coefficients = compress("dct_lowpass:kh=2,kw=2,inverse=false", torch.full((1, 4, 4, 1), 2.0), [0])
    torch.testing.assert_close(coefficients.tokens[:, 0], torch.tensor([2.0 * 4, 0, 0, 0]), atol=1e-6, rtol=0)
    assert coefficients.boxes.tolist() == [[0, 0, 4, 4]] * 4


def test_dct_lowpass_boxes_are_the_proportional_input_regions():
    out = compress("dct_lowpass:kh=2,kw=3", torch.zeros(1, 5, 3, 1), [0])
    assert out.boxes.tolist() == [[0, 0, 3, 1], [0, 1, 3, 2], [0, 2, 3, 3], [2, 0, 5, 1], [2, 1, 5, 2], [2, 2, 5, 3]]


def test_the_kronecker_form_of_dct_lowpass_gives_its_tokens():
    # the one-product form dct_lowpass takes on CUDA for 16-bit features, checked in float32 here
    from mmhay.compression import _kron_resample, _lowpass_matrix

    x = noise(3, 6, 4, 5)
    want = compress("dct_lowpass:kh=3,kw=2", x, [0, 1, 2]).tokens
    got = _kron_resample(x, _lowpass_matrix(6, 3, True).float(), _lowpass_matrix(4, 2, True).float())
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def evs_clip():
    # 3 frames of 1 x 2 tokens: a changes at frame 1, b changes (less) at frame 2
    a0, b0 = [1.0, 0.0], [0.0, 1.0]
    return torch.tensor([[a0, b0], [[0.0, 1.0], b0], [[0.0, 1.0], [1.0, 1.0]]]).view(3, 1, 2, 2)


def test_evs_keeps_changed_tokens_and_drops_unchanged_ones():
    out = compress("evs_prune:q=0.34", evs_clip(), [0.0, 1.0, 2.0])
    # keep max(2, int(6 * 0.66)) = 3: frame 0 whole, then a@1 (dissimilarity 1) over b@2 (0.29)
    assert output_tokens("evs_prune:q=0.34", 3, 1, 2) == len(out) == 3
    assert_provenance(out, [[0, 1], [0, 1], [1, 2]], [[0, 0, 1, 1], [0, 1, 1, 2], [0, 0, 1, 1]], [1] * 3, [0, 0, 1])
    more = compress("evs_prune:q=0.3", evs_clip(), [0.0, 1.0, 2.0])  # keeps 4: b@2 next; a@2, b@1 unchanged
    torch.testing.assert_close(more.tokens, evs_clip().reshape(-1, 2)[[0, 1, 2, 5]])
    assert more.frames[:, 0].tolist() == [0, 0, 1, 2]


def test_evs_keeps_frame_zero_whole_even_when_later_frames_change_more():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(2, 1, 1, 2)
    out = compress("evs_prune:q=0.75", x, [0, 1])  # max(1, int(2 * 0.25)) = 1 token
    assert out.tokens.tolist() == [[1.0, 0.0]] and out.frames.tolist() == [[0, 1]]


def test_evs_breaks_ties_by_keeping_the_earlier_token():
    same, other = [1.0, 0.0], [0.0, 1.0]
    x = torch.tensor([[same, same, same], [other, other, same]]).view(2, 1, 3, 2)
    out = compress("evs_prune:q=0.34", x, [0, 1])  # keep int(6 * 0.66) = 3: frame 0 only
    assert out.boxes[:, 1].tolist() == [0, 1, 2]
    out = compress("evs_prune:q=0.3", x, [0, 1])  # keep 4: tokens 3 and 4 tie at 1, token 3 wins
    assert out.frames[:, 0].tolist() == [0, 0, 0, 1] and out.boxes[-1].tolist() == [0, 0, 1, 1]


def test_tome_merges_the_two_identical_tokens_first():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, 3.0]]).view(1, 2, 2, 2)
    out = compress("tome:target=3", x, [4.0])
    # A = {0, 2}, B = {1, 3}: token 2 matches token 3 with cosine 1 and merges into it
    assert out.tokens.tolist() == [[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]
    assert_provenance(out, [[0, 1]] * 3, [[0, 0, 1, 1], [0, 1, 1, 2], [1, 0, 2, 2]], [1, 1, 2], [4.0] * 3)


def test_tome_merges_by_size_weighted_mean():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 4.0]]).view(1, 1, 3, 2)
    out = compress("tome:target=1", x, [0.0])
    # round 1: 2 joins 1 -> (1, 2.5) of size 2; round 2: 0 joins it -> (1 + 2, 0 + 5) / 3
    torch.testing.assert_close(out.tokens, torch.tensor([[1.0, 5 / 3]]))
    assert_provenance(out, [[0, 1]], [[0, 0, 1, 3]], [3], [0.0])


def test_tome_clip_scope_merges_across_frames_and_orders_by_earliest_source():
    a = [[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]
    b = [[0.0, 1.0], [0.0, 1.0], [6.0, 0.0]]
    x = torch.tensor([[a[t], b[t]] for t in range(3)]).view(3, 1, 2, 2)
    out = compress("tome:target=1,scope=clip4", x, [0.0, 1.0, 2.0])
    # a tail clip of 3 frames keeps 3 tokens: every a token joins b@2, the only one pointing along x
    assert out.tokens.tolist() == [[3.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    assert_provenance(out, [[0, 3], [0, 1], [1, 2]], [[0, 0, 1, 2], [0, 1, 1, 2], [0, 1, 1, 2]], [4, 1, 1], [1.25, 0, 1])


def test_tome_headmean_metric_averages_head_groups_before_matching():
    x = torch.tensor([[0.0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0.5, 0.5]]).view(1, 1, 4, 4)
    # features: token 0 is closest to token 3; head means (c0+c2, c1+c3): token 0 equals token 1
    assert compress("tome:target=3", x, [0]).boxes.tolist() == [[0, 0, 1, 4], [0, 1, 1, 2], [0, 2, 1, 3]]
    out = compress("tome:target=3,metric=headmean:2", x, [0])
    assert out.boxes.tolist() == [[0, 0, 1, 2], [0, 2, 1, 3], [0, 3, 1, 4]]
    assert out.tokens[0].tolist() == [0.5, 0.0, 0.5, 0.0]


def test_tome_with_a_target_above_the_grid_keeps_every_token():
    x = noise(3, 2, 2, 3)
    out = compress("tome:target=16,scope=clip4", x, range(3))
    assert len(out) == output_tokens("tome:target=16", 3, 2, 2) == 12
    torch.testing.assert_close(out.tokens, x.reshape(-1, 3))


@pytest.mark.parametrize("scope", ["frame", "clip4"])
def test_tome_sizes_sum_to_all_tokens_and_frames_stay_in_their_set(scope):
    out = compress(f"tome:target=2,scope={scope}", noise(5, 3, 3, 4), range(5))
    assert len(out) == 10 and out.sizes.sum().item() == 45
    length = 1 if scope == "frame" else 4
    assert ((out.frames[:, 0] // length) == ((out.frames[:, 1] - 1) // length)).all()


def test_parse_compressor_types_options_like_their_defaults():
    assert parse_compressor("tome: target=16 , scope=clip4") == ("tome", {"target": 16, "scope": "clip4"})
    assert parse_compressor("dct_lowpass:kh=3,inverse=no") == ("dct_lowpass", {"kh": 3, "inverse": False})
    assert parse_compressor("evs_prune:q=0.5") == ("evs_prune", {"q": 0.5})
    assert set(COMPRESSORS.names()) >= {"spatial_pool", "temporal_pool", "dct_lowpass", "evs_prune", "tome"}


@pytest.mark.parametrize(
    "spec, key, words",
    [
        ("spatial_pol", "", "unknown compressor"),
        ("spatial_pool:stride=2", "stride", "unknown option"),
        ("spatial_pool:k", "k", "key=value"),
        ("spatial_pool:k=2,k=3", "k", "twice"),
        ("spatial_pool:k=two", "k", "integer"),
        ("spatial_pool:k=0", "k", "at least 1"),
        ("spatial_pool:mode=nearest", "mode", "bilinear_ceil"),
        ("evs_prune:q=1.5", "q", "0..1"),
        ("dct_lowpass:inverse=maybe", "inverse", "true or false"),
        ("dct_lowpass:kh=9", "kh", "1..4"),
        ("tome:scope=clip", "scope", "clipN"),
        ("tome:metric=headmean:3", "metric", "do not divide"),
    ],
)
def test_bad_specs_raise_config_errors_naming_the_key(spec, key, words):
    with pytest.raises(ConfigError) as caught:
        compress(spec, torch.zeros(2, 4, 4, 4), [0, 1])
    assert caught.value.source == "--compress" and caught.value.key == key and words in str(caught.value)


@pytest.mark.parametrize("spec", ["spatial_pool:k=2", "temporal_pool:k=2", "dct_lowpass", "evs_prune:q=0.5", "tome:target=3", "tome:target=2,scope=clip2"])
def test_each_token_names_its_first_source_as_origin(spec):
    features = torch.randn(4, 4, 6, 8, generator=torch.Generator().manual_seed(3))
    out = compress(spec, features, [0.5, 1.5, 2.5, 3.5])
    h, w = 4, 6
    frame, y, x = out.origins // (h * w), out.origins % (h * w) // w, out.origins % w
    # the origin lies in the token's first source frame and inside its box
    assert torch.equal(frame, out.frames[:, 0])
    assert bool(((out.boxes[:, 0] <= y) & (y < out.boxes[:, 2]) & (out.boxes[:, 1] <= x) & (x < out.boxes[:, 3])).all())
    if spec.startswith("evs"):  # a pruned token is its own source
        assert torch.equal(out.tokens, features.reshape(-1, 8)[out.origins])


@pytest.mark.parametrize("spec", ["spatial_pool:k=2", "temporal_pool:k=2", "evs_prune:q=0.5", "tome:target=3"])
def test_carried_features_are_compressed_as_the_main_ones(spec):
    generator = torch.Generator().manual_seed(5)
    features, carry = torch.randn(4, 4, 6, 8, generator=generator), torch.randn(4, 4, 6, 3, generator=generator)
    times = [0.5, 1.5, 2.5, 3.5]
    alone = compress(spec, features, times)
    out = compress(spec, features, times, carry=[carry, 2 * carry])
    # the selection and merges follow the main channels alone, and the carried ones follow them
    assert torch.allclose(out.tokens, alone.tokens, atol=1e-6) and torch.equal(out.origins, alone.origins)
    assert torch.allclose(out.carried[1], 2 * out.carried[0], atol=1e-6)
    assert torch.allclose(compress(spec, carry, times).tokens, out.carried[0], atol=1e-6) == (not spec.startswith(("evs", "tome")))
    with pytest.raises(ConfigError, match="unknown option"):  # the callers' keyword is not a spec option
        compress(f"{spec},score_channels=3", features, times)
