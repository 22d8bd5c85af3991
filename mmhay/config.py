"""Suite configs: YAML files validated by pydantic, with errors that name the file, the key and the fix.

A config holds values and names from registries, never code. Relative paths in a config are read
relative to the config file's folder.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, PrivateAttr, Strict, ValidationError, model_serializer, model_validator

from mmhay.errors import ConfigError

__all__ = [
    "SuiteConfig",
    "VideoSettings",
    "ImageSettings",
    "AudioSettings",
    "HaystackSettings",
    "NeedleSettings",
    "DistractorSettings",
    "QuestionSettings",
    "GridSettings",
    "PROTOCOLS",
    "load_suite",
    "parse_suite",
]


def _within(low: float, high: float, what: str):
    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"{what} must be within {low:g}..{high:g}")
        return value

    return AfterValidator(check)


def _even_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    if width % 2 or height % 2:
        raise ValueError("width and height must both be even (H.264 needs it)")
    if width < 32 or height < 32:
        raise ValueError("width and height must be at least 32 pixels")
    if width > 8192 or height > 8192:
        raise ValueError("width and height must be at most 8192 pixels")
    return size


def _cell_size(size: tuple[int, int]) -> tuple[int, int]:
    if min(size) < 16 or max(size) > 2048:
        raise ValueError("a cell must be 16 to 2048 pixels on each side")
    return size


def _positive_range(value: tuple[float, float]) -> tuple[float, float]:
    low, high = value
    if not 0 < low <= high:
        raise ValueError("must be [low, high] with 0 < low <= high")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("input should be a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise ValueError("input should be greater than 0")
    if value > MAX_SECONDS:
        raise ValueError(f"input should be less than or equal to {MAX_SECONDS}")
    return float(value)


def _duration(value: Any) -> float | tuple[float, float]:
    """Seconds, or ``[low, high]`` seconds with 0 < low <= high."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError("must be seconds, or [low, high] seconds")
        low, high = _seconds(value[0]), _seconds(value[1])
        if low > high:
            raise ValueError("must be [low, high] with 0 < low <= high")
        return (low, high)
    return _seconds(value)


# Numbers and switches are taken as YAML wrote them: `samples: true`, `fps: 2.5` or `depth: "0.5"`
# is a mistake to name, not a value to coerce. Integers are accepted where a number is wanted.
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]  # not bytes (`!!binary`), not a number

# The longest haystack a suite may ask for: a day. Longer ones are typos (a plan of shots for
# 10^12 seconds fills the memory before anything is rendered).
MAX_SECONDS = 86400

Depth = Annotated[Number, _within(0.0, 1.0, "depth")]
Unit = Annotated[Number, _within(0.0, 1.0, "position")]
Seconds = Annotated[Number, Field(gt=0, le=MAX_SECONDS)]


class _Settings(BaseModel):
    # inf and nan pass the bounds checks of some fields and break the time arithmetic later
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class VideoSettings(_Settings):
    """The videos a suite produces: frame size (width, height) and frame rate."""

    size: Annotated[tuple[Int, Int], AfterValidator(_even_size)] = (384, 216)
    fps: Int = Field(12, ge=1, le=120)


class ImageSettings(_Settings):
    """Image haystacks: the size of one cell (a sub-image) in pixels, and text between images."""

    cell: Annotated[tuple[Int, Int], AfterValidator(_cell_size)] = (256, 256)
    text: Bool = False


class AudioSettings(_Settings):
    """Sound: the sample rate and channel count soundtracks and recordings are made at, and
    ``peak_dbfs``, the level their peak is kept at or under: a recording whose mix would peak
    higher is scaled down whole (bed and sounds together, so every SNR holds)."""

    rate: Int = Field(16000, ge=8000, le=96000)
    channels: Int = Field(1, ge=1, le=2)
    peak_dbfs: Number = Field(-1.0, ge=-30, le=0)


