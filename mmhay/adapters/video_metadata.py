"""transformers' description of the frames mmhay sampled, for the processors that encode time."""

from __future__ import annotations

from mmhay.adapters import Request

__all__ = ["video_metadata"]


def video_metadata(request: Request):
    """transformers' description of the frames: their indices in a stream of the video's rate."""
    from transformers.video_utils import VideoMetadata

    count = len(request.frame_times)
    fps = request.fps or (count / request.duration if request.duration else 1.0)
    return VideoMetadata(
        total_num_frames=max(count, round(request.duration * fps)),
        fps=fps,
        duration=request.duration,
        frames_indices=[int(round(t * fps)) for t in request.frame_times],
        height=int(request.frames.shape[1]) if request.frames is not None else None,
        width=int(request.frames.shape[2]) if request.frames is not None else None,
    )
