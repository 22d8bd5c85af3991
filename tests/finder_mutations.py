"""Put a pipeline bug into mmhay's source, once each, and run the needle-finder's calibration test:
each bug must make it fail (tests/test_needle_finder.py's power tests do the same by patching).

    python tests/finder_mutations.py      # about 2 minutes on a 2-core CPU

Each mutation is written into its file, the calibration test runs in a child process, and the file
is put back (also when interrupted). Prints, for each mutation, whether the test failed and its
accuracy line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTATIONS = {
    "each sample asked with the next sample's frames": (
        "mmhay/evaluate.py",
        "    for sample, media in zip(batch, shown):\n        if sample.answer_type.value not in PARSED_TYPES:",
        "    for sample, media in zip(batch, shown[1:] + shown[:1]):\n        if sample.answer_type.value not in PARSED_TYPES:",
    ),
    "every frame given as the last one sampled (the needle's frames lost)": (
        "mmhay/evaluate.py",
        '        shown["frames"], shown["frame_times"] = render_plan(media, plan, each_at_its_scale=getattr(adapter, "takes_frame_sizes", False))',
        '        shown["frames"], shown["frame_times"] = render_plan(media, plan, each_at_its_scale=getattr(adapter, "takes_frame_sizes", False))\n'
        '        shown["frames"] = shown["frames"][-1:].repeat(len(shown["frame_times"]), 0)',
    ),
    "each letter given the next option": (
        "mmhay/prompts.py",
        '    lines += [f"{option_letter(i)}. {option}" for i, option in enumerate(options)]',
        '    lines += [f"{option_letter(i)}. {option}" for i, option in enumerate(list(options[1:]) + list(options[:1]))]',
    ),
}
TEST = "tests/test_needle_finder.py::test_the_finder_finds_needles_it_was_shown_and_guesses_at_the_rest"


def main() -> None:
    survived = []
    for name, (file, old, new) in MUTATIONS.items():
        path = ROOT / file
        original = path.read_text()
        assert original.count(old) == 1, f"the code of {name!r} changed: update this script"
        try:
            path.write_text(original.replace(old, new))
            child = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", TEST], cwd=ROOT, capture_output=True, text=True)
        finally:
            path.write_text(original)
        lines = [line for line in child.stdout.splitlines() if "accuracy given" in line or "AssertionError" in line]
        print(f"## {name}: {'caught' if child.returncode else 'NOT caught'}", flush=True)
        for line in lines[:2]:
            print(f"   {line.strip()[:200]}", flush=True)
        if child.returncode == 0:
            survived.append(name)
    if survived:
        raise SystemExit(f"mutations the calibration test did not catch: {survived}")


if __name__ == "__main__":
    main()
