"""Real video files whose frames show their own index as a pattern of black and white blocks.

Written with PyAV directly (not with mmhay's writer), so that reading them tests mmhay's decoder
against an independent source. The pattern survives lossy compression and rescaling.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 12  # indices up to 4095
_COLUMNS = 6


def counter_frame(index: int, width: int = 160, height: int = 96) -> np.ndarray:
    """A frame showing ``index`` as 12 blocks (2 rows x 6 columns): white is 1, black is 0."""
    frame = np.full((height, width, 3), 128, np.uint8)
    block_w, block_h = width // _COLUMNS, height // 2
    for bit in range(BITS):
        row, col = divmod(bit, _COLUMNS)
        value = 255 if (index >> bit) & 1 else 0
        frame[row * block_h + 4 : (row + 1) * block_h - 4, col * block_w + 4 : (col + 1) * block_w - 4] = value
    return frame


def read_counter(frame: np.ndarray) -> int:
    """The index a counter frame shows (at any size)."""
    height, width = frame.shape[:2]
    block_w, block_h = width / _COLUMNS, height / 2
    index = 0
    for bit in range(BITS):
        row, col = divmod(bit, _COLUMNS)
        y, x = int((row + 0.5) * block_h), int((col + 0.5) * block_w)
        if frame[y - 2 : y + 3, x - 2 : x + 3].mean() > 128:
            index |= 1 << bit
    return index


def write_counter_video(
    path: Path,
    stamps_ms: list[int],
    *,
    gop: int = 12,
    size: tuple[int, int] = (160, 96),
    container_format: str = "mp4",
) -> Path:
    """An H.264 video with one counter frame per timestamp (milliseconds, strictly increasing)."""
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=Fraction(1000, max(1, stamps_ms[1] - stamps_ms[0])))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"g": str(gop), "crf": "20", "preset": "veryfast"}
        for index, stamp in enumerate(stamps_ms):
            frame = av.VideoFrame.from_ndarray(counter_frame(index, *size), format="rgb24")
            frame.pts = stamp
            frame.time_base = Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
