"""The seeded sample of caption hits, shared by both counting engines (FIT §3.2).

Sampling of hits is a bottom-k sample: each (concept, caption id) gets a priority from a seeded
64-bit hash and every concept keeps its ``max_images`` lowest priorities. That is a uniform random
sample without replacement (FIT §3.2 shuffles with seed 42 and keeps the first 100,000), and it
does not depend on how the corpus is sharded, on shard order or on the engine.

:class:`BottomK` keeps the sample while the local engine streams: integers per hit plus the
URL/TEXT bytes of the kept hits, at most the capped sample plus one pending batch of about the
same size. The Spark engine ranks the same priorities with a window function.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa

from imitation_kedro.core.seeding import stable_seed
from imitation_kedro.pipelines.frequency.matching import PatternTable

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


class BottomK:
    """Streaming per-concept bottom-k sample: amortised compaction, early drop of hopeless hits.

    Hits are kept as integer columns (concept index, priority, sample id, string row) plus Arrow
    string tables; compaction sorts only the integers and copies just the surviving strings, so
    memory is the kept sample (URL + caption bytes and ~32 bytes a hit) plus one pending batch.
    """

    def __init__(self, n_concepts: int, cap: int, min_pending: int = 250_000) -> None:
        self.cap = cap
        self.min_pending = min_pending
        self.cutoff = np.full(n_concepts, np.iinfo(np.int64).max, dtype=np.int64)
        self._ints: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._strings: list[pa.Table] = []
        self._n_strings = 0
        self.pending = 0
        self.compacted = 0

    def add_hits(
        self,
        cidx: np.ndarray,
        priority: np.ndarray,
        sample_id: np.ndarray,
        strings: pa.Table,
        string_row: np.ndarray,
    ) -> None:
        """One batch of hits; hit ``i``'s URL and TEXT are row ``string_row[i]`` of ``strings``."""
        ok = priority <= self.cutoff[cidx]
        if not ok.any():
            return
        if not ok.all():
            cidx, priority, sample_id, string_row = (
                cidx[ok],
                priority[ok],
                sample_id[ok],
                string_row[ok],
            )
            used = np.unique(string_row)  # keep only the strings of hits that may be sampled
            if used.size < strings.num_rows:
                strings = strings.take(pa.array(used))
                string_row = np.searchsorted(used, string_row)
        self._ints.append(
            (
                cidx.astype(np.int64),
                priority.astype(np.int64),
                sample_id.astype(np.int64),
                string_row.astype(np.int64) + self._n_strings,
            )
        )
        self._strings.append(strings)
        self._n_strings += strings.num_rows
        self.pending += cidx.size
        if self.pending > max(self.min_pending, self.compacted):
            self._compact_arrays()

    def add(self, frame: pd.DataFrame) -> None:
        """Hits as a frame of cidx, priority, SAMPLE_ID, URL, TEXT."""
        strings = pa.table(
            {
                "URL": pa.array(frame["URL"], type=pa.large_string(), from_pandas=True),
                "TEXT": pa.array(frame["TEXT"], type=pa.large_string(), from_pandas=True),
            }
        )
        self.add_hits(
            frame["cidx"].to_numpy(np.int64),
            frame["priority"].to_numpy(np.int64),
            frame["SAMPLE_ID"].to_numpy(np.int64),
            strings,
            np.arange(len(frame), dtype=np.int64),
        )

    def _compact_arrays(
        self, final: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Table] | None:
        """Compact; the kept hits as (cidx, priority, sample id, string rows), sorted.

        With ``final`` the hits are sorted by (cidx, priority, sample id) and the returned table
        holds each kept hit's URL and TEXT in that order (the sample is spent); otherwise the
        sample is compacted in place (unsorted) and the returned table is empty.
        """
        if not self._ints:
            return None
        cidx, prio, sid, srow = (np.concatenate(parts) for parts in zip(*self._ints, strict=True))
        self._ints = []
        sizes = np.bincount(cidx, minlength=self.cutoff.size)
        # Only concepts with >= cap hits need ordering (to drop and to set their cut-off); the
        # final call orders everything for the output.
        sel = np.arange(cidx.size) if final else np.flatnonzero(sizes[cidx] >= self.cap)
        order = sel[_hit_order(cidx[sel], prio[sel], sid[sel])]
        cidx_s = cidx[order]
        starts = np.flatnonzero(np.r_[True, cidx_s[1:] != cidx_s[:-1]])
        rank = np.arange(cidx_s.size) - np.repeat(starts, np.diff(np.r_[starts, cidx_s.size]))
        full_last = order[(rank == self.cap - 1)]  # the cap-th lowest hit of each full concept
        self.cutoff[cidx[full_last]] = prio[full_last]
        if final:
            keep = order[rank < self.cap]
        else:
            mask = sizes[cidx] < self.cap
            mask[order[rank < self.cap]] = True
            keep = np.flatnonzero(mask)
        cidx, prio, sid, srow = cidx[keep], prio[keep], sid[keep], srow[keep]
        strings = pa.concat_tables(self._strings)
        self._strings = []
        if final:
            self._n_strings = 0
            self.pending = self.compacted = 0
            return cidx, prio, sid, _take_columns(strings, srow)
        used_mask = np.zeros(strings.num_rows, dtype=bool)
        used_mask[srow] = True
        used = np.flatnonzero(used_mask)
        if used.size < 0.75 * strings.num_rows:  # else the dead rows are not worth a copy
            strings = _take_sorted(strings, used)
            srow = (np.cumsum(used_mask) - 1)[srow]
        self._ints = [(cidx, prio, sid, srow)]
        self._strings = [strings]
        self._n_strings = strings.num_rows
        self.pending = 0
        self.compacted = cidx.size
        return cidx, prio, sid, strings.schema.empty_table()

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Table] | None:
        """The kept hits (cidx, priority, sample id, URL/TEXT table), sorted; the sample is spent."""
        return self._compact_arrays(final=True)

    def compact(self) -> pd.DataFrame | None:
        """Keep the ``cap`` lowest per concept; the kept hits sorted like :func:`keep_lowest`.

        Returns cidx, priority, SAMPLE_ID, URL, TEXT; the sample is spent.
        """
        arrays = self.take()
        if arrays is None:
            return None
        cidx, prio, sid, strings = arrays
        ints = pa.table({"cidx": cidx, "priority": prio, "SAMPLE_ID": sid})
        return pa.Table.from_arrays(
            ints.columns + strings.columns, names=ints.column_names + strings.column_names
        ).to_pandas()


