"""The whole frequency pipeline on an in-memory catalog: exact counts and accurate estimates."""

from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.partitions import PartitionedDataset

from imitation_kedro.datasets.shard_folder import ShardFolder
from imitation_kedro.pipelines.frequency import create_pipeline
from imitation_kedro.pipelines.frequency.params import FrequencyParams
from imitation_kedro.pipelines.similarity.references import verified_table
from tests.pipelines.frequency.synthetic import ColourEmbedder, loaders, make_world

OUTPUTS = [
    "prm_concept_frequencies",
    "int_caption_counts",
    "int_caption_counts_5b",
    "int_caption_hits",
    "int_image_rejects",
    "int_verification_calibration",
    "int_verified_images",
    "int_verification_scores",
    "int_clean_images",
    "int_reference_rejects",
]


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner does not release, so tests can read intermediates."""

    def release(self) -> None:
        pass

    def _release(self) -> None:
        pass


def run_frequency(world: dict, params: FrequencyParams, clip=None) -> dict[str, pd.DataFrame]:
    clean = tempfile.mkdtemp(prefix="clean-images-")
    catalog = DataCatalog(
        datasets={
            "raw_concepts": MemoryDataset(world["raw_concepts"]),
            "raw_reference_images": MemoryDataset(world["raw_reference_images"]),
            "raw_laion_captions": MemoryDataset(
                loaders(world["raw_laion_captions"]), copy_mode="assign"
            ),
            "raw_laion5b_captions": MemoryDataset(
                loaders(world.get("raw_laion5b_captions", world["raw_laion_captions"])),
                copy_mode="assign",
            ),
            "raw_laion_images": MemoryDataset(
                loaders(world["raw_laion_images"]), copy_mode="assign"
            ),
            "mdl_miniature_clip": MemoryDataset(clip or ColourEmbedder(), copy_mode="assign"),
            "int_downloaded_image_shards": MemoryDataset(ShardFolder("unused"), copy_mode="assign"),
            "int_clean_image_store": MemoryDataset(ShardFolder(clean), copy_mode="assign"),
            "int_clean_image_shards": PartitionedDataset(
                path=clean, dataset="pandas.ParquetDataset", filename_suffix=".parquet"
            ),
            **param_blocks(params),
            **{name: KeptDataset() for name in OUTPUTS},
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    out = {name: catalog[name].load() for name in OUTPUTS}
    out["int_verified_images"] = verified_table(out["int_verified_images"])  # lazy partitions
    shutil.rmtree(clean)
    return out


def param_blocks(params: FrequencyParams) -> dict[str, MemoryDataset]:
    """``params:frequency.<block>`` datasets: the nodes take the sub-blocks they use."""
    blocks = ("matching", "sampling", "acquisition", "verification", "estimate")
    return {
        f"params:frequency.{b}": MemoryDataset(getattr(params, b), copy_mode="assign")
        for b in blocks
    }


def accuracy(freq: pd.DataFrame, truth: pd.DataFrame, min_images: int = 50) -> tuple[float, float]:
    """(worst relative error over concepts with >= min_images, share of concepts whose truth is in the CI)."""
    t = freq.merge(truth, on="concept")
    big = t[t["true_image_count"] >= min_images]
    rel = (big["estimate"] - big["true_image_count"]).abs() / big["true_image_count"]
    inside = (t["ci_low"] <= t["true_image_count"]) & (t["true_image_count"] <= t["ci_high"])
    return float(rel.max()), float(inside.mean())


@pytest.fixture(scope="module")
def world():
    return make_world(n_rows=3000, n_shards=3, seed=11)


def test_pipeline_counts_exact_and_estimates_accurate(world):
    out = run_frequency(world, FrequencyParams(acquisition={"min_bytes": 64}))
    truth = world["raw_ground_truth"]
    counts = out["int_caption_counts"].merge(truth, on="concept")
    assert (counts["captions"] == counts["true_caption_count"]).all()
    freq = out["prm_concept_frequencies"]
    assert list(freq.columns[:11]) == [
        "concept",
        "concept_set",
        "domain",
        "corpus",
        "captions",
        "sampled",
        "downloaded",
        "verified",
        "verified_units",
        "estimate",
        "ci_low",
        "ci_high",
    ][:11]
    worst, coverage = accuracy(freq, truth)
    assert worst <= 0.05 and coverage >= 0.9
    assert (freq["ci_low"] <= freq["estimate"]).all() and (
        freq["estimate"] <= freq["ci_high"]
    ).all()
    # traps (caption names the concept, image shows another) are verified out
    assert (freq["verified"] < freq["downloaded"]).any()
    assert set(out["int_verified_images"].columns) == {"concept", "key", "png"}
    assert out["int_image_rejects"].empty


def test_capped_sample_keeps_truth_inside_the_interval(world):
    out = run_frequency(
        world, FrequencyParams(sampling={"max_images": 60}, acquisition={"min_bytes": 64})
    )
    freq = out["prm_concept_frequencies"]
    assert freq["sampled"].max() == 60
    _, coverage = accuracy(freq, world["raw_ground_truth"])
    assert coverage >= 0.9


@pytest.mark.slow
def test_tiny_world_counts_and_accuracy(request):
    """On the world pipeline's tiny world (when its fixture exists) with the miniature CLIP."""
    try:
        tiny = request.getfixturevalue("tiny_world")
    except pytest.FixtureLookupError:
        pytest.skip("tests/fixtures/world.py (tiny_world) is not there yet")
    params = FrequencyParams(acquisition={"min_bytes": 64})
    out = run_frequency(tiny, params, clip=tiny["mdl_miniature_clip"])
    truth = tiny["raw_ground_truth"]
    counts = out["int_caption_counts"].merge(truth, on="concept")
    mismatch = counts[counts["captions"] != counts["true_caption_count"]]
    assert mismatch.empty, mismatch[["concept", "captions", "true_caption_count"]]
    worst, coverage = accuracy(out["prm_concept_frequencies"], truth)
    assert worst <= 0.05, worst
    assert coverage >= 0.9, coverage
    assert np.isfinite(out["prm_concept_frequencies"]["estimate"]).all()