class HaystackSettings(_Settings):
    """Where haystacks come from: ``builtin`` (procedural) or a folder of videos, images or
    recordings (by the generator). ``bed`` is the built-in sound of audio haystacks and
    soundtracks: ``noise`` (pink or brown), ``hum``, ``music`` or ``mixed`` (all three in turns),
    ``white`` (white noise), ``babble`` (many synthesized voices at once), ``silence`` (sounds
    set to an absolute level, docs/metrics.md), or ``none`` (video) and ``source`` (the
    haystack videos' own soundtrack). ``text`` is where the text between images comes from: left
    out, a few fixed lines; ``builtin``, passages of a bundled public-domain book; or a ``.txt`` /
    ``.md`` file or a folder of them (mmhay/generators/filler.py)."""

    source: Str = "builtin"
    shot_seconds: Annotated[tuple[Number, Number], AfterValidator(_positive_range)] = (4.0, 10.0)
    bed: Literal["none", "noise", "hum", "music", "mixed", "source", "silence", "white", "babble"] = "none"
    text: Optional[Str] = None


Kind = Literal["image", "clip", "text", "sound"]
Insertion = Literal["insert", "replace", "overlay"]
Form = Literal["choice", "open"]
Scale = Annotated[Number, _within(0.01, 1.0, "scale")]


class NeedleSettings(_Settings):
    """What the needles are, where they come from, and how they are put into the haystack.

    ``kind``: ``image`` (a picture), ``clip`` (a short video), ``text`` (a caption or card) or
    ``sound`` (in a recording, or in a video's soundtrack; ``sound`` picks the built-in
    ``events``, ``dtmf`` keypad digits or ``spoken`` passkeys read aloud by espeak-ng where it is
    installed, and ``snr_db`` its level over the bed).
    ``source``: ``builtin``, or a folder of images (kind image) or videos (kind clip).
    ``captions``: a JSON object or a CSV file (columns ``file``, ``caption``) describing the
    folder's needles, by file name; without it a file's name describes it.
    ``questions``: a JSON or CSV file of questions about the folder's needles (rows ``file``,
    ``question``, ``answer``, optional ``options``), asked by the ``needle_qa`` task.
    ``text``: the built-in text needles, ``secret_word`` or ``passkey``.
    ``insertion``: ``insert`` adds the needle's frames, ``replace`` overwrites haystack frames,
    ``overlay`` composites it into a box of the haystack frames (mixes a sound in at its SNR;
    ``insert`` puts a sound between the bed's samples, clean, so the recording gets longer);
    or a mapping of kind to insertion (``{image: insert, text: overlay}``) for suites that mix
    kinds. Left out, pictures, clips and text are inserted and sounds mixed in.
    ``duration``: seconds each needle shows, or ``[low, high]``: a duration drawn for each needle
    between the two (TimeScope's 5 to 10 s clips); a clip shows no longer than itself.
    ``scale``: an overlay's width as a fraction of the frame's; ``position``: its centre as
    fractions of the frame, or ``random``.
    """

    kind: Kind = "image"
    source: Str = "builtin"
    captions: Optional[Str] = None
    questions: Optional[Str] = None
    text: Literal["secret_word", "passkey"] = "secret_word"
    sound: Literal["events", "dtmf", "spoken"] = "events"
    snr_db: Number = Field(0.0, ge=-30, le=30)
    insertion: Union[Insertion, dict[Kind, Insertion]] = "insert"
    duration: Annotated[Any, PlainValidator(_duration)] = 1.0  # seconds, or (low, high) seconds
    scale: Scale = 0.3
    position: Union[Literal["random"], tuple[Unit, Unit]] = "random"


class DistractorSettings(_Settings):
    """Distractors: needles of the same kind with other content, which the question is not about.

    ``placement``: ``random`` times, ``periodic`` (evenly spaced), or ``offset``: one look-alike
    ``offset`` haystack frames (at the video's rate) before or after the needle, on the side that
    fits, either when both do (V-NIAH-D's, VideoRoPE's ``cycle = 200``); none where neither does.
    ``similarity``: ``similar`` (sharing a shape or colour with the needle) or ``random``.
    """

    placement: Literal["random", "periodic", "offset"] = "random"
    similarity: Literal["similar", "random"] = "similar"
    offset: Int = Field(200, ge=1)


