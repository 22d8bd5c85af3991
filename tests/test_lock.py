"""requirements/lock.txt, the versions `make setup` installs: complete, exact, in step with pyproject
and the Makefile's TORCH pair, and (under `make test`) what the venv holds."""

import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
TORCH_BUILD = re.compile(r"torch|torchvision|triton|nvidia-.+|cuda-.+")


def _pins() -> list[tuple[str, str, str]]:
    pins = []
    for line in LOCK.read_text().splitlines():
        if line and line[0] not in "# ":
            requirement, _, marker = line.partition(" ; ")
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!]+)", requirement)
            assert match, f"not an exact pin: {line}"
            if marker:
                Marker(marker)  # one pip could not read fails here
            pins.append((canonicalize_name(match[1]), match[2], marker))
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(line) for line in project["dependencies"] + extras["test"] + extras["decord"] + extras["ray"]]


def test_the_lock_pins_exact_versions_of_every_declared_dependency_within_its_range():
    pins = _pins()
    versions: dict[str, list[str]] = {}
    for name, pinned, _ in pins:
        versions.setdefault(name, []).append(pinned)
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        if TORCH_BUILD.fullmatch(name):
            continue
        assert name in versions, f"{requirement} is not in {LOCK.name}: run `make lock`"
        for pinned in versions[name]:
            assert requirement.specifier.contains(pinned, prereleases=True), f"{name}=={pinned} is outside {requirement}: run `make lock`"


def test_the_lock_leaves_torch_and_its_build_to_the_torch_pair():
    assert [name for name, _, _ in _pins() if TORCH_BUILD.fullmatch(name)] == []
    for must in ("filelock", "sympy", "networkx", "jinja2", "fsspec", "typing-extensions"):
        assert must in {name for name, _, _ in _pins()}, f"torch's shared dependency {must} is pinned too"


def test_the_lock_was_resolved_with_the_makefiles_torch_pair():
    torch = re.search(r"^TORCH \?= (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)[1]
    assert f"TORCH={torch!r}" in LOCK.read_text(), "the Makefile's TORCH changed: run `make lock`"


def test_each_python_and_platform_gets_one_version_of_each_package():
    for python in ("3.10", "3.11", "3.12", "3.13", "3.14"):
        for platform in ("linux", "darwin", "win32"):
            where = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": platform, "platform_machine": "x86_64"}
            chosen = [name for name, _, marker in _pins() if not marker or Marker(marker).evaluate(where)]
            assert len(chosen) == len(set(chosen)), f"two pins of one package for Python {python} on {platform}"


@pytest.mark.skipif(not os.environ.get("MMHAY_LOCKED"), reason="only in `make test`'s venv, which installs from the lock")
def test_the_venv_holds_the_locked_versions():
    """Catches a package installed into .venv after `make setup` checked it."""
    different = []
    for name, pinned, marker in _pins():
        if marker and not Marker(marker).evaluate():
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            different.append(f"{name}: locked {pinned}, installed {installed}")
    assert different == [], "the venv left the lock (remove it and run `make setup`): " + "; ".join(different)