def test_pipeline_on_the_real_catalog_entries(tmp_path, world, project_root):
    """conf/base/catalog_frequency.yml round-trips every output (parquet, versioned) from shards on disk."""
    import yaml

    conf = yaml.safe_load((project_root / "conf/base/catalog_frequency.yml").read_text())
    variables = {k: conf.pop(k) for k in [k for k in conf if k.startswith("_")]}
    for entry in conf.values():
        for key in ("filepath", "path"):
            if str(entry.get(key, "")).startswith("${_"):
                entry[key] = variables[entry[key][2:-1]]
    for entry in conf.values():
        for key in ("filepath", "path"):
            if key in entry:
                entry[key] = str(tmp_path / entry[key])
    for name, folder, source in (
        ("raw_laion_captions", "laion", "raw_laion_captions"),
        ("raw_laion5b_captions", "laion", "raw_laion_captions"),  # the world has one corpus
        ("raw_laion_images", "laion_images", "raw_laion_images"),
    ):
        (tmp_path / folder).mkdir(exist_ok=True)
        for pid, part in world[source].items():
            part.to_parquet(tmp_path / folder / f"{pid}.parquet", index=False)
        conf[name] = {
            "type": "partitions.PartitionedDataset",
            "path": str(tmp_path / folder),
            "dataset": "pandas.ParquetDataset",
            "filename_suffix": ".parquet",
        }
    catalog = DataCatalog.from_config(conf)
    catalog["raw_concepts"] = world["raw_concepts"]
    catalog["raw_reference_images"] = world["raw_reference_images"]
    catalog["mdl_miniature_clip"] = MemoryDataset(ColourEmbedder(), copy_mode="assign")
    for name, block in param_blocks(FrequencyParams(acquisition={"min_bytes": 64})).items():
        catalog[name] = block
    SequentialRunner().run(create_pipeline(), catalog)
    freq = catalog.load("prm_concept_frequencies")
    truth = world["raw_ground_truth"]
    assert freq.merge(truth, on="concept").eval("captions == true_caption_count").all()
    assert (
        len(list((tmp_path / "data/03_primary/concept_frequencies.parquet").iterdir())) == 1
    )  # versioned
    verified = verified_table(catalog.load("int_verified_images"))
    assert verified["png"].map(len).gt(0).all() and len(verified) == freq["verified"].sum()


def test_laion5b_scaling_off_reads_nothing_and_leaves_estimates(world):
    def boom():
        raise AssertionError("raw_laion5b_captions must not be read without corpus laion5b")

    out = run_frequency(
        {**world, "raw_laion5b_captions": {"p": boom}},
        FrequencyParams(acquisition={"min_bytes": 64}),
    )
    freq = out["prm_concept_frequencies"]
    assert (freq["corpus"] == "laion2b_en").all() and freq["captions_5b"].isna().all()
    assert out["int_caption_counts_5b"]["captions_5b"].isna().all()