class QuestionSettings(_Settings):
    """How questions are asked: multiple ``choice`` with ``options`` options, or ``open``-ended.
    ``option_media: image`` makes the options of a question about a picture pictures (MM-NIAH's
    ``choices_image_path``; the document generator's retrieval_image), not words."""

    form: Form = "choice"
    options: Int = Field(4, ge=2, le=26)
    option_media: Literal["text", "image"] = "text"


class GridSettings(_Settings):
    """The facet axes: every combination is covered evenly over the suite's samples.

    ``length`` is in seconds, or ``length_frames`` in frames at the video's rate (one of the two).
    ``depth`` places the needle a question is about (0 at the start, 1 at the end of the
    haystack); without it needles go to random places. ``needles`` is the needle count of
    multi-needle tasks (ordering: how many to order; counting: how often the needle appears;
    motion_count: how many motions its clip makes); without it each task uses its default. A count
    of 0 (the asked needle never shows, or no motion) is for the tasks that count (registered with
    ``zero``) only. ``task``, ``kind``, ``insertion``, ``form``, ``needle_duration`` and
    ``needle_scale`` override the single values set elsewhere in the config, one per cell. Image
    suites add ``images`` (images per sample) and ``grid_size`` (N of the N x N grid each image is
    stitched from). ``bed`` overrides ``haystack.bed``, one per cell (DASS's silence, white noise
    and babble in one suite).
    """

    length: Optional[list[Seconds]] = Field(None, min_length=1)
    length_frames: Optional[list[Annotated[Int, Field(ge=1, le=MAX_SECONDS * 120)]]] = Field(None, min_length=1)
    depth: Optional[list[Depth]] = Field(None, min_length=1)
    needles: Optional[list[Annotated[Int, Field(ge=0, le=50)]]] = Field(None, min_length=1)
    distractors: list[Annotated[Int, Field(ge=0, le=100)]] = Field(default_factory=lambda: [0], min_length=1)
    needle_duration: Optional[list[Seconds]] = Field(None, min_length=1)
    needle_scale: Optional[list[Scale]] = Field(None, min_length=1)
    snr: Optional[list[Annotated[Number, Field(ge=-30, le=30)]]] = Field(None, min_length=1)
    task: Optional[list[Str]] = Field(None, min_length=1)
    images: Optional[list[Annotated[Int, Field(ge=1, le=64)]]] = Field(None, min_length=1)
    grid_size: Optional[list[Annotated[Int, Field(ge=1, le=16)]]] = Field(None, min_length=1)
    kind: Optional[list[Kind]] = Field(None, min_length=1)
    insertion: Optional[list[Insertion]] = Field(None, min_length=1)
    form: Optional[list[Form]] = Field(None, min_length=1)
    bed: Optional[list[Literal["noise", "hum", "music", "mixed", "silence", "white", "babble"]]] = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_length(self) -> "GridSettings":
        if self.length is not None and self.length_frames is not None:
            raise ValueError("give length (seconds) or length_frames, not both")
        return self

    def axes(self) -> dict[str, list]:
        """The axes of the grid, in the order cells vary (the last fastest), with their values."""
        length = {"length_frames": self.length_frames} if self.length_frames is not None else {"length": self.length or [30.0]}
        ordered = {
            "task": self.task,
            "images": self.images,
            "grid_size": self.grid_size,
            "kind": self.kind,
            "insertion": self.insertion,
            "form": self.form,
            **length,
            "depth": self.depth,
            "needles": self.needles,
            "distractors": self.distractors,
            "needle_duration": self.needle_duration,
            "needle_scale": self.needle_scale,
            "snr": self.snr,
            "bed": self.bed,
        }
        return {name: values for name, values in ordered.items() if values is not None}


# The published suites whose headline number a suite can report beside mmhay's own
# (``protocol:``, mmhay/scoring/headline.py); which suite's own code computes it, in docs/metrics.md.
PROTOCOLS = ("vnbench", "vniah", "vniah_d", "timescope", "mlvu_needle")

# (section, key) of the settings added after suites were first keyed (see SuiteConfig.key)
_LATER_SETTINGS = (("audio", "peak_dbfs"), ("distractors", "offset"), ("needle", "questions"), ("haystack", "text"), ("grid", "bed"), ("question", "option_media"))


