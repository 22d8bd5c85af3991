"""tome's two token orders: order=upstream is VideoChat-Flash's rounds and output, order=time re-sorts each round (and so merges differently)."""

import math

import pytest
import torch

from mmhay.compression import compress, output_tokens
from mmhay.errors import ConfigError


def videochat_flash_rounds(x: torch.Tensor, target: int, heads: int) -> tuple[torch.Tensor, list[int], list[int]]:
    """VideoChat-Flash's ToMe16_mlp_hd64.merge_tokens on one clip x [p, c], written out token by
    token (OpenGVLab/VideoChat-Flash@2f8e2f5 tome16_mlp_hd64.py): the kept means, their sizes and
    their first source tokens, in its output order. Edge ties go to the earlier A token."""
    means = [row.double() for row in x]
    sizes, firsts = [1] * len(means), list(range(len(means)))
    schedule, left = [], len(means)
    while left != target:  # merge_tokens' r_merge_list
        if left - target <= left // 2:
            schedule.append(left - target)
            break
        schedule.append(left // 2)
        left -= left // 2
    for r in schedule:
        metric = [m.view(heads, -1).mean(0) for m in means]
        metric = [m / m.norm() for m in metric]
        a, b = range(0, len(means), 2), range(1, len(means), 2)
        best = {i: max(b, key=lambda j: (float(metric[i] @ metric[j]), -j)) for i in a}  # first B on ties
        edge = sorted(a, key=lambda i: -float(metric[i] @ metric[best[i]]))  # stable: earlier A on ties
        merged, unmerged = edge[:r], edge[r:]
        total = {j: means[j] * sizes[j] for j in b}
        size, first = {j: sizes[j] for j in b}, {j: firsts[j] for j in b}
        for i in merged:  # scatter_add of size-weighted means into the chosen B
            j = best[i]
            total[j], size[j], first[j] = total[j] + means[i] * sizes[i], size[j] + sizes[i], min(first[j], firsts[i])
        order = [("a", i) for i in unmerged] + [("b", j) for j in b]  # torch.cat([unm, dst])
        means = [means[i] if k == "a" else total[i] / size[i] for k, i in order]
        sizes, firsts = [sizes[i] if k == "a" else size[i] for k, i in order], [firsts[i] if k == "a" else first[i] for k, i in order]
    return torch.stack(means), sizes, firsts


def _angles(degrees):
    """One frame of 3x3 tokens, unit 2-vectors at these angles, in row-major order."""
    return torch.tensor([[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in degrees], dtype=torch.float64).view(1, 3, 3, 2)


# tokens 0..8 at these angles: four close pairs (0,1) (2,3) (4,5) (6,7) 2 degrees apart, and 8 alone
ANGLES = [0, 2, 30, 32, 80, 82, 150, 152, 178]


def test_round_two_splits_a_and_b_over_the_previous_order_so_the_two_orders_merge_different_tokens():
    # 9 tokens to 2: rounds r = 4, 2, 1. Round 1 (same for both): A = 0 2 4 6 8, B = 1 3 5 7; each pair
    # merges (2 degrees), 8 (26 degrees from 7) is the unmerged A: P01 at 1, P23 at 31, P45 at 81, P67 at 151.
    # upstream: [8, P01, P23, P45, P67]; round 2 A = 8, P23, P67, B = P01, P45: best edges P23->P01 (30 deg)
    # and P67->P45 (70), 8 stays; round 3 A = 8, Q4567 (116), B = Q0123 (16): Q4567 joins (100 deg against 162).
    x = _angles(ANGLES)
    up = compress("tome:target=2,metric=headmean:1,order=upstream", x, [0.0])
    assert up.sizes.tolist() == [1, 8] and up.origins.tolist() == [8, 0]
    # time: [P01, P23, P45, P67, 8]; round 2 A = P01, P45, 8, B = P23, P67: 8->P67 (27 deg) and P01->P23
    # (30), P45 stays; [Q0123, P45, Q678]; round 3 A = Q0123, Q678, B = P45: Q0123 joins (65 deg against ~79)
    time = compress("tome:target=2,metric=headmean:1", x, [0.0])
    assert time.sizes.tolist() == [6, 3] and time.origins.tolist() == [0, 6]
    means, sizes, firsts = videochat_flash_rounds(x.reshape(9, 2), 2, 1)
    assert sizes == [1, 8] and firsts == [8, 0]
    torch.testing.assert_close(up.tokens, means.to(up.tokens.dtype))


def test_with_one_round_the_orders_hold_the_same_tokens():
    # 9 to 5 is one round (r = 4): the same merges, upstream putting the unmerged A token (8) first
    x = _angles(ANGLES)
    up, time = (compress(f"tome:target=5,order={order}", x, [0.0]) for order in ("upstream", "time"))
    assert up.origins.tolist() == [8, 0, 2, 4, 6] and time.origins.tolist() == [0, 2, 4, 6, 8]
    assert torch.equal(up.tokens[[1, 2, 3, 4, 0]], time.tokens)


@pytest.mark.parametrize("seed", range(3))
def test_upstream_order_is_videochat_flash_clip_by_clip_on_random_features(seed):
    # clip2 of 2 frames of 3x3 = 18 tokens to 6 (rounds 9, 3), head means over 2 groups, two clips
    x = torch.randn(4, 3, 3, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    up = compress("tome:target=3,scope=clip2,metric=headmean:2,order=upstream", x, [0.0, 1.0, 2.0, 3.0])
    time = compress("tome:target=3,scope=clip2,metric=headmean:2", x, [0.0, 1.0, 2.0, 3.0])
    assert len(up) == len(time) == output_tokens("tome:target=3,scope=clip2,order=upstream", 4, 3, 3) == 12
    for clip in range(2):
        means, sizes, firsts = videochat_flash_rounds(x[2 * clip : 2 * clip + 2].reshape(18, 4), 6, 2)
        kept = slice(6 * clip, 6 * clip + 6)
        torch.testing.assert_close(up.tokens[kept], means)
        assert up.sizes[kept].tolist() == sizes and up.origins[kept].tolist() == [18 * clip + f for f in firsts]
    assert up.origins.tolist() != time.origins.tolist()


def test_a_bad_order_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        compress("tome:order=random", torch.zeros(1, 2, 2, 2), [0])
    assert caught.value.key == "order" and "time or upstream" in str(caught.value)
