"""Single-machine caption counting: stream shards in bounded-size chunks, all concepts per pass.

Shards are handled as Arrow tables (no Python object per caption): the next shard is read in a
background thread, ``matching.batch_rows``-row chunks are matched by ``matching.threads`` worker
threads (:class:`~imitation_kedro.pipelines.frequency.matching.CaptionMatcher`), and counts and
the hit sample (:mod:`~imitation_kedro.pipelines.frequency.sampling`) are folded in chunk order.
Memory: two shards, the chunks in flight, and the sample (see
:class:`~imitation_kedro.pipelines.frequency.sampling.BottomK`).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from imitation_kedro.core.progress import progress
from imitation_kedro.pipelines.frequency.matching import CaptionMatcher, MatchingError, PatternTable
from imitation_kedro.pipelines.frequency.params import MatchingParams, SamplingParams
from imitation_kedro.pipelines.frequency.sampling import (
    BottomK,
    concept_salts,
    hit_priority,
    hits_frame,
)

logger = logging.getLogger(__name__)


def _load_partition(pid: str, loader: Callable[[], Any] | Any, columns: list[str]) -> pa.Table:
    """Load one caption shard as an Arrow table of ``columns``; errors name the shard."""
    try:
        data = loader() if callable(loader) else loader
    except Exception as exc:  # noqa: BLE001 - re-raised with the shard named
        raise MatchingError(
            f"caption shard {pid!r} could not be read as parquet: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(data, pa.Table | pd.DataFrame):
        raise MatchingError(f"caption shard {pid!r} loaded as {type(data).__name__}, not a table")
    found = list(data.column_names if isinstance(data, pa.Table) else data.columns)
    missing = [c for c in columns if c not in found]
    if missing:
        raise MatchingError(
            f"caption shard {pid!r} lacks column(s) {missing}; columns found: "
            f"{found} (set frequency.matching.*_column)"
        )
    if isinstance(data, pa.Table):
        return data.select(columns)
    arrays = []
    for col in columns:
        try:
            arrays.append(pa.array(data[col], from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise MatchingError(
                f"caption shard {pid!r}: column {col!r} is not text or integers: {exc}"
            ) from exc
    return pa.table(arrays, names=columns)


def iter_caption_chunks(
    partitions: Mapping[str, Callable[[], Any]], columns: list[str], batch_rows: int
) -> Iterator[tuple[str, pa.Table]]:
    """Yield ``(partition_id, chunk)`` Arrow tables of ``columns``, partition by partition.

    Partitions come in id order. The next shard is read in a background thread while the current
    one is matched (parquet decoding and the matcher's Arrow kernels release the GIL), so at most
    two shards are in memory. Raises :class:`MatchingError` naming the partition when it cannot
    be read as parquet or lacks a column (listing the columns it has).
    """
    if not partitions:
        raise MatchingError("raw_laion_captions has no partitions: no caption shards to count")
    ids = sorted(partitions)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="caption-shard") as pool:
        ahead = pool.submit(_load_partition, ids[0], partitions[ids[0]], columns)
        for k, pid in enumerate(progress(ids, desc="caption shards", unit="shard")):
            data = ahead.result()
            if k + 1 < len(ids):
                ahead = pool.submit(_load_partition, ids[k + 1], partitions[ids[k + 1]], columns)
            for lo in range(0, data.num_rows, batch_rows):
                yield pid, data.slice(lo, batch_rows)
            del data


def check_ids(ids: pa.ChunkedArray | pa.Array, pid: str, column: str) -> np.ndarray:
    """Caption ids as int64; a null or non-integer id is an error naming the shard."""
    if ids.null_count or (pa.types.is_floating(ids.type) and pc.any(pc.is_nan(ids)).as_py()):
        raise MatchingError(f"caption shard {pid!r}: column {column!r} has null ids")
    try:
        return np.asarray(ids.cast(pa.int64()), dtype=np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
        raise MatchingError(
            f"caption shard {pid!r}: column {column!r} is not integer: {exc}"
        ) from exc


def _text_array(
    values: pa.ChunkedArray | pa.Array, pid: str, column: str, cast: bool = False
) -> pa.Array | pa.ChunkedArray:
    """A (large_)string column, chunks kept (not copied); a column that is not text names the shard.

    ``cast``: convert any castable column (e.g. integer URLs) to text instead of failing.
    """
    if pa.types.is_dictionary(values.type):
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        values = values.dictionary_decode()
    kind = values.type
    textual = pa.types.is_string_view(kind) or pa.types.is_null(kind)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return values
    try:
        if textual or cast:
            return values.cast(pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise MatchingError(
            f"caption shard {pid!r}: column {column!r} cannot be read as text: {exc}"
        ) from exc
    raise MatchingError(f"caption shard {pid!r}: column {column!r} is not text (arrow type {kind})")


def _match_chunk(
    matcher: CaptionMatcher, pid: str, chunk: pa.Table, columns: list[str]
) -> tuple[int, np.ndarray, np.ndarray, pa.Table | None, np.ndarray]:
    """Match one chunk: (rows, hit ids, hit concepts, URL/TEXT of the hit rows, hit -> row)."""
    id_col, text_col = columns[0], columns[-1]
    ids = check_ids(chunk.column(0), pid, id_col)
    texts = _text_array(chunk.column(len(columns) - 1), pid, text_col)
    rows, conc = matcher.match(texts)
    if rows.size == 0 or len(columns) < 3:  # no hit, or counting only (no URL column)
        return chunk.num_rows, rows, conc, None, rows
    new_row = np.empty(rows.size, dtype=bool)  # rows come sorted from the matcher
    new_row[0] = True
    np.not_equal(rows[1:], rows[:-1], out=new_row[1:])
    hit_rows, string_row = rows[new_row], np.cumsum(new_row) - 1
    take = pa.array(hit_rows)
    urls = _text_array(chunk.column(1), pid, columns[1], cast=True).take(take)
    strings = pa.table({"URL": urls, "TEXT": texts.take(take)})
    return chunk.num_rows, ids[rows], conc, strings, string_row


def _threads(requested: int) -> int:
    return requested or max(1, min(8, os.cpu_count() or 1))


def count_local(
    partitions: Mapping[str, Callable[[], Any]],
    patterns: PatternTable,
    mp: MatchingParams,
    sampling: SamplingParams | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count captions per concept and keep a seeded sample of hits, streaming the shards.

    ``sampling`` None: counts only (the URL column is not read; the hit table is empty).

    Chunks are matched by ``matching.threads`` worker threads (at most twice that many chunks in
    flight); counts and the sample are folded in chunk order in this thread.
    """
    keep_hits = sampling is not None
    sampling = sampling or SamplingParams()
    patterns = replace(patterns, analyzer=mp.analyzer)
    matcher = CaptionMatcher(patterns, nested_names=mp.nested_names)
    salts = concept_salts(patterns.concepts, sampling.seed)
    sample = BottomK(len(patterns.concepts), sampling.max_images)
    counts = np.zeros(len(patterns.concepts), dtype=np.int64)
    n_rows = 0
    cols = [mp.id_column, mp.url_column, mp.caption_column]
    if not keep_hits:
        cols = [mp.id_column, mp.caption_column]
    workers = _threads(mp.threads)
    in_flight: deque[Future] = deque()

    def fold(future: Future) -> None:
        nonlocal n_rows
        n, sid, conc, strings, string_row = future.result()
        n_rows += n
        counts[:] += np.bincount(conc, minlength=counts.size)
        if strings is not None:
            sample.add_hits(conc, hit_priority(sid, salts[conc]), sid, strings, string_row)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caption-match") as pool:
        try:
            for pid, chunk in iter_caption_chunks(partitions, cols, mp.batch_rows):
                in_flight.append(pool.submit(_match_chunk, matcher, pid, chunk, cols))
                while len(in_flight) > 2 * workers or (in_flight and in_flight[0].done()):
                    fold(in_flight.popleft())
            while in_flight:
                fold(in_flight.popleft())
        finally:
            for future in in_flight:
                future.cancel()
    logger.info("matched %d captions against %d concepts", n_rows, len(patterns.concepts))
    return counts_frame(patterns, counts, n_rows), hits_frame(patterns, sample)


def counts_frame(patterns: PatternTable, counts: np.ndarray, n_rows: int) -> pd.DataFrame:
    """``int_caption_counts``: one row per concept (zeros included)."""
    return pd.DataFrame(
        {
            "concept": list(patterns.concepts),
            "captions": counts.astype(np.int64),
            "phrases": [int((patterns.owner == i).sum()) for i in range(len(patterns.concepts))],
            "corpus_rows": np.int64(n_rows),
        }
    )
