"""Embedding cache: one row per (embedder, image key), stored as Parquet partitions.

The catalog reads the cache folder with ``partitions.IncrementalDataset``
(``int_similarity_embedding_cache_prior``, an empty dict on the first run) and appends new
partitions with ``partitions.PartitionedDataset`` (``int_similarity_embedding_cache``). The embed
node returns one *lazy* partition per chunk of images, so the dataset embeds and writes chunk after
chunk: an interrupted run keeps the chunks it finished and a rerun embeds only the rest. A
partition is named ``<embedder slug>/<digest of its keys>``; shards never collide.

An image key is ``<image id>#<settings digest>@<bytes digest>`` for a generation and
``png#<bytes digest>`` for a reference: it changes whenever the image's bytes change (a new model,
new settings, a file replaced by hand), and the embedder name carries its weights fingerprint,
so a stale vector is never reused. Rows also record ``n_faces`` (face embedders; images without exactly one face are cached
with an empty vector, so detection is not redone either) and ``reason`` for images that could not
be embedded (kept for the report, never reused).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.slugs import slugify

CACHE_COLUMNS = ["image_key", "embedder", "dim", "n_faces", "embedding", "reason"]
Entry = tuple[int, "np.ndarray | None"]


class CacheMismatchError(ValueError):
    """The cache holds vectors of another dimension for the same embedder name."""


def digest(*parts: object, length: int = 16) -> str:
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()[:length]


def bytes_digest(data: bytes, length: int = 16) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()[:length]


def content_key(read: Callable[[], Any]) -> str:
    """``"@<digest of the image's bytes>"`` from its loader (file bytes, or a PIL image's
    pixels): an image replaced on disk never reuses its old vector."""
    try:
        data = read()
        if not isinstance(data, bytes | bytearray):  # a PIL image (another dataset type)
            data = f"{data.mode}|{data.size}|".encode() + data.tobytes()
    except Exception:  # noqa: BLE001 - unreadable: embedding names the reason as a reject
        return "@unreadable"
    return f"@{bytes_digest(bytes(data))}"


def partition_id(embedder: str, keys: list[str]) -> str:
    """``<embedder slug>/<digest of the keys>``: deterministic, so a rerun rewrites nothing new."""
    return f"{slugify(embedder)}/{digest(embedder, *sorted(keys))}"


def load_cache(
    partitions: Mapping[str, pd.DataFrame] | None, embedder: str, dim: int
) -> tuple[dict[str, Entry], dict[str, str]]:
    """``({image_key: (n_faces, vector or None)}, {image_key: failure reason})`` for ``embedder``.

    Rows of other embedders are ignored. Failure rows (``reason`` set: corrupt file, NaN
    vector) are returned apart: they are reported, never reused, so a fixed file is retried.
    Raises :class:`CacheMismatchError` naming both dimensions when a vector of this embedder
    has a different length than the model's ``dim``.
    """
    out: dict[str, Entry] = {}
    failed: dict[str, str] = {}
    for pid, frame in sorted((partitions or {}).items()):
        if callable(frame):  # a PartitionedDataset hands out loaders
            frame = frame()
        if frame.empty and not len(frame.columns):  # unreadable file, logged by the dataset
            continue
        missing = set(CACHE_COLUMNS) - set(frame.columns) - {"reason"}
        if missing:
            raise ValueError(f"embedding cache partition {pid!r} lacks columns {sorted(missing)}")
        rows = frame[frame["embedder"] == embedder]
        if rows.empty:
            continue
        bad = rows[(rows["dim"] != dim)]
        if not bad.empty:
            raise CacheMismatchError(
                f"embedding cache partition {pid!r} holds {int(bad['dim'].iloc[0])}-d vectors for "
                f"embedder {embedder!r}, but the model gives {dim}-d vectors; delete that cache "
                "partition or give the embedder another `name`"
            )
        reasons = rows["reason"] if "reason" in rows.columns else pd.Series("", index=rows.index)
        for key, n_faces, blob, reason in zip(
            rows["image_key"], rows["n_faces"], rows["embedding"], reasons.fillna(""), strict=True
        ):
            if reason:
                failed[str(key)] = str(reason)
                continue
            vec = np.frombuffer(blob, dtype="<f4") if blob else None
            if vec is not None and vec.shape[0] != dim:
                raise CacheMismatchError(
                    f"embedding cache partition {pid!r}, key {key!r}: vector has {vec.shape[0]} "
                    f"values but the model's dim is {dim} (embedder {embedder!r})"
                )
            out[str(key)] = (int(n_faces), vec)
    return out, failed


def cache_rows(
    embedder: str, dim: int, entries: Mapping[str, Entry], failed: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Rows for ``entries`` (vectors or face counts) and ``failed`` (reasons), sorted by key."""
    failed = failed or {}
    keys = sorted(set(entries) | set(failed))
    return pd.DataFrame(
        {
            "image_key": pd.Series(keys, dtype=object),
            "embedder": embedder,
            "dim": dim,
            "n_faces": [int(entries[k][0]) if k in entries else -1 for k in keys],
            "embedding": [
                b"" if k not in entries or entries[k][1] is None
                else np.asarray(entries[k][1], dtype="<f4").tobytes()
                for k in keys
            ],
            "reason": [failed.get(k, "") if k not in entries else "" for k in keys],
        },
        columns=CACHE_COLUMNS,
    )


def new_cache_partition(
    embedder: str, dim: int, entries: Mapping[str, Entry], failed: Mapping[str, str] | None = None
) -> dict[str, pd.DataFrame]:
    """``{partition id: rows}`` holding ``entries`` and ``failed`` (``{}`` when both are empty)."""
    frame = cache_rows(embedder, dim, entries, failed)
    if frame.empty:
        return {}
    return {partition_id(embedder, frame["image_key"].tolist()): frame}
