"""Single-machine caption counting: shards matched in parallel (threads or processes), all concepts per pass.

Each worker reads one caption shard at a time as Arrow (no Python object per caption), matches it
in ``matching.batch_rows``-row chunks (:class:`~imitation_kedro.pipelines.frequency.matching.CaptionMatcher`)
and returns its per-concept counts and hits; this process folds shard results in shard order into
the counts and the hit sample (:mod:`~imitation_kedro.pipelines.frequency.sampling`).

Threads or processes (``matching.parallel: auto``): threads when the scans run on the system
libhs (ctypes releases the GIL for a whole scan and no Python runs per match), worker processes on
the ``hyperscan`` wheel, which re-takes the GIL for every match so threads would queue on it
(:mod:`~imitation_kedro.pipelines.frequency.hyperscan_backends`). Shard loaders that cannot be
pickled (e.g. lambdas) always run in threads. Results do not depend on either choice or on
``matching.workers``. Memory: one shard per worker plus the ones queued, and the sample (see
:class:`~imitation_kedro.pipelines.frequency.sampling.BottomK`).
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import sys
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from imitation_kedro.core.progress import progress
from imitation_kedro.core.threads import available_cores
from imitation_kedro.pipelines.frequency.matching import CaptionMatcher, MatchingError, PatternTable
from imitation_kedro.pipelines.frequency.params import MatchingParams, SamplingParams
from imitation_kedro.pipelines.frequency.sampling import (
    BottomK,
    concept_salts,
    hit_priority,
    hits_frame,
)
from imitation_kedro.pipelines.frequency.shard_matching import (
    ShardResult,
    init_worker,
    match_shard,
)

logger = logging.getLogger(__name__)


def count_local(
    partitions: Mapping[str, Callable[[], Any]],
    patterns: PatternTable,
    mp: MatchingParams,
    sampling: SamplingParams | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count captions per concept and keep a seeded sample of hits, shards matched in parallel.

    ``sampling`` None: counts only (only the caption column is read; the hit table is empty).
    Raises :class:`MatchingError` naming the shard that cannot be read or lacks a column.
    """
    if not partitions:
        raise MatchingError("raw_laion_captions has no partitions: no caption shards to count")
    keep_hits = sampling is not None
    sampling = sampling or SamplingParams()
    patterns = replace(patterns, analyzer=mp.analyzer)
    matcher = CaptionMatcher(patterns, nested_names=mp.nested_names, hyperscan=mp.hyperscan)
    salts = concept_salts(patterns.concepts, sampling.seed)
    sample = BottomK(len(patterns.concepts), sampling.max_images)
    counts = np.zeros(len(patterns.concepts), dtype=np.int64)
    n_rows = 0
    cols = [mp.id_column, mp.url_column, mp.caption_column] if keep_hits else [mp.caption_column]
    ids = sorted(partitions)
    pool, in_processes, workers = _executor(mp, matcher, partitions, len(ids))
    in_flight: deque[Future] = deque()
    ahead = 2 * workers  # shards queued: every worker finds its next shard waiting
    with pool:
        try:
            for pid in ids[:ahead]:
                in_flight.append(_submit(pool, in_processes, matcher, pid, partitions, cols, mp))
            for k, _ in enumerate(progress(ids, desc="caption shards", unit="shard")):
                result: ShardResult = in_flight.popleft().result()
                if k + ahead < len(ids):
                    nxt = ids[k + ahead]
                    in_flight.append(
                        _submit(pool, in_processes, matcher, nxt, partitions, cols, mp)
                    )
                n_rows += result.rows
                counts += result.counts
                if keep_hits and result.concepts.size:
                    sid, conc = result.sample_ids, result.concepts
                    prio = hit_priority(sid, salts[conc])
                    sample.add_hits(conc, prio, sid, result.strings, result.string_row)
        finally:
            for future in in_flight:
                future.cancel()
    logger.info("matched %d captions against %d concepts", n_rows, len(patterns.concepts))
    return counts_frame(patterns, counts, n_rows), hits_frame(patterns, sample)


def _submit(
    pool: Executor,
    in_processes: bool,
    matcher: CaptionMatcher,
    pid: str,
    partitions: Mapping[str, Any],
    cols: list[str],
    mp: MatchingParams,
) -> Future:
    own = None if in_processes else matcher  # worker processes hold their own copy
    return pool.submit(match_shard, own, pid, partitions[pid], cols, mp.batch_rows)


def _executor(
    mp: MatchingParams, matcher: CaptionMatcher, partitions: Mapping[str, Any], n_shards: int
) -> tuple[Executor, bool, int]:
    """(pool, whether it is processes, workers): processes when they can help and the shard
    loaders can travel, else threads."""
    workers = max(1, min(mp.workers or min(8, available_cores()), n_shards))
    why_not = _why_not_processes(mp, workers, partitions, matcher.backend)
    if why_not is None:
        logger.info("caption shards: %d worker processes", workers)
        pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=init_worker,
            initargs=(matcher,),
        )
        return pool, True, workers
    if workers > 1:
        logger.info("caption shards: %d threads (%s)", workers, why_not)
    return ThreadPoolExecutor(workers, thread_name_prefix="caption-shard"), False, workers


def _why_not_processes(
    mp: MatchingParams, workers: int, partitions: Mapping[str, Any], backend: str
) -> str | None:
    """None when worker processes should be used, else the reason (logged)."""
    if mp.parallel == "threads":
        return "frequency.matching.parallel: threads"
    if mp.parallel == "auto" and backend == "system":
        return "the system Hyperscan scans without holding the GIL"
    if workers < 2:
        return "one worker"
    if sys.platform != "linux":
        # fork re-imports nothing (a forkserver or spawn start re-runs the caller's script)
        return "worker processes are started by fork, on Linux only"
    if multiprocessing.current_process().daemon:
        return "this process is itself a daemon worker and cannot start processes"
    for pid, loader in partitions.items():
        if not callable(loader):
            return f"shard {pid!r} is already in memory"
        try:
            pickle.dumps(loader)
        except Exception as exc:  # noqa: BLE001 - any pickling failure means: stay in-process
            return f"the loader of shard {pid!r} cannot be sent to a process ({type(exc).__name__})"
    return None


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
