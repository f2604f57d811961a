"""Spark caption counting: the same matcher, run per partition with ``mapInArrow``.

The executors run :class:`CaptionMatcher` (one Hyperscan pass per Arrow batch, the analyser for
the candidates it cannot decide) directly on the Arrow string buffers Spark hands them, so the
phrase rule is the local engine's by construction; Spark only distributes the scan, the
per-concept count and the per-concept bottom-k sample (same seeded priorities as the local
engine). pyspark is imported inside the functions: it is the optional ``spark`` extra.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from imitation_kedro.pipelines.frequency.local_engine import counts_frame
from imitation_kedro.pipelines.frequency.matching import CaptionMatcher, MatchingError, PatternTable
from imitation_kedro.pipelines.frequency.params import MatchingParams, SamplingParams
from imitation_kedro.pipelines.frequency.sampling import concept_salts, hit_priority

logger = logging.getLogger(__name__)

_MATCHERS: dict[tuple[Any, ...], CaptionMatcher] = {}  # one database per executor process


def is_spark_frame(obj: object) -> bool:
    """True for a pyspark (classic or Connect) DataFrame, without importing pyspark."""
    return type(obj).__module__.startswith("pyspark.") and hasattr(obj, "mapInPandas")


def _matcher(patterns: PatternTable, nested: str, hyperscan: str) -> CaptionMatcher:
    key = (
        patterns.concepts,
        patterns.phrases,
        tuple(patterns.owner.tolist()),
        patterns.analyzer,
        nested,
        hyperscan,
    )
    if key not in _MATCHERS:
        _MATCHERS.clear()
        _MATCHERS[key] = CaptionMatcher(patterns, nested_names=nested, hyperscan=hyperscan)
    return _MATCHERS[key]


def count_spark(
    captions: Any, patterns: PatternTable, mp: MatchingParams, sampling: SamplingParams | None
) -> tuple[pd.DataFrame, Any]:
    """Counts (pandas, one row per concept) and the capped hit sample (a Spark DataFrame).

    ``sampling`` None: counts only (the hit sample is None).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    cols = [mp.id_column, mp.url_column, mp.caption_column]
    missing = [c for c in cols if c not in captions.columns]
    if missing:
        raise MatchingError(
            f"raw_laion_captions (Spark) lacks column(s) {missing}; columns found: "
            f"{list(captions.columns)} (set frequency.matching.*_column)"
        )
    keep_hits = sampling is not None
    sampling = sampling or SamplingParams()
    patterns = replace(patterns, analyzer=mp.analyzer)
    salts = concept_salts(patterns.concepts, sampling.seed)
    nested, hyperscan = mp.nested_names, mp.hyperscan
    id_col, url_col, text_col = cols

    def match_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        matcher = _matcher(patterns, nested, hyperscan)
        for batch in batches:
            rows, conc = matcher.match(batch.column(text_col))
            take = pa.array(rows, type=pa.int64())
            ids = np.asarray(batch.column(id_col).take(take), dtype=np.int64)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(conc.astype(np.int32)),
                    pa.array(hit_priority(ids, salts[conc])),
                    pa.array(ids),
                    batch.column(url_col).take(take).cast(pa.string()),
                    batch.column(text_col).take(take).cast(pa.string()),
                ],
                names=["cidx", "priority", "SAMPLE_ID", "URL", "TEXT"],
            )

    schema = T.StructType(
        [
            T.StructField("cidx", T.IntegerType()),
            T.StructField("priority", T.LongType()),
            T.StructField("SAMPLE_ID", T.LongType()),
            T.StructField("URL", T.StringType()),
            T.StructField("TEXT", T.StringType()),
        ]
    )
    source = captions.select(
        F.col(id_col).cast("long").alias(id_col),
        F.col(url_col).cast("string").alias(url_col),
        F.col(text_col).cast("string").alias(text_col),
    )
    matched = source.mapInArrow(match_batches, schema).persist()
    try:
        per = {int(r["cidx"]): int(r["count"]) for r in matched.groupBy("cidx").count().collect()}
        n_rows = int(source.count())
        counts = np.asarray([per.get(i, 0) for i in range(len(patterns.concepts))], dtype=np.int64)
        if not keep_hits:
            return counts_frame(patterns, counts, n_rows), None
        names = matched.sparkSession.createDataFrame(
            pd.DataFrame(
                {
                    "cidx": np.arange(len(patterns.concepts), dtype=np.int32),
                    "concept": list(patterns.concepts),
                }
            )
        )
        order = Window.partitionBy("cidx").orderBy("priority", "SAMPLE_ID")
        hits = (
            matched.withColumn("sample_rank", F.row_number().over(order) - 1)
            .where(F.col("sample_rank") < sampling.max_images)
            .join(F.broadcast(names), "cidx")
            .select(
                "concept",
                "SAMPLE_ID",
                "URL",
                "TEXT",
                F.col("sample_rank").cast("long").alias("sample_rank"),
                "cidx",
                "priority",
            )
            .orderBy("cidx", "priority", "SAMPLE_ID")
            .drop("cidx", "priority")
        )
        hits = hits.localCheckpoint(eager=True)
    finally:
        matched.unpersist()
    logger.info("Spark matched %d captions against %d concepts", n_rows, len(patterns.concepts))
    return counts_frame(patterns, counts, n_rows), hits


def to_pandas(frame: Any) -> pd.DataFrame:
    """A pandas DataFrame from pandas or Spark input (Spark hits are small per concept)."""
    if is_spark_frame(frame):
        return frame.toPandas()
    return frame
