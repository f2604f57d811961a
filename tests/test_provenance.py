"""Issue 20, problem 4: any thresholds version walks back to the model weights and image set.

Before: no record tied a versioned output to the versions or hashes of its inputs.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog, MemoryDataset
from kedro.io.core import Version
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset

from imitation_kedro.provenance import ProvenanceHooks, main, trace


def _manifest(weights: str, shards: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": "m",
            "path": ["m/a/0/0000", "m/a/0/0001"],
            "weights_sha256": weights,
            "pixels_sha256": ["p0", "p1"],
        }
    )


def _render(model: pd.DataFrame) -> pd.DataFrame:
    return model.copy()


def _scores(manifest: pd.DataFrame, threshold: dict) -> pd.DataFrame:
    return pd.DataFrame({"n": [len(manifest)], "t": [threshold["penalty"]]})


def _thresholds(scores: pd.DataFrame, frequencies: pd.DataFrame) -> pd.DataFrame:
    return scores.assign(f=len(frequencies))


def _run(tmp_path, version: str, weights: str) -> None:
    def versioned(name: str) -> ParquetDataset:
        return ParquetDataset(
            filepath=str(tmp_path / f"{name}.parquet"), version=Version(None, version)
        )

    (tmp_path / "freq.parquet").parent.mkdir(parents=True, exist_ok=True)
    model = tmp_path / "model.parquet" / version
    model.mkdir(parents=True)
    pd.DataFrame({"w": [weights]}).to_parquet(model / "model.parquet")
    pd.DataFrame({"c": [1, 2]}).to_parquet(tmp_path / "freq.parquet")
    catalog = DataCatalog(
        {
            "weights": MemoryDataset(weights),
            "mdl_t2i": versioned("model"),
            "int_generation_shard_manifests": ParquetDataset(filepath=str(tmp_path / "shards.pq")),
            "params:threshold": MemoryDataset({"penalty": 3}),
            "prm_concept_frequencies": ParquetDataset(filepath=str(tmp_path / "freq.parquet")),
            "int_generation_manifest": versioned("manifest"),
            "prm_imitation_scores": versioned("scores"),
            "out_thresholds": versioned("thresholds"),
        }
    )
    pipeline = Pipeline(
        [
            Node(_render, "mdl_t2i", "int_generation_shard_manifests", name="render"),
            Node(
                _manifest,
                ["weights", "int_generation_shard_manifests"],
                "int_generation_manifest",
                name="merge",
            ),
            Node(
                _scores,
                ["int_generation_manifest", "params:threshold"],
                "prm_imitation_scores",
                name="score",
            ),
            Node(
                _thresholds,
                ["prm_imitation_scores", "prm_concept_frequencies"],
                "out_thresholds",
                name="detect",
            ),
        ]
    )
    hooks = _create_hook_manager()
    hooks.register(ProvenanceHooks())
    SequentialRunner().run(pipeline, catalog, hooks)


def test_each_thresholds_version_names_its_model_weights_and_image_set(tmp_path, capsys):
    _run(tmp_path, "2026-01-01T00.00.00.000Z", "w-old")
    _run(tmp_path, "2026-01-02T00.00.00.000Z", "w-new")
    record = json.loads(
        next(tmp_path.rglob("2026-01-01*/thresholds.parquet.provenance.json")).read_text()
    )
    assert record["inputs"]["prm_imitation_scores"] == {
        "kind": "versioned",
        "type": "ParquetDataset",
        "version": "2026-01-01T00.00.00.000Z",
        "path": str(tmp_path / "scores.parquet"),
    }
    assert record["inputs"]["prm_concept_frequencies"]["kind"] == "file"
    old = "\n".join(trace(tmp_path, "out_thresholds", "2026-01-01T00.00.00.000Z"))
    new = "\n".join(trace(tmp_path, "out_thresholds", "2026-01-02T00.00.00.000Z"))
    assert "model weights sha256: w-old" in old and "w-new" not in old
    assert "model weights sha256: w-new" in new
    assert "image set: 2 images of m" in old
    # The model version that rendered the images, through the unversioned shard manifests.
    assert "mdl_t2i @ 2026-01-01T00.00.00.000Z" in old and "mdl_t2i @ 2026-01-02" in new
    assert main(["2026-01-01T00.00.00.000Z", "--data", str(tmp_path)]) == 0
    assert "w-old" in capsys.readouterr().out
    assert main(["1999-01-01T00.00.00.000Z", "--data", str(tmp_path)]) == 1


def test_clean_versions_keeps_the_latest_and_what_they_were_made_from(tmp_path):
    import subprocess

    from imitation_kedro.versions import main as clean

    _run(tmp_path, "2026-01-01T00.00.00.000Z", "w0")
    _run(tmp_path, "2026-01-02T00.00.00.000Z", "w1")
    _run(tmp_path, "2026-01-03T00.00.00.000Z", "w2")
    # A later thresholds version made from the oldest scores (a threshold-only rerun).
    old_scores = next(tmp_path.rglob("2026-01-01*/thresholds.parquet.provenance.json"))
    late = tmp_path / "thresholds.parquet" / "2026-01-04T00.00.00.000Z"
    late.mkdir()
    (late / "thresholds.parquet.provenance.json").write_text(old_scores.read_text())
    assert clean(["--keep", "2", "--data", str(tmp_path)]) == 0
    left = {p.parent.name + "/" + p.name for p in tmp_path.glob("*/*")}
    assert "thresholds.parquet/2026-01-01T00.00.00.000Z" not in left
    assert "manifest.parquet/2026-01-01T00.00.00.000Z" in left  # still referenced
    assert "scores.parquet/2026-01-01T00.00.00.000Z" in left
    assert "scores.parquet/2026-01-02T00.00.00.000Z" in left  # latest two
    assert "manifest.parquet/2026-01-01T00.00.00.000Z" in left
    assert len([p for p in left if p.startswith("thresholds")]) == 2
    make = subprocess.run(
        ["make", "-n", "clean-versions", "KEEP=3"],
        capture_output=True,
        text=True,
        cwd=__import__("pathlib").Path(__file__).parents[1],
    )
    assert "imitation_kedro.versions --keep 3" in make.stdout


def _verify(hits: pd.DataFrame) -> dict:
    """Verified images, one partition per shard, built lazily (as verify_images returns them)."""
    return {
        f"{shard:05d}": (lambda g=group: g.drop(columns="shard").reset_index(drop=True))
        for shard, group in hits.groupby("shard")
    }


def _score(verified: dict, manifest: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    images = pd.concat([load() for load in verified.values()], ignore_index=True)
    per_image = images.assign(score=images["png"].map(len) / 10.0, n=len(manifest))
    return per_image.groupby("concept", as_index=False)["score"].mean(), per_image


def _run_catalog(tmp_path, version: str, hits: pd.DataFrame):
    """frequency -> similarity -> threshold in miniature, on the conf/base entries of
    int_verified_images and int_similarity_image_scores (re-rooted under ``tmp_path``)."""
    from pathlib import Path

    import yaml
    from kedro.io import DataCatalog

    root = Path(__file__).resolve().parents[1] / "conf/base"
    entries = {}
    for file, name in (
        ("catalog_frequency.yml", "int_verified_images"),
        ("catalog_similarity.yml", "int_similarity_image_scores"),
        ("catalog_similarity.yml", "prm_imitation_scores"),
        ("catalog_threshold.yml", "out_thresholds"),
    ):
        entry = dict(yaml.safe_load((root / file).read_text())[name])
        key = "path" if "path" in entry else "filepath"
        entry[key] = str(tmp_path / entry[key])
        entry.pop("validator", None)  # the toy tables are not the real schemas
        entries[name] = entry
    catalog = DataCatalog.from_config(entries, save_version=version)
    catalog["int_caption_hits"] = MemoryDataset(hits)
    catalog["int_generation_manifest"] = MemoryDataset(_manifest("w", None))
    pipeline = Pipeline(
        [
            Node(_verify, "int_caption_hits", "int_verified_images", name="verify_images"),
            Node(
                _score,
                ["int_verified_images", "int_generation_manifest"],
                ["prm_imitation_scores", "int_similarity_image_scores"],
                name="score_imitation",
            ),
            Node(lambda s: s.assign(t=1), "prm_imitation_scores", "out_thresholds", name="detect"),
        ]
    )
    hooks = _create_hook_manager()
    hooks.register(ProvenanceHooks())
    SequentialRunner().run(pipeline, catalog, hooks)
    return catalog


def test_verified_images_and_image_scores_are_versions_a_thresholds_walk_names(tmp_path):
    """Issue 20 problem 4: a rerun with other images keeps the first run's verified images and
    per-image scores, and each thresholds version walks to its own."""
    from kedro.io import DataCatalog

    v1, v2 = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"
    first = pd.DataFrame(
        {"concept": ["a", "a", "b"], "key": ["k0", "k1", "k2"], "png": [b"x" * 10, b"y" * 20,
                                                                        b"z" * 30],
         "shard": [0, 1, 1]}
    )
    _run_catalog(tmp_path, v1, first)
    second = first.assign(png=[b"q" * 50, b"r" * 50, b"s" * 50]).iloc[:2]
    catalog = _run_catalog(tmp_path, v2, second)

    folder = tmp_path / "data/02_intermediate/frequency/verified_images"
    assert sorted(p.name for p in folder.iterdir()) == [v1, v2]
    assert sorted(p.name for p in (folder / v1 / "verified_images").glob("*.parquet")) == [
        "00000.parquet", "00001.parquet"]
    assert (folder / v1 / "verified_images.provenance.json").exists()
    latest = catalog.load("int_verified_images")  # the newest version by default
    assert sorted(pd.concat([f() for f in latest.values()])["key"]) == ["k0", "k1"]
    entry = dict(catalog["int_verified_images"]._describe())
    old = DataCatalog.from_config(
        {"v": {"type": "imitation_kedro.datasets.versioned_partitions.VersionedPartitionedDataset",
               "path": entry["path"], "dataset": entry["dataset"], "filename_suffix": ".parquet",
               "versioned": True}},
        load_versions={"v": v1},
    ).load("v")
    assert sorted(pd.concat([f() for f in old.values()])["png"].map(len)) == [10, 20, 30]
    scores = tmp_path / "data/02_intermediate/similarity/image_scores.parquet"
    assert pd.read_parquet(scores / v1 / "image_scores.parquet")["score"].tolist() == [1, 2, 3]

    for version in (v1, v2):
        walk = "\n".join(trace(tmp_path, "out_thresholds", version))
        assert f"prm_imitation_scores @ {version}" in walk
        assert f"saved with int_similarity_image_scores @ {version}" in walk
        assert f"int_verified_images @ {version} (node verify_images" in walk
        other = v2 if version == v1 else v1
        assert other not in walk, walk


def test_versioned_partitions_refuse_to_overwrite_and_need_versioned_true(tmp_path):
    from kedro.io.core import DatasetError

    from imitation_kedro.datasets.versioned_partitions import VersionedPartitionedDataset

    args = {"path": str(tmp_path / "parts"), "dataset": "pandas.ParquetDataset",
            "filename_suffix": ".parquet"}
    with pytest.raises(DatasetError, match="set `versioned: true`"):
        VersionedPartitionedDataset(**args)
    version = Version(None, "2026-01-01T00.00.00.000Z")
    VersionedPartitionedDataset(**args, version=version).save({"p": pd.DataFrame({"a": [1]})})
    with pytest.raises(DatasetError, match="must not exist"):
        VersionedPartitionedDataset(**args, version=version).save({"p": pd.DataFrame({"a": [2]})})
    empty = VersionedPartitionedDataset(**args, version=Version(None, "2026-01-02T00.00.00.000Z"))
    empty.save({})
    assert empty.load() == {}  # an empty version is a version (similarity then finds no images)
