"""The bad-media matrix: real awkward files, made here, each read right or refused in one line naming it.

A user points mmhay at folders of media from everywhere. Each case below writes one such file
(truncated, rotated, 10-bit, palette, 5.1, silent, ...) and checks what mmhay does with it: the
pixels or samples it delivers when the file is usable, or a ``MediaError`` naming the file when
it is not. The end-to-end cases at the bottom run the ``mmhay`` command on folders holding them.
"""

from __future__ import annotations

import inspect
import logging
import struct
import subprocess
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml
from counter_video import counter_frame, read_counter, write_counter_video

from mmhay.config import parse_suite
from mmhay.errors import ConfigError, MediaError
from mmhay.media.audio import probe_audio, read_audio
from mmhay.media.decode import read_frames
from mmhay.media.pictures import load_picture
from mmhay.media.probe import probe_video

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 30), (30, 30, 220)




def _write_video(path: Path, frames, *, codec="libx264", pix_fmt="yuv420p", rate=10, options=None, rotation=None, container_format=None) -> Path:
    """Encode RGB frames (``[H, W, 3]`` uint8) at ``rate`` with PyAV."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = dict(options or {})
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _cornered(width: int, height: int, corner=RED, rest=BLUE) -> np.ndarray:
    """A frame of ``rest`` with its top-left quarter-by-quarter corner in ``corner``."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = rest
    pixels[: height // 4, : width // 4] = corner
    return pixels


def _solid(width: int, height: int, colour) -> np.ndarray:
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = colour
    return pixels


def _write_sound(path: Path, samples: np.ndarray, rate: int, layout: str, codec="pcm_s16le") -> Path:
    """Write float ``[channels, n]`` samples in -1..1 as 16-bit PCM (or ``codec``)."""
    import av

    pcm = (np.clip(samples, -1, 1) * 32767).round().astype(np.int16)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout, stream.format = layout, "s16"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.T.reshape(1, -1)), format="s16", layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _tone(frequency: float, rate: int, seconds: float = 1.0, level: float = 0.5) -> np.ndarray:
    return level * np.sin(2 * np.pi * frequency * np.arange(round(rate * seconds)) / rate)


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / len(samples))


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A valid PNG header announcing ``width`` x ``height`` grey pixels, with almost no data behind it:
    the shape of a decompression bomb, without the bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1))) + chunk(b"IEND", b""))
    return path


def _faststart(source: Path, path: Path) -> Path:
    """``source`` remuxed with its index (moov) first, as streaming sites serve mp4."""
    import av

    with av.open(str(source)) as inp, av.open(str(path), mode="w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return path


def _counter(tmp_path: Path, name="counter.mp4", frames=60, **kwargs) -> Path:
    return write_counter_video(tmp_path / name, [k * 100 for k in range(frames)], **kwargs)




def video_truncated_mp4(tmp_path):
    """Index (moov) at the end, file cut in half: nothing says what the bytes are. Refused."""
    whole = _counter(tmp_path).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(MediaError, match=r"cut\.mp4: not a readable video"):
        probe_video(cut)
    with pytest.raises(MediaError, match=r"cut\.mp4"):
        read_frames(cut, [Fraction(0)])


def video_truncated_faststart_mp4(tmp_path, caplog):
    """Index first, data cut (a partial download): usable up to where its frames stop, with a warning."""
    whole = _faststart(_counter(tmp_path), tmp_path / "fast.mp4").read_bytes()
    cut = tmp_path / "partial.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    with caplog.at_level(logging.WARNING, logger="mmhay"):
        info = probe_video(cut)
    assert info.duration < 3, "the header's 6 s must not be believed"
    assert info.frames == round(info.duration * 10)
    assert any("partial.mp4" in r.getMessage() and "cut short" in r.getMessage() for r in caplog.records)
    got = read_frames(cut, [Fraction(0), Fraction(1, 2), info.duration - Fraction(1, 10)])
    shown = [read_counter(frame) for frame in got.pixels]
    assert shown[:2] == [0, 5]
    assert got.times[2] == Fraction(shown[2], 10), "the frame delivered carries its own timestamp"


def video_truncated_mkv(tmp_path):
    """Matroska cut in half (its cues lost): the duration is where the frames stop, not the header's."""
    whole = _counter(tmp_path, "whole.mkv", container_format="matroska").read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: len(whole) // 2])
    info = probe_video(cut)
    assert info.duration < 4
    got = read_frames(cut, [Fraction(1), info.duration - Fraction(1, 10)])
    assert [read_counter(frame) for frame in got.pixels] == [10, round((info.duration - Fraction(1, 10)) * 10)]


def video_audio_only_mp4(tmp_path):
    """An .mp4 holding only sound: refused as a video, yet readable as a recording."""
    import av

    path = tmp_path / "podcast.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        samples = _tone(440, 16000).astype(np.float32)[None]
        for offset in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, offset : offset + 1024]), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, offset
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(MediaError, match=r"podcast\.mp4: holds no video stream"):
        probe_video(path)
    assert probe_audio(path).rate == 16000


