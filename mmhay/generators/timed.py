"""Generators of needles placed in time: in video (pictures, clips, captions, sounds in the
soundtrack) and in recordings (sounds). One placement logic serves both; what differs is the
haystack (video clips, or a sound bed) and the unit positions count in (frames, or 10 ms ticks).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cached_property
from math import floor
from typing import Any

from mmhay.config import SuiteConfig
from mmhay.errors import ConfigError
from mmhay.generators import GENERATORS, TASKS, combinations
from mmhay.generators.distractors import offset_start, periodic_starts, pick_distractors
from mmhay.generators.haystacks import BED_LEVEL_DBFS, HaystackPool, describe_sources, draw_bed, draw_haystack, haystack_pool, sound_pool
from mmhay.generators.insertion import Item, Placed, Soundtrack, assemble, copy_boxes, overlay_box, source_soundtrack
from mmhay.generators.needles import Needle, needle_pool
from mmhay.generators.placement import NoRoom, allocate, fits, spaced_starts
from mmhay.generators.seeds import Stream, balanced_position, sample_rng
from mmhay.generators.tasks import Question, Scene, Settings
from mmhay.generators.tasks.counting import MAX_DEFAULT_COUNT
from mmhay.media.timing import seconds
from mmhay.schema import Sample
from mmhay.soundtrack import SILENCE_FLOOR_DBFS, quiet_sounds
from mmhay.timeline import Composition, FileRef

log = logging.getLogger(__name__)

__all__ = ["TimedGenerator", "Cell", "video_generator", "audio_generator", "AUDIO_TICKS", "DRAWS"]

AUDIO_TICKS = 100  # positions in a recording count in hundredths of a second
DRAWS = 20  # draws of a scene before a cell whose sounds keep falling on silence is refused


@GENERATORS.register("video", modality="video")
def video_generator(suite: SuiteConfig, *, strict: bool = False) -> "TimedGenerator":
    """Needles (pictures, clips, captions, sounds in the soundtrack) put into procedural or user videos."""
    kinds = sorted(set(suite.grid.kind or [suite.needle.kind]) | ({"sound"} if _companion_sounds(suite) else set()))
    pools = {kind: needle_pool(suite, kind, strict=strict) for kind in kinds}
    recordings = ()  # a video's own soundtrack is its source's, or synthesized
    generator = TimedGenerator(suite, suite.key(), "video", haystack_pool(suite, strict=strict), recordings, pools)
    generator.check()
    return generator


@GENERATORS.register("audio", modality="audio")
def audio_generator(suite: SuiteConfig, *, strict: bool = False) -> "TimedGenerator":
    """Sound needles (synthesized events, keypad digits, labelled recordings) in long sound beds or recordings."""
    for k, kind in enumerate(suite.grid.kind or [suite.needle.kind]):
        if kind != "sound":
            raise ConfigError(suite.origin, "needle.kind" if not suite.grid.kind else f"grid.kind[{k}]", "recordings hold sound needles; use kind sound", kind)
    if suite.grid.bed and suite.haystack.source != "builtin":
        raise ConfigError(suite.origin, "grid.bed", f"the recordings of haystack.source {suite.haystack.source} are the bed; leave grid.bed out", suite.grid.bed)
    pools = {"sound": needle_pool(suite, "sound", strict=strict)}
    generator = TimedGenerator(suite, suite.key(), "audio", HaystackPool((), (Fraction(20), Fraction(60))), sound_pool(suite, strict=strict), pools)
    generator.check()
    return generator


def _companion_sounds(suite: SuiteConfig) -> bool:
    """Whether a suite's tasks play a sound with each picture (cross-modal questions)."""
    return any(TASKS.get(task).meta.get("companions") for task in suite.grid.task or [suite.task])


@dataclass(frozen=True)
class Cell:
    """The settings of one grid cell, resolved from the grid and the config's single values."""

    facets: dict[str, Any]
    task: str
    kind: str
    insertion: str
    form: str
    length: int  # haystack frames
    depth: float | None  # None: needles go to random places
    needles: int | None  # None: the task's default
    distractors: int
    duration: int  # needle frames (the most, where each needle draws its own)
    scale: float
    snr: float  # sounds' level over the bed, in dB
    shortest: int | None = None  # with needle.duration [low, high]: the fewest needle frames
    bed: str = "none"  # haystack.bed, or grid.bed's for this cell


