"""Seeds derived from stable keys, never from batch position, worker id or time."""

from __future__ import annotations

import hashlib


def stable_seed(*keys: object) -> int:
    """A 63-bit seed from the sha256 of ``keys`` (stable across processes and machines)."""
    text = "\x1f".join(repr(k) for k in keys)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def stable_shard(key: object, num_shards: int) -> int:
    """The shard (0..num_shards-1) that owns ``key``; the same everywhere."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    return stable_seed("shard", key) % num_shards
