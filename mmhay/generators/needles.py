"""Needles: what is hidden in a haystack, with the label answers use and the description questions use.

Three kinds: ``image`` (a picture), ``clip`` (a short video) and ``text`` (a caption, or a title
card when inserted as frames). Built-in needles carry attributes (shape, colour) so that similar
distractors and counting by kind have something to go on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mmhay.config import SuiteConfig
from mmhay.errors import ConfigError, MediaError
from mmhay.media.audio import AUDIO_SUFFIXES, AudioInfo, read_audio
from mmhay.media.pictures import load_picture
from mmhay.media.probe import IMAGE_SUFFIXES, VIDEO_SUFFIXES, walk_files
from mmhay.media.procedural import COLORS, SHAPES
from mmhay.timeline import FileRef, GeneratorRef, MediaRef

if TYPE_CHECKING:
    from mmhay.generators.needle_questions import NeedleQuestion

__all__ = ["Needle", "needle_pool", "builtin_needles", "folder_needles", "read_captions", "builtin_sounds", "as_distractor", "similar", "SECRET_WORDS"]

log = logging.getLogger(__name__)

# Concrete, unambiguous nouns for the secret-word needle (the VideoNIAH subtitle needle).
SECRET_WORDS = (
    "anchor apple arrow balloon banana basket bell bicycle blanket bottle bucket butter button "
    "cactus camera candle carpet carrot castle cherry chimney clock cloud coconut compass cookie "
    "crayon crown cucumber curtain diamond dolphin donkey dragon drum eagle envelope feather "
    "fountain garden giraffe glove guitar hammer helmet honey island jacket kettle kite ladder "
    "lantern lemon lighthouse lizard magnet mango marble mirror monkey mountain mushroom necklace "
    "needle ocean orange owl paddle parrot peach pencil penguin piano pillow pineapple pirate "
    "planet pumpkin puzzle rabbit rainbow robot rocket saddle sandal scarf shovel spoon squirrel "
    "statue strawberry sunflower teapot tiger tomato tractor trumpet tulip turtle umbrella "
    "violin volcano wagon walnut whistle window zebra"
).split()


@dataclass(frozen=True)
class Needle:
    """One needle: ``label`` is its short name (the open-ended answer), ``description`` what a
    question or an option calls it. Pictures and clips have a ``ref``; text needles a ``text``.
    ``duration`` is a clip's own length where it is shorter than the needle's display time.
    ``questions`` are the questions a questions file asks about it (``needle.questions``).
    """

    label: str
    description: str
    kind: str
    ref: MediaRef | None = None
    text: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    aspect: float = 1.0  # width / height of the needle's own picture
    duration: Fraction | None = None
    questions: tuple["NeedleQuestion", ...] = ()


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def builtin_needles(kind: str, text: str = "secret_word") -> tuple[Needle, ...]:
    """The built-in needles of ``kind``: 100 coloured shapes (still or gliding), or text needles."""
    if kind == "text":
        if text == "passkey":
            rng = np.random.default_rng(20260101)  # a fixed pool of passkeys, the same everywhere
            keys = [str(int(k)) for k in rng.choice(np.arange(10000, 100000), size=200, replace=False)]
            return tuple(Needle(k, k, "text", text=f"The passkey is {k}.", attributes={"template": "passkey"}) for k in keys)
        return tuple(
            Needle(w, w, "text", text=f'The secret word is "{w}".', attributes={"first letter": w[0]}) for w in SECRET_WORDS
        )
    needles = []
    for shape in SHAPES:
        for color in COLORS:
            params = {"shape": shape, "color": color}
            if kind == "image":
                ref, aspect = GeneratorRef("shape", params), 1.0
            else:
                ref, aspect = GeneratorRef("shape_motion", {**params, "start": [0.25, 0.5], "end": [0.75, 0.5], "duration": "1"}), 16 / 9
            described = f"{_article(color)} {color} {shape}" + (" gliding across the screen" if kind == "clip" else "")
            needles.append(Needle(f"{color} {shape}", described, kind, ref=ref, attributes=params, aspect=aspect))
    return tuple(needles)


def read_captions(path: Path, origin: str) -> dict[str, str]:
    """Captions by file name, from a JSON object or a CSV file with columns ``file`` and ``caption``."""
    import csv
    import json

    if not path.is_file():
        raise ConfigError(origin, "needle.captions", "no such file", str(path))
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                raise ValueError("expected an object mapping file names to captions")
            captions = data
        else:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            if rows and not {"file", "caption"} <= set(rows[0]):
                raise ValueError("expected the columns file and caption")
            captions = {row["file"]: row["caption"] for row in rows}
    except (ValueError, OSError, csv.Error) as error:
        raise ConfigError(origin, "needle.captions", f"unreadable captions: {error}", str(path)) from None
    return {Path(name).name: caption.strip() for name, caption in captions.items()}


# Built-in sound events: (label, description, procedural source, params, attributes)
SOUND_EVENTS = (
    [(f"{f} Hz beep", f"a steady {f} Hz beep", "tone", {"frequency": f}, {"type": "beep"}) for f in (300, 500, 800, 1200, 2000, 3000)]
    + [
        ("rising chirp", "a chirp rising from 300 to 3000 Hz", "chirp", {"start": 300, "stop": 3000}, {"type": "chirp"}),
        ("falling chirp", "a chirp falling from 3000 to 300 Hz", "chirp", {"start": 3000, "stop": 300}, {"type": "chirp"}),
        ("high rising chirp", "a chirp rising from 1500 to 6000 Hz", "chirp", {"start": 1500, "stop": 6000}, {"type": "chirp"}),
        ("high falling chirp", "a chirp falling from 6000 to 1500 Hz", "chirp", {"start": 6000, "stop": 1500}, {"type": "chirp"}),
        ("slow clicking", "slow clicking, three clicks a second", "clicks", {"per_second": 3}, {"type": "clicks"}),
        ("fast clicking", "fast clicking, twelve clicks a second", "clicks", {"per_second": 12}, {"type": "clicks"}),
        ("rattle", "a buzzing rattle of forty clicks a second", "clicks", {"per_second": 40}, {"type": "clicks"}),
    ]
)


def builtin_sounds(which: str) -> tuple[Needle, ...]:
    """Built-in sound needles: synthesized ``events`` (beeps, chirps, clicks), ``dtmf`` keypad passkeys,
    or ``spoken`` passkeys (read aloud by espeak-ng)."""
    if which == "dtmf":
        rng = np.random.default_rng(20260102)  # a fixed pool of passkeys, the same everywhere
        keys = ["".join(str(int(d)) for d in rng.integers(0, 10, 5)) for _ in range(200)]
        params = {"tone": "3/20", "gap": "1/10"}
        return tuple(
            Needle(k, f"the keypad digits {' '.join(k)}", "sound", ref=GeneratorRef("dtmf", {**params, "digits": k}), attributes={"template": "dtmf"}, duration=Fraction(3, 20) * 5 + Fraction(1, 10) * 4)
            for k in dict.fromkeys(keys)
        )
    if which == "spoken":
        return spoken_passkeys()
    return tuple(Needle(label, text, "sound", ref=GeneratorRef(name, params), attributes=attributes) for label, text, name, params, attributes in SOUND_EVENTS)


SPOKEN_PASSKEYS = 40  # each is read aloud once when the pool is made (about 10 ms each)


@lru_cache(maxsize=1)
def spoken_passkeys() -> tuple[Needle, ...]:
    """Five-digit passkeys read aloud by espeak-ng: a fixed pool, the same everywhere (the samples
    as that version of espeak-ng reads them). Call only where ``synthesiser_version()`` is not None."""
    from mmhay.media.speech import spoken_duration, synthesiser_version

    rng = np.random.default_rng(20261204)
    keys = dict.fromkeys("".join(str(int(d)) for d in rng.integers(0, 10, 5)) for _ in range(SPOKEN_PASSKEYS))
    params = {"voice": "en", "speed": 150, "synthesiser": synthesiser_version()}
    needles = []
    for key in keys:
        ref = GeneratorRef("spoken", {**params, "text": " ".join(key)})
        needles.append(Needle(key, f"a voice reading the number {' '.join(key)}", "sound", ref=ref, attributes={"template": "spoken"}, duration=spoken_duration(ref.params)))
    return tuple(needles)


def folder_needles(folder: Path, kind: str, *, strict: bool = False, captions: Mapping[str, str] | None = None) -> tuple[Needle, ...]:
    """Needles from the image (kind image) or video (kind clip) files under ``folder``, recursively.

    Each is described by its caption if ``captions`` has its file name, else by its file name
    (``golden_retriever.jpg`` is "golden retriever"). Unreadable files and descriptions that
    repeat an earlier one are skipped with a warning (an error with ``strict``).
    """
    from mmhay.generators.haystacks import warn_once

    needles, skipped = _read_needles(folder, kind, strict, captions)
    for error in skipped:
        warn_once(f"skipped needle {error}")
    return needles


_NEEDLE_SUFFIXES = {"image": IMAGE_SUFFIXES, "clip": VIDEO_SUFFIXES, "sound": AUDIO_SUFFIXES}


def _read_needles(folder: Path, kind: str, strict: bool, captions: Mapping[str, str] | None) -> tuple[tuple[Needle, ...], list[MediaError]]:
    """``folder_needles``'s needles, and the errors of the files it skipped."""
    needles, seen, skipped = [], set(), []
    for path in walk_files(folder, _NEEDLE_SUFFIXES[kind]):
        description = (captions or {}).get(path.name) or re.sub(r"[\s_\-]+", " ", path.stem).strip()
        try:
            if not description:
                raise MediaError(path, "a needle's file name must describe it")
            if description.lower() in seen:
                raise MediaError(path, f"describes the same needle as an earlier file ({description!r})")
            if kind == "image":
                height, width = load_picture(path).shape[:2]
                needle = Needle(description, description, kind, ref=FileRef.image(path), aspect=width / height)
            elif kind == "sound":
                ref = FileRef.sound(path)
                assert ref.audio is not None
                if _silent(path, ref.audio):
                    raise MediaError(path, "is silent; a sound needle must be heard")
                needle = Needle(description, description, kind, ref=ref, duration=ref.audio.duration)
            else:
                ref = FileRef.video(path)
                assert ref.info is not None
                needle = Needle(description, description, kind, ref=ref, aspect=ref.info.width / ref.info.height, duration=ref.info.duration)
        except MediaError as error:
            if strict:
                raise
            skipped.append(error)
            continue
        seen.add(description.lower())
        needles.append(needle)
    return tuple(needles), skipped


