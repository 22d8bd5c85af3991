"""Tasks: what to place for a question, and the question asked about what was placed.

A task is registered under its name as its ``ask`` function, with metadata:
``plan`` (which needles to show), ``group`` (samples asked about one scene: 2 for negative twins),
``needles`` (the default needle count), ``check`` (what settings it accepts), ``zero`` (it
counts, and a count of 0 is a question it asks) and ``copies`` (it shows needles as several
copies within a frame, in at most that many frames).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from mmhay.generators import TASKS
from mmhay.generators.insertion import Placed
from mmhay.generators.needles import Needle
from mmhay.schema import AnswerType

__all__ = ["Question", "Plan", "Scene", "Settings", "register_task", "noun", "mention", "pick", "TASKS"]


@dataclass(frozen=True)
class Question:
    """The asked part of a sample."""

    text: str
    options: tuple[str, ...]
    answer: str
    answer_type: AnswerType
    asked: Needle | None = None
    present: bool = True
    truth: Mapping[str, Any] = field(default_factory=dict)  # what the task adds to the sample's truth
    detail: dict = field(default_factory=dict)  # more about what was asked, for truth.asked (JSON values)


@dataclass(frozen=True)
class Plan:
    """What a task wants shown: ``shown`` needles (repeats allowed), the needle asked about when it
    is not among them (``absent``; no distractor is ever it), and attribute values distractors must
    not have (``avoid``). ``decoys`` are distractors the task chose itself; ``slots`` give each
    shown needle, then each decoy, its place among as many evenly spaced starts (in the order of
    the starts), where the needles are not placed as usual."""

    shown: tuple[Needle, ...]
    absent: Needle | None = None
    avoid: dict[str, str] = field(default_factory=dict)
    absent_all: tuple[Needle, ...] = ()  # a look-alike per shown needle, when each needs one
    decoys: tuple[Needle, ...] = ()
    slots: tuple[int, ...] = ()
    copies: tuple[int, ...] = ()  # copies of each shown needle within its frame (none: one each)


@dataclass(frozen=True)
class Settings:
    """The settings of one grid cell that a task checks."""

    kind: str
    form: str
    needles: int | None
    distractors: int
    builtin: bool
    options: int
    pool: tuple[Needle, ...] = ()  # the needles the cell draws from
    frames: int = 1  # the fewest frames a needle shows


@dataclass(frozen=True)
class Scene:
    """What was placed, and how to ask about it."""

    placed: tuple[Placed, ...]  # every item, in time order
    plan: Plan
    pool: tuple[Needle, ...]
    kind: str
    form: str
    options: int
    twin: int  # which of a group of samples about one scene this is
    duration: Fraction  # of the output video
    rng: np.random.Generator
    position: Callable[[int], int]  # a balanced position for the correct one of k options
    medium: str = "video"  # what the needles are in: video, audio or images
    sounds: tuple[Needle, ...] = ()  # the sound pool, for questions about sounds heard with pictures
    zero_counts: bool = False  # the suite's counts include 0, so "0" is among a count's options

    @property
    def where(self) -> str:
        """Where the needles are, as a question says it: "in the video", "in the recording", ..."""
        return {"video": "in the video", "audio": "in the recording", "images": "among the images"}[self.medium]

    @property
    def needles(self) -> list[Placed]:
        return [p for p in self.placed if p.role == "needle"]

    @property
    def shown_labels(self) -> set[str]:
        return {p.needle.label for p in self.placed}


TIMED = ("video", "audio", "images")


def register_task(
    name: str,
    *,
    plan,
    group: int = 1,
    needles: int | None = 1,
    distinct: bool = False,
    check=None,
    media: tuple[str, ...] = TIMED,
    companions: bool = False,
    decoys: int = 0,
    spaced: bool = False,
    pooled_options: bool = True,
    zero: bool = False,
    copies: int = 0,
    shows: int | None = None,
):
    """Register an ``ask`` function as task ``name``: its plan, how many samples share a scene
    (``group``), its default needle count, whether its needles all differ, its ``check``, and
    the media it asks about (``video``, ``audio``, ``images``: needles placed in a sequence;
    ``grid``: needles placed in cells of image grids); with ``companions``, every picture shown
    comes with a sound heard while it shows. ``decoys``: how many decoys its plans add, each
    pointing to one more needle never shown; ``spaced``: its plans place needles in evenly spaced
    slots (so a grid depth means nothing to it); without ``pooled_options``, its options are not
    other needles of the pool (so the pool need not hold one per option). With ``zero``, the grid
    may ask a count of 0; with ``copies``, the needles show as copies side by side in at most
    ``copies`` frames. ``shows`` is how many needles the task shows where
    ``grid.needles`` counts something else (motion_count: the motions of its one clip)."""
    return TASKS.register(
        name,
        plan=plan,
        group=group,
        needles=needles,
        distinct=distinct,
        check=check or (lambda settings: None),
        media=media,
        companions=companions,
        decoys=decoys,
        spaced=spaced,
        pooled_options=pooled_options,
        zero=zero,
        copies=copies,
        shows=shows,
    )


def noun(kind: str, plural: bool = False) -> str:
    """What a needle of ``kind`` is called in a question."""
    word = {"image": "picture", "clip": "short clip", "text": "caption", "sound": "sound"}[kind]
    return word + "s" if plural else word


def mention(needle: Needle) -> str:
    """How a question refers to one needle: "a red star", or for text 'the word "lemon"'."""
    if needle.kind == "text":
        return f'the {"number" if needle.attributes.get("template") == "passkey" else "word"} "{needle.label}"'
    if needle.attributes.get("template") == "dtmf":
        return f'the keypad digits "{needle.label}"'
    if needle.attributes.get("template") == "spoken":
        return f'the spoken number "{needle.label}"'
    return needle.description


def pick(pool: Sequence[Needle], k: int, rng: np.random.Generator, exclude: set[str] = frozenset()) -> list[Needle]:
    """``k`` distinct needles of ``pool`` at random, none labelled as in ``exclude``."""
    candidates = [n for n in pool if n.label not in exclude]
    if len(candidates) < k:
        raise ValueError(f"the needle pool has {len(candidates)} candidates where {k} are needed")
    return [candidates[int(i)] for i in rng.choice(len(candidates), size=k, replace=False)]


def choice_question(text: str, right: str, wrong: Sequence[str], position: int) -> tuple[str, tuple[str, ...], str]:
    """A multiple-choice question with ``right`` at ``position`` among the ``wrong`` options."""
    from mmhay.schema import option_letter

    options = list(wrong)
    options.insert(position, right)
    return text, tuple(options), option_letter(position)
