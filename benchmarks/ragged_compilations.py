"""Which ragged kernel compiles a new variant for which batch, and what it specialised on.

    python benchmarks/ragged_compilations.py

On one GPU: runs 2x2 pooling, EVS scoring and separable resampling over one video, then over the
two ragged batches of ``compression_kernels.py`` and a few more, and after each prints the
compiled variants that appeared in the kernels' caches (triton's specialisation keys: ``'D'``
marks an argument specialised as divisible by 16). A ragged batch must add none; a new feature
signature (C not a multiple of 16, features not 16-byte aligned) may.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import compression_kernels as bench  # noqa: E402
from mmhay import kernels  # noqa: E402
from mmhay.kernels.evs import _evs_kernel  # noqa: E402
from mmhay.kernels.pool import _pool_kernel  # noqa: E402
from mmhay.kernels.resample import _kron_kernel, _resample_kernel  # noqa: E402

KERNELS = {"evs": _evs_kernel, "pool": _pool_kernel, "resample (separable)": _resample_kernel, "resample (kron)": _kron_kernel}


def variants() -> set[tuple[str, str]]:
    return {(name, str(key)) for name, k in KERNELS.items() for entry in k.device_caches.values() for key in entry[0]}


def run(frames, grids, channels=1152, offset=0):
    """The three ops over one ragged batch of bf16 features (``offset`` elements into their buffer)."""
    tokens = sum(f * h * w for f, (h, w) in zip(frames, grids))
    x = torch.randn(tokens * channels + offset, device="cuda").to(torch.bfloat16)[offset:].view(tokens, channels)
    A = [bench.dct_lowpass(h, h // 2).cuda() for h, _ in grids]
    B = [bench.dct_lowpass(w, w // 2).cuda() for _, w in grids]
    kernels.pool2x2(x, frames, grids)
    kernels.evs_dissimilarity(x, frames, grids)
    kernels.separable_resample(x, frames, grids, A, B)
    torch.cuda.synchronize()


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("needs a GPU: the interpreter compiles nothing")
    print(f"# ragged kernel compilations on {torch.cuda.get_device_name()}; torch {torch.__version__}\n")
    cases = [("one video, 24x24", [64], [(24, 24)], {})]
    cases += [(f"ragged batch {name}", [f for f, _ in v], [g for _, g in v], {}) for name, v in bench.RAGGED.items()]
    cases += [
        ("two videos, 48x48 and 20x20", [3, 5], [(48, 48), (20, 20)], {}),
        ("three odd grids", [7, 2, 9], [(13, 17), (31, 33), (40, 41)], {}),
        ("C = 1000 (not a multiple of 16): a new signature", [5], [(24, 24)], {"channels": 1000}),
        ("features one element into their buffer (not 16-byte aligned): a new signature", [5], [(24, 24)], {"offset": 1}),
    ]
    seen = variants()
    for label, frames, grids, options in cases:
        run(frames, grids, **options)
        now = variants()
        print(f"{label}: {len(now - seen)} new compiled variants")
        for name, key in sorted(now - seen):
            print(f"   {name}: {key}")
        seen = now


if __name__ == "__main__":
    main()
