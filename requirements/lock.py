"""The locked environment of `make demo` and `make test`: write the lock with uv, check a venv against it.

    python requirements/lock.py compile --uv UV --torch "torch==2.14.1 torchvision==0.29.1" --out requirements/lock.txt
    python requirements/lock.py check requirements/lock.txt   # every difference, then exit 1 if any
    python requirements/lock.py diff requirements/lock.txt    # the same list, exit 0 (make test-latest)

The lock pins every package that pyproject's dependencies and its `test` extra pull in, resolved
together with the TORCH pair for every Python from 3.10 on and every platform (a marker picks the
line where versions differ). It leaves out torch, torchvision and the build-specific packages that
each torch build pins for itself (triton, nvidia-*, cuda-*), so that any TORCH pair can be
installed with it in one pip call. `compile` needs only the standard library and uv; `check` runs
in the venv it checks and needs `packaging`, which the lock pins.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

TORCH_BUILD = re.compile(r"(torch|torchvision|triton|nvidia-.+|cuda-.+)")
"""Packages each torch build brings at versions of its own: never in the lock."""

UNLOCKED = {"mmhay", "pip"}
"""Installed in the venv without the lock naming them: the project itself and the installer."""

OLDEST_PYTHON = "3.10"


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> list[tuple[str, str, str]]:
    """The lock's pins as (name, version, marker); the marker is "" where the pin holds everywhere."""
    pins = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line[0] in "# \t":
            continue
        requirement, _, marker = line.partition(";")
        name, equals, version = requirement.strip().partition("==")
        if not equals or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or not re.fullmatch(r"[A-Za-z0-9.+!_-]+", version):
            raise SystemExit(f"{path}: not an exact pin: {line}")
        pins.append((normalize(name), version, marker.strip()))
    return pins


_VALUED_OPTIONS = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links"}


def _torch_requirements(torch: str) -> list[str]:
    """The TORCH setting as requirement-file lines, an index option with its value on its line."""
    lines: list[str] = []
    for word in torch.split():
        if lines and lines[-1] in _VALUED_OPTIONS:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def _drop_torch_build(text: str) -> str:
    """The lock without the torch build's packages, each pin taken with its `# via` lines."""
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        if line and line[0] not in "# \t\n":
            name = re.split(r"[=;\s\[]", line, maxsplit=1)[0]
            dropping = TORCH_BUILD.fullmatch(normalize(name)) is not None
        elif not line.startswith("    "):
            dropping = False
        if not dropping:
            kept.append(line)
    return "".join(kept)


def compile_lock(uv: str, torch: str, out: Path) -> None:
    """Resolve pyproject's dependencies and `test` extra with the TORCH pair into ``out``."""
    with tempfile.TemporaryDirectory() as folder:
        pair = Path(folder) / "torch-pair.txt"
        pair.write_text("\n".join(_torch_requirements(torch)) + "\n")
        raw = Path(folder) / "lock.txt"
        command = [uv, "pip", "compile", "pyproject.toml", str(pair), "--extra", "test", "--universal",
                   "--python-version", OLDEST_PYTHON, "--custom-compile-command", "make lock", "--quiet", "-o", str(raw)]
        subprocess.run(command, check=True)
        text = raw.read_text(encoding="utf-8")
    header = (
        f"# Resolved together with TORCH={torch!r} for Python {OLDEST_PYTHON}+ on every platform.\n"
        "# Not pinned here: torch, torchvision and the packages each torch build pins itself\n"
        "# (triton, nvidia-*, cuda-*); `make setup` installs TORCH and this file in one pip call.\n"
    )
    out.write_text(header + _drop_torch_build(text), encoding="utf-8")


def differences(path: Path) -> tuple[list[str], list[str]]:
    """What the running environment has other than the lock: (mismatches, unlocked extras)."""
    from importlib.metadata import distributions

    from packaging.markers import Marker

    installed: dict[str, str] = {}
    for distribution in distributions():
        name = distribution.metadata["Name"]
        if name:
            installed.setdefault(normalize(name), distribution.version)
    mismatches, named = [], set()
    for name, version, marker in read_lock(path):
        named.add(name)
        if marker and not Marker(marker).evaluate():
            continue
        if name not in installed:
            mismatches.append(f"{name}: locked {version}, not installed")
        elif installed[name] != version:
            mismatches.append(f"{name}: locked {version}, installed {installed[name]}")
    extras = [
        f"{name} {version}"
        for name, version in sorted(installed.items())
        if name not in named and name not in UNLOCKED and not TORCH_BUILD.fullmatch(name)
    ]
    return mismatches, extras


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("compile", help="write the lock with uv")
    write.add_argument("--uv", required=True, help="the uv executable")
    write.add_argument("--torch", required=True, help="the TORCH pair to resolve against (not pinned)")
    write.add_argument("--out", type=Path, required=True)
    for command in ("check", "diff"):
        commands.add_parser(command, help=f"{command} the running environment against the lock").add_argument("lock", type=Path)
    args = parser.parse_args(argv)
    if args.command == "compile":
        compile_lock(args.uv, args.torch, args.out)
        print(f"{args.out}: {len(read_lock(args.out))} pins of {len({name for name, _, _ in read_lock(args.out)})} packages")
        return 0
    mismatches, extras = differences(args.lock)
    where = sys.prefix
    for line in mismatches:
        print(f"{where}: {line}")
    if extras:
        print(f"{where}: installed but not in {args.lock}: {', '.join(extras)}")
    if args.command == "check":
        if mismatches:
            print(f"{where} is not the environment {args.lock} locks: {len(mismatches)} package(s) differ "
                  f"(for make's .venv: remove it and run `make setup` again)", file=sys.stderr)
            return 1
        print(f"{where}: every package {args.lock} names for this Python and platform is at its locked version")
    elif not mismatches:
        print(f"{where}: the same versions as {args.lock}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
