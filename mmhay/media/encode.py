"""Writing H.264 mp4 files from frames, atomically (a temporary name, then a rename)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from mmhay.atomic import temporary_path
from mmhay.errors import MediaError
from mmhay.media.audio import over_full_scale, warn_clipped

__all__ = ["write_video", "x264_options", "mux_audio"]


def x264_options(rate: Fraction, crf: int, preset: str, keyframe_seconds: Fraction, *, b_frames: bool = True) -> dict[str, str]:
    """libx264 settings: quality ``crf``, speed ``preset``, a keyframe every ``keyframe_seconds``."""
    options = {"crf": str(crf), "preset": preset, "g": str(max(1, round(keyframe_seconds * rate)))}
    if not b_frames:
        options["bf"] = "0"
    return options


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    rate: Fraction,
    size: tuple[int, int],
    crf: int = 18,
    preset: str = "veryfast",
    keyframe_seconds: Fraction = Fraction(2),
) -> int:
    """Encode uint8 ``[H, W, 3]`` RGB frames as H.264 (yuv420p) in an mp4; return the frame count.

    Frame ``k`` is stamped ``k / rate`` exactly. A keyframe every ``keyframe_seconds`` bounds the
    cost of reading one frame later. The file appears under ``path`` only once it is complete;
    libx264 output is deterministic, so the same frames give the same bytes.
    """
    import av

    path = Path(path)
    width, height = size
    if width % 2 or height % 2:
        raise MediaError(path, f"H.264 needs an even width and height, not {width}x{height}")
    rate = Fraction(rate)
    partial = temporary_path(path)
    count = 0
    try:
        with av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = x264_options(rate, crf, preset, keyframe_seconds)
            stream.time_base = 1 / rate
            for pixels in frames:
                if pixels.shape != (height, width, 3) or pixels.dtype != np.uint8:
                    raise MediaError(path, f"frame {count} is {pixels.dtype}{list(pixels.shape)}, expected uint8[{height}, {width}, 3]")
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                frame.pts = count
                frame.time_base = 1 / rate
                container.mux(stream.encode(frame))
                count += 1
            container.mux(stream.encode(None))
        if count == 0:
            raise MediaError(path, "no frames to write")
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, (MediaError, KeyboardInterrupt, SystemExit)):
            raise
        if isinstance(error, Exception):
            raise MediaError(path, f"encoding failed ({type(error).__name__}: {error})") from None
        raise
    return count


def mux_audio(path: str | Path, chunks: Iterable[np.ndarray], rate: int, channels: int, *, bitrate: int = 128_000) -> None:
    """Add a soundtrack to the video file ``path`` (AAC, from float32 ``[channels, n]`` chunks),
    copying its video stream as it is; the file is replaced only once complete. Samples over
    full scale are clipped, with a warning naming the file and how many (``warn_clipped``)."""
    import av

    path = Path(path)
    partial = temporary_path(path)
    layout = "mono" if channels == 1 else "stereo"
    try:
        with av.open(str(path)) as source, av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            video_in = source.streams.video[0]
            video_out = container.add_stream_from_template(video_in)
            audio_out = container.add_stream("aac", rate=rate)
            audio_out.layout, audio_out.bit_rate = layout, bitrate
            for packet in source.demux(video_in):
                if packet.dts is None:
                    continue
                packet.stream = video_out
                container.mux(packet)
            position, clipped, total, peak = 0, 0, 0, 0.0
            for chunk in chunks:
                over, top = over_full_scale(chunk)
                clipped, total, peak = clipped + over, total + chunk.size, max(peak, top)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.clip(chunk, -1, 1).astype(np.float32)), format="fltp", layout=layout)
                frame.sample_rate, frame.pts = rate, position
                position += chunk.shape[1]
                container.mux(audio_out.encode(frame))
            container.mux(audio_out.encode(None))
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, Exception) and not isinstance(error, MediaError):
            raise MediaError(path, f"adding the soundtrack failed ({type(error).__name__}: {error})") from None
        raise
    if clipped:
        warn_clipped(path, clipped, total, peak)
