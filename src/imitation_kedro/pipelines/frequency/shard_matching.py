"""Reading and matching one caption shard: the unit of work of the local engine's workers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from imitation_kedro.pipelines.frequency.matching import CaptionMatcher, MatchingError

_WORKER_MATCHER: CaptionMatcher | None = None  # a worker process's matcher (init_worker)


def init_worker(matcher: CaptionMatcher) -> None:
    """Worker-process initialiser: the matcher arrives once (with its compiled database)."""
    global _WORKER_MATCHER
    _WORKER_MATCHER = matcher


@dataclass
class ShardResult:
    """One shard's matches: rows read, captions per concept and, when sampling, its hits."""

    rows: int
    counts: np.ndarray
    sample_ids: np.ndarray | None = None  # one per hit (caption, concept)
    concepts: np.ndarray | None = None
    strings: pa.Table | None = None  # URL/TEXT of the captions with a hit
    string_row: np.ndarray | None = None  # hit -> row of ``strings``


def match_shard(
    matcher: CaptionMatcher | None,
    pid: str,
    loader: Callable[[], Any] | Any,
    columns: list[str],
    batch_rows: int,
) -> ShardResult:
    """Read one shard and match it in ``batch_rows``-row chunks (``matcher`` None: the worker's).

    ``columns``: [caption] to count only, or [id, URL, caption] to also return the hits.
    """
    matcher = matcher or _WORKER_MATCHER
    data = _load_partition(pid, loader, columns)
    sampling = len(columns) == 3
    counts = np.zeros(matcher.n_concepts, dtype=np.int64)
    sids, concs, tables, string_rows, n_strings = [], [], [], [], 0
    for lo in range(0, data.num_rows, batch_rows):
        chunk = data.slice(lo, batch_rows)
        texts = _text_array(chunk.column(len(columns) - 1), pid, columns[-1])
        ids = check_ids(chunk.column(0), pid, columns[0]) if sampling else None
        rows, conc = matcher.match(texts)
        counts += np.bincount(conc, minlength=counts.size)
        if ids is None or not rows.size:
            continue
        new_row = np.empty(rows.size, dtype=bool)  # rows come sorted from the matcher
        new_row[0] = True
        np.not_equal(rows[1:], rows[:-1], out=new_row[1:])
        take = pa.array(rows[new_row])
        urls = _text_array(chunk.column(1), pid, columns[1], cast=True).take(take)
        tables.append(pa.table({"URL": urls, "TEXT": texts.take(take)}))
        sids.append(ids[rows])
        concs.append(conc)
        string_rows.append(np.cumsum(new_row) - 1 + n_strings)
        n_strings += len(take)
    if not sampling:
        return ShardResult(data.num_rows, counts)
    if not tables:
        empty = np.empty(0, np.int64)
        return ShardResult(data.num_rows, counts, empty, empty, None, empty)
    return ShardResult(
        data.num_rows,
        counts,
        np.concatenate(sids),
        np.concatenate(concs),
        pa.concat_tables(tables).combine_chunks(),
        np.concatenate(string_rows),
    )


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
