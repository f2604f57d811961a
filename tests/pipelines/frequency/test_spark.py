"""Spark engine (local[2]): identical counts and samples to the local engine."""

from __future__ import annotations

import os
import shutil
import sys

import pandas as pd
import pytest

from imitation_kedro.pipelines.frequency.nodes import (
    build_concept_phrases,
    count_captions,
    count_laion5b_captions,
)
from imitation_kedro.pipelines.frequency.params import FrequencyParams
from imitation_kedro.pipelines.frequency.spark_engine import to_pandas
from tests.pipelines.frequency.synthetic import loaders, make_world

pytestmark = pytest.mark.spark
pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Java is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Executors must import imitation_kedro: run them on this interpreter (the project's venv).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("frequency-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_spark_counts_and_hits_equal_local(spark, tmp_path):
    from kedro_datasets.spark import SparkDatasetV2

    world = make_world(n_rows=2500, n_shards=3, seed=3)
    folder = tmp_path / "laion"
    folder.mkdir()
    for pid, part in world["raw_laion_captions"].items():
        part.to_parquet(folder / f"{pid}.parquet", index=False)
    captions = SparkDatasetV2(filepath=str(folder), file_format="parquet").load()
    params = FrequencyParams(matching={"engine": "spark"}, sampling={"max_images": 40})
    phrases = build_concept_phrases(world["raw_concepts"], params.matching)
    s_counts, s_hits = count_captions(captions, phrases, params.matching, params.sampling)
    local = FrequencyParams(sampling={"max_images": 40})
    l_counts, l_hits = count_captions(
        loaders(world["raw_laion_captions"]), phrases, local.matching, local.sampling
    )
    pd.testing.assert_frame_equal(s_counts, l_counts)
    truth = world["raw_ground_truth"].set_index("concept")["true_caption_count"]
    assert s_counts.set_index("concept")["captions"].to_dict() == truth.to_dict()
    s_hits = to_pandas(s_hits)
    pd.testing.assert_frame_equal(
        s_hits.reset_index(drop=True), l_hits.reset_index(drop=True), check_dtype=False
    )
    # LAION-5B counts (counts only, no sample): the same on both engines
    p5 = FrequencyParams(matching={"engine": "spark"}, estimate={"corpora": ["laion2b_en", "laion5b"]})
    s5 = count_laion5b_captions(captions, phrases, p5.matching, p5.estimate)
    local5 = FrequencyParams(estimate={"corpora": ["laion2b_en", "laion5b"]})
    l5 = count_laion5b_captions(
        loaders(world["raw_laion_captions"]), phrases, local5.matching, local5.estimate
    )
    pd.testing.assert_frame_equal(s5, l5)
    assert s5.set_index("concept")["captions_5b"].to_dict() == truth.to_dict()


def test_spark_missing_column_is_named(spark):
    from imitation_kedro.pipelines.frequency.matching import MatchingError

    frame = spark.createDataFrame(pd.DataFrame({"SAMPLE_ID": [1], "URL": ["u"], "caption": ["x"]}))
    params = FrequencyParams(matching={"engine": "spark"})
    phrases = build_concept_phrases(make_world(n_rows=10)["raw_concepts"], params.matching)
    with pytest.raises(MatchingError, match="columns found"):
        count_captions(frame, phrases, params.matching, params.sampling)


@pytest.mark.parametrize("analyzer", ["standard", "loose"])
def test_spark_counts_equal_local_on_the_lucene_corpus(spark, tmp_path, analyzer):
    """Real names written 20 ways (the Lucene reference corpus): byte-identical counts/samples."""
    import random

    from kedro_datasets.spark import SparkDatasetV2

    from tests.pipelines.frequency.test_lucene_reference import caption_forms, real_names

    rnd = random.Random(5)
    names = real_names()[:300]
    texts = [
        f for i, n in enumerate(names) for f in caption_forms(n, names[(i * 7 + 3) % 300], rnd)
    ]
    texts += [None, ""]
    frame = pd.DataFrame(
        {"SAMPLE_ID": range(len(texts)), "URL": [f"u{i}" for i in range(len(texts))], "TEXT": texts}
    )
    folder = tmp_path / "laion"
    folder.mkdir()
    shards = {f"part-{k:05d}": frame.iloc[k::3].reset_index(drop=True) for k in range(3)}
    for pid, part in shards.items():
        part.to_parquet(folder / f"{pid}.parquet", index=False)
    names = list(dict.fromkeys(n.lower() for n in names))
    concepts = pd.DataFrame({"concept": names, "domain": "style", "aliases": [[] for _ in names]})
    spark_params = FrequencyParams(
        matching={"engine": "spark", "analyzer": analyzer}, sampling={"max_images": 7}
    )
    local_params = FrequencyParams(matching={"analyzer": analyzer}, sampling={"max_images": 7})
    phrases = build_concept_phrases(concepts, spark_params.matching)
    captions = SparkDatasetV2(filepath=str(folder), file_format="parquet").load()
    s_counts, s_hits = count_captions(
        captions, phrases, spark_params.matching, spark_params.sampling
    )
    l_counts, l_hits = count_captions(
        loaders(shards), phrases, local_params.matching, local_params.sampling
    )
    pd.testing.assert_frame_equal(s_counts, l_counts)
    assert s_counts["captions"].sum() > 5 * len(names)
    pd.testing.assert_frame_equal(
        to_pandas(s_hits).reset_index(drop=True), l_hits.reset_index(drop=True), check_dtype=False
    )
