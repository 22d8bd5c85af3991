"""Data-parallel evaluation: which process of how many this is, and meeting the others.

Launched by ``torchrun --nproc-per-node N -m mmhay eval ...`` (or ``accelerate launch``), each
process is one rank: it answers its share of the samples on its own GPU, and rank 0 merges the
answers into the one run folder. Started plainly, the process is rank 0 of 1 and nothing here
touches ``torch.distributed``. The ranks meet over the gloo backend, which needs no GPU, so the
same launch works on CPUs (and is tested there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Ranks", "current_ranks", "leave", "sum_over_ranks", "wait_for_all"]


@dataclass(frozen=True)
class Ranks:
    """This process's place among the evaluating processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes the merged results."""
        return self.rank == 0


def current_ranks() -> Ranks:
    """The ranks torchrun or accelerate set in the environment (rank 0 of 1 when there are none);
    joins the process group the first time it is asked in a multi-process launch."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    ranks = Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return ranks


def leave(ranks: Ranks) -> None:
    """Close the process group once this rank's last collective is done: a process that exits
    with gloo's threads still running aborts ("terminate called without an active exception")."""
    if ranks.world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def wait_for_all(ranks: Ranks) -> None:
    """Return once every rank has come here."""
    if ranks.world > 1:
        import torch.distributed as dist

        dist.barrier()


def sum_over_ranks(ranks: Ranks, values: list[int]) -> list[int]:
    """``values`` added up over every rank (each rank gets the sums)."""
    if ranks.world == 1:
        return list(values)
    import torch
    import torch.distributed as dist

    total = torch.tensor(values, dtype=torch.int64)
    dist.all_reduce(total)
    return [int(v) for v in total]
