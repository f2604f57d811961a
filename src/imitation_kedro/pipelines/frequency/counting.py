"""Which engine counts the captions: the local one for partition loaders, Spark for a Spark frame.

Both engines apply the same matcher and the same seeded hit sample, so they give identical counts
and samples; ``matching.engine`` (``auto``, ``local``, ``spark``) only insists on one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from imitation_kedro.pipelines.frequency.local_engine import count_local
from imitation_kedro.pipelines.frequency.matching import PatternTable
from imitation_kedro.pipelines.frequency.params import MatchingParams, SamplingParams
from imitation_kedro.pipelines.frequency.spark_engine import count_spark, is_spark_frame


def count_with_engine(
    captions: Mapping[str, Callable[[], Any]] | Any,
    patterns: PatternTable,
    mp: MatchingParams,
    sampling: SamplingParams | None,
) -> tuple[pd.DataFrame, Any]:
    """(counts, hit sample) from the engine that fits ``captions``; ``sampling`` None: counts only."""
    spark_input = is_spark_frame(captions)
    if mp.engine == "spark" and not spark_input:
        raise TypeError(
            "frequency.matching.engine is 'spark' but the caption shards did not load as a Spark "
            "DataFrame: run with --env spark (catalog spark.SparkDatasetV2)"
        )
    if mp.engine == "local" and spark_input:
        raise TypeError(
            "frequency.matching.engine is 'local' but the captions loaded as a Spark "
            "DataFrame: set engine to auto or spark"
        )
    if spark_input:
        return count_spark(captions, patterns, mp, sampling)
    return count_local(captions, patterns, mp, sampling)
