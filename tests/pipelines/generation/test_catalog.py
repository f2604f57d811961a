"""The catalog entries of conf/base (and conf/paper) build, follow conventions and run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from imitation_kedro.pipelines.generation import create_pipeline
from tests.pipelines.generation.conftest import load_tiny_sd, make_params

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
CONF = Path(__file__).resolve().parents[3] / "conf"
LAYER = {"rpt_generation_grid": "reporting", "rpt_generation_concept_grids": "reporting"}


def _entries(env: str) -> dict:
    raw = OmegaConf.create(yaml.safe_load((CONF / env / "catalog_generation.yml").read_text()))
    if env == "paper":
        OmegaConf.register_new_resolver(
            "runtime_params", lambda key, default=None: default, replace=True
        )
    config = OmegaConf.to_container(raw, resolve=True)
    return {k: v for k, v in config.items() if not k.startswith("_")}


def test_every_output_is_declared_with_its_layer():
    entries = _entries("base")
    pipeline = create_pipeline()
    produced = pipeline.all_outputs()
    assert produced <= set(entries), produced - set(entries)
    # Generation's outputs feed similarity, whose tables feed the primary layer: they sit in the
    # intermediate layer so kedro-viz's layer graph stays acyclic (tests/test_project.py).
    for name, entry in entries.items():
        assert entry["metadata"]["kedro-viz"]["layer"] == LAYER.get(name, "intermediate"), name
    assert entries["int_generation_manifest"]["versioned"] is True
    assert entries["rpt_generation_grid"]["versioned"] is True
    assert (
        entries["int_existing_generated_images"]["path"] == entries["int_generated_images"]["path"]
    )
    free = {i for i in pipeline.inputs() if not i.startswith("params:generation")}
    assert free == {"raw_concepts", "mdl_t2i", "int_existing_generated_images"}


def test_paper_model_entry_follows_the_model_parameter():
    entry = _entries("paper")["mdl_t2i"]
    assert entry["type"] == "imitation_kedro.datasets.DiffusersPipelineDataset"
    assert entry["model_id"] == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert entry["load_args"] == {"safety_checker": False}


def test_base_catalog_runs_twice_and_versions_the_manifest(tmp_path, concepts, tiny_sd_dir):
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner

    entries = _entries("base")
    for entry in entries.values():
        for key in ("path", "filepath"):
            if key in entry:
                entry[key] = str(tmp_path / entry[key])
    params = make_params()
    for run, version in enumerate(["2026-01-01T00.00.00.000Z", "2026-01-01T00.00.01.000Z"]):
        catalog = DataCatalog.from_config(entries, save_version=version)
        catalog["raw_concepts"] = concepts
        catalog["mdl_t2i"] = load_tiny_sd(tiny_sd_dir)
        catalog["params:generation"] = params
        catalog["params:generation.model"] = params.model
        catalog["params:generation.grid"] = params.grid
        SequentialRunner().run(create_pipeline(), catalog)
        manifest = catalog.load("int_generation_manifest")
        assert len(manifest) == 15
        shard = catalog.load("int_generation_shard_manifests")["tiny/shard-000-of-001"]()
        assert set(shard["status"]) == ({"generated"} if run == 0 else {"existing"})
    folder = tmp_path / entries["int_generation_manifest"]["filepath"]
    versions = sorted(folder.iterdir())
    assert len(versions) == 2
    # Same config, same bytes: the rerun's manifest (images reused) equals the first one.
    first, second = (next(v.iterdir()).read_bytes() for v in versions)
    assert first == second
    grid = Path(entries["rpt_generation_grid"]["filepath"])
    assert len(list(grid.iterdir())) == 2
    pngs = list(Path(entries["int_generated_images"]["path"]).rglob("*.png"))
    assert len(pngs) == 15


def test_existing_images_view_lists_the_folder_and_never_saves(tmp_path):
    from kedro.io.core import DatasetError
    from kedro_datasets.partitions import PartitionedDataset
    from PIL import Image

    from imitation_kedro.datasets.existing_partitions import ExistingPartitionsDataset

    spec = {"path": str(tmp_path / "generated"), "dataset": "pillow.ImageDataset",
            "filename_suffix": ".png"}
    view = ExistingPartitionsDataset(**spec)
    assert view.load() == {}  # no folder yet: nothing to resume
    PartitionedDataset(**spec).save({"tiny/a/0/0000": Image.new("RGB", (8, 8))})
    listed = ExistingPartitionsDataset(**spec).load()
    assert sorted(listed) == ["tiny/a/0/0000"] and listed["tiny/a/0/0000"]().size == (8, 8)
    with pytest.raises(DatasetError, match="read-only"):
        view.save({"tiny/a/0/0001": Image.new("RGB", (8, 8))})
