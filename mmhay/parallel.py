"""Data-parallel evaluation: which process of how many this is, and meeting the others.

Launched by ``torchrun --nproc-per-node N -m mmhay eval ...`` (or ``accelerate launch``), each
process is one rank: it answers its share of the samples on its own GPU, and rank 0 merges the
answers into the one run folder. Started plainly, the process is rank 0 of 1 and nothing here
touches ``torch.distributed``. The ranks meet over the gloo backend, which needs no GPU, so the
same launch works on CPUs (and is tested there).

On several nodes (``torchrun --nnodes N``) a rank's place among all (``RANK``, ``WORLD_SIZE``)
differs from its place on its own machine (``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``): the share of
the samples, the per-rank file and who merges go by the first, the GPU by the second.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Ranks", "current_ranks", "leave", "own_device", "ranks_from", "sum_over_ranks", "wait_for_all"]

# How long a rank waits at a barrier for the others (gloo's default is 30 minutes): a resumed run
# can leave one rank, or one node, with hours of samples while the others have none left. A rank
# that dies does not leave the others waiting this long: gloo sees its connections close.
_WAIT = timedelta(days=7)


@dataclass(frozen=True)
class Ranks:
    """This process's place among the evaluating processes."""

    rank: int = 0  # among all the ranks, on every node
    world: int = 1
    local_rank: int = 0  # among the ranks on this machine
    local_world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes the merged results."""
        return self.rank == 0

    @property
    def several_nodes(self) -> bool:
        """Whether the ranks run on more than one machine (so share no memory and no locks but
        those of the filesystem that holds the run folder)."""
        return self.local_world < self.world


def ranks_from(environment: Mapping[str, str]) -> Ranks:
    """The ranks that torchrun (or accelerate, which launches through it) put in ``environment``;
    rank 0 of 1 when there are none. Without ``LOCAL_WORLD_SIZE`` the ranks count as one machine's."""
    world = int(environment.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    return Ranks(int(environment["RANK"]), world, int(environment.get("LOCAL_RANK", "0")), int(environment.get("LOCAL_WORLD_SIZE", world)))


def current_ranks() -> Ranks:
    """This process's ranks (``ranks_from`` the environment); joins the process group the first
    time it is asked in a multi-process launch."""
    ranks = ranks_from(os.environ)
    if ranks.world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo", timeout=_WAIT)
    return ranks


def own_device(ranks: Ranks, gpus: int) -> str:
    """The device a rank's model goes on when ``gpus`` GPUs are visible to it: the GPU of its
    place on its machine (``LOCAL_RANK``, not the global rank, which on the second node of eight
    GPUs would ask for ``cuda:8``); ``cuda:0`` where each rank sees only its own GPU (a scheduler
    that sets ``CUDA_VISIBLE_DEVICES`` per process); the CPU when there is none."""
    if gpus < 1:
        return "cpu"
    return f"cuda:{ranks.local_rank % gpus}"


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
