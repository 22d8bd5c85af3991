"""Registries of named extension points, filled by decorators next to the definitions.

Built-in entries register when their module is imported; third-party packages register through
the entry-point group ``mmhay.plugins`` (each entry point names a module to import).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, TypeVar

from mmhay.errors import ConfigError

__all__ = ["Registry", "Entry", "registry", "registries", "load_plugins"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# The modules whose import fills each registry with its built-in entries.
_BUILTIN_MODULES = {
    "generator": ["mmhay.generators.timed", "mmhay.generators.image_grid", "mmhay.generators.multi_image", "mmhay.generators.document"],
    "task": [
        "mmhay.generators.tasks.retrieval",
        "mmhay.generators.tasks.ordering",
        "mmhay.generators.tasks.counting",
        "mmhay.generators.tasks.instances",
        "mmhay.generators.tasks.negative",
        "mmhay.generators.tasks.localization",
        "mmhay.generators.tasks.locate",
        "mmhay.generators.tasks.cross_modal",
        "mmhay.generators.tasks.multihop",
        "mmhay.generators.tasks.needle_qa",
        "mmhay.generators.tasks.recall",
        "mmhay.generators.tasks.motion",
        "mmhay.generators.tasks.document",
    ],
    "procedural": ["mmhay.media.procedural", "mmhay.media.sounds", "mmhay.media.motion", "mmhay.media.babble", "mmhay.media.speech"],
    "sampler": ["mmhay.sampling", "mmhay.query_sampling", "mmhay.adapters.model_sampling"],
    "scorer": ["mmhay.relevance"],
    "adapter": ["mmhay.adapters.baselines", "mmhay.adapters.hf", "mmhay.adapters.api"],
    "decoder": ["mmhay.media.decode"],
    "compressor": ["mmhay.compression", "mmhay.token_merging", "mmhay.token_selection", "mmhay.adapters.fastv"],
}


@dataclass(frozen=True)
class Entry:
    """One registered object: its name, the object and the first line of its docstring."""

    name: str
    obj: Any
    doc: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Registry:
    """Names to objects for one extension point (samplers, adapters, ...)."""

    kind: str
    entries: dict[str, Entry] = field(default_factory=dict)

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self.entries and self.entries[name].obj is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
            self.entries[name] = Entry(name, obj, doc[0] if doc else "", dict(meta))
            return obj

        return decorate

    def get(self, name: str, *, source: str = "", key: str = "") -> Entry:
        """The entry called ``name``; a ConfigError naming the known ones if there is none."""
        _load_builtins(self.kind)
        if name not in self.entries:
            load_plugins()
        if name not in self.entries:
            known = ", ".join(sorted(self.entries)) or "none"
            raise ConfigError(source or self.kind, key, f"unknown {self.kind}; known: {known}", name)
        return self.entries[name]

    def names(self) -> list[str]:
        _load_builtins(self.kind)
        load_plugins()
        return sorted(self.entries)


_REGISTRIES: dict[str, Registry] = {}
_plugins_loaded = False


def registry(kind: str) -> Registry:
    """The one registry of ``kind`` (created on first use)."""
    if kind not in _REGISTRIES:
        _REGISTRIES[kind] = Registry(kind)
    return _REGISTRIES[kind]


def registries() -> dict[str, Registry]:
    """Every extension point with its built-in entries loaded, by kind."""
    for kind in _BUILTIN_MODULES:
        _load_builtins(kind)
    load_plugins()
    return {kind: registry(kind) for kind in sorted(_BUILTIN_MODULES)}


def _load_builtins(kind: str) -> None:
    for module in _BUILTIN_MODULES.get(kind, []):
        importlib.import_module(module)


def load_plugins() -> None:
    """Import every module named in the ``mmhay.plugins`` entry-point group, once."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for point in entry_points(group="mmhay.plugins"):
        try:
            point.load()
        except Exception as error:  # a broken plugin must not take the built-ins down with it
            log.warning("plugin %s could not be loaded: %s", point.name, error)
