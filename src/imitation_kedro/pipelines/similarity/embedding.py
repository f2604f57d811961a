"""Batched embedding of planned items with decoding overlapped and a per-image cache.

Works with any ``ImageEmbedder`` (``dim``, ``embed(list[PIL])``). When the embedder also offers
``prepare(image)`` (thread-safe CPU preprocessing) and ``embed_prepared(list)``, preprocessing runs
in the decode threads too. Face embedders (``counts_faces = True``) return ``PreparedFace`` objects
with ``n_faces``; only single-face items reach the recogniser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.progress import progress

from .decoding import iter_decoded_batches
from .embedding_cache import cache_rows, load_cache, partition_id
from .references import reject

logger = logging.getLogger(__name__)


def _embed_batch(embedder: Any, values: list[Any]) -> np.ndarray:
    if hasattr(embedder, "embed_prepared") and hasattr(embedder, "prepare"):
        out = embedder.embed_prepared(values)
    else:
        out = embedder.embed(values)
    out = np.asarray(out, dtype=np.float32)
    if out.ndim != 2 or out.shape[0] != len(values):
        raise ValueError(
            f"embedder {getattr(embedder, 'name', type(embedder).__name__)!r} returned shape "
            f"{out.shape} for {len(values)} images"
        )
    if out.shape[1] != embedder.dim:
        raise ValueError(
            f"embedder {getattr(embedder, 'name', type(embedder).__name__)!r} declares dim "
            f"{embedder.dim} but returned {out.shape[1]}-d vectors"
        )
    return out


def embed_sources(
    embedder: Any,
    keys: list[str],
    sources: list[Any],
    batch_size: int,
    workers: int,
    prefetch: int,
    convert: bool,
    desc: str = "embed",
    backend: str = "thread",
) -> tuple[dict[str, tuple[int, np.ndarray | None]], dict[str, str]]:
    """Embed ``sources`` (bytes, PIL images or loaders) -> ``({key: (n_faces, vec)}, {key: reason})``.

    Vectors are L2-normalised float32; a non-finite or zero vector is a failure with a reason,
    never a stored NaN.
    """
    prepare: Callable | None = getattr(embedder, "prepare", None)
    counts_faces = bool(getattr(embedder, "counts_faces", False))
    done: dict[str, tuple[int, np.ndarray | None]] = {}
    failed: dict[str, str] = {}
    batches = iter_decoded_batches(
        sources, batch_size, workers, prefetch, convert, prepare, backend  # type: ignore[arg-type]
    )
    total = (len(sources) + batch_size - 1) // batch_size
    for start, decoded in progress(batches, desc=desc, total=total, unit="batch"):
        batch_keys = keys[start : start + len(decoded)]
        to_embed: list[tuple[str, Any]] = []
        for key, item in zip(batch_keys, decoded, strict=True):
            if item.reason:
                failed[key] = item.reason
            elif counts_faces and item.value.n_faces != 1:
                done[key] = (int(item.value.n_faces), None)
            else:
                to_embed.append((key, item.value))
        if not to_embed:
            continue
        vectors = _embed_batch(embedder, [v for _, v in to_embed])
        norms = np.linalg.norm(vectors, axis=1)
        for (key, _), vec, norm in zip(to_embed, vectors, norms, strict=True):
            if not np.isfinite(vec).all():
                failed[key] = "non-finite embedding (NaN/inf) from the model"
            elif norm <= 1e-12:
                failed[key] = "zero embedding vector from the model"
            else:
                done[key] = (1, (vec / norm).astype(np.float32))
    return done, failed


def plan_chunks(
    embedder: Any, items: pd.DataFrame, cached: Mapping[str, Any], chunk_size: int
) -> list[tuple[str, list[str], list[str]]]:
    """``[(partition id, image keys, image ids)]`` for the unique images not in ``cached``."""
    unique = items.drop_duplicates("image_key").sort_values("image_key")
    todo = unique[~unique["image_key"].isin(list(cached))]
    logger.info(
        "similarity: embedder %s: %d images, %d cached, %d to embed",
        embedder.name, len(unique), len(unique) - len(todo), len(todo),
    )
    keys, ids = todo["image_key"].tolist(), todo["image_id"].tolist()
    out = []
    for start in range(0, len(keys), chunk_size):
        chunk = keys[start : start + chunk_size]
        out.append((partition_id(embedder.name, chunk), chunk, ids[start : start + chunk_size]))
    return out


def embed_chunk(
    embedder: Any,
    keys: list[str],
    image_ids: list[str],
    lookup: Callable[[str], Any],
    batch_size: int,
    workers: int,
    prefetch: int,
    convert: bool,
    desc: str,
    backend: str = "thread",
) -> pd.DataFrame:
    """Embed one chunk -> its cache rows (vectors, face counts, failure reasons)."""
    sources = [lookup(image_id) for image_id in image_ids]
    done, failed = embed_sources(
        embedder, keys, sources, batch_size, workers, prefetch, convert, desc, backend
    )
    return cache_rows(embedder.name, int(embedder.dim), done, failed)


def domain_table(
    items: pd.DataFrame,
    embedder: str,
    dim: int,
    new: Mapping[str, Any],
    prior: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Vectors and face counts of ``items`` from this run's partitions, then the prior cache.

    Images with a failure reason, or (should never happen) no row at all, become rejects.
    """
    fresh, failed = load_cache(new, embedder, dim)
    old, _ = load_cache(prior, embedder, dim) if prior else ({}, {})
    table: dict[str, Any] = {"embedder": embedder, "dim": dim, "vectors": {}, "n_faces": {}}
    reasons: dict[str, str] = {}
    for key in items["image_key"].unique():
        entry = fresh.get(key) or old.get(key)
        if entry is None:
            reasons[key] = failed.get(key, "no embedding in the cache for this image (incomplete run?)")
            continue
        table["n_faces"][key] = entry[0]
        if entry[1] is not None:
            table["vectors"][key] = entry[1]
    rejects = [
        reject("image", row.concept, reasons[row.image_key], domain=row.domain,
               model=row.model or None, prompt_id=int(row.prompt_id) if row.prompt_id >= 0 else None,
               image_id=row.image_id, role=row.role)
        for row in items[items["image_key"].isin(list(reasons))].itertuples(index=False)
    ]
    return table, rejects
