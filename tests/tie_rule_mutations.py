"""Break each tie rule of mmhay/kernels/tome.py once and run the ToMe checks: each break must fail some.

    python tests/tie_rule_mutations.py                  # through Triton's interpreter (about 4 min here)
    PYTHONPATH=. python tests/tie_rule_mutations.py --device cuda   # compiled, on a GPU

Each mutation is written into the kernel file, the checks of tests/test_kernels.py run in a child
process, and the file is put back (also when interrupted). Prints, for each mutation, the checks
that failed and their last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL = ROOT / "mmhay/kernels/tome.py"
MUTATIONS = {
    "pointer kernel: >= across tiles": ("        better = tile_top > top\n", "        better = tile_top >= top\n"),
    "descriptor kernel: >= across tiles": ("    better = tile_top > top  # strictly", "    better = tile_top >= top  # strictly"),
    "pointer kernel: the last index on ties within a tile": (
        "        tile_arg = tl.argmax(score, axis=1, tie_break_left=True) + j0\n        # strictly",
        "        tile_arg = BLOCK_B - 1 - tl.argmax(tl.flip(score, 1), axis=1, tie_break_left=True) + j0\n        # strictly",
    ),
    "descriptor kernel: the last index on ties within a tile": (
        "    tile_arg = tl.argmax(score, axis=1, tie_break_left=True) + j0\n    better",
        "    tile_arg = ROWS - 1 - tl.argmax(tl.flip(score, 1), axis=1, tie_break_left=True) + j0\n    better",
    ),
    "plan: the later A token first on tied scores": ("(monotone << 16) | (65535 - i)", "(monotone << 16) | i"),
}


def main() -> None:
    device = sys.argv[1:]
    env = dict(os.environ) if device else {**os.environ, "TRITON_INTERPRET": "1"}
    original = KERNEL.read_text()
    survived = []
    try:
        for name, (old, new) in MUTATIONS.items():
            assert original.count(old) == 1, f"the code of {name!r} changed: update this script"
            KERNEL.write_text(original.replace(old, new))
            child = subprocess.run(
                [sys.executable, str(ROOT / "tests/test_kernels.py"), *device, "tome", "both", "merge"],
                env=env, cwd=ROOT, capture_output=True, text=True,
            )
            results = json.loads(child.stdout.strip().splitlines()[-1])
            failed = {label: trace.strip().splitlines()[-1] for label, trace in results.items() if trace is not None}
            print(f"## {name}: {len(failed)} of {len(results)} checks fail", flush=True)
            for label, line in failed.items():
                print(f"   {label}: {line[:200]}", flush=True)
            if not failed:
                survived.append(name)
    finally:
        KERNEL.write_text(original)
    if survived:
        raise SystemExit(f"mutations no check caught: {survived}")


if __name__ == "__main__":
    main()
