"""torch.distributed helpers for data-parallel runs (torchrun; the project's ``DistributedHook``
initialises the process group). Single process: every helper is the identity.

Evaluation is sharded by whole batches (rank r takes batches r, r + W, ...), so every image is
encoded in exactly the batch a single process would use, and the gathered scores equal the
single-process ones bit for bit. torch is imported inside functions only.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def rank_world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without an initialised process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_writer() -> bool:
    """Only rank 0 writes files, logs metrics and saves checkpoints."""
    return rank_world()[0] == 0


def my_shard(items: list[T]) -> list[tuple[int, T]]:
    """(position, item) of this rank's share: positions rank, rank + W, ..."""
    rank, world = rank_world()
    return [(i, it) for i, it in enumerate(items) if i % world == rank]


def gather_in_order(parts: list[tuple[int, Any]], n: int) -> list[Any]:
    """Every rank's (position, value) pairs -> the ``n`` values in position order, on every rank."""
    import torch.distributed as dist

    rank, world = rank_world()
    if world == 1:
        merged = parts
    else:
        everyone: list[Any] = [None] * world
        dist.all_gather_object(everyone, parts)
        merged = [p for ps in everyone for p in ps]
    out: list[Any] = [None] * n
    for i, value in merged:
        out[i] = value
    if any(v is None for v in out):
        raise RuntimeError("distributed evaluation lost a batch: a rank returned no result")
    return out


def all_reduce_sum(x: Any) -> Any:
    """Sum a tensor over ranks in place (identity in one process)."""
    import torch.distributed as dist

    if rank_world()[1] > 1:
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def barrier() -> None:
    import torch.distributed as dist

    if rank_world()[1] > 1:
        dist.barrier()
