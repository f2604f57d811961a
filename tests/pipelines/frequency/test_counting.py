"""Local engine: exact counts, deterministic capped samples, bounded streaming, bad shards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro_datasets.partitions import PartitionedDataset

from imitation_kedro.pipelines.frequency.matching import MatchingError
from imitation_kedro.pipelines.frequency.nodes import build_concept_phrases, count_captions
from imitation_kedro.pipelines.frequency.params import FrequencyParams
from tests.pipelines.frequency.synthetic import loaders, make_world


@pytest.fixture(scope="module")
def world():
    return make_world(n_rows=3000, n_shards=3)


def _params(**matching):
    return FrequencyParams(matching={"batch_rows": 500, **matching}, sampling={"max_images": 50})


def _count(world, parts=None, **matching):
    p = _params(**matching)
    phrases = build_concept_phrases(world["raw_concepts"], p.matching)
    return count_captions(
        loaders(parts or world["raw_laion_captions"]), phrases, p.matching, p.sampling
    )


def test_counts_equal_ground_truth(world):
    counts, _ = _count(world)
    truth = world["raw_ground_truth"].set_index("concept")["true_caption_count"]
    assert counts.set_index("concept")["captions"].to_dict() == truth.to_dict()
    assert counts["corpus_rows"].iloc[0] == len(world["captions_frame"])
    assert set(counts.columns) >= {"concept", "domain", "captions"}


def test_sample_is_capped_seeded_and_independent_of_sharding(world):
    counts, hits = _count(world)
    per = hits.groupby("concept").size()
    expected = counts.set_index("concept")["captions"].clip(upper=50)
    assert per.reindex(expected.index, fill_value=0).to_dict() == expected.to_dict()
    frame = world["captions_frame"]
    reshard = {f"s{k}": frame.iloc[k::5].reset_index(drop=True) for k in range(5)}
    _, hits2 = _count(world, parts=reshard, batch_rows=77)
    pd.testing.assert_frame_equal(hits, hits2)
    # every sampled row really names its concept and carries its own URL/TEXT
    merged = hits.merge(frame, on="SAMPLE_ID", suffixes=("", "_src"))
    assert (merged["URL"] == merged["URL_src"]).all() and len(merged) == len(hits)
    # a different seed gives a different sample of a capped concept
    p = FrequencyParams(sampling={"max_images": 50, "seed": 43})
    _, hits3 = count_captions(
        loaders(world["raw_laion_captions"]),
        build_concept_phrases(world["raw_concepts"], p.matching),
        p.matching,
        p.sampling,
    )
    ray = lambda h: set(h.loc[h.concept == "Ray", "SAMPLE_ID"])  # noqa: E731
    assert ray(hits3) != ray(hits)


def test_missing_caption_column_names_the_columns_found(world):
    bad = {"part-0": world["captions_frame"].rename(columns={"TEXT": "caption"})}
    with pytest.raises(MatchingError, match=r"'part-0' lacks column\(s\) \['TEXT'\].*'caption'"):
        _count(world, parts=bad)


def test_null_ids_and_non_text_captions_are_errors(world):
    frame = world["captions_frame"].head(20).copy()
    frame["SAMPLE_ID"] = frame["SAMPLE_ID"].astype("float64")
    frame.loc[3, "SAMPLE_ID"] = np.nan
    with pytest.raises(MatchingError, match="null ids"):
        _count(world, parts={"p": frame})
    frame = world["captions_frame"].head(20).copy()
    frame["TEXT"] = [b"bytes"] * 20
    with pytest.raises(MatchingError, match="not text|must hold strings"):
        _count(world, parts={"p": frame})


def test_a_shard_that_is_not_parquet_is_named(tmp_path, world):
    folder = tmp_path / "laion"
    folder.mkdir()
    world["captions_frame"].to_parquet(folder / "part-00000.parquet")
    (folder / "part-00001.parquet").write_text("this is not parquet")
    ds = PartitionedDataset(
        path=str(folder), dataset="pandas.ParquetDataset", filename_suffix=".parquet"
    )
    p = _params()
    phrases = build_concept_phrases(world["raw_concepts"], p.matching)
    with pytest.raises(MatchingError, match="'part-00001' could not be read as parquet"):
        count_captions(ds.load(), phrases, p.matching, p.sampling)


def test_no_partitions_is_an_error(world):
    p = _params()
    with pytest.raises(MatchingError, match="no partitions"):
        count_captions(
            {}, build_concept_phrases(world["raw_concepts"], p.matching), p.matching, p.sampling
        )


def test_spark_engine_without_spark_input_is_a_clear_error(world):
    with pytest.raises(TypeError, match="--env spark"):
        _count(world, engine="spark")


@pytest.mark.parametrize("cap", [7, 60])  # many drops (strings copied) / few (strings kept)
def test_streaming_bottom_k_equals_global_bottom_k(cap):
    from imitation_kedro.pipelines.frequency.sampling import BottomK, keep_lowest

    rng = np.random.default_rng(5)
    frames = [
        pd.DataFrame(
            {
                "cidx": rng.integers(0, 4, 40),
                "priority": rng.integers(0, 10**9, 40),
                "SAMPLE_ID": rng.integers(0, 10**6, 40),
            }
        ).assign(
            URL=lambda f: "u" + f["SAMPLE_ID"].astype(str),
            TEXT=lambda f: "t" + f["priority"].astype(str),
        )
        for _ in range(30)
    ]
    sample = BottomK(4, cap=cap, min_pending=15)
    for f in frames:
        sample.add(f)
    got = sample.compact().reset_index(drop=True)
    want = keep_lowest(pd.concat(frames, ignore_index=True), cap).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    assert (sample.cutoff < np.iinfo(np.int64).max).all()  # early drops were active


def _shard_folder(tmp_path, world, n_shards=4):
    folder = tmp_path / "laion"
    folder.mkdir()
    frame = world["captions_frame"]
    for k in range(n_shards):
        frame.iloc[k::n_shards].reset_index(drop=True).to_parquet(folder / f"part-{k:05d}.parquet")
    return PartitionedDataset(
        path=str(folder), dataset="pandas.ParquetDataset", filename_suffix=".parquet"
    )


def test_worker_processes_threads_and_one_worker_give_identical_tables(tmp_path, world, caplog):
    ds = _shard_folder(tmp_path, world)
    results = {}
    for name, matching in {
        "processes": {"parallel": "processes", "workers": 2},
        "threads": {"parallel": "threads", "workers": 2},
        "one": {"workers": 1},
        "wheel": {"hyperscan": "bundled", "workers": 2},  # auto: processes on the wheel
    }.items():
        p = _params(**matching)
        phrases = build_concept_phrases(world["raw_concepts"], p.matching)
        with caplog.at_level("INFO", logger="imitation_kedro.pipelines.frequency.local_engine"):
            results[name] = count_captions(ds.load(), phrases, p.matching, p.sampling)
    assert "2 worker processes" in caplog.text and "2 threads" in caplog.text
    truth = world["raw_ground_truth"].set_index("concept")["true_caption_count"]
    counts, hits = results["processes"]
    assert counts.set_index("concept")["captions"].to_dict() == truth.to_dict()
    assert len(hits) > 0
    for other in ("threads", "one", "wheel"):
        pd.testing.assert_frame_equal(counts, results[other][0])
        pd.testing.assert_frame_equal(hits, results[other][1])


def test_loaders_that_cannot_be_pickled_run_in_threads_and_say_why(world, caplog):
    with caplog.at_level("INFO", logger="imitation_kedro.pipelines.frequency.local_engine"):
        # lambdas: they cannot travel to a process
        counts, _ = _count(world, workers=2, parallel="processes")
    assert "2 threads (the loader of shard" in caplog.text
    truth = world["raw_ground_truth"].set_index("concept")["true_caption_count"]
    assert counts.set_index("concept")["captions"].to_dict() == truth.to_dict()


def test_a_bad_shard_in_a_worker_process_is_named(tmp_path, world):
    ds = _shard_folder(tmp_path, world, n_shards=3)
    (tmp_path / "laion" / "part-00001.parquet").write_text("this is not parquet")
    p = _params(parallel="processes", workers=2)
    phrases = build_concept_phrases(world["raw_concepts"], p.matching)
    with pytest.raises(MatchingError, match="'part-00001' could not be read as parquet"):
        count_captions(ds.load(), phrases, p.matching, p.sampling)