class SuiteConfig(_Settings):
    """A suite: what to generate, from which sources, over which facet grid.

    ``protocol`` names the published suite this one is shaped like, whose headline number
    ``mmhay eval`` adds to metrics.json as that suite's own code computes it; it changes no
    sample (it is not in ``key()``) and is left out of the dump when unset.

    ``prompts`` maps a task name or an answer type to the template its samples are asked
    through (``mmhay.prompts``); the prompt is built when a sample is asked, so it is not in
    ``key()`` either (the run's identity records it), and it is left out of the dump when unset.
    """

    name: Str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    description: Str = ""
    protocol: Optional[Literal[PROTOCOLS]] = None
    seed: Int = Field(0, ge=0)
    samples: Int = Field(100, ge=1)
    generator: Str = "video"
    task: Str = "retrieval"
    video: VideoSettings = VideoSettings()
    image: ImageSettings = ImageSettings()
    audio: AudioSettings = AudioSettings()
    haystack: HaystackSettings = HaystackSettings()
    needle: NeedleSettings = NeedleSettings()
    distractors: DistractorSettings = DistractorSettings()
    question: QuestionSettings = QuestionSettings()
    grid: GridSettings = GridSettings()
    prompts: Optional[dict[Str, Str]] = None

    _origin: str = PrivateAttr(default="<config>")
    _folder: Path | None = PrivateAttr(default=None)

    @property
    def origin(self) -> str:
        """Where the config came from (a file path), for error messages."""
        return self._origin

    def resolve(self, value: str) -> Path:
        """A path written in the config, relative to the config file's folder."""
        path = Path(value).expanduser()
        if not path.is_absolute() and self._folder is not None:
            path = self._folder / path
        return path

    def key(self) -> str:
        """Hex digest of everything that decides what a sample contains (not name, seed or count).

        Settings added after suites were first keyed count only when set off their default, so
        adding one leaves the key, and every sample, of every existing suite as it was.
        """
        content = self.model_dump(mode="json", exclude={"name", "description", "protocol", "prompts", "samples", "seed"})
        for section, name in _LATER_SETTINGS:
            if content[section][name] == type(getattr(self, section)).model_fields[name].default:
                del content[section][name]
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    @model_serializer(mode="wrap")
    def _without_unset_protocol(self, handler) -> dict:
        # suites without a protocol dump (into manifests and dataset cards) as they did before it
        content = handler(self)
        if self.protocol is None:
            content.pop("protocol", None)
        if self.prompts is None:
            content.pop("prompts", None)
        return content

    def with_seed(self, seed: int) -> "SuiteConfig":
        return self._carry(self.model_copy(update={"seed": seed}))

    def _carry(self, other: "SuiteConfig") -> "SuiteConfig":
        other._origin, other._folder = self._origin, self._folder
        return other


