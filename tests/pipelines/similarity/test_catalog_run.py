"""The pipeline on its real catalog entries (files in tmp_path): versioned outputs, on-disk cache."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.partitions import PartitionedDataset

from imitation_kedro.pipelines.similarity import create_pipeline

from .conftest import ColourEmbedder

CATALOG = Path(__file__).resolve().parents[3] / "conf" / "base" / "catalog_similarity.yml"


def _catalog(tmp: Path, world: dict, embedder) -> DataCatalog:
    conf = yaml.safe_load(CATALOG.read_text())
    for entry in conf.values():
        for key in ("filepath", "path"):
            if key in entry:
                entry[key] = str(tmp / entry[key])
    inputs = {
        "raw_concepts": {"type": "pandas.ParquetDataset", "filepath": str(tmp / "concepts.parquet")},
        "raw_reference_images": {"type": "pandas.ParquetDataset", "filepath": str(tmp / "refs.parquet")},
        "int_verified_images": {"type": "pandas.ParquetDataset", "filepath": str(tmp / "verified.parquet")},
        "int_generation_manifest": {"type": "pandas.ParquetDataset", "filepath": str(tmp / "manifest.parquet")},
        "int_generated_images": {"type": "partitions.PartitionedDataset", "path": str(tmp / "generated"),
                                 "dataset": {"type": "pillow.ImageDataset"}, "filename_suffix": ".png"},
    }
    catalog = DataCatalog.from_config({**copy.deepcopy(inputs), **conf})
    catalog["mdl_miniature_clip"] = MemoryDataset(embedder, copy_mode="assign")
    return catalog


def _write_world(tmp: Path, world: dict) -> None:
    for name, file in [("raw_concepts", "concepts"), ("raw_reference_images", "refs"),
                       ("int_verified_images", "verified"), ("int_generation_manifest", "manifest")]:
        world[name].to_parquet(tmp / f"{file}.parquet")
    PartitionedDataset(path=str(tmp / "generated"), dataset="pillow.ImageDataset",
                       filename_suffix=".png").save({k: v() for k, v in world["int_generated_images"].items()})


def test_rerun_reads_the_cache_from_disk_and_versions_outputs(tmp_path, world, params):
    _write_world(tmp_path, world)
    first = ColourEmbedder()
    catalog = _catalog(tmp_path, world, first)
    catalog["params:similarity"] = params
    catalog["params:similarity.grids"] = params.grids
    SequentialRunner().run(create_pipeline(), catalog)
    assert first.images > 0
    scores1 = catalog.load("prm_imitation_scores")
    cache_files = sorted((tmp_path / "data/02_intermediate/similarity/embedding_cache").rglob("*.parquet"))
    assert len(cache_files) == 2

    second = ColourEmbedder()
    catalog = _catalog(tmp_path, world, second)
    catalog["params:similarity"] = params
    catalog["params:similarity.grids"] = params.grids
    SequentialRunner().run(create_pipeline(), catalog)
    assert second.images == 0  # every vector came from the on-disk cache
    pd.testing.assert_frame_equal(scores1, catalog.load("prm_imitation_scores"))
    versions = list((tmp_path / "data/03_primary/imitation_scores.parquet").iterdir())
    assert len(versions) == 2
    grids = list((tmp_path / "data/08_reporting/similarity_grids").rglob("*.png"))
    assert len(grids) == 4  # 2 concepts x 2 runs
    rejects = catalog.load("int_similarity_rejects")
    assert rejects.query("level == 'concept'")["concept"].tolist() == ["Unseen Motif"]


def test_an_interrupted_run_keeps_finished_chunks(tmp_path, world):
    from .conftest import make_params

    _write_world(tmp_path, world)
    params = make_params(cache_chunk=10)

    class Dies(ColourEmbedder):
        def embed(self, images):
            if self.images >= 20:
                raise RuntimeError("GPU lost")
            return super().embed(images)

    catalog = _catalog(tmp_path, world, Dies())
    catalog["params:similarity"] = params
    catalog["params:similarity.grids"] = params.grids
    with pytest.raises(Exception, match="GPU lost"):
        SequentialRunner().run(create_pipeline(), catalog)
    saved = pd.concat(pd.read_parquet(f) for f in (tmp_path / "data").rglob("embedding_cache/*/*.parquet"))
    assert 0 < len(saved) < 48  # the chunks finished before the failure are on disk

    resumed = ColourEmbedder()
    catalog = _catalog(tmp_path, world, resumed)
    catalog["params:similarity"] = params
    catalog["params:similarity.grids"] = params.grids
    SequentialRunner().run(create_pipeline(), catalog)
    assert resumed.images == 48 - len(saved)  # only the rest is embedded
    fresh = ColourEmbedder()
    other = tmp_path / "fresh"
    other.mkdir()
    _write_world(other, world)
    catalog2 = _catalog(other, world, fresh)
    catalog2["params:similarity"] = params
    catalog2["params:similarity.grids"] = params.grids
    SequentialRunner().run(create_pipeline(), catalog2)
    pd.testing.assert_frame_equal(catalog.load("prm_imitation_scores"), catalog2.load("prm_imitation_scores"))