def test_laion5b_scaling_multiplies_estimate_and_ci_by_the_caption_ratio(world):
    """FIT §3.6 (SD2.1): estimate_5b = estimate_2b x captions_5b / captions_2b, CI likewise."""
    parts = dict(world["raw_laion_captions"])
    # A "multilingual" extra shard: the first shard again under new ids, plus caption-less rows.
    first = next(iter(parts.values()))
    extra = first.assign(SAMPLE_ID=first["SAMPLE_ID"] + 10**9)
    extra.loc[extra.index[::2], "TEXT"] = "ein Foto ohne Namen"
    world5b = {**world, "raw_laion5b_captions": {**parts, "zz-multi": extra}}
    p5 = FrequencyParams(
        acquisition={"min_bytes": 64}, estimate={"corpora": ["laion2b_en", "laion5b"]}
    )
    out = run_frequency(world5b, p5)  # both corpora in one run
    c5 = out["int_caption_counts_5b"].set_index("concept")["captions_5b"]
    freq = out["prm_concept_frequencies"]
    assert freq["corpus"].value_counts().to_dict() == {"laion2b_en": 8, "laion5b": 8}
    two = freq[freq["corpus"] == "laion2b_en"].set_index("concept")
    five = freq[freq["corpus"] == "laion5b"].set_index("concept")
    assert (five["captions_5b"] == c5.reindex(five.index)).all()
    assert (c5 >= two["captions"].reindex(c5.index)).all() and (c5 > two["captions"]).any()
    pos = two["captions"] > 0
    ratio = c5.reindex(two.index).astype(float) / two["captions"]
    for col in ("estimate", "ci_low", "ci_high"):
        np.testing.assert_allclose(five.loc[pos, col], two.loc[pos, col] * ratio[pos], rtol=1e-12)
        assert (five.loc[~pos, col] == two.loc[~pos, col]).all()
    # captions, samples and verification are those of LAION-2B-en
    for col in ("captions", "sampled", "downloaded", "verified"):
        assert (five[col] == two[col]).all()


def test_laion5b_scaling_without_5b_counts_is_an_error(world):
    from imitation_kedro.pipelines.frequency.nodes import estimate_concept_frequencies

    p5 = FrequencyParams(estimate={"corpora": ["laion5b"]})
    out = run_frequency(world, FrequencyParams(acquisition={"min_bytes": 64}))
    with pytest.raises(ValueError, match="int_caption_counts_5b is empty"):
        estimate_concept_frequencies(
            world["raw_concepts"],
            out["int_caption_counts"],
            out["int_caption_hits"],
            pd.DataFrame({"key": []}),
            pd.DataFrame({"concept": [], "verified": [], "matched_faces": []}),
            out["int_caption_counts_5b"],
            p5.estimate,
            p5.verification,
        )


def test_missing_laion5b_folder_loads_empty_and_laion5b_mode_names_it(tmp_path, world):
    """A fresh `kedro run` reaches count_laion5b_captions before the world writes its shards."""
    from imitation_kedro.datasets import OptionalPartitionedDataset
    from imitation_kedro.pipelines.frequency.nodes import (
        build_concept_phrases,
        count_laion5b_captions,
    )

    missing = OptionalPartitionedDataset(
        path=str(tmp_path / "not_yet"), dataset="pandas.ParquetDataset", filename_suffix=".parquet"
    )
    assert missing.load() == {}
    shard = tmp_path / "present"
    shard.mkdir()
    pd.DataFrame({"SAMPLE_ID": [1], "TEXT": ["x"]}).to_parquet(shard / "a.parquet")
    present = OptionalPartitionedDataset(
        path=str(shard), dataset="pandas.ParquetDataset", filename_suffix=".parquet"
    )
    assert list(present.load()) == ["a"]

    p = FrequencyParams()
    phrases = build_concept_phrases(world["raw_concepts"], p.matching)
    off = count_laion5b_captions({}, phrases, p.matching, p.estimate)
    assert off["captions_5b"].isna().all()
    with pytest.raises(ValueError, match="raw_laion5b_captions has no parquet shards"):
        p5 = FrequencyParams(estimate={"corpora": ["laion5b"]})
        count_laion5b_captions({}, phrases, p5.matching, p5.estimate)
