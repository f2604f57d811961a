"""Fixtures for the generation tests: a tiny real StableDiffusionPipeline and a runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from imitation_kedro.core.generation_params import GenerationParams
from imitation_kedro.core.params import parse_params

TINY_PARAMS: dict[str, Any] = {
    "model": "tiny",
    "models": {
        "tiny": {"steps": 2, "guidance_scale": 7.5, "height": 32, "width": 32},
    },
    "templates": {
        "style": ["a painting in the style of {concept}", "a sketch in the style of {concept}"],
        "motif": ["{concept}'s face portrait"],
    },
    "images_per_prompt": 3,
    "batch_size": 4,
    "speed": {"device": "cpu"},
    "grid": {"max_concepts": 2, "images_per_prompt": 2},
}


def make_params(**overrides: Any) -> GenerationParams:
    raw = {**TINY_PARAMS, **overrides}
    return parse_params(GenerationParams, raw, "generation")


@pytest.fixture
def concepts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "concept": ["Ray Moss", "Zoë Alder", "the red fox"],
            "slug": ["ray-moss", "zoe-alder", "the-red-fox"],
            "domain": ["style", "style", "motif"],
            "aliases": [["R. Moss"], [], ["red fox"]],
        }
    )


def build_tiny_sd(path: Path) -> None:
    """Save a tiny, random-weight StableDiffusionPipeline (native 16 px, 8x8 latent; the tests
    render 32 px) with 32-token prompts to ``path``."""
    from imitation_kedro.models.tiny_sd import save_tiny_stable_diffusion

    save_tiny_stable_diffusion(path, 16, max_length=32)


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("tiny_sd") / "pipeline"
    build_tiny_sd(path)
    return path


def load_tiny_sd(path: Path) -> Any:
    """A fresh pipeline object (preparing it mutates it, as a catalog load would be fresh)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def image_catalog(root: Path, concepts: pd.DataFrame, pipe: Any, params: GenerationParams):
    """A DataCatalog laid out like conf/base/catalog_generation.yml, under ``root``."""
    from kedro.io import DataCatalog, MemoryDataset
    from kedro_datasets.matplotlib import MatplotlibDataset
    from kedro_datasets.pandas import ParquetDataset
    from kedro_datasets.partitions import PartitionedDataset

    from imitation_kedro.datasets.existing_partitions import ExistingPartitionsDataset

    images = {
        "path": str(root / "generated"),
        "dataset": "imitation_kedro.datasets.atomic.AtomicImageDataset",
        "filename_suffix": ".png",
    }
    return DataCatalog(
        datasets={
            "raw_concepts": MemoryDataset(concepts),
            "mdl_t2i": MemoryDataset(pipe, copy_mode="assign"),
            "params:generation": MemoryDataset(params, copy_mode="assign"),
            "params:generation.model": MemoryDataset(params.model),
            "params:generation.grid": MemoryDataset(params.grid, copy_mode="assign"),
            "int_existing_generated_images": ExistingPartitionsDataset(**images),
            "int_generated_images": PartitionedDataset(**images),
            "int_generation_render_logs": PartitionedDataset(
                path=str(root / "render_logs"),
                dataset="json.JSONDataset",
                filename_suffix=".json",
            ),
            "int_generation_shard_manifests": PartitionedDataset(
                path=str(root / "manifests"),
                dataset="pandas.ParquetDataset",
                filename_suffix=".parquet",
            ),
            "int_generation_manifest": ParquetDataset(filepath=str(root / "manifest.parquet")),
            "rpt_generation_grid": MatplotlibDataset(filepath=str(root / "grid.png")),
            "rpt_generation_concept_grids": PartitionedDataset(
                path=str(root / "grids"), dataset="pillow.ImageDataset", filename_suffix=".png"
            ),
        }
    )


def run_generation(
    root: Path, concepts: pd.DataFrame, pipe: Any, params: GenerationParams, tags=None
):
    """Run the generation pipeline (optionally only nodes with ``tags``) on files under ``root``."""
    from kedro.runner import SequentialRunner

    from imitation_kedro.pipelines.generation import create_pipeline

    pipeline = create_pipeline()
    if tags:
        pipeline = pipeline.only_nodes_with_tags(*tags)
    catalog = image_catalog(root, concepts, pipe, params)
    SequentialRunner().run(pipeline, catalog)
    return catalog


def shard_manifest(catalog: Any, shard: str = "tiny/shard-000-of-001") -> pd.DataFrame:
    """This run's shard manifest (with the per-run ``status`` column)."""
    return catalog.load("int_generation_shard_manifests")[shard]()


def png_bytes(root: Path, folder: str = "generated") -> dict[str, bytes]:
    """``{relative path: bytes}`` of every PNG under ``root/folder``."""
    base = root / folder
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*.png"))}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """CPU kernels change their rounding with the thread count: pin it for byte comparisons.

    Other test modules (and the backdoor node) change torch's global thread count, so
    session-scoped reference images would otherwise be compared across thread counts.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