def video_zero_frames(tmp_path):
    """A video stream with no frames (an encoder that stopped before its first): refused."""
    import av

    for suffix, container_format in ((".mp4", "mp4"), (".mkv", "matroska")):
        path = tmp_path / f"empty{suffix}"
        with av.open(str(path), mode="w", format=container_format) as container:
            stream = container.add_stream("libx264", rate=10)
            stream.width, stream.height = 32, 24
            container.start_encoding()
            container.mux(stream.encode(None))
        with pytest.raises(MediaError, match=rf"empty\{suffix}: (holds no video stream|no frame could be decoded|ends before its first frame)"):
            probe_video(path)


def video_variable_frame_rate(tmp_path):
    """Frames at irregular times: each time maps to the frame its PTS says, and carries that PTS."""
    stamps = [0, 40, 50, 300, 310, 900, 1000, 1700]
    path = write_counter_video(tmp_path / "vfr.mp4", stamps, gop=3)
    info = probe_video(path)
    assert info.duration >= Fraction(17, 10)
    asked = [Fraction(ms, 1000) for ms in (0, 45, 299, 305, 899, 950, 1699, 1750)]
    got = read_frames(path, asked)
    expected = [max(k for k, s in enumerate(stamps) if s <= t * 1000) for t in asked]
    assert [read_counter(frame) for frame in got.pixels] == expected
    assert list(got.times) == [Fraction(stamps[k], 1000) for k in expected]