@dataclass(frozen=True)
class TimedGenerator:
    """Samples of one suite; ``sample(i)`` depends only on the config, the seed and ``i``."""

    suite: SuiteConfig
    config_key: str
    medium: str  # "video" or "audio"
    haystack: HaystackPool
    recordings: tuple[FileRef, ...]
    pools: Mapping[str, tuple[Needle, ...]]

    @property
    def modality(self) -> str:
        return self.medium

    def __len__(self) -> int:
        return self.suite.samples

    @property
    def rate(self) -> Fraction:
        """Positions count in video frames, or in ticks of a recording."""
        return Fraction(self.suite.video.fps) if self.medium == "video" else Fraction(AUDIO_TICKS)

    @cached_property
    def cells(self) -> list[Cell]:
        """Every combination of the grid's axes; consecutive scenes take them in turn.

        Where the grid crosses several tasks or kinds, combinations a task does not ask about
        (a cross-modal question about a sound needle, say) are left out.
        """
        cells = [self._cell(facets) for facets in combinations(self.suite.grid.axes())]
        if not (self.suite.grid.task or self.suite.grid.kind):
            return cells
        kept = [cell for cell in cells if not self._mismatch(cell)]
        for cell in cells:
            if cell not in kept:
                log.info("%s: left out the grid cell %s: %s", self.suite.origin, cell.facets, self._mismatch(cell))
        return kept or cells[:1]  # nothing applies: check() names the first problem

    def _mismatch(self, cell: Cell) -> str:
        """Why a cell's task does not apply to its needles and medium, or ""."""
        task = TASKS.get(cell.task, source=self.suite.origin, key="task")
        if self.medium not in task.meta["media"]:
            return f"{cell.task} is not asked about {self.medium}"
        if cell.kind == "sound" and cell.insertion == "insert" and self.medium == "video":
            return "sounds in a video's soundtrack are mixed in (overlay) or spliced in (replace), not inserted; a recording (generator audio) takes inserted sounds"
        settings = Settings(
            cell.kind,
            cell.form,
            cell.needles,
            cell.distractors,
            self.suite.needle.source == "builtin",
            self.suite.question.options,
            self.pools.get(cell.kind, ()),
            cell.shortest or cell.duration,
        )
        try:
            task.meta["check"](settings)
        except ValueError as error:
            return f"{cell.task} {error}"
        return ""

    def _cell(self, facets: dict[str, Any]) -> Cell:
        suite, rate = self.suite, self.rate
        if "length_frames" in facets:
            length = facets["length_frames"]
            facets = {**facets, "length": float(Fraction(length) / rate)}
        else:
            length = max(1, round(seconds(facets["length"]) * rate))
        duration = facets.get("needle_duration", suite.needle.duration)
        shortest = None
        if isinstance(duration, tuple):  # a duration drawn for each needle
            shortest, duration = max(1, round(seconds(duration[0]) * rate)), duration[1]
        task = facets.get("task", suite.task)
        kind = facets.get("kind", suite.needle.kind)
        default = "overlay" if kind == "sound" else "insert"  # sounds are mixed in unless told otherwise
        if "insertion" not in suite.needle.model_fields_set:
            insertion = default
        elif isinstance(suite.needle.insertion, str):
            insertion = suite.needle.insertion
        else:
            insertion = suite.needle.insertion.get(kind, default)
        needles = facets.get("needles")
        if needles is not None and TASKS.get(task).meta["needles"] == 1:
            # single-needle tasks in a grid that counts needles for the others show one
            needles, facets = None, {**facets, "needles": 1}
        return Cell(
            facets=facets,
            task=task,
            kind=kind,
            insertion=facets.get("insertion", insertion),
            form=facets.get("form", suite.question.form),
            length=length,
            depth=facets.get("depth"),
            needles=needles,
            distractors=facets["distractors"],
            duration=max(1, round(seconds(duration) * rate)),
            scale=facets.get("needle_scale", suite.needle.scale),
            snr=facets.get("snr", suite.needle.snr_db),
            shortest=shortest,
            bed=facets.get("bed", suite.haystack.bed),
        )

    @cached_property
    def group(self) -> int:
        """Samples per scene block: 2 when any task asks in twins, else 1."""
        return max(TASKS.get(cell.task).meta["group"] for cell in self.cells)

    def sample(self, index: int) -> Sample:
        if index < 0:
            raise IndexError(f"sample indices start at 0, not {index}")
        suite, rate, size = self.suite, self.rate, self.suite.video.size
        cells = self.cells
        cell = cells[(index // self.group) % len(cells)]
        task = TASKS.get(cell.task, source=suite.origin, key="task")
        group = task.meta["group"]
        twin = index % group
        rng = sample_rng(self.config_key, suite.seed, index - twin, Stream.SAMPLE)
        pool = self.pools[cell.kind]
        # a sound over silence would have no SNR: draw the scene again, from where the rng is (the
        # first draw is as it always was; twins share the rng, so they redraw alike)
        for attempt in range(DRAWS):
            media, placed, plan = self._draw(cell, task, pool, rng)
            if not quiet_sounds(media):
                break
            log.info("%s: sample %d: a sound fell where the bed is silent; drawn again (%d)", suite.origin, index, attempt + 1)
        else:
            key, value = ("haystack.source", suite.haystack.source) if self.recordings else ("grid.bed" if suite.grid.bed else "haystack.bed", cell.bed)
            raise ConfigError(
                suite.origin,
                key,
                f"grid cell {cell.facets}: in {DRAWS} draws a sound always fell where the bed is under the "
                f"{SILENCE_FLOOR_DBFS:g} dBFS silence floor, and an SNR over silence means nothing; give the sounds "
                "a bed that is heard where they go (noise, hum, music), or other depths",
                value,
            )
        block = index // group
        scene = Scene(
            placed=tuple(sorted(placed, key=lambda p: p.start)),
            plan=plan,
            pool=pool,
            kind=cell.kind,
            form=cell.form,
            options=suite.question.options,
            twin=twin,
            duration=media.duration,
            rng=sample_rng(self.config_key, suite.seed, index, Stream.QUESTION),
            position=lambda k: balanced_position(self.config_key, suite.seed, block, k),
            medium=self.medium,
            sounds=self.pools.get("sound", ()),
            zero_counts=0 in (suite.grid.needles or ()),
        )
        question: Question = task.obj(scene)
        entries = {role: [self._entry(p, size) for p in scene.placed if p.role == role] for role in ("needle", "distractor", "sound")}
        truth: dict[str, Any] = {
            "insertion": cell.insertion,
            "kind": cell.kind,
            "haystack_seconds": float(Fraction(cell.length) / rate),
            "needles": entries["needle"],
            "distractors": entries["distractor"],
            "needs_audio": self.medium == "audio" or cell.kind == "sound" or bool(task.meta.get("companions")),
        }
        if entries["sound"]:
            truth["sounds"] = entries["sound"]
        if media.sounds and media.sounds[0].level_dbfs is not None:
            truth["level_dbfs"] = media.sounds[0].level_dbfs  # over silence: no SNR, an absolute level
        elif media.sounds:
            truth["snr_db"] = media.sounds[0].snr_db
        if media.soundtrack:
            truth["peak_dbfs"] = media.peak_dbfs
        truth.update(question.truth)
        if question.asked is not None:
            asked = question.asked
            truth["asked"] = {
                "label": asked.label,
                "description": asked.description,
                "present": question.present,
                "source": asked.ref.to_json() if asked.ref is not None else {"text": asked.text},
            }
            if question.detail:
                truth["asked"]["question"] = question.detail
        return Sample(
            id=f"{suite.name}-{index:06d}",
            suite=suite.name,
            task=cell.task,
            modality=self.modality,
            question=question.text,
            options=question.options,
            answer=question.answer,
            answer_type=question.answer_type,
            media=media,
            truth=truth,
            facets=cell.facets,
            seed=suite.seed,
            index=index,
        )

    def _draw(self, cell: Cell, task, pool: tuple[Needle, ...], rng) -> tuple[Composition, list[Placed], Any]:
        """One draw of a scene from ``rng``: the composition, where each item shows, and the task's plan."""
        suite, rate, size = self.suite, self.rate, self.suite.video.size
        haystack = draw_haystack(self.haystack, Fraction(cell.length) / rate, rate, rng) if self.medium == "video" else []
        plan = task.meta["plan"](pool, rng, cell.needles)
        distractors = pick_distractors(pool, plan, cell.distractors, suite.distractors.similarity, rng)
        needles = [*plan.shown, *plan.decoys, *distractors]
        first = len(plan.shown) + len(plan.decoys)  # the first distractor drawn here
        # each needle its own duration, where the config gives a range (drawn only then: the draws
        # of suites with one duration stay as they were)
        wanted = [cell.duration] * len(needles) if cell.shortest is None else [int(rng.integers(cell.shortest, cell.duration + 1)) for _ in needles]
        # a clip shows no longer than itself; a sound of its own length (keypad digits) plays whole
        frames = [
            want if n.duration is None else floor(n.duration * rate) if n.kind == "sound" else min(want, floor(n.duration * rate))
            for n, want in zip(needles, wanted)
        ]
        frames = [max(1, f) for f in frames]
        widths = [0 if cell.insertion == "insert" else f for f in frames]
        fixed = {}
        if plan.slots:
            spaced = spaced_starts(cell.length, len(plan.slots), max(widths[: len(plan.slots)]))
            fixed = {k: spaced[slot] for k, slot in enumerate(plan.slots)}
        elif cell.depth is not None and plan.shown:  # a count of 0 shows no needle to place at the depth
            fixed[0] = floor(Fraction(str(cell.depth)) * (cell.length - widths[0]))
        if suite.distractors.placement == "offset" and distractors and plan.shown:
            if 0 not in fixed:  # the needle's start is drawn first: the look-alike's follows from it
                fixed[0] = int(rng.integers(cell.length - widths[0] + 1))
            start = offset_start(fixed[0], widths[0], widths[first], cell.length, suite.distractors.offset, rng)
            if start is None:  # no side fits: V-NIAH-D shows no look-alike there either
                needles, frames, widths, distractors = needles[:first], frames[:first], widths[:first], []
            else:
                fixed[first] = start
        preferred = {}
        if suite.distractors.placement == "periodic" and distractors:
            for j, start in enumerate(periodic_starts(cell.length, len(distractors), widths[first])):
                preferred[first + j] = start
        try:
            starts = allocate(cell.length, widths, rng, fixed=fixed, preferred=preferred, gap=self._gap)
        except NoRoom:
            raise ConfigError(suite.origin, "grid", f"cell {cell.facets} has no room for its needles") from None
        boxed = cell.insertion == "overlay" and cell.kind != "sound"
        copies = plan.copies  # the shown needles' copies side by side, where the task shows several
        items = [
            Item(
                needle,
                "needle" if k < len(plan.shown) else "distractor",
                start,
                count,
                overlay_box(needle, cell.scale, size, suite.needle.position, rng) if boxed and k >= len(copies) else None,
                copy_boxes(needle, copies[k], cell.scale, size, rng) if k < len(copies) else (),
            )
            for k, (needle, start, count) in enumerate(zip(needles, starts, frames))
        ]
        if task.meta.get("companions"):
            # every picture comes with its own sound, heard while it shows
            sounds = self.pools["sound"]
            for k, item in enumerate(list(items)):
                items.append(Item(sounds[int(rng.permutation(len(sounds))[k % len(sounds)])], "sound", item.at, item.frames))
        media, placed = assemble(haystack, items, cell.insertion, size, rate, self._soundtrack(cell, items, rng))
        if self.medium == "video" and cell.bed == "source":
            media = replace(media, soundtrack=source_soundtrack(media))
        if media.soundtrack:
            media = replace(media, peak_dbfs=suite.audio.peak_dbfs)  # the whole recording fits under it
        return media, placed, plan

    def _entry(self, placed: Placed, size: tuple[int, int]) -> dict:
        """A truth entry: video positions in frames; recording positions in samples, not ticks."""
        entry = placed.to_json(size)
        if self.medium == "audio":
            del entry["frames"], entry["box"]
            entry["samples"] = [round(placed.start * self.suite.audio.rate), round(placed.end * self.suite.audio.rate)]
        return entry

    def _soundtrack(self, cell: Cell, items: list[Item], rng) -> Soundtrack:
        """The bed under a sample, as long as its output: none for a silent video with no sounds."""
        suite = self.suite
        bed = cell.bed
        has_sounds = any(item.needle.kind == "sound" for item in items)
        if self.medium == "video" and (bed in ("none", "source") and not (has_sounds and bed == "none")):
            return Soundtrack((), suite.audio.rate, suite.audio.channels, cell.snr)
        inserted = sum(item.frames for item in items if item.needle.kind != "sound") if cell.insertion == "insert" else 0
        length = Fraction(cell.length + inserted) / self.rate
        shots = (seconds(suite.haystack.shot_seconds[0]), seconds(suite.haystack.shot_seconds[1]))
        clips = draw_bed("noise" if bed == "none" else bed, self.recordings, length, shots, rng)
        # over silence a sound is as loud as it would be at its SNR over a built-in bed (docs/metrics.md)
        level = BED_LEVEL_DBFS + cell.snr if bed == "silence" and not self.recordings else None
        return Soundtrack(tuple(clips), suite.audio.rate, suite.audio.channels, cell.snr, level)

    @property
    def _gap(self) -> int:
        """Frames kept between any two placed items: half a second, so appearances stay distinct."""
        return max(1, round(self.rate / 2))

    def check(self) -> None:
        """Refuse, before anything is made, any cell whose task, pool or haystack cannot serve it."""
        suite = self.suite
        for cell in self.cells:
            task = TASKS.get(cell.task, source=suite.origin, key="task")
            problem = self._mismatch(cell)
            if problem:
                key = "needle.insertion" if problem.startswith("sounds") else "task" if not suite.grid.task else "grid.task"
                raise ConfigError(suite.origin, key, problem, cell.insertion if key == "needle.insertion" else cell.task)
            if not suite.grid.task and task.meta["needles"] == 1 and cell.facets.get("needles", 1) != 1:
                raise ConfigError(suite.origin, "grid.needles", f"{cell.task} asks about one needle; leave grid.needles out", suite.grid.needles)
            if suite.distractors.placement == "offset" and cell.distractors > 1:
                key = "grid.distractors" if suite.grid.distractors != [0] else "distractors"
                raise ConfigError(suite.origin, key, "placement offset places one look-alike beside the needle: 0 or 1", cell.distractors)
            count = task.meta.get("shows") or (cell.needles if cell.needles is not None else task.meta["needles"] or MAX_DEFAULT_COUNT)
            pool = self.pools[cell.kind]
            # options and shown needles are all different needles; negative twins also need an absent one
            distinct = count if task.meta.get("distinct") else 1
            decoys = task.meta.get("decoys", 0)  # each with the needle it points to, never shown
            options = suite.question.options if task.meta.get("pooled_options", True) else 1
            wanted = options + distinct - 1 + cell.distractors + (task.meta["group"] - 1) + 2 * decoys
            if len(pool) < wanted:
                raise ConfigError(
                    suite.origin,
                    "needle.source",
                    f"has {len(pool)} usable needles; {cell.task} with {options} options, "
                    f"{distinct} needle(s){f', {decoys} decoy(s)' if decoys else ''} and {cell.distractors} distractor(s) needs at least {wanted}",
                    suite.needle.source,
                )
            if self.medium == "video" and cell.bed == "source" and (cell.kind == "sound" or task.meta.get("companions")):
                self._check_source_sound(cell, task)
            width = 0 if cell.insertion == "insert" else cell.duration
            if task.meta.get("spaced"):
                self._check_spaced(cell, count + decoys, width)
            # copies side by side share their frames: a task showing them takes at most its ``copies`` frames
            shown = min(count, task.meta["copies"]) if task.meta.get("copies") else count
            if not fits(cell.length, [width] * (shown + decoys + cell.distractors), self._gap):
                raise ConfigError(
                    suite.origin,
                    "grid",
                    f"a {float(Fraction(cell.length) / self.rate):g} s haystack has no room for {count + decoys + cell.distractors} "
                    f"needles of {float(Fraction(cell.duration) / self.rate):g} s kept half a second apart; "
                    "lengthen the haystack or show fewer or shorter needles",
                )

    def _check_spaced(self, cell: Cell, count: int, width: int) -> None:
        """Refuse a depth for needles placed in evenly spaced slots, and slots closer than the gap."""
        suite = self.suite
        if cell.depth is not None:
            raise ConfigError(suite.origin, "grid.depth", f"{cell.task} spaces its needles evenly over the haystack; leave grid.depth out", cell.depth)
        if (cell.length - width) // (count - 1) < width + self._gap:
            raise ConfigError(
                suite.origin,
                "grid",
                f"a {float(Fraction(cell.length) / self.rate):g} s haystack spaces {count} needles evenly closer "
                "than half a second apart; lengthen the haystack or show fewer or shorter needles",
            )

    def _check_source_sound(self, cell: Cell, task) -> None:
        """Refuse sounds that could only play over silence in a video's own soundtrack."""
        suite = self.suite
        if not any(video.audio is not None for video in self.haystack.videos):
            raise ConfigError(
                suite.origin,
                "haystack.bed",
                "the haystack videos have no sound of their own (procedural footage has none), so the sounds "
                "would play over silence, where an SNR means nothing; use a bed of noise, hum or music",
                suite.haystack.bed,
            )
        if task.meta.get("companions") and cell.insertion != "overlay":
            raise ConfigError(
                suite.origin,
                "haystack.bed",
                f"{cell.task} plays each sound while its picture shows, and a picture put in by {cell.insertion} "
                "has none of the video's sound under it; use insertion overlay, or a bed of noise, hum or music",
                suite.haystack.bed,
            )

    def sources(self) -> dict:
        """What the samples are drawn from, for the build manifest."""
        return describe_sources(self.suite, self.haystack.videos or self.recordings, [n for pool in self.pools.values() for n in pool])
