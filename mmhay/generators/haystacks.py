"""Video haystacks: procedural footage or the user's videos, cut into clips that fill a length.

A haystack is a list of ``Clip`` segments (a composition, no copy on disk). Every clip boundary
falls on the output frame grid, so needles inserted between frames replace none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from math import floor
from pathlib import Path

import numpy as np

from mmhay.config import SuiteConfig
from mmhay.errors import ConfigError, MediaError
from mmhay.media.audio import AUDIO_SUFFIXES
from mmhay.media.pictures import BUNDLED_PICTURES, load_picture
from mmhay.media.probe import IMAGE_SUFFIXES, VIDEO_SUFFIXES, walk_files
from mmhay.media.timing import seconds
from mmhay.timeline import Clip, FileRef, GeneratorRef, MediaRef, TimeRange

__all__ = ["HaystackPool", "source_folder", "nothing_readable", "warn_once", "describe_sources", "haystack_pool", "draw_haystack", "picture_pool", "draw_tiles", "sound_pool", "draw_bed", "BED_LEVEL_DBFS"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HaystackPool:
    """What haystacks are cut from: procedural footage (``videos`` empty) or probed video files."""

    videos: tuple[FileRef, ...]
    shot_seconds: tuple[Fraction, Fraction]

    @property
    def procedural(self) -> bool:
        return not self.videos


def source_folder(suite: SuiteConfig, key: str, source: str) -> Path:
    """The folder a config's ``key`` names, resolved from the config's folder; a ``ConfigError`` if it is none."""
    folder = suite.resolve(source)
    if not folder.is_dir():
        problem = "directory does not exist" if not folder.exists() else "not a directory"
        raise ConfigError(suite.origin, key, problem, source)
    return folder


def _scan(suite: SuiteConfig, suffixes: frozenset[str], read: Callable[[Path], FileRef], what: str, strict: bool) -> tuple[FileRef, ...]:
    """Every readable file under the haystack folder: unreadable ones are skipped with a warning
    naming them (an error with ``strict``); none at all is a ``ConfigError``."""
    source = suite.haystack.source
    found, skipped = [], []
    for path in walk_files(source_folder(suite, "haystack.source", source), suffixes):
        try:
            found.append(read(path))
        except MediaError as error:
            if strict:
                raise
            skipped.append(error)
    if not found:
        raise ConfigError(suite.origin, "haystack.source", nothing_readable(what, suffixes, skipped), source)
    for error in skipped:
        warn_once(f"skipped haystack {what} {error}")
    return tuple(found)


@lru_cache(maxsize=4096)
def warn_once(message: str) -> None:
    """Log a warning the first time this process meets it: one process may scan a folder more than once
    (``mmhay report`` over several runs of one config)."""
    log.warning(message)


def nothing_readable(what: str, suffixes: frozenset[str], skipped: Sequence[MediaError]) -> str:
    """Why a source folder gave nothing: it holds no such files, or the first unreadable one and its reason."""
    if not skipped:
        return f"holds no readable {what}: no file ends in {' '.join(sorted(suffixes))}"
    more = f" (and {len(skipped) - 1} more skipped)" if len(skipped) > 1 else ""
    return f"holds no readable {what}: {skipped[0]}{more}"


def haystack_pool(suite: SuiteConfig, *, strict: bool = False) -> HaystackPool:
    """Scan a suite's haystack source; unreadable videos are skipped with a warning (errors with ``strict``)."""
    shots = (seconds(suite.haystack.shot_seconds[0]), seconds(suite.haystack.shot_seconds[1]))
    if suite.haystack.source == "builtin":
        return HaystackPool((), shots)
    one_frame = Fraction(1, suite.video.fps)

    def read(path: Path) -> FileRef:
        ref = FileRef.video(path)
        assert ref.info is not None
        if ref.info.duration < one_frame:
            raise MediaError(path, "is shorter than one output frame")
        return ref

    return HaystackPool(_scan(suite, VIDEO_SUFFIXES, read, "video", strict), shots)


def picture_pool(suite: SuiteConfig, *, strict: bool = False) -> tuple[FileRef, ...]:
    """The pictures image haystacks are made of: none for ``builtin`` (crops of bundled
    photographs), else every readable image under the folder (unreadable ones skipped with a
    warning, an error with ``strict``)."""
    if suite.haystack.source == "builtin":
        return ()

    def read(path: Path) -> FileRef:
        load_picture(path)
        return FileRef.image(path)

    return _scan(suite, IMAGE_SUFFIXES, read, "image", strict)


def sound_pool(suite: SuiteConfig, *, strict: bool = False) -> tuple[FileRef, ...]:
    """Recordings audio haystacks are cut from: none for ``builtin`` (synthesized beds), else every
    readable audio file under the folder (unreadable ones skipped with a warning, an error with
    ``strict``)."""
    if suite.haystack.source == "builtin":
        return ()
    return _scan(suite, AUDIO_SUFFIXES, FileRef.sound, "recording", strict)


def describe_sources(suite: SuiteConfig, haystack: Sequence[FileRef], needles: Sequence) -> dict:
    """What a suite's samples are drawn from, for the build manifest: "builtin", or files and their SHA-256."""
    files = lambda refs: [{"path": r.path, "sha256": r.sha256} for r in refs]  # noqa: E731
    return {
        "haystack": files(haystack) if haystack else "builtin",
        "needles": "builtin" if suite.needle.source == "builtin" else files(n.ref for n in needles),
    }