def _hit_order(cidx: np.ndarray, prio: np.ndarray, sid: np.ndarray) -> np.ndarray:
    """Stable order by (cidx, priority, sample id) -- ``np.lexsort((sid, prio, cidx))``.

    Fast path: sort by priority, then a stable (radix) sort by concept index; priorities are
    64-bit hashes, so ties (the only case where the sample id matters) fall back to lexsort.
    """
    order = np.argsort(prio, kind="stable")
    small = np.uint16 if cidx.size == 0 or cidx.max() < 1 << 16 else np.int64
    order = order[np.argsort(cidx[order].astype(small), kind="stable")]
    c, p = cidx[order], prio[order]
    if ((c[1:] == c[:-1]) & (p[1:] == p[:-1]) & (sid[order][1:] != sid[order][:-1])).any():
        return np.lexsort((sid, prio, cidx))
    return order


def _take_sorted(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """``table.take(rows)`` for sorted ``rows``, chunk by chunk (no concatenation first)."""
    pieces, lo = [], 0
    for batch in table.to_batches():
        hi = lo + batch.num_rows
        a, b = np.searchsorted(rows, [lo, hi])
        if b > a:
            pieces.append(batch.take(pa.array(rows[a:b] - lo)))
        lo = hi
    return pa.Table.from_batches(pieces, schema=table.schema).combine_chunks()


def _take_columns(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """``table.take(rows)``, one thread per column (a random gather; Arrow releases the GIL)."""
    index = pa.array(rows)
    with ThreadPoolExecutor(max_workers=table.num_columns) as pool:
        columns = list(pool.map(lambda col: col.take(index), table.columns))
    return pa.table(columns, names=table.column_names)


def hits_frame(patterns: PatternTable, sample: BottomK) -> pd.DataFrame:
    """``int_caption_hits``: concept, SAMPLE_ID, URL, TEXT, sorted by concept then sample order."""
    arrays = sample.take()
    if arrays is None or arrays[0].size == 0:
        return pd.DataFrame(
            {
                "concept": pd.Series(dtype=object),
                "SAMPLE_ID": pd.Series(dtype=np.int64),
                "URL": pd.Series(dtype=object),
                "TEXT": pd.Series(dtype=object),
                "sample_rank": pd.Series(dtype=np.int64),
            }
        )
    cidx, _, sid, strings = arrays  # sorted by concept index, then (priority, SAMPLE_ID)
    starts = np.flatnonzero(np.r_[True, cidx[1:] != cidx[:-1]])
    rank = np.arange(cidx.size) - np.repeat(starts, np.diff(np.r_[starts, cidx.size]))
    names = pa.array(patterns.concepts, type=pa.large_string())
    return pa.table(
        {
            "concept": names.take(pa.array(cidx)),
            "SAMPLE_ID": pa.array(sid, type=pa.int64()),
            "URL": strings.column("URL"),
            "TEXT": strings.column("TEXT"),
            "sample_rank": pa.array(rank, type=pa.int64()),
        }
    ).to_pandas()
