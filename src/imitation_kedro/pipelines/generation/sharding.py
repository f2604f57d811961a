"""Deterministic split of the prompt table across processes / GPUs."""

from __future__ import annotations

import pandas as pd

from imitation_kedro.core.seeding import stable_shard


def shard_of(concept: str, prompt_id: int, index: int, num_shards: int) -> int:
    """The shard that owns one image: a stable hash of (concept, prompt_id, index).

    The model is left out of the key on purpose: with the same ``num_shards`` a GPU renders
    the same concepts and prompts for every model.
    """
    return stable_shard((concept, int(prompt_id), int(index)), num_shards)


def select_shard(table: pd.DataFrame, shard_index: int, num_shards: int) -> pd.DataFrame:
    """The rows of ``table`` owned by ``shard_index`` (all rows when ``num_shards == 1``)."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index {shard_index} is not in 0..{num_shards - 1}")
    shards = [
        shard_of(c, p, i, num_shards)
        for c, p, i in zip(table["concept"], table["prompt_id"], table["index"], strict=True)
    ]
    out = table.assign(shard=pd.Series(shards, index=table.index, dtype="int64"))
    return out[out["shard"] == shard_index].reset_index(drop=True)


def shard_partition(model: str, shard_index: int, num_shards: int) -> str:
    """Partition id of one shard's manifest: ``{model}/shard-003-of-008``."""
    return f"{model}/shard-{shard_index:03d}-of-{num_shards:03d}"


def parse_shard_partition(partition: str) -> tuple[str, int, int]:
    """Inverse of :func:`shard_partition`; raises naming the partition when malformed."""
    try:
        model, name = partition.split("/")
        _, i, _, n = name.split("-")
        return model, int(i), int(n)
    except ValueError:
        raise ValueError(
            f"shard manifest {partition!r} is not named '{{model}}/shard-III-of-NNN'"
        ) from None