def video_rotated(tmp_path):
    """Display-matrix rotation (phones): frames come out upright, at the displayed size."""
    landscape = _cornered(32, 16)
    # where the red corner must land once the frame is shown as its display matrix says
    for rotation, corner in ((90, "bottom-left"), (180, "bottom-right"), (270, "top-right")):
        path = _write_video(tmp_path / f"rot{rotation}.mp4", [landscape] * 3, pix_fmt="yuv444p", rotation=rotation)
        if rotation == 270:
            # the iPhone portrait matrix [0 1; -1 0]: turn the picture a quarter clockwise
            data = path.read_bytes()
            tkhd = data.index(b"tkhd") + 4
            assert struct.unpack(">4i", data[tkhd + 40 : tkhd + 56]) == (0, 1 << 16, 0, -(1 << 16))
        info = probe_video(path)
        assert info.rotation == rotation
        assert (info.width, info.height) == ((16, 32) if rotation != 180 else (32, 16))
        for size in (None, (info.width * 2, info.height * 2)):
            frame = read_frames(path, [Fraction(0)], size=size).pixels[0]
            assert frame.shape[:2] == ((info.height, info.width) if size is None else (size[1], size[0]))
            h, w = frame.shape[:2]
            corners = {
                "top-left": frame[: h // 8, : w // 8],
                "top-right": frame[: h // 8, -(w // 8) :],
                "bottom-left": frame[-(h // 8) :, : w // 8],
                "bottom-right": frame[-(h // 8) :, -(w // 8) :],
            }
            red = {name for name, patch in corners.items() if patch[..., 0].mean() > 150 and patch[..., 2].mean() < 100}
            assert red == {corner}, (rotation, size, red)


def _colour_case(tmp_path, name, size=(48, 32), **writer):
    """Red corner on green in another pixel format: delivered as 8-bit RGB with the colours kept."""
    path = _write_video(tmp_path / name, [_cornered(*size, RED, GREEN)] * 4, **writer)
    info = probe_video(path)
    frame = read_frames(path, [Fraction(1, 10)]).pixels[0]
    assert frame.dtype == np.uint8 and frame.shape == (size[1], size[0], 3)
    assert np.abs(frame[2, 2].astype(int) - RED).max() < 24
    assert np.abs(frame[-3, -3].astype(int) - GREEN).max() < 24
    return info


def video_h264_10bit(tmp_path):
    assert _colour_case(tmp_path, "ten.mp4", pix_fmt="yuv420p10le").codec == "h264"


def video_h264_yuv444(tmp_path):
    assert _colour_case(tmp_path, "full_chroma.mp4", pix_fmt="yuv444p").codec == "h264"


def video_hevc_10bit(tmp_path):
    # x265 corrupts its heap on frames much smaller than its 64-pixel coding tree units
    info = _colour_case(tmp_path, "ten.mkv", (128, 64), codec="libx265", pix_fmt="yuv420p10le", options={"x265-params": "log-level=none"}, container_format="matroska")
    assert info.codec == "hevc"


def video_vp9_yuv444(tmp_path):
    info = _colour_case(tmp_path, "full.webm", codec="libvpx-vp9", pix_fmt="yuv444p", options={"deadline": "realtime"}, container_format="webm")
    assert info.codec == "vp9"


def video_odd_and_tiny_sizes(tmp_path):
    """17 x 9 (odd: 4:2:0 cannot hold it, 4:4:4 and FFV1 can) and 2 x 2: read at their size and scaled up."""
    for name, size, writer in (
        ("odd.mp4", (17, 9), {"pix_fmt": "yuv444p"}),
        ("odd.mkv", (17, 9), {"codec": "ffv1", "pix_fmt": "yuv444p", "container_format": "matroska"}),
        ("tiny.mp4", (2, 2), {"pix_fmt": "yuv444p"}),
    ):
        path = _write_video(tmp_path / name, [_solid(*size, RED)] * 3, **writer)
        info = probe_video(path)
        assert (info.width, info.height) == size, name
        for wanted in (None, (64, 36)):
            frame = read_frames(path, [Fraction(1, 10)], size=wanted).pixels[0]
            assert frame.shape[:2] == (size[1], size[0]) if wanted is None else (36, 64), name
            assert np.abs(frame.reshape(-1, 3).mean(0) - RED).max() < 24, name


def video_interlaced(tmp_path):
    """Field-coded H.264 (broadcast captures): decoded to whole frames, the right ones."""
    import av

    stamps = [k * 40 for k in range(30)]
    path = tmp_path / "interlaced.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.options = {"x264-params": "interlaced=1:tff=1", "g": "10"}
        for index in range(len(stamps)):
            frame = av.VideoFrame.from_ndarray(counter_frame(index), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).interlaced_frame, "the writer must have made field-coded frames"
    times = [Fraction(k * 4, 100) for k in (0, 7, 13, 29)]
    got = read_frames(path, times)
    assert got.pixels.shape == (4, 96, 160, 3)
    assert [read_counter(frame) for frame in got.pixels] == [0, 7, 13, 29]


def video_very_long_gop(tmp_path):
    """One keyframe for 30 s: sparse times still get the right frames, in one forward pass."""
    path = _counter(tmp_path, "one_key.mp4", frames=300, gop=1000, size=(96, 48))
    times = [Fraction(k * 27, 10) for k in range(1, 11)]  # 2.7 s apart, far beyond the first GOP guess
    got = read_frames(path, times)
    assert [read_counter(frame) for frame in got.pixels] == [int(t * 10) for t in times]
    assert got.stats.decoded <= 300, "no frame is decoded twice"




def image_grayscale(tmp_path):
    from PIL import Image

    path = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(0, 256, 16, dtype=np.uint8), (4, 1)), "L").save(path)
    pixels = load_picture(path)
    assert pixels.shape == (4, 16, 3) and pixels.dtype == np.uint8
    assert pixels[0, :, 0].tolist() == list(range(0, 256, 16))
    assert (pixels[..., 0] == pixels[..., 2]).all()


def image_palette(tmp_path):
    from PIL import Image

    path = tmp_path / "palette.gif"
    image = Image.new("P", (4, 2))
    image.putpalette([*RED, *BLUE] + [0] * 762)
    image.putpixel((3, 1), 1)
    image.save(path)
    pixels = load_picture(path)
    assert pixels[0, 0].tolist() == list(RED) and pixels[1, 3].tolist() == list(BLUE)


def image_palette_with_transparency(tmp_path):
    """A palette PNG whose index 0 is transparent: shown on white, not as whatever colour index 0 holds."""
    from PIL import Image

    path = tmp_path / "logo.png"
    image = Image.new("P", (4, 2))
    image.putpalette([*RED, *BLUE] + [0] * 762)
    image.putpixel((3, 1), 1)
    image.save(path, transparency=0)
    pixels = load_picture(path)
    assert pixels[0, 0].tolist() == [255, 255, 255] and pixels[1, 3].tolist() == list(BLUE)


def image_cmyk_jpeg(tmp_path):
    from PIL import Image

    path = tmp_path / "print.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)  # pure red ink
    assert Image.open(path).mode == "CMYK"
    pixels = load_picture(path)
    assert pixels.shape == (16, 16, 3)
    assert np.abs(pixels[8, 8].astype(int) - (255, 0, 0)).max() < 16


def image_16bit_png(tmp_path):
    """16-bit grey is scaled to 8 bits (Pillow's own conversion would clip everything over 255 to white)."""
    from PIL import Image

    path = tmp_path / "scan16.png"
    Image.fromarray(np.array([[0, 1000, 32768, 65535]], np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I;16")
    pixels = load_picture(path)
    assert pixels[0, :, 0].tolist() == [0, 3, 128, 255]


def image_rgba(tmp_path):
    """Transparent pixels are flattened onto white; opaque ones keep their colour."""
    from PIL import Image

    rgba = np.zeros((2, 4, 4), np.uint8)
    rgba[..., :3] = GREEN
    rgba[0, :, 3] = 0  # invisible green
    rgba[1, :2, 3] = 255
    rgba[1, 2:, 3] = 128
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    pixels = load_picture(path).astype(int)
    assert (pixels[0] == 255).all()
    assert pixels[1, 0].tolist() == list(GREEN)
    assert np.abs(pixels[1, 3] - (np.array(GREEN) * 128 + 255 * 127) / 255).max() <= 2


def image_exif_rotated(tmp_path):
    """A camera JPEG stored landscape with EXIF orientation 6: loaded upright (portrait, corner top-right)."""
    from PIL import Image

    path = tmp_path / "phone.jpg"
    image = Image.fromarray(_cornered(32, 16))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(path, exif=exif, quality=95)
    pixels = load_picture(path)
    assert pixels.shape == (32, 16, 3)
    assert pixels[1, -2, 0] > 150 and pixels[1, -2, 2] < 100, "the red corner must be at the top right"
    assert pixels[1, 1, 2] > 150


def image_truncated(tmp_path):
    from PIL import Image

    noise = np.random.default_rng(7).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    for name in ("cut.jpg", "cut.png"):
        whole = tmp_path / f"whole{Path(name).suffix}"
        Image.fromarray(noise).save(whole)
        data = whole.read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        with pytest.raises(MediaError, match=rf"{name.replace('.', '[.]')}: not a readable image \(.*truncated"):
            load_picture(tmp_path / name)


def image_oversized(tmp_path):
    """Over Pillow's limit, twice over and just over: refused before any pixel is decoded."""
    with pytest.raises(MediaError, match=r"bomb\.png: over the decompression-bomb limit"):
        load_picture(_png_header_only(tmp_path / "bomb.png", 20000, 20000))
    with pytest.raises(MediaError, match=r"huge\.png: is 12000 x 10000 pixels, over the decompression-bomb limit"):
        load_picture(_png_header_only(tmp_path / "huge.png", 12000, 10000))




def audio_mono(tmp_path):
    """Mono read as stereo: both channels carry it."""
    path = _write_sound(tmp_path / "mono.wav", _tone(440, 16000)[None], 16000, "mono")
    assert probe_audio(path).channels == 1
    stereo = read_audio(path, Fraction(0), Fraction(1), 16000, 2)
    assert stereo.shape == (2, 16000)
    assert np.allclose(stereo[0], stereo[1]) and np.abs(stereo).max() > 0.3


def audio_surround_5_1(tmp_path):
    """5.1 downmixed: a tone in the front-left channel stays left in stereo and is heard in mono."""
    samples = np.zeros((6, 16000))
    samples[0] = _tone(440, 16000)
    path = _write_sound(tmp_path / "surround.wav", samples, 16000, "5.1")
    assert probe_audio(path).channels == 6
    stereo = read_audio(path, Fraction(0), Fraction(1), 16000, 2)
    rms = np.sqrt((stereo.astype(np.float64) ** 2).mean(axis=1))
    assert rms[0] > 0.1 and rms[1] < 1e-3
    mono = read_audio(path, Fraction(0), Fraction(1), 16000, 1)
    assert mono.shape == (1, 16000) and abs(_peak_hz(mono[0], 16000) - 440) <= 2


def audio_8khz_and_96khz(tmp_path):
    """Telephone and studio rates resampled to 16 kHz: the length and the pitch are kept."""
    for rate in (8000, 96000):
        path = _write_sound(tmp_path / f"at{rate}.wav", _tone(1000, rate)[None], rate, "mono")
        assert probe_audio(path).rate == rate
        samples = read_audio(path, Fraction(1, 4), Fraction(3, 4), 16000, 1)[0]
        assert samples.shape == (8000,)
        assert abs(_peak_hz(samples, 16000) - 1000) <= 2
        assert 0.3 < np.sqrt(np.mean(samples.astype(np.float64) ** 2)) < 0.4  # 0.5 / sqrt(2), nothing lost


def audio_truncated(tmp_path, caplog):
    """A WAV cut short reads up to its cut (its length from the data); a FLAC cut short (its header
    counts every sample) too, with a warning; a FLAC cut before its first frame is refused, named."""
    whole = _write_sound(tmp_path / "whole.wav", _tone(1000, 8000)[None], 8000, "mono").read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 2])
    info = probe_audio(cut)
    assert Fraction(2, 5) < info.duration < Fraction(1, 2) + Fraction(1, 100)
    samples = read_audio(cut, Fraction(0), Fraction(1), 8000, 1)[0]
    assert np.abs(samples[: 3000]).max() > 0.4 and np.abs(samples[4100:]).max() == 0
    flac = _write_sound(tmp_path / "whole.flac", np.tile(_tone(1000, 16000, 4.0), (2, 1)), 16000, "stereo", codec="flac").read_bytes()
    (tmp_path / "partial.flac").write_bytes(flac[: len(flac) // 2])
    with caplog.at_level(logging.WARNING, logger="mmhay"):
        info = probe_audio(tmp_path / "partial.flac")
    assert 1 < info.duration < 3, "the header's 4 s must not be believed"
    assert any("partial.flac" in r.getMessage() and "cut short" in r.getMessage() for r in caplog.records)
    samples = read_audio(tmp_path / "partial.flac", Fraction(0), Fraction(4), 16000, 1)[0]
    stop = round(info.duration * 16000)
    assert np.sqrt(np.mean(samples[: stop - 100] ** 2)) > 0.3
    assert np.abs(samples[stop:]).max() == 0, "silence where the file stops"
    window = read_audio(tmp_path / "partial.flac", info.duration - Fraction(1, 2), info.duration + Fraction(1, 2), 16000, 1)[0]
    assert np.sqrt(np.mean(window[:7000] ** 2)) > 0.3 and np.abs(window[8000:]).max() == 0
    from mmhay.generators.needles import folder_needles

    (tmp_path / "needles").mkdir()
    (tmp_path / "partial.flac").rename(tmp_path / "needles" / "door_bell.flac")
    [needle] = folder_needles(tmp_path / "needles", "sound", strict=True)
    assert needle.label == "door bell" and needle.duration == info.duration, "a sound needle plays what there is"
    (tmp_path / "header.flac").write_bytes(flac[:4000])  # its metadata, not one frame
    with pytest.raises(MediaError, match=r"header\.flac: not readable audio"):
        probe_audio(tmp_path / "header.flac")
    (tmp_path / "header.wav").write_bytes(whole[:30])
    with pytest.raises(MediaError, match=r"header\.wav: not readable audio"):
        probe_audio(tmp_path / "header.wav")


def audio_silent(tmp_path):
    """Silence reads as silence (a quiet haystack is fine); as a sound needle it is refused."""
    from mmhay.generators.needles import folder_needles

    folder = tmp_path / "sounds"
    folder.mkdir()
    path = _write_sound(folder / "nothing.wav", np.zeros((1, 8000)), 16000, "mono")
    assert probe_audio(path).duration == Fraction(1, 2)
    assert not read_audio(path, Fraction(0), Fraction(1, 2), 16000, 1).any()
    _write_sound(folder / "beep.wav", _tone(800, 16000, 0.5)[None], 16000, "mono")
    with pytest.raises(MediaError, match=r"nothing\.wav: is silent"):
        folder_needles(folder, "sound", strict=True)
    assert [n.label for n in folder_needles(folder, "sound")] == ["beep"]




def _suite(**sections) -> dict:
    return {
        "name": "bad",
        "seed": 1,
        "samples": 2,
        "video": {"size": [64, 36], "fps": 4},
        "haystack": {"shot_seconds": [1, 2]},
        "grid": {"length": [4]},
        **sections,
    }


def empty_folders(tmp_path):
    """An empty folder as haystack, needle or sound source: a ConfigError naming the key and the folder."""
    from mmhay.generators import create_generator

    (tmp_path / "empty").mkdir()
    cases = [
        ("haystack.source", "readable video", _suite(haystack={"source": "empty"})),
        ("needle.source", "readable image needle", _suite(needle={"source": "empty"})),
        ("needle.source", "readable sound needle", _suite(generator="audio", needle={"kind": "sound", "source": "empty"})),
        ("haystack.source", "readable recording", _suite(generator="audio", needle={"kind": "sound"}, haystack={"source": "empty"})),
        ("haystack.source", "readable image", _suite(generator="multi_image", task="retrieval", haystack={"source": "empty"}, grid={"images": [12]})),
    ]
    for key, what, data in cases:
        suite = parse_suite(data, origin=str(tmp_path / "suite.yaml"), folder=tmp_path)
        with pytest.raises(ConfigError, match=rf"suite\.yaml: {key} = 'empty': holds no {what}: no file ends in \."):
            create_generator(suite)


CASES = {
    case.__name__: case
    for case in (
        video_truncated_mp4,
        video_truncated_faststart_mp4,
        video_truncated_mkv,
        video_audio_only_mp4,
        video_zero_frames,
        video_variable_frame_rate,
        video_rotated,
        video_h264_10bit,
        video_h264_yuv444,
        video_hevc_10bit,
        video_vp9_yuv444,
        video_odd_and_tiny_sizes,
        video_interlaced,
        video_very_long_gop,
        image_grayscale,
        image_palette,
        image_palette_with_transparency,
        image_cmyk_jpeg,
        image_16bit_png,
        image_rgba,
        image_exif_rotated,
        image_truncated,
        image_oversized,
        audio_mono,
        audio_surround_5_1,
        audio_8khz_and_96khz,
        audio_truncated,
        audio_silent,
        empty_folders,
    )
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_media(case, tmp_path, caplog):
    """Each awkward file is read right, or refused with a MediaError naming it (never another exception)."""
    function = CASES[case]
    function(tmp_path, **({"caplog": caplog} if "caplog" in inspect.signature(function).parameters else {}))




def _mmhay(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmhay.cli", *map(str, args)], capture_output=True, text=True, timeout=300)


def _config(tmp_path: Path, **sections) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(_suite(**sections)))
    return path


def _one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _bad_video_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "videos"
    folder.mkdir()
    whole = _counter(tmp_path).read_bytes()
    (folder / "download.mp4").write_bytes(whole[: len(whole) // 2])
    return folder


def test_cli_a_folder_of_only_bad_videos_names_the_file(tmp_path):
    _bad_video_folder(tmp_path)
    result = _mmhay("build", _config(tmp_path, haystack={"source": "videos", "shot_seconds": [1, 2]}), "--out", tmp_path / "out")
    _one_line_error(result, "suite.yaml: haystack.source = 'videos': holds no readable video:", "download.mp4: not a readable video")
    assert not (tmp_path / "out").exists()


def test_cli_strict_refuses_a_bad_video_beside_good_ones(tmp_path):
    folder = _bad_video_folder(tmp_path)
    _counter(folder, "good.mp4", size=(64, 36))
    result = _mmhay("build", _config(tmp_path, haystack={"source": "videos", "shot_seconds": [1, 2]}), "--out", tmp_path / "out", "--strict")
    _one_line_error(result, "download.mp4: not a readable video")


def test_cli_eval_skips_a_bad_video_with_one_warning_and_goes_on(tmp_path):
    folder = _bad_video_folder(tmp_path)
    _counter(folder, "good.mp4", size=(64, 36))
    config = _config(tmp_path, haystack={"source": "videos", "shot_seconds": [1, 2]})
    result = _mmhay("eval", "--model", "random", "--data", config, "--limit", 2, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "download.mp4" in line]
    assert len(warnings) == 1 and warnings[0].startswith("mmhay: warning: skipped haystack video")
    assert (tmp_path / "run" / "samples.jsonl").read_text().count("\n") == 2


def test_cli_a_needle_folder_of_only_a_decompression_bomb_names_it(tmp_path):
    (tmp_path / "pictures").mkdir()
    _png_header_only(tmp_path / "pictures" / "giant_panorama.png", 20000, 20000)
    result = _mmhay("build", _config(tmp_path, needle={"source": "pictures"}), "--out", tmp_path / "out")
    _one_line_error(result, "needle.source = 'pictures': holds no readable image needle:", "giant_panorama.png: over the decompression-bomb limit")


def test_cli_a_silent_sound_needle_is_refused_when_strict(tmp_path):
    (tmp_path / "sounds").mkdir()
    _write_sound(tmp_path / "sounds" / "quiet.wav", np.zeros((1, 4000)), 8000, "mono")
    config = _config(tmp_path, generator="audio", needle={"kind": "sound", "source": "sounds"}, grid={"length": [4]})
    result = _mmhay("eval", "--model", "random", "--data", config, "--limit", 1, "--out", tmp_path / "run", "--strict")
    _one_line_error(result, "quiet.wav: is silent")


def test_cli_an_empty_haystack_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _mmhay("build", _config(tmp_path, haystack={"source": "empty"}), "--out", tmp_path / "out")
    _one_line_error(result, "haystack.source = 'empty': holds no readable video: no file ends in .avi")