def _silent(path: Path, info: AudioInfo) -> bool:
    """Whether a recording's first minute never rises above -80 dBFS (a sound needle nobody could hear)."""
    samples = read_audio(path, Fraction(0), min(info.duration, Fraction(60)), info.rate, min(info.channels, 2))
    return not np.abs(samples).max(initial=0.0) > 1e-4


def needle_pool(suite: SuiteConfig, kind: str, *, strict: bool = False) -> tuple[Needle, ...]:
    """The needles of ``kind`` a suite draws from."""
    source = suite.needle.source
    if suite.needle.questions and (source == "builtin" or kind not in ("image", "clip")):
        what = "a folder of needles" if source == "builtin" else "pictures or clips (kind image or clip)"
        raise ConfigError(suite.origin, "needle.questions", f"questions are asked about the files of {what}", suite.needle.questions)
    if source == "builtin":
        if kind == "sound" and suite.needle.sound == "spoken":
            from mmhay.media.speech import SYNTHESISER, synthesiser_version

            if synthesiser_version() is None:
                problem = f"spoken passkeys are read aloud by {SYNTHESISER}, which is not on PATH here; install it (apt-get install espeak-ng) or use events or dtmf"
                raise ConfigError(suite.origin, "needle.sound", problem, "spoken")
        return builtin_sounds(suite.needle.sound) if kind == "sound" else builtin_needles(kind, suite.needle.text)
    if kind == "text":
        raise ConfigError(suite.origin, "needle.source", "text needles are built in; use source: builtin", source)
    from mmhay.generators.haystacks import nothing_readable, source_folder, warn_once

    folder = source_folder(suite, "needle.source", source)
    captions = read_captions(suite.resolve(suite.needle.captions), suite.origin) if suite.needle.captions else None
    needles, skipped = _read_needles(folder, kind, strict, captions)
    if not needles:
        raise ConfigError(suite.origin, "needle.source", nothing_readable(f"{kind} needle", _NEEDLE_SUFFIXES[kind], skipped), source)
    for error in skipped:
        warn_once(f"skipped needle {error}")
    if suite.needle.questions:
        from mmhay.generators.needle_questions import attach_questions, read_questions

        questions_file = suite.resolve(suite.needle.questions)
        needles = attach_questions(needles, read_questions(questions_file), questions_file, folder)
    return needles


def as_distractor(needle: Needle) -> Needle:
    """``needle`` as shown when it is a distractor: the same for pictures and clips; for text, a
    caption of the same look that is not the secret (so the question stays answerable)."""
    if needle.kind != "text":
        return needle
    if needle.attributes.get("template") == "passkey":
        return replace(needle, text=f"The room number is {needle.label}.")
    return replace(needle, text=f"Remember to bring the {needle.label}.")


def similar(needle: Needle, candidates: Sequence[Needle]) -> list[Needle]:
    """The candidates that share an attribute value with ``needle`` (most alike first)."""
    shared = [(sum(c.attributes.get(k) == v for k, v in needle.attributes.items()), c) for c in candidates]
    return [c for score, c in sorted(shared, key=lambda item: -item[0]) if score > 0]
