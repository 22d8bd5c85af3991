"""DivPrune and VisionZip on cases worked out by hand: which tokens each keeps, in what order, what
the merged ones hold, and how ``compress`` hands VisionZip the tower's attention."""

import math

import pytest
import torch

from mmhay.compression import compress, output_tokens, parse_compressor
from mmhay.errors import ConfigError

# Unit vectors at 0, 10, 90, 180 and 270 degrees: cosine distance grows with the angle between two.
ANGLES = (0, 10, 90, 180, 270)


def at_angles(angles):
    """[len, 2] float64 unit vectors, exact where the angle is a multiple of 90 degrees."""
    exact = {0: (1.0, 0.0), 90: (0.0, 1.0), 180: (-1.0, 0.0), 270: (0.0, -1.0)}
    return torch.tensor([exact.get(a) or (math.cos(math.radians(a)), math.sin(math.radians(a))) for a in angles], dtype=torch.float64)


def upstream_picks(x, keep):
    """DivPrune's loop as its paper states it: each step's score is the minimum distance to every
    token picked so far, computed afresh (the first: the distance to the nearest other token)."""
    x = x / x.norm(dim=1, keepdim=True)
    distance = 1 - x @ x.T
    picks = []
    for _ in range(keep):
        if picks:
            score = distance[picks].min(0).values
        else:
            score = distance.topk(2, dim=0, largest=False).values[1]
        picks.append(int(score.argmax()))
    return picks


def test_divprune_picks_the_max_min_sequence_worked_out_by_hand_with_ties_to_the_first():
    # nearest others: 10, 10, 80, 90, 90 degrees -> first pick 180 (ties 270, the earlier wins);
    # then the farthest from it, 0; then 90 and 270 tie at 90 degrees from {180, 0}: 90 wins
    x = at_angles(ANGLES).view(5, 1, 1, 2)
    times = [0.5, 1.0, 1.5, 2.0, 2.5]
    assert upstream_picks(x.view(5, 2), 5) == [3, 0, 2, 4, 1]
    out = compress("divprune:ratio=0.6", x, times)  # 3 of the video's 5 tokens, chosen over all frames
    assert out.origins.tolist() == [0, 2, 3], "kept tokens come back in their original order"
    assert torch.equal(out.tokens, x.view(5, 2)[[0, 2, 3]])
    assert out.frames.tolist() == [[0, 1], [2, 3], [3, 4]]
    assert out.boxes.tolist() == [[0, 0, 1, 1]] * 3
    assert out.sizes.tolist() == [1.0] * 3 and out.times.tolist() == [0.5, 1.5, 2.0]
    assert compress("divprune:ratio=0.4", x, times).origins.tolist() == [0, 3]  # the first two picks


def test_divprune_per_frame_selects_in_each_frame_alone():
    # frame 1 holds the angles reversed (270, 180, 90, 10, 0): its nearest-other tie now goes to 270
    x = torch.stack([at_angles(ANGLES), at_angles(ANGLES[::-1])]).view(2, 1, 5, 2)
    out = compress("divprune:tokens=2,scope=frame", x, [0.0, 1.0])
    assert out.origins.tolist() == [0, 3, 5, 7]
    assert out.boxes.tolist() == [[0, 0, 1, 1], [0, 3, 1, 4], [0, 0, 1, 1], [0, 2, 1, 3]]
    assert out.frames.tolist() == [[0, 1], [0, 1], [1, 2], [1, 2]]


