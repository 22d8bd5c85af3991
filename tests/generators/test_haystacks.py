import logging
from fractions import Fraction

import pytest
from counter_video import write_counter_video

from mmhay.config import parse_suite
from mmhay.errors import ConfigError, MediaError
from mmhay.generators import create_generator
from mmhay.timeline import Clip, FileRef


@pytest.fixture
def video_folder(tmp_path):
    folder = tmp_path / "videos"
    (folder / "nested").mkdir(parents=True)
    write_counter_video(folder / "a.mp4", [k * 100 for k in range(30)])  # 3 s at 10 fps
    write_counter_video(folder / "nested" / "b.mkv", [k * 40 for k in range(100)], size=(96, 160), container_format="matroska")
    (folder / "notes.txt").write_text("not a video")
    return folder


def _suite(folder, **extra):
    return parse_suite(
        {"name": "user", "samples": 4, "video": {"size": [128, 72], "fps": 10}, "haystack": {"source": str(folder)}, "grid": {"length": [9]}, **extra}
    )


def test_user_videos_of_any_size_and_rate_fill_the_length(video_folder):
    generator = create_generator(_suite(video_folder))
    assert sorted(v.path.rsplit("/", 1)[-1] for v in generator.haystack.videos) == ["a.mp4", "b.mkv"]
    for i in range(4):
        sample = generator.sample(i)
        clips = [s for s in sample.media.segments if isinstance(s, Clip)]
        assert sum(c.duration for c in clips) == 9
        assert all(isinstance(c.ref, FileRef) for c in clips)
        frames = sample.media.frames([Fraction(k, 2) for k in range(20)])
        assert frames.shape == (20, 72, 128, 3)


def test_a_corrupt_video_is_skipped_with_a_warning(video_folder, caplog):
    (video_folder / "broken.mp4").write_bytes(b"garbage" * 100)
    with caplog.at_level(logging.WARNING, logger="mmhay"):
        generator = create_generator(_suite(video_folder))
    assert len(generator.haystack.videos) == 2
    assert any("broken.mp4" in record.getMessage() for record in caplog.records)


def test_a_corrupt_video_is_an_error_when_strict(video_folder):
    (video_folder / "broken.mp4").write_bytes(b"garbage" * 100)
    with pytest.raises(MediaError, match="broken.mp4"):
        create_generator(_suite(video_folder), strict=True)


def test_a_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"haystack\.source = .*nope': directory does not exist"):
        create_generator(_suite(tmp_path / "nope"))


def test_a_folder_without_videos_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="holds no readable video"):
        create_generator(_suite(tmp_path))
