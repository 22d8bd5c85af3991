"""Suite configs: YAML files validated by pydantic, with errors that name the file, the key and the fix.

A config holds values and names from registries, never code. Relative paths in a config are read
relative to the config file's folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from mmhay.errors import ConfigError

__all__ = [
    "SuiteConfig",
    "VideoSettings",
    "HaystackSettings",
    "NeedleSettings",
    "QuestionSettings",
    "GridSettings",
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
    return size


def _positive_range(value: tuple[float, float]) -> tuple[float, float]:
    low, high = value
    if not 0 < low <= high:
        raise ValueError("must be [low, high] with 0 < low <= high")
    return value


Depth = Annotated[float, _within(0.0, 1.0, "depth")]
Seconds = Annotated[float, Field(gt=0)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VideoSettings(_Settings):
    """The videos a suite produces: frame size (width, height) and frame rate."""

    size: Annotated[tuple[int, int], AfterValidator(_even_size)] = (384, 216)
    fps: int = Field(12, ge=1, le=120)


class HaystackSettings(_Settings):
    """Where haystack video comes from: ``builtin`` (procedural) or a folder of videos."""

    source: str = "builtin"
    shot_seconds: Annotated[tuple[float, float], AfterValidator(_positive_range)] = (4.0, 10.0)


class NeedleSettings(_Settings):
    """Where needle pictures come from (``builtin`` or a folder of images) and how long each shows."""

    source: str = "builtin"
    duration: Seconds = 1.0


class QuestionSettings(_Settings):
    """How questions are asked: the number of options of a multiple-choice question."""

    options: int = Field(4, ge=2, le=26)


class GridSettings(_Settings):
    """The facet axes: every combination is covered evenly over the suite's samples."""

    length: list[Seconds] = Field(default_factory=lambda: [30.0], min_length=1)
    depth: list[Depth] = Field(default_factory=lambda: [0.5], min_length=1)


class SuiteConfig(_Settings):
    """A suite: what to generate, from which sources, over which facet grid."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    description: str = ""
    seed: int = Field(0, ge=0)
    samples: int = Field(100, ge=1)
    generator: str = "video"
    task: str = "retrieval"
    video: VideoSettings = VideoSettings()
    haystack: HaystackSettings = HaystackSettings()
    needle: NeedleSettings = NeedleSettings()
    question: QuestionSettings = QuestionSettings()
    grid: GridSettings = GridSettings()

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
        """Hex digest of everything that decides what a sample contains (not name, seed or count)."""
        content = self.model_dump(mode="json", exclude={"name", "description", "samples", "seed"})
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

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
    return suite


def _config_error(origin: str, error: ValidationError) -> ConfigError:
    first = error.errors()[0]
    loc = first["loc"]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    kind, message = first["type"], first["msg"]
    value = first.get("input", ...)
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
