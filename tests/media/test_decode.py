from fractions import Fraction

import numpy as np
import pytest
from counter_video import read_counter, write_counter_video

from mmhay.errors import MediaError
from mmhay.media.decode import read_frames


def test_reads_the_frame_shown_at_each_time(counter_video):
    rng = np.random.default_rng(0)
    times = [Fraction(int(ms), 1000) for ms in rng.integers(0, 6000, 40)]
    got = read_frames(counter_video, times)
    assert [read_counter(frame) for frame in got.pixels] == [int(t * 10) for t in times]
    assert list(got.times) == [Fraction(int(t * 10), 10) for t in times]


def test_times_on_frame_boundaries_and_past_the_end(counter_video):
    times = [Fraction(0), Fraction(1, 10), Fraction(1, 10) - Fraction(1, 1000), Fraction(59, 10), Fraction(100)]
    got = read_frames(counter_video, times)
    assert [read_counter(frame) for frame in got.pixels] == [0, 1, 0, 59, 59]


def test_unsorted_and_repeated_times_come_back_in_the_order_asked(counter_video):
    times = [Fraction(5), Fraction(1), Fraction(5), Fraction(3, 2)]
    got = read_frames(counter_video, times)
    assert [read_counter(frame) for frame in got.pixels] == [50, 10, 50, 15]


def test_variable_frame_rate_follows_timestamps(tmp_path):
    stamps = [0, 100, 150, 400, 420, 1000, 1010, 1500, 2300, 2400]
    path = write_counter_video(tmp_path / "vfr.mp4", stamps, gop=4)
    times = [Fraction(ms, 1000) for ms in (0, 99, 100, 149, 150, 399, 419, 420, 999, 1005, 1499, 2299, 2350, 5000)]
    expected = [max(k for k, s in enumerate(stamps) if s <= ms) for ms in (0, 99, 100, 149, 150, 399, 419, 420, 999, 1005, 1499, 2299, 2350, 5000)]
    got = read_frames(path, times)
    assert [read_counter(frame) for frame in got.pixels] == expected
    assert list(got.times) == [Fraction(stamps[k], 1000) for k in expected]


def test_sparse_times_decode_only_near_them(tmp_path):
    path = write_counter_video(tmp_path / "long.mp4", [k * 40 for k in range(1500)], gop=50)  # 60 s at 25 fps
    times = [Fraction(7 * k + 3) for k in range(8)]  # evenly spaced, far apart
    got = read_frames(path, times)
    assert [read_counter(frame) for frame in got.pixels] == [int(t * 25) for t in times]
    assert got.stats.seeks >= 8
    assert got.stats.decoded <= 8 * 52, "each time should cost at most about one keyframe interval"


def test_dense_times_decode_forward_without_seeking(counter_video):
    times = [Fraction(k, 10) for k in range(20, 40)]
    got = read_frames(counter_video, times)
    assert [read_counter(frame) for frame in got.pixels] == list(range(20, 40))
    assert got.stats.seeks == 1


def test_decodes_straight_to_the_asked_size(counter_video):
    got = read_frames(counter_video, [Fraction(3)], size=(80, 48))
    assert got.pixels.shape == (1, 48, 80, 3)
    assert read_counter(got.pixels[0]) == 30


def test_decord_backend_agrees_with_pyav(counter_video):
    times = [Fraction(0), Fraction(27, 10), Fraction(9, 2), Fraction(59, 10)]
    pyav = read_frames(counter_video, times)
    decord = read_frames(counter_video, times, backend="decord")
    assert [read_counter(f) for f in decord.pixels] == [read_counter(f) for f in pyav.pixels] == [0, 27, 45, 59]
    assert decord.times == pyav.times


def test_garbage_file_is_a_media_error_naming_it(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x01not a video at all" * 100)
    with pytest.raises(MediaError, match="broken.mp4"):
        read_frames(path, [Fraction(0)])
