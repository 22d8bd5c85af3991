"""Specs of registered things with options, as the command line writes them: ``name:key=value,...``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from mmhay.errors import ConfigError

__all__ = ["parse_spec", "bind_options"]


def parse_spec(spec: str, flag: str) -> tuple[str, dict[str, str]]:
    """``"fps:rate=1,multiple_of=2"`` -> ``("fps", {"rate": "1", "multiple_of": "2"})``. A value
    runs to the next ``,key=``, so it may hold ``:`` and commas (``scorer=clip:/models/siglip``)."""
    name, _, rest = spec.strip().partition(":")
    options: dict[str, str] = {}
    for item in filter(None, (piece.strip() for piece in _split_options(rest))):
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not key:
            raise ConfigError(flag, key, f"expected key=value in {spec!r}")
        if key in options:
            raise ConfigError(flag, key, "given twice", value)
        options[key] = value
    if not name.strip():
        raise ConfigError(flag, "", "names nothing", spec)
    return name.strip(), options


def _split_options(text: str) -> list[str]:
    pieces: list[str] = []
    for piece in text.split(","):
        if pieces and "=" not in piece:
            pieces[-1] += "," + piece
        else:
            pieces.append(piece)
    return pieces


def bind_options(function: Callable, options: dict[str, str], flag: str, *, skip: int) -> dict[str, Any]:
    """``options`` as keyword arguments of ``function``, each converted to the type of its default
    (a default of None stands for an optional int); the first ``skip`` parameters are its inputs,
    and keyword-only ones are for its callers, not for specs. Whether a value is in range is for
    the function to check."""
    parameters = [p for p in list(inspect.signature(function).parameters.values())[skip:] if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    bound: dict[str, Any] = {}
    for key, text in options.items():
        if key not in defaults:
            raise ConfigError(flag, key, f"unknown option of {function.__name__}; known: {', '.join(defaults) or 'none'}", text)
        bound[key] = _convert(text, defaults[key], flag, key)
    return bound


def _convert(text: str, default: Any, flag: str, key: str) -> Any:
    if isinstance(default, bool):  # before int: a bool is an int
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(flag, key, "expected true or false", text)
    kind = int if default is None else type(default)
    try:
        return kind(text)
    except ValueError:
        expected = {int: "an integer", float: "a number"}.get(kind, kind.__name__)
        raise ConfigError(flag, key, f"expected {expected}", text) from None
