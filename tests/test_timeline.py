import json
from dataclasses import replace
from fractions import Fraction

import numpy as np
from counter_video import read_counter

from mmhay.media.decode import read_frames
from mmhay.media.procedural import render_image, render_video
from mmhay.timeline import Clip, Composition, FileRef, GeneratorRef, Still, TimeRange

STAR = GeneratorRef("shape", {"shape": "star", "color": "red"})
PAN = GeneratorRef("pan_zoom", {"picture": "coffee", "start": [0.5, 0.5, 1.0], "end": [0.4, 0.5, 1.5], "duration": "3"})


def _mixed(counter_video) -> Composition:
    """2 s of procedural pan, the star for 1 s, then 2 s of the counter video from its 3 s mark."""
    return Composition(
        (
            Clip(PAN, TimeRange(Fraction(0), Fraction(2))),
            Still(STAR, Fraction(1)),
            Clip(FileRef.video(counter_video), TimeRange(Fraction(3), Fraction(2))),
        ),
        (160, 96),
        Fraction(10),
    )


def test_json_round_trip_is_equal(counter_video):
    composition = _mixed(counter_video)
    text = json.dumps(composition.to_json())
    assert Composition.from_json(text) == composition
    assert Composition.from_json(json.loads(text)).to_json() == composition.to_json()


def test_json_of_the_first_schema_loads_with_no_peak_margin(counter_video):
    noise = Clip(GeneratorRef("noise", {"seed": 1}), TimeRange(Fraction(0), Fraction(5)))
    composition = replace(_mixed(counter_video), soundtrack=(noise,), peak_dbfs=-1.0)
    data = json.loads(json.dumps(composition.to_json()))
    assert data["schema"] == "Composition.2" and Composition.from_json(data) == composition
    first = {**{key: value for key, value in data.items() if key != "peak_dbfs"}, "schema": "Composition.1"}
    assert Composition.from_json(first) == replace(composition, peak_dbfs=None), "Composition.1 rendered its mix as it was"


def test_render_shows_each_segment_at_its_times(counter_video):
    composition = _mixed(counter_video)
    assert composition.duration == 5
    assert len(composition.frame_grid) == 50
    got = composition.render([Fraction(1, 2), Fraction(5, 2), Fraction(3), Fraction(4)])
    assert np.array_equal(got.pixels[0], render_video("pan_zoom", PAN.params, [Fraction(1, 2)], (160, 96))[0])
    assert np.array_equal(got.pixels[1], render_image("shape", STAR.params, (160, 96)))
    assert read_counter(got.pixels[2]) == 30  # the counter clip starts at its frame 30
    assert read_counter(got.pixels[3]) == 40
    assert got.times == (Fraction(1, 2), Fraction(5, 2), Fraction(3), Fraction(4))


def test_times_between_frames_show_the_earlier_frame(counter_video):
    composition = _mixed(counter_video)
    got = composition.render([Fraction(3) + Fraction(99, 1000)])
    assert got.times == (Fraction(3),)
    assert read_counter(got.pixels[0]) == 30


def test_rendering_a_few_frames_of_a_long_clip_decodes_a_few(tmp_path):
    from counter_video import write_counter_video

    long_video = write_counter_video(tmp_path / "long.mp4", [k * 40 for k in range(1500)], gop=50)
    ref = FileRef.video(long_video)
    composition = Composition((Clip(ref, TimeRange(Fraction(0), Fraction(60))),), (160, 96), Fraction(25))
    got = composition.render([Fraction(10), Fraction(40)])
    assert [read_counter(f) for f in got.pixels] == [250, 1000]
    assert got.stats.decoded < 150, "only the frames near the times asked are decoded"


def test_written_file_decodes_to_the_rendered_frames(counter_video, tmp_path):
    composition = _mixed(counter_video)
    path = tmp_path / "mixed.mp4"
    assert composition.write(path) == 50
    times = [Fraction(k, 10) for k in range(0, 50, 7)]
    decoded = read_frames(path, times).pixels.astype(int)
    rendered = composition.frames(times).astype(int)
    assert np.abs(decoded - rendered).mean() < 4


def test_a_file_composition_keeps_the_files_timestamps(counter_video):
    composition = Composition.from_file(counter_video)
    assert composition.rate is None and composition.duration == 6
    got = composition.render([Fraction(2345, 1000)])
    assert got.times == (Fraction(23, 10),)
    assert read_counter(got.pixels[0]) == 23


def test_letterboxing_keeps_the_aspect_ratio(counter_video):
    composition = Composition((Clip(FileRef.video(counter_video), TimeRange(Fraction(0), Fraction(1))),), (320, 96))
    frame = composition.frames([Fraction(0)])[0]
    assert frame.shape == (96, 320, 3)
    assert frame[:, :70].max() == 0 and frame[:, -70:].max() == 0, "bars at the sides"
    assert read_counter(frame[:, 80:240]) == 0