def load_suite(path: str | Path) -> SuiteConfig:
    """Read and validate a suite config file; a ``ConfigError`` naming the file and key on any problem."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "", "no such config file" if not path.exists() else "not a file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(path, where, f"invalid YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, "", f"cannot read: {error}") from None
    return parse_suite(data, origin=str(path), folder=path.resolve().parent)


def parse_suite(data: Any, *, origin: str = "<config>", folder: Path | None = None) -> SuiteConfig:
    """Validate config data (as loaded from YAML)."""
    if not isinstance(data, dict):
        raise ConfigError(origin, "", f"must be a mapping of keys to values, not {type(data).__name__}")
    try:
        suite = SuiteConfig.model_validate(data)
    except ValidationError as error:
        raise _config_error(origin, error) from None
    suite._origin, suite._folder = origin, folder
    from mmhay.registry import registry

    registry("generator").get(suite.generator, source=origin, key="generator")
    registry("task").get(suite.task, source=origin, key="task")
    for k, task in enumerate(suite.grid.task or []):
        registry("task").get(task, source=origin, key=f"grid.task[{k}]")
    _check_zero_counts(suite, origin)
    _check_prompts(suite, origin)
    _check_needles_fit(suite, origin)
    _check_option_media(suite, origin)
    if suite.protocol in ("vniah", "vniah_d") and suite.grid.depth is None:
        raise ConfigError(origin, "protocol", f"{suite.protocol} reports the mean over depth x length cells: the suite needs grid.depth", suite.protocol)
    return suite


def _check_zero_counts(suite: SuiteConfig, origin: str) -> None:
    """Refuse a needle count of 0 unless every task of the suite counts (0 = the needle never shows)."""
    from mmhay.registry import registry

    zeros = [k for k, count in enumerate(suite.grid.needles or []) if count == 0]
    if not zeros:
        return
    tasks = registry("task")
    for name in suite.grid.task or [suite.task]:
        if not tasks.get(name).meta.get("zero"):
            counting = ", ".join(sorted(n for n, entry in tasks.entries.items() if entry.meta.get("zero")))
            raise ConfigError(
                origin,
                f"grid.needles[{zeros[0]}]",
                f"a count of 0 is asked by the counting tasks only ({counting}); {name} shows at least one needle",
                0,
            )


def _check_option_media(suite: SuiteConfig, origin: str) -> None:
    """Refuse picture options where no question has them: retrieval_image, asked as a choice."""
    if suite.question.option_media != "image":
        return
    if "retrieval_image" not in (suite.grid.task or [suite.task]):
        raise ConfigError(origin, "question.option_media", "pictures as options are built for retrieval_image (generator: document) only; no task of the suite is", "image")
    if suite.question.form != "choice":
        raise ConfigError(origin, "question.option_media", "pictures as options need question.form: choice", "image")


def _check_prompts(suite: SuiteConfig, origin: str) -> None:
    """Refuse a prompt template for no task or answer type, or one that cannot be filled."""
    from mmhay.prompts import template_problem
    from mmhay.registry import registry
    from mmhay.schema import AnswerType

    tasks, types = registry("task").names(), [kind.value for kind in AnswerType]
    for name, template in (suite.prompts or {}).items():
        if name not in tasks and name not in types:
            raise ConfigError(origin, f"prompts.{name}", f"is neither a task nor an answer type; answer types: {', '.join(types)}; tasks: {', '.join(tasks)}")
        problem = template_problem(template)
        if problem:
            raise ConfigError(origin, f"prompts.{name}", problem, template)


def _check_needles_fit(suite: SuiteConfig, origin: str) -> None:
    """Refuse a needle longer than a haystack: every needle duration meets every length in the grid."""
    grid = suite.grid
    if grid.length_frames is not None:
        lengths = [(f"grid.length_frames[{k}]", frames / suite.video.fps) for k, frames in enumerate(grid.length_frames)]
    elif grid.length is not None:
        lengths = [(f"grid.length[{k}]", length) for k, length in enumerate(grid.length)]
    else:
        lengths = [("grid.length", grid.axes()["length"][0])]
    if grid.needle_duration is not None:
        durations = [(f"grid.needle_duration[{k}]", duration) for k, duration in enumerate(grid.needle_duration)]
    else:
        longest_needle = max(suite.needle.duration) if isinstance(suite.needle.duration, tuple) else suite.needle.duration
        durations = [("needle.duration", longest_needle)]
    key, longest = max(durations, key=lambda pair: pair[1])
    where, shortest = min(lengths, key=lambda pair: pair[1])
    if longest > shortest:
        raise ConfigError(origin, key, f"a needle of {longest:g} s is longer than the {shortest:g} s haystack of {where}", longest)


def _config_error(origin: str, error: ValidationError) -> ConfigError:
    first = error.errors()[0]
    loc = first["loc"]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    kind, message = first["type"], first["msg"]
    value = first.get("input", ...)
    if isinstance(value, dict):  # a whole section, from a check across its keys: the message says which
        value = ...
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        message = f"unknown key; expected one of: {', '.join(allowed)}" if allowed else "unknown key"
        value = ...
    elif kind == "missing":
        message, value = "missing required key", ...
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    else:
        message = message[0].lower() + message[1:]
    more = len(error.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(origin, key or "(top level)", message, value)


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = SuiteConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return []
        model = field.annotation
    return sorted(model.model_fields)