def draw_tiles(pictures: Sequence[FileRef], count: int, rng: np.random.Generator) -> list[MediaRef]:
    """``count`` haystack pictures: the folder's in random order (repeating only when it runs out),
    or crops of bundled photographs at random places and scales."""
    if pictures:
        order = [pictures[int(k)] for k in rng.permutation(len(pictures))]
        return [order[k % len(order)] for k in range(count)]
    tiles: list[MediaRef] = []
    for _ in range(count):
        picture = BUNDLED_PICTURES[int(rng.integers(len(BUNDLED_PICTURES)))]
        side = float(rng.uniform(0.2, 0.5))
        box = [round(float(rng.uniform(0, 1 - side)), 4), round(float(rng.uniform(0, 1 - side)), 4), round(side, 4), round(side, 4)]
        tiles.append(GeneratorRef("crop", {"picture": picture, "box": box}))
    return tiles


_BEDS = ("noise", "hum", "music")
_WHOLE_BEDS = ("silence", "white", "babble")  # beds added later: each draws only what it needs

# The level (RMS) of every built-in bed but silence: noise, white noise and babble hold it exactly,
# hum and music about it.
BED_LEVEL = 0.1
BED_LEVEL_DBFS = -20.0
BABBLE_VOICES = 8


def draw_bed(bed: str, recordings: Sequence[FileRef], length: Fraction, shot: tuple[Fraction, Fraction], rng: np.random.Generator) -> list[Clip]:
    """Sound that lasts exactly ``length`` seconds: recordings end to end (random stretches), one
    synthesized bed, or (``mixed``) shots of all three kinds in turn."""
    if bed in _WHOLE_BEDS and not recordings:
        params = {
            "silence": lambda: {},
            "white": lambda: {"color": "white", "seed": int(rng.integers(2**31)), "level": BED_LEVEL},
            "babble": lambda: {"seed": int(rng.integers(2**31)), "voices": BABBLE_VOICES, "level": BED_LEVEL},
        }[bed]()
        name = "noise" if bed == "white" else bed
        return [Clip(GeneratorRef(name, params), TimeRange(Fraction(0), length))] if length > 0 else []
    clips: list[Clip] = []
    left = length
    tick = Fraction(1, 100)
    while left > 0:
        if recordings:
            recording = recordings[int(rng.integers(len(recordings)))]
            assert recording.audio is not None
            available = recording.audio.duration - recording.audio.duration % tick
            take = min(left, available)
            start = Fraction(int(rng.integers(int((available - take) / tick) + 1))) * tick
            clips.append(Clip(recording, TimeRange(start, take)))
        else:
            kind = bed if bed in _BEDS else _BEDS[len(clips) % 3]
            take = left if bed in _BEDS else min(left, Fraction(int(rng.integers(int(shot[0]), int(shot[1]) + 1))))
            seed = int(rng.integers(2**31))
            params = {
                "noise": {"color": ("pink", "brown")[int(rng.integers(2))], "seed": seed, "level": 0.1},
                "hum": {"base": int(rng.integers(80, 160)), "level": 0.1},
                "music": {"seed": seed, "tempo": int(rng.integers(70, 130)), "level": 0.1},
            }[kind]
            clips.append(Clip(GeneratorRef(kind, params), TimeRange(Fraction(0), take)))
        left -= take
    return clips


def draw_haystack(pool: HaystackPool, length: Fraction, rate: Fraction, rng: np.random.Generator) -> list[Clip]:
    """Clips that together last exactly ``length`` seconds (a whole number of frames at ``rate``)."""
    frames_left = round(length * rate)
    clips: list[Clip] = []
    previous = None
    while frames_left > 0:
        if pool.procedural:
            low, high = (round(s * rate) for s in pool.shot_seconds)
            take = min(frames_left, int(rng.integers(max(1, low), max(1, high) + 1)))
            duration = Fraction(take) / rate
            clip = _procedural_shot(duration, previous, rng)
            previous = clip.ref.params["picture"]
        else:
            video = pool.videos[int(rng.integers(len(pool.videos)))]
            assert video.info is not None
            available = floor(video.info.duration * rate)
            take = min(frames_left, available)
            offset = int(rng.integers(available - take + 1))
            clip = Clip(video, TimeRange(Fraction(offset) / rate, Fraction(take) / rate))
        clips.append(clip)
        frames_left -= take
    return clips


def _procedural_shot(duration: Fraction, previous: str | None, rng: np.random.Generator) -> Clip:
    """One shot of a slow pan and zoom over a bundled photograph (never the previous shot's)."""
    choices = [p for p in BUNDLED_PICTURES if p != previous]
    picture = choices[int(rng.integers(len(choices)))]
    start = [float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7)), float(rng.uniform(1.0, 1.5))]
    end = [
        float(np.clip(start[0] + rng.uniform(-0.15, 0.15), 0, 1)),
        float(np.clip(start[1] + rng.uniform(-0.1, 0.1), 0, 1)),
        float(np.clip(start[2] * rng.uniform(0.8, 1.25), 1.0, 2.0)),
    ]
    params = {"picture": picture, "start": [round(v, 4) for v in start], "end": [round(v, 4) for v in end], "duration": str(duration)}
    return Clip(GeneratorRef("pan_zoom", params), TimeRange(Fraction(0), duration))