def test_divprune_equals_the_step_by_step_loop_on_random_features():
    x = torch.randn(4, 3, 5, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    keep = output_tokens("divprune:ratio=0.3", 4, 3, 5)
    assert keep == 18  # round(0.3 * 60)
    out = compress("divprune:ratio=0.3", x, range(4))
    assert out.origins.tolist() == sorted(upstream_picks(x.reshape(-1, 8), keep))


@pytest.mark.parametrize(
    ("spec", "shape", "count"),
    [
        ("divprune", (64, 14, 14), 1229),  # round(0.098 * 12544) = round(1229.31)
        ("divprune", (1, 24, 24), 56),  # LLaVA-1.5's 576 tokens: round(56.45)
        ("divprune:ratio=0.5", (1, 1, 5), 2),  # 2.5: Python rounds half to even, as upstream's round()
        ("divprune:ratio=0.5", (1, 1, 7), 4),  # 3.5 -> 4
        ("divprune:ratio=0.01", (1, 2, 2), 1),  # round(0.04) = 0: mmhay keeps one
        ("divprune:ratio=0.5,scope=frame", (3, 1, 5), 6),  # 2 a frame
        ("divprune:tokens=7", (3, 2, 2), 12),  # at most every token
    ],
)
def test_divprune_count_rounds_as_upstream(spec, shape, count):
    assert output_tokens(spec, *shape) == count
    if math.prod(shape) < 100:
        assert len(compress(spec, torch.randn(*shape, 3), range(shape[0]))) == count


def test_divprune_scores_the_main_channels_only_when_others_are_carried():
    x = torch.randn(2, 3, 3, 4, generator=torch.Generator().manual_seed(2))
    carried = 1000 * torch.randn(2, 3, 3, 5, generator=torch.Generator().manual_seed(3))
    plain, with_carry = compress("divprune:ratio=0.3", x, [0, 1]), compress("divprune:ratio=0.3", x, [0, 1], carry=[carried])
    assert torch.equal(plain.origins, with_carry.origins)
    assert torch.equal(with_carry.carried[0], carried.reshape(-1, 5)[with_carry.origins])


def hand_case():
    """One 3x4 frame (cells 0..11, feature = cell index) with attention and keys set by hand.

    Attention: cells 2, 5 highest, 9 and 10 tie for third (9 wins). The rest, row-major:
    0 1 3 4 6 7 8 10 11 (9 of them); targets at steps of 9 // 2 = 4: rest[0] = 0, rest[4] = 6.
    Keys: target 0 -> (1, 0), target 6 -> (0, 1); 1, 4 lean to 0; 3, 7, 10, 11 to 6; 8 is at
    (1, 1), equally near both: the first target (0) takes it.
    """
    attention = torch.full((12,), 0.1)
    attention[[2, 5, 9, 10]] = torch.tensor([0.9, 0.8, 0.5, 0.5])
    keys = torch.zeros(12, 2)
    keys[[0, 1, 4, 8]] = torch.tensor([[1.0, 0.0], [1.0, 0.1], [1.0, 0.5], [1.0, 1.0]])
    keys[[6, 3, 7, 10, 11]] = torch.tensor([[0.0, 1.0], [0.2, 1.0], [0.1, 1.0], [0.0, 1.0], [-1.0, 0.2]])
    features = torch.arange(12, dtype=torch.float32)
    return features.view(1, 3, 4, 1), attention.view(1, 3, 4), keys.view(1, 3, 4, 2)


@pytest.mark.parametrize(("merge", "contextual"), [("add", [0 + 13 / 3, 6 + 31 / 4]), ("mean", [13 / 4, 37 / 5])])
def test_visionzip_keeps_the_dominant_tokens_and_merges_the_rest_into_the_targets_worked_out_by_hand(merge, contextual):
    features, attention, keys = hand_case()
    # a second frame, the same, shows the flat origins step by a frame's 12 cells
    features, attention, keys = (torch.cat([t, t]) for t in (features, attention, keys))
    out = compress(f"visionzip:dominant=3,contextual=2,merge={merge}", features, [1.0, 2.0], attention=attention, keys=keys)
    assert len(out) == output_tokens("visionzip:dominant=3,contextual=2", 2, 3, 4) == 10
    # dominant 2, 5, 9 in row-major order; then group {0, 1, 4, 8} and group {6, 3, 7, 10, 11}
    assert out.tokens[:5, 0].tolist() == pytest.approx([2, 5, 9, *contextual])
    assert torch.equal(out.tokens[5:], out.tokens[:5])
    assert out.origins.tolist() == [2, 5, 9, 0, 3, 14, 17, 21, 12, 15]
    assert out.sizes.tolist() == [1, 1, 1, 4, 5] * 2
    assert out.boxes[:5].tolist() == [[0, 2, 1, 3], [1, 1, 2, 2], [2, 1, 3, 2], [0, 0, 3, 2], [0, 2, 3, 4]]
    assert out.frames.tolist() == [[0, 1]] * 5 + [[1, 2]] * 5
    assert out.times.tolist() == [1.0] * 5 + [2.0] * 5


def test_visionzip_takes_the_features_as_keys_by_default_and_keeps_fewer_targets_than_tokens_left():
    features, attention, keys = hand_case()
    assert compress("visionzip:dominant=3,contextual=2", keys, [0.0], attention=attention).sizes.tolist() == [1, 1, 1, 4, 5]
    # positive scalar features: every cosine is 1, so every token joins the first target
    assert compress("visionzip:dominant=3,contextual=2", features + 1, [0.0], attention=attention).sizes.tolist() == [1, 1, 1, 8, 1]
    # 11 dominant (of the 0.1 ties the later cell 11 is left out) leave one token: the one target, merged with nothing
    out = compress("visionzip:dominant=11,contextual=5", features, [0.0], attention=attention)
    assert len(out) == output_tokens("visionzip:dominant=11,contextual=5", 1, 3, 4) == 12
    assert out.origins.tolist() == list(range(12)) and out.sizes.tolist() == [1] * 12


def test_compress_gives_the_tower_inputs_only_to_compressors_that_take_them():
    features, attention, _ = hand_case()
    with pytest.raises(ConfigError, match="--compress.*visionzip needs the vision tower's attention"):
        compress("visionzip", features, [0.0])
    assert len(compress("evs_prune:q=0", features, [0.0], attention=attention)) == 12  # evs takes no attention
    with pytest.raises(ConfigError, match="unknown option"):
        parse_compressor("visionzip:attention=1")  # a tower input is no spec option


def test_divprune_first_score_is_each_columns_second_smallest_even_where_another_entry_is_below_its_own():
    from mmhay.token_selection import _second_smallest_of_columns

    # column 0's own 0.5 lies above 0.2, column 2's own 0.6 above 0.3: there topk decides
    distance = torch.tensor([[[0.5, 0.1, 0.9], [0.2, 0.0, 0.3], [0.7, 0.4, 0.6]]])
    before = distance.clone()
    assert _second_smallest_of_columns(distance)[0].tolist() == pytest.approx([0.5, 0.1, 0.6])
    assert torch.equal(distance, before)
    noisy = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(_second_smallest_of_columns(noisy), noisy.topk(2, dim=1, largest=False).values[:, 1])
