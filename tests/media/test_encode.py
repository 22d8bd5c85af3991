from fractions import Fraction

import numpy as np
import pytest
from counter_video import counter_frame, read_counter

from mmhay.errors import MediaError
from mmhay.media.decode import read_frames
from mmhay.media.encode import write_video
from mmhay.media.probe import probe_video


def test_written_video_reads_back_frame_for_frame(tmp_path):
    path = tmp_path / "out.mp4"
    frames = [counter_frame(k) for k in range(36)]
    assert write_video(path, iter(frames), rate=Fraction(12), size=(160, 96)) == 36
    info = probe_video(path)
    assert (info.frames, info.rate, info.duration) == (36, 12, 3)
    times = [Fraction(k, 12) for k in range(36)]
    got = read_frames(path, times)
    assert [read_counter(f) for f in got.pixels] == list(range(36))
    assert list(got.times) == times
    assert np.abs(got.pixels.astype(int) - np.stack(frames)).mean() < 3


def test_same_frames_give_the_same_bytes(tmp_path):
    frames = [counter_frame(k) for k in range(20)]
    write_video(tmp_path / "a.mp4", frames, rate=Fraction(10), size=(160, 96))
    write_video(tmp_path / "b.mp4", frames, rate=Fraction(10), size=(160, 96))
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_odd_size_is_refused_before_writing(tmp_path):
    with pytest.raises(MediaError, match="even"):
        write_video(tmp_path / "odd.mp4", [], rate=Fraction(10), size=(161, 96))
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_leaves_no_file(tmp_path):
    def frames():
        yield counter_frame(0)
        yield counter_frame(1)
        raise RuntimeError("source died")

    with pytest.raises(MediaError, match="source died"):
        write_video(tmp_path / "half.mp4", frames(), rate=Fraction(10), size=(160, 96))
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_frame_shape_is_refused_and_leaves_no_file(tmp_path):
    with pytest.raises(MediaError, match="frame 1"):
        write_video(tmp_path / "x.mp4", [counter_frame(0), np.zeros((10, 10, 3), np.uint8)], rate=Fraction(10), size=(160, 96))
    assert list(tmp_path.iterdir()) == []


def test_a_soundtrack_over_full_scale_is_clipped_with_a_warning_naming_the_file(tmp_path, caplog):
    import logging

    from mmhay.media.encode import mux_audio

    path = tmp_path / "loud.mp4"
    write_video(path, [counter_frame(k, 64, 48) for k in range(8)], rate=Fraction(8), size=(64, 48))
    tone = (2 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)[None]
    with caplog.at_level(logging.WARNING, logger="mmhay"):
        mux_audio(path, [tone], 16000, 1)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "loud.mp4" in warning and "over full scale, up to +6.0 dBFS, and are clipped" in warning
