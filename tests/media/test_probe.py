from fractions import Fraction

import pytest

from mmhay.errors import MediaError
from mmhay.media.probe import probe_video


def test_probe_reads_stream_facts(counter_video):
    info = probe_video(counter_video)
    assert (info.width, info.height) == (160, 96)
    assert info.frames == 60
    assert info.rate == 10
    assert info.duration == Fraction(6)
    assert info.start == 0
    assert info.codec == "h264"
    assert not info.has_audio


def test_probe_round_trips_through_json(counter_video):
    info = probe_video(counter_video)
    assert type(info).from_json(info.to_json()) == info


def test_truncated_video_is_a_media_error(counter_video, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(counter_video.read_bytes()[:2000])
    with pytest.raises(MediaError, match="cut.mp4"):
        probe_video(cut)


def test_missing_file_is_a_media_error(tmp_path):
    with pytest.raises(MediaError, match="cannot read"):
        probe_video(tmp_path / "absent.mp4")
