"""The video generator: a needle picture inserted as frames at a depth of a haystack video."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from math import floor

from mmhay.config import SuiteConfig
from mmhay.generators import GENERATORS, TASKS
from mmhay.generators.haystacks import HaystackPool, draw_haystack, haystack_pool
from mmhay.generators.needles import Needle, needle_pool
from mmhay.generators.seeds import Stream, sample_rng
from mmhay.media.timing import seconds
from mmhay.schema import Sample
from mmhay.timeline import Clip, Composition, Segment, Still, TimeRange

__all__ = ["VideoGenerator", "video_generator", "insert_still"]


@GENERATORS.register("video", modality="video")
def video_generator(suite: SuiteConfig, *, strict: bool = False) -> "VideoGenerator":
    """Needles shown as inserted frames in procedural or user videos, over a length x depth grid."""
    return VideoGenerator(suite, suite.key(), haystack_pool(suite, strict=strict), needle_pool(suite, strict=strict))


@dataclass(frozen=True)
class VideoGenerator:
    """Samples of one suite; ``sample(i)`` depends only on the config, the seed and ``i``."""

    suite: SuiteConfig
    config_key: str
    haystack: HaystackPool
    needles: tuple[Needle, ...]

    modality = "video"

    def __len__(self) -> int:
        return self.suite.samples

    @property
    def cells(self) -> list[dict[str, float]]:
        """The facet grid: every (length, depth) combination, covered in turn by consecutive indices."""
        grid = self.suite.grid
        return [{"length": length, "depth": depth} for length, depth in itertools.product(grid.length, grid.depth)]

    def answer_position(self, index: int) -> int:
        """Where the correct option goes: a fresh permutation per block of K samples, so letters balance."""
        k = self.suite.question.options
        block = sample_rng(self.config_key, self.suite.seed, index // k, Stream.ANSWER_POSITIONS).permutation(k)
        return int(block[index % k])

    def sample(self, index: int) -> Sample:
        suite = self.suite
        if index < 0:
            raise IndexError(f"sample indices start at 0, not {index}")
        cells = self.cells
        facets = cells[index % len(cells)]
        rng = sample_rng(self.config_key, suite.seed, index, Stream.SAMPLE)
        rate = Fraction(suite.video.fps)
        length = max(1, round(seconds(facets["length"]) * rate)) / rate
        haystack = draw_haystack(self.haystack, length, rate, rng)
        needle = self.needles[int(rng.integers(len(self.needles)))]
        duration = max(1, round(seconds(suite.needle.duration) * rate)) / rate
        at = Fraction(floor(seconds(facets["depth"]) * length * rate)) / rate
        media = Composition(insert_still(haystack, at, Still(needle.ref, duration)), suite.video.size, rate)
        frames = media.frame_grid.frames_in(at, at + duration)
        task = TASKS.get(suite.task, source=suite.origin, key="task").obj
        question = task(
            [needle], self.needles, rng, options=suite.question.options, answer_position=self.answer_position(index)
        )
        truth = {
            "insertion": "insert",
            "haystack_seconds": float(length),
            "needles": [
                {
                    "label": needle.label,
                    "description": needle.description,
                    "start": float(at),
                    "end": float(at + duration),
                    "frames": [frames.start, frames.stop],
                }
            ],
        }
        return Sample(
            id=f"{suite.name}-{index:06d}",
            suite=suite.name,
            task=suite.task,
            modality=self.modality,
            question=question.text,
            options=question.options,
            answer=question.answer,
            answer_type=question.answer_type,
            media=media,
            truth=truth,
            facets=facets,
            seed=suite.seed,
            index=index,
        )

    def sources(self) -> dict:
        """What the samples are drawn from, for the build manifest."""
        return {
            "haystack": "builtin"
            if self.haystack.procedural
            else [{"path": v.path, "sha256": v.sha256} for v in self.haystack.videos],
            "needles": "builtin"
            if self.suite.needle.source == "builtin"
            else [{"path": n.ref.path, "sha256": n.ref.sha256} for n in self.needles],  # type: ignore[union-attr]
        }


def insert_still(haystack: list[Clip], at: Fraction, still: Still) -> tuple[Segment, ...]:
    """The haystack clips with ``still`` inserted at time ``at`` (a clip is split if ``at`` falls inside)."""
    out: list[Segment] = []
    t = Fraction(0)
    placed = False
    for clip in haystack:
        if not placed and t <= at < t + clip.duration:
            head = at - t
            if head > 0:
                out.append(Clip(clip.ref, TimeRange(clip.range.start, head)))
            out.append(still)
            out.append(Clip(clip.ref, TimeRange(clip.range.start + head, clip.duration - head)))
            placed = True
        else:
            out.append(clip)
        t += clip.duration
    if not placed:
        out.append(still)
    return tuple(out)
