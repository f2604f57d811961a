"""Single-machine caption counting: stream shards in bounded-size chunks, all concepts per pass.

Sampling of hits is a bottom-k sample: each (concept, caption id) gets a priority from a seeded
64-bit hash and every concept keeps its ``max_images`` lowest priorities. That is a uniform random
sample without replacement (FIT §3.2 shuffles with seed 42 and keeps the first 100,000), and it
does not depend on how the corpus is sharded, on shard order or on the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from imitation_kedro.pipelines.frequency.matching import CaptionMatcher, MatchingError, PatternTable
from imitation_kedro.pipelines.frequency.params import FrequencyParams
from imitation_kedro.progress import progress
from imitation_kedro.seeding import stable_seed

logger = logging.getLogger(__name__)

HIT_COLUMNS = ["concept", "SAMPLE_ID", "URL", "TEXT"]
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def concept_salts(concepts: tuple[str, ...], seed: int) -> np.ndarray:
    """One 64-bit salt per concept, from the sampling seed and the concept name."""
    return np.asarray([stable_seed("hit-sample", seed, c) for c in concepts], dtype=np.uint64)


def hit_priority(sample_ids: np.ndarray, salts: np.ndarray) -> np.ndarray:
    """splitmix64(sample_id XOR salt): the sampling order of a hit (lower = sampled first)."""
    with np.errstate(over="ignore"):
        z = sample_ids.astype(np.int64).view(np.uint64) ^ salts
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(1)).astype(np.int64)


def keep_lowest(frame: pd.DataFrame, cap: int) -> pd.DataFrame:
    """Per concept index, the ``cap`` rows of lowest (priority, SAMPLE_ID)."""
    frame = frame.sort_values(["cidx", "priority", "SAMPLE_ID"], kind="stable")
    return frame[frame.groupby("cidx", sort=False).cumcount() < cap]


def iter_caption_chunks(
    partitions: Mapping[str, Callable[[], Any]], columns: list[str], batch_rows: int
) -> Iterator[tuple[str, pd.DataFrame]]:
    """Yield ``(partition_id, chunk)`` with only ``columns``, partition by partition, in id order.

    Raises :class:`MatchingError` naming the partition when it cannot be read as parquet or lacks
    a column (listing the columns it has).
    """
    if not partitions:
        raise MatchingError("raw_laion_captions has no partitions: no caption shards to count")
    for pid in progress(sorted(partitions), desc="caption shards", unit="shard"):
        loader = partitions[pid]
        try:
            data = loader() if callable(loader) else loader
        except Exception as exc:  # noqa: BLE001 - re-raised with the shard named
            raise MatchingError(
                f"caption shard {pid!r} could not be read as parquet: {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(data, pa.Table):
            data = data.to_pandas()
        if not isinstance(data, pd.DataFrame):
            raise MatchingError(
                f"caption shard {pid!r} loaded as {type(data).__name__}, not a table"
            )
        missing = [c for c in columns if c not in data.columns]
        if missing:
            raise MatchingError(
                f"caption shard {pid!r} lacks column(s) {missing}; columns found: "
                f"{list(data.columns)} (set frequency.matching.*_column)"
            )
        for lo in range(0, len(data), batch_rows):
            yield pid, data.iloc[lo : lo + batch_rows][columns]
        del data


def check_ids(ids: pd.Series, pid: str, column: str) -> np.ndarray:
    """Caption ids as int64; a null or non-integer id is an error naming the shard."""
    if ids.isna().any():
        raise MatchingError(f"caption shard {pid!r}: column {column!r} has null ids")
    try:
        return ids.to_numpy(dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise MatchingError(
            f"caption shard {pid!r}: column {column!r} is not integer: {exc}"
        ) from exc


class BottomK:
    """Streaming per-concept bottom-k sample: amortised compaction, early drop of hopeless hits."""

    def __init__(self, n_concepts: int, cap: int, min_pending: int = 1_000_000) -> None:
        self.cap = cap
        self.min_pending = min_pending
        self.cutoff = np.full(n_concepts, np.iinfo(np.int64).max, dtype=np.int64)
        self.parts: list[pd.DataFrame] = []
        self.pending = 0
        self.compacted = 0

    def add(self, frame: pd.DataFrame) -> None:
        frame = frame[frame["priority"].to_numpy() <= self.cutoff[frame["cidx"].to_numpy()]]
        if frame.empty:
            return
        self.parts.append(frame)
        self.pending += len(frame)
        if self.pending > max(self.min_pending, self.compacted):
            self.compact()

    def compact(self) -> pd.DataFrame:
        kept = (
            keep_lowest(pd.concat(self.parts, ignore_index=True), self.cap) if self.parts else None
        )
        self.parts = [] if kept is None else [kept]
        self.pending = 0
        self.compacted = 0 if kept is None else len(kept)
        if kept is not None:
            full = kept.groupby("cidx", sort=False)["priority"].agg(["size", "max"])
            full = full[full["size"] >= self.cap]
            self.cutoff[full.index.to_numpy()] = full["max"].to_numpy()
        return kept


def count_local(
    partitions: Mapping[str, Callable[[], Any]], patterns: PatternTable, params: FrequencyParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count captions per concept and keep a seeded sample of hits, streaming the shards."""
    mp = params.matching
    matcher = CaptionMatcher(patterns, nested_names=mp.nested_names)
    salts = concept_salts(patterns.concepts, params.sampling.seed)
    sample = BottomK(len(patterns.concepts), params.sampling.max_images)
    counts = np.zeros(len(patterns.concepts), dtype=np.int64)
    n_rows = 0
    cols = [mp.id_column, mp.url_column, mp.caption_column]
    for pid, chunk in iter_caption_chunks(partitions, cols, mp.batch_rows):
        ids = check_ids(chunk[mp.id_column], pid, mp.id_column)
        n_rows += len(chunk)
        texts = chunk[mp.caption_column]
        try:
            arr = pa.array(texts, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise MatchingError(
                f"caption shard {pid!r}: column {mp.caption_column!r} is not text: {exc}"
            ) from exc
        rows, conc = matcher.match(arr)
        counts += np.bincount(conc, minlength=counts.size)
        if rows.size == 0:
            continue
        sid = ids[rows]
        sample.add(
            pd.DataFrame(
                {
                    "cidx": conc,
                    "priority": hit_priority(sid, salts[conc]),
                    "SAMPLE_ID": sid,
                    "URL": _strings(chunk[mp.url_column].iloc[rows]),
                    "TEXT": _strings(texts.iloc[rows]),
                }
            )
        )
    logger.info("matched %d captions against %d concepts", n_rows, len(patterns.concepts))
    return counts_frame(patterns, counts, n_rows), hits_frame(patterns, sample.compact())


def _strings(values: pd.Series) -> pd.Series:
    """Matched URLs/captions as Arrow-backed strings (compact while the sample is kept)."""
    out = values.reset_index(drop=True)
    try:
        return out.astype("string[pyarrow]")
    except (TypeError, ValueError, pa.ArrowException):
        return out.astype(object)


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


def hits_frame(patterns: PatternTable, kept: pd.DataFrame | None) -> pd.DataFrame:
    """``int_caption_hits``: concept, SAMPLE_ID, URL, TEXT, sorted by concept then sample order."""
    if kept is None or kept.empty:
        return pd.DataFrame(
            {
                "concept": pd.Series(dtype=object),
                "SAMPLE_ID": pd.Series(dtype=np.int64),
                "URL": pd.Series(dtype=object),
                "TEXT": pd.Series(dtype=object),
                "sample_rank": pd.Series(dtype=np.int64),
            }
        )
    kept = keep_lowest(kept, np.iinfo(np.int64).max)
    out = pd.DataFrame(
        {
            "concept": np.asarray(patterns.concepts, dtype=object)[kept["cidx"].to_numpy()],
            "SAMPLE_ID": kept["SAMPLE_ID"].to_numpy(np.int64),
            "URL": kept["URL"].to_numpy(dtype=object),
            "TEXT": kept["TEXT"].to_numpy(dtype=object),
        }
    )
    out["sample_rank"] = out.groupby("concept", sort=False).cumcount().astype(np.int64)
    return out.reset_index(drop=True)
