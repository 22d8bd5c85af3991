"""The software a build or a run was made with, as ``manifest.json`` and ``run.json`` record it.

Every distribution installed for this interpreter is listed with its version, under its normalized
name (PEP 503, as ``requirements/lock.txt`` spells it): in the venv of ``make setup`` that is the
lock's set, plus torch's build and mmhay, so a reader can tell which locked environment (and which
torch) produced a file by comparing the two. The record depends only on the environment, so builds
made in one environment keep giving the same bytes.
"""

from __future__ import annotations

import os
import platform
import re
import site
import sys

__all__ = ["software", "first_difference", "OUTPUT_SOFTWARE"]

# What changes a build's bytes or a model's answers: a resumed run must have these as it had them.
# Anything else (a tool installed beside mmhay) may differ; the run keeps its first record.
OUTPUT_SOFTWARE = (
    "mmhay", "torch", "torchvision", "transformers", "tokenizers", "accelerate", "numpy", "scipy", "av",
    "pillow", "opencv-python-headless", "scikit-image", "datasets", "triton",
)


def software() -> dict:
    """Python, the platform, the FFmpeg that PyAV bundles, and every installed distribution."""
    import av

    libavcodec = av.library_versions.get("libavcodec", ())
    return {
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "libavcodec": ".".join(str(v) for v in libavcodec),
        "distributions": _distributions(),
    }


def _distributions() -> dict[str, str]:
    from importlib.metadata import distributions

    found: dict[str, str] = {}
    for distribution in distributions(path=_install_paths()):
        name = distribution.metadata["Name"]
        if name:  # the first in path order is the one imported
            found.setdefault(re.sub(r"[-_.]+", "-", name).lower(), distribution.version)
    return dict(sorted(found.items()))


def _install_paths() -> list[str]:
    """Where this interpreter finds installed distributions, in sys.path's order: PYTHONPATH, the
    user's site-packages, site-packages. Not sys.path itself, which changes as a process runs (ray
    appends its vendored packages when imported) and holds the working directory under ``-m``."""
    paths = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    if site.ENABLE_USER_SITE:
        paths.append(site.getusersitepackages())
    paths.extend(getattr(site, "getsitepackages", lambda: [])())
    return [path for path in dict.fromkeys(os.path.abspath(p) for p in paths) if os.path.isdir(path)]


def first_difference(recorded: dict | None, current: dict, names: tuple[str, ...] | None = None) -> str:
    """The first way ``current`` differs from ``recorded`` (both from :func:`software`), in words,
    or "" where they agree; ``names`` limits the distributions compared (all of them if None)."""
    if not recorded:
        return "none recorded there"
    for key in ("python", "platform", "libavcodec"):
        if recorded.get(key) != current.get(key):
            return f"{key} {recorded.get(key)} there, {current.get(key)} here"
    there, here = recorded.get("distributions", {}), current.get("distributions", {})
    for name in sorted(set(there) | set(here) if names is None else names):
        if there.get(name) != here.get(name):
            return f"{name} {there.get(name, 'not installed')} there, {here.get(name, 'not installed')} here"
    return ""
