from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from mmhay.media.timing import FrameGrid, frame_at, seconds

times = st.fractions(min_value=-5, max_value=50, max_denominator=1000)


def test_seconds_reads_decimals_exactly():
    assert seconds(0.1) == Fraction(1, 10)
    assert seconds("2.5") == Fraction(5, 2)
    assert seconds(3) == 3


@given(st.lists(st.fractions(min_value=0, max_value=40, max_denominator=1000), min_size=1, max_size=30, unique=True), times)
def test_frame_at_is_the_last_frame_not_after_t(stamps, t):
    stamps = sorted(stamps)
    k = frame_at(t, stamps)
    assert 0 <= k < len(stamps)
    if t >= stamps[0]:
        assert stamps[k] <= t
        assert k == len(stamps) - 1 or stamps[k + 1] > t
    else:
        assert k == 0


@given(st.integers(1, 60), st.integers(1, 500), times, times)
def test_frame_grid_agrees_with_frame_at(rate, count, a, b):
    grid = FrameGrid(Fraction(rate), count)
    assert grid[count - 1] == Fraction(count - 1, rate)
    start, end = min(a, b), max(a, b)
    inside = grid.frames_in(start, end)
    for k in inside:
        assert start <= grid[k] < end
    outside = [k for k in range(count) if k not in inside]
    assert all(not (start <= grid[k] < end) for k in outside)
    if 0 <= start < Fraction(count, rate):
        assert frame_at(start, grid) == int(start * rate)
